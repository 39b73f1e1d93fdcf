"""What the unit tests of the roles read and check alike: a role's documented variables (defaults,
argument specs, README), the header (--help), options and exit codes of the script it runs, the links
and archives through which it ships the scripts (one source: scripts/), its Molecule platforms.

Each test module keeps its own test names (sentences) and calls these with its role, script and prefix.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def argument_options(role: Path) -> dict:
    """The options of the role's `main` entry point (meta/argument_specs.yml)."""
    return load(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]


def script_header(script: Path) -> str:
    """The script's header comment (its --help), without the leading `# `."""
    lines = []
    for line in script.read_text(encoding="utf-8").splitlines()[1:]:
        if not line.startswith("#"):
            break
        lines.append(line[2:])
    return "\n".join(lines)


def assert_relative_link(role: Path, link: str, target: str, files: list[str]) -> None:
    """files/LINK is a relative symlink to TARGET (from the repository root), holding FILES."""
    path = role / "files" / link
    assert path.is_symlink(), f"files/{link} is a copy, not a link to {target}"
    assert not Path(path.readlink()).is_absolute(), "an absolute link breaks in another checkout"
    assert path.resolve() == (REPO / target).resolve()
    assert path.exists(), f"files/{link} points to nothing"
    for name in files:
        assert (path / name).is_file(), f"files/{link}/{name} is missing"


def assert_every_default_is_validated(role: Path) -> None:
    """Each variable of defaults/main.yml has an argument spec with the same default."""
    options = argument_options(role)
    for name, value in load(role / "defaults" / "main.yml").items():
        assert name in options, f"{name} has no entry in meta/argument_specs.yml"
        assert options[name].get("default") == value, f"{name}: {value!r} vs {options[name].get('default')!r}"


def assert_every_option_is_prefixed_and_defaulted(
    role: Path, prefix: str, *, required_ok: bool = False
) -> None:
    """Each argument spec starts with PREFIX and has a default (or, with REQUIRED_OK, is required)."""
    defaults = load(role / "defaults" / "main.yml")
    for name, spec in argument_options(role).items():
        assert name.startswith(prefix), f"{name}: role variables are prefixed with {prefix}"
        if required_ok:
            assert spec.get("required") or name in defaults, (
                f"{name}: neither required nor in defaults/main.yml"
            )
        else:
            assert name in defaults, f"{name}: not in defaults/main.yml"


def assert_readme_documents_every_variable(role: Path) -> None:
    readme = (role / "README.md").read_text(encoding="utf-8")
    missing = [name for name in argument_options(role) if f"`{name}`" not in readme]
    assert missing == [], f"not in the README's table: {missing}"


def script_options(script: Path) -> set[str]:
    """The options the script's parser knows (its `case` labels: `--job)`, `-n | --dry-run)`,
    `--source | --exclude)`), with those every Bash script takes from lib/common.sh (common_option)."""
    labels = re.compile(r"^\s+((?:-\w \| )?--[a-z0-9-]+(?: \| --[a-z0-9-]+)*)\)", re.MULTILINE)
    sources = [script]
    if script.suffix == ".sh":
        sources.append(script.parents[1] / "lib" / "common.sh")
    return {
        option
        for source in sources
        for label in labels.findall(source.read_text(encoding="utf-8"))
        for option in re.findall(r"--[a-z0-9-]+", label)
    }


def role_passed_options(role: Path) -> set[str]:
    """The options quoted in the role's tasks/main.yml and vars/main.yml, but tar's."""
    text = (role / "tasks" / "main.yml").read_text(encoding="utf-8")
    text += (role / "vars" / "main.yml").read_text(encoding="utf-8")
    return set(re.findall(r"'(--[a-z0-9-]+)'", text)) - {"--directory", "--file"}


def assert_passes_only_options_the_script_knows(passed: set[str], script: Path) -> None:
    unknown = passed - script_options(script)
    assert unknown == set(), f"options the script does not parse: {sorted(unknown)}"


def documented_exit_codes(script: Path) -> set[int]:
    """The codes listed under `Exit codes:` in the script's header."""
    section = script_header(script).split("Exit codes:", 1)[1].split("\n\n", 1)[0]
    return {int(code) for code in re.findall(r"^\s+(\d)\s", section, re.MULTILINE)}


def assert_exit_meanings_are_the_scripts(role: Path, script: Path, variable: str) -> dict:
    """vars/main.yml's VARIABLE explains each documented exit code but 0; returns it."""
    meanings = load(role / "vars" / "main.yml")[variable]
    assert set(meanings) == documented_exit_codes(script) - {0}
    return meanings


def assert_packed_with_lib(role: Path, folder: str, tar_variable: str, beside: tuple[str, ...] = ()) -> None:
    """The role's tasks send files/FOLDER's content with lib/ (and BESIDE) next to it, as the script
    looks them up beside itself, and tar follows the links (vars/main.yml's TAR_VARIABLE)."""
    tasks = (role / "tasks" / "main.yml").read_text(encoding="utf-8")
    assert f"'--directory', role_path ~ '/files/{folder}/', '.'" in tasks
    assert "'--directory', role_path ~ '/files', " + ", ".join(f"'{n}'" for n in ("lib", *beside)) in tasks
    assert "--dereference" in load(role / "vars" / "main.yml")[tar_variable]


def assert_scenario_platforms(config: dict, scenario: str, *, own_networks: bool = False) -> None:
    """The Molecule scenario runs on SCENARIO-debian12, -debian13 and -redhat9 (each on a network of
    its own with OWN_NETWORKS)."""
    names = [platform["name"] for platform in config["platforms"]]
    assert names == [f"{scenario}-debian12", f"{scenario}-debian13", f"{scenario}-redhat9"]
    if own_networks:
        for platform in config["platforms"]:
            assert platform["networks"] == [{"name": f"{platform['name']}-net"}], platform["name"]
