"""backup.sh and restore.sh run for real in containers, against docs/reference/backup.md.

Per platform (Debian 12, Debian 13, RedHat when ``TSSR_REDHAT_IMAGE`` names an image — otherwise
*skipped, not run: no image*), three containers on a user-defined docker network of their own:

- the *server*: systemd, MariaDB and PostgreSQL (installed once per machine, in the prepared state
  ``backup-server`` it starts from: containerlib.prepared_image), some files in
  ``/srv/data``; taken through the story test by test, in the order of this file: refused input and a
  dry run (nothing changed), a good run (the script installs zstd and gnupg itself), list / status /
  check, retention, the lock, kills mid-run, a corrupted set, encryption, the databases, restores, a
  remote destination, the timer, and last the passphrase searched for everywhere;
- the *remote*: sshd and rsync (prepared state ``backup-remote``), reached from the server by its
  container name (never over the host's bridge), for ``--dest ssh://…``;
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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from containerlib import (
    PLATFORMS,
    SCRIPT_DIR,
    Node,
    Platform,
    ScriptRun,
    State,
    assert_nothing_changed,
    host_state_script,
    kit_copies,
    nodes_on_network,
    parse_snapshot,
    prepared_image,
    require,
    script_result,
    start_plain_node,
    start_systemd_node,
    subset,
    wait_until,
)

from tssrkit.paths import SCRIPTS

pytestmark = [pytest.mark.containers, pytest.mark.slow]

COPIES = kit_copies("scripts/bash/backup", "scripts/bash/lib", "scripts/python/backup_retention.py")
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

# The server's packages (the script installs zstd, gnupg and rsync itself): not what these tests test,
# so the server starts from a prepared state where they are installed (built once per machine), as the
# remote does with rsync.
SERVER_STATE = State("backup-server", {"debian": ("mariadb-server", "postgresql"),
                                       "redhat": ("mariadb-server", "postgresql-server")})
REMOTE_STATE = State("backup-remote", {"debian": ("rsync",), "redhat": ("rsync",)})

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

# What a payload would leave: a file named *pwned* or *planted* (the database servers' own folders
# aside: they hold the hostile names' databases, encoded).
TRACES = ("find /tmp /root /etc /srv /var -xdev \\( -path /var/lib/mysql -o -path /var/lib/postgresql \\) "
          "-prune -o \\( -name '*pwned*' -o -name '*planted*' \\) -print 2>/dev/null")
# "Nothing changed": these are the same before and after a run that must change nothing: the
# repositories, the job's files, the spool and the restore folders; the modes of the folders an
# attack would chmod; anything a payload would create (pwned, planted); the databases and roles of
# both servers (names as hex: a name may hold a newline), and which roles are superusers.
SNAPSHOT = host_state_script((  # noqa: S608 (fixed test SQL, no value in it)
    "/var/backups", "/etc/tssr-kit", "/usr/local/lib/tssr-kit", "/var/spool/tssr-kit", "/var/tmp/tssr-backup",
    "/srv/restore", "/srv/nas", "/etc/systemd/system/tssr-backup@.service",
    "/etc/systemd/system/tssr-backup@.timer")) + r"""
printf '=== units\n'
systemctl list-unit-files --no-legend 'tssr-backup*' 2>/dev/null | awk '{print $1, $2}'
printf '=== modes\n'
stat -c '%a %U:%G %n' / /etc /etc/ssh /var /var/tmp /var/spool /srv /root /tmp 2>/dev/null
printf '=== databases\n'
mariadb -N -B -e 'SELECT HEX(SCHEMA_NAME) FROM information_schema.SCHEMATA ORDER BY 1' 2>/dev/null
(cd / && runuser -u postgres -- psql -X -A -t \
  -c "SELECT encode(convert_to(datname, 'UTF8'), 'hex') FROM pg_database ORDER BY 1" \
  -c "SELECT encode(convert_to(rolname, 'UTF8'), 'hex'), rolsuper FROM pg_roles ORDER BY 1") 2>/dev/null
printf '=== pwned\n'
""" + TRACES + "\ntrue\n"


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

    def unchanged_anew(self, script: str, *args: str) -> tuple[ScriptRun, dict[str, str], dict[str, str]]:
        """``unchanged``, with a fresh first snapshot: the test prepared the host since the last run."""
        self.known = None
        return self.unchanged(script, *args)

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
    """The server (from SERVER_STATE): its databases started, the files to back up."""
    if family == "redhat":
        node.sh("postgresql-setup --initdb >/dev/null")
    node.sh("systemctl enable --now mariadb postgresql >/dev/null 2>&1 || systemctl start mariadb postgresql")
    node.sh(MAKE_DATA)


def prepare_remote(node: Node, family: str) -> None:
    """The remote (from REMOTE_STATE): sshd with host keys of its own, the backups' user."""
    # The lab's sshd refuses root (PermitRootLogin no): the backups go to a user of their own.
    node.sh("ssh-keygen -A >/dev/null && useradd --create-home --shell /bin/sh vault && "
            "install -d -o vault -g vault -m 0700 /srv/backups /home/vault/.ssh && "
            "(systemctl restart ssh 2>/dev/null || systemctl restart sshd)")


@pytest.fixture(scope="module", params=PLATFORM_PARAMS)
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """The server from the prepared state SERVER_STATE (MariaDB and PostgreSQL installed), the remote
    from REMOTE_STATE (rsync installed), the small disk from the fresh node image; each state is built
    once per machine (kept between runs), before the three start."""
    platform: Platform = request.param
    platform.image()
    require(*COPIES.values(), *(SCRIPTS / "bash" / "backup" / name for name in ("backup.sh", "restore.sh")))
    start = time.monotonic()
    family = platform.family
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda state: prepared_image(platform, state), (SERVER_STATE, REMOTE_STATE)))
        states_ready = time.monotonic() - start
        with nodes_on_network(
            lambda net: start_systemd_node(platform, COPIES, "tssr-test-backup", network=net,
                                           prepare=lambda node: prepare_server(node, family),
                                           state=SERVER_STATE),
            lambda net: start_systemd_node(platform, {}, "tssr-test-backup-remote", network=net,
                                           prepare=lambda node: prepare_remote(node, family),
                                           state=REMOTE_STATE),
            lambda net: start_small_disk(platform, net),
        ) as (_, (server, remote, small)):
            ready = time.monotonic() - start
            print(f"\n{platform.name}: the three containers were ready after {ready:.0f} s "
                  f"(the prepared states after {states_ready:.0f} s)")
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
    ("host-key-not-a-key", ("--job", "web", "--source", DATA, "--dest", "ssh://h/x", "--host-key", "$(id)"),
     ("--host-key", "not a public key line")),
    ("host-key-with-a-local-dest", ("--job", "web", "--source", DATA, "--host-key", "ssh-ed25519 AAAA"),
     ("--host-key", "only for a remote")),
    ("known-hosts-not-roots", ("--job", "web", "--source", DATA, "--dest", "ssh://h/x", "--known-hosts",
                               "/root/known-0666"), ("--known-hosts", "writable by root only")),
    ("mysql-db-with-a-newline", ("--job", "web", "--mysql-db", "shop\nsource = /"), ("--mysql-db",)),
]


@pytest.fixture(scope="module")
def bad_inputs(lab: Lab) -> Lab:
    lab.server.write("/root/key-0644", PASSPHRASE, "0644")
    lab.server.write("/root/known-0666", "h ssh-ed25519 AAAA\n", "0666")
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
    expected = {"job": "web", "name": name, "status": "ok", "warnings": [], "files": 4, "version": 2,
                "sources": [DATA, "/etc/hostname"], "excludes": ["*.tmp"], "compression": "zstd",
                "encryption": "none", "authentication": "none", "databases": {"mysql": [], "postgres": []},
                "dumps": []}
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
    proc = lab.server.exec("flock", "/run/tssr-kit/backup-web.lock", "bash", BACKUP, "--job", "web",
                           "--source", DATA)
    held = ScriptRun(proc.returncode, proc.stdout.decode(), proc.stderr.decode(), ("flock", "…", "backup.sh"))
    lab.runs.append(held)
    assert held.exit == 3, held
    assert "another backup run holds" in held.stderr and result_of(held)["status"] == "failed", held
    assert complete_sets(lab.server, "web") == before


def test_a_lock_a_local_user_holds_in_the_shared_lock_folder_stops_no_run(lab: Lab) -> None:
    # /run/lock is open to everyone: a user could create the kit's lock there first and hold it, and no
    # backup would ever start (exit 3). The kit's locks live in /run/tssr-kit, root's alone.
    node = lab.server
    node.sh("id lockholder >/dev/null 2>&1 || useradd --no-create-home lockholder")
    node.sh("setsid runuser -u lockholder -- flock /run/lock/tssr-kit-backup-web.lock sleep 300 "
            "</dev/null >/dev/null 2>&1 & sleep 0.5")
    try:
        run = lab.backup("--dry-run", "--job", "web", "--source", DATA)
        assert run.exit == 0, run
    finally:
        node.sh("pkill -u lockholder || true")


def test_a_lock_folder_someone_else_owns_stops_the_run_with_nothing_changed(lab: Lab) -> None:
    node = lab.server
    node.sh("id lockholder >/dev/null 2>&1 || useradd --no-create-home lockholder")
    node.sh("mkdir -p /run/tssr-kit && chown lockholder /run/tssr-kit")
    try:
        before = complete_sets(node, "web")
        run = lab.backup("--job", "web", "--source", DATA)
        assert run.exit == 1, run
        assert "/run/tssr-kit is not a folder only root can write" in run.stderr, run
        assert complete_sets(node, "web") == before
    finally:
        node.sh("chown root:root /run/tssr-kit")


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
    return node.exec("flock", "-n", f"/run/tssr-kit/backup-{job}.lock", "true").returncode == 0


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
    # A name with a semicolon is a name: looked up in the set's backup.json, where it is not.
    pytest.param(("--job", "web", "--mysql-db", "shop; DROP"), "--mysql-db", id="db-name-not-in-the-set"),
    pytest.param(("--job", "web"), "what to restore", id="nothing-asked"),
    pytest.param(("--job", "web", "--mysql-db", "shop", "--keep-setuid"), "--keep-setuid",
                 id="keep-setuid-without-files"),
    pytest.param(("--job", "web", "--postgres-globals", "--into", "x"), "--into", id="globals-with-into"),
    pytest.param(("--job", "web", "--files", "--target", "/srv/restore/x", "--host-key", "ssh-ed25519 AAAA"),
                 "only for a remote", id="host-key-with-a-local-dest"),
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
    assert files == ["MANIFEST.gpg", "SHA256SUMS", "backup.json", "files.tar.zst.gpg"], files
    meta = json.loads(node.read(f"{REPOS}/enc/{name}/backup.json"))
    assert (meta["encryption"], meta["authentication"]) == ("gpg-aes256", "gpg-manifest"), meta
    assert node.exec("sh", "-c", f"zstd -dc {REPOS}/enc/{name}/files.tar.zst.gpg").returncode != 0, \
        "the archive is readable without the key"
    verify = lab.backup("verify", "--job", "enc", "--encrypt-key", KEY)
    assert verify.exit == 0 and result_of(verify)["authenticated"] == [name], verify
    node.sh("umask 077; printf wrong > /root/wrong.pass")
    wrong = lab.backup("verify", "--job", "enc", "--encrypt-key", "/root/wrong.pass")
    assert wrong.exit == 6 and "MANIFEST.gpg does not decrypt with this key" in wrong.stderr, wrong
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


@pytest.fixture(scope="module")
def remote_key(lab: Lab, remote_dest: str) -> str:
    """The remote's ed25519 host key, "TYPE BASE64", read on the remote itself (as an operator would
    read it from the server's console): what --host-key pins."""
    return " ".join(lab.remote.read("/etc/ssh/ssh_host_ed25519_key.pub").split()[:2])


def test_a_remote_set_is_copied_renamed_and_checked_over_ssh(lab: Lab, remote_dest: str, remote_key: str
                                                             ) -> None:
    far = ("--dest", remote_dest, "--ssh-key", SSH_KEY, "--host-key", remote_key)
    run = lab.backup("--job", "far", *far, "--source", DATA)
    assert run.exit == 0, run
    name = result_of(run)["set"]
    assert result_of(run)["archive"] == f"{remote_dest}/far/{name}", run
    assert complete_sets(lab.remote, "far", "/srv/backups") == [name]
    assert sets(lab.remote, "far", "/srv/backups") == [name], "a partial was left on the remote"
    lab.remote.sh(f"cd /srv/backups/far/{name} && sha256sum --strict -c SHA256SUMS")
    assert lab.server.sh("stat -c '%a %U' /var/spool/tssr-kit").strip() == "700 root"
    assert lab.server.sh("ls -A /var/spool/tssr-kit").strip() == "", "the spool was not emptied"
    assert not lab.server.exists("/root/.ssh/known_hosts"), "a host key was recorded on the way"
    listed = lab.backup("list", "--job", "far", *far, "--json")
    assert [entry["name"] for entry in result_of(listed)["sets"]] == [name], listed
    check = lab.backup("check", "--job", "far", *far, "--warning", "24", "--critical", "48")
    assert check.exit == 0 and check.stdout.startswith("BACKUP OK"), check
    verify = lab.backup("verify", "--job", "far", *far)
    assert verify.exit == 0, verify
    # Without a key nothing authenticates a set the remote holds: restored only when told to trust it.
    back = lab.restore("--job", "far", *far, "--allow-unauthenticated", "--files",
                       "--target", "/srv/restore/far")
    assert back.exit == 0, back
    assert "not authenticated" in back.stderr, back
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
# 11. Names read from a server are data: never SQL, a path or a command


# Names a database's owner can give it (a database user, not the operator). Each must be dumped into
# the set under a safe file name, listed in backup.json, and restored by its name, with nothing run.
PG_NAMES = {
    "sql-quote-superuser": "x'; ALTER ROLE app SUPERUSER; --",
    "double-quote": 'q"; ALTER ROLE app SUPERUSER; --',
    "dot-dot-path": "../../../../../../tmp/planted",
    "leading-dash": "-x",
    "an-option": "--help",
    "newline-client-command": "a\n\\! touch /tmp/pwned\nb",
    "conninfo": "host=tssr-test-no-such-host dbname=postgres",
    "uri": "postgresql://tssr-test-no-such-host/x",
    "shell": "$(touch /tmp/pwned)",
    "unicode-space": "é日本 sp",
    "tab-backslash": "t\tb\\s",
}
MYSQL_NAMES = {
    "backtick": "a`; DROP DATABASE shop; --x",
    "sql-quote-grant": "x'; GRANT ALL ON *.* TO 'app'@'localhost'; --",
    "dot-dot-path": "../../../../../../tmp/planted",
    "slash": "a/b",
    "leading-dash": "-x",
    "an-option": "--help",
    "newline-client-command": "n\n\\! touch /tmp/pwned\nx",
    "shell": "$(touch /tmp/pwned)",
    "unicode": "é日本",
    "backslash-quote": "b\\'s",
}
NAMES_JOB = "names"

# A database of any name, with a table `marker` holding the name's hex: created from the hex on the
# server (MariaDB) or from psql variables (PostgreSQL), so that the test itself never quotes a name.
MYSQL_CREATE = """SET @n = CONVERT(UNHEX('{hex}') USING utf8mb4);
SET @q = CONCAT('CREATE DATABASE `', REPLACE(@n, '`', '``'), '`'); PREPARE s FROM @q; EXECUTE s;
SET @q = CONCAT('CREATE TABLE `', REPLACE(@n, '`', '``'), '`.marker (v VARCHAR(300))');
PREPARE s FROM @q; EXECUTE s;
SET @q = CONCAT('INSERT INTO `', REPLACE(@n, '`', '``'), '`.marker VALUES (''{hex}'')');
PREPARE s FROM @q; EXECUTE s;
"""
MYSQL_MARKER = """SET @n = CONVERT(UNHEX('{hex}') USING utf8mb4);
SET @q = CONCAT('SELECT v FROM `', REPLACE(@n, '`', '``'), '`.marker'); PREPARE s FROM @q; EXECUTE s;
"""
MYSQL_DROP = """SET @n = CONVERT(UNHEX('{hex}') USING utf8mb4);
SET @q = CONCAT('DROP DATABASE `', REPLACE(@n, '`', '``'), '`'); PREPARE s FROM @q; EXECUTE s;
"""


def hexname(name: str) -> str:
    return name.encode().hex()


def conninfo(name: str) -> str:
    return "dbname='" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pg_as_postgres(node: Node, sql: str, *variables: str, db: str = "postgres"
                   ) -> subprocess.CompletedProcess[bytes]:
    """psql as postgres, the SQL on stdin, each variable ``name=value`` given with -v (no quoting here)."""
    argv = ["runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]
    for variable in variables:
        argv += ["-v", variable]
    return node.exec(*argv, "-d", conninfo(db), stdin=sql.encode(), workdir="/")


def app_is_superuser(node: Node) -> str:
    return psql(node, "postgres", "SELECT rolsuper FROM pg_roles WHERE rolname = 'app'")


@pytest.fixture(scope="module")
def names_set(lab: Lab, db_set: str) -> ScriptRun:
    """Databases with hostile names on both servers (PostgreSQL ones owned by the ordinary role app),
    then one run of ``backup.sh --mysql --postgres``, between two snapshots."""
    node = lab.server
    proc = pg_as_postgres(node, "CREATE ROLE app LOGIN NOSUPERUSER;")
    assert proc.returncode == 0, proc.stderr
    for name in PG_NAMES.values():
        proc = pg_as_postgres(node, 'CREATE DATABASE :"n" OWNER app;', f"n={name}")
        assert proc.returncode == 0, (name, proc.stderr)
        proc = pg_as_postgres(node, "CREATE TABLE marker (v text); INSERT INTO marker VALUES (:'h');",
                              f"h={hexname(name)}", db=name)
        assert proc.returncode == 0, (name, proc.stderr)
    for name in MYSQL_NAMES.values():
        proc = node.exec("mariadb", stdin=MYSQL_CREATE.format(hex=hexname(name)).encode())
        assert proc.returncode == 0, (name, proc.stderr)
    lab.known = None
    before = snapshot(node)
    run = lab.backup("--job", NAMES_JOB, "--mysql", "--postgres", "--compress", "zstd", "--keep-last", "5")
    run.before, run.after = before, snapshot(node)      # type: ignore[attr-defined]
    return run


def test_every_database_whatever_its_name_is_dumped_and_nothing_runs_or_lands_outside_the_set(
        lab: Lab, names_set: ScriptRun) -> None:
    node, run = lab.server, names_set
    assert run.exit == 0, run
    assert app_is_superuser(node) == "f", "a database's name made the role app a superuser"
    name = result_of(run)["set"]
    before, after = run.before, run.after            # type: ignore[attr-defined]
    # Nothing changed but the repository (the new set): no role, no database, no mode, nothing planted.
    assert_nothing_changed({k: v for k, v in before.items() if "/var/backups" not in k},
                           {k: v for k, v in after.items() if "/var/backups" not in k}, run)
    new_lines = set(after["tree /var/backups"].splitlines()) - set(before["tree /var/backups"].splitlines())
    outside = [line for line in new_lines if f"{REPOS}/{NAMES_JOB}/" not in line and
               not line.endswith(f"{REPOS}/{NAMES_JOB} -> ")]
    assert not outside, f"written outside the set: {outside}"
    files = node.sh(f"cd {REPOS}/{NAMES_JOB}/{name} && find . -type f -printf '%P\\n' | sort").split("\n")
    plain = re.compile(r"^(mysql/(@\d+|[A-Za-z0-9_][A-Za-z0-9_$-]*)\.sql\.zst|postgres/(@\d+|[A-Za-z0-9_]"
                       r"[A-Za-z0-9_$-]*)\.dump|postgres/globals\.sql\.zst|backup\.json|SHA256SUMS)$")
    assert all(plain.match(f) for f in files if f), files
    meta = json.loads(node.read(f"{REPOS}/{NAMES_JOB}/{name}/backup.json"))
    assert set(PG_NAMES.values()) <= set(meta["databases"]["postgres"]), meta["databases"]
    assert set(MYSQL_NAMES.values()) <= set(meta["databases"]["mysql"]), meta["databases"]
    assert meta["postgres_owners"][PG_NAMES["sql-quote-superuser"]] == "app", meta["postgres_owners"]
    mapped = {(d["kind"], bytes.fromhex(d["name_hex"]).decode()): d["file"] for d in meta["dumps"]}
    for kind, names in (("postgres", PG_NAMES), ("mysql", MYSQL_NAMES)):
        for db in names.values():
            assert mapped[(kind, db)] in files, (kind, db, mapped)
    verify = lab.backup("verify", "--job", NAMES_JOB)
    assert verify.exit == 0, verify


@pytest.mark.parametrize("case", list(PG_NAMES))
def test_a_postgres_database_of_any_name_is_restored_by_its_name(lab: Lab, names_set: ScriptRun, case: str
                                                                 ) -> None:
    node, db = lab.server, PG_NAMES[case]
    assert pg_as_postgres(node, 'DROP DATABASE :"n";', f"n={db}").returncode == 0
    run = lab.restore("--job", NAMES_JOB, "--postgres-db", db)
    assert run.exit == 0, run
    assert result_of(run, "restore.sh")["restored"] == f"postgres:{db}", run
    marker = pg_as_postgres(node, "SELECT v FROM marker", db=db)
    assert marker.stdout.decode().strip() == hexname(db), marker.stderr
    owner = pg_as_postgres(node, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :'n'",
                           f"n={db}")
    assert owner.stdout.decode().strip() == "app"
    assert app_is_superuser(node) == "f"
    assert not node.sh(TRACES).strip(), "a payload left a trace"


@pytest.mark.parametrize("case", list(MYSQL_NAMES))
def test_a_mariadb_database_of_any_name_is_restored_by_its_name(lab: Lab, names_set: ScriptRun, case: str
                                                                ) -> None:
    node, db = lab.server, MYSQL_NAMES[case]
    assert node.exec("mariadb", stdin=MYSQL_DROP.format(hex=hexname(db)).encode()).returncode == 0
    run = lab.restore("--job", NAMES_JOB, "--mysql-db", db)
    assert run.exit == 0, run
    assert result_of(run, "restore.sh")["restored"] == f"mysql:{db}", run
    marker = node.exec("mariadb", "-N", "-B", stdin=MYSQL_MARKER.format(hex=hexname(db)).encode())
    assert marker.stdout.decode().strip() == hexname(db), marker.stderr
    assert mariadb(node, "SELECT COUNT(*) FROM shop.items") == "1500", "another database was touched"
    grants = mariadb(node, "SELECT COUNT(*) FROM mysql.global_priv WHERE User = 'app'")
    assert grants == "0", "a database's name granted something"
    assert not node.sh(TRACES).strip(), "a payload left a trace"


# ==================================================================================================
# 12. A set is untrusted until authenticated: the storage's holder cannot swap what it holds


# What whoever holds the storage can do to a set (sums), and what only the passphrase's holder can
# (seal: SHA256SUMS and MANIFEST.gpg as backup.sh writes them; encrypt).
TAMPER = r"""#!/bin/bash
set -euo pipefail
export LC_ALL=C
gpgh() {
  mkdir -p -m 0700 /root/.tamper-gnupg
  gpg --batch --yes --quiet --homedir /root/.tamper-gnupg --pinentry-mode loopback --no-symkey-cache "$@"
}
command="$1"
shift
case "${command}" in
  sums)
    cd "$1"
    find . -type f ! -path ./SHA256SUMS ! -path ./MANIFEST.gpg -printf '%P\n' | sort \
      | xargs -r -d '\n' sha256sum > SHA256SUMS ;;
  seal)
    "$0" sums "$1"
    cd "$1"
    { printf 'tssr-kit backup manifest 2\nset %s\n' "${PWD##*/}"; cat SHA256SUMS; } \
      | gpgh --passphrase-file "$2" --symmetric --cipher-algo AES256 --output MANIFEST.gpg ;;
  encrypt)
    gpgh --passphrase-file "$2" --symmetric --cipher-algo AES256 --compress-algo none --output "$1.gpg" "$1"
    rm -f -- "$1" ;;
  copy)
    mkdir -p -m 0700 "$(dirname "$2")"
    rm -rf -- "$2"
    cp -a -- "$1" "$2" ;;
esac
"""
TAMPER_SH = "/root/tamper.sh"


@pytest.fixture(scope="module")
def sealed(lab: Lab, db_set: str) -> tuple[str, str]:
    """Two encrypted, authenticated sets of the job sealed (files, shop, appdb): the older and newer."""
    lab.server.write(TAMPER_SH, TAMPER, "0700")
    made = []
    for _ in range(2):
        run = lab.backup("--job", "sealed", "--source", DATA, "--mysql-db", "shop", "--postgres-db", "appdb",
                         "--encrypt-key", KEY, "--keep-last", "9")
        assert run.exit == 0, run
        made.append(result_of(run)["set"])
        time.sleep(1)
    return made[0], made[1]


def sealed_copy(lab: Lab, sealed: tuple[str, str], job: str, hours: float = 1) -> str:
    """The older sealed set, copied as a set of ``job`` and sealed again under its new name (as the
    passphrase's holder would make it): a good set the tests then tamper with. Returns its folder."""
    folder = f"{REPOS}/{job}/{job}-{stamp(hours)}"
    lab.server.sh(f"{TAMPER_SH} copy {REPOS}/sealed/{sealed[0]} {folder} && {TAMPER_SH} seal {folder} {KEY}")
    return folder


# Each: what the storage's holder does to a good encrypted set ({set}: its folder, {other}: the newer
# sealed set), and what the refusal says.
TAMPERING = {
    "plain-archive-swapped-in": ("rm {set}/files.tar.zst.gpg && tar -C / -cf - etc/hostname | zstd -q > "
                                 "{set}/files.tar.zst && " + TAMPER_SH + " sums {set}", "MANIFEST.gpg"),
    "plain-manifest": (TAMPER_SH + " sums {set} && { printf 'tssr-kit backup manifest 2\\nset %s\\n' "
                       "\"$(basename {set})\"; cat {set}/SHA256SUMS; } | gpg --batch --yes --homedir "
                       "/root/.tamper-gnupg --store --output {set}/MANIFEST.gpg", "does not decrypt"),
    "manifest-removed": ("rm {set}/MANIFEST.gpg", "not authenticated"),
    "manifest-of-another-set": ("cp {other}/MANIFEST.gpg {set}/MANIFEST.gpg", "MANIFEST.gpg"),
    "file-of-another-set": ("cp {other}/mysql/shop.sql.zst.gpg {set}/mysql/shop.sql.zst.gpg && "
                            + TAMPER_SH + " sums {set}", "MANIFEST.gpg authenticates"),
    "file-added": ("cp {set}/postgres/appdb.dump.gpg {set}/postgres/extra.dump.gpg && "
                   + TAMPER_SH + " sums {set}", "MANIFEST.gpg authenticates"),
    "file-added-not-listed": ("echo x > {set}/postgres/extra.dump", "not in SHA256SUMS"),
    "file-removed": ("rm {set}/postgres/globals.sql.zst.gpg && " + TAMPER_SH + " sums {set}",
                     "MANIFEST.gpg authenticates"),
    "backup-json-edited": ("sed -i 's/\"status\": \"ok\"/\"status\": \"warning\"/' {set}/backup.json && "
                           + TAMPER_SH + " sums {set}", "MANIFEST.gpg authenticates"),
    "set-renamed": ("cp -a {other}/. {set}/", "MANIFEST.gpg authenticates"),
    "whole-plain-set": ("rm -rf {set} && mkdir {set} && tar -C / -cf - etc/hostname | zstd -q > "
                        "{set}/files.tar.zst && cp {other}/backup.json {set}/ && "
                        + TAMPER_SH + " sums {set}",
                        "not authenticated"),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_an_encrypted_set_the_storage_holder_changed_is_refused_and_nothing_is_restored(
        lab: Lab, sealed: tuple[str, str], case: str) -> None:
    job = f"tamper-{case}"[:40].rstrip("-")
    folder = sealed_copy(lab, sealed, job)
    script, words = TAMPERING[case]
    lab.server.sh(script.replace("{set}", folder).replace("{other}", f"{REPOS}/sealed/{sealed[1]}"))
    # A files restore; and a database one where the storage's holder swapped a dump.
    what = ("--mysql-db", "shop", "--into", "tampered") if case == "file-of-another-set" else (
        "--files", "--target", f"/srv/restore/{job}")
    run, before, after = lab.unchanged_anew(RESTORE, "--job", job, "--encrypt-key", KEY, *what)
    assert run.exit == 6, run
    assert "nothing was restored" in run.stderr and words in run.stderr, run
    assert_nothing_changed(before, after, run)


def test_a_good_sealed_copy_is_restored_so_the_refusals_are_about_the_tampering(
        lab: Lab, sealed: tuple[str, str]) -> None:
    folder = sealed_copy(lab, sealed, "tamper-none")
    run = lab.restore("--job", "tamper-none", "--encrypt-key", KEY, "--files",
                      "--target", "/srv/restore/tamper-none")
    assert run.exit == 0, run
    assert tree_sums(lab.server, f"/srv/restore/tamper-none{DATA}") == tree_sums(lab.server, DATA)
    assert "authenticated" in run.stderr, run
    assert lab.server.exists(f"{folder}/MANIFEST.gpg")


def test_the_wrong_passphrase_is_refused_and_nothing_is_restored(lab: Lab, sealed: tuple[str, str]) -> None:
    lab.server.sh("umask 077; printf 'not-the-passphrase' > /root/other.pass")
    run, before, after = lab.unchanged_anew(RESTORE, "--job", "sealed", "--encrypt-key", "/root/other.pass",
                                            "--files", "--target", "/srv/restore/wrong-key")
    assert run.exit == 6 and "does not decrypt with this key" in run.stderr, run
    assert_nothing_changed(before, after, run)


def test_a_set_made_before_authentication_is_refused_unless_explicitly_allowed(
        lab: Lab, sealed: tuple[str, str]) -> None:
    # What a set of version 1 looks like: no MANIFEST.gpg, "version": 1.
    folder = sealed_copy(lab, sealed, "oldset")
    lab.server.sh(f"rm {folder}/MANIFEST.gpg && "
                  f"sed -i 's/\"version\": 2,/\"version\": 1,/' {folder}/backup.json && "
                  f"{TAMPER_SH} sums {folder}")
    run, before, after = lab.unchanged_anew(RESTORE, "--job", "oldset", "--encrypt-key", KEY, "--files",
                                            "--target", "/srv/restore/oldset")
    assert run.exit == 6, run
    assert "before set version 2" in run.stderr and "--allow-unauthenticated" in run.stderr, run
    assert_nothing_changed(before, after, run)
    allowed = lab.restore("--job", "oldset", "--encrypt-key", KEY, "--allow-unauthenticated", "--files",
                          "--target", "/srv/restore/oldset")
    assert allowed.exit == 0 and "not authenticated" in allowed.stderr, allowed
    assert tree_sums(lab.server, f"/srv/restore/oldset{DATA}") == tree_sums(lab.server, DATA)


@pytest.fixture(scope="module")
def nas(lab: Lab) -> str:
    """/srv/nas: a folder of someone else (nobody), holding a set root made there (job nasjob)."""
    node = lab.server
    node.sh("mkdir -p /srv/nas && chown root:root /srv/nas && chmod 0755 /srv/nas && "
            "mkdir -p -m 0700 /var/spool/tssr-kit")
    run = lab.backup("--job", "nasjob", "--dest", "/srv/nas", "--source", DATA)
    assert run.exit == 0, run
    node.sh("chown nobody /srv/nas")
    return "/srv/nas"


def test_a_backup_into_a_folder_someone_else_owns_is_refused(lab: Lab, nas: str) -> None:
    run, before, after = lab.unchanged_anew(BACKUP, "--job", "nasjob", "--dest", nas, "--source", DATA)
    assert run.exit == 2 and "is not root's alone" in run.stderr, run
    assert_nothing_changed(before, after, run)


def test_a_plain_set_someone_else_could_change_is_refused_without_the_flag(lab: Lab, nas: str) -> None:
    node = lab.server
    # The holder of /srv/nas swaps the archive for one of its own (and makes SHA256SUMS match).
    sets_there = node.sh(f"ls {nas}/nasjob").split()
    folder = f"{nas}/nasjob/{sets_there[0]}"
    run, before, after = lab.unchanged_anew(RESTORE, "--job", "nasjob", "--dest", nas, "--files",
                                            "--target", "/srv/restore/nas")
    assert run.exit == 6, run
    assert "not authenticated" in run.stderr and "someone else than root can change" in run.stderr, run
    assert_nothing_changed(before, after, run)
    allowed = lab.restore("--job", "nasjob", "--dest", nas, "--allow-unauthenticated", "--files",
                          "--target", "/srv/restore/nas")
    assert allowed.exit == 0, allowed
    assert tree_sums(node, f"/srv/restore/nas{DATA}") == tree_sums(node, DATA)
    assert node.sh("ls -A /var/spool/tssr-kit").strip() == "", "the private copy was left"
    assert node.exists(folder)


# ==================================================================================================
# 13. SQL is loaded with the client unable to run commands of its own


HOSTILE_MYSQL = ("CREATE TABLE planted_table (id INT);\n\\! touch /tmp/pwned-bang\n"
                 "system touch /tmp/pwned-system\n"
                 "\\T /tmp/pwned-tee\nsource /etc/hostname\nCREATE TABLE after_the_escape (id INT);\n")
HOSTILE_PG = ("--\n-- PostgreSQL database dump\n--\nCREATE TABLE planted_table (id int);\n"
              "\\! touch /tmp/pwned-bang\n\\o |touch /tmp/pwned-pipe\n")
HOSTILE_GLOBALS = ("\\! touch /tmp/pwned-bang\n\\unrestrict guessed\n\\! touch /tmp/pwned-unrestrict\n"
                   "\\o |touch /tmp/pwned-pipe\nSELECT 1;\n"
                   "\\copy (SELECT 1) TO PROGRAM 'touch /tmp/pwned-copy'\n"
                   "\\connect template1\n")


def plant_dump(lab: Lab, folder: str, member: str, text: str, *, key: str | None) -> None:
    """Replace a dump of the set in ``folder`` by ``text`` (zstd unless a .dump), encrypted and sealed
    with ``key`` when given (an authenticated set: the passphrase's holder made it), else with
    SHA256SUMS made to match."""
    node = lab.server
    path = f"{folder}/{member}"
    node.sh(f"rm -f {path} {path}.gpg")
    node.write(f"{path}.raw", text, "0600")
    if member.endswith(".zst"):
        node.sh(f"zstd -q --rm {path}.raw -o {path}")
    else:
        node.sh(f"mv {path}.raw {path}")
    if key:
        node.sh(f"{TAMPER_SH} encrypt {path} {key} && {TAMPER_SH} seal {folder} {key}")
    else:
        node.sh(f"{TAMPER_SH} sums {folder}")


@pytest.fixture(scope="module")
def plain_copy(lab: Lab, db_set: str, sealed: tuple[str, str]) -> Callable[[str], str]:
    """A copy of the plain db set under another job, in the root-only repository (trusted: only root
    could have planted anything there). Returns the copy's folder."""
    def make(job: str) -> str:
        folder = f"{REPOS}/{job}/{job}-{stamp(1)}"
        lab.server.sh(f"{TAMPER_SH} copy {REPOS}/db/{db_set} {folder}")
        return folder
    return make


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain-root-only-set", "authenticated-set"])
def test_a_mariadb_dump_with_client_commands_runs_none_and_leaves_no_database(
        lab: Lab, sealed: tuple[str, str], plain_copy: Callable[[str], str], encrypted: bool) -> None:
    job = "evil-mysql-enc" if encrypted else "evil-mysql"
    folder = sealed_copy(lab, sealed, job) if encrypted else plain_copy(job)
    plant_dump(lab, folder, "mysql/shop.sql.zst", HOSTILE_MYSQL, key=KEY if encrypted else None)
    key = ("--encrypt-key", KEY) if encrypted else ()
    run, before, after = lab.unchanged_anew(RESTORE, "--job", job, *key, "--mysql-db", "shop",
                                            "--into", "evil_copy")
    assert run.exit == 1, run
    assert "dropped again" in run.stderr, run
    assert_nothing_changed(before, after, run)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain-root-only-set", "authenticated-set"])
def test_a_postgres_dump_with_client_commands_runs_none_and_leaves_no_database(
        lab: Lab, sealed: tuple[str, str], plain_copy: Callable[[str], str], encrypted: bool) -> None:
    job = "evil-pg-enc" if encrypted else "evil-pg"
    folder = sealed_copy(lab, sealed, job) if encrypted else plain_copy(job)
    plant_dump(lab, folder, "postgres/appdb.dump", HOSTILE_PG, key=KEY if encrypted else None)
    key = ("--encrypt-key", KEY) if encrypted else ()
    run, before, after = lab.unchanged_anew(RESTORE, "--job", job, *key, "--postgres-db", "appdb",
                                            "--into", "evil_copy")
    assert run.exit == 1, run
    assert "nothing changed" in run.stderr, run
    assert_nothing_changed(before, after, run)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain-root-only-set", "authenticated-set"])
def test_globals_with_client_commands_run_none_and_the_restore_fails(
        lab: Lab, sealed: tuple[str, str], plain_copy: Callable[[str], str], encrypted: bool) -> None:
    job = "evil-globals-enc" if encrypted else "evil-globals"
    folder = sealed_copy(lab, sealed, job) if encrypted else plain_copy(job)
    plant_dump(lab, folder, "postgres/globals.sql.zst", HOSTILE_GLOBALS, key=KEY if encrypted else None)
    key = ("--encrypt-key", KEY) if encrypted else ()
    run, before, after = lab.unchanged_anew(RESTORE, "--job", job, *key, "--postgres-globals")
    assert run.exit == 1, run
    assert "backslash commands are restricted" in run.stderr, run
    assert_nothing_changed(before, after, run)


def test_the_sets_own_globals_load_and_keep_the_roles(lab: Lab, db_set: str) -> None:
    run = lab.restore("--job", "db", "--postgres-globals")
    assert run.exit == 0, run
    assert result_of(run, "restore.sh")["restored"] == "postgres:globals", run
    assert psql(lab.server, "postgres", "SELECT rolsuper FROM pg_roles WHERE rolname = 'appowner'") == "f"


def test_a_hostile_dump_on_storage_someone_else_holds_is_refused_before_loading(lab: Lab, nas: str) -> None:
    node = lab.server
    node.sh("chown root /srv/nas")
    run = lab.backup("--job", "nasdb", "--dest", nas, "--mysql-db", "shop")
    node.sh("chown nobody /srv/nas")
    assert run.exit == 0, run
    folder = f"{nas}/nasdb/{result_of(run)['set']}"
    node.write(f"{folder}/mysql/shop.sql", HOSTILE_MYSQL, "0644")
    node.sh(f"rm {folder}/mysql/shop.sql.zst && zstd -q --rm {folder}/mysql/shop.sql && "
            f"chown -R nobody {folder} && {TAMPER_SH} sums {folder}")
    run, before, after = lab.unchanged_anew(RESTORE, "--job", "nasdb", "--dest", nas, "--mysql-db", "shop",
                                            "--into", "nas_copy")
    assert run.exit == 6 and "not authenticated" in run.stderr, run
    assert_nothing_changed(before, after, run)


# ==================================================================================================
# 14. No scratch folder where someone else can put a link; the repository and the target checked


def test_a_users_link_at_the_old_spool_path_is_never_followed(lab: Lab, remote_dest: str, remote_key: str
                                                              ) -> None:
    node = lab.server
    # The attack of the issue: a user's link at the fixed path the scripts used to use.
    node.sh("rm -rf /var/tmp/tssr-backup && runuser -u nobody -- ln -s /etc /var/tmp/tssr-backup")
    etc = node.sh("stat -c '%a %U' /etc")
    far = ("--dest", remote_dest, "--ssh-key", SSH_KEY, "--host-key", remote_key)
    try:
        run = lab.backup("--job", "far", *far, "--source", DATA)
        assert run.exit == 0, run
        back = lab.restore("--job", "far", *far, "--allow-unauthenticated", "--files", "--target",
                           "/srv/restore/spool-link")
        assert back.exit == 0, back
        assert node.sh("stat -c '%a %U' /etc") == etc, "/etc was changed through the link"
        assert node.sh("readlink /var/tmp/tssr-backup").strip() == "/etc"
        assert not node.exists("/etc/far"), "the set was built through the link"
    finally:
        node.sh("rm -f /var/tmp/tssr-backup")


def test_a_spool_that_is_a_link_stops_a_remote_backup_with_nothing_changed(
        lab: Lab, remote_dest: str, remote_key: str) -> None:
    node = lab.server
    node.sh("mv /var/spool/tssr-kit /var/spool/tssr-kit.real && ln -s /etc /var/spool/tssr-kit")
    try:
        far = ("--dest", remote_dest, "--ssh-key", SSH_KEY, "--host-key", remote_key)
        run, before, after = lab.unchanged_anew(BACKUP, "--job", "far", *far, "--source", DATA)
        assert run.exit == 5 and "/var/spool/tssr-kit is not a folder of root's" in run.stderr, run
        assert_nothing_changed(before, after, run)
        run, before, after = lab.unchanged_anew(RESTORE, "--job", "far", *far, "--allow-unauthenticated",
                                                "--files", "--target", "/srv/restore/spool-link2")
        assert run.exit == 5, run
        assert_nothing_changed(before, after, run)
    finally:
        node.sh("rm /var/spool/tssr-kit && mv /var/spool/tssr-kit.real /var/spool/tssr-kit")


def test_a_repository_a_user_replaced_by_a_link_is_refused(lab: Lab) -> None:
    node = lab.server
    # A shared sticky folder (like /tmp): a user can make the job's repository before root does.
    node.sh("mkdir -p -m 1777 /srv/shared && runuser -u nobody -- ln -sfn /etc /srv/shared/web")
    run, before, after = lab.unchanged_anew(BACKUP, "--job", "web", "--dest", "/srv/shared", "--source", DATA)
    assert run.exit == 2 and "/srv/shared/web belongs to uid" in run.stderr, run
    assert_nothing_changed(before, after, run)


@pytest.fixture(scope="module")
def eve(lab: Lab) -> str:
    lab.server.sh("id eve >/dev/null 2>&1 || useradd --create-home eve")
    return "eve"


TARGET_ATTACKS = {
    "in-a-users-home": ("true", "/home/eve/restore", "belongs to uid"),
    "through-a-users-link-in-tmp": ("runuser -u eve -- ln -sfn /etc /tmp/evil", "/tmp/evil/restore",
                                    "belongs to uid"),
    "a-link-itself": ("ln -sfn /etc /srv/restore-link", "/srv/restore-link", "is a link"),
    "under-a-world-writable-folder": ("mkdir -p -m 0777 /srv/open", "/srv/open/restore",
                                      "writable by others"),
}


@pytest.mark.parametrize("case", list(TARGET_ATTACKS))
def test_a_target_someone_else_can_change_is_refused(lab: Lab, eve: str, case: str) -> None:
    setup, target, words = TARGET_ATTACKS[case]
    lab.server.sh(setup)
    run, before, after = lab.unchanged_anew(RESTORE, "--job", "web", "--files", "--target", target)
    assert run.exit == 2 and words in run.stderr, run
    assert_nothing_changed(before, after, run)


def test_a_link_raced_into_a_sticky_folder_never_receives_the_files(lab: Lab, eve: str) -> None:
    node = lab.server
    node.sh("mkdir -p -m 1777 /srv/drop && rm -rf /srv/drop/x")
    etc = node.sh("stat -c '%a %U %i' /etc; ls /etc | sort | sha256sum")
    # eve tries, as fast as she can (for 20 s at most), to put a link where root will create the target.
    racer = node.sh("setsid runuser -u eve -- sh -c 'end=$(($(date +%s) + 20)); "
                    "while [ $(date +%s) -lt $end ]; do ln -s /etc /srv/drop/x 2>/dev/null && exit; done' "
                    ">/dev/null 2>&1 </dev/null & echo $!").strip()
    run = lab.restore("--job", "web", "--files", "--target", "/srv/drop/x")
    node.sh(f"kill -- -{racer} 2>/dev/null; true")
    assert run.exit in (0, 1, 2), run
    assert node.sh("stat -c '%a %U %i' /etc; ls /etc | sort | sha256sum") == etc, "/etc was changed"
    assert not node.exists("/etc/srv"), "files were restored into /etc"
    if run.exit == 0:
        assert node.sh("stat -c '%U %F' /srv/drop/x").strip() == "root directory", run


# ==================================================================================================
# 15. setuid and setgid files: listed, and stripped outside /


@pytest.fixture(scope="module")
def suid_set(lab: Lab) -> str:
    node = lab.server
    node.sh("mkdir -p /srv/suid/shared && cp /usr/bin/id /srv/suid/su-shell && chmod 4755 /srv/suid/su-shell "
            "&& cp /usr/bin/id /srv/suid/sg-shell && chmod 2755 /srv/suid/sg-shell "
            "&& chmod 2775 /srv/suid/shared "
            "&& echo plain > /srv/suid/plain")
    run = lab.backup("--job", "suid", "--source", "/srv/suid")
    assert run.exit == 0, run
    return result_of(run)["set"]


def modes(node: Node, root: str) -> dict[str, str]:
    out = node.sh(f"cd {root} && stat -c '%a %n' su-shell sg-shell shared plain")
    return {name: mode for mode, name in (line.split() for line in out.splitlines())}


def test_setuid_files_restored_into_a_folder_are_listed_and_stripped(lab: Lab, suid_set: str) -> None:
    run = lab.restore("--job", "suid", "--files", "--target", "/srv/restore/suid")
    assert run.exit == 0, run
    result = result_of(run, "restore.sh")
    assert sorted(result["setuid"]) == ["srv/suid/sg-shell", "srv/suid/su-shell"], run
    assert result["setuid_stripped"] is True, run
    assert modes(lab.server, "/srv/restore/suid/srv/suid") == {"su-shell": "755", "sg-shell": "755",
                                                                "shared": "2775", "plain": "644"}


def test_keep_setuid_keeps_them_and_still_lists_them(lab: Lab, suid_set: str) -> None:
    run = lab.restore("--job", "suid", "--files", "--target", "/srv/restore/suid-kept", "--keep-setuid")
    assert run.exit == 0, run
    result = result_of(run, "restore.sh")
    assert sorted(result["setuid"]) == ["srv/suid/sg-shell", "srv/suid/su-shell"], run
    assert result["setuid_stripped"] is False, run
    assert modes(lab.server, "/srv/restore/suid-kept/srv/suid")["su-shell"] == "4755"


def test_a_restore_in_place_into_root_keeps_setuid_and_lists_it(lab: Lab, suid_set: str) -> None:
    node = lab.server
    node.sh("chmod 0755 /srv/suid/su-shell")
    run = lab.restore("--job", "suid", "--files", "--target", "/", "--in-place", "--path", "srv/suid")
    assert run.exit == 0, run
    assert "srv/suid/su-shell" in result_of(run, "restore.sh")["setuid"], run
    assert modes(node, "/srv/suid")["su-shell"] == "4755"


# ==================================================================================================
# 16. The remote's host key: pinned or recorded at install, never accepted at backup or restore time


def test_an_unknown_remote_host_key_is_refused_and_nothing_is_sent(lab: Lab, remote_dest: str) -> None:
    far = ("--dest", remote_dest, "--ssh-key", SSH_KEY)
    run, before, after = lab.unchanged_anew(BACKUP, "--job", "unknownkey", *far, "--source", DATA)
    assert run.exit == 5 and "host key" in run.stderr and "unknown or has changed" in run.stderr, run
    assert_nothing_changed(before, after, run)
    assert not lab.remote.exists("/srv/backups/unknownkey"), "something was sent"
    assert not lab.server.exists("/root/.ssh/known_hosts"), "the key was recorded"
    run, before, after = lab.unchanged_anew(RESTORE, "--job", "far", *far, "--files",
                                            "--target", "/srv/restore/unknownkey")
    assert run.exit == 5 and "host key" in run.stderr, run
    assert_nothing_changed(before, after, run)


def test_a_changed_or_wrong_host_key_is_refused(lab: Lab, remote_dest: str, remote_key: str) -> None:
    node = lab.server
    node.sh("rm -f /root/other_host && ssh-keygen -q -t ed25519 -N '' -f /root/other_host")
    other = " ".join(node.read("/root/other_host.pub").split()[:2])
    host = remote_dest.split("@", 1)[1].split("/", 1)[0]
    node.sh(f"umask 022; printf '%s %s\\n' {host} '{other}' > /root/changed_known_hosts")
    # A wrong key pinned on the command line, for a backup; a changed one in a known_hosts file, for a
    # restore.
    run, before, after = lab.unchanged_anew(BACKUP, "--job", "wrongkey", "--dest", remote_dest,
                                            "--ssh-key", SSH_KEY, "--host-key", other, "--source", DATA)
    assert run.exit == 5 and "unknown or has changed" in run.stderr, run
    assert_nothing_changed(before, after, run)
    changed = ("--known-hosts", "/root/changed_known_hosts")
    run, before, after = lab.unchanged_anew(RESTORE, "--job", "far", "--dest", remote_dest,
                                            "--ssh-key", SSH_KEY, *changed, "--allow-unauthenticated",
                                            "--files", "--target", "/srv/restore/wrongkey")
    assert run.exit == 5 and "host key" in run.stderr, run
    assert_nothing_changed(before, after, run)
    assert not lab.remote.exists("/srv/backups/wrongkey")


def test_install_timer_records_the_host_key_on_first_contact_and_the_timers_runs_use_it(
        lab: Lab, remote_dest: str, remote_key: str) -> None:
    node = lab.server
    args = ("--install-timer", "--job", "farjob", "--dest", remote_dest, "--ssh-key", SSH_KEY,
            "--source", DATA)
    run = lab.backup(*args)
    assert run.exit == 0, run
    result = result_of(run)
    fingerprint = node.sh(f"printf '%s\\n' '{remote_key}' | ssh-keygen -lf - | awk '{{print $2}}'").strip()
    assert any(fingerprint in key for key in result["host_keys"]), result
    assert "first contact" in run.stderr and fingerprint in run.stderr, "the recorded key is not shown"
    assert node.sh("stat -c '%a %U' /etc/tssr-kit/backup/farjob.known_hosts").strip() == "600 root"
    conf = node.read("/etc/tssr-kit/backup/farjob.conf")
    assert "known-hosts = /etc/tssr-kit/backup/farjob.known_hosts" in conf, conf
    again, before, after = lab.unchanged_anew(BACKUP, *args)
    assert again.exit == 0 and result_of(again)["changed"] == 0, again
    assert_nothing_changed(before, after, again)
    proc = node.exec("systemctl", "start", "tssr-backup@farjob.service", timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, node.sh("journalctl -u tssr-backup@farjob.service --no-pager | tail -n 20")
    assert len(complete_sets(lab.remote, "farjob", "/srv/backups")) == 1
    # The recorded key, changed (as if the server's key changed): the job's runs refuse it.
    other = " ".join(node.sh("rm -f /root/farjob_other && ssh-keygen -q -t ed25519 -N '' "
                             "-f /root/farjob_other && cat /root/farjob_other.pub").split()[:2])
    node.sh("cp /etc/tssr-kit/backup/farjob.known_hosts /root/farjob.saved")
    node.write("/etc/tssr-kit/backup/farjob.known_hosts",
               f"{remote_dest.split('@', 1)[1].split('/', 1)[0]} {other}\n", "0600")
    refused = lab.backup("--config", "/etc/tssr-kit/backup/farjob.conf")
    assert refused.exit == 5 and "unknown or has changed" in refused.stderr, refused
    node.sh("cp /root/farjob.saved /etc/tssr-kit/backup/farjob.known_hosts")
    removed = lab.backup("--remove-timer", "--job", "farjob")
    assert removed.exit == 0 and not node.exists("/etc/tssr-kit/backup/farjob.known_hosts"), removed


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
