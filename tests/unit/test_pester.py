"""The Pester 5 tests beside the PowerShell scripts (scripts/powershell/*.Tests.ps1), run by pytest.

They need PowerShell on Windows (the AD, robocopy and scheduled-task commands are mocked, but the scripts
still use Windows paths and access lists) and Pester 5.3 or later. The same tests run on GitHub's Windows
runners, on Windows PowerShell 5.1 and PowerShell 7, through .github/workflows/windows.yml (not run
here). Where there is no pwsh — this project's CI machines — the test is reported as SKIPPED "not run:
no pwsh": never counted as passed. The static gate
(tests/static/test_powershell.py) runs everywhere.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tssrkit.paths import REPO

SCRIPTS = REPO / "scripts" / "powershell"
# Invoke-Pester with a configuration: every *.Tests.ps1 of the folder, detailed output, and the number
# of failed tests as pwsh's exit code.
PESTER = (
    "$ErrorActionPreference = 'Stop'; "
    "Import-Module -Name Pester -MinimumVersion 5.3; "
    "$config = New-PesterConfiguration; "
    f"$config.Run.Path = '{SCRIPTS}'; "
    "$config.Run.Exit = $true; "
    "$config.Output.Verbosity = 'Detailed'; "
    "Invoke-Pester -Configuration $config"
)


def pwsh() -> str | None:
    return shutil.which("pwsh") or shutil.which("pwsh.exe")


def test_pester_tests_pass_where_powershell_runs():
    exe = pwsh()
    if exe is None:
        pytest.skip("not run: no pwsh")
    if sys.platform != "win32":
        pytest.skip("not run: pwsh found, but the Pester tests need Windows")
    probe = ("if (Get-Module -ListAvailable -Name Pester | Where-Object -Property Version -GE '5.3') "
             "{ exit 0 } else { exit 1 }")
    has_pester = subprocess.run([exe, "-NoProfile", "-Command", probe], capture_output=True, timeout=120)
    if has_pester.returncode != 0:
        pytest.skip("not run: pwsh without Pester 5.3 (Install-Module -Name Pester -MinimumVersion 5.3.0)")
    proc = subprocess.run([exe, "-NoProfile", "-NonInteractive", "-Command", PESTER], cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
