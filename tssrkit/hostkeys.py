"""SSH host keys of the hosts the kit connects to: a known key is checked, an unknown one refused.

What OpenSSH does with ``StrictHostKeyChecking yes`` (and ``accept-new`` when asked to):

- Lab hosts (``tssr-lab1``…): the lab's own known_hosts (``inv lab.up`` writes it from each container's
  key) and nothing else. An unknown or changed key is refused, always; the options below do not apply.
- Other hosts: the known_hosts files ssh itself reads for that host — ``UserKnownHostsFile`` and
  ``GlobalKnownHostsFile`` from ``~/.ssh/config`` and ``/etc/ssh/ssh_config``; by default
  ``~/.ssh/known_hosts``, ``~/.ssh/known_hosts2``, ``/etc/ssh/ssh_known_hosts``,
  ``/etc/ssh/ssh_known_hosts2``. ``--known-hosts FILE`` takes the place of the user files, as
  ``ssh -o UserKnownHostsFile=FILE`` does (the global files are still read).

  - a known key: accepted;
  - a changed key (the host is known with another key) or a key marked ``@revoked``: refused, whatever
    the options say;
  - an unknown host: refused, unless ``--accept-new-host-key`` (or ``StrictHostKeyChecking accept-new``
    — or ``no`` — for that host in the ssh config, which then means accept-new): the key is accepted and
    appended to the first user known_hosts file (the ``--known-hosts`` FILE when given), so that the next
    run needs no option. The line is hashed when the ssh config says ``HashKnownHosts yes`` (as ssh would
    write it; Debian's /etc/ssh/ssh_config does), plain otherwise.

An unknown or changed key is refused before authentication: no credential is offered to that host and
nothing runs there. Not supported, so such a host is simply unknown here: ``@cert-authority`` lines,
``HostKeyAlias``, wildcard or negated patterns in known_hosts (paramiko matches exact names and hashed
entries only).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import getpass
import hashlib
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fabric import Connection
from paramiko import BadHostKeyException, HostKeys, MissingHostKeyPolicy, PKey, SSHClient, SSHException
from paramiko.hostkeys import HostKeyEntry, InvalidHostKey

DEFAULT_USER_FILES = "~/.ssh/known_hosts ~/.ssh/known_hosts2"
DEFAULT_GLOBAL_FILES = "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2"
# StrictHostKeyChecking values that let a new key in. `no` too: ssh would also accept a CHANGED key
# then, the kit never does.
ACCEPT_NEW_SETTINGS = frozenset({"accept-new", "no", "off"})
OPTION_ACCEPT = "--accept-new-host-key"
OPTION_FILE = "--known-hosts"

_recording = threading.Lock()   # hosts run in threads: one append to a known_hosts file at a time


class HostKeyError(SSHException):
    """A host key refused (unknown, changed, revoked) or a known_hosts file that cannot be used: one
    line naming the host, the key and what to do."""


@dataclass(frozen=True)
class Options:
    """The operator's choices for hosts outside the lab (``--known-hosts``, ``--accept-new-host-key``)."""

    known_hosts: Path | None = None   # read and recorded into, in place of the user known_hosts files
    accept_new: bool = False          # an unknown host's key is accepted and recorded; never a changed one

    @classmethod
    def parse(cls, known_hosts: str | None, accept_new: bool) -> Options:
        """The options as given on the command line; a file that cannot serve raises ValueError."""
        path = Path(known_hosts).expanduser() if known_hosts else None
        if path is not None:
            if path.exists() and not path.is_file():
                raise ValueError(f"{OPTION_FILE} {known_hosts}: not a file")
            if path.exists() and not os.access(path, os.R_OK):
                raise ValueError(f"{OPTION_FILE} {known_hosts}: not readable")
            if accept_new and not path.exists() and not path.parent.is_dir():
                raise ValueError(f"{OPTION_FILE} {known_hosts}: no folder {path.parent} to create it in")
        return cls(path, bool(accept_new))


_options = Options()


def current() -> Options:
    """The options of the run in progress (strict, no file of its own, unless a task set them)."""
    return _options


@contextlib.contextmanager
def using(options: Options) -> Iterator[Options]:
    """Connections made inside the block follow ``options``."""
    global _options  # noqa: PLW0603 — one CLI run, one setting; restored on the way out
    previous, _options = _options, options
    try:
        yield options
    finally:
        _options = previous


def fingerprint(key: PKey) -> str:
    """``SHA256:…`` as ``ssh`` and ``ssh-keygen -l`` print it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def describe(key: PKey) -> str:
    return f"{key.get_name()} {fingerprint(key)}"


def entry_name(host: str, port: int) -> str:
    """How known_hosts names a host: ``host``, or ``[host]:port`` off port 22."""
    return host if port == 22 else f"[{host}]:{port}"


def _host_key_file(key: PKey) -> str:
    """The host's own public key file for this type, to compare fingerprints on its console."""
    kind = key.get_name().removeprefix("ssh-").split("-")[0]      # ssh-ed25519 → ed25519, ecdsa-sha2… → ecdsa
    return f"/etc/ssh/ssh_host_{kind}_key.pub"


def expand_files(value: str, tokens: dict[str, str]) -> list[Path]:
    """The paths of a ``UserKnownHostsFile``/``GlobalKnownHostsFile`` value: several, space-separated,
    with ``~`` and the ``%`` tokens ssh expands there; ``none`` is no file."""
    words = value.split()
    if words == ["none"]:
        return []

    def token(match: re.Match[str]) -> str:
        if match.group(0) not in tokens:
            raise HostKeyError(f"cannot expand {match.group(0)} in the known_hosts file name {value!r}")
        return tokens[match.group(0)]

    return [Path(re.sub(r"%.", token, word)).expanduser() for word in words]


def read_file(path: Path, into: HostKeys | None = None) -> tuple[HostKeys, set[tuple[str, str]]]:
    """The host keys of a known_hosts file, and the (type, base64) of its ``@revoked`` lines (such a key
    is refused for every host). Lines paramiko cannot read (``@cert-authority``, an unknown key type,
    broken base64) are skipped, as ssh skips them. A missing file is empty; another error raises OSError."""
    keys = into if into is not None else HostKeys()
    revoked: set[tuple[str, str]] = set()
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return keys, revoked
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            words = line.split()
            if words[0] == "@revoked" and len(words) >= 4:
                revoked.add((words[2], words[3]))
            continue
        try:
            entry = HostKeyEntry.from_line(line)
        except (InvalidHostKey, SSHException, ValueError):
            continue
        if entry is not None:
            for name in entry.hostnames:
                keys.add(name, entry.key.get_name(), entry.key)
    return keys, revoked


@dataclass
class KnownHosts:
    """The known_hosts files one connection trusts, and what to do with an unknown key."""

    read: list[Path]                  # trusted keys, in order (user files first, then global ones)
    record: Path | None = None        # where an accepted new key is appended (None: nowhere)
    accept_new: bool = False
    hashed: bool = False              # record the host's name hashed (HashKnownHosts yes)
    given: bool = False               # `record` came from --known-hosts
    revoked: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def for_lab(cls, known_hosts: Path) -> KnownHosts:
        return cls([known_hosts])

    @classmethod
    def for_host(cls, conn: Connection, options: Options) -> KnownHosts:
        """What ssh would trust for ``conn`` (its ssh config), with the operator's options on top."""
        config = conn.ssh_config
        tokens = {"%%": "%", "%d": str(Path.home()), "%u": getpass.getuser(), "%h": conn.host,
                  "%n": conn.original_host, "%k": conn.original_host, "%p": str(conn.port),
                  "%r": conn.user or ""}
        if options.known_hosts is not None:
            user_files = [options.known_hosts]
        else:
            user_files = expand_files(config.get("userknownhostsfile", DEFAULT_USER_FILES), tokens)
        global_files = expand_files(config.get("globalknownhostsfile", DEFAULT_GLOBAL_FILES), tokens)
        strict = str(config.get("stricthostkeychecking", "ask")).lower()
        return cls(read=[*user_files, *global_files], record=user_files[0] if user_files else None,
                   accept_new=options.accept_new or strict in ACCEPT_NEW_SETTINGS,
                   hashed=str(config.get("hashknownhosts", "no")).lower() == "yes",
                   given=options.known_hosts is not None)

    def install(self, client: SSHClient) -> None:
        """Load the trusted keys into ``client``; unknown keys go to this object's policy."""
        for path in self.read:
            try:
                _, revoked = read_file(path, into=client.get_host_keys())
            except OSError as exc:
                raise HostKeyError(f"cannot read the known_hosts file {path}: {exc.strerror}") from None
            self.revoked |= revoked
        client.set_missing_host_key_policy(_Policy(self))

    # ---- decisions ------------------------------------------------------------------------------
    def is_revoked(self, key: PKey) -> bool:
        return (key.get_name(), key.get_base64()) in self.revoked

    def unknown(self, name: str, key: PKey) -> None:
        """A host none of the files knows: refuse it, or accept and record its key."""
        if self.is_revoked(key):
            raise HostKeyError(self.revoked_message(name, key))
        if not self.accept_new:
            raise HostKeyError(self.unknown_message(name, key))
        if self.record is None:
            raise HostKeyError(f"{name}: unknown host key {describe(key)} and no known_hosts file to record "
                               f"it in (UserKnownHostsFile none): give {OPTION_FILE} FILE")
        self._append(name, key)

    def _append(self, name: str, key: PKey) -> None:
        """Append ``name key`` to the record file (created 0600), unless a run meanwhile did."""
        path = self.record
        if path is None:
            raise HostKeyError(f"{name}: no known_hosts file to record the key in")
        with _recording:
            if not path.parent.exists() and not self.given:
                path.parent.mkdir(mode=0o700, parents=True)      # ~/.ssh, as ssh makes it
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "r+", encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)               # and one process at a time
                text = handle.read()
                keys, _ = read_file(path)
                found = keys.lookup(name)
                if found is not None:
                    if keys.check(name, key):
                        return
                    raise HostKeyError(self.changed_message(name, key, next(iter(found.values()))))
                entry = HostKeys.hash_host(name) if self.hashed else name
                separator = "" if not text or text.endswith("\n") else "\n"
                handle.write(f"{separator}{entry} {key.get_name()} {key.get_base64()}\n")

    # ---- messages (one line each: the summary table shows the first line) ------------------------
    def unknown_message(self, name: str, key: PKey) -> str:
        option = OPTION_ACCEPT + (f" {OPTION_FILE} {self.record}" if self.given else "")
        where = f"to record it in {self.record}" if self.record else f"with {OPTION_FILE} FILE to record it"
        return (f"{name}: unknown host key {describe(key)}: refused, nothing was run there. Compare it with "
                f"the host's own key (on its console: ssh-keygen -lf {_host_key_file(key)}), then run again "
                f"with {option} {where}")

    def changed_message(self, name: str, key: PKey, expected: PKey | None) -> str:
        where = self.file_knowing(name)
        known = (f"{where or 'known_hosts'} has {describe(expected)}" if expected is not None
                 else "it is known with another key")
        fix = f"ssh-keygen -R '{name}'" + (f" -f {where}" if where else "")
        return (f"{name}: host key CHANGED: it offers {describe(key)}, {known}: refused (even with "
                f"{OPTION_ACCEPT}), nothing was run there. If the host was reinstalled, check its new key on "
                f"its console, then remove the old one: {fix}")

    def revoked_message(self, name: str, key: PKey) -> str:
        return f"{name}: host key {describe(key)} is marked @revoked: refused, nothing was run there"

    def file_knowing(self, name: str) -> Path | None:
        """The first trusted file that has a key for ``name``."""
        for path in self.read:
            with contextlib.suppress(OSError):
                if read_file(path)[0].lookup(name) is not None:
                    return path
        return None


class _Policy(MissingHostKeyPolicy):
    """paramiko asks this when none of the loaded files knows the host."""

    def __init__(self, known: KnownHosts) -> None:
        self.known = known

    def missing_host_key(self, client: SSHClient, hostname: str, key: PKey) -> None:
        self.known.unknown(hostname, key)


class CheckedConnection(Connection):
    """A Fabric connection whose host key is checked against ``known_hosts`` (a KnownHosts), with
    refusals as one clear line (HostKeyError) instead of paramiko's own messages."""

    known_hosts: KnownHosts | None = None     # a class attribute, so that Fabric keeps it as an attribute

    def use(self, known: KnownHosts) -> CheckedConnection:
        self.known_hosts = known
        known.install(self.client)
        return self

    def open(self):  # noqa: ANN201 — Fabric's own signature
        known = self.known_hosts
        if self.is_connected:
            return super().open()
        if known is None:
            raise HostKeyError(f"{self.host}: no known_hosts set for this connection (a bug)")
        name = entry_name(self.host, self.port)
        try:
            result = super().open()
        except BadHostKeyException as exc:
            raise HostKeyError(known.changed_message(name, exc.key, exc.expected_key)) from None
        transport = self.client.get_transport()
        if transport is not None and known.is_revoked(transport.get_remote_server_key()):
            key = transport.get_remote_server_key()
            self.close()
            raise HostKeyError(known.revoked_message(name, key))
        return result
