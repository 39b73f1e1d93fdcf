"""docs/explanation/threat-model.md names, for every untrusted input, the test that proves the attack
fails: each named test must exist, so that the page cannot point at a test that was renamed or removed."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

from tssrkit.paths import REPO

PAGE = REPO / "docs" / "explanation" / "threat-model.md"
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


@functools.cache  # the page names many tests of the same few modules: parse each module once
def functions_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def test_every_test_the_threat_model_names_exists() -> None:
    references = REFERENCE.findall(PAGE.read_text(encoding="utf-8"))
    assert len(references) > 50, "the page names its proofs as `tests/…py::test_name`"
    missing = [f"{file}::{name}" for file, name in references
               if not (REPO / file).is_file() or name not in functions_in(REPO / file)]
    assert not missing, f"threat-model.md names tests that do not exist: {missing}"


def test_every_untrusted_party_has_at_least_one_proof() -> None:
    sections = re.split(r"^### ", PAGE.read_text(encoding="utf-8"), flags=re.M)[1:]
    assert len(sections) >= 8
    unproven = [s.splitlines()[0] for s in sections if not REFERENCE.search(s)]
    assert not unproven, f"sections without a test: {unproven}"
