"""Test containers for the script tests: start, run in, read from, snapshot, remove.

Every container is started from a local image (``tssr-kit/node:debian12``, ``…:debian13``, or the
RedHat-family image named by ``TSSR_REDHAT_IMAGE``), gets a name ``tssr-test-<uuid8>`` and is removed by
the fixture that made it, even when the test fails. Only containers made here are ever removed.

How a container is started (measured on the reference machine, start + first ``docker exec`` + remove):

- ``sleep infinity`` as PID 1 (default): about 1 s. User provisioning needs no systemd; a tiny syslog
  sink listens on ``/dev/log`` so that ``logger`` and Python's ``SysLogHandler`` behave as on a server,
  and so the tests can read what the scripts sent to syslog.
- ``TSSR_TEST_BOOT=systemd``: the lab's way (``containers.run_node`` + ``wait_booted``), about 6 s;
  syslog is then the journal.

A fixture whose containers need packages that its tests do not test starts them from a *prepared
state* instead of the node image (:class:`State`, :func:`prepared_image`, tssrkit/states.py): the
packages installed once per machine and committed; a test of a script's install path never does.

Names are random, so two xdist workers (or two sessions) never touch each other's containers. The
fixtures that use this are in conftest.py.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import math
import os
import subprocess
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

# Shared with the lab tests (tests/snapshots.py); the container tests take them from here.
from snapshots import assert_nothing_changed, host_state_script, parse_snapshot, snapshot_diff  # noqa: F401

from tssrkit import bundles, containers, images, pkgcache, states
from tssrkit.containers import docker
from tssrkit.jobs.command import interpreter
from tssrkit.jobs.users import IMPLEMENTATIONS
from tssrkit.paths import REPO

BOOT = os.environ.get("TSSR_TEST_BOOT", "sleep")
SESSION = uuid.uuid4().hex[:8]
LABEL = "org.tssr-kit.test"
SCRIPT_DIR = "/opt/tssr-test"          # where the scripts are copied in the container
WORKDIR = "/root/work"                 # where the CSV is written; the scripts are run from here
SYSLOG_FILE = "/run/tssr-test-syslog"  # what the sink received (sleep mode)
PWNED = "/tmp/pwned"                   # what the injection payloads try to create
Snapshot = dict[str, str]              # a parsed snapshot: section name -> text

# State the shared containers (SharedNode) start from: a home left over without its user (a new login `ghost`
# must be refused), and a second group with GID 0 (listing it must be refused).
PREPARE = "mkdir -p /home/ghost && groupadd --non-unique --gid 0 wheelzero"

# "Nothing changed" means these are byte for byte the same before and after a run.
SNAPSHOT = r"""
for f in /etc/passwd /etc/shadow /etc/group /etc/gshadow; do printf '=== %s\n' "$f"; cat "$f"; done
printf '=== ls -la /home\n'; ls -la --time-style=full-iso /home
printf '=== find /home\n'; find /home -printf '%M %u %g %s %T@ %p\n' | sort
printf '=== /var/lib/tssr-kit\n'
if [ -e /var/lib/tssr-kit ]; then
    find /var/lib/tssr-kit -printf '%M %u %g %s %p\n' | sort
    find /var/lib/tssr-kit -type f -exec sha256sum {} + | sort
fi
printf '=== pwned\n'; ls /tmp/pwned 2>/dev/null || true
"""

# The same throw-away mounts as a systemd node, without what only systemd needs (caps, cgroup).
SLEEP_RUN_ARGS: tuple[str, ...] = tuple(
    arg
    for flag, value in zip(containers.SYSTEMD_RUN_ARGS[::2], containers.SYSTEMD_RUN_ARGS[1::2], strict=True)
    if flag == "--tmpfs"
    for arg in (flag, value)
)

# A syslog sink: receives datagrams on /dev/log and appends them, one per line, to SYSLOG_FILE.
SYSLOG_SINK = f"""
import os, socket
try:
    os.unlink('/dev/log')
except FileNotFoundError:
    pass
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind('/dev/log')
os.chmod('/dev/log', 0o666)
with open('{SYSLOG_FILE}', 'ab', buffering=0) as out:
    while True:
        out.write(sock.recv(65536).rstrip(b'\\n') + b'\\n')
"""


@dataclass(repr=False)
class ScriptRun:
    """What one run of a script gave: exit code, stdout, stderr, wall time (shown in full when a test
    fails). Every script of the kit ends stdout with one JSON object: ``result``."""

    exit: int
    stdout: str
    stderr: str
    argv: tuple[str, ...] = ()
    seconds: float = 0.0

    def __repr__(self) -> str:
        return (f"\n$ {' '.join(self.argv)}\n--- exit {self.exit} after {self.seconds:.1f} s\n"
                f"--- stdout\n{self.stdout}--- stderr\n{self.stderr[-6000:]}---")

    @classmethod
    def of(cls, proc: subprocess.CompletedProcess[bytes], argv: tuple[str, ...], started: float
           ) -> ScriptRun:
        """The run ``proc`` of ``argv``, begun at ``started`` (``time.monotonic()``)."""
        return cls(proc.returncode, proc.stdout.decode(errors="replace"),
                   proc.stderr.decode(errors="replace"), argv, time.monotonic() - started)

    @property
    def result(self) -> dict:
        """The JSON object on the last line of stdout."""
        lines = self.stdout.splitlines()
        assert lines, f"no result line on stdout{self!r}"
        try:
            value = json.loads(lines[-1])
        except json.JSONDecodeError:
            raise AssertionError(f"the last stdout line is not JSON{self!r}") from None
        assert isinstance(value, dict), f"the result line is not a JSON object{self!r}"
        return value


R = TypeVar("R", bound=ScriptRun)       # a kind of ScriptRun (Node.run_between makes one)


@dataclass(frozen=True)
class Impl:
    """One implementation of the users job: how to run it."""

    name: str           # bash | python
    source: Path        # in the repository
    interpreter: str    # how the docs say to run it

    @property
    def path(self) -> str:
        """Where the script lives inside a test container."""
        return f"{SCRIPT_DIR}/{self.source.name}"


@functools.cache
def _node_image(name: str) -> tuple[str | None, str | None]:
    """(image ID, None) when ``tssr-kit/node:<name>`` is this checkout's image, else (None, why).
    Checked once per test process; the tests start the ID, not the tag, so that another checkout's
    ``inv images`` retagging it in the middle of a run cannot change what the run tests."""
    distro = images.DISTROS[name]
    problem = images.node_image_problem(distro)
    if problem is not None:
        return None, problem
    return images.image_id(distro.node_image), None


@dataclass(frozen=True)
class Platform:
    """A platform the scripts support, and what differs on it."""

    name: str
    family: str
    nologin: str

    def image(self) -> str:
        """The local image to start (a Debian one by ID, checked once per process: `_node_image`), or
        skip (never pass) the test when there is none."""
        if self.family == "redhat":
            image = images.redhat_image()
            if image is None:
                pytest.skip(images.redhat_not_run_reason())
            return image
        image, problem = _node_image(self.name)
        if image is None:
            pytest.fail(problem)
        return image


@dataclass(frozen=True)
class Target:
    """One implementation on one platform: what most tests are parametrized over."""

    impl: Impl
    platform: Platform


# The same scripts and interpreters that `inv provision-users --impl` runs.
IMPLS: dict[str, Impl] = {
    name: Impl(name, script, interpreter(script)[0]) for name, script in IMPLEMENTATIONS.items()
}


def impl_files() -> dict[str, Path]:
    """The users scripts as `inv provision-users` uploads them, beside each other in SCRIPT_DIR: each
    with what travels with it (scripts/bundles.yml: lib/ for the Bash one), as name -> local file."""
    return {name: path for impl in IMPLS.values() if impl.source.exists()
            for name, path in bundles.with_script(impl.source).items()}


PLATFORMS: dict[str, Platform] = {
    **{name: Platform(name, "debian", "/usr/sbin/nologin") for name in images.DISTROS},
    "redhat": Platform("redhat", "redhat", "/sbin/nologin"),
}


class Node:
    """A running test container: run commands in it, write and read its files."""

    def __init__(self, name: str, platform: Platform) -> None:
        self.name = name
        self.platform = platform

    def __repr__(self) -> str:
        return f"Node({self.name}, {self.platform.name})"

    def exec(self, *argv: str, stdin: bytes | None = None, user: str | None = None,
             workdir: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        """Run argv in the container (no shell); bytes in, bytes out, never raises on exit status."""
        opts = ["--interactive"] if stdin is not None else []
        if user:
            opts += ["--user", user]
        if workdir:
            opts += ["--workdir", workdir]
        return subprocess.run(["docker", "exec", *opts, self.name, *argv], input=stdin,
                              capture_output=True, timeout=timeout, check=False)

    def sh(self, script: str, *, stdin: bytes | None = None, check: bool = True, timeout: float = 120,
           args: Sequence[str] = ()) -> str:
        """Run a fixed shell snippet (test code, no untrusted values in it; values go in ``args``,
        its ``$1``…) and return its stdout."""
        proc = self.exec("sh", "-c", script, *(("sh", *args) if args else ()), stdin=stdin, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{self.name}: `{script}` exited {proc.returncode}: "
                                 f"{proc.stderr.decode(errors='replace')}")
        return proc.stdout.decode(errors="replace")

    def write(self, path: str, data: bytes | str, mode: str = "0644") -> None:
        """Write a file in the container, byte for byte."""
        raw = data.encode() if isinstance(data, str) else data
        proc = self.exec("sh", "-c", 'mkdir -p "${1%/*}" && cat > "$1" && chmod "$2" "$1"', "sh", path, mode,
                         stdin=raw)
        assert proc.returncode == 0, proc.stderr

    def write_files(self, files: dict[str, bytes | str | tuple[bytes | str, str]], then: str = "") -> str:
        """Write ``files`` (path -> data, or (data, mode); mode 0644 by default) as root, their parent
        folders made, then run the shell snippet ``then`` (fixed test code, which must succeed) and
        return its stdout: one ``docker exec`` (a tar unpacked) for all."""
        parents = sorted({path.rsplit("/", 1)[0] or "/" for path in files})
        script = '{ [ $# -eq 0 ] || mkdir -p "$@"; } && tar -x -C / || exit 1\n' + then
        proc = self.exec("sh", "-c", script, "sh", *parents,
                         stdin=tar_of_data({path.lstrip("/"): value for path, value in files.items()}))
        if proc.returncode != 0:
            raise AssertionError(f"{self.name}: writing {sorted(files)} then `{then}` exited "
                                 f"{proc.returncode}: {proc.stderr.decode(errors='replace')}")
        return proc.stdout.decode(errors="replace")

    def write_and_exec(self, path: str, data: bytes | str, *argv: str, workdir: str | None = None
                       ) -> subprocess.CompletedProcess[bytes]:
        """Write a file (as root), then run argv (no shell) — one ``docker exec`` instead of two."""
        raw = data.encode() if isinstance(data, str) else data
        return self.exec("sh", "-c", 'mkdir -p "${1%/*}" && cat > "$1" && shift && exec "$@" </dev/null',
                         "sh", path, *argv, stdin=raw, workdir=workdir)

    def read(self, path: str) -> str:
        proc = self.exec("cat", path)
        assert proc.returncode == 0, f"{path}: {proc.stderr.decode(errors='replace')}"
        return proc.stdout.decode(errors="replace")

    def exists(self, path: str) -> bool:
        return self.exec("test", "-e", path).returncode == 0

    def snapshot(self) -> dict[str, str]:
        """The state a run must leave alone when it changes nothing: section name → text."""
        return parse_snapshot(self.sh(SNAPSHOT))

    def write_exec_snapshot(self, path: str, data: bytes | str, *argv: str, workdir: str,
                            snapshot: str = SNAPSHOT, timeout: float = 120
                            ) -> tuple[subprocess.CompletedProcess[bytes], dict[str, str]]:
        """``write_and_exec``, then ``snapshot``, in one ``docker exec`` (the refused-input tests run
        hundreds of times: each exec saved is a fraction of a second). ``snapshot``: the shell
        snippet that prints the state (``=== section`` lines), :data:`SNAPSHOT` by default."""
        _, code, out, err, _, after = self._batch(argv, workdir, None, snapshot, (path, data), timeout)
        return subprocess.CompletedProcess(argv, code, out, err), parse_snapshot(after)

    def run_between(self, *argv: str, workdir: str, before: str | None = None, after: str | None = None,
                    write: tuple[str, bytes | str] | None = None, timeout: float = 120,
                    kind: type[R] = ScriptRun  # type: ignore[assignment]
                    ) -> tuple[Snapshot | None, R, Snapshot | None]:
        """In one ``docker exec``: the snapshot ``before`` (a shell snippet printing ``=== section``
        lines, run where ``sh`` runs it), the file ``write`` = (path, data) written (as root), argv
        run (no shell, stdin empty) in ``workdir``, then the snapshot ``after``. Returns (before,
        the run as a ``kind``, after), a snapshot None when its snippet is. A snapshot that fails,
        or a file that cannot be written, fails the test (as ``sh`` would). The run's wall time is
        measured in the container."""
        first, code, out, err, seconds, rest = self._batch(argv, workdir, before, after, write, timeout)
        run = kind(code, out.decode(errors="replace"), err.decode(errors="replace"), argv, seconds)
        return (parse_snapshot(first) if before is not None else None, run,
                parse_snapshot(rest) if after is not None else None)

    def _batch(self, argv: tuple[str, ...], workdir: str, before: str | None, after: str | None,
               write: tuple[str, bytes | str] | None, timeout: float
               ) -> tuple[str, int, bytes, bytes, float, str]:
        """What ``run_between`` does, as (before's text, exit code, stdout, stderr, seconds, after's
        text); a snapshot's text is '' when its snippet is None."""
        path, data = write if write is not None else ("", b"")
        raw = data.encode() if isinstance(data, str) else data
        script = (
            (f"( {before}\n) > /tmp/.tssr-before || exit 97\n" if before is not None
             else ": > /tmp/.tssr-before\n")
            + ('mkdir -p "${1%/*}" && cat > "$1" || exit 98\n' if write is not None else "")
            + 'shift\ndate +%s.%N > /tmp/.tssr-start\n'
            '(cd "$0" && "$@" > /tmp/.tssr-out 2> /tmp/.tssr-err < /dev/null; echo $? > /tmp/.tssr-rc)\n'
            'date +%s.%N >> /tmp/.tssr-start\n'
            'cat /tmp/.tssr-rc && paste -s -d " " /tmp/.tssr-start'
            ' && base64 -w0 /tmp/.tssr-out && echo && base64 -w0 /tmp/.tssr-err'
            ' && echo && base64 -w0 /tmp/.tssr-before && echo || exit 99\n'
            'rm -f /tmp/.tssr-before /tmp/.tssr-start /tmp/.tssr-out /tmp/.tssr-err /tmp/.tssr-rc\n'
            + (after if after is not None else ""))
        proc = self.exec("sh", "-c", script, workdir, path, *argv,
                         stdin=raw if write is not None else None, timeout=timeout)
        assert proc.returncode == 0, f"{self.name}: {proc.returncode}: {proc.stderr.decode(errors='replace')}"
        code, times, out, err, first, rest = proc.stdout.split(b"\n", 5)
        start, end = (float(t) for t in times.split())
        return (base64.b64decode(first).decode(errors="replace"), int(code), base64.b64decode(out),
                base64.b64decode(err), end - start, rest.decode(errors="replace"))

    def wait_for(self, condition: str, seconds: float, what: str, interval: float = 0.2, first: str = ""
                 ) -> None:
        """Wait in the container, in one ``docker exec``, until the shell snippet ``condition`` (fixed
        test code) succeeds, trying it every ``interval`` s; fail the test with ``what`` after
        ``seconds``. ``first``: a snippet (which must succeed) run once before, in the same exec."""
        script = ((f'{{ {first}\n}} || exit 1\n' if first else '')
                  + f'end=$(( $(date +%s) + {math.ceil(seconds)} ))\n'
                  f'until {{ {condition}\n}}; do\n'
                  f'    [ "$(date +%s)" -lt "$end" ] || exit 124\n'
                  f'    sleep {interval}\n'
                  f'done\n')
        proc = self.exec("sh", "-c", script, timeout=seconds + 60)
        assert proc.returncode != 124, f"{what}: not after {seconds:.0f} s"
        assert proc.returncode == 0, f"{self.name}: {what}: {proc.stderr.decode(errors='replace')}"

    def syslog(self) -> str:
        """Everything sent to syslog in this container so far."""
        if BOOT == "systemd":
            return self.exec("journalctl", "--no-pager", "-o", "short").stdout.decode(errors="replace")
        proc = self.exec("cat", SYSLOG_FILE)
        return proc.stdout.decode(errors="replace")


def subset(result: dict, expected: dict) -> dict:
    """The keys of ``result`` that ``expected`` names (so that pytest shows a readable diff)."""
    return {key: result.get(key, "<missing>") for key in expected}


def script_result(run: ScriptRun, script: str) -> dict:
    """The run's result line, which must say it comes from ``script`` (e.g. ``backup.sh``)."""
    value = run.result
    assert value.get("script") == script, f"`script` is not {script}{run!r}"
    return value


def wait_until(predicate: Callable[[], bool], seconds: float, what: str, interval: float = 0.5) -> None:
    """Poll ``predicate`` every ``interval`` s; fail the test with ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not after {seconds:.0f} s"
        time.sleep(interval)


INSTALL_TIMEOUT = 600  # seconds for one package installation in a test container


def install_script(family: str, *packages: str) -> str:
    """The shell command that installs ``packages`` with the family's package manager, quietly."""
    if family == "debian":
        return ("export DEBIAN_FRONTEND=noninteractive; apt-get -q update >/dev/null && "
                f"apt-get -q -y install --no-install-recommends {' '.join(packages)} >/dev/null")
    return f"dnf -y -q install {' '.join(packages)} >/dev/null"


def install(node: Node, family: str, *packages: str) -> None:
    """Install ``packages`` with the family's package manager (quietly; a failure raises)."""
    # A database server from the mirror takes 1-2 minutes on a loaded CI machine: room for that.
    node.sh(install_script(family, *packages), timeout=INSTALL_TIMEOUT)


def copy_in(node: Node, copies: dict[str, Path]) -> None:
    """Copy ``copies`` (path in the container -> local file or folder) into ``node``, creating the
    parent folders first: one ``docker exec`` unpacking a tar, which leaves what ``docker cp`` would
    (owned by root, modes and symbolic links kept). The paths must not exist yet (``docker cp`` would
    put a folder inside an existing one; this merges them) or be files, which are replaced."""
    if not copies:
        return
    parents = sorted({remote.rsplit("/", 1)[0] or "/" for remote in copies})
    stream = tar_of({remote.lstrip("/"): local for remote, local in copies.items()})
    proc = node.exec("sh", "-c", 'mkdir -p "$@" && tar -x -C /', "sh", *parents, stdin=stream)
    assert proc.returncode == 0, f"{node.name}: copying in failed: {proc.stderr.decode(errors='replace')}"


def kit_copies(*paths: str | tuple[str, str]) -> dict[str, Path]:
    """What a test copies into its containers, as ``start_systemd_node`` takes it: each path of the
    repository (``scripts/bash/lib``) below SCRIPT_DIR at the same place, so that a script finds
    ``../lib`` as in the repository; a pair ``(name, path)`` puts the path at SCRIPT_DIR/name."""
    pairs = [(path, path) if isinstance(path, str) else path for path in paths]
    return {f"{SCRIPT_DIR}/{name}": REPO / path for name, path in pairs}


def require(*paths: Path) -> None:
    """Fail (never skip) the test when a file of the repository it runs is missing, naming it."""
    for path in paths:
        if not path.exists():
            pytest.fail(f"{path.relative_to(REPO)} does not exist (yet)")


# --------------------------------------------------------------------------------------------------
# Prepared states (tssrkit/states.py): packages a test needs but does not test, installed once


@dataclass(frozen=True)
class State:
    """A prepared state: the node image with ``packages`` installed (per family: debian, redhat),
    ``copies`` (path in the container -> file of the repository) copied in, then ``script`` run (a
    fixed shell snippet). Only what the tests starting from it do not test goes in here."""

    name: str                                   # e.g. backup-server: part of the image's tag
    packages: dict[str, tuple[str, ...]]
    script: str = ""
    copies: dict[str, Path] | None = None

    def digest(self, platform: Platform, node_image: str) -> str:
        """The hash of everything that goes into the image: any change gives another tag."""
        packages = self.packages.get(platform.family, ())
        installs = install_script(platform.family, *packages) if packages else ""
        parts = [states.VERSION, node_image, platform.family, self.name, installs, self.script,
                 STATE_CLEANUP[platform.family]]
        for remote, local in sorted((self.copies or {}).items()):
            parts += [remote, *files_digest(local)]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def files_digest(local: Path) -> list[str]:
    """One line per file of ``local`` (a file or a folder): its place below ``local``, its mode and
    the hash of its bytes."""
    files = sorted(p for p in local.rglob("*") if p.is_file()) if local.is_dir() else [local]
    return [f"{p.relative_to(local)}:{p.stat().st_mode:o}:{hashlib.sha256(p.read_bytes()).hexdigest()}"
            for p in files]


# The network clients a test drives its servers with (SNMP queries, HTTP), on a monitor or a stranger:
# what test_snmp and test_firewall start their client containers from.
CLIENTS_STATE = State("net-clients", {"debian": ("snmp", "curl"), "redhat": ("net-snmp-utils", "curl")})


# What a state must not carry into its clones: the downloaded packages, and sshd's host keys (each
# clone makes its own at boot, as a fresh node does: images/node.Dockerfile).
STATE_CLEANUP = {
    "debian": "apt-get clean && rm -f /etc/ssh/ssh_host_*",
    "redhat": "dnf clean all >/dev/null && rm -f /etc/ssh/ssh_host_*",
}
STATE_STOP_SECONDS = 120   # systemd stops every service (databases flush) before the commit


def prepared_image(platform: Platform, state: State) -> str:
    """The ID of ``state``'s image for ``platform``, built first when this machine has none of this
    hash: from the platform's checked node image (by ID), the recipe run in a booted node, the node
    stopped (a clean shutdown: every service stopped), then committed. One process builds it, the
    others wait and reuse it (lock under .tssr/); it is kept for the next run."""
    node_image = platform.image()
    digest = state.digest(platform, node_image)
    name = states.tag(state.name, platform.name, digest)
    wanted = {states.LABEL: digest, states.FROM_LABEL: node_image}
    with states.locked(state.name, platform.name):
        if states.labels(name) != wanted:
            started = time.monotonic()
            build_state(platform, state, node_image, name, wanted)
            took = time.monotonic() - started
            print(f"\n{platform.name}: the state {state.name} was built in {took:.0f} s")
    return images.image_id(name)


def build_state(platform: Platform, state: State, node_image: str, name: str, wanted: dict[str, str]) -> None:
    """Make the image ``name`` (see :func:`prepared_image`); the container is removed in any case."""
    container = f"tssr-test-state-{uuid.uuid4().hex[:8]}"
    containers.run_node(node_image, container, labels={LABEL: SESSION})
    node = Node(container, platform)
    try:
        containers.wait_booted(container)
        copy_in(node, state.copies or {})
        if state.packages.get(platform.family):
            install(node, platform.family, *state.packages[platform.family])
        if state.script:
            node.sh(state.script, timeout=INSTALL_TIMEOUT)
        node.sh(STATE_CLEANUP[platform.family])
        docker("stop", "--time", str(STATE_STOP_SECONDS), container)
        changes = [f"LABEL {key}={value}" for key, value in wanted.items()] + [f"LABEL {LABEL}=state"]
        docker("commit", *(arg for change in changes for arg in ("--change", change)), container, name)
    finally:
        stop_node(node)


def start_systemd_node(platform: Platform, copies: dict[str, Path], prefix: str = "tssr-test", *,
                       network: str | None = None, extra: Sequence[str] = (),
                       prepare: Callable[[Node], None] | None = None, state: State | None = None) -> Node:
    """A booted systemd container of ``platform`` (whatever TSSR_TEST_BOOT says), named
    ``PREFIX-<uuid8>``, on ``network`` if given, started with the ``extra`` docker-run options, with
    ``copies`` (path in the container -> local file or folder, copied as it is) in it, then
    ``prepare(node)`` if given. From ``state``'s image (:func:`prepared_image`) when given, else from
    the fresh node image. The caller removes it (``stop_node``); a failed start removes it here."""
    image = prepared_image(platform, state) if state else platform.image()
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    containers.run_node(image, name, *network_args(network), *extra, labels={LABEL: SESSION})
    return provision(Node(name, platform), copies, prepare, boot=True)


def start_plain_node(platform: Platform, prefix: str, *, network: str | None = None,
                     extra: Sequence[str] = (), copies: dict[str, Path] | None = None,
                     prepare: Callable[[Node], None] | None = None, state: State | None = None) -> Node:
    """A plain container of ``platform`` (``sleep infinity`` as PID 1, no systemd), named
    ``PREFIX-<uuid8>``, otherwise as ``start_systemd_node``."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    image = prepared_image(platform, state) if state else platform.image()
    docker("run", "--detach", "--name", name, "--hostname", name, "--label", f"{LABEL}={SESSION}",
           *network_args(network), *pkgcache.run_args(network), *SLEEP_RUN_ARGS, *extra, image,
           "sleep", "infinity")
    return provision(Node(name, platform), copies or {}, prepare)


def provision(node: Node, copies: dict[str, Path], prepare: Callable[[Node], None] | None, *,
              boot: bool = False) -> Node:
    """Wait for systemd (with ``boot``), copy ``copies`` in, run ``prepare(node)``; a failure removes
    the container."""
    try:
        if boot:
            wait_booted(node)
        copy_in(node, copies)
        if prepare:
            prepare(node)
    except BaseException:
        stop_node(node)
        raise
    return node


def network_args(network: str | None) -> tuple[str, ...]:
    return ("--network", network) if network else ()


@contextmanager
def nodes_on_network(*starters: Callable[[str], Node], prefix: str = "tssr-test-net"
                     ) -> Iterator[tuple[str, list[Node]]]:
    """A user-defined docker network of its own (``PREFIX-<uuid8>``) and the containers that
    ``starters`` start on it in parallel (each is called with the network's name): yields the network
    and the nodes, in the order of ``starters``. At the end every container that did start (even when
    another failed to) and the network are removed."""
    network = f"{prefix}-{uuid.uuid4().hex[:8]}"
    pkgcache.create_network(network, "--label", f"{LABEL}={SESSION}")
    started: list[Node] = []
    try:
        with ThreadPoolExecutor(max_workers=len(starters)) as pool:
            futures = [pool.submit(starter, network) for starter in starters]
            started += [f.result() for f in futures if f.exception() is None]
            nodes = [f.result() for f in futures]
        yield network, nodes
    finally:
        stop_nodes(started)
        pkgcache.remove_network(network)


def ip_address(node: Node, network: str) -> str:
    """The node's address on ``network``."""
    return ip_addresses([node], network)[node.name]


def ip_addresses(nodes: Sequence[Node], network: str) -> dict[str, str]:
    """Each node's address on ``network`` (node name -> address): one ``docker inspect`` for all."""
    fmt = "{{(index .NetworkSettings.Networks \"" + network + "\").IPAddress}}"
    found = docker("inspect", "-f", fmt, *(node.name for node in nodes)).stdout.split()
    assert len(found) == len(nodes), f"addresses on {network}: {found}"
    return {node.name: address for node, address in zip(nodes, found, strict=True)}


def wait_booted(node: Node, timeout: float = 60.0) -> None:
    """Wait until systemd in ``node`` reports running or degraded (what ``containers.wait_booted``
    waits for), polling inside the container: one ``docker exec`` instead of one per try."""
    node.wait_for('case "$(systemctl is-system-running 2>/dev/null)" in running|degraded) true;;'
                  ' *) false;; esac', timeout, "systemd finishing booting")


# The set-up of start_node in sleep mode, from inside the container: the syslog sink started in the
# background ($1), the folders made ($2 for the scripts, $3), the scripts unpacked from the tar on
# stdin, then a wait (10 s at most) for the sink's /dev/log.
QUICK_SETUP = r"""
setsid python3 -c "$1" < /dev/null > /dev/null 2>&1 &
mkdir -p "$2" "$3" && tar -x -C "$2" || exit 1
for _ in $(seq 200); do
    [ -e /dev/log ] && exit 0
    sleep 0.05
done
echo "the syslog sink did not start" >&2
exit 1
"""


def start_node(platform: Platform) -> Node:
    """Start a container of ``platform`` with both scripts in it; the caller must ``stop_node`` it.

    Sleep mode: ``docker run``, then one ``docker exec`` sets it up (syslog sink, folders, the
    scripts unpacked from a tar, waiting for ``/dev/log``). Systemd mode: booted, then the folders
    and the scripts."""
    image = platform.image()
    name = f"tssr-test-{uuid.uuid4().hex[:8]}"
    if BOOT == "systemd":
        containers.run_node(image, name, labels={LABEL: SESSION})
    else:
        docker("run", "--detach", "--name", name, "--hostname", name, "--label", f"{LABEL}={SESSION}",
               *pkgcache.run_args(), *SLEEP_RUN_ARGS, image, "sleep", "infinity")
    node = Node(name, platform)
    try:
        if BOOT == "systemd":
            wait_booted(node)
            proc = node.exec("sh", "-c", 'mkdir -p "$1" "$2" && tar -x -C "$1"', "sh", SCRIPT_DIR, WORKDIR,
                             stdin=tar_of(impl_files()))
        else:
            proc = node.exec("sh", "-c", QUICK_SETUP, "sh", SYSLOG_SINK, SCRIPT_DIR, WORKDIR,
                             stdin=tar_of(impl_files()))
        if proc.returncode != 0:
            raise RuntimeError(f"{name}: set-up failed: {proc.stderr.decode(errors='replace')}")
    except BaseException:
        stop_node(node)
        raise
    return node


def stop_node(node: Node) -> None:
    """Remove one container this module started."""
    containers.remove(node.name)


def stop_nodes(nodes: Sequence[Node]) -> None:
    """Remove containers this module started: one ``docker rm`` for all."""
    if nodes:
        docker("rm", "--force", "--volumes", *(node.name for node in nodes), check=False)


class NodeFactory:
    """Starts containers on demand and removes every one of them when closed."""

    def __init__(self) -> None:
        self.started: list[Node] = []

    def __call__(self, platform: Platform) -> Node:
        node = start_node(platform)
        self.started.append(node)
        return node

    def close(self) -> None:
        started, self.started = self.started, []
        stop_nodes(started)


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """As ``docker cp`` leaves a copied file: owned by root (its mode kept)."""
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def tar_of(files: dict[str, Path]) -> bytes:
    """A tar stream of ``files`` (name in the archive -> local file), owned by root, for ``tar -x``."""
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w") as tar:
        for name, local in files.items():
            tar.add(local, arcname=name, filter=_owned_by_root)
    return stream.getvalue()


def tar_of_data(files: dict[str, bytes | str | tuple[bytes | str, str]]) -> bytes:
    """A tar stream of ``files`` (name in the archive -> data, or (data, mode); mode 0644 by
    default), owned by root, for ``tar -x``; the folders in the names are left to ``tar``."""
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w") as tar:
        for name, value in files.items():
            data, mode = value if isinstance(value, tuple) else (value, "0644")
            raw = data.encode() if isinstance(data, str) else data
            info = _owned_by_root(tarfile.TarInfo(name))
            info.size, info.mode, info.mtime = len(raw), int(mode, 8), int(time.time())
            tar.addfile(info, io.BytesIO(raw))
    return stream.getvalue()


class SharedNode:
    """One container reused by tests that must change nothing; replaced whenever one did change it.

    ``PREPARE`` runs once on each new container. The snapshot right after it is the baseline;
    ``get()`` hands the container out only while its snapshot still equals that baseline (which
    includes: no injected command left ``/tmp/pwned``), else it is replaced: one failure never spills
    into the next test.
    """

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.current: Node | None = None
        self.baseline: dict[str, str] = {}
        self.verified = False      # the last test saw the baseline after its run: no need to look again

    def get(self) -> Clean:
        if self.current is not None and not self.verified and self.current.snapshot() != self.baseline:
            self.close()
        if self.current is None:
            self.current = start_node(self.platform)
            self.current.sh(PREPARE)
            self.baseline = self.current.snapshot()
        self.verified = False
        return Clean(self.current, self.baseline, self)

    def close(self) -> None:
        if self.current is not None:
            stop_node(self.current)
            self.current = None


@dataclass
class Clean:
    """A shared container known to be in its baseline state, and that state."""

    node: Node
    before: dict[str, str]
    holder: SharedNode
    after: dict[str, str] | None = None     # taken right after the last run, when the run did so

    def snapshot_after(self) -> dict[str, str]:
        """The state after the last run (taken now if the run did not); when it is still the baseline,
        the next test need not look again."""
        after = self.after if self.after is not None else self.node.snapshot()
        self.after = None
        self.holder.verified = after == self.before
        return after


