"""What the unit tests of the roles read: a role's documented variables, the header (--help) of the
script it runs, and the links through which it ships the scripts (one source: scripts/)."""

from __future__ import annotations

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
