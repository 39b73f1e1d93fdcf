"""Host-state tests of lesson 4's exercises (docs/lessons/04-backups.md, graded by `inv exercise check
4.M` as docs/lessons/exercises/04.yml says): what tests/hoststate/test_backup.py, which the graders run
too, cannot check on its own — the sources, database, retention and schedule the trainee was given, the
one file restored into /root/restore, the row brought back from a restored copy of the database.

They read the host's state only (the job's config, systemd's view of the timer, the files, MariaDB as
root through its socket, the newest set's dump), never the trainee's commands. Collected only when
TSSR_EXERCISE is set (the grader sets it; tests/conftest.py).
"""

from __future__ import annotations

from hoststate.hostlib import check, run

JOB = "web"
CONFIG = f"/etc/tssr-kit/backup/{JOB}.conf"
REPOSITORY = f"/var/backups/tssr-kit/{JOB}"
LIVE_FILE = "/etc/tssr-kit/lamp/parc/database.ini"
RESTORE = "/root/restore"
ASSET = ("PC-0042", "laptop", "Lenovo ThinkPad T14")
ROW = "SELECT asset_tag, category, description FROM equipment WHERE asset_tag = 'PC-0042'"


def settings(host) -> list[tuple[str, str]]:
    """The job config's `key = value` lines, in order (as backup.sh reads them)."""
    conf = host.file(CONFIG)
    assert conf.is_file, f"no job {JOB}: {CONFIG} is missing (backup.sh --install-timer --job {JOB})"
    found = []
    for line in conf.content_string.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            found.append((key.strip(), value.strip()))
    return found


def query(host, database: str, sql: str) -> list[list[str]]:
    """Rows of a query run as MariaDB's root (tab-separated, no header); a missing database fails."""
    out = check(host, "mariadb", "--batch", "--skip-column-names", database, "-e", sql)
    return [line.split("\t") for line in out.splitlines()]


# ---- 4.1 ------------------------------------------------------------------------------------------
def test_4_1_the_job_backs_up_parc_keeping_14_daily_sets(host):
    found = settings(host)
    sources = {value for key, value in found if key == "source"}
    assert {"/srv/lamp/parc", "/etc/tssr-kit"} <= sources, f"{CONFIG}: the sources are {sorted(sources)}"
    databases = {value for key, value in found if key == "mysql-db"}
    everything = any(key == "mysql" and value in ("yes", "true", "1") for key, value in found)
    assert "parc" in databases or everything, f"{CONFIG}: the database parc is not backed up"
    keep_daily = dict(found).get("keep-daily")
    assert keep_daily == "14", f"{CONFIG}: keep-daily = {keep_daily} (14 wanted)"


def test_4_1_the_timer_runs_every_day_at_01_30(host):
    out = check(host, "systemctl", "show", "--property=TimersCalendar", f"tssr-backup@{JOB}.timer")
    assert "OnCalendar=*-*-* 01:30:00 " in out, f"tssr-backup@{JOB}.timer: {out.strip()}"


# ---- 4.2 ------------------------------------------------------------------------------------------
def test_4_2_the_file_is_restored_as_it_is_live(host):
    restored = host.file(RESTORE + LIVE_FILE)
    assert restored.is_file, f"{RESTORE}{LIVE_FILE} is missing"
    live = host.file(LIVE_FILE)
    assert restored.sha256sum == live.sha256sum, f"{RESTORE}{LIVE_FILE} differs from {LIVE_FILE}"
    assert (restored.user, restored.mode) == (live.user, live.mode), (
        f"{RESTORE}{LIVE_FILE}: owner {restored.user}, mode {restored.mode:o} "
        f"(the live file: {live.user}, {live.mode:o})")


def test_4_2_nothing_else_is_restored_there(host):
    out = check(host, "find", RESTORE, "-mindepth", "1", "!", "-type", "d")
    others = [path for path in out.splitlines() if path != RESTORE + LIVE_FILE]
    assert not others, f"{RESTORE} holds more than the one file: {others[:5]}"


# ---- 4.3 ------------------------------------------------------------------------------------------
def test_4_3_the_newest_set_of_the_job_holds_the_row(host):
    sets = run(host, "find", REPOSITORY, "-mindepth", "1", "-maxdepth", "1", "-type", "d",
               "-name", f"{JOB}-*").stdout.split()
    assert sets, f"no complete set in {REPOSITORY}"
    newest = max(sets)
    dumps = [f"{newest}/mysql/parc.sql.gz", f"{newest}/mysql/parc.sql.zst"]
    dump = next((path for path in dumps if host.file(path).is_file), None)
    assert dump, f"{newest}: no dump of the database parc"
    reader = "zstd -dc" if dump.endswith(".zst") else "gzip -dc"
    found = host.run(f"{reader} {dump} | grep -c %s", ASSET[0])
    assert found.stdout.strip() not in ("", "0"), f"{dump} has no {ASSET[0]}: back up after adding it"


def test_4_3_parc_check_is_a_restored_copy_holding_the_row(host):
    rows = query(host, "parc_check", ROW)
    assert rows == [list(ASSET)], f"parc_check: {rows}"


def test_4_3_the_row_is_back_in_parc(host):
    rows = query(host, "parc", ROW)
    assert rows == [list(ASSET)], f"parc: {rows}"
