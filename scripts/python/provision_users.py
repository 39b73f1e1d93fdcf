#!/usr/bin/env python3
"""Create, update and disable local Linux users from a CSV file (tssr-kit, Python twin).

The file format, every rule and every message are specified in docs/reference/users-csv.md; the
Bash twin scripts/bash/users/provision-users.sh follows the same page and passes the same tests.

Usage:
  provision_users.py [--dry-run] [--password-file PATH] [--allow-group GROUP]... [--quiet] CSV_FILE

  CSV_FILE              the users file: a header line, then one user per line, columns
                        login;first_name;last_name[;groups][;shell][;ssh_key][;state]
  -n, --dry-run         validate everything (file and host), print the planned changes, change nothing
  --password-file PATH  where the new users' passwords go (default
                        /var/lib/tssr-kit/users/passwords-<UTC YYYYmmddTHHMMSSZ>.csv), written only
                        when a password is generated; folder 0700, file 0600, both root-owned. A
                        given file must not exist yet; its folder must be root 0700 or not exist
  --allow-group GROUP   let the file name GROUP although it is privileged (sudo, adm, docker...), a
                        system group (GID outside 1000-60000) or a group provision_users did not
                        create; repeat the option for each group. root never is
  -q, --quiet           narration only for changes and errors

A file grants no privilege by itself: privileged, system and foreign groups, and accounts that are
members of a privileged group, are refused unless --allow-group names each group; an existing account it
did not create and that sudo trusts (sudo -l -U) is refused (the list and the reasons:
docs/reference/users-csv.md).

Examples:
  # See what would change, change nothing (root is needed: /etc/shadow is read):
  sudo python3 provision_users.py --dry-run users.csv

  # Apply; the passwords of the new users go to a file you choose:
  sudo python3 provision_users.py --password-file /root/new-staff.csv users.csv

  # From cron or a driver: only changes and errors are narrated, the last stdout line is JSON:
  sudo python3 provision_users.py -q users.csv | tail -n 1

  # These rows may make administrators (the file lists `sudo` in their groups):
  sudo python3 provision_users.py --allow-group sudo admins.csv

  A users.csv (';' or ',' as delimiter, quotes as in RFC 4180, UTF-8):
    login;first_name;last_name;groups;shell;ssh_key;state
    alice;Alice;Martin;compta dev;;ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... alice@pc;
    bob;Bob;Durand;;/bin/sh;;absent

Exit codes:
  0  success (changes made, or nothing to do)
  1  runtime failure (a system command failed)
  2  usage or validation error: nothing was changed
  3  another run holds the lock (/run/tssr-kit/provision-users.lock)

What it changes:
  /etc/passwd, /etc/shadow, /etc/group, /etc/gshadow through newusers (one batch for all new users),
  chage -d 0, chpasswd, usermod, groupadd and gpasswd -M; /home/LOGIN of new users (filled from
  /etc/skel); ~LOGIN/.ssh/authorized_keys when ssh_key is given (an existing user's is written as that
  user); the password file; the record of the groups it created, /var/lib/tssr-kit/users/created-groups
  (name:gid lines, root-only). Only accounts with
  1000 <= UID <= 60000 are ever touched. Leavers (state absent) are locked, expired and given the
  no-login shell; their home, groups and keys are kept. Narration goes to stderr, actions to syslog
  (tag tssr-provision-users), and the last line on stdout is one JSON object:
  {"script": "provision-users", "status": ..., "changed": N, "dry_run": ..., "impl": "python", ...}.
  Passwords are never printed, logged or passed on a command line.

Supported OS families:
  debian (Debian 12 and 13, Ubuntu) and redhat (RHEL, Rocky, AlmaLinux, Fedora), detected from
  /etc/os-release (ID, then ID_LIKE); anything else is refused (exit 2). Runs as root with the system
  python3 (3.9 or later — the system python3 of EL 9 and Debian 12/13 —, standard library only).

Importable parts (no root needed, used by tests/unit/test_provision_users_parse.py):
  parse_csv(data, filename) -> (records, problems)       bytes -> Records of a valid header
  validate_rows(records, filename) -> (users, problems)   field rules and duplicates -> valid Users
  read_host_state(records, root) -> HostState             /etc/passwd, shadow, group, shells, homes
  validate_against_host(records, host, filename) -> problems
  plan(users, host) -> Plan                               what would change; nothing is done
  apply(plan, host, password_file, runner) -> Outcome     does it (runner runs the system commands)
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import datetime
import fcntl
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import stat
import string
import subprocess
import sys
import syslog
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

SCRIPT = "provision-users"
IMPL = "python"
SYSLOG_TAG = "tssr-provision-users"
LOCK_FILE = "/run/tssr-kit/provision-users.lock"
STATE_DIR = "/var/lib/tssr-kit/users"
# The groups this script created (name:gid lines): the only existing groups in the managed range a file
# may name without --allow-group. Root-only, in the root-only STATE_DIR.
GROUP_RECORD = f"{STATE_DIR}/created-groups"
HOME_BASE = "/home"
SKEL_DIR = "/etc/skel"
DEFAULT_SHELL = "/bin/bash"
UID_MIN, UID_MAX = 1000, 60000  # the only accounts (and groups, for name clashes) this script manages
PASSWORD_LENGTH = 20
PASSWORD_ALPHABET = string.ascii_letters + string.digits
# Child processes get a fixed PATH (root must not run whatever the caller's PATH finds first) and a UTF-8
# locale (accented GECOS fields).
CHILD_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"}

# Per-OS-family table: everything that differs between families lives here.
FAMILIES: dict[str, dict[str, str]] = {
    "debian": {"nologin": "/usr/sbin/nologin"},
    "redhat": {"nologin": "/sbin/nologin"},
}
# os-release ID / ID_LIKE words -> family.
FAMILY_OF_ID = {
    "debian": "debian", "ubuntu": "debian",
    "rhel": "redhat", "redhat": "redhat", "centos": "redhat", "fedora": "redhat",
    "rocky": "redhat", "almalinux": "redhat", "ol": "redhat",
}

# ---- the file format (docs/reference/users-csv.md) -------------------------------------------------
COLUMNS = ("login", "first_name", "last_name", "groups", "shell", "ssh_key", "state")
REQUIRED_COLUMNS = ("login", "first_name", "last_name")
BOM = b"\xef\xbb\xbf"
NAME_PATTERN = "^[a-z_][a-z0-9_-]{0,31}$"  # logins and group names
NAME_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
SHELL_PATTERN = "^/[A-Za-z0-9._/+-]+$"
SHELL_RE = re.compile(r"/[A-Za-z0-9._/+-]+")
PERSON_NAME_MAX = 64
PERSON_NAME_EXTRA = frozenset(" -'\u2019.")  # besides letters and combining accents U+0300-U+036F
STATES = ("present", "absent")
# Groups that make an administrator or reach the system's secrets, refused whatever their GID and even
# before they exist (a package installed later may adopt a group of that name): sudo rights (sudo,
# wheel, admin), root-equivalent devices and daemons (disk, kmem, mem, docker, lxd, incus, libvirt,
# kvm, microk8s), logs and secrets (adm, systemd-journal, shadow, ssl-cert, _ssh, ssh, mail, crontab),
# other users' terminals, screens and keyboards (tty, video, input), /usr/local (staff), printing
# administration (lpadmin), packet capture (wireshark). The same list as the Bash twin's.
PRIVILEGED_GROUPS = frozenset({
    "_ssh", "adm", "admin", "crontab", "disk", "docker", "incus", "incus-admin", "input", "kmem", "kvm",
    "libvirt", "lpadmin", "lxd", "mail", "mem", "microk8s", "root", "shadow", "ssh", "ssl-cert", "staff",
    "sudo", "sys", "systemd-journal", "tty", "video", "wheel", "wireshark",
})
# System groups (GID below 1000) that grant nothing and that files may name: `users` (GID 100).
ORDINARY_SYSTEM_GROUPS = frozenset({"users"})
DIGITS_RE = re.compile(r"[0-9]{1,18}")  # a UID or GID field (ASCII digits only: str.isdigit takes '²')
# Key type -> (minimum, maximum) decoded length in bytes; None = no length rule in the spec.
KEY_LENGTHS: dict[str, tuple[int, int | None] | None] = {
    "ssh-ed25519": (51, 51),
    "ecdsa-sha2-nistp256": (104, 104),
    "ecdsa-sha2-nistp384": (136, 136),
    "ecdsa-sha2-nistp521": (172, 172),
    "ssh-rsa": (279, None),  # 279 bytes = a 2048-bit modulus
    "sk-ssh-ed25519@openssh.com": None,
    "sk-ecdsa-sha2-nistp256@openssh.com": None,
}
KEY_RE = re.compile(r"([^ ]+) +([^ ]+)(?: +(.*))?")
KEY_COMMENT_MAX = 100
KEY_COMMENT_CHARS = frozenset(string.ascii_letters + string.digits + "._@+=-/ ")

CHANGE = 25  # log level between INFO and WARNING: a change made or planned (still shown with --quiet)
log = logging.getLogger("provision_users")


# ---- data ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One validation problem, printed as `<file>:<line>: <field>: <message>`."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.field}: {self.message}"


@dataclass(frozen=True)
class Record:
    """One data line of the CSV: its physical line number and its fields by column name."""

    line: int
    values: dict[str, str]


@dataclass(frozen=True)
class User:
    """One validated row: what the file asks for this login."""

    line: int
    login: str
    first_name: str
    last_name: str
    groups: tuple[str, ...] = ()
    shell: str = DEFAULT_SHELL
    ssh_key: str = ""
    state: str = "present"

    @property
    def gecos(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class Account:
    """One /etc/passwd entry."""

    name: str
    uid: int
    gid: int
    gecos: str
    home: str
    shell: str


@dataclass(frozen=True)
class ShadowEntry:
    """The two /etc/shadow fields that matter here (expire is the raw field: '' = never)."""

    password: str
    expire: str = ""


@dataclass(frozen=True)
class Group:
    """One /etc/group entry."""

    name: str
    gid: int
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeyState:
    """What ~/.ssh/authorized_keys of an existing user looks like now."""

    problem: str | None = None  # a reason to refuse (symlink, missing home...)
    ssh_dir_ok: bool = False  # ~/.ssh exists, is a directory, 0700, owned by the user (UID)
    content: bytes | None = None  # None: no authorized_keys
    file_ok: bool = False  # authorized_keys is 0600 and owned by the user (UID)


@dataclass
class HostState:
    """Everything read from the host, once, before validation and planning."""

    os_family: str | None = "debian"
    users: dict[str, Account] = field(default_factory=dict)
    shadow: dict[str, ShadowEntry] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    shells: frozenset[str] = frozenset({"/bin/sh", "/bin/bash", "/usr/bin/bash"})
    existing_homes: frozenset[str] = frozenset()  # /home/LOGIN paths (of new logins) that exist
    keys: dict[str, KeyState] = field(default_factory=dict)  # login -> state, existing users with a key
    today: int = 0  # days since 1970-01-01
    created_groups: frozenset[tuple[str, int]] = frozenset()  # GROUP_RECORD: (name, gid) it created
    record_problem: str | None = None  # GROUP_RECORD cannot be trusted: the run stops (exit 2)
    # Existing accounts this script did not create that sudo trusts ("may") or cannot tell ("unknown").
    sudo_rights: dict[str, str] = field(default_factory=dict)


@dataclass
class NewUser:
    login: str
    gecos: str
    shell: str
    groups: tuple[str, ...]
    ssh_key: str
    gid: int | None = None  # an existing in-range group of the same name becomes the primary group


@dataclass
class UserChange:
    """Changes to one existing user (update of a present row, or disabling of an absent row)."""

    login: str
    usermod: list[str] = field(default_factory=list)  # usermod options (values validated already)
    new_password: bool = False  # locked with no usable password left: generate one
    ssh_key: str = ""  # the key to write ('' = leave authorized_keys alone)
    groups_added: list[str] = field(default_factory=list)
    groups_removed: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """What a run does. `changed` counts users created, updated, disabled and groups created."""

    create_users: list[NewUser] = field(default_factory=list)
    update_users: list[UserChange] = field(default_factory=list)
    disable_users: list[UserChange] = field(default_factory=list)
    create_groups: list[str] = field(default_factory=list)
    set_members: dict[str, list[str]] = field(default_factory=dict)  # group -> its complete new list
    member_changes: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)  # (added, removed)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return (len(self.create_users) + len(self.update_users) + len(self.disable_users)
                + len(self.create_groups))

    @property
    def needs_passwords(self) -> bool:
        return bool(self.create_users) or any(c.new_password for c in self.update_users)


@dataclass
class Outcome:
    """What apply() did (also when it stopped half way)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    groups_created: list[str] = field(default_factory=list)
    password_file: str | None = None

    @property
    def changed(self) -> int:
        return len(self.created) + len(self.updated) + len(self.disabled) + len(self.groups_created)


class CommandError(RuntimeError):
    """A system command failed (exit 1)."""


class UsageError(Exception):
    """Bad command line (exit 2)."""


# ---- parsing ---------------------------------------------------------------------------------------
def shown(value: str) -> str:
    """Quote a value for a message, with control and invisible characters escaped."""
    out = []
    for ch in value:
        if ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "'" + "".join(out) + "'"


def describe_char(ch: str) -> str:
    """One character for a message: 'c' (printable ASCII), 'é' (U+00E9), or U+0009 when invisible."""
    if " " <= ch <= "~":
        return f"'{ch}'"
    if ch.isprintable() and not ch.isspace():
        return f"'{ch}' (U+{ord(ch):04X})"
    return f"U+{ord(ch):04X}"


def split_line(text: str, delimiter: str) -> tuple[list[str], tuple[int, str] | None]:
    """Split one line into fields (the spec's RFC 4180 subset).

    Returns (fields, None), or (fields so far, (index of the faulty field, message)) where the message
    is `text after closing quote`, `quote inside unquoted field` or `unterminated quoted field`.
    Spaces around a field are dropped; inside double quotes "" is one quote; no field spans lines.
    """
    fields: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] == " ":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            chunk: list[str] = []
            while True:
                if i >= n:
                    return fields, (len(fields), "unterminated quoted field")
                if text[i] == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        chunk.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                chunk.append(text[i])
                i += 1
            while i < n and text[i] == " ":
                i += 1
            if i < n and text[i] != delimiter:
                return fields, (len(fields), "text after closing quote")
            fields.append("".join(chunk))
            if i >= n:
                return fields, None
            i += 1
        else:
            end = text.find(delimiter, i)
            raw = text[i:] if end < 0 else text[i:end]
            if '"' in raw:
                return fields, (len(fields), "quote inside unquoted field")
            fields.append(raw.rstrip(" "))
            if end < 0:
                return fields, None
            i = end + 1


def parse_csv(data: bytes, filename: str) -> tuple[list[Record], list[Problem]]:
    """Decode and split the users file; check the header and the field count of every row.

    Returns the data rows (fields keyed by column name) and every problem found:
    - a line with a NUL byte or invalid UTF-8 is reported (field `encoding`) and not read further;
    - a quoting error is reported on the column of the faulty field (`row` past the last column);
    - a header with a problem is reported alone: rows cannot be read against it.
    """
    problems: list[Problem] = []
    if data.startswith(BOM):
        data = data[len(BOM):]
    header: tuple[int, str] | None = None
    header_seen = False
    rows: list[tuple[int, str]] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw.strip(b" "):
            continue  # empty line
        is_header = not header_seen
        header_seen = True
        if b"\0" in raw:
            problems.append(Problem(filename, number, "encoding", "NUL byte"))
            continue
        try:
            text = raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            problems.append(Problem(filename, number, "encoding", "invalid UTF-8"))
            continue
        if is_header:
            header = (number, text)
        else:
            rows.append((number, text))
    if not header_seen:
        problems.append(Problem(filename, 1, "header", "no header line (the file is empty)"))
        return [], problems
    if header is None:  # the header line itself could not be decoded: reported above
        return [], problems

    header_line, header_text = header
    delimiter = ";" if ";" in header_text else ","
    names, error = split_line(header_text, delimiter)
    if error:
        problems.append(Problem(filename, header_line, "header", error[1]))
        return [], problems
    columns = [name.strip(" ") for name in names]
    header_problems: list[Problem] = []
    for position, name in enumerate(columns):
        if name not in COLUMNS:
            header_problems.append(Problem(filename, header_line, "header", f"unknown column {shown(name)}"))
        elif name in columns[:position]:
            header_problems.append(Problem(filename, header_line, "header", f"repeated column {shown(name)}"))
    for name in REQUIRED_COLUMNS:
        if name not in columns:
            header_problems.append(Problem(filename, header_line, "header",
                                           f"missing required column '{name}'"))
    if header_problems:
        return [], problems + header_problems

    records: list[Record] = []
    for number, text in rows:
        fields, error = split_line(text, delimiter)
        if error:
            index, message = error
            column = columns[index] if index < len(columns) else "row"
            problems.append(Problem(filename, number, column, message))
            continue
        if len(fields) != len(columns):
            problems.append(Problem(filename, number, "row",
                                    f"expected {len(columns)} fields, found {len(fields)}"))
            continue
        records.append(Record(number, dict(zip(columns, fields))))  # same length: checked above
    return records, problems


# ---- field rules -----------------------------------------------------------------------------------
def check_login(value: str) -> str | None:
    """`^[a-z_][a-z0-9_-]{0,31}$`, not root."""
    if not NAME_RE.fullmatch(value):
        return f"{shown(value)} does not match {NAME_PATTERN}"
    if value == "root":
        return "'root' is not allowed"
    return None


def check_person_name(value: str) -> str | None:
    """1-64 letters (any script), combining accents, spaces, - ' ’ . ; starting with a letter."""
    if not value:
        return "must not be empty"
    for ch in value:
        if not (ch.isalpha() or "\u0300" <= ch <= "\u036f" or ch in PERSON_NAME_EXTRA):
            return f"character {describe_char(ch)} is not allowed"
    if not value[0].isalpha():
        return "must start with a letter"
    if len(value) > PERSON_NAME_MAX:
        return f"is {len(value)} characters long, at most {PERSON_NAME_MAX} allowed"
    return None


def check_groups(value: str) -> tuple[tuple[str, ...], list[str]]:
    """Space-separated group names (login rule, not root): (valid names without repeats, one message per
    bad name)."""
    names: list[str] = []
    messages: list[str] = []
    for name in value.split(" "):
        if not name:
            continue
        if not NAME_RE.fullmatch(name):
            messages.append(f"{shown(name)} does not match {NAME_PATTERN}")
        elif name == "root":
            messages.append("'root' is not allowed")
        elif name not in names:
            names.append(name)
    return tuple(names), messages


def check_shell(value: str) -> str | None:
    """An absolute path of safe characters (the /etc/shells check is a host check)."""
    if not SHELL_RE.fullmatch(value):
        return f"{shown(value)} does not match {SHELL_PATTERN}"
    return None


def check_ssh_key(value: str) -> str | None:
    """One OpenSSH public key `TYPE BASE64 [COMMENT]`, decoded and measured (see KEY_LENGTHS)."""
    match = KEY_RE.fullmatch(value)
    if not match:
        return "expected 'TYPE BASE64 [COMMENT]'"
    key_type, data, comment = match.group(1), match.group(2), match.group(3) or ""
    if key_type not in KEY_LENGTHS:
        return f"unknown key type {shown(key_type)}"
    try:
        blob = base64.b64decode(data.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return "key data is not valid base64"
    name = key_type.encode("ascii")
    if blob[:4] != len(name).to_bytes(4, "big") or blob[4:4 + len(name)] != name:
        return f"decoded key does not start with its type '{key_type}'"
    bounds = KEY_LENGTHS[key_type]
    if bounds is not None:
        low, high = bounds
        if high is not None and not low <= len(blob) <= high:
            return f"decoded key is {len(blob)} bytes, {key_type} needs exactly {low}"
        if high is None and len(blob) < low:
            return f"decoded key is {len(blob)} bytes, {key_type} needs at least {low} (2048 bits)"
    if len(comment) > KEY_COMMENT_MAX:
        return f"comment is longer than {KEY_COMMENT_MAX} characters"
    for ch in comment:
        if ch not in KEY_COMMENT_CHARS:
            return f"character {describe_char(ch)} is not allowed in the comment"
    if any(other in comment for other in KEY_LENGTHS):
        return "the comment holds a key type name: one key per user"
    return None


def check_state(value: str) -> str | None:
    if value not in STATES:
        return f"{shown(value)} must be 'present' or 'absent'"
    return None


def validate_rows(records: Iterable[Record], filename: str) -> tuple[list[User], list[Problem]]:
    """Apply the field rules to every record; return the users whose row is entirely valid, and every
    problem. A login seen twice is an error on the second line (`'bob' duplicates line 3`)."""
    users: list[User] = []
    problems: list[Problem] = []
    first_line: dict[str, int] = {}
    for record in records:
        values = record.values
        found: list[tuple[str, str]] = []
        login = values["login"]
        message = check_login(login)
        if message is None and login in first_line:
            message = f"{shown(login)} duplicates line {first_line[login]}"
        elif message is None:
            first_line[login] = record.line
        if message:
            found.append(("login", message))
        for column in ("first_name", "last_name"):
            message = check_person_name(values[column])
            if message:
                found.append((column, message))
        state = values.get("state", "") or "present"
        message = check_state(state)
        if message:
            found.append(("state", message))
        groups, messages = check_groups(values.get("groups", ""))
        found += [("groups", m) for m in messages]
        shell = values.get("shell", "") or DEFAULT_SHELL
        message = check_shell(shell)
        if message:
            found.append(("shell", message))
        ssh_key = values.get("ssh_key", "")
        message = check_ssh_key(ssh_key) if ssh_key else None
        if message:
            found.append(("ssh_key", message))
        problems += [Problem(filename, record.line, column, message) for column, message in found]
        if not found:
            users.append(User(record.line, login, values["first_name"], values["last_name"],
                              groups, shell, ssh_key, state))
    return users, problems


@dataclass(frozen=True)
class RowView:
    """A record as the host checks see it: only values that passed their own field rule."""

    line: int
    login: str | None  # None: invalid login, or a duplicate of an earlier line
    present: bool  # an invalid state is checked as present
    groups: tuple[str, ...]  # the valid group names
    shell: str | None  # None: invalid
    ssh_key: str  # as given ('' = none)


def host_views(records: Iterable[Record]) -> list[RowView]:
    """What the host checks need from each record (also from records with some invalid fields, so that
    every problem of the file is reported in one run)."""
    views: list[RowView] = []
    seen: set[str] = set()
    for record in records:
        values = record.values
        login: str | None = values["login"]
        if check_login(login) is not None or login in seen:
            login = None
        else:
            seen.add(login)
        shell = values.get("shell", "") or DEFAULT_SHELL
        views.append(RowView(record.line, login, values.get("state", "") != "absent",
                             check_groups(values.get("groups", ""))[0],
                             shell if check_shell(shell) is None else None, values.get("ssh_key", "")))
    return views


# ---- the host --------------------------------------------------------------------------------------
def parse_os_release(text: str) -> dict[str, str]:
    """KEY=VALUE lines of /etc/os-release, shell quoting removed."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        try:
            values[key] = " ".join(shlex.split(value))
        except ValueError:
            values[key] = value.strip("\"'")
    return values


def os_family(os_release: dict[str, str]) -> str | None:
    """`debian`, `redhat` or None, from ID then ID_LIKE."""
    for word in [os_release.get("ID", "")] + os_release.get("ID_LIKE", "").split():
        family = FAMILY_OF_ID.get(word.lower())
        if family:
            return family
    return None


def _read_lines(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith(("#", "+", "-"))]


def read_accounts(path: Path) -> dict[str, Account]:
    accounts: dict[str, Account] = {}
    for f in _read_lines(path):
        if len(f) >= 7 and DIGITS_RE.fullmatch(f[2]) and DIGITS_RE.fullmatch(f[3]):
            accounts.setdefault(f[0], Account(f[0], int(f[2]), int(f[3]), f[4], f[5], f[6]))
    return accounts


def read_shadow(path: Path) -> dict[str, ShadowEntry]:
    entries: dict[str, ShadowEntry] = {}
    for f in _read_lines(path):
        if len(f) >= 8:
            entries.setdefault(f[0], ShadowEntry(f[1], f[7]))
    return entries


def read_groups(path: Path) -> dict[str, Group]:
    groups: dict[str, Group] = {}
    for f in _read_lines(path):
        if len(f) >= 4 and DIGITS_RE.fullmatch(f[2]):
            members = tuple(m for m in f[3].split(",") if m)
            groups.setdefault(f[0], Group(f[0], int(f[2]), members))
    return groups


def read_key_state(home: Path, uid: int, login: str = "") -> KeyState:
    """Look at HOME/.ssh/authorized_keys without following a symlink below HOME. The key is written as
    the user (see write_key_as_user): a home or a ~/.ssh the user does not own is a problem."""
    try:
        return _read_key_state(home, uid, login)
    except OSError as exc:  # changed under our feet (a symlink swapped in, for instance)
        return KeyState(problem=f"cannot read {exc.filename or home}: {exc.strerror or exc}")


def _read_key_state(home: Path, uid: int, login: str) -> KeyState:
    try:
        home_st = home.stat()
        if not stat.S_ISDIR(home_st.st_mode):
            return KeyState(problem=f"home directory {home} is not a directory")
    except FileNotFoundError:
        return KeyState(problem=f"home directory {home} does not exist")
    if home_st.st_uid != uid:
        return KeyState(problem=f"home directory {home} is owned by UID {home_st.st_uid}, not by '{login}': "
                                "refused")
    ssh_dir = home / ".ssh"
    try:
        st = os.lstat(ssh_dir)
    except FileNotFoundError:
        return KeyState()
    if stat.S_ISLNK(st.st_mode):
        return KeyState(problem=f"{ssh_dir} is a symbolic link: refused")
    if not stat.S_ISDIR(st.st_mode):
        return KeyState(problem=f"{ssh_dir} is not a directory")
    ssh_uid = st.st_uid
    ssh_dir_ok = stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == uid
    keys_file = ssh_dir / "authorized_keys"
    try:
        st = os.lstat(keys_file)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISLNK(st.st_mode):
        return KeyState(problem=f"{keys_file} is a symbolic link: refused")
    if st is not None and not stat.S_ISREG(st.st_mode):
        return KeyState(problem=f"{keys_file} is not a regular file")
    if ssh_uid != uid:
        return KeyState(problem=f"{ssh_dir} is owned by UID {ssh_uid}, not by '{login}': refused")
    if st is None:
        return KeyState(ssh_dir_ok=ssh_dir_ok)
    fd = os.open(keys_file, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        content = handle.read(1 << 20)
    file_ok = stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == uid
    return KeyState(ssh_dir_ok=ssh_dir_ok, content=content, file_ok=file_ok)


def read_os_release(root: Path = Path("/")) -> dict[str, str]:
    try:
        return parse_os_release((root / "etc" / "os-release").read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        return {}


def read_host_state(records: Sequence[Record], root: Path = Path("/")) -> HostState:
    """Read accounts, shadow, groups, shells and os-release once; probe the homes the rows need
    (/home/LOGIN of new logins, ~/.ssh of existing users given a key)."""
    etc = root / "etc"
    os_release = read_os_release(root)
    try:
        shells_text = (etc / "shells").read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        shells_text = ""
    shells = frozenset(words[0] for words in map(str.split, shells_text.splitlines())
                       if words and words[0].startswith("/"))
    host = HostState(
        os_family=os_family(os_release),
        users=read_accounts(etc / "passwd"),
        shadow=read_shadow(etc / "shadow"),
        groups=read_groups(etc / "group"),
        shells=shells,
        today=int(time.time() // 86400),
    )
    homes = []
    keys: dict[str, KeyState] = {}
    for view in host_views(records):
        account = host.users.get(view.login or "")
        if view.login is None or not view.present:
            continue
        if account is None:
            home = f"{HOME_BASE}/{view.login}"
            if os.path.lexists(root / home.lstrip("/")):
                homes.append(home)
        elif view.ssh_key and UID_MIN <= account.uid <= UID_MAX:
            keys[view.login] = read_key_state(root / account.home.lstrip("/"), account.uid, view.login)
    host.existing_homes = frozenset(homes)
    host.keys = keys
    host.created_groups, host.record_problem = read_group_record(root)
    if root == Path("/"):        # sudo reads the real /etc/sudoers: never for a fake root (tests)
        host.sudo_rights = read_sudo_rights(records, host)
    return host


def created_by_this_script(account: Account, host: HostState) -> bool:
    """The account's own group (its name, its primary GID) is in GROUP_RECORD: newusers made both."""
    return (account.name, account.gid) in host.created_groups


def read_sudo_rights(records: Sequence[Record], host: HostState) -> dict[str, str]:
    """``sudo -l -U LOGIN`` for each existing account of the managed range that this script did not
    create: login -> "may" (sudo trusts it) or "unknown" (sudo failed). Nothing when sudo is missing."""
    sudo = shutil.which("sudo", path=CHILD_ENV["PATH"])
    rights: dict[str, str] = {}
    if sudo is None:
        return rights
    for view in host_views(records):
        account = host.users.get(view.login or "")
        if account is None or not UID_MIN <= account.uid <= UID_MAX or created_by_this_script(account, host):
            continue
        proc = subprocess.run([sudo, "-n", "-l", "-U", account.name], capture_output=True, env=CHILD_ENV,
                              stdin=subprocess.DEVNULL, check=False)
        if proc.returncode != 0:
            rights[account.name] = "unknown"
        elif b"may run the following commands" in proc.stdout + proc.stderr:
            rights[account.name] = "may"
    return rights


def owned_by_root(st: os.stat_result, private: bool = False) -> bool:
    """Owned by root, and nobody else may write it (``private``: nor even read it, mode 0700)."""
    return st.st_uid == 0 and not stat.S_IMODE(st.st_mode) & (0o077 if private else 0o022)


def read_group_record(root: Path = Path("/")) -> tuple[frozenset[tuple[str, int]], str | None]:
    """GROUP_RECORD as (name, gid) pairs, and why it cannot be trusted (None: it can, or it is missing).

    It is trusted only when root alone can have written it: a root-owned file nobody else can write,
    not a symlink, in the root-only (0700) STATE_DIR.
    """
    path = root / GROUP_RECORD.lstrip("/")
    folder = path.parent
    if not os.path.lexists(path):
        return frozenset(), None
    untrusted = (f"{GROUP_RECORD} cannot be trusted: it must be a file owned by root that nobody else can "
                 "write, in a folder owned by root with mode 0700")
    folder_st, file_st = os.lstat(folder), os.lstat(path)
    if (not stat.S_ISDIR(folder_st.st_mode) or not owned_by_root(folder_st, private=True)
            or not stat.S_ISREG(file_st.st_mode) or not owned_by_root(file_st)):
        return frozenset(), untrusted
    pairs = set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        name, _, gid = line.partition(":")
        if NAME_RE.fullmatch(name) and DIGITS_RE.fullmatch(gid):
            pairs.add((name, int(gid)))
    return frozenset(pairs), None


def refused_unless(group: str) -> str:
    """The end of every refusal that --allow-group lifts."""
    return f"refused unless allowed with --allow-group {group}"


def group_problem(name: str, host: HostState, allowed: frozenset[str]) -> str | None:
    """Why a listed group may not be granted (None: it may). Privileged groups (PRIVILEGED_GROUPS, whatever
    their GID, existing or not), system groups (GID outside the managed range; `users` excepted) and
    groups of the managed range that this script did not create are refused unless --allow-group names
    them; a group with GID 0 always is."""
    group = host.groups.get(name)
    if group is not None and group.gid == 0:
        return f"group '{name}' has GID 0"
    if name in allowed:
        return None
    if name in PRIVILEGED_GROUPS:
        return f"'{name}' is a privileged group: {refused_unless(name)}"
    if group is None or name in ORDINARY_SYSTEM_GROUPS:
        return None
    if not UID_MIN <= group.gid <= UID_MAX:
        return f"'{name}' is a system group (GID {group.gid}): {refused_unless(name)}"
    if (name, group.gid) not in host.created_groups:
        return f"'{name}' (GID {group.gid}) was not created by {SCRIPT}: {refused_unless(name)}"
    return None


def privileged_group_of(account: Account, host: HostState, allowed: frozenset[str]) -> str | None:
    """The first group, by name, that makes ``account`` privileged and that --allow-group does not name: a
    PRIVILEGED_GROUPS group or one with GID 0, as a supplementary or as its primary group."""
    for name in sorted(host.groups):
        group = host.groups[name]
        if ((name in PRIVILEGED_GROUPS or group.gid == 0) and name not in allowed
                and (account.name in group.members or account.gid == group.gid)):
            return name
    return None


def in_allowed_privileged_group(account: Account, host: HostState, allowed: frozenset[str]) -> bool:
    """A member of a privileged group (or one with GID 0) that --allow-group names: the operator accepted
    that the file manages administrators of that kind, so sudo's trust in it is no reason to refuse."""
    for name in allowed:
        group = host.groups.get(name)
        if (group is not None and (name in PRIVILEGED_GROUPS or group.gid == 0)
                and (account.name in group.members or account.gid == group.gid)):
            return True
    return False


def validate_against_host(records: Sequence[Record], host: HostState, filename: str,
                          allowed: frozenset[str] = frozenset()) -> list[Problem]:
    """The checks against the host (still before any change), on every value that passed its own field
    rule, so that one run reports every problem: the login (UID range, a member of a privileged group,
    name of a system, privileged or foreign group, home already there), groups that may not be granted
    (see group_problem), the shell in /etc/shells, a refused ~/.ssh. ``allowed``: --allow-group."""
    problems: list[Problem] = []
    for view in host_views(records):
        def bad(column: str, message: str, line: int = view.line) -> None:
            problems.append(Problem(filename, line, column, message))

        for name in view.groups:
            message = group_problem(name, host, allowed)
            if message:
                bad("groups", message)
        if view.shell is not None and view.present and view.shell not in host.shells:
            bad("shell", f"{shown(view.shell)} is not listed in /etc/shells")
        if view.login is None:
            continue
        account = host.users.get(view.login)
        if account is not None:
            privileged = privileged_group_of(account, host, allowed)
            if not UID_MIN <= account.uid <= UID_MAX:
                bad("login", f"'{view.login}' exists with UID {account.uid}, outside the managed range "
                             f"{UID_MIN}-{UID_MAX}")
            elif privileged:
                bad("login", f"'{view.login}' is a member of the privileged group '{privileged}': "
                             f"{refused_unless(privileged)}")
            elif view.login in host.sudo_rights and not in_allowed_privileged_group(account, host, allowed):
                if host.sudo_rights[view.login] == "unknown":
                    bad("login", f"'{view.login}': sudo -l -U {view.login} failed, so whether sudo trusts "
                                 "this account is unknown: refused")
                else:
                    bad("login", f"'{view.login}' may run commands through sudo and was not created by "
                                 f"{SCRIPT}: refused (manage this account by hand)")
            elif view.present and view.ssh_key:
                key_state = host.keys.get(view.login)
                if key_state is not None and key_state.problem:
                    bad("ssh_key", key_state.problem)
        elif view.present:
            # A new user gets the group of its name as primary group: an existing one, or a new one.
            group = host.groups.get(view.login)
            if group is not None and not UID_MIN <= group.gid <= UID_MAX:
                bad("login", f"'{view.login}' is the name of an existing group with GID {group.gid}, "
                             f"outside {UID_MIN}-{UID_MAX}")
            elif view.login in allowed:
                pass
            elif view.login in PRIVILEGED_GROUPS:
                bad("login", f"'{view.login}' is the name of a privileged group: "
                             f"{refused_unless(view.login)}")
            elif group is not None and (view.login, group.gid) not in host.created_groups:
                bad("login", f"'{view.login}' is the name of a group (GID {group.gid}) not created by "
                             f"{SCRIPT}: {refused_unless(view.login)}")
            home = f"{HOME_BASE}/{view.login}"
            if home in host.existing_homes:
                bad("login", f"home directory {home} already exists")
    return problems


# ---- the plan --------------------------------------------------------------------------------------
def is_locked(entry: ShadowEntry) -> bool:
    return entry.password.startswith("!")


def has_usable_password(entry: ShadowEntry) -> bool:
    """A hash is left once the lock mark (one `!`, what usermod -U removes) is gone: not empty, not
    starting with `!` or `*`."""
    rest = entry.password.removeprefix("!")
    return bool(rest) and rest[0] not in "*!"


def is_expired(entry: ShadowEntry, today: int) -> bool:
    return entry.expire.strip().isdigit() and int(entry.expire) <= today


def key_content(ssh_key: str) -> bytes:
    return (ssh_key + "\n").encode("utf-8")


def key_needs_writing(ssh_key: str, state: KeyState | None) -> bool:
    if not ssh_key:
        return False
    if state is None:
        return True
    return not (state.content == key_content(ssh_key) and state.ssh_dir_ok and state.file_ok)


def plan(users: Sequence[User], host: HostState) -> Plan:
    """Work out every change; touch nothing. Users are taken in file order, lists are sorted later."""
    result = Plan()
    nologin = FAMILIES[host.os_family or "debian"]["nologin"]
    present = [u for u in users if u.state == "present"]
    new_logins = {u.login for u in present if u.login not in host.users}
    wanted: dict[str, set[str]] = {u.login: set(u.groups) for u in present}
    current: dict[str, set[str]] = {}
    for group in host.groups.values():
        for member in group.members:
            current.setdefault(member, set()).add(group.name)

    missing_groups: list[str] = []
    for user in present:
        for name in user.groups:
            if name not in host.groups and name not in new_logins and name not in missing_groups:
                missing_groups.append(name)
    result.create_groups = sorted(missing_groups)

    for user in users:
        account = host.users.get(user.login)
        entry = host.shadow.get(user.login, ShadowEntry(""))
        if user.state == "absent":
            if account is None:
                result.unchanged.append(user.login)
                continue
            change = UserChange(user.login)
            if not is_locked(entry):
                change.usermod.append("-L")
                change.details.append("lock the password")
            if entry.expire.strip() != "1":
                change.usermod += ["-e", "1"]
                change.details.append("expire the account (1970-01-02)")
            if account.shell != nologin:
                change.usermod += ["-s", nologin]
                change.details.append(f"shell {account.shell} -> {nologin}")
            if change.details:
                result.disable_users.append(change)
            else:
                result.unchanged.append(user.login)
            continue
        if account is None:
            group = host.groups.get(user.login)
            result.create_users.append(NewUser(user.login, user.gecos, user.shell, user.groups,
                                               user.ssh_key, group.gid if group else None))
            continue
        change = UserChange(user.login)
        if account.gecos != user.gecos:
            change.usermod += ["-c", user.gecos]
            change.details.append(f"GECOS {shown(account.gecos)} -> {shown(user.gecos)}")
        if account.shell != user.shell:
            change.usermod += ["-s", user.shell]
            change.details.append(f"shell {account.shell} -> {user.shell}")
        if is_locked(entry):
            if has_usable_password(entry):
                change.usermod.append("-U")
                change.details.append("unlock the password")
            else:
                change.new_password = True
                change.details.append("unlock with a new password (none usable was left)")
        if is_expired(entry, host.today):
            change.usermod += ["-e", ""]
            change.details.append("remove the expiry date")
        have = current.get(user.login, set())
        change.groups_added = sorted(wanted[user.login] - have)
        change.groups_removed = sorted(have - wanted[user.login])
        if change.groups_added:
            change.details.append("add to " + " ".join(change.groups_added))
        if change.groups_removed:
            change.details.append("remove from " + " ".join(change.groups_removed))
        if key_needs_writing(user.ssh_key, host.keys.get(user.login)):
            change.ssh_key = user.ssh_key
            change.details.append("write ~/.ssh/authorized_keys")
        if change.details:
            result.update_users.append(change)
        else:
            result.unchanged.append(user.login)

    # Member lists: members the file does not name are kept; named ones are in exactly their groups.
    group_names = [*host.groups, *missing_groups, *(u.login for u in present if u.login in new_logins)]
    for name in dict.fromkeys(group_names):
        old = list(host.groups[name].members) if name in host.groups else []
        old_set = set(old)
        kept = [m for m in old if m not in wanted or name in wanted[m]]
        added = [u.login for u in present if name in wanted[u.login] and u.login not in old_set]
        new = list(dict.fromkeys(kept + added))
        if set(new) != old_set:
            result.set_members[name] = new
            result.member_changes[name] = (added, [m for m in old if m not in set(new)])
    return result


def describe_new_user(user: NewUser) -> str:
    parts = [user.gecos, f"shell {user.shell}"]
    if user.groups:
        parts.append("groups " + " ".join(user.groups))
    if user.ssh_key:
        parts.append("ssh key")
    return f"{user.login} ({', '.join(parts)})"


def describe_members(added: list[str], removed: list[str], shown_max: int = 10) -> str:
    """`added a b c; removed d` with long lists cut (the group file has them all)."""
    def cut(names: list[str]) -> str:
        more = len(names) - shown_max
        return " ".join(names[:shown_max]) + (f" and {more} more" if more > 0 else "")

    parts = ([f"added {cut(added)}"] if added else []) + ([f"removed {cut(removed)}"] if removed else [])
    return "; ".join(parts)


def narrate_plan(the_plan: Plan) -> None:
    for name in the_plan.create_groups:
        log.log(CHANGE, "would create group %s", name)
    for new in the_plan.create_users:
        log.log(CHANGE, "would create user %s", describe_new_user(new))
    for change in the_plan.update_users:
        log.log(CHANGE, "would update user %s: %s", change.login, "; ".join(change.details))
    for change in the_plan.disable_users:
        log.log(CHANGE, "would disable user %s: %s", change.login, "; ".join(change.details))
    for name in the_plan.set_members:
        log.log(CHANGE, "would change the members of group %s: %s", name,
                describe_members(*the_plan.member_changes[name]))
    for login in the_plan.unchanged:
        log.info("%s: nothing to change", login)


# ---- applying --------------------------------------------------------------------------------------
class _Interrupts:
    """SIGINT/SIGTERM bookkeeping: inside a critical section an interrupt waits for its end."""

    depth = 0
    pending: int | None = None


def on_signal(signum: int, _frame: object) -> None:
    if _Interrupts.depth:
        _Interrupts.pending = signum
        return
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def critical_section() -> Iterator[None]:
    """Steps that must finish together (newusers and the chage -d 0 / skel of the users it made: a rerun
    could not tell a half-made user from an old one). An interrupt meanwhile is raised at the end."""
    _Interrupts.depth += 1
    try:
        yield
    finally:
        _Interrupts.depth -= 1
    if _Interrupts.depth == 0 and _Interrupts.pending is not None:
        signum, _Interrupts.pending = _Interrupts.pending, None
        raise KeyboardInterrupt(signal.Signals(signum).name)


# Evaluated at run time, so written without `X | None` (Python 3.9 on EL 9).
Runner = Callable[[Sequence[str], Optional[bytes]], None]


def run_command(argv: Sequence[str], stdin: bytes | None = None) -> None:
    """Run one system command (argv list, no shell); raise CommandError with its stderr on failure."""
    log.debug("running %s", " ".join(shlex.quote(a) for a in argv))
    # SIGINT and SIGTERM wait until the command is over (the child inherits the mask too): stopping
    # newusers or usermod half way through /etc/shadow is worse than stopping a moment later.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        proc = subprocess.run(list(argv), input=stdin, capture_output=True, env=CHILD_ENV, check=False)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", errors="replace").strip().replace("\n", " / ")
        raise CommandError(f"{argv[0]} failed (exit {proc.returncode}): {message}")


def notice(message: str) -> None:
    """An action taken: to stderr and to syslog."""
    log.log(CHANGE, "%s", message)
    syslog.syslog(syslog.LOG_NOTICE, message)


def new_password() -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def choose_password_file(given: str | None, stamp: str) -> tuple[Path, str | None]:
    """The file this run's passwords go to, and why it cannot be used (None: it can).

    Default: STATE_DIR/passwords-<stamp>.csv, or -2, -3... when a run in the same second made it.
    A given file must not exist yet (passwords of an earlier run are never overwritten). An existing
    folder, the default one included, must already be private (root, 0700, not a symlink): the script
    never repairs or follows one (making, say, /tmp 0700 would break the system). A missing folder is
    created 0700.
    """
    if given is None:
        path = Path(STATE_DIR) / f"passwords-{stamp}.csv"
        number = 2
        while os.path.lexists(path):
            path = Path(STATE_DIR) / f"passwords-{stamp}-{number}.csv"
            number += 1
        option = "password folder"
    else:
        path = Path(given)
        option = "--password-file"
        if os.path.lexists(path):
            return path, f"--password-file {given} already exists: refusing to overwrite it"
    folder = path.parent
    if os.path.lexists(folder):
        if folder.is_symlink() or not folder.is_dir():
            return path, f"{option}: {folder} is not a folder"
        st = folder.stat()
        if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) & 0o077:
            return path, f"{option}: folder {folder} must be owned by root with mode 0700 (or not exist yet)"
    return path, None


def write_password_file(path: Path, passwords: dict[str, str]) -> None:
    """Write the `login;password` file (root, 0600, in a root 0700 folder): a temporary file in the same
    folder, renamed into place, so the file is never seen half written."""
    write_private_file(path, "login;password\n" + "".join(f"{login};{password}\n"
                                                         for login, password in passwords.items()))


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` as a root-only file (0600) in a root-only folder (0700, made when missing): a
    temporary file in the same folder, flushed and renamed into place, never seen half written."""
    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chown(folder, os.geteuid(), os.getegid())
    folder.chmod(0o700)
    temp = folder / f".{SCRIPT}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        temp.rename(path)
    finally:
        temp.unlink(missing_ok=True)


def copy_skel(skel: Path, home: Path, uid: int, gid: int) -> None:
    """Make a new home private (0700, whatever the distribution's default) and copy /etc/skel into it."""
    os.chmod(home, 0o700)  # noqa: PTH101 - same call as the os.lchown calls below
    if not skel.is_dir():
        return
    for entry in os.scandir(skel):
        target = home / entry.name
        if os.path.lexists(target):
            continue
        if entry.is_symlink():
            target.symlink_to(Path(entry.path).readlink())
        elif entry.is_dir():
            shutil.copytree(entry.path, target, symlinks=True)
        else:
            shutil.copy2(entry.path, target, follow_symlinks=False)
        os.lchown(target, uid, gid)
        if entry.is_dir(follow_symlinks=False):
            for top, dirs, files in os.walk(target):
                for name in dirs + files:
                    os.lchown(os.path.join(top, name), uid, gid)  # noqa: PTH118 - os.walk gives strings


def write_authorized_keys(home: str, uid: int, gid: int, content: bytes) -> None:
    """Make HOME/.ssh (0700) and HOME/.ssh/authorized_keys (0600) hold exactly `content`.

    Works through directory file descriptors opened with O_NOFOLLOW, and replaces the file by rename,
    so a symlinked .ssh or authorized_keys is refused and never followed, even if swapped in meanwhile.
    """
    home_fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            os.mkdir(".ssh", 0o700, dir_fd=home_fd)
        except FileExistsError:
            pass
        try:
            ssh_fd = os.open(".ssh", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                             dir_fd=home_fd)
        except OSError as exc:
            raise CommandError(f"{home}/.ssh is not a plain directory (symbolic link?): refused") from exc
    finally:
        os.close(home_fd)
    temp = f".authorized_keys.tssr-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        st = os.fstat(ssh_fd)
        if (st.st_uid, st.st_gid) != (uid, gid):
            os.fchown(ssh_fd, uid, gid)
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.fchmod(ssh_fd, 0o700)
        try:
            old = os.stat("authorized_keys", dir_fd=ssh_fd, follow_symlinks=False)
            if not stat.S_ISREG(old.st_mode):
                raise CommandError(f"{home}/.ssh/authorized_keys is not a regular file: refused")
        except FileNotFoundError:
            pass
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=ssh_fd)
        try:
            os.fchown(fd, uid, gid)
            os.fchmod(fd, 0o600)
            os.write(fd, content)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, "authorized_keys", src_dir_fd=ssh_fd, dst_dir_fd=ssh_fd)
    finally:
        try:
            os.unlink(temp, dir_fd=ssh_fd)
        except FileNotFoundError:
            pass
        os.close(ssh_fd)


def record_folder_problem(the_plan: Plan, root: Path = Path("/")) -> str | None:
    """Why GROUP_RECORD could not be written, when the run will create groups (new users get one of their
    own too): its folder must be root-owned 0700, not a symlink, or not exist yet."""
    if not (the_plan.create_groups or the_plan.create_users):
        return None
    folder = root / STATE_DIR.lstrip("/")
    if not os.path.lexists(folder):
        return None
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode) or not owned_by_root(st, private=True):
        return (f"record of created groups: folder {STATE_DIR} must be owned by root with mode 0700 "
                "(or not exist yet)")
    return None


def write_group_record(names: Sequence[str], host: HostState, root: Path = Path("/")) -> None:
    """Add the groups this run created (``names``) to GROUP_RECORD with their GIDs: a temporary file in the
    root-only folder, renamed into place."""
    if not names:
        return
    groups = read_groups(root / "etc" / "group")
    missing = [name for name in names if name not in groups]
    if missing:
        raise CommandError(f"/etc/group does not list every group just created: {' '.join(missing)}")
    lines = {f"{name}:{gid}" for name, gid in host.created_groups} | {f"{n}:{groups[n].gid}" for n in names}
    write_private_file(root / GROUP_RECORD.lstrip("/"), "".join(f"{line}\n" for line in sorted(lines)))


def write_key_as_user(account: Account, home: Path, content: bytes) -> None:
    """Write an existing user's authorized_keys as that user, not as root: the user owns the home and
    ~/.ssh and could swap a path for a symlink between our check and our write (or own a folder above
    the home); running as them, such a trick can only reach files they could already write. A child
    process drops to the account's UID and GID (no supplementary group) and calls write_authorized_keys."""
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.setgroups([])
            os.setgid(account.gid)
            os.setuid(account.uid)
            os.umask(0o077)
            write_authorized_keys(str(home), account.uid, account.gid, content)
            code = 0
        except BaseException as exc:  # noqa: BLE001 — reported to the parent by the exit status
            message = f"{SCRIPT}: writing {home}/.ssh/authorized_keys as {account.name}: {exc}\n"
            with contextlib.suppress(OSError):
                os.write(2, message.encode())
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise CommandError(f"writing {home}/.ssh/authorized_keys as {account.name} failed")


def apply(the_plan: Plan, host: HostState, password_file: Path, runner: Runner = run_command,
          root: Path = Path("/"), outcome: Outcome | None = None) -> Outcome:
    """Carry out the plan, in this order: password file, newusers (one batch), chage -d 0, /etc/skel,
    groupadd, chpasswd/usermod, gpasswd -M, authorized_keys.

    Fills `outcome` as it goes, so that a failure half way still reports what was done.
    """
    done = outcome if outcome is not None else Outcome()

    def mark(change: UserChange, bucket: list[str], verb: str) -> None:
        if change.login not in bucket:
            bucket.append(change.login)
            notice(f"{verb} user {change.login}: {'; '.join(change.details)}")

    def home_of(account: Account) -> Path:
        return root / account.home.lstrip("/")

    passwords = {new.login: new_password() for new in the_plan.create_users}
    passwords.update({c.login: new_password() for c in the_plan.update_users if c.new_password})
    if passwords:  # written before any account exists: no password is ever lost
        write_password_file(password_file, passwords)
        done.password_file = str(password_file)
        notice(f"wrote {len(passwords)} new password(s) to {password_file}")

    if the_plan.create_users:
        batch = "".join(
            f"{u.login}:{passwords[u.login]}::{'' if u.gid is None else u.gid}:{u.gecos}:"
            f"{HOME_BASE}/{u.login}:{u.shell}\n" for u in the_plan.create_users)
        with critical_section():
            runner(["newusers"], batch.encode("utf-8"))  # on stdin: never on a command line
            accounts = read_accounts(root / "etc" / "passwd")
            for new in the_plan.create_users:
                runner(["chage", "-d", "0", new.login], None)  # password to change at first login
                account = accounts[new.login]
                copy_skel(root / SKEL_DIR.lstrip("/"), home_of(account), account.uid, account.gid)
                done.created.append(new.login)
                notice(f"created user {describe_new_user(new)}, uid {account.uid}")

    for name in the_plan.create_groups:
        runner(["groupadd", name], None)
        done.groups_created.append(name)
        notice(f"created group {name}")
    # The groups made here, groupadd's and the own group of each new user whose name was no group yet.
    write_group_record([*the_plan.create_groups, *(u.login for u in the_plan.create_users if u.gid is None)],
                       host, root)

    regenerated = [c for c in the_plan.update_users if c.new_password]
    if regenerated:
        with critical_section():
            runner(["chpasswd"], "".join(f"{c.login}:{passwords[c.login]}\n" for c in regenerated).encode())
            for change in regenerated:
                runner(["chage", "-d", "0", change.login], None)
                mark(change, done.updated, "updated")
    for change in the_plan.update_users:
        if change.usermod:
            runner(["usermod", *change.usermod, "--", change.login], None)
            mark(change, done.updated, "updated")
    for change in the_plan.disable_users:
        runner(["usermod", *change.usermod, "--", change.login], None)
        mark(change, done.disabled, "disabled")

    for name, members in the_plan.set_members.items():
        runner(["gpasswd", "-M", ",".join(members), name], None)
        notice(f"changed the members of group {name}: {describe_members(*the_plan.member_changes[name])}")

    accounts = read_accounts(root / "etc" / "passwd")
    for new in the_plan.create_users:
        if new.ssh_key:
            account = accounts[new.login]
            write_authorized_keys(str(home_of(account)), account.uid, account.gid, key_content(new.ssh_key))
    for change in the_plan.update_users:
        if change.ssh_key:
            account = accounts[change.login]
            write_key_as_user(account, home_of(account), key_content(change.ssh_key))
        mark(change, done.updated, "updated")
    return done


# ---- command line ----------------------------------------------------------------------------------
class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> Parser:
    parser = Parser(prog="provision_users.py", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter,
                    usage="%(prog)s [--dry-run] [--password-file PATH] [--allow-group GROUP]... [--quiet] "
                          "CSV_FILE")
    parser.add_argument("csv_file", metavar="CSV_FILE", help="the users file")
    parser.add_argument("-n", "--dry-run", action="store_true",
                        help="validate and show the plan, change nothing")
    parser.add_argument("--password-file", metavar="PATH",
                        help=f"where the new users' passwords go (default under {STATE_DIR})")
    parser.add_argument("--allow-group", metavar="GROUP", action="append", default=[],
                        help="let the file name this privileged, system or foreign group (repeatable)")
    parser.add_argument("-q", "--quiet", action="store_true", help="narration only for changes and errors")
    return parser


def result_line(status: str, *, dry_run: bool, outcome: Outcome | None = None, the_plan: Plan | None = None,
                unchanged: int = 0, error: str | None = None, errors: int = 0) -> str:
    """The JSON result (last stdout line); lists sorted."""
    if the_plan is not None:  # dry run: the planned changes
        created = [u.login for u in the_plan.create_users]
        updated = [c.login for c in the_plan.update_users]
        disabled = [c.login for c in the_plan.disable_users]
        groups_created = list(the_plan.create_groups)
        password_file = None
    else:
        outcome = outcome or Outcome()
        created, updated, disabled = outcome.created, outcome.updated, outcome.disabled
        groups_created, password_file = outcome.groups_created, outcome.password_file
    result: dict[str, object] = {
        # The members in the order of the Bash twin's (lib/common.sh's result_line: the contract's first).
        "script": SCRIPT, "status": status,
        "changed": len(created) + len(updated) + len(disabled) + len(groups_created),
        "dry_run": dry_run, "impl": IMPL, "created": sorted(created), "updated": sorted(updated),
        "disabled": sorted(disabled), "groups_created": sorted(groups_created),
        "unchanged": unchanged, "password_file": password_file,
    }
    if error is not None:
        result["error"] = error
        result["errors"] = errors
    return json.dumps(result)


def setup_logging(quiet: bool) -> None:
    logging.addLevelName(CHANGE, "CHANGE")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(CHANGE if quiet else logging.INFO)


def acquire_lock(path: str) -> int | None:
    """flock the lock file; return its descriptor, or None when another run holds it.

    Its folder (/run/tssr-kit) must be root's alone: in /run/lock anyone could create the lock first
    and hold it. Raises OSError when it is not.
    """
    folder = Path(path).parent
    try:
        folder.mkdir(mode=0o755)
    except FileExistsError:
        pass
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise OSError(f"the lock folder {folder} is not a folder only root can write: remove it "
                      "(a reboot empties /run)")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def main(argv: list[str] | None = None) -> int:
    setup_logging(quiet=False)
    try:
        args = build_parser().parse_args(argv)
        if args.password_file is not None and (not args.password_file or args.password_file.endswith("/")):
            raise UsageError(f"--password-file needs the path of a file, got '{args.password_file}'")
        for name in args.allow_group:
            if not NAME_RE.fullmatch(name):
                raise UsageError(f"--allow-group {shown(name)} is not a group name ({NAME_PATTERN})")
            if name == "root":
                raise UsageError("--allow-group root: root is never allowed")
    except UsageError as exc:
        log.error("provision_users.py: %s (see --help)", exc)
        print(result_line("failed", dry_run=False, error=f"usage: {exc}", errors=1))
        return 2
    setup_logging(args.quiet)
    dry_run: bool = args.dry_run
    filename: str = args.csv_file
    outcome = Outcome()
    unchanged = 0

    def fail(code: int, message: str, errors: int = 1) -> int:
        log.error("%s", message)
        print(result_line("failed", dry_run=dry_run, outcome=outcome, unchanged=unchanged, error=message,
                          errors=errors))
        return code

    def runtime_failure(reason: str) -> int:
        syslog.syslog(syslog.LOG_ERR, f"failed: {reason}")
        return fail(1, f"runtime failure: {reason}")

    # Checks that need nothing of the host's accounts: root, OS family, a readable file.
    if os.geteuid() != 0:
        return fail(2, "must run as root (reading /etc/shadow is part of validation, dry run included)")
    os_release = read_os_release()
    if os_family(os_release) is None:
        ids = f"ID={os_release.get('ID', '')}, ID_LIKE={os_release.get('ID_LIKE', '')}"
        return fail(2, f"unsupported OS ({ids}): supported families are debian and redhat")
    try:
        data = Path(filename).read_bytes()
    except OSError as exc:
        return fail(2, f"{filename}: cannot read: {exc.strerror or exc}")

    try:
        lock_fd = acquire_lock(LOCK_FILE)
    except OSError as exc:
        return fail(1, str(exc))
    if lock_fd is None:
        return fail(3, f"another run holds the lock {LOCK_FILE}")
    previous_handlers = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # Validate everything: the file, then the file against the host (read once).
        records, problems = parse_csv(data, filename)
        users, row_problems = validate_rows(records, filename)
        host = read_host_state(records)
        if host.record_problem:
            return fail(2, host.record_problem)
        allowed = frozenset(args.allow_group)
        problems += row_problems + validate_against_host(records, host, filename, allowed)
        if problems:
            problems.sort(key=lambda p: p.line)
            for problem in problems:
                log.error("%s", problem)
            count = len(problems)
            return fail(2, f"validation failed: {count} problem(s) in {filename}, nothing changed",
                        errors=count)
        the_plan = plan(users, host)
        reason = record_folder_problem(the_plan)
        if reason:
            return fail(2, reason)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        password_file, reason = choose_password_file(args.password_file, stamp)
        if the_plan.needs_passwords and reason:
            return fail(2, reason)

        unchanged = len(the_plan.unchanged)
        status = "changed" if the_plan.changed else "ok"
        if dry_run:
            narrate_plan(the_plan)
            log.info("dry run: %d change(s) planned, %d user(s) unchanged, nothing changed",
                     the_plan.changed, unchanged)
            print(result_line(status, dry_run=True, the_plan=the_plan, unchanged=unchanged))
            return 0
        for login in the_plan.unchanged:
            log.info("%s: nothing to change", login)
        syslog.openlog(SYSLOG_TAG, syslog.LOG_PID, syslog.LOG_AUTH)
        apply(the_plan, host, password_file, outcome=outcome)
        if outcome.password_file:
            log.info("new passwords are in %s (root only): hand them over, then delete it",
                     outcome.password_file)
        log.info("%d change(s), %d user(s) unchanged", outcome.changed, unchanged)
        print(result_line(status, dry_run=False, outcome=outcome, unchanged=unchanged))
        return 0
    except (CommandError, OSError) as exc:
        return runtime_failure(str(exc))
    except KeyboardInterrupt as exc:
        return runtime_failure(f"interrupted ({exc or 'SIGINT'})")
    finally:
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)
        os.close(lock_fd)


if __name__ == "__main__":
    raise SystemExit(main())
