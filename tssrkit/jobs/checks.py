"""``inv check``: tssr_check.py checks on each host over SSH, read only, as rows and a plugin exit code.

Each ``--check`` is a tssr_check.py command line, checked here with tssr_check.py's own parser (a bad
one is UNKNOWN, exit 3, before any host is contacted) because it decides what goes up: a backup check
needs backup.sh (and its bundle) beside tssr_check.py, where it looks for it. tssrkit/run_checks.py runs
every check in one SSH session and prints one result line.
"""

from __future__ import annotations

import contextlib
import io
import shlex
from collections.abc import Sequence
from pathlib import Path

from tssrkit import bundles, runner
from tssrkit.jobs.backup import BACKUP_SCRIPT
from tssrkit.jobs.command import Upload, script_job, script_module
from tssrkit.paths import SCRIPTS
from tssrkit.runner import HostResult, Job

CHECK_SCRIPT = SCRIPTS / "python" / "tssr_check.py"
RUNNER = Path(__file__).resolve().parent.parent / "run_checks.py"
DEFAULT_CHECKS = ("disk", "memory", "load")
PLUGIN_STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")

Row = tuple[str, str, str, str]


def parse(spec: str) -> list[str]:
    """A ``--check`` value (``disk --path /var -w 85``) → its words, as tssr_check.py's parser takes them."""
    checker = script_module(CHECK_SCRIPT)
    try:
        words = shlex.split(spec)
        with contextlib.redirect_stdout(io.StringIO()):   # --help: not a check
            checker.build_parser().parse_args(words)
    except (ValueError, checker.UsageError, SystemExit) as exc:
        reason = exc if not isinstance(exc, SystemExit) else "not a check"
        raise ValueError(f"--check {spec!r}: {reason} (scripts/python/tssr_check.py --help)") from None
    return words


def check(checks: Sequence[str] = DEFAULT_CHECKS) -> Job:
    """Run tssr_check.py checks on each host in one SSH session (with sudo: the backup check needs root)."""
    parsed = [parse(spec) for spec in checks]
    if not parsed:
        raise ValueError("no check given")
    needs_backup = any(words[0] == "backup" for words in parsed)
    return script_job(RUNNER, {"--script": Upload(CHECK_SCRIPT)}, last=[shlex.join(w) for w in parsed],
                      files=bundles.with_script(BACKUP_SCRIPT) if needs_backup else None, name="check",
                      validate_first=False)


def rows(results: Sequence[HostResult]) -> list[Row]:
    """(host, check, state, status line) for each host and check; a host where the checks could not
    run is one CRITICAL row (unreachable) or UNKNOWN row (ran, but gave no result)."""
    out = []
    for r in results:
        checks = r.result.get("checks") if r.succeeded else None
        if not isinstance(checks, list):
            state = "CRITICAL" if r.status == "unreachable" else "UNKNOWN"
            out.append((r.target.label(), "-", state, f"{r.status}: {r.note}" if r.note else r.status))
            continue
        for item in checks:
            state = item.get("state") if item.get("state") in PLUGIN_STATES else "UNKNOWN"
            out.append((r.target.label(), str(item.get("check", "?")), state, str(item.get("line", ""))))
    return out


def exit_code(rows: Sequence[Row]) -> int:
    """The worst state's plugin code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (snmp_poll.py's order)."""
    return max((PLUGIN_STATES.index(row[2]) for row in rows), default=3)


def table(rows: Sequence[Row]) -> str:
    lines = runner.table([("host", "check", "state", "status line"), *rows])
    counts = {s: sum(row[2] == s for row in rows) for s in PLUGIN_STATES}
    lines.append(f"{len(rows)} check(s): " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return "\n".join(lines)
