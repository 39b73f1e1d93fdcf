"""Run a kit PowerShell script on a Windows host over OpenSSH for Windows (Fabric). NOT TESTED HERE.

No Windows host and no PowerShell exist where the kit's tests run: ``remote_command`` (pure) is unit-tested,
``run_script`` is not. See docs/howto/run-powershell-on-windows.md.

How it goes: the script (and TssrUserCsv.psm1 for the user scripts, and any input file) is uploaded by
SFTP into ``tssr-kit\\`` under the SSH user's home; then ``powershell.exe -EncodedCommand`` runs it from
that folder. The command is sent base64-encoded (UTF-16LE, PowerShell's own format) so nothing is ever
quoted through cmd.exe, Windows OpenSSH's default shell. The script's output objects come back inside
one JSON line, the kit's result line (``{"script", "status", "changed", "exit", "objects"}``, plus
``"host"`` added here), and its exit code as is. Windows PowerShell writes its error stream to stderr as
CLIXML when it has no console: :func:`error_text` turns that back into lines a person reads
(tssrkit/clixml.py).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path

from tssrkit import clixml
from tssrkit.paths import REPO

SCRIPTS = REPO / "scripts" / "powershell"
REMOTE_DIR = "tssr-kit"
PARAM_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")
# Scripts that import the shared CSV module.
NEEDS_MODULE = {"Sync-TssrAdUser.ps1", "Sync-TssrLocalUser.ps1"}
# An output object whose Action is one of these changed something (Sync-*, Register-*).
CHANGING_ACTIONS = ("Created", "Updated", "Disabled")


@dataclass(frozen=True)
class Param:
    name: str
    value: str | None  # None: a switch (-WhatIf)


def parse_params(specs: list[str]) -> list[Param]:
    """``Name=Value`` or ``Name`` (a switch) → Param; a bad name raises ValueError."""
    params = []
    for spec in specs:
        name, sep, value = spec.partition("=")
        name = name.lstrip("-")
        if not PARAM_NAME_RE.fullmatch(name):
            raise ValueError(f"bad parameter {spec!r}: expected Name=Value or Name")
        params.append(Param(name, value if sep else None))
    return params


def ps_literal(value: str) -> str:
    """A PowerShell single-quoted string: nothing inside is expanded; ' doubles."""
    return "'" + value.replace("'", "''") + "'"


def remote_command(script: str, params: list[Param]) -> str:
    """The ``powershell.exe`` command line that runs ``script`` from ~/tssr-kit with ``params``."""
    if not re.fullmatch(r"[A-Za-z]+-[A-Za-z]+\.ps1", script):
        raise ValueError(f"bad script name {script!r}")
    args = " ".join(f"-{p.name}" if p.value is None else f"-{p.name} {ps_literal(p.value)}" for p in params)
    # One JSON line whatever happens: a parameter binding error is a usage error (2), another thrown
    # error a runtime failure (1); ConvertTo-Json -Compress never breaks a line.
    body = (
        "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'; "
        f"Set-Location -LiteralPath (Join-Path -Path $HOME -ChildPath '{REMOTE_DIR}'); "
        "$result = @(); $message = $null; "
        f"try {{ $result = @(& (Join-Path -Path (Get-Location) -ChildPath {ps_literal(script)}) {args}); "
        "$code = $LASTEXITCODE } "
        "catch [System.Management.Automation.ParameterBindingException] { "
        "$code = 2; $message = $_.Exception.Message } "
        "catch { $code = 1; $message = $_.Exception.Message }; "
        "if ($null -eq $code) { $code = 0 }; "
        "$changed = @($result | Where-Object -FilterScript { $_.PSObject.Properties['Action'] -and "
        f"@({', '.join(ps_literal(a) for a in CHANGING_ACTIONS)}) -contains $_.Action }}).Count; "
        "$status = if ($code -ne 0) { 'failed' } elseif ($changed -gt 0) { 'changed' } else { 'ok' }; "
        f"$line = [ordered]@{{ script = {ps_literal(script)}; status = $status; changed = $changed; "
        "exit = $code; objects = $result }; "
        "if ($message) { $line['error'] = $message }; "
        "ConvertTo-Json -InputObject $line -Depth 6 -Compress; "
        "exit $code"
    )
    encoded = base64.b64encode(body.encode("utf-16-le")).decode("ascii")
    return f"powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand {encoded}"


def files_to_upload(script: str, extra: list[str]) -> list[Path]:
    """The script, its module when it needs one, and the input files (which must exist)."""
    files = [SCRIPTS / script]
    if script in NEEDS_MODULE:
        files.append(SCRIPTS / "TssrUserCsv.psm1")
    files += [Path(f) for f in extra]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ValueError(f"no such file: {', '.join(missing)}")
    return files


def run_script(conn, script: str, params: list[Param], extra_files: list[str]):  # not tested: no Windows here
    """Upload and run on one Fabric connection; returns the invoke Result (warn=True: check .exited)."""
    files = files_to_upload(script, extra_files)
    sftp = conn.sftp()
    try:
        sftp.mkdir(REMOTE_DIR)
    except OSError:
        pass  # the folder exists already
    for f in files:
        conn.put(str(f), remote=f"{REMOTE_DIR}/{f.name}")
    return conn.run(remote_command(script, params), warn=True, hide=True)


def result_line(script: str, host: str, stdout: str, exit_code: int) -> dict:
    """The host's result: the last stdout line as JSON, with ``host`` added; a made-up failed result when
    the line is missing or is not JSON (the wrapper itself could not run)."""
    lines = [line.strip().lstrip("\ufeff") for line in stdout.splitlines() if line.strip()]
    try:
        result = json.loads(lines[-1]) if lines else None
    except ValueError:
        result = None
    if not isinstance(result, dict):
        result = {"script": script, "status": "failed", "changed": 0, "exit": exit_code,
                  "error": "no result line on stdout"}
    return {"host": host, **result}


def error_text(stderr: str) -> list[str]:
    """The lines of a stderr that may hold CLIXML, as text (empty lines dropped)."""
    return [line for line in clixml.to_text(stderr).splitlines() if line.strip()]


def report(script: str, host: str, stdout: str, stderr: str, exit_code: int) -> tuple[str, list[str], bool]:
    """What ``inv run-powershell`` prints for one host: the JSON result line, the error lines, and
    whether the host succeeded."""
    result = result_line(script, host, stdout, exit_code)
    ok = exit_code == 0 and result.get("status") != "failed"
    return json.dumps(result, ensure_ascii=False), error_text(stderr), ok
