"""The PowerShell static gate (tssrkit/pslint): every .ps1/.psm1 of the kit passes it, and the rules about
help, CmdletBinding and names catch the seeded bad file made to break each (tests/fixtures/powershell/bad/).
The other rules are proven with inline examples in test_pslint_rules.py.

No pwsh runs here: the grammar is tree-sitter-powershell, the rules are ours (docs/lessons/05-powershell.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tssrkit import pslint
from tssrkit.paths import REPO

FIXTURES = REPO / "tests" / "fixtures" / "powershell"
KIT_FILES = pslint.powershell_files(REPO)
# bad file -> the one rule it breaks
BAD = {
    "parse_error.ps1": "parse-error",
    "help_missing.ps1": "help",
    "help_one_example.ps1": "help",
    "help_undocumented_parameter.ps1": "help",
    "cmdletbinding.ps1": "cmdletbinding",
    "should_process.ps1": "should-process",
    "approved_verb.ps1": "approved-verb",
    "no_alias.ps1": "no-alias",
    "no_write_host.ps1": "no-write-host",
    "secret_parameter.ps1": "secret-parameter",
}
SCRIPTS = ("Sync-TssrAdUser.ps1", "Sync-TssrLocalUser.ps1", "Backup-TssrFolder.ps1",
           "Register-TssrScheduledScript.ps1", "Get-TssrServerHealth.ps1")


def rules(path: Path) -> set[str]:
    return {p.rule for p in pslint.lint_file(path)}


def good_example_with_password_parameter(declaration: bytes) -> bytes:
    """The good example with its [securestring]$Password parameter replaced (help kept in step)."""
    name = declaration.split(b"$")[1]
    source = (FIXTURES / "good" / "Set-Example.ps1").read_bytes()
    return source.replace(b"[securestring]$Password", declaration).replace(
        b".PARAMETER Password\n", b".PARAMETER " + name + b"\n")


def test_the_kit_has_its_five_powershell_scripts_and_the_shared_module():
    names = {p.name for p in KIT_FILES}
    assert {*SCRIPTS, "TssrUserCsv.psm1"} <= names


def test_every_script_has_pester_tests_beside_it():
    for name in SCRIPTS:
        assert (REPO / "scripts" / "powershell" / name.replace(".ps1", ".Tests.ps1")).is_file(), name


@pytest.mark.parametrize("path", KIT_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_powershell_file_passes_the_gate(path: Path):
    problems = pslint.lint_file(path)
    assert not problems, "\n".join(map(str, problems))


def test_the_good_example_passes_every_rule():
    assert rules(FIXTURES / "good" / "Set-Example.ps1") == set()


def test_every_bad_file_is_listed_with_its_rule():
    assert set(BAD.values()) <= set(pslint.RULES)
    assert {p.name for p in (FIXTURES / "bad").glob("*.ps1")} == set(BAD)


@pytest.mark.parametrize(("name", "rule"), BAD.items())
def test_bad_example_is_caught_by_its_rule_and_only_by_it(name: str, rule: str):
    assert rules(FIXTURES / "bad" / name) == {rule}


def test_the_gate_leaves_the_bad_examples_out_of_the_kit_scan():
    assert not any("bad" in p.relative_to(REPO).parts for p in KIT_FILES)


def test_an_unapproved_verb_in_a_file_name_is_caught():
    source = (FIXTURES / "good" / "Set-Example.ps1").read_bytes()
    assert {p.rule for p in pslint.lint_source(Path("Fetch-Report.ps1"), source)} == {"approved-verb"}


def test_a_password_path_is_not_a_password():
    source = good_example_with_password_parameter(b"[string]$PasswordFile")
    assert pslint.lint_source(Path("Set-Example.ps1"), source) == []


def test_a_string_credential_is_caught():
    source = good_example_with_password_parameter(b"[string]$Credential")
    assert {p.rule for p in pslint.lint_source(Path("Set-Example.ps1"), source)} == {"secret-parameter"}


def test_every_module_of_the_gate_stays_small():
    for module in (REPO / "tssrkit" / "pslint").glob("*.py"):
        assert len(module.read_text(encoding="utf-8").splitlines()) <= 350, module.name


def test_a_module_function_without_help_is_caught():
    source = b"function Get-Thing {\n    [CmdletBinding()]\n    param()\n    Get-Date\n}\n"
    assert {p.rule for p in pslint.lint_source(Path("Things.psm1"), source)} == {"help"}


def test_the_data_lists_hold_the_official_verbs_and_the_common_aliases():
    assert {"get", "set", "new", "remove", "sync", "backup", "register", "invoke"} <= pslint.approved_verbs()
    assert "delete" not in pslint.approved_verbs() and "fetch" not in pslint.approved_verbs()
    aliases = {"ls", "dir", "gci", "%", "?", "select", "where", "foreach", "cat", "echo"}
    assert aliases <= pslint.builtin_aliases()


def test_the_command_line_exits_1_on_a_bad_file_and_names_the_rule():
    bad = FIXTURES / "bad" / "no_write_host.ps1"
    proc = subprocess.run([sys.executable, "-m", "tssrkit.pslint", str(bad)], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert "no-write-host" in proc.stdout


def test_the_command_line_exits_0_on_the_kit():
    proc = subprocess.run([sys.executable, "-m", "tssrkit.pslint"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_script_function_that_declares_should_process_without_calling_it_is_caught():
    source = (FIXTURES / "good" / "Set-Example.ps1").read_bytes() + (
        b"\nfunction Set-Other {\n    [CmdletBinding(SupportsShouldProcess)]\n    param()\n"
        b"    Get-Date\n}\n")
    assert {p.rule for p in pslint.lint_source(Path("Set-Example.ps1"), source)} == {"should-process"}
