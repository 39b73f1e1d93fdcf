"""`inv backup`, `inv restore` and `inv backup-status` without a host: which files go up, which
arguments the scripts get, and the status table.

Every value of these jobs is a path or a name on the host: the scripts check them all, on every host
before any change. The scripts are tested in containers (tests/containers/test_backup.py) and on the
lab (tests/lab/test_lab_backup.py; tests/lab/test_lab_refusals.py proves, through `inv`, that what
they refuse changes no host); here only what tssrkit.jobs.backup decides before connecting and after.
"""

from __future__ import annotations

import pytest

from tssrkit import runner
from tssrkit.hosts import Target
from tssrkit.jobs import backup
from tssrkit.paths import SCRIPTS


def status_result(host: str, *, last_good: str | None = "web-20261129T021500Z", age: int | None = 7500,
                  sets: int = 3, status: str = "ok", note: str = "") -> runner.HostResult:
    result = {"script": "backup.sh", "status": "ok", "changed": 0, "job": "web",
              "dest": "/var/backups/tssr-kit", "last_good": last_good,
              "last_good_time": None, "age_seconds": age, "sets": sets}
    return runner.HostResult(Target(host, host), status=status, result=result if status == "ok" else {},
                             note=note)


# --------------------------------------------------------------------------------------------------
# backup.backup


def test_the_scripts_go_up_laid_out_as_backup_sh_expects_them():
    job = backup.backup(sources=["/srv/data"])
    assert job.name == "backup" and job.script == backup.BACKUP_SCRIPT
    assert job.files["backup_retention.py"] == SCRIPTS / "python" / "backup_retention.py"
    assert job.files["restore.sh"] == backup.RESTORE_SCRIPT, "--install-timer installs restore.sh too"
    assert "backup.sh" not in job.files, "the script itself is uploaded by the runner"
    assert "lib/common.sh" in job.files
    assert {n for n in job.files if n.startswith("templates/")} == {
        f"templates/{p.name}" for p in (backup.BACKUP_SCRIPT.parent / "templates").iterdir() if p.is_file()}
    assert job.validate_first, "the dry run must run everywhere before any host changes"


def test_with_nothing_to_back_up_the_job_takes_etc():
    assert backup.backup().args == ["--job", "default", "--dest", "/var/backups/tssr-kit", "--source", "/etc"]


def test_a_database_or_a_config_alone_is_enough():
    assert "--source" not in backup.backup(mysql=True).args
    assert "--source" not in backup.backup(config="/etc/tssr-kit/backup/web.conf").args


def test_every_option_becomes_an_argument():
    job = backup.backup(job="web", sources=["/etc", "/srv/www"], excludes=["*.tmp"],
                        mysql_dbs=["parc", "wiki"], postgres=True, dest="ssh://backup@nas:2222/srv/backups",
                        ssh_key="/root/.ssh/backup", keep={"last": 2, "daily": 14, "monthly": 0},
                        compress="gzip", encrypt_key="/root/backup.pass")
    assert job.args == ["--job", "web", "--dest", "ssh://backup@nas:2222/srv/backups",
                        "--source", "/etc", "--source", "/srv/www", "--exclude", "*.tmp",
                        "--mysql-db", "parc", "--mysql-db", "wiki", "--postgres",
                        "--ssh-key", "/root/.ssh/backup", "--encrypt-key", "/root/backup.pass",
                        "--compress", "gzip", "--keep-last", "2", "--keep-daily", "14", "--keep-monthly", "0"]
    argv = job.argv("/tmp/d", dry_run=True)
    assert argv[:3] == ["bash", "/tmp/d/backup.sh", "--dry-run"]


def test_a_remote_destinations_host_key_is_passed_on():
    job = backup.backup(job="web", dest="ssh://backup@nas/srv/backups", ssh_key="/root/.ssh/backup",
                      host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB", install_timer=True)
    assert job.args[job.args.index("--host-key") + 1] == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB"
    known = backup.backup(job="web", dest="ssh://nas/srv/backups",
                          known_hosts="/etc/tssr-kit/nas.known_hosts")
    assert known.args[known.args.index("--known-hosts") + 1] == "/etc/tssr-kit/nas.known_hosts"
    status = backup.status("web", "ssh://nas/srv/backups", ssh_key="/root/.ssh/backup",
                                host_key="ssh-ed25519 AAAA")
    assert status.args == ["status", "--job", "web", "--dest", "ssh://nas/srv/backups", "--ssh-key",
                           "/root/.ssh/backup", "--host-key", "ssh-ed25519 AAAA"]


def test_install_timer_comes_first_with_its_calendar():
    job = backup.backup(job="web", sources=["/srv"], install_timer=True, on_calendar="*-*-* 02:30:00")
    assert job.args[0] == "--install-timer"
    assert job.args[-2:] == ["--on-calendar", "*-*-* 02:30:00"]


def test_the_summary_note_is_the_set_made_or_the_timer_installed():
    job = backup.backup()
    assert job.note({"status": "changed", "set": "default-20261129T021500Z"}) == "default-20261129T021500Z"
    assert job.note({"status": "ok", "timer": "tssr-backup@web.timer"}) == "tssr-backup@web.timer"
    assert job.note({"status": "failed", "set": None, "error": "--source /nope: no such file"}) == (
        "--source /nope: no such file")


def test_values_are_passed_as_given_for_the_script_to_judge():
    """A bad job name, a relative path, a retention of 0, an unknown compression: backup.sh refuses
    them on every host before any change (tests/lab/test_lab_refusals.py)."""
    job = backup.backup(job="Web", sources=["srv/data"], keep={"last": 0, "daily": "x"}, compress="xz",
                        on_calendar="every full moon", install_timer=True)
    assert job.args == ["--install-timer", "--job", "Web", "--dest", "/var/backups/tssr-kit", "--source",
                        "srv/data", "--compress", "xz", "--on-calendar", "every full moon",
                        "--keep-last", "0", "--keep-daily", "x"]


def test_a_calendar_without_install_timer_is_refused_here_since_backup_sh_would_ignore_it():
    with pytest.raises(ValueError, match="--on-calendar goes with --install-timer"):
        backup.backup(on_calendar="daily")


# --------------------------------------------------------------------------------------------------
# backup.restore


def test_a_files_restore_into_a_target():
    job = backup.restore(job="web", target="/srv/restore", paths=["srv/www", "etc/nginx"])
    assert job.script == backup.RESTORE_SCRIPT and job.files["backup.sh"] == backup.BACKUP_SCRIPT
    assert "restore.sh" not in job.files
    assert job.args == ["--dest", "/var/backups/tssr-kit", "--job", "web", "--set", "latest",
                        "--files", "--target", "/srv/restore", "--path", "srv/www", "--path", "etc/nginx"]
    assert job.validate_first
    assert job.note({"restored": "files", "target": "/srv/restore"}) == "files into /srv/restore"
    assert job.note({"restored": "mysql:parc", "target": "parc_check"}) == "mysql:parc into parc_check"
    assert job.note({"restored": None, "target": "/r", "error": "--target: '/r' is not empty"}) == (
        "--target: '/r' is not empty")


def test_a_restore_in_place_says_so():
    job = backup.restore(job="data", target="/", paths=["srv/data"], in_place=True,
                       backup_set="data-20261129T021500Z", encrypt_key="/etc/tssr-kit/backup/data.passphrase")
    assert job.args == ["--dest", "/var/backups/tssr-kit", "--job", "data", "--set", "data-20261129T021500Z",
                        "--files", "--target", "/", "--path", "srv/data", "--in-place",
                        "--encrypt-key", "/etc/tssr-kit/backup/data.passphrase"]


def test_a_restore_from_a_remote_repository_takes_its_key():
    job = backup.restore(job="web", dest="ssh://backup@nas/srv/backups", postgres_db="wiki",
                       ssh_key="/root/.ssh/backup")
    assert job.args == ["--dest", "ssh://backup@nas/srv/backups", "--job", "web", "--set", "latest",
                        "--postgres-db", "wiki", "--ssh-key", "/root/.ssh/backup"]


def test_a_restore_that_trusts_the_storage_or_keeps_setuid_says_so():
    job = backup.restore(job="web", dest="ssh://nas/srv/backups", target="/srv/r", keep_setuid=True,
                       allow_unauthenticated=True, host_key="ssh-ed25519 AAAA")
    assert job.args == ["--dest", "ssh://nas/srv/backups", "--job", "web", "--set", "latest", "--files",
                        "--target", "/srv/r", "--keep-setuid", "--allow-unauthenticated",
                        "--host-key", "ssh-ed25519 AAAA"]


def test_the_postgres_roles_are_a_restore_of_their_own():
    assert backup.restore(job="db", postgres_globals=True, encrypt_key="/root/k").args[-3:] == [
        "--postgres-globals", "--encrypt-key", "/root/k"]


def test_a_database_name_is_passed_as_it_is():
    name = "x'; ALTER ROLE app SUPERUSER; --\n$(id)"
    assert backup.restore(postgres_db=name).args[-2:] == ["--postgres-db", name]


def test_a_database_restore_into_another_name():
    job = backup.restore(job="web", mysql_db="parc", into="parc_check", replace=True)
    assert job.args[-5:] == ["--mysql-db", "parc", "--into", "parc_check", "--replace"]
    assert backup.restore(postgres_db="wiki").args[-2:] == ["--postgres-db", "wiki"]


def test_what_to_restore_is_the_scripts_to_judge():
    """Nothing to restore, two things at once, --path without --target: restore.sh refuses them on every
    host before any change (tests/lab/test_lab_refusals.py)."""
    assert backup.restore().args == ["--dest", "/var/backups/tssr-kit", "--job", "default", "--set", "latest"]
    assert backup.restore(target="/r", mysql_db="parc").args[-5:] == ["--files", "--target", "/r",
                                                                      "--mysql-db", "parc"]
    assert backup.restore(mysql_db="parc", paths=["srv"]).args[-4:] == ["--path", "srv", "--mysql-db", "parc"]


# --------------------------------------------------------------------------------------------------
# backup.status and its table


def test_status_is_read_only_and_never_a_dry_run_first():
    job = backup.status("web", "/srv/backups")
    assert job.args == ["status", "--job", "web", "--dest", "/srv/backups"]
    assert not job.validate_first
    assert job.argv("/tmp/d", dry_run=False) == ["bash", "/tmp/d/backup.sh", "status", "--job", "web",
                                                 "--dest", "/srv/backups"]


@pytest.mark.parametrize(("seconds", "shown"), [
    (None, "-"), (0, "0h00m"), (59, "0h00m"), (7500, "2h05m"), (11100, "3h05m"), (26 * 3600, "26h00m"),
    (99 * 3600 + 59 * 60, "99h59m"), (100 * 3600, "4d04h"), (-30, "0h00m"),
])
def test_ages_read_in_hours_and_minutes_then_days(seconds, shown):
    assert backup.format_age(seconds) == shown


def test_the_table_shows_each_hosts_last_good_backup_and_its_age():
    table = backup.status_table([status_result("web1"), status_result("web2", age=11100, sets=7)], 26)
    lines = table.splitlines()
    assert lines[0].split() == ["host", "job", "last", "good", "backup", "age", "sets", "status"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split() == ["web1", "web", "web-20261129T021500Z", "2h05m", "3", "ok"]
    assert lines[3].split() == ["web2", "web", "web-20261129T021500Z", "3h05m", "7", "ok"]
    assert lines[-1] == "2 host(s): 2 with a good backup younger than 26 h, 0 without"
    # Columns line up: the ages end in the same column.
    assert lines[2].index("2h05m") + 5 == lines[3].index("3h05m") + 5


def test_a_host_without_a_backup_or_with_an_old_one_is_not_ok():
    results = [status_result("a", last_good=None, age=None, sets=0), status_result("b", age=27 * 3600),
               status_result("c", status="unreachable", note="NoValidConnectionsError: port 22"),
               status_result("d")]
    verdicts = [backup.health(r, 26) for r in results]
    assert verdicts == ["no backup", "too old", "unreachable", "ok"]
    table = backup.status_table(results, 26)
    assert "none" in table.splitlines()[2] and "no backup" in table.splitlines()[2]
    assert "27h00m" in table.splitlines()[3] and "too old" in table.splitlines()[3]
    assert "unreachable: NoValidConnectionsError" in table.splitlines()[4]
    assert table.splitlines()[-1] == "4 host(s): 1 with a good backup younger than 26 h, 3 without"


def test_the_age_limit_is_the_callers():
    assert backup.health(status_result("a", age=30 * 3600), 48) == "ok"
    assert backup.health(status_result("a", age=30 * 3600), 26) == "too old"
    assert backup.health(status_result("a", age=3600), 0.5) == "too old"
