"""Run a kit PowerShell script on a Windows host over OpenSSH for Windows (Fabric). NOT TESTED HERE.

No Windows host and no PowerShell exist where the kit's tests run: ``remote_command`` (pure) is unit-tested,
``run_script`` is not. See docs/howto/run-powershell-on-windows.md.

How it goes: the script (and TssrUserCsv.psm1 for the user scripts, and any input file) is uploaded by
SFTP into ``tssr-kit\\`` under the SSH user's home; then ``powershell.exe -EncodedCommand`` runs it from
that folder. The command is sent base64-encoded (UTF-16LE, PowerShell's own format) so nothing is ever
quoted through cmd.exe, Windows OpenSSH's default shell. The script's output objects come back as one
JSON line (``ConvertTo-Json -Compress``), the kit's result-line convention, and its exit code as is.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path

from tssrkit.paths import REPO

SCRIPTS = REPO / "scripts" / "powershell"
REMOTE_DIR = "tssr-kit"
PARAM_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")
# Scripts that import the shared CSV module.
NEEDS_MODULE = {"Sync-TssrAdUser.ps1", "Sync-TssrLocalUser.ps1"}


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
    body = (
        "$ErrorActionPreference = 'Stop'; "
        f"Set-Location -LiteralPath (Join-Path -Path $HOME -ChildPath '{REMOTE_DIR}'); "
        f"$result = @(& (Join-Path -Path (Get-Location) -ChildPath {ps_literal(script)}) {args}); "
        "$code = $LASTEXITCODE; "
        "ConvertTo-Json -InputObject $result -Depth 5 -Compress; "
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
