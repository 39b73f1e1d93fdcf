"""What the unit tests of the roles read and check alike: a role's documented variables (defaults,
argument specs, the README's table generated from them), its calls of the shared role tssr_script and
the arguments they give the script (rendered by Ansible's own templating), the header (--help), options
and exit codes of that script, and the Molecule scenarios as Molecule reads them (the shared base config
under each scenario's molecule.yml).

Each test module keeps its own test names (sentences) and calls these with its role, script and prefix.

The README tables are generated from meta/argument_specs.yml (the one place a variable is described):
    python tests/rolelib.py            # rewrite the table of every role's README
tests/unit/test_tssr_script_role.py fails when a table and its spec drift apart.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, trust_as_template
from molecule.util import merge_dicts

init_plugin_loader()  # what ansible-playbook does first: the lookups (file, template) are plugins

from tssrkit.paths import REPO, ROLES  # noqa: E402 — after the plugin loader, as ansible-playbook does

SHARED = ROLES / "tssr_script"
MOLECULE_BASE = REPO / ".config" / "molecule" / "config.yml"
# The capability roles: every role but the shared one.
CAPABILITIES = sorted(p.parent.parent.name for p in ROLES.glob("*/meta/argument_specs.yml")
                      if p.parent.parent != SHARED)


def load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# ---- variables and their documentation ------------------------------------------------------------
def argument_options(role: Path) -> dict:
    """The options of the role's `main` entry point (meta/argument_specs.yml)."""
    return load(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]


def assert_every_default_is_validated(role: Path) -> None:
    """Each variable of defaults/main.yml has an argument spec with the same default."""
    options = argument_options(role)
    for name, value in (load(role / "defaults" / "main.yml") or {}).items():
        assert name in options, f"{name} has no entry in meta/argument_specs.yml"
        assert options[name].get("default") == value, f"{name}: {value!r} vs {options[name].get('default')!r}"


def assert_every_option_is_prefixed_and_defaulted(
    role: Path, prefix: str, *, required_ok: bool = False
) -> None:
    """Each argument spec starts with PREFIX and has a default (or, with REQUIRED_OK, is required)."""
    defaults = load(role / "defaults" / "main.yml") or {}
    for name, spec in argument_options(role).items():
        assert name.startswith(prefix), f"{name}: role variables are prefixed with {prefix}"
        if required_ok:
            assert spec.get("required") or name in defaults, (
                f"{name}: neither required nor in defaults/main.yml"
            )
        else:
            assert name in defaults, f"{name}: not in defaults/main.yml"


# Ansible's documentation markup (C(code), V(value), O(option), I(italic), B(bold), U(url),
# L(text,url)) as Markdown.
_MARKUP = [
    (re.compile(r"[CVOE]\(([^()]*(?:\([^()]*\)[^()]*)*)\)"), r"`\1`"),
    (re.compile(r"I\(([^()]*)\)"), r"*\1*"),
    (re.compile(r"B\(([^()]*)\)"), r"**\1**"),
    (re.compile(r"U\(([^()]*)\)"), r"\1"),
    (re.compile(r"L\(([^,()]*),\s*([^()]*)\)"), r"[\1](\2)"),
]
TABLE_BEGIN = ("<!-- BEGIN variables: generated from meta/argument_specs.yml by tests/rolelib.py;"
               " edit the spec, then run `python tests/rolelib.py` -->")
TABLE_END = "<!-- END variables -->"


def markdown(text: str) -> str:
    for pattern, replacement in _MARKUP:
        text = pattern.sub(replacement, text)
    return text.replace("|", "\\|")


def _description(spec: dict) -> str:
    description = spec.get("description", "")
    paragraphs = description if isinstance(description, list) else [description]
    # A `key: value` inside a plain YAML scalar makes a mapping, not text: the description must be text.
    assert all(isinstance(p, str) for p in paragraphs), f"a description that is not text: {paragraphs!r}"
    return markdown(" ".join(" ".join(p.split()) for p in paragraphs))


def _default(spec: dict) -> str:
    if spec.get("required"):
        return "**required**"
    value = spec.get("default")
    if value is None:
        return ""
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _rows(options: dict, prefix: str = "") -> list[str]:
    rows = []
    for name, spec in options.items():
        kind = spec.get("type", "str")
        if spec.get("elements"):
            kind = f"{kind} of {spec['elements']}"
        rows.append(f"| `{prefix}{name}` | {kind} | {_default(spec)} | {_description(spec)} |")
        if spec.get("options"):
            rows += _rows(spec["options"], f"{prefix}{name}[].")
    return rows


def variables_table(role: Path) -> str:
    """The README's table of the role's variables, from its argument specs (suboptions as `a[].b`)."""
    lines = [TABLE_BEGIN, "| variable | type | default | meaning |", "| --- | --- | --- | --- |"]
    return "\n".join(lines + _rows(argument_options(role)) + [TABLE_END])


def readme_table(role: Path) -> str:
    """The table as the README has it now (between the markers)."""
    text = (role / "README.md").read_text(encoding="utf-8")
    start, end = text.find(TABLE_BEGIN.split(":")[0]), text.find(TABLE_END)
    assert start >= 0 and end > start, f"{role.name}/README.md has no generated variables table"
    return text[start:end + len(TABLE_END)]


def write_readme_table(role: Path) -> bool:
    """Put the generated table in the README (between the markers); True when it changed."""
    readme = role / "README.md"
    text = readme.read_text(encoding="utf-8")
    new = text.replace(readme_table(role), variables_table(role))
    readme.write_text(new, encoding="utf-8")
    return new != text


# ---- the roles' calls of tssr_script, rendered by Ansible ----------------------------------------
def _trusted(value):
    """Values read from a role's YAML, marked as templates Ansible may render (as it does for roles)."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trusted(item) for item in value]
    if isinstance(value, dict):
        return {key: _trusted(item) for key, item in value.items()}
    return value


def render(expression: str, variables: dict):
    """EXPRESSION ("{{ … }}") rendered by Ansible's own templating with VARIABLES (their values may
    themselves be templates, rendered when used, as in a play)."""
    templar = Templar(loader=DataLoader(), variables=_trusted(variables))
    return templar.template(trust_as_template(expression))


def role_variables(role: Path, **overrides) -> dict:
    """The variables a role's tasks see: its defaults, its vars/main.yml, what tssr_script provides
    (the folder of the files on the host is /in here), and OVERRIDES (the play's variables; a required
    variable not given is `example`)."""
    required = {name: "example" for name, spec in argument_options(role).items() if spec.get("required")}
    return {
        "ansible_check_mode": False,
        "playbook_dir": "/playbook",
        "tssr_script_input": "/in",
        "ansible_search_path": [str(role)],  # where a lookup finds the role's templates/, as in a play
        **required,
        **(load(role / "defaults" / "main.yml") or {}),
        **(load(role / "vars" / "main.yml") or {}),
        **overrides,
    }


def tssr_script_calls(role: Path) -> list[dict]:
    """The tasks of the role that include tssr_script (the role's only way to run a script)."""
    tasks = load(role / "tasks" / "main.yml")
    return [task for task in tasks
            if task.get("ansible.builtin.include_role", {}).get("name") == "tssr_script"]


def rendered_call(role: Path, call: dict | None = None, **overrides) -> dict:
    """A call's variables (tssr_script_file, _args, _files…) rendered for the role's defaults plus
    OVERRIDES. CALL: one of tssr_script_calls(role), the first by default."""
    call = call or tssr_script_calls(role)[0]
    variables = role_variables(role, **overrides)
    return {name: render(value, variables) if isinstance(value, str) else value
            for name, value in call["vars"].items()}


def options_in(argv: list[str]) -> set[str]:
    """The long options of an argument list (`--allow-group=sudo` counts as --allow-group)."""
    return {arg.split("=", 1)[0] for arg in argv if re.fullmatch(r"--[a-z0-9-]+(=.*)?", arg)}


def shared_variables(script: str, **extra) -> dict:
    """The variables tssr_script's own tasks see for SCRIPT (relative to scripts/)."""
    return {
        "role_path": str(SHARED),
        "playbook_dir": "/playbook",
        "tssr_script_file": script,
        **load(SHARED / "defaults" / "main.yml"),
        **load(SHARED / "vars" / "main.yml"),
        **extra,
    }


def exit_meaning(script: str, code: int) -> str:
    """What the shared role says an exit code of SCRIPT means (read from the script's header)."""
    return render("{{ __tssr_script_meaning }}",
                  shared_variables(script, __tssr_script_run={"rc": code}))


# ---- the scripts ----------------------------------------------------------------------------------
def script_header(script: Path) -> str:
    """The script's header comment (its --help), without the leading `# `; a Python script's
    docstring."""
    text = script.read_text(encoding="utf-8")
    if script.suffix == ".py":
        return text.split('"""', 2)[1]
    lines = []
    for line in text.splitlines()[1:]:
        if not line.startswith("#"):
            break
        lines.append(line[2:])
    return "\n".join(lines)


def script_options(script: Path) -> set[str]:
    """The options the script's parser knows: a Bash script's `case` labels (`--job)`,
    `-n | --dry-run)`, `--source | --exclude)`) with those every Bash script takes from lib/common.sh
    (common_option), a Python script's add_argument calls."""
    text = script.read_text(encoding="utf-8")
    if script.suffix == ".py":
        return set(re.findall(r"add_argument\([^)]*?[\"'](--[a-z0-9-]+)[\"']", text, re.DOTALL))
    text += (script.parents[1] / "lib" / "common.sh").read_text(encoding="utf-8")
    labels = re.compile(r"^\s+((?:-\w \| )?--[a-z0-9-]+(?:=\*)?(?: \| --[a-z0-9-]+)*)\)", re.MULTILINE)
    return {
        option
        for label in labels.findall(text)
        for option in re.findall(r"--[a-z0-9-]+", label)
    }


def assert_passes_only_options_the_script_knows(passed: set[str], script: Path) -> None:
    unknown = passed - script_options(script)
    assert unknown == set(), f"options the script does not parse: {sorted(unknown)}"


def documented_exit_codes(script: Path) -> dict[int, str]:
    """The codes listed under `Exit codes:` in the script's header, with their text (one line)."""
    section = script_header(script).split("Exit codes:", 1)[1].split("\n\n", 1)[0]
    found = re.findall(r"^ +(\d) {2,}(.*(?:\n {5,}\S.*)*)", section, re.MULTILINE)
    return {int(code): " ".join(text.split()) for code, text in found}


# ---- Molecule -------------------------------------------------------------------------------------
def scenario_config(scenario: str) -> dict:
    """A scenario's configuration as Molecule reads it: the base config, then its molecule.yml merged
    on top (dicts merged, lists replaced: molecule.util.merge_dicts), ${MOLECULE_SCENARIO_NAME}
    filled in."""
    merged: dict = {}
    for path in (MOLECULE_BASE, REPO / "molecule" / scenario / "molecule.yml"):
        text = path.read_text(encoding="utf-8").replace("${MOLECULE_SCENARIO_NAME}", scenario)
        merged = merge_dicts(merged, yaml.safe_load(text) or {})
    return merged


def scenarios() -> list[str]:
    return sorted(p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml"))


def assert_scenario_platforms(config: dict, scenario: str) -> None:
    """The Molecule scenario runs on SCENARIO-debian12, -debian13 and -redhat9, each on a docker
    network of its own (<platform>-net: where a scenario's second container, a monitor or a central
    log server, reaches it by name)."""
    names = [platform["name"] for platform in config["platforms"]]
    assert names == [f"{scenario}-debian12", f"{scenario}-debian13", f"{scenario}-redhat9"]
    for platform in config["platforms"]:
        assert platform["networks"] == [{"name": f"{platform['name']}-net"}], platform["name"]


def main(argv: list[str] | None = None) -> int:
    """Rewrite the variables table of every role's README from its argument specs."""
    del argv
    for role in [SHARED, *(ROLES / name for name in CAPABILITIES)]:
        if write_readme_table(role):
            print(f"{role.name}/README.md: table updated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
