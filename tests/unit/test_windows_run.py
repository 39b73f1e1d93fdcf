"""tssrkit/windows.py: the command line that `inv run-powershell` sends to a Windows host.

Only the pure part is tested here (no Windows host, no pwsh): the upload and the run over SSH are not.
"""

from __future__ import annotations

import base64

import pytest

from tssrkit import windows


def decoded(command: str) -> str:
    return base64.b64decode(command.rsplit(" ", 1)[1]).decode("utf-16-le")


def test_the_command_is_encoded_so_cmd_exe_quotes_nothing():
    command = windows.remote_command("Get-TssrServerHealth.ps1", [])
    assert command.startswith("powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass ")
    assert " -EncodedCommand " in command
    assert "'Get-TssrServerHealth.ps1'" in decoded(command)


def test_values_are_single_quoted_literals_and_switches_bare():
    specs = ["Path=users.csv", "DefaultOu=OU=Staff,DC=corp,DC=example", "Note=it's $HOME", "WhatIf"]
    params = windows.parse_params(specs)
    text = decoded(windows.remote_command("Sync-TssrAdUser.ps1", params))
    assert "-Path 'users.csv' -DefaultOu 'OU=Staff,DC=corp,DC=example' -Note 'it''s $HOME' -WhatIf" in text


def test_the_exit_code_and_a_json_line_come_back():
    text = decoded(windows.remote_command("Backup-TssrFolder.ps1", []))
    assert "ConvertTo-Json" in text and text.endswith("exit $code")


@pytest.mark.parametrize("spec", ["1Path=x", "Pa th=x", "Path;rm=x", ""])
def test_a_bad_parameter_name_is_refused(spec: str):
    with pytest.raises(ValueError):
        windows.parse_params([spec])


def test_a_bad_script_name_is_refused():
    with pytest.raises(ValueError):
        windows.remote_command("..\\evil.ps1", [])


def test_the_user_scripts_take_their_csv_module_along():
    names = [p.name for p in windows.files_to_upload("Sync-TssrLocalUser.ps1", [])]
    assert names == ["Sync-TssrLocalUser.ps1", "TssrUserCsv.psm1"]


def test_the_remote_wrapper_is_valid_powershell_for_5_1_and_7():
    from pathlib import Path

    from tssrkit.pslint import compat, tree

    params = windows.parse_params(["Path=a b.csv", "WhatIf"])
    body = decoded(windows.remote_command("Sync-TssrAdUser.ps1", params))
    parsed = tree.parse(body.encode("utf-8"))
    assert not parsed.root_node.has_error
    f = tree.File(Path("wrapper.ps1"), body.encode("utf-8"))
    compat.check_compat(f)
    assert f.problems == []


def test_the_wrapper_always_ends_with_one_json_result_line():
    text = decoded(windows.remote_command("Backup-TssrFolder.ps1", []))
    assert "catch [System.Management.Automation.ParameterBindingException] { $code = 2" in text
    assert "catch { $code = 1" in text
    assert "script = 'Backup-TssrFolder.ps1'; status = $status; changed = $changed; exit = $code" in text
    assert text.index("ConvertTo-Json -InputObject $line -Depth 6 -Compress") < text.index("exit $code")


def test_changed_counts_only_objects_whose_action_changed_something():
    text = decoded(windows.remote_command("Sync-TssrLocalUser.ps1", []))
    assert "@('Created', 'Updated', 'Disabled') -contains $_.Action" in text


@pytest.mark.parametrize(("stdout", "status"), [
    ('{"script":"X-Y.ps1","status":"changed","changed":2,"exit":0}', "changed"),
    ("", "failed"),
    ("Write-Host noise\r\n[1,2]", "failed"),
])
def test_the_result_line_is_the_last_json_object_or_a_failure(stdout: str, status: str):
    result = windows.result_line("X-Y.ps1", "h1", stdout, 0)
    assert result["host"] == "h1" and result["status"] == status
