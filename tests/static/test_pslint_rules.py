"""Each rule of the PowerShell gate (tssrkit/pslint) with failing and passing examples.

Every example is put into the same valid script (help, [CmdletBinding(SupportsShouldProcess)], one honest
ShouldProcess guard), so a failing example must raise its rule and nothing else, and a passing example
nothing at all. Several failing examples per rule: the gate is checked from outside on other cases of
the same class. The file-based examples (tests/fixtures/powershell/bad) cover help, cmdletbinding and the
name rules.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tssrkit import pslint

HEAD = """<#
.SYNOPSIS
An example for one rule of the gate.
.DESCRIPTION
Nothing else in it breaks a rule.
{params_help}.EXAMPLE
.\\Get-Example.ps1
Runs it.
.EXAMPLE
.\\Get-Example.ps1 -WhatIf
Says so.
#>
[CmdletBinding(SupportsShouldProcess)]
param({params})
if ($PSCmdlet.ShouldProcess('the example', 'Run')) {{ Write-Verbose -Message 'run' }}
"""


def script(body: str, params: tuple[str, ...] = ()) -> bytes:
    names = [p.rsplit("$", 1)[1] for p in params]
    params_help = "".join(f".PARAMETER {n}\nA parameter.\n" for n in names)
    return (HEAD.format(params=", ".join(params), params_help=params_help) + body + "\n").encode()


def rules_of(source: bytes, name: str = "Get-Example.ps1") -> list[str]:
    return [p.rule for p in pslint.lint_source(Path(name), source)]


# rule -> (failing bodies, passing bodies)
CASES: dict[str, tuple[list[str], list[str]]] = {
    "parse-error": (["$a = (1 + ", "if ($a) { b", "function Get-A { param( }",
                     '$m = "$where: no such group"', '$m = @"\n$line: bad\n"@'],
                    ["$a = (1 + 2)", "if ($a) { Get-Date }", '$m = "${where}: no such group"',
                     '$m = "$($where): x $env:TEMP $script:count `$x: y"', "$m = '$where: literal'"]),
    "should-process": ([
        "function Get-A {\n    [CmdletBinding(SupportsShouldProcess)]\n    param()\n    Get-Date\n}",
        "function Get-A {\n    [CmdletBinding()]\n    param()\n"
        "    if ($PSCmdlet.ShouldProcess('x', 'y')) { Get-Date }\n}",
    ], [
        "function Get-A {\n    [CmdletBinding(SupportsShouldProcess)]\n    param()\n"
        "    if ($PSCmdlet.ShouldProcess('x', 'y')) { Get-Date }\n}",
    ]),
    "should-process-declared": ([
        "function Set-A {\n    [CmdletBinding()]\n    param()\n    Get-Date\n}",
        "function Remove-A { param() Get-Date }",
        "function Sync-A { Get-Date }",
    ], [
        "function Set-A {\n    [CmdletBinding(SupportsShouldProcess)]\n    param()\n"
        "    if ($PSCmdlet.ShouldProcess('x', 'y')) { Get-Date }\n}",
        "function Get-A { param() Get-Date }",
        "function New-A {\n    [Diagnostics.CodeAnalysis.SuppressMessageAttribute("
        "'PSUseShouldProcessForStateChangingFunctions', '', Justification = 'builds an object in memory')]\n"
        "    [CmdletBinding()]\n    param()\n    Get-Date\n}",
    ]),
    "unguarded-change": ([
        "Remove-Item -LiteralPath 'C:\\x'",
        "if ($PSCmdlet.ShouldProcess('x', 'y')) { Get-Date } else { Set-Content -LiteralPath x -Value y }",
        "[System.IO.File]::WriteAllText('x', 'y')",
        "[IO.File]::Delete('x')",
        "& robocopy.exe C:\\a D:\\b /MIR",
        "$user = [adsi]'WinNT://./alice,user'\n$user.SetInfo()",
        "Get-ChildItem -Path . | Remove-Item",
        "function Invoke-A { & icacls.exe x /reset }\nInvoke-A",
        "Remove-Item -LiteralPath x -WhatIf:$false",
        "$results | Export-Csv -LiteralPath r.csv",
        "New-ADUser -Name x",
    ], [
        "if ($PSCmdlet.ShouldProcess('x', 'Delete')) { Remove-Item -LiteralPath 'C:\\x' }",
        "if ($enabled -and $PSCmdlet.ShouldProcess('x', 'y')) { Disable-ADAccount -Identity x }",
        "foreach ($f in $files) {\n    if (-not $PSCmdlet.ShouldProcess($f, 'Delete')) { continue }\n"
        "    Remove-Item -LiteralPath $f\n}",
        "function Invoke-A { & robocopy.exe a b }\nif ($PSCmdlet.ShouldProcess('a', 'b')) { Invoke-A }",
        "$action = New-ScheduledTaskAction -Execute x\n$o = New-Object -TypeName System.Text.StringBuilder",
        "Remove-Item -LiteralPath x -WhatIf:$WhatIfPreference",
        "Set-StrictMode -Version 3.0\nSet-Variable -Name a -Value 1",
    ]),
    "no-invoke-expression": (["Invoke-Expression -Command $text",
                              "$r = Invoke-Expression -Command 'Get-Date'"],
                             ["& $command @arguments", "$r = & (Get-Command -Name Get-Date)"]),
    "no-wmi-cmdlet": (["Get-WmiObject -Class Win32_OperatingSystem",
                       "if ($PSCmdlet.ShouldProcess('x', 'y')) {\n"
                       "    Invoke-WmiMethod -Class Win32_Process -Name Create\n}",
                       "$s = Get-WmiObject -Query 'SELECT * FROM Win32_Service'"],
                      ["Get-CimInstance -ClassName Win32_OperatingSystem"]),
    "plaintext-securestring": ([
        "$s = ConvertTo-SecureString -String $text -AsPlainText -Force",
        "$s = ConvertTo-SecureString $text -AsPlain -Force",
        "$s = ConvertTo-SecureString -String 'P@ssw0rd' -AsPlainText:$true -Force",
    ], ["$s = Read-Host -Prompt 'Password' -AsSecureString",
        "$s = ConvertTo-SecureString -String $dpapiBlob"]),
    "empty-catch": (["try { Get-Date } catch { }", "try { Get-Date } catch {}",
                     "try { Get-Date } catch [System.IO.IOException] {\n    # nothing to do\n}"],
                    ["try { Get-Date } catch { Write-Verbose -Message \"ignored: $_\" }",
                     "try { Get-Date } catch [System.IO.IOException] { throw }"]),
    "null-comparison": (["if ($x -eq $null) { Get-Date }", "$present = $x -ne $null",
                         "$items | Where-Object -FilterScript { $_.Name -ceq $null }",
                         "Get-Thing -Flag ($x -ieq $null)"],
                        ["if ($null -eq $x) { Get-Date }", "$present = $null -ne $x", "$big = $x -gt 10"]),
    "assignment-in-condition": (["if ($a = 1) { Get-Date }",
                                 "if ($x) { Get-Date } elseif ($b = $c) { Get-Date }",
                                 "while ($i = 0) { Get-Date }", "do { Get-Date } while ($i = $j)"],
                                ["if ($a -eq 1) { Get-Date }", "if ($item = Get-Item -Path x) { Get-Date }",
                                 "if (($a = $b)) { Get-Date }", "$a = 1"]),
    "redirection-in-condition": (["if ($a > $b) { Get-Date }", "while ($count >> $limit) { Get-Date }",
                                  "if ($x) { Get-Date } elseif ($a > 1) { Get-Date }"],
                                 ["if ($a -gt $b) { Get-Date }", "Get-Date > $null"]),
    "no-global-var": (["$global:counter = 1", "$n = $global:counter", "${global:x} = 2"],
                      ["$script:counter = 1", "$n = $script:counter"]),
    "ps7-only": ([
        "$a = ($b -gt 1) ? 'x' : 'y'",
        "$a = $b ?? 'default'",
        "$a ??= 'default'",
        "$n = $user?.Name",
        "$first = $list?[0]",
        "Get-Date && Get-Location",
        "Get-Date || Get-Location",
        "Get-Date &",
        "function Get-A {\n    param()\n    clean { Get-Date }\n}",
        "$s = 'abc' -replace 'b', { $_.Value.ToUpper() }",
        '$apostrophe = "`u{2019}"',
        "$d = Get-Date -AsUTC",
        "1..3 | ForEach-Object -Parallel { $_ }",
        "$h = '{}' | ConvertFrom-Json -AsHashtable",
        "$base = Split-Path -Path $p -LeafBase",
        "if ($PSCmdlet.ShouldProcess('x', 'y')) { Set-Content -LiteralPath x -Value y -Encoding utf8NoBOM }",
        "$w = $IsWindows",
        "Import-Module -Name X -UseWindowsPowerShell",
    ], [
        "if ($b -gt 1) { $a = 'x' } else { $a = 'y' }",
        "if ($null -eq $b) { $a = 'default' } else { $a = $b }",
        "$apostrophe = [char]0x2019",
        "if ($PSVersionTable.PSVersion.Major -ge 7) { $d = Get-Date -AsUTC }",
        "if ($PSVersionTable.PSEdition -eq 'Core') { Import-Module -Name X -UseWindowsPowerShell }",
        "if ($PSVersionTable.PSEdition -eq 'Core') { $w = $IsWindows }",
        "$s = [regex]::Replace('abc', 'b', { param($m) $m.Value.ToUpper() })",
        "$base = [System.IO.Path]::GetFileNameWithoutExtension($p)",
    ]),
    "removed-in-7": (["Get-EventLog -LogName System -Newest 5", "$s = Get-PSSnapin -Registered",
                      "$b = Get-Content -Path x -Encoding Byte", "$o = 'a b' | ConvertFrom-String"],
                     ["Get-WinEvent -LogName System -MaxEvents 5",
                      "if ($PSVersionTable.PSVersion.Major -lt 6) {\n"
                      "    $b = Get-Content -Path x -Encoding Byte\n}"]),
}
# secret-parameter cases are parameters, not bodies
SECRET_BAD = ["[string]$Password", "$MotDePasse", "[string]$Mdp", "[object]$ApiToken", "[string[]]$Secrets",
              "[string]$Credential", "[string]$PhraseSecrete", "[psobject]$Jeton"]
SECRET_GOOD = ["[securestring]$Password", "[pscredential]$Credential", "[string]$PasswordFile",
               "[switch]$ChangePasswordAtLogon", "[string]$FichierMotDePasse", "[int]$PasswordLength",
               "[System.Management.Automation.PSCredential]$Identifiants", "[securestring]$MotDePasse"]
CASES["secret-parameter"] = (SECRET_BAD, SECRET_GOOD)


def _failing() -> list[tuple[str, str]]:
    return [(rule, body) for rule, (bad, _) in CASES.items() for body in bad]


def _passing() -> list[tuple[str, str]]:
    return [(rule, body) for rule, (_, good) in CASES.items() for body in good]


def source_for(rule: str, example: str) -> bytes:
    return script("", (example,)) if rule == "secret-parameter" else script(example)


def test_the_wrapper_alone_passes_every_rule():
    assert rules_of(script("")) == []


@pytest.mark.parametrize(("rule", "example"), _failing(), ids=lambda v: v[:50])
def test_a_failing_example_is_caught_by_its_rule_and_only_by_it(rule: str, example: str):
    assert set(rules_of(source_for(rule, example))) == {rule}


@pytest.mark.parametrize(("rule", "example"), _passing(), ids=lambda v: v[:50])
def test_a_passing_example_raises_nothing(rule: str, example: str):
    assert rules_of(source_for(rule, example)) == []


def test_every_rule_has_failing_and_passing_examples():
    fixture_rules = {"help", "cmdletbinding", "approved-verb", "no-alias", "no-write-host"}
    covered = {r for r, (bad, good) in CASES.items() if bad and good} | fixture_rules | {"bom"}
    assert covered == set(pslint.RULES)


# ---- valid PowerShell the grammar alone would reject --------------------------------------------------
VALID = [
    "$gib = $bytes / 1GB", "$mb = $x / 1MB + 1", "$t = $x * 1.5TB", "if ($size -lt 5GB) { Get-Date }",
    "$n = $x / 2Gb", "$l = $x / 10L", "$e = $x / 1E3", "$h = $x / 0xFF",
    "$empty = { }", "$none = {}", "Mock Get-Thing { }",
    "function Get-A { param($a) $a }", "function Get-B { param() Get-Date }",
    "function Get-C {\n    [CmdletBinding()]\n    param([string]$Name) $Name\n}",
    "Get-ChildItem | Select-Object -Property Name, Length", "$h = Import-Csv -Path x -Header a,b,c",
    "Register-Thing -DaysOfWeek Monday, Thursday -At 1 -WhatIf",
    "Mock Get-ADUser -RemoveParameterType Identity, Members { }",
]


@pytest.mark.parametrize("example", VALID)
def test_valid_powershell_is_not_rejected(example: str):
    assert rules_of(script(example)) == []


def test_a_repair_keeps_every_line_and_column_true():
    source = script("$gib = $bytes / 1GB\nfunction Get-A { param($a) $a }\n$x = $y -eq $null")
    (problem,) = pslint.lint_source(Path("Get-Example.ps1"), source)
    lines = source.decode().splitlines()
    assert problem.rule == "null-comparison"
    assert lines[problem.line - 1][problem.column - 1:].startswith("$y -eq $null")


# ---- bom: bytes, not text -----------------------------------------------------------------------------
ACCENTED = script("# Hélène's report\n$name = 'Éloïse'")


@pytest.mark.parametrize("data", [ACCENTED, ACCENTED.decode().encode("latin-1"),
                                  b"\xff\xfe" + ACCENTED.decode().encode("utf-16-le"),
                                  script("$quote = '\u2019'")],
                         ids=["utf8-no-bom", "latin1", "utf16", "quote"])
def test_non_ascii_without_a_utf8_bom_is_caught(data: bytes):
    assert set(rules_of(data)) == {"bom"}


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf" + ACCENTED, script("$name = 'Eloise'")],
                         ids=["bom", "ascii"])
def test_a_utf8_bom_or_plain_ascii_passes(data: bytes):
    assert rules_of(data) == []


# ---- suppression, as PSScriptAnalyzer reads it ----------------------------------------------------------
def test_a_suppression_needs_a_justification():
    body = ("function New-A {{\n    [Diagnostics.CodeAnalysis.SuppressMessageAttribute("
            "'PSUseShouldProcessForStateChangingFunctions', ''{just})]\n    [CmdletBinding()]\n    param()\n"
            "    Get-Date\n}}")
    assert rules_of(script(body.format(just=""))) == ["should-process-declared"]
    assert rules_of(script(body.format(just=", Justification = 'in memory only'"))) == []


def test_a_suppression_covers_its_own_function_only():
    body = ("function New-A {\n    [Diagnostics.CodeAnalysis.SuppressMessageAttribute("
            "'PSUseShouldProcessForStateChangingFunctions', '', Justification = 'in memory')]\n"
            "    [CmdletBinding()]\n    param()\n    Get-Date\n}\n"
            "function New-B {\n    [CmdletBinding()]\n    param()\n    Get-Date\n}")
    problems = pslint.lint_source(Path("Get-Example.ps1"), script(body))
    assert [p.rule for p in problems] == ["should-process-declared"]
    assert "New-B" in problems[0].message


def test_a_state_changing_script_name_needs_should_process():
    source = script("").replace(b"SupportsShouldProcess", b"").replace(
        b"if ($PSCmdlet.ShouldProcess('the example', 'Run')) { Write-Verbose -Message 'run' }", b"")
    assert rules_of(source, "Get-Example.ps1") == []
    assert rules_of(source, "Remove-Example.ps1") == ["should-process-declared"]
