"""`inv backup`, `inv backup-status` and `inv restore` end to end on a lab host: a set of /etc is
made over SSH, the status table shows its age, and a file restored into a target folder is the
original.

Same separate lab as the other lab tests (TSSR_LAB=tssr-t, same xdist group, so never at the same
time); this module uses tssr-t1 only, with a job of its own (`labtest`) whose repository and restore
folder it removes at the end, and, like test_lab_lamp.py, removes the lab when it started it.
Everything goes through the commands a technician types. Kept short: one backup, one status, one
restore.
"""

from __future__ import annotations

import re

import pytest
from lablib import HOST, inv, on_host, running_lab, summary_row

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab"), pytest.mark.slow]

JOB = "labtest"
REPOSITORY = f"/var/backups/tssr-kit/{JOB}"
TARGET = "/tmp/tssr-lab-restore"


@pytest.fixture(scope="module")
def backed_up():
    """The lab (started if needed) with one set of /etc made by `inv backup`."""
    with running_lab():
        yield inv("backup", "--hosts", HOST, "--job", JOB, "--source", "/etc")
        on_host("rm", "-rf", REPOSITORY, TARGET)


def test_backup_makes_a_set_and_names_it(backed_up):
    assert backed_up.returncode == 0, backed_up.stdout + backed_up.stderr[-4000:]
    row = summary_row(backed_up.stdout, HOST)
    assert row[1] == "changed", row
    assert re.fullmatch(rf"{JOB}-\d{{8}}T\d{{6}}Z", row[-1]), row


def test_backup_status_shows_the_set_and_its_age(backed_up):
    proc = inv("backup-status", "--hosts", HOST, "--job", JOB)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    host, job, last_good, age, sets, status = summary_row(proc.stdout, HOST)
    assert (job, last_good, status) == (JOB, summary_row(backed_up.stdout, HOST)[-1], "ok")
    assert re.fullmatch(r"0h0\dm", age), age
    assert int(sets) == 1


def test_backup_status_fails_for_a_job_without_a_set(backed_up):
    proc = inv("backup-status", "--hosts", HOST, "--job", "nothing-here")
    assert proc.returncode == 1, proc.stdout + proc.stderr[-4000:]
    assert summary_row(proc.stdout, HOST)[-1] == "no backup"


def test_restore_into_a_target_gives_back_the_original_file(backed_up):
    proc = inv("restore", "--hosts", HOST, "--job", JOB, "--target", TARGET, "--path", "etc/hostname")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    assert summary_row(proc.stdout, HOST)[1] == "changed"
    same = on_host("cmp", "/etc/hostname", f"{TARGET}/etc/hostname")
    assert same.returncode == 0, same.stdout + same.stderr
    assert on_host("test", "-e", f"{TARGET}/etc/passwd").returncode != 0, "--path restores that member only"
