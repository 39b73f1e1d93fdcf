"""Run several tssr_check.py checks on this host and print them as one JSON result line (for ``inv check``).

Not a script of the kit: the harness uploads it with tssr_check.py into its private folder on each host
and runs it there (``inv check``), so that one SSH session runs every check asked for and the runner
reads one result line, as it does for every job. Each check is one argument, a tssr_check.py command
line (``"disk --path / -w 85"``), split here with shlex::

    python3 run_checks.py --script DIR/tssr_check.py "disk" "load --per-cpu" "service ssh.service"

The result line: ``{"script": "run_checks.py", "status": "ok", "changed": 0, "checks": [{"check":
"disk", "code": 0, "state": "OK", "line": "DISK OK - / 41.2% used ..."}, ...]}``. A check that cannot
run (python3 error, timeout) is UNKNOWN with the reason as its line. A backup check needs nothing
more: tssr_check.py runs ``bash backup.sh status`` itself (the upload folder may be noexec), finding
backup.sh beside itself, where the harness uploads it. Exit 0 when every check ran (whatever their
states: the states are the data), 2 on bad arguments. Runs on the hosts' python3
(3.9 on RedHat 9): standard library only, no syntax newer than 3.9.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys

STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
TIMEOUT = 120   # seconds per check; tssr_check.py has its own, shorter, --timeout


def run_check(script: str, spec: str) -> dict:
    """One check: its plugin code, state and first output line."""
    try:
        words = shlex.split(spec)
    except ValueError as exc:
        return {"check": spec, "code": 3, "state": "UNKNOWN", "line": f"bad check {spec!r}: {exc}"}
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
