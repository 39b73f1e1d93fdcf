"""Run several tssr_check.py checks on this host and print them as one JSON result line (for ``inv check``).

Not a script of the kit: the harness uploads it with tssr_check.py into its private folder on each host
and runs it there (``inv check``), so that one SSH session runs every check asked for and the runner
reads one result line, as it does for every job. Each check is one argument, a tssr_check.py command
line (``"disk --path / -w 85"``), split here with shlex::

    python3 run_checks.py --script DIR/tssr_check.py "disk" "load --per-cpu" "service ssh.service"

The result line: ``{"script": "run_checks.py", "status": "ok", "changed": 0, "checks": [{"check":
"disk", "code": 0, "state": "OK", "line": "DISK OK - / 41.2% used ..."}, ...]}``. A check that cannot
run (python3 error, timeout) is UNKNOWN with the reason as its line. A backup check runs
``bash backup.sh status`` here first (backup.sh is uploaded beside tssr_check.py) and hands its line
to tssr_check.py with --status-file, because the upload folder may be noexec. Exit 0 when every check ran
(whatever their states: the states are the data), 2 on bad arguments. Runs on the hosts' python3
(3.9 on RedHat 9): standard library only, no syntax newer than 3.9.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
TIMEOUT = 120   # seconds per check; tssr_check.py has its own, shorter, --timeout


def backup_status_file(script: str, words: list[str]) -> str:
    """Run ``bash backup.sh status`` (the copy beside tssr_check.py) for a backup check; return the file
    holding its JSON line, for tssr_check.py's --status-file. Raises RuntimeError with the reason.

    Why not let tssr_check.py run backup.sh itself: it executes the file, and the folder the harness
    uploads to is in /tmp, which is often mounted noexec (Docker's --tmpfs, hardened servers).
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--job", default="default")
    parser.add_argument("--dest")
    known, _ = parser.parse_known_args(words[1:])
    folder = Path(script).resolve().parent
    argv = ["bash", str(folder / "backup.sh"), "status", "--job", known.job, "--quiet"]
    argv += ["--dest", known.dest] if known.dest else []
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"backup.sh status did not answer in {TIMEOUT} s") from None
    if proc.returncode != 0:
        message = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise RuntimeError(f"backup.sh status failed (exit {proc.returncode}): {message}")
    descriptor, path = tempfile.mkstemp(prefix="backup-status.", dir=folder)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(proc.stdout)
    return path


def run_check(script: str, spec: str) -> dict:
    """One check: its plugin code, state and first output line."""
    try:
        words = shlex.split(spec)
    except ValueError as exc:
        return {"check": spec, "code": 3, "state": "UNKNOWN", "line": f"bad check {spec!r}: {exc}"}
    if words[:1] == ["backup"] and not {"--status-file", "--backup-script"} & set(words):
        try:
            words += ["--status-file", backup_status_file(script, words)]
        except RuntimeError as exc:
            return {"check": spec, "code": 3, "state": "UNKNOWN", "line": f"BACKUP UNKNOWN - {exc}"}
    try:
        proc = subprocess.run([sys.executable, script, *words], capture_output=True, text=True,
                              timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return {"check": spec, "code": 3, "state": "UNKNOWN", "line": f"no answer in {TIMEOUT} s"}
    code = proc.returncode if 0 <= proc.returncode <= 3 else 3
    lines = proc.stdout.strip().splitlines() or proc.stderr.strip().splitlines()[-1:] or [
        f"exit {proc.returncode}, no output"]
    return {"check": spec, "code": code, "state": STATES[code], "line": lines[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--script", required=True, help="the path of tssr_check.py")
    parser.add_argument("--dry-run", action="store_true", help="accepted and ignored: checks change nothing")
    parser.add_argument("checks", nargs="+", metavar="CHECK", help="a tssr_check.py command line")
    args = parser.parse_args(argv)
    checks = [run_check(args.script, spec) for spec in args.checks]
    print(json.dumps({"script": "run_checks.py", "status": "ok", "changed": 0, "checks": checks}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
