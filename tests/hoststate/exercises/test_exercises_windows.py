"""The graders' own host-state tests for lesson 5's exercises (docs/lessons/exercises/05.yml): the Linux
twins of the Windows jobs, checked where tests/hoststate/test_users.py and test_backup.py do not look.
Run by `inv exercise check 5.N` only (tssrkit/exercises.py sets TSSR_EXERCISE; tests/conftest.py leaves
this folder out otherwise), against a lab host or any server, with root (`--sudo`).
"""

from __future__ import annotations

import pytest
from hostlib import run

AD_PRESENT_5_1 = ("edupont", "hlefevre", "tnguyen")
JOB_5_2 = "compta"
CONFIG_5_2 = f"/etc/tssr-kit/backup/{JOB_5_2}.conf"


def config_values(host, path: str) -> dict[str, list[str]]:
    """`key = value` lines of a backup job's config (every value of a repeated key)."""
    result = run(host, "cat", path)
    assert result.rc == 0, f"no {path}: the job {JOB_5_2} is not installed"
    values: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            values.setdefault(key.strip(), []).append(value.strip())
    return values


@pytest.mark.parametrize("login", AD_PRESENT_5_1)
def test_5_1_new_accounts_must_change_their_password_at_first_login(host, login):
    result = run(host, "getent", "shadow", login)
    assert result.rc == 0, f"{login} has no account here"
    assert result.stdout.split(":")[2] == "0", \
        f"{login}: the password need not be changed at first login (chage -d 0)"


def test_5_2_the_compta_job_runs_every_day_at_0230(host):
    shown = run(host, "systemctl", "show", "--property=TimersCalendar", f"tssr-backup@{JOB_5_2}.timer").stdout
    assert "OnCalendar=*-*-* 02:30:00 " in shown, f"tssr-backup@{JOB_5_2}.timer: {shown.strip()}"


def test_5_2_the_compta_job_archives_the_share_and_keeps_14_days(host):
    values = config_values(host, CONFIG_5_2)
    assert "/srv/partages/compta" in values.get("source", []), f"{CONFIG_5_2}: source {values.get('source')}"
    assert values.get("keep-daily") == ["14"], f"{CONFIG_5_2}: keep-daily {values.get('keep-daily')}"
