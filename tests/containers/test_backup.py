"""backup.sh and restore.sh run for real in containers, against docs/reference/backup.md.

Per platform (Debian 12, Debian 13, RedHat when ``TSSR_REDHAT_IMAGE`` names an image — otherwise
*skipped, not run: no image*), three containers on a user-defined docker network of their own:

- the *server*: systemd, MariaDB and PostgreSQL (installed once, by the fixture), some files in
  ``/srv/data``; taken through the story test by test, in the order of this file: refused input and a
  dry run (nothing changed), a good run (the script installs zstd and gnupg itself), list / status /
  check, retention, the lock, kills mid-run, a corrupted set, encryption, the databases, restores, a
  remote destination, the timer, and last the passphrase searched for everywhere;
- the *remote*: sshd and rsync, reached from the server by its container name (never over the host's
  bridge), for ``--dest ssh://…``;
- the *small disk*: a plain container whose ``/backup`` is an 8 MB tmpfs, for a full destination.

The tests of one platform form one ``xdist_group``: run them with ``pytest -n 2 --dist loadgroup``
(as ``inv test`` does), each platform's story on one worker, in order.

The scripts are copied in with the repository's layout (``/opt/tssr-test/scripts/bash/backup``,
``…/bash/lib``, ``…/python/backup_retention.py``): backup.sh finds the retention planner there.
Old sets are faked by copying a real set under an older name (the age is read from the name).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from containerlib import (
    PLATFORMS,
    SCRIPT_DIR,
    Node,
    Platform,
    ScriptRun,
    assert_nothing_changed,
    host_state_script,
    install,
    nodes_on_network,
    parse_snapshot,
    script_result,
    start_plain_node,
    start_systemd_node,
    subset,
    wait_until,
)

pytestmark = [pytest.mark.containers, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BACKUP_SOURCE = ROOT / "scripts" / "bash" / "backup"
LIB_SOURCE = ROOT / "scripts" / "bash" / "lib"
PLANNER_SOURCE = ROOT / "scripts" / "python" / "backup_retention.py"
COPIES = {
    f"{SCRIPT_DIR}/scripts/bash/backup": BACKUP_SOURCE,
    f"{SCRIPT_DIR}/scripts/bash/lib": LIB_SOURCE,
    f"{SCRIPT_DIR}/scripts/python/backup_retention.py": PLANNER_SOURCE,
}
BACKUP = f"{SCRIPT_DIR}/scripts/bash/backup/backup.sh"
RESTORE = f"{SCRIPT_DIR}/scripts/bash/backup/restore.sh"
PLANNER = f"{SCRIPT_DIR}/scripts/python/backup_retention.py"

REPOS = "/var/backups/tssr-kit"
DATA = "/srv/data"
PASSPHRASE = f"tssr-pass-{uuid.uuid4().hex}"     # must never be shown, logged or on a command line
KEY = "/root/backup.pass"
SSH_KEY = "/root/.ssh/backup_ed25519"
SET_RE = re.compile(r"^(?P<job>[a-z0-9][a-z0-9_-]*)-\d{8}T\d{6}Z$")
RUN_TIMEOUT = 300

# The server's packages, installed once by the fixture (the script installs zstd, gnupg and rsync).
SERVER_PACKAGES = {"debian": ("mariadb-server", "postgresql"),
                   "redhat": ("mariadb-server", "postgresql-server")}

# The files backed up: a tree with an owner, a mode and an excluded file.
MAKE_DATA = f"""set -e
mkdir -p {DATA}/sub {DATA}/empty
printf 'hello\\n' > {DATA}/a.txt
seq 1 5000 > {DATA}/sub/numbers
printf 'scratch\\n' > {DATA}/sub/scratch.tmp
printf 'private\\n' > {DATA}/sub/owned
chown nobody:nogroup {DATA}/sub/owned 2>/dev/null || chown nobody {DATA}/sub/owned
chmod 0640 {DATA}/sub/owned
ln -sfn a.txt {DATA}/link
touch -d '2020-01-02 03:04:05' {DATA}/a.txt
umask 077; printf '%s' '{PASSPHRASE}' > {KEY}
"""

# "Nothing changed": these are the same before and after a run that must change nothing.
SNAPSHOT = host_state_script((
    "/var/backups", "/etc/tssr-kit", "/usr/local/lib/tssr-kit", "/var/tmp/tssr-backup", "/srv/restore",
    "/etc/systemd/system/tssr-backup@.service", "/etc/systemd/system/tssr-backup@.timer")) + r"""
printf '=== units\n'
systemctl list-unit-files --no-legend 'tssr-backup*' 2>/dev/null | awk '{print $1, $2}'
printf '=== pwned\n'
find /tmp /root /etc /srv /var/backups /var/tmp -name '*pwned*' 2>/dev/null
true
"""


# --------------------------------------------------------------------------------------------------
# The containers and the runs made there


@dataclass
class Lab:
    """The platform's server, remote and small-disk containers, and every run made on the server."""

    server: Node
    remote: Node
    small: Node
    platform: Platform
    runs: list[ScriptRun] = field(default_factory=list, repr=False)
    known: dict[str, str] | None = None          # the snapshot after the last run that changed nothing

    def run(self, script: str, *args: str, node: Node | None = None, timeout: float = RUN_TIMEOUT
            ) -> ScriptRun:
        """``bash SCRIPT ARGS`` as root (no shell: the values reach the script as they are)."""
        self.known = None
        argv = ("bash", script, *args)
        start = time.monotonic()
        proc = (node or self.server).exec(*argv, timeout=timeout)
        return self.record(proc, argv, start)

    def backup(self, *args: str, node: Node | None = None) -> ScriptRun:
        return self.run(BACKUP, *args, node=node)

    def restore(self, *args: str) -> ScriptRun:
        return self.run(RESTORE, *args)

    def unchanged(self, script: str, *args: str) -> tuple[ScriptRun, dict[str, str], dict[str, str]]:
        """Run a script between two snapshots (the run and the second snapshot in one ``docker exec``)."""
        before = self.known if self.known is not None else snapshot(self.server)
        argv = ("bash", script, *args)
        start = time.monotonic()
        proc, after = self.server.write_exec_snapshot("/root/.last-run", shlex.join(argv) + "\n", *argv,
                                                      workdir="/root", snapshot=SNAPSHOT, timeout=RUN_TIMEOUT)
        run = self.record(proc, argv, start)
        self.known = after
        return run, before, after

    def record(self, proc: subprocess.CompletedProcess[bytes], argv: tuple[str, ...], started: float
               ) -> ScriptRun:
        run = ScriptRun.of(proc, argv, started)
        self.runs.append(run)
        return run


def snapshot(node: Node) -> dict[str, str]:
    return parse_snapshot(node.sh(SNAPSHOT))


def result_of(run: ScriptRun, script: str = "backup.sh") -> dict:
    return script_result(run, script)


def sets(node: Node, job: str, repos: str = REPOS) -> list[str]:
    """The folders in the job's repository, hidden ones included, sorted."""
    out = node.sh(f"ls -A {repos}/{job} 2>/dev/null || true")
    return sorted(out.split())


def complete_sets(node: Node, job: str, repos: str = REPOS) -> list[str]:
    return [name for name in sets(node, job, repos) if SET_RE.match(name)]


def stamp(hours_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours_ago)).strftime("%Y%m%dT%H%M%SZ")


def tree_sums(node: Node, root: str) -> str:
    """Each file under root: mode, owner, mtime, link target and content checksum (relative paths)."""
    return node.sh(f"cd {root} && find . -mindepth 1 -printf '%M %u:%g %Ts %p -> %l\\n' | sort && "
                   f"find . -type f -exec sha256sum {{}} + | sort")


# The kills watch a run mid-way: poll often.
POLL = 0.2


# --------------------------------------------------------------------------------------------------
# Fixtures


PLATFORM_PARAMS = [
    pytest.param(p, id=p.name, marks=pytest.mark.xdist_group(f"backup-{p.name}")) for p in PLATFORMS.values()
]


def start_small_disk(platform: Platform, network: str) -> Node:
    """A plain container whose /backup is an 8 MB tmpfs (a destination that fills up), with the scripts."""
    return start_plain_node(platform, "tssr-test-backup-small", network=network,
                            extra=("--tmpfs", "/backup:size=8m"), copies=COPIES)


def prepare_server(node: Node, family: str) -> None:
    install(node, family, *SERVER_PACKAGES[family])
    if family == "redhat":
        node.sh("postgresql-setup --initdb >/dev/null")
    node.sh("systemctl enable --now mariadb postgresql >/dev/null 2>&1 || systemctl start mariadb postgresql")
    node.sh(MAKE_DATA)


def prepare_remote(node: Node, family: str) -> None:
    install(node, family, "rsync")
    # The lab's sshd refuses root (PermitRootLogin no): the backups go to a user of their own.
    node.sh("ssh-keygen -A >/dev/null && useradd --create-home --shell /bin/sh vault && "
            "install -d -o vault -g vault -m 0700 /srv/backups /home/vault/.ssh && "
            "(systemctl restart ssh 2>/dev/null || systemctl restart sshd)")


@pytest.fixture(scope="module", params=PLATFORM_PARAMS)
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    platform: Platform = request.param
    platform.image()
    for path in (BACKUP_SOURCE / "backup.sh", BACKUP_SOURCE / "restore.sh", LIB_SOURCE, PLANNER_SOURCE):
        if not path.exists():
            pytest.fail(f"{path.relative_to(ROOT)} does not exist (yet)")
    start = time.monotonic()
    family = platform.family
    try:
        with nodes_on_network(
            lambda net: start_systemd_node(platform, COPIES, "tssr-test-backup", network=net,
                                           prepare=lambda node: prepare_server(node, family)),
            lambda net: start_systemd_node(platform, {}, "tssr-test-backup-remote", network=net,
                                           prepare=lambda node: prepare_remote(node, family)),
            lambda net: start_small_disk(platform, net),
        ) as (_, (server, remote, small)):
            ready = time.monotonic() - start
            print(f"\n{platform.name}: the three containers were ready after {ready:.0f} s")
            yield Lab(server, remote, small, platform)
    finally:
        print(f"\n{platform.name}: the backup story took {time.monotonic() - start:.0f} s")


@pytest.fixture(scope="module")
def first_set(lab: Lab) -> ScriptRun:
    """The first real run of the job web (zstd, installed by the script itself)."""
    run = lab.backup("--job", "web", "--source", DATA, "--source", "/etc/hostname", "--exclude", "*.tmp",
                     "--compress", "zstd")
    if run.exit != 0:
        pytest.fail(f"the first backup failed, the story cannot go on{run!r}")
    return run


# ==================================================================================================
# 1. Refused input and the dry run change nothing


HOSTILE_JOBS = {"dot-dot": "../x", "space": "a b", "command-substitution": "$(touch /tmp/pwned)",
                "upper-case": "Web", "41-characters": "a" * 41, "leading-hyphen": "-x"}
REFUSED: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    *((f"job-{case}", ("--job", value, "--source", DATA), ("--job", "not a valid job name"))
      for case, value in HOSTILE_JOBS.items()),
    ("relative-source", ("--job", "web", "--source", "srv/data"), ("--source", "not an absolute path")),
    ("missing-source", ("--job", "web", "--source", "/srv/no-such"),
     ("--source", "/srv/no-such", "does not exist")),
    ("nothing-to-back-up", ("--job", "web"), ("nothing to back up",)),
    ("key-mode-0644", ("--job", "web", "--source", DATA, "--encrypt-key", "/root/key-0644"),
     ("--encrypt-key", "mode 0400 or 0600")),
    ("relative-dest", ("--job", "web", "--source", DATA, "--dest", "backups"), ("--dest", "absolute")),
    ("dest-with-dot-dot", ("--job", "web", "--source", DATA, "--dest", "/var/../etc"), ("--dest",)),
    ("remote-without-path", ("--job", "web", "--source", DATA, "--dest", "ssh://host"), ("--dest", "ssh://")),
    ("remote-with-semicolon", ("--job", "web", "--source", DATA, "--dest", "ssh://h;id/x"), ("--dest",)),
    ("keep-last-0", ("--job", "web", "--source", DATA, "--keep-last", "0"), ("--keep-last", "'0'")),
    ("keep-daily-x", ("--job", "web", "--source", DATA, "--keep-daily", "x"), ("--keep-daily", "'x'")),
    ("compress-bzip2", ("--job", "web", "--source", DATA, "--compress", "bzip2"), ("--compress", "bzip2")),
    ("unknown-config-key", ("--config", "/root/bad.conf"), ("line 3", "unknown key 'sauce'")),
    ("mysql-db-missing", ("--job", "web", "--mysql-db", "no_such_db"), ("--mysql-db", "no_such_db")),
    ("bad-calendar", ("--install-timer", "--job", "web", "--source", DATA, "--on-calendar", "someday"),
     ("--on-calendar", "someday")),
    ("unknown-option", ("--job", "web", "--frobnicate"), ("unknown option",)),
]


@pytest.fixture(scope="module")
def bad_inputs(lab: Lab) -> Lab:
    lab.server.write("/root/key-0644", PASSPHRASE, "0644")
    lab.server.write("/root/bad.conf", "# a job\njob = web\nsauce = /srv/data\n", "0600")
    return lab


@pytest.mark.parametrize(("args", "words"), [pytest.param(a, w, id=c) for c, a, w in REFUSED])
def test_bad_input_exits_2_names_the_field_and_changes_nothing(bad_inputs: Lab, args: tuple[str, ...],
                                                               words: tuple[str, ...]) -> None:
    run, before, after = bad_inputs.unchanged(BACKUP, *args)
    assert run.exit == 2, run
    expected = {"status": "failed", "changed": 0}
    assert subset(result_of(run), expected) == expected, run
    for word in words:
        assert word in run.stderr, f"the message does not say {word!r}{run!r}"
    assert PASSPHRASE not in run.stdout + run.stderr, run
    assert_nothing_changed(before, after, run)


def test_dry_run_plans_the_set_and_the_install_and_changes_nothing(lab: Lab) -> None:
    run, before, after = lab.unchanged(BACKUP, "--dry-run", "--job", "web", "--source", DATA,
                                       "--compress", "zstd", "--encrypt-key", KEY)
    assert run.exit == 0, run
    result = result_of(run)
    expected = {"status": "changed", "dry_run": True}
    assert subset(result, expected) == expected, run
    assert result["changed"] >= 2, run
    assert "would: install the packages" in run.stderr and "zstd" in run.stderr, run
    assert "would: make the set web-" in run.stderr, run
    assert_nothing_changed(before, after, run)


# ==================================================================================================
# 2. A good run: a complete, checksummed set, and the result line that says so


def test_a_run_makes_one_complete_set_with_valid_checksums(lab: Lab, first_set: ScriptRun) -> None:
    result = result_of(first_set)
    name = result["set"]
    assert SET_RE.match(name) and name.startswith("web-"), first_set
    expected = {"status": "changed", "job": "web", "archive": f"{REPOS}/web/{name}", "removed": [],
                "warnings": []}
    assert subset(result, expected) == expected, first_set
    assert result["files"] == 4, f"a.txt, numbers, owned, hostname (scratch.tmp excluded){first_set!r}"
    assert result["bytes"] > 0 and isinstance(result["duration_seconds"], int), first_set
    assert "changed: install the packages zstd" in first_set.stderr, first_set
    node = lab.server
    assert sets(node, "web") == [name], "one set, no partial folder left"
    assert sorted(node.sh(f"ls {REPOS}/web/{name}").split()) == ["SHA256SUMS", "backup.json", "files.tar.zst"]
    node.sh(f"cd {REPOS}/web/{name} && sha256sum --strict -c SHA256SUMS")
    assert node.sh(f"stat -c '%a %U' {REPOS}/web").strip() == "700 root"
    members = node.sh(f"zstd -dc {REPOS}/web/{name}/files.tar.zst | tar -t").split()
    assert "srv/data/sub/numbers" in members and "etc/hostname" in members, members
    assert not [m for m in members if m.endswith(".tmp")], members


def test_backup_json_describes_the_set(lab: Lab, first_set: ScriptRun) -> None:
    name = result_of(first_set)["set"]
    meta = json.loads(lab.server.read(f"{REPOS}/web/{name}/backup.json"))
    expected = {"job": "web", "name": name, "status": "ok", "warnings": [], "files": 4, "version": 1,
                "sources": [DATA, "/etc/hostname"], "excludes": ["*.tmp"], "compression": "zstd",
                "encryption": "none", "databases": {"mysql": [], "postgres": []}}
    assert subset(meta, expected) == expected
    assert meta["started"] <= meta["finished"] and meta["host"], meta


def test_a_second_run_makes_a_new_point_in_time_and_keeps_the_first(lab: Lab, first_set: ScriptRun) -> None:
    run = lab.backup("--job", "web", "--source", DATA, "--source", "/etc/hostname", "--exclude", "*.tmp",
                     "--keep-last", "2", "--keep-daily", "0", "--keep-weekly", "0", "--keep-monthly", "0")
    assert run.exit == 0, run
    second = result_of(run)["set"]
    assert complete_sets(lab.server, "web") == sorted([result_of(first_set)["set"], second]), run
    assert "install the packages" not in run.stderr, f"zstd was installed again{run!r}"


# ==================================================================================================
# 3. list, status and check


def test_list_shows_the_complete_sets_newest_first_and_never_a_partial(lab: Lab) -> None:
    node = lab.server
    node.sh(f"mkdir {REPOS}/web/.web-{stamp(0.01)}.partial")      # a run in progress, or a dead one
    run = lab.backup("list", "--job", "web", "--json")
    assert run.exit == 0, run
    listed = [entry["name"] for entry in result_of(run)["sets"]]
    assert listed == sorted(complete_sets(node, "web"), reverse=True) and len(listed) == 2, run
    assert all(entry["status"] == "ok" and entry["bytes"] > 0 for entry in result_of(run)["sets"]), run
    table = lab.backup("list", "--job", "web")
    assert table.exit == 0 and table.stdout.splitlines()[1].startswith(listed[0]), table
    assert ".partial" not in table.stdout, table
    through_restore = lab.restore("--job", "web", "--list")
    assert through_restore.exit == 0 and through_restore.stdout == table.stdout, through_restore


def test_status_reports_the_last_good_set_and_its_age(lab: Lab) -> None:
    run = lab.backup("status", "--job", "web")
    assert run.exit == 0, run
    result = result_of(run)
    newest = max(complete_sets(lab.server, "web"))
    expected = {"status": "ok", "changed": 0, "job": "web", "dest": REPOS, "last_good": newest, "sets": 2}
    assert subset(result, expected) == expected, run
    assert 0 <= result["age_seconds"] < 600 and result["last_good_time"].endswith("Z"), run


CHECK_CASES = [  # (hours since the newest set, or None for no set at all; exit; state)
    pytest.param(1, 0, "OK", id="fresh-ok"),
    pytest.param(30, 1, "WARNING", id="30h-warning"),
    pytest.param(60, 2, "CRITICAL", id="60h-critical"),
    pytest.param(None, 2, "CRITICAL", id="no-set-critical"),
]


@pytest.mark.parametrize(("hours", "code", "state"), CHECK_CASES)
def test_check_is_a_monitoring_plugin_with_thresholds(lab: Lab, first_set: ScriptRun, hours: float | None,
                                                      code: int, state: str) -> None:
    job = f"aged{hours or 0}"
    node = lab.server
    node.sh(f"mkdir -p -m 0700 {REPOS}/{job}")
    if hours is not None:
        real = result_of(first_set)["set"]
        name = f"{job}-{stamp(hours)}"
        node.sh(f"cp -a {REPOS}/web/{real} {REPOS}/{job}/{name}")
    run = lab.backup("check", "--job", job, "--warning", "24", "--critical", "48")
    assert run.exit == code, run
    lines = run.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"BACKUP {state} - "), f"one plugin line, no JSON{run!r}"
    if hours is not None:
        assert re.search(r"\| age=\d+s;86400;172800;0 size=\d+B sets=1$", lines[0]), run
        assert f"is {int(hours)}h" in lines[0] or f"is {int(hours) - 1}h" in lines[0], run
    else:
        assert "sets=0" in lines[0], run


@pytest.mark.parametrize(("args", "word"), [
    pytest.param(("--job", "nosuchjob"), "no repository", id="no-repository"),
    pytest.param(("--job", "web", "--warning", "x"), "--warning", id="bad-threshold"),
    pytest.param(("--job", "web", "--warning", "50", "--critical", "10"), "more than --critical",
                 id="warning-above-critical"),
])
def test_check_says_unknown_exit_3_when_it_cannot_tell(lab: Lab, args: tuple[str, ...], word: str) -> None:
    if "--warning" not in args:
        args = (*args, "--warning", "24", "--critical", "48")
    run = lab.backup("check", *args)
    assert run.exit == 3, run
    assert run.stdout.startswith("BACKUP UNKNOWN - ") and len(run.stdout.splitlines()) == 1, run
    assert word in run.stdout + run.stderr, run


def test_a_file_changing_while_read_gives_a_complete_set_with_a_warning_and_exit_1(lab: Lab) -> None:
    node = lab.server
    # A log that grows all the time: tar sees its size change while it reads it.
    node.sh("mkdir -p /srv/live && head -c 20M /dev/urandom > /srv/live/growing.log")
    writer = node.sh("(while :; do head -c 64k /dev/urandom >> /srv/live/growing.log; done) "
                     ">/dev/null 2>&1 & echo $!").strip()
    try:
        run = lab.backup("--job", "warn", "--source", "/srv/live")
    finally:
        node.sh(f"kill {writer}; rm -rf /srv/live")
    assert run.exit == 1, run
    result = result_of(run)
    assert result["status"] == "changed" and "file changed as we read it" in " ".join(result["warnings"]), run
    name = result["set"]
    assert complete_sets(node, "warn") == [name], "the set is kept: it is complete"
    meta = json.loads(node.read(f"{REPOS}/warn/{name}/backup.json"))
    assert meta["status"] == "warning" and meta["warnings"] == result["warnings"], meta


# ==================================================================================================
# 4. Retention: what the planner says goes, never the newest


def test_retention_removes_what_the_planner_plans_and_keeps_the_newest(lab: Lab, first_set: ScriptRun
                                                                       ) -> None:
    node = lab.server
    real = result_of(first_set)["set"]
    node.sh(f"mkdir -p -m 0700 {REPOS}/ret")
    old = [fake_old_set_into(node, "ret", real, hours) for hours in (30, 54, 78, 24 * 8, 24 * 20, 24 * 40)]
    policy = ("--keep-last", "1", "--keep-daily", "2", "--keep-weekly", "2", "--keep-monthly", "0")
    run = lab.backup("--job", "ret", "--source", "/etc/hostname", *policy)
    assert run.exit == 0, run
    new = result_of(run)["set"]
    names = "\n".join(sorted([*old, new], reverse=True)) + "\n"
    plan = node.exec("python3", PLANNER, *policy, stdin=names.encode()).stdout.decode()
    planned = sorted(line.split()[1] for line in plan.splitlines() if line.startswith("remove "))
    assert planned, f"the policy should remove some of {old}: {plan}"
    assert sorted(result_of(run)["removed"]) == planned, run
    assert complete_sets(node, "ret") == sorted(set([*old, new]) - set(planned)), run
    assert new in complete_sets(node, "ret")


def fake_old_set_into(node: Node, job: str, real: str, hours_ago: float) -> str:
    """A copy of the web set ``real`` in the job's repository, under the name it would have had
    ``hours_ago``."""
    name = f"{job}-{stamp(hours_ago)}"
    node.sh(f"cp -a {REPOS}/web/{real} {REPOS}/{job}/{name}")
    return name


# ==================================================================================================
# 5. The lock, and runs killed halfway


def test_a_second_run_while_one_holds_the_lock_exits_3_and_changes_nothing(lab: Lab) -> None:
    before = complete_sets(lab.server, "web")
    # flock holds the job's lock while the run tries to take it.
    proc = lab.server.exec("flock", "/run/lock/tssr-kit-backup-web.lock", "bash", BACKUP, "--job", "web",
                           "--source", DATA)
    held = ScriptRun(proc.returncode, proc.stdout.decode(), proc.stderr.decode(), ("flock", "…", "backup.sh"))
    lab.runs.append(held)
    assert held.exit == 3, held
    assert "another backup run holds" in held.stderr and result_of(held)["status"] == "failed", held
    assert complete_sets(lab.server, "web") == before


BIG = "/srv/big"
# Starts backup.sh ($0, args "$@") in the background: its pid in kill.pid (exec keeps it), its exit
# status in kill.rc.
KILL_RUN = """(bash -c 'echo $$ > /root/kill.pid; exec bash "$0" "$@"' "$0" "$@" \
   > /root/kill.out 2> /root/kill.err; echo $? > /root/kill.rc) < /dev/null > /dev/null 2>&1 &"""


@pytest.fixture(scope="module")
def big_job(lab: Lab) -> Lab:
    """/srv/big: 160 MB that does not compress (gzip takes seconds), and one complete older set."""
    node = lab.server
    node.sh(f"mkdir -p {BIG} && head -c 160M /dev/urandom > {BIG}/random.bin")
    run = lab.backup("--job", "big", "--source", "/etc/hostname")
    assert run.exit == 0, run
    return lab


def start_killable(lab: Lab) -> str:
    node = lab.server
    node.sh("rm -f /root/kill.pid /root/kill.rc")
    node.exec("sh", "-c", KILL_RUN, BACKUP, "--job", "big", "--source", BIG, "--compress", "gzip")
    wait_until(lambda: node.exists("/root/kill.pid"), 10, "the run starting", POLL)
    pid = node.read("/root/kill.pid").strip()
    # Killed in the middle: the archive is being written.
    growing = f"find {REPOS}/big -path '*.partial/files.tar.gz' -size +2M"
    wait_until(lambda: node.sh(growing).strip() != "", 60, "the archive growing in the partial folder", POLL)
    return pid


def lock_is_free(node: Node, job: str) -> bool:
    return node.exec("flock", "-n", f"/run/lock/tssr-kit-backup-{job}.lock", "true").returncode == 0


def test_sigterm_mid_run_exits_4_removes_the_partial_and_frees_the_lock(big_job: Lab) -> None:
    lab, node = big_job, big_job.server
    older = complete_sets(node, "big")
    pid = start_killable(lab)
    node.sh(f"kill -TERM {pid}")
    wait_until(lambda: node.exists("/root/kill.rc"), 30, "the killed run ending", POLL)
    err = node.read("/root/kill.err")
    assert node.read("/root/kill.rc").strip() == "4", err
    assert "interrupted" in err, err
    assert sets(node, "big") == older, "a partial or a new set was left"
    assert lock_is_free(node, "big")
    assert node.exec("pgrep", "-x", "tar").returncode == 1, "tar is still running"
    assert node.exec("pgrep", "-x", "gzip").returncode == 1, "gzip is still running"
    verify = lab.backup("verify", "--job", "big", "--all")
    assert verify.exit == 0, verify


def test_sigkill_mid_run_leaves_no_complete_looking_set_and_the_next_run_sweeps_it(big_job: Lab) -> None:
    lab, node = big_job, big_job.server
    older = complete_sets(node, "big")
    pid = start_killable(lab)
    node.sh(f"kill -KILL {pid}")
    wait_until(lambda: node.exists("/root/kill.rc"), 30, "the killed run ending", POLL)
    # The lock went with the process (its children never had the lock's descriptor).
    wait_until(lambda: lock_is_free(node, "big"), 5, "the lock being freed", POLL)
    left = sets(node, "big")
    assert complete_sets(node, "big") == older, left
    partials = [name for name in left if name.endswith(".partial")]
    assert len(partials) == 1 and partials[0].startswith(".big-"), left
    listed = result_of(lab.backup("list", "--job", "big", "--json"))["sets"]
    assert [entry["name"] for entry in listed] == sorted(older, reverse=True), "the partial is listed"
    # The next run removes the partial folder, even while the orphaned tar | gzip (SIGKILL cannot
    # take them along) still write into it.
    run = lab.backup("--job", "big", "--source", "/etc/hostname", "--keep-last", "10")
    assert run.exit == 0, run
    assert f"remove {REPOS}/big/{partials[0]}" in run.stderr, run
    assert not [name for name in sets(node, "big") if name.endswith(".partial")]
    assert set(older) < set(complete_sets(node, "big"))
    node.sh(f"rm -rf {BIG}")


# ==================================================================================================
# 6. A corrupted set, a full destination


def test_verify_of_a_corrupted_archive_exits_6_naming_the_file(lab: Lab, first_set: ScriptRun) -> None:
    node = lab.server
    node.sh(f"mkdir -p -m 0700 {REPOS}/bad && cp -a {REPOS}/web/{result_of(first_set)['set']} {REPOS}/bad/"
            f"bad-{stamp(1)}")
    name = complete_sets(node, "bad")[0]
    archive = f"{REPOS}/bad/{name}/files.tar.zst"
    node.sh(f"printf 'XXXX' | dd of={archive} bs=1 seek=40 conv=notrunc status=none")
    run = lab.backup("verify", "--job", "bad")
    assert run.exit == 6, run
    assert "files.tar.zst" in result_of(run)["error"] and result_of(run)["corrupt"] == name, run
    # The same damage with SHA256SUMS made to match: the archive itself does not read to its end.
    node.sh(f"cd {REPOS}/bad/{name} && sha256sum files.tar.zst backup.json > SHA256SUMS")
    run = lab.backup("verify", "--job", "bad", "--set", name)
    assert run.exit == 6, run
    assert "files.tar.zst is corrupt" in run.stderr, run


def test_a_full_destination_exits_5_and_keeps_the_older_set(lab: Lab) -> None:
    small = lab.small
    small.sh("mkdir -p /srv/small /srv/big && echo small > /srv/small/a && "
             "head -c 20M /dev/urandom > /srv/big/r")
    first = lab.backup("--job", "full", "--dest", "/backup", "--source", "/srv/small", node=small)
    assert first.exit == 0, first
    files = small.sh("ls /backup/full/*/").split()
    assert files.count("files.tar.gz") == 1, f"gzip, as zstd is not installed here: {files}"
    older = complete_sets(small, "full", "/backup")
    run = lab.backup("--job", "full", "--dest", "/backup", "--source", "/srv/big", node=small)
    assert run.exit == 5, run
    assert result_of(run)["status"] == "failed" and "full" in run.stderr, run
    assert sets(small, "full", "/backup") == older, "the partial set is still there"
    verify = lab.backup("verify", "--job", "full", "--dest", "/backup", node=small)
    assert verify.exit == 0, verify
    assert int(small.sh("df --output=used -k /backup | tail -n 1")) < 1024, "the space was not given back"


# ==================================================================================================
# 7. Restores: files, encryption, databases


def test_restore_refuses_a_non_empty_target_without_in_place(lab: Lab) -> None:
    lab.server.sh("mkdir -p /srv/restore/busy && echo live > /srv/restore/busy/keep")
    run, before, after = lab.unchanged(RESTORE, "--job", "web", "--files", "--target", "/srv/restore/busy")
    assert run.exit == 2, run
    assert "--in-place" in run.stderr and result_of(run, "restore.sh")["status"] == "failed", run
    assert_nothing_changed(before, after, run)
    run, before, after = lab.unchanged(RESTORE, "--job", "web", "--files", "--target", "/")
    assert run.exit == 2 and "--in-place" in run.stderr, run
    assert_nothing_changed(before, after, run)


RESTORE_REFUSED = [
    pytest.param(("--job", "../x", "--files", "--target", "/srv/restore/x"), "--job", id="job-dot-dot"),
    pytest.param(("--job", "web", "--set", "$(touch /tmp/pwned)", "--files", "--target", "/srv/restore/x"),
                 "--set", id="set-command-substitution"),
    pytest.param(("--job", "web", "--files", "--target", "/srv/restore/x", "--path", "../etc"), "--path",
                 id="path-dot-dot"),
    pytest.param(("--job", "web", "--files", "--target", "relative"), "--target", id="relative-target"),
    pytest.param(("--job", "web", "--mysql-db", "shop; DROP"), "--mysql-db", id="db-name-with-semicolon"),
    pytest.param(("--job", "web"), "what to restore", id="nothing-asked"),
]


@pytest.mark.parametrize(("args", "word"), RESTORE_REFUSED)
def test_restore_refuses_bad_input_and_changes_nothing(lab: Lab, args: tuple[str, ...], word: str) -> None:
    run, before, after = lab.unchanged(RESTORE, *args)
    assert run.exit == 2, run
    assert word in run.stderr and result_of(run, "restore.sh")["status"] == "failed", run
    assert_nothing_changed(before, after, run)


def test_restore_dry_run_verifies_plans_and_changes_nothing(lab: Lab) -> None:
    run, before, after = lab.unchanged(RESTORE, "--job", "web", "--files", "--target", "/srv/restore/dry",
                                       "--dry-run")
    assert run.exit == 0, run
    expected = {"status": "changed", "dry_run": True, "restored": "files"}
    assert subset(result_of(run, "restore.sh"), expected) == expected, run
    assert "verified" in run.stderr and "would: restore every file" in run.stderr, run
    assert_nothing_changed(before, after, run)


def test_restore_of_files_gives_back_contents_owners_modes_and_times(lab: Lab, first_set: ScriptRun) -> None:
    node = lab.server
    run = lab.restore("--job", "web", "--files", "--target", "/srv/restore/all")
    assert run.exit == 0, run
    expected = {"status": "changed", "restored": "files", "target": "/srv/restore/all"}
    assert subset(result_of(run, "restore.sh"), expected) == expected, run
    original = tree_sums(node, DATA).splitlines()
    restored = tree_sums(node, f"/srv/restore/all{DATA}").splitlines()
    assert [line for line in original if "scratch.tmp" not in line] == restored
    only = lab.restore("--job", "web", "--files", "--target", "/srv/restore/one", "--path", "etc/hostname")
    assert only.exit == 0, only
    assert node.sh("cd /srv/restore/one && find . -type f").split() == ["./etc/hostname"], only


def test_restore_in_place_puts_a_damaged_file_back_over_live_data(lab: Lab) -> None:
    node = lab.server
    good = node.sh(f"stat -c '%a %U %Y' {DATA}/a.txt; cat {DATA}/a.txt")
    node.sh(f"echo damaged > {DATA}/a.txt && chmod 0600 {DATA}/a.txt")
    run = lab.restore("--job", "web", "--files", "--target", "/", "--in-place", "--path", f"{DATA}/a.txt")
    assert run.exit == 0, run
    assert node.sh(f"stat -c '%a %U %Y' {DATA}/a.txt; cat {DATA}/a.txt") == good


def test_encrypted_round_trip_without_the_passphrase_anywhere(lab: Lab) -> None:
    node = lab.server
    # ps sampled all along the run: the passphrase must never be on a command line.
    node.sh("(while [ ! -e /root/enc.done ]; do ps -eo args >> /root/ps.log; sleep 0.05; done) "
            ">/dev/null 2>&1 &")
    node.sh("mkdir -p /srv/bulk && head -c 16M /dev/urandom > /srv/bulk/random.bin")   # gpg runs a while
    run = lab.backup("--job", "enc", "--source", DATA, "--source", "/srv/bulk", "--encrypt-key", KEY,
                     "--compress", "zstd")
    node.sh("touch /root/enc.done")
    assert run.exit == 0, run
    name = result_of(run)["set"]
    files = sorted(node.sh(f"ls {REPOS}/enc/{name}").split())
    assert files == ["SHA256SUMS", "backup.json", "files.tar.zst.gpg"], files
    assert '"encryption": "gpg-aes256"' in node.read(f"{REPOS}/enc/{name}/backup.json")
    assert node.exec("sh", "-c", f"zstd -dc {REPOS}/enc/{name}/files.tar.zst.gpg").returncode != 0, \
        "the archive is readable without the key"
    verify = lab.backup("verify", "--job", "enc", "--encrypt-key", KEY)
    assert verify.exit == 0, verify
    node.sh("umask 077; printf wrong > /root/wrong.pass")
    wrong = lab.backup("verify", "--job", "enc", "--encrypt-key", "/root/wrong.pass")
    assert wrong.exit == 6 and "files.tar.zst.gpg" in wrong.stderr, wrong
    refused = lab.restore("--job", "enc", "--files", "--target", "/srv/restore/enc-nokey")
    assert refused.exit == 2 and "--encrypt-key" in refused.stderr, refused
    back = lab.restore("--job", "enc", "--files", "--target", "/srv/restore/enc", "--encrypt-key", KEY)
    assert back.exit == 0, back
    assert tree_sums(node, f"/srv/restore/enc{DATA}") == tree_sums(node, DATA)
    ps_log = node.read("/root/ps.log")
    assert "gpg" in ps_log, "the sampler never saw gpg run"
    assert PASSPHRASE not in ps_log, "the passphrase was on a command line"


MARIADB_SETUP = """CREATE DATABASE shop;
USE shop;
CREATE TABLE shop.items (id INT PRIMARY KEY, label VARCHAR(40), note TEXT);
INSERT INTO shop.items SELECT seq, CONCAT('item-', seq), REPEAT('x', seq % 50) FROM seq_1_to_1500;
CREATE TABLE shop.orders (id INT PRIMARY KEY, item INT);
INSERT INTO shop.orders SELECT seq, seq % 1500 + 1 FROM seq_1_to_300;
"""
POSTGRES_SETUP = """CREATE ROLE appowner LOGIN;
CREATE DATABASE appdb OWNER appowner;
\\c appdb
SET ROLE appowner;
CREATE TABLE items (id int PRIMARY KEY, label text);
INSERT INTO items SELECT g, 'item-' || g FROM generate_series(1, 1200) g;
"""


def mariadb(node: Node, sql: str) -> str:
    return node.exec("mariadb", "-N", "-B", "-e", sql).stdout.decode().strip()


def psql(node: Node, db: str, sql: str) -> str:
    return node.exec("runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-d", db, "-c", sql,
                     workdir="/").stdout.decode().strip()


@pytest.fixture(scope="module")
def db_set(lab: Lab) -> str:
    """A set of every MariaDB database and of the PostgreSQL database appdb (job db)."""
    node = lab.server
    proc = node.exec("mariadb", stdin=MARIADB_SETUP.encode())
    assert proc.returncode == 0, proc.stderr
    proc = node.exec("runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                     stdin=POSTGRES_SETUP.encode(), workdir="/")
    assert proc.returncode == 0, proc.stderr
    run = lab.backup("--job", "db", "--mysql", "--postgres-db", "appdb", "--compress", "zstd")
    assert run.exit == 0, run
    return result_of(run)["set"]


def test_database_dumps_are_in_the_set(lab: Lab, db_set: str) -> None:
    files = lab.server.sh(f"cd {REPOS}/db/{db_set} && find . -type f | sort").split()
    assert "./mysql/shop.sql.zst" in files and "./postgres/appdb.dump" in files, files
    assert "./postgres/globals.sql.zst" in files, files
    assert not [f for f in files if "information_schema" in f or "performance_schema" in f], files
    assert "CREATE DATABASE" not in lab.server.sh(f"zstd -dc {REPOS}/db/{db_set}/mysql/shop.sql.zst")


def test_mariadb_restore_into_another_database_has_the_same_rows(lab: Lab, db_set: str) -> None:
    node = lab.server
    run = lab.restore("--job", "db", "--mysql-db", "shop", "--into", "shop_copy")
    assert run.exit == 0, run
    assert result_of(run, "restore.sh")["restored"] == "mysql:shop_copy", run
    # CHECKSUM TABLE prints "name<TAB>checksum": the checksums and the row counts must match.
    sums = ("CHECKSUM TABLE {db}.items, {db}.orders; "
            "SELECT COUNT(*) FROM {db}.items; SELECT COUNT(*) FROM {db}.orders")

    def values(db: str) -> list[str]:
        return [word for word in mariadb(node, sums.format(db=db)).split() if not word.startswith(db)]

    assert values("shop_copy") == values("shop")
    assert mariadb(node, "SELECT COUNT(*) FROM shop_copy.items") == "1500"


def test_mariadb_restore_over_a_database_with_tables_needs_replace(lab: Lab, db_set: str) -> None:
    node = lab.server
    refused = lab.restore("--job", "db", "--mysql-db", "shop", "--into", "shop_copy")
    assert refused.exit == 2 and "--replace" in refused.stderr, refused
    node.sh("mariadb -e 'DELETE FROM shop_copy.items WHERE id > 10'")
    run = lab.restore("--job", "db", "--mysql-db", "shop", "--into", "shop_copy", "--replace")
    assert run.exit == 0, run
    assert mariadb(node, "SELECT COUNT(*) FROM shop_copy.items") == "1500"


def test_postgres_restore_into_another_database_keeps_rows_and_owner(lab: Lab, db_set: str) -> None:
    node = lab.server
    run = lab.restore("--job", "db", "--postgres-db", "appdb", "--into", "appdb_copy")
    assert run.exit == 0, run
    assert psql(node, "appdb_copy", "SELECT COUNT(*), SUM(id) FROM items") == \
        psql(node, "appdb", "SELECT COUNT(*), SUM(id) FROM items") == "1200|720600"
    owner = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'appdb_copy'"
    assert psql(node, "postgres", owner) == "appowner"
    table_owner = "SELECT tableowner FROM pg_tables WHERE tablename = 'items'"
    assert psql(node, "appdb_copy", table_owner) == "appowner"
    refused = lab.restore("--job", "db", "--postgres-db", "appdb", "--into", "appdb_copy")
    assert refused.exit == 2 and "--replace" in refused.stderr, refused


# ==================================================================================================
# 8. A remote destination over ssh (container to container, by name)


@pytest.fixture(scope="module")
def remote_dest(lab: Lab) -> str:
    node, remote = lab.server, lab.remote
    node.sh(f"mkdir -p -m 0700 /root/.ssh && ssh-keygen -q -t ed25519 -N '' -f {SSH_KEY}")
    remote.write("/home/vault/.ssh/authorized_keys", node.read(f"{SSH_KEY}.pub"), "0600")
    remote.sh("chown vault:vault /home/vault/.ssh/authorized_keys")
    return f"ssh://vault@{remote.name}/srv/backups"


def test_a_remote_set_is_copied_renamed_and_checked_over_ssh(lab: Lab, remote_dest: str) -> None:
    run = lab.backup("--job", "far", "--dest", remote_dest, "--ssh-key", SSH_KEY, "--source", DATA)
    assert run.exit == 0, run
    name = result_of(run)["set"]
    assert result_of(run)["archive"] == f"{remote_dest}/far/{name}", run
    assert complete_sets(lab.remote, "far", "/srv/backups") == [name]
    assert sets(lab.remote, "far", "/srv/backups") == [name], "a partial was left on the remote"
    lab.remote.sh(f"cd /srv/backups/far/{name} && sha256sum --strict -c SHA256SUMS")
    assert lab.server.sh("ls -A /var/tmp/tssr-backup/far").strip() == "", "the spool was not emptied"
    listed = lab.backup("list", "--job", "far", "--dest", remote_dest, "--ssh-key", SSH_KEY, "--json")
    assert [entry["name"] for entry in result_of(listed)["sets"]] == [name], listed
    check = lab.backup("check", "--job", "far", "--dest", remote_dest, "--ssh-key", SSH_KEY,
                       "--warning", "24", "--critical", "48")
    assert check.exit == 0 and check.stdout.startswith("BACKUP OK"), check
    verify = lab.backup("verify", "--job", "far", "--dest", remote_dest, "--ssh-key", SSH_KEY)
    assert verify.exit == 0, verify
    back = lab.restore("--job", "far", "--dest", remote_dest, "--ssh-key", SSH_KEY, "--files",
                       "--target", "/srv/restore/far")
    assert back.exit == 0, back
    restored = tree_sums(lab.server, f"/srv/restore/far{DATA}")
    assert restored == tree_sums(lab.server, DATA)


def test_an_unreachable_remote_exits_5(lab: Lab, remote_dest: str) -> None:
    run = lab.backup("--job", "far", "--dest", "ssh://root@tssr-test-no-such-host/srv/backups",
                     "--ssh-key", SSH_KEY, "--source", DATA)
    assert run.exit == 5, run
    assert "cannot reach" in run.stderr, run


# ==================================================================================================
# 9. The timer


TIMER_ARGS = ("--install-timer", "--job", "web", "--source", DATA, "--exclude", "*.tmp",
              "--on-calendar", "*-*-* 03:30", "--keep-last", "5")


def test_install_timer_enables_the_timer_and_a_second_run_changes_nothing(lab: Lab) -> None:
    node = lab.server
    run = lab.backup(*TIMER_ARGS)
    assert run.exit == 0 and result_of(run)["changed"] > 0, run
    assert node.sh("systemctl is-enabled tssr-backup@web.timer; systemctl is-active tssr-backup@web.timer"
                   ).split() == ["enabled", "active"]
    assert node.sh("stat -c '%a %U' /etc/tssr-kit/backup/web.conf").strip() == "600 root"
    assert "source = /srv/data" in node.read("/etc/tssr-kit/backup/web.conf").splitlines()
    assert "03:30" in node.sh("systemctl show -p TimersCalendar tssr-backup@web.timer")
    run, before, after = lab.unchanged(BACKUP, *TIMER_ARGS)
    assert run.exit == 0, run
    assert subset(result_of(run), {"status": "ok", "changed": 0}) == {"status": "ok", "changed": 0}, run
    assert_nothing_changed(before, after, run)


def test_the_timers_service_makes_a_set(lab: Lab) -> None:
    node = lab.server
    before = complete_sets(node, "web")
    time.sleep(1)                                  # a new second: a new set name
    proc = node.exec("systemctl", "start", "tssr-backup@web.service", timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, node.sh("journalctl -u tssr-backup@web.service --no-pager | tail -n 20")
    after = complete_sets(node, "web")
    assert len(after) == len(before) + 1 or (set(after) - set(before)), (before, after)
    assert max(after) > max(before)
    assert node.sh("systemctl show -p Result tssr-backup@web.service").strip() == "Result=success"


def test_remove_timer_disables_it_and_keeps_the_sets(lab: Lab) -> None:
    node = lab.server
    kept = complete_sets(node, "web")
    run = lab.backup("--remove-timer", "--job", "web")
    assert run.exit == 0 and result_of(run)["changed"] >= 2, run
    assert node.exec("systemctl", "is-enabled", "tssr-backup@web.timer").returncode != 0
    assert not node.exists("/etc/tssr-kit/backup/web.conf")
    assert complete_sets(node, "web") == kept
    again = lab.backup("--remove-timer", "--job", "web")
    assert subset(result_of(again), {"status": "ok", "changed": 0}) == {"status": "ok", "changed": 0}, again


# ==================================================================================================
# 10. Last: the passphrase, now that every run can be searched


def test_the_passphrase_is_in_no_output_log_or_journal(lab: Lab) -> None:
    node = lab.server
    assert len([run for run in lab.runs if KEY in run.argv]) >= 2
    for run in lab.runs:
        assert PASSPHRASE not in run.stdout + run.stderr, f"the passphrase was shown{run!r}"
    journal = node.exec("journalctl", "--no-pager", "-o", "verbose").stdout.decode(errors="replace")
    assert "tssr-backup" in journal, "the runs' journal entries are missing"
    assert PASSPHRASE not in journal, "the passphrase is in the journal"
    logs = node.exec("grep", "-rlF", "-e", PASSPHRASE, "/var/log", "/var/backups", "/etc/tssr-kit")
    assert logs.returncode == 1, f"the passphrase is in {logs.stdout.decode(errors='replace')}"
