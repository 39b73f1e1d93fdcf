"""Run functions of the kit's Bash library (scripts/bash/lib) from the unit tests.

The library is sourced by a real bash, as the scripts source it, and a function is called with the
given arguments: bytes go in as they are (a Bash string can hold any byte but NUL), bytes come out.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from tssrkit.paths import REPO

LIB = REPO / "scripts" / "bash" / "lib"
USERS_SCRIPT = REPO / "scripts" / "bash" / "users" / "provision-users.sh"

# What a script sets before it sources common.sh (the library's contract), then the libraries.
PRELUDE = f"""
set -Eeuo pipefail
export LC_ALL=C
SCRIPT_NAME=unit-test SYSLOG_TAG=unit-test LOCK_FILE=/dev/null
NAME=unit DRY_RUN=false QUIET=true CHANGES=0 ERRORS=() TMP_DIR="" TEMPLATES=/nonexistent
OS_FAMILY=debian PACKAGES=()
emit_result() {{ printf '{{"script": "unit-test", "status": "%s", "changed": %d, "error": %s}}\\n' \\
  "$1" "$CHANGES" "$(json_or_null "${{2:-}}")"; }}
. {LIB}/common.sh
. {LIB}/firewall.sh
"""


def bash(body: str, *args: str | bytes, env: dict[str, str] | None = None, cwd: Path | None = None
         ) -> subprocess.CompletedProcess[bytes]:
    """Run ``body`` after the prelude, with ``args`` as $1, $2...; never raises on exit status."""
    return subprocess.run(["bash", "-c", PRELUDE + body, "unit-test", *args], capture_output=True,
                          check=False, env=env, cwd=cwd, timeout=120)


def call(function: str, *args: str | bytes) -> bytes:
    """The stdout of one library function (which must succeed)."""
    proc = bash(f'{function} "$@"', *args)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def each(function: str, values: Sequence[str]) -> list[bool]:
    """For each value: does ``function VALUE`` return 0? (one bash for all of them)"""
    proc = bash(f'for v in "$@"; do if {function} "$v"; then echo 1; else echo 0; fi; done', *values)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    answers = proc.stdout.decode().split()
    assert len(answers) == len(values)
    return [answer == "1" for answer in answers]


def call_each(function: str, values: Sequence[str | bytes]) -> list[bytes]:
    """For each value: the stdout of ``function VALUE`` (which must succeed), one bash for all of them,
    as a script calls it. A NUL after each output tells them apart: an output that held one itself
    would break the count, and the test with it."""
    proc = bash(f'for v in "$@"; do {function} "$v"; printf \'\\0\'; done', *values)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    outputs = proc.stdout.split(b"\0")
    assert outputs.pop() == b"" and len(outputs) == len(values), proc.stdout
    return outputs
