"""Host-state tests of the backup job: is the job that `backup.sh --install-timer` installed scheduled,
running, fresh, complete and private, the way `backup.sh --help` says?

They look at the host through Testinfra's `host` fixture, so they run unchanged wherever Testinfra
reaches:

    # under Molecule (molecule/backup/molecule.yml points its verifier here):
    molecule test -s backup --platform-name backup-debian12
    # against a host of the local lab, after `inv backup --install-timer`:
    pytest --hosts=ssh://tssr-lab1 --ssh-config=.tssr/tssr-lab/ssh_config --sudo \
        tests/hoststate/test_backup.py
    # against a real server:
    TSSR_BACKUP_JOB=web pytest --hosts=ssh://admin@server --sudo tests/hoststate/test_backup.py

Which job: the installed jobs are the configs /etc/tssr-kit/backup/JOB.conf; $TSSR_BACKUP_JOB names
one (needed when there are several; no job at all is a failure). Its repository is DEST/JOB/, DEST
read from the config's `dest =` line (the script's default, /var/backups/tssr-kit, without one).
$TSSR_BACKUP_MIN_SETS: the complete sets the repository must hold (default 1).
$TSSR_BACKUP_MAX_AGE_HOURS: the age the newest one must stay under (default 26: a daily timer, and
two hours of slack); the same limit is given to `backup.sh check` as its warning threshold.
$TSSR_BACKUP_EXPECT: the prefix of a snapshot of the protected data and the script that takes it
(PREFIX.txt and PREFIX.sh, as molecule/backup/prepare.yml leaves them: /root/expected); when set,
the data on the host must be what the snapshot recorded (after a restore, say). Unset: not checked.
Every check needs root on the host (the config, the repository and the passphrase are root-only):
connect as root or pass --sudo.

This folder is left out of a plain `pytest` run (it needs a host): tests/conftest.py collects it only
with --hosts=… or TSSR_HOSTSTATE=1 (Molecule's verifier sets it).

What is checked, each from the host:
- the timer tssr-backup@JOB.timer is enabled and active, and has a next run;
- the last run of tssr-backup@JOB.service (when it ran since the boot) succeeded;
- the repository holds at least TSSR_BACKUP_MIN_SETS complete sets, the newest younger than
  TSSR_BACKUP_MAX_AGE_HOURS; `backup.sh status` agrees with what the folder shows;
- `backup.sh check --warning H --critical 2H` exits 0 with a `BACKUP OK` line;
- `backup.sh verify --all` passes (checksums, archives, decryption), and with the job's passphrase
  authenticates every set (each holds MANIFEST.gpg);
- a remote destination's host key is pinned: the config names a known_hosts file of root's;
- no private copy or partial set is left in the spool /var/spool/tssr-kit (root's, 0700);
- each complete set has its backup.json (job, name, status; the newest one's sources are the
  config's) and SHA256SUMS, and no `.partial` folder is left;
- the config and the passphrase are root's, 0600; the repository is 0700;
- with TSSR_BACKUP_EXPECT: the data on the host equals the recorded snapshot.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hostlib import check, run

CONFIG_DIR = "/etc/tssr-kit/backup"
SCRIPT = "/usr/local/lib/tssr-kit/backup/backup.sh"
DEFAULT_DEST = "/var/backups/tssr-kit"
MIN_SETS = int(os.environ.get("TSSR_BACKUP_MIN_SETS") or "1")
MAX_AGE_HOURS = int(os.environ.get("TSSR_BACKUP_MAX_AGE_HOURS") or "26")
EXPECT = os.environ.get("TSSR_BACKUP_EXPECT") or ""
SET_NAME = re.compile(r"^(?P<job>[a-z0-9][a-z0-9_-]{0,39})-(?P<stamp>\d{8}T\d{6}Z)$")


@dataclass(frozen=True)
class Job:
    """The backup job under test, as the host shows it."""

    name: str
    config: str
    settings: dict[str, list[str]]  # key -> values, from the config file

    @property
    def dest(self) -> str:
        return (self.settings.get("dest") or [DEFAULT_DEST])[-1]

    @property
    def repository(self) -> str:
        return f"{self.dest.rstrip('/')}/{self.name}"

    @property
    def unit(self) -> str:
        return f"tssr-backup@{self.name}"


def parse_config(text: str) -> dict[str, list[str]]:
    """`key = value` lines (repeatable keys add), `#` comments and blank lines, as backup.sh reads them."""
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


@pytest.fixture(scope="module")
def job(host) -> Job:
    """The job under test: $TSSR_BACKUP_JOB, else the only one installed on the host."""
    found = run(host, "find", CONFIG_DIR, "-maxdepth", "1", "-name", "*.conf", "-type", "f")
    names = sorted(path.rsplit("/", 1)[1][: -len(".conf")] for path in found.stdout.split())
    wanted = os.environ.get("TSSR_BACKUP_JOB")
    if wanted:
        assert wanted in names, f"{CONFIG_DIR}/{wanted}.conf does not exist (jobs here: {names or 'none'})"
        name = wanted
    else:
        assert names, f"no backup job is installed here: no {CONFIG_DIR}/JOB.conf"
        assert len(names) == 1, f"several backup jobs are installed ({', '.join(names)}): set TSSR_BACKUP_JOB"
        name = names[0]
    config = f"{CONFIG_DIR}/{name}.conf"
    return Job(name, config, parse_config(check(host, "cat", config)))


def complete_sets(host, job: Job) -> list[str]:
    """The complete sets of the job, newest first: folders JOB-STAMP with backup.json and SHA256SUMS."""
    out = run(host, "find", job.repository, "-mindepth", "1", "-maxdepth", "1", "-type", "d",
              "-name", f"{job.name}-*").stdout
    names = sorted((path.rsplit("/", 1)[1] for path in out.split()), reverse=True)
    complete = []
    for name in names:
        folder = f"{job.repository}/{name}"
        if SET_NAME.match(name) and host.file(f"{folder}/backup.json").is_file \
                and host.file(f"{folder}/SHA256SUMS").is_file:
            complete.append(name)
    return complete


@pytest.fixture(scope="module")
def sets(host, job) -> list[str]:
    found = complete_sets(host, job)
    assert found, f"{job.repository} holds no complete set"
    return found


def set_time(name: str) -> datetime:
    stamp = SET_NAME.match(name).group("stamp")
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def host_now(host) -> datetime:
    return datetime.fromtimestamp(int(check(host, "date", "+%s").strip()), tz=UTC)


def script(host, job: Job, *args: str):
    """The installed backup.sh with the job's config (what the timer runs)."""
    return run(host, "/bin/bash", SCRIPT, *args, "--config", job.config)


# ---- the timer and its service ---------------------------------------------------------------------
def test_the_timer_is_enabled_and_active(host, job):
    timer = host.service(f"{job.unit}.timer")
    assert timer.is_enabled, f"{job.unit}.timer is not enabled"
    assert timer.is_running, f"{job.unit}.timer is not active"


def test_the_timer_has_a_next_run(host, job):
    out = check(host, "systemctl", "show", "--property=NextElapseUSecRealtime", f"{job.unit}.timer")
    assert out.strip().partition("=")[2] not in ("", "0", "n/a"), out


def test_the_last_run_of_the_service_succeeded(host, job):
    out = check(host, "systemctl", "show", "--property=Result", "--property=ExecMainStatus",
                "--property=ExecMainStartTimestamp", f"{job.unit}.service")
    props = dict(line.partition("=")[::2] for line in out.splitlines())
    if not props.get("ExecMainStartTimestamp"):
        pytest.skip(f"{job.unit}.service has not run since the host booted")
    assert props.get("Result") == "success", props
    # 1 is a complete set with warnings (the unit's SuccessExitStatus=1).
    assert props.get("ExecMainStatus") in ("0", "1"), props


# ---- the repository ---------------------------------------------------------------------------------
def test_the_repository_holds_enough_complete_sets(sets):
    assert len(sets) >= MIN_SETS, f"{len(sets)} complete set(s), expected at least {MIN_SETS}: {sets}"


def test_the_newest_set_is_fresh(host, sets):
    age = host_now(host) - set_time(sets[0])
    assert age.total_seconds() < MAX_AGE_HOURS * 3600, f"{sets[0]} is {age} old (limit {MAX_AGE_HOURS} h)"


def test_the_status_command_agrees_with_the_repository(host, job, sets):
    result = script(host, job, "status")
    assert result.rc == 0, result.stderr
    status = json.loads(result.stdout.strip().splitlines()[-1])
    assert status["last_good"] == sets[0]
    assert status["sets"] == len(sets)
    assert status["job"] == job.name


def test_the_check_command_says_ok(host, job):
    result = script(host, job, "check", "--warning", str(MAX_AGE_HOURS), "--critical", str(2 * MAX_AGE_HOURS))
    assert result.rc == 0, f"exit {result.rc}: {result.stdout} {result.stderr}"
    assert result.stdout.startswith("BACKUP OK"), result.stdout
    assert len(result.stdout.strip().splitlines()) == 1, "a monitoring plugin prints one line"


def test_every_set_verifies(host, job, sets):
    result = script(host, job, "verify", "--all")
    assert result.rc == 0, f"exit {result.rc}: {result.stderr}"


def test_an_encrypted_jobs_sets_are_all_authenticated(host, job, sets):
    if not job.settings.get("encrypt-key"):
        pytest.skip("the job is not encrypted: its sets are authenticated by nothing")
    for name in sets:
        assert host.file(f"{job.repository}/{name}/MANIFEST.gpg").is_file, f"{name} has no MANIFEST.gpg"
    result = script(host, job, "verify", "--all")
    assert result.rc == 0, f"exit {result.rc}: {result.stderr}"
    verified = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(verified["authenticated"]) == sorted(sets), verified


def test_each_set_describes_itself(host, job, sets):
    for name in sets:
        meta = json.loads(check(host, "cat", f"{job.repository}/{name}/backup.json"))
        assert meta["job"] == job.name and meta["name"] == name, meta
        assert meta["status"] in ("ok", "warning"), meta
        if name == sets[0]:
            # The newest set was made with the job's config as it is (older ones may predate a change).
            assert sorted(meta["sources"]) == sorted(job.settings.get("source", [])), meta


def test_no_partial_set_is_left(host, job):
    partial = run(host, "find", job.repository, "-mindepth", "1", "-maxdepth", "1", "-name", "*.partial")
    assert partial.stdout.split() == [], f"left behind: {partial.stdout.split()}"


# ---- privacy ----------------------------------------------------------------------------------------
def test_the_config_is_root_only(host, job):
    config = host.file(job.config)
    assert (config.user, config.group, config.mode) == ("root", "root", 0o600)


def test_the_passphrase_is_root_only(host, job):
    keys = job.settings.get("encrypt-key")
    if not keys:
        pytest.skip("the job is not encrypted")
    key = host.file(keys[-1])
    assert key.is_file, f"{key.path} is not a file"
    assert (key.user, key.mode) in (("root", 0o600), ("root", 0o400)), (key.user, oct(key.mode))


def test_the_repository_is_root_only(host, job):
    repository = host.file(job.repository)
    assert (repository.user, repository.mode) == ("root", 0o700)


def test_a_remote_destinations_host_key_is_pinned(host, job):
    if not job.dest.startswith("ssh://"):
        pytest.skip("the destination is a folder of the host")
    files = job.settings.get("known-hosts")
    assert files, f"{job.config} pins no host key (no known-hosts line)"
    known = host.file(files[-1])
    assert known.is_file and known.user == "root" and known.mode & 0o022 == 0, (known.user, oct(known.mode))


def test_the_spool_is_private_and_empty(host):
    spool = host.file("/var/spool/tssr-kit")
    if not spool.exists:
        pytest.skip("no remote run or restore has used the spool here")
    assert spool.is_directory and not spool.is_symlink
    assert (spool.user, spool.mode) == ("root", 0o700)
    assert check(host, "find", "/var/spool/tssr-kit", "-mindepth", "1").split() == [], "left in the spool"


# ---- the data ---------------------------------------------------------------------------------------
def test_the_data_is_what_the_snapshot_recorded(host):
    if not EXPECT:
        pytest.skip("TSSR_BACKUP_EXPECT is not set: no snapshot to compare with")
    expected = check(host, "cat", f"{EXPECT}.txt")
    now = run(host, f"{EXPECT}.sh")
    assert now.rc == 0, f"`{shlex.quote(EXPECT)}.sh` exited with {now.rc}: {now.stderr}"
    assert now.stdout.splitlines() == expected.splitlines()
