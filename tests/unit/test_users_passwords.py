"""provision-users.sh draws its passwords from one read of /dev/urandom, and says nothing about it."""

from __future__ import annotations

import re
import subprocess

import bashlib


def test_passwords_are_drawn_without_a_false_error_under_the_scripts_own_err_trap() -> None:
    """The stream stops when head has enough lines, so tr and fold end on SIGPIPE: that must not reach
    the ERR trap (it printed "error: line …: 'head -n …' failed (exit 141)" on every run)."""
    body = (f'. {bashlib.USERS_SCRIPT}\n'
            'set -Eeuo pipefail\n'
            "trap 'on_error \"${LINENO}\" \"${BASH_COMMAND}\"' ERR\n"
            'emit_result() { :; }\n'
            'PASSWORD_ORDER=(); for i in $(seq 50); do PASSWORD_ORDER+=("user$i"); done\n'
            'assign_passwords\n'
            'for login in "${PASSWORD_ORDER[@]}"; do printf "%s\\n" "${PASSWORD[$login]}"; done\n')
    for _ in range(5):
        proc = subprocess.run(["bash", "-c", body, "provision-users"], capture_output=True, text=True,
                              check=False, timeout=60)
        assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
        passwords = proc.stdout.split()
        assert len(passwords) == len(set(passwords)) == 50
        assert all(re.fullmatch(r"[A-Za-z0-9]{20}", p) for p in passwords)
