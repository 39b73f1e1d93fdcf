"""tssrkit/clixml.py: Windows PowerShell's CLIXML error stream turned back into text.

The samples have the exact shape Windows PowerShell 5.1 writes to stderr when it runs without a
console (over SSH, WinRM, from a service), as captured in public test suites of tools that face the
same stream (ansible-core's PowerShell shell plugin tests, the WinRM Ruby gem's integration tests) and
in field reports (the ActiveDirectory module's progress records while it loads its AD: drive). No
PowerShell runs here, so none was captured by this kit.
"""

from __future__ import annotations

import pytest

from tssrkit import clixml
from tssrkit.windows import error_text, report

NS = 'xmlns="http://schemas.microsoft.com/powershell/2004/04"'
PROGRESS = (
    '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T>'
    '<T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first '
    'use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>'
)
AD_PROGRESS = (
    '<Obj S="progress" RefId="1"><TNRef RefId="0" /><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Loading '
    "Active Directory module for Windows PowerShell with default drive 'AD:'</AV><AI>0</AI><Nil /><PI>-1</PI>"
    "<PC>25</PC><T>Processing</T><SR>-1</SR><SD> </SD></PR></MS></Obj>"
)
COMMAND_NOT_FOUND = (
    "<S S=\"Error\">fake : The term 'fake' is not recognized as the name of a cmdlet, function, script file, "
    "or operable _x000D__x000A_</S><S S=\"Error\">program. Check the spelling of the name, or if a path was "
    "included, verify that the path is correct and try again._x000D__x000A_</S>"
    '<S S="Error">At line:1 char:1_x000D__x000A_</S><S S="Error">+ fake_x000D__x000A_</S>'
    '<S S="Error">+ ~~~~_x000D__x000A_</S>'
    '<S S="Error">    + CategoryInfo          : ObjectNotFound: (fake:String) [], CommandNotFoundException'
    '_x000D__x000A_</S><S S="Error">    + FullyQualifiedErrorId : CommandNotFoundException_x000D__x000A_</S>'
    '<S S="Error"> _x000D__x000A_</S>'
)


def document(*records: str) -> str:
    return f'<Objs Version="1.1.0.1" {NS}>{"".join(records)}</Objs>'


def test_progress_records_alone_give_no_text():
    assert clixml.to_text("#< CLIXML\r\n" + document(PROGRESS)) == ""


def test_an_error_record_becomes_the_lines_powershell_would_print():
    text = clixml.to_text("#< CLIXML\r\n" + document(PROGRESS, COMMAND_NOT_FOUND))
    lines = text.splitlines()
    assert lines[0] == ("fake : The term 'fake' is not recognized as the name of a cmdlet, function, script "
                        "file, or operable ")
    assert "    + CategoryInfo          : ObjectNotFound: (fake:String) [], CommandNotFoundException" in lines
    assert "CLIXML" not in text and "<S" not in text and "_x000" not in text


def test_the_ad_module_loading_noise_is_dropped_and_its_error_kept():
    stderr = ("#< CLIXML\r\n" + document(AD_PROGRESS, AD_PROGRESS.replace("<PC>25</PC>", "<PC>100</PC>"),
              '<S S="Error">Get-ADUser : Unable to contact the server. This may be because this server '
              "does not exist, it is currently down, or it does not have the Active Directory Web Services "
              "running._x000D__x000A_</S>"))
    assert error_text(stderr) == [
        "Get-ADUser : Unable to contact the server. This may be because this server does not exist, it is "
        "currently down, or it does not have the Active Directory Web Services running."]


def test_several_documents_and_headers_are_all_read():
    stderr = ("#< CLIXML\r\n#< CLIXML\r\n" + document(PROGRESS, '<S S="Error">Error 1</S>')
              + document(PROGRESS, '<S S="Error">Error 2</S>'))
    assert clixml.to_text(stderr) == "Error 1\r\nError 2"


def test_text_around_the_documents_is_kept():
    stderr = "ssh: warning\r\n#< CLIXML\r\n" + document('<S S="Error">boom_x000D__x000A_</S>')
    assert error_text(stderr) == ["ssh: warning", "boom"]


def test_warnings_and_verbose_lines_carry_their_prefix():
    stderr = "#< CLIXML\r\n" + document('<S S="warning">alice: disabled by someone else_x000D__x000A_</S>',
                                        '<S S="verbose">bob: created_x000D__x000A_</S>')
    assert error_text(stderr) == ["WARNING: alice: disabled by someone else", "VERBOSE: bob: created"]


@pytest.mark.parametrize(("encoded", "expected"), [
    ("Acc&#232;s refus&#233;", "Accès refusé"),
    ("Accès refusé", "Accès refusé"),
    ("_x0041__x0009_b", "A\tb"),
    ("smile _xD83D__xDE00_ end", "smile \U0001f600 end"),
    ("lone _xD83D_ high", "lone \ufffd high"),
    ("&lt;Toast&gt; &amp; &quot;x&quot;", '<Toast> & "x"'),
    ("&amp;lt; stays", "&lt; stays"),
    ("_x005F_x0041_", "_x0041_"),
    ("not _xGGGG_ _x041_", "not _xGGGG_ _x041_"),
])
def test_escapes_are_decoded_like_xmlconvert(encoded: str, expected: str):
    assert clixml.to_text("#< CLIXML\r\n" + document(f'<S S="Error">{encoded}</S>')) == expected


def test_plain_stderr_is_returned_unchanged():
    assert clixml.to_text("plain error\n") == "plain error\n"
    assert error_text("") == []


def test_a_document_cut_short_keeps_its_text_visible():
    stderr = '#< CLIXML\r\n<Objs Version="1.1.0.1"><S S="Error">half'
    assert "half" in clixml.to_text(stderr)


def test_report_prints_one_json_line_with_the_host_and_the_decoded_errors():
    stdout = ('\ufeff{"script":"Get-TssrServerHealth.ps1","status":"ok","changed":0,"exit":0,'
              '"objects":[{"Status":"OK"}]}\r\n')
    stderr = "#< CLIXML\r\n" + document(PROGRESS, '<S S="warning">slow disk_x000D__x000A_</S>')
    line, errors, ok = report("Get-TssrServerHealth.ps1", "admin@srv01", stdout, stderr, 0)
    assert "\n" not in line
    assert line.startswith('{"host": "admin@srv01", "script": "Get-TssrServerHealth.ps1", "status": "ok"')
    assert errors == ["WARNING: slow disk"]
    assert ok


def test_report_fails_a_host_whose_stdout_holds_no_result_line():
    line, errors, ok = report("Backup-TssrFolder.ps1", "srv02", "not json\r\n", "#< CLIXML\r\n" + document(
        '<S S="Error">powershell.exe: access denied</S>'), 1)
    assert not ok
    assert '"status": "failed"' in line and '"error": "no result line on stdout"' in line
    assert errors == ["powershell.exe: access denied"]
