"""What travels with a kit script to a host: the one rule of ``scripts/bundles.yml``, read from there.

- a Bash script travels with every other file of its own folder (its ``templates/``, a sibling script)
  and with ``scripts/bash/lib/`` as ``lib/`` beside it;
- a Python script travels alone;
- and either travels with the files of ``scripts/`` that bundles.yml lists for it, beside it under
  their own name.

Ansible's shared role reads the same file, so a script finds the same files beside it however it came.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

from tssrkit.paths import SCRIPTS

RULES = SCRIPTS / "bundles.yml"
BASH_LIB = SCRIPTS / "bash" / "lib"


@functools.cache
def extras() -> dict[str, tuple[Path, ...]]:
    """bundles.yml: a script's file name -> the files of ``scripts/`` listed for it."""
    data = yaml.safe_load(RULES.read_text(encoding="utf-8")) or {}
    return {name: tuple(SCRIPTS / path for path in paths) for name, paths in data.items()}


def _tree(folder: Path, prefix: str = "") -> dict[str, Path]:
    return {f"{prefix}{f.relative_to(folder)}": f for f in sorted(folder.rglob("*"))
            if f.is_file() and "__pycache__" not in f.parts}


def files(script: Path) -> dict[str, Path]:
    """What travels with ``script``, as name beside it -> local path (the script itself not included)."""
    bundle: dict[str, Path] = {}
    if script.suffix == ".sh":
        bundle = {name: path for name, path in _tree(script.parent).items() if path != script}
        bundle.update(_tree(BASH_LIB, "lib/"))
    for path in extras().get(script.name, ()):
        bundle.setdefault(path.name, path)
    return bundle


def with_script(script: Path) -> dict[str, Path]:
    """:func:`files` and the script itself, under its own name (for a script that another one runs)."""
    return {script.name: script, **files(script)}
