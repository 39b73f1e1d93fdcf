"""Static checks: ShellCheck, ruff, yamllint, ansible-lint — each tool run for real on the tree."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tssrkit.paths import REPO

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """A tool from the virtual environment, else from PATH; a missing tool is a failure, not a skip."""
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    assert found, f"{name} is not installed: run ./setup"
    return found


def shell_scripts() -> list[Path]:
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
    found = []
    for name in tracked:
        path = REPO / name
        if not path.is_file() or path.is_symlink():
            continue
        bash_shebang = path.read_bytes()[:30].startswith(b"#!/usr/bin/env bash")
        if path.suffix == ".sh" or (not path.suffix and bash_shebang):
            found.append(path)
    return sorted(found)


def run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True)


def test_there_are_shell_scripts_to_check():
    names = {p.name for p in shell_scripts()}
    assert {"setup", "provision-users.sh"} <= names


def sources_the_library(script: Path) -> bool:
    """Does SCRIPT source another file of the kit (a `# shellcheck source=` directive)? ShellCheck then
    analyses that file again with it: 5 to 10 s of CPU per job script, so these checks are slow (not in
    `inv test --quick`; `inv test --only static --job NOUN` runs a job's)."""
    return re.search(r"^# shellcheck .*\bsource=", script.read_text(encoding="utf-8"), re.M) is not None


@pytest.mark.parametrize("script", [
    pytest.param(path, id=str(path.relative_to(REPO)),
                 marks=[pytest.mark.slow] if sources_the_library(path) else [])
    for path in shell_scripts()
])
def test_shell_script_is_shellcheck_clean(script: Path):
    proc = run([tool("shellcheck"), "--severity=style", "--external-sources", str(script)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_python_is_ruff_clean():
    proc = run([tool("ruff"), "check", "."])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_yaml_is_yamllint_clean():
    proc = run([tool("yamllint"), "--strict", "."])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow  # about a minute of CPU: ansible-playbook --syntax-check of every playbook, then the rules
def test_roles_pass_ansible_lint_production_profile():
    proc = run([tool("ansible-lint"), "--profile", "production", "--offline", "roles", "molecule"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
