"""The script contract's static half: every script documents itself (docs/reference/script-contract.md).

``--help`` must print usage, at least two examples, the exit codes, what the script changes and the
OS families it supports — and exit 0 without touching anything (so it is safe to run here).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tssrkit.paths import REPO

# scripts/bash/lib holds the deploy scripts' shared building blocks: sourced, never run on their own.
LIBRARY = REPO / "scripts" / "bash" / "lib"
SCRIPTS = sorted(
    [p for p in (REPO / "scripts" / "bash").rglob("*.sh") if LIBRARY not in p.parents]
    + [p for p in (REPO / "scripts" / "python").glob("*.py") if not p.name.startswith("_")]
)
INTERPRETER = {".sh": "bash", ".py": "python3"}
# Monitoring plugins answer a monitoring server: their usage error is UNKNOWN (3), not 2, so that a typo in
# a check's command does not page anyone as CRITICAL (docs/reference/script-contract.md, the exception).
PLUGINS = {"tssr_check.py"}


def help_text(script: Path) -> str:
    proc = subprocess.run([INTERPRETER[script.suffix], str(script), "--help"], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def test_there_are_scripts_to_check():
    assert len(SCRIPTS) >= 2


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_help_documents_usage_examples_exit_codes_changes_and_platforms(script: Path):
    text = help_text(script)
    assert re.search(r"(?i)usage", text)
    examples = text[re.search(r"(?i)examples?:?", text).end():]
    command_lines = [line for line in examples.splitlines() if script.name in line]
    assert len(command_lines) >= 2, "at least two example command lines"
    assert re.search(r"(?i)exit (?:code|status)", text)
    assert re.search(r"(?i)(changes|modifies|what it changes)", text)
    assert re.search(r"(?i)debian", text) and re.search(r"(?i)(redhat|red hat|rhel)", text)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_unknown_option_is_a_usage_error(script: Path):
    proc = subprocess.run([INTERPRETER[script.suffix], str(script), "--no-such-option"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == (3 if script.name in PLUGINS else 2)
