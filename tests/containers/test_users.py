"""provision-users, Bash and Python, run for real in containers against docs/reference/users-csv.md.

Every test runs once per implementation (``bash``: scripts/bash/users/provision-users.sh, ``python``:
scripts/python/provision_users.py) and per platform (Debian 12, Debian 13, RedHat when an image is
supplied — otherwise *skipped, not run*), except the parity tests, which run both implementations on
one platform and compare them.

- Contract scenarios (good input, second run, bad input, dry run, lock, runtime failure) and every
  test that changes the host get a fresh container; a scenario checked from several sides (the good
  file, the update story) runs once per class.
- Input that must be refused, and the command line, run in a shared container, which is checked
  against its baseline before each test and replaced as soon as a run changed it. The refused files
  that begin alike (the header, then the same valid line 2) are run together: their lines one after
  the other in one file, run once per implementation and platform. Both scripts check each line on
  its own and report every problem on its line before changing anything, so each file is still its
  own test, checked on its own lines (see ``share_files``).
- Parity: the same files through both implementations (for real in fresh containers, or as dry runs
  for the corner cases), same exit code, same result line, same ``users.csv:<line>:<field>:`` list.

"Nothing changed" is :meth:`Node.snapshot` (``/etc/passwd``, ``/etc/shadow``, ``/etc/group``,
``/etc/gshadow``, ``ls -la /home``, every file under ``/home`` and ``/var/lib/tssr-kit``, and no
``/tmp/pwned``) being equal before and after.

Run: ``pytest -m containers tests/containers -n 2 --dist loadgroup`` (images from ``inv images``).
With pytest 9.2 and pytest-xdist 3.8 ``loadgroup`` does not group (xdist sets ``item._nodeid``, which
pytest 9.2 no longer reads): the tests are then spread one by one; the fixtures stay correct, a
class scenario just runs once on each worker.
"""

from __future__ import annotations

import base64
import re
import struct
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from containerlib import (
    IMPLS,
    PWNED,
    SNAPSHOT,
    WORKDIR,
    Clean,
    Impl,
    Node,
    NodeFactory,
    Platform,
    ScriptRun,
    SharedNode,
    Target,
    parse_snapshot,
)

pytestmark = pytest.mark.containers


COLUMNS = ("login", "first_name", "last_name", "groups", "shell", "ssh_key", "state")
LOCK = "/run/tssr-kit/provision-users.lock"
PASSWORD_DIR = "/var/lib/tssr-kit/users"
# passwords-<UTC stamp>.csv, with -2, -3… when that name is taken.
DEFAULT_PASSWORD_FILE = re.compile(r"^/var/lib/tssr-kit/users/passwords-\d{8}T\d{6}Z(?:-\d+)?\.csv$")
SYSLOG_TAG = "tssr-provision-users"
# `<file>:<line>:<field>: <message>`, e.g. `users.csv:4:login: 'Alice' does not match …`.
ERROR_LINE = re.compile(r"(?:^|[\s/])users\.csv:(\d+):([a-z_]+): (.*)$")


# --------------------------------------------------------------------------------------------------
# Running a script


class Run(ScriptRun):
    """One run of a provisioning script, and the error lines it wrote."""

    @property
    def error_lines(self) -> list[re.Match[str]]:
        """The ``users.csv:<line>:<field>: <message>`` lines of stderr."""
        return [m for m in map(ERROR_LINE.search, self.stderr.splitlines()) if m]

    @property
    def errors(self) -> set[tuple[int, str]]:
        """(line, field) of every reported problem."""
        return {(int(m[1]), m[2]) for m in self.error_lines}

    def messages(self, line: int) -> list[str]:
        return [m[3] for m in self.error_lines if int(m[1]) == line]


def run_script(node: Node, impl: Impl, *args: str, user: str | None = None,
               workdir: str = WORKDIR) -> Run:
    """Run the implementation in the container with these arguments, as the docs say to run it."""
    if not impl.source.exists():
        pytest.fail(f"{impl.source} does not exist (yet)")
    argv = (impl.interpreter, impl.path, *args)
    proc = node.exec(*argv, user=user, workdir=workdir)
    return Run(proc.returncode, proc.stdout.decode(errors="replace"),
               proc.stderr.decode(errors="replace"), argv)


def command(impl: Impl, *flags: str) -> tuple[str, ...]:
    """How ``provision`` runs the implementation: ``<interpreter> <script> [flags] users.csv``."""
    if not impl.source.exists():
        pytest.fail(f"{impl.source} does not exist (yet)")
    return (impl.interpreter, impl.path, *flags, "users.csv")


def provision(node: Node | Clean, impl: Impl, csv: str | bytes, *flags: str) -> Run:
    """Write ``csv`` to users.csv in the container and run ``impl [flags] users.csv`` (as root) there.

    In a shared (clean) container the snapshot after the run is taken in the same ``docker exec``,
    for ``assert_nothing_changed``.
    """
    if isinstance(node, Clean):
        run, node.after = provision_then_snapshot(node.node, impl, csv, *flags)
        return run
    argv = command(impl, *flags)
    proc = node.write_and_exec(f"{WORKDIR}/users.csv", csv, *argv, workdir=WORKDIR)
    return Run(proc.returncode, proc.stdout.decode(errors="replace"),
               proc.stderr.decode(errors="replace"), argv)


def prepare(node: Node, script: str, state: str = SNAPSHOT) -> dict[str, str]:
    """Run ``script`` (fixed test code, which must succeed), then ``state`` (a snapshot, by default
    :data:`SNAPSHOT`): the state a run will be compared with. One ``docker exec``."""
    return parse_snapshot(node.sh(f"{{ {script}\n}} || exit 1\n{state}"))


def provision_then_snapshot(node: Node, impl: Impl, csv: str | bytes, *flags: str
                            ) -> tuple[Run, dict[str, str]]:
    """``provision``, then :meth:`Node.snapshot`, in one ``docker exec``."""
    argv = command(impl, *flags)
    proc, after = node.write_exec_snapshot(f"{WORKDIR}/users.csv", csv, *argv, workdir=WORKDIR)
    return Run(proc.returncode, proc.stdout.decode(errors="replace"),
               proc.stderr.decode(errors="replace"), argv), after


def provision_between(node: Node, impl: Impl, csv: str | bytes, *flags: str
                      ) -> tuple[dict[str, str], Run, dict[str, str]]:
    """:meth:`Node.snapshot`, then ``provision_then_snapshot``: (before, the run, after), in one
    ``docker exec``."""
    before, run, after = node.run_between(*command(impl, *flags), workdir=WORKDIR, before=SNAPSHOT,
                                          after=SNAPSHOT, write=(f"{WORKDIR}/users.csv", csv), kind=Run)
    assert before is not None and after is not None
    return before, run, after


# Runs (in $1) commands one after the other, each on its own users.csv. For each: the file (base64),
# the number of arguments, the arguments; `--` ends them. Prints for each run its exit code, stdout
# and stderr (base64, a line each). The snippet appended to it gets the arguments after the `--`.
IN_TURN = r"""
cd "$1" || exit 1
shift
while [[ $1 != -- ]]; do
    printf '%s' "$1" | base64 -d > users.csv || exit 1
    count=$2
    shift 2
    "${@:1:count}" > /tmp/.tssr-out 2> /tmp/.tssr-err < /dev/null
    echo $?
    base64 -w0 /tmp/.tssr-out && echo && base64 -w0 /tmp/.tssr-err && echo || exit 1
    shift "$count"
done
shift
"""


def run_in_turn(node: Node, runs: list[tuple[str | bytes, tuple[str, ...]]], then: str,
                *then_args: str) -> tuple[list[Run], str]:
    """Each ``(csv, argv)`` of ``runs`` in turn, ``csv`` written to users.csv first; then the shell
    snippet ``then`` (fixed test code) with ``then_args``: the runs, and what ``then`` printed. All in
    one ``docker exec``."""
    args: list[str] = []
    for csv, argv in runs:
        raw = csv.encode() if isinstance(csv, str) else csv
        assert len(raw) < 64_000, "a file this big cannot go on a command line: write it with Node.write"
        args += [base64.b64encode(raw).decode(), str(len(argv)), *argv]
    proc = node.exec("bash", "-c", IN_TURN + then, "bash", WORKDIR, *args, "--", *then_args)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    *outputs, rest = proc.stdout.split(b"\n", 3 * len(runs))
    done = []
    for n, (_, argv) in enumerate(runs):
        code, out, err = outputs[3 * n:3 * n + 3]
        done.append(Run(int(code), base64.b64decode(out).decode(errors="replace"),
                        base64.b64decode(err).decode(errors="replace"), argv))
    return done, rest.decode(errors="replace")


def provision_each(clean: Clean, impls: Iterable[Impl], csv: str | bytes, *flags: str) -> dict[str, Run]:
    """``provision`` by each implementation in turn, on the same file: impl name → run. One ``docker
    exec`` for all, and one snapshot after the last (for ``assert_nothing_changed``)."""
    impls = list(impls)
    runs, after = run_in_turn(clean.node, [(csv, command(impl, *flags)) for impl in impls], SNAPSHOT)
    clean.after = parse_snapshot(after)
    return {impl.name: run for impl, run in zip(impls, runs, strict=True)}


def subset(result: dict, expected: dict) -> dict:
    """The keys of ``result`` that ``expected`` names (so that pytest shows a readable diff)."""
    return {key: result.get(key, "<missing>") for key in expected}


def assert_nothing_changed(clean: Clean) -> None:
    """The shared container is still in its baseline state after the last run."""
    assert_same_host(clean.before, clean.snapshot_after())


def assert_same_host(before: dict[str, str], after: dict[str, str]) -> None:
    """Two snapshots are the same; first of all, no injected command left its file."""
    assert not after.get("pwned"), f"an injected command was run: {PWNED} exists"
    assert after == before


def assert_refused(run: Run, line: int, fields: Iterable[str], message: str | None = None,
                   good_lines: Iterable[int] = ()) -> None:
    """Exit 2, a ``users.csv:<line>:<field>:`` message, a failed result, no error on the good lines."""
    fields = set(fields)
    assert run.exit == 2, run
    assert any(n == line and f in fields for n, f in run.errors), (
        f"no `users.csv:{line}:{'|'.join(sorted(fields))}:` error{run!r}")
    if message:
        assert any(message.lower() in text.lower() for text in run.messages(line)), (
            f"line {line}: no message containing {message!r}{run!r}")
    flagged = {n for n, _ in run.errors} & set(good_lines)
    assert not flagged, f"valid lines {sorted(flagged)} reported as errors{run!r}"
    result = run.result
    assert subset(result, {"status": "failed", "changed": 0}) == {"status": "failed", "changed": 0}
    assert result.get("errors") == len(run.error_lines), f"`errors` is not the number of problems{run!r}"
    assert isinstance(result.get("error"), str) and result["error"].strip(), run
    assert "\n" not in result["error"]


# --------------------------------------------------------------------------------------------------
# Reading the host


@dataclass
class Accounts:
    """/etc/passwd, /etc/shadow and /etc/group as dicts of their fields."""

    passwd: dict[str, list[str]]
    shadow: dict[str, list[str]]
    group: dict[str, list[str]]

    def member_of(self, login: str) -> set[str]:
        """Supplementary groups of ``login``."""
        return {name for name, f in self.group.items() if login in f[3].split(",")}

    def gid_of(self, group: str) -> int:
        return int(self.group[group][2])


ACCOUNTS = "cat /etc/passwd; echo '###'; cat /etc/shadow; echo '###'; cat /etc/group"


def accounts(node: Node) -> Accounts:
    return parse_accounts(node.sh(ACCOUNTS))


def parse_accounts(text: str) -> Accounts:
    """What ACCOUNTS printed, as an Accounts."""
    tables = [
        {line.split(":")[0]: line.split(":") for line in part.strip("\n").splitlines() if line}
        for part in text.split("###\n")
    ]
    return Accounts(*tables)


def stat(node: Node, path: str) -> str:
    """``mode owner group type`` of a path, e.g. ``600 root root regular file``."""
    return node.sh(f"stat -c '%a %U %G %F' '{path}'").strip()


def stats(node: Node, *paths: str) -> list[str]:
    """``stat`` of each path (``missing`` when there is none), in one ``docker exec``."""
    lines = node.sh("for p; do stat -c '%a %U %G %F' \"$p\" 2>/dev/null || echo missing; done",
                    args=paths).splitlines()
    assert len(lines) == len(paths), lines
    return lines


def authorized_keys(node: Node, login: str) -> str | None:
    proc = node.exec("cat", f"/home/{login}/.ssh/authorized_keys")
    return proc.stdout.decode() if proc.returncode == 0 else None


# For each login given: `<login> +<base64 of its authorized_keys>`, or `<login> -` when cat fails.
KEYS_OF = r"""
for login; do
    if cat "/home/$login/.ssh/authorized_keys" > /tmp/.tssr-keys 2> /dev/null; then
        printf '%s +' "$login"; base64 -w0 /tmp/.tssr-keys; echo
    else
        printf '%s -\n' "$login"
    fi
done
"""


def authorized_keys_of(node: Node, logins: Iterable[str]) -> dict[str, str | None]:
    """``authorized_keys`` of each login, in one ``docker exec``."""
    return parse_keys(node.exec("sh", "-c", KEYS_OF, "sh", *logins).stdout.decode())


def parse_keys(text: str) -> dict[str, str | None]:
    """What KEYS_OF printed: login → its authorized_keys, or None."""
    found = {}
    for line in text.splitlines():
        login, mark = line.rsplit(" ", 1)
        found[login] = base64.b64decode(mark[1:]).decode() if mark.startswith("+") else None
    return found


def password_file(node: Node, path: str) -> dict[str, str]:
    """login → password, from a password file (``login;password`` header, then one line per login)."""
    lines = node.read(path).splitlines()
    assert lines and lines[0] == "login;password", f"{path}: header is {lines[:1]}"
    pairs = [line.split(";", 1) for line in lines[1:] if line]
    assert all(len(pair) == 2 for pair in pairs), f"{path}: a line is not login;password"
    return dict(pairs)


def password_opens(node: Node, password: str, hashed: str) -> bool:
    """Does ``password`` match the /etc/shadow hash ``hashed``? (the system's crypt(3), via perl)"""
    check = 'chomp(my $p = <STDIN>); chomp(my $h = <STDIN>); exit(crypt($p, $h) eq $h ? 0 : 1)'
    return node.exec("perl", "-e", check, stdin=f"{password}\n{hashed}\n".encode()).returncode == 0


# --------------------------------------------------------------------------------------------------
# Writing CSV files


@dataclass(frozen=True)
class Row:
    """One user line of the CSV, and what the spec says it should give."""

    login: str
    first_name: str
    last_name: str
    groups: str = ""
    shell: str = ""
    ssh_key: str = ""
    state: str = ""

    @property
    def gecos(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def login_shell(self) -> str:
        return self.shell or "/bin/bash"

    @property
    def group_set(self) -> set[str]:
        return set(self.groups.split())

    @property
    def present(self) -> bool:
        return self.state != "absent"


def quoted(value: str, delimiter: str, always: bool = False) -> str:
    """A CSV field: quoted (``"`` doubled) when it has to be, or when asked."""
    if always or delimiter in value or '"' in value or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


def csv(*rows: Row | str, columns: Iterable[str] = COLUMNS, delimiter: str = ";", eol: str = "\n",
        bom: bool = False, quote_all: bool = False) -> str:
    """A users file: the header, then each row (a Row, or a raw line written as is)."""
    columns = tuple(columns)
    lines = [delimiter.join(columns)]
    for row in rows:
        if isinstance(row, Row):
            lines.append(delimiter.join(quoted(getattr(row, c), delimiter, quote_all) for c in columns))
        else:
            lines.append(row)
    return ("\ufeff" if bom else "") + eol.join(lines) + eol


# --------------------------------------------------------------------------------------------------
# SSH keys, generated for the session with ssh-keygen


@dataclass(frozen=True)
class Keys:
    ed25519: str
    ed25519_other: str
    ecdsa256: str
    ecdsa384: str
    ecdsa521: str
    rsa2048: str
    rsa3072: str
    rsa1024: str
    private: str          # an ed25519 private key, its lines joined by spaces
    sk_ed25519: str       # a security-key public key (made by hand: no FIDO device here)

    def formats(self) -> dict[str, str]:
        """For ``str.format``: ``{ed25519}`` the line, ``{ed25519_blob}``, ``{ed25519_bare}`` (no comment)."""
        out = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = value
            parts = value.split()
            if len(parts) >= 2:
                out[f"{name}_blob"], out[f"{name}_bare"] = parts[1], " ".join(parts[:2])
        return out

    @staticmethod
    def blob(key: str) -> str:
        return key.split()[1]

    @staticmethod
    def bare(key: str) -> str:
        """TYPE BASE64 without the comment."""
        return " ".join(key.split()[:2])


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    folder = tmp_path_factory.mktemp("keys")

    def make(name: str, kind: str, bits: int | None, comment: str) -> tuple[str, Path]:
        path = folder / name
        subprocess.run(["ssh-keygen", "-q", "-t", kind, *(["-b", str(bits)] if bits else []),
                        "-N", "", "-C", comment, "-f", str(path)], check=True)
        return path.with_suffix(".pub").read_text().strip(), path

    ed25519, ed_private = make("ed", "ed25519", None, "amartin@tssr-test")
    sk_blob = (_ssh_string(b"sk-ssh-ed25519@openssh.com") + _ssh_string(bytes(range(32)))
               + _ssh_string(b"ssh:"))
    return Keys(
        ed25519=ed25519,
        ed25519_other=make("ed2", "ed25519", None, "laptop-2026")[0],
        ecdsa256=make("ec256", "ecdsa", 256, "jeric@poste-12")[0],
        ecdsa384=make("ec384", "ecdsa", 384, "ec384")[0],
        ecdsa521=make("ec521", "ecdsa", 521, "ec521")[0],
        rsa2048=make("rsa2048", "rsa", 2048, "rsa2048")[0],
        rsa3072=make("rsa3072", "rsa", 3072, "zoe@tssr-test")[0],
        rsa1024=make("rsa1024", "rsa", 1024, "old-key")[0],
        private=" ".join(ed_private.read_text().split()),
        sk_ed25519="sk-ssh-ed25519@openssh.com " + base64.b64encode(sk_blob).decode() + " yubikey",
    )


# --------------------------------------------------------------------------------------------------
# The files the scenarios use


def good_rows(keys: Keys) -> list[Row]:
    """A realistic file: accents, a combining accent, apostrophes, Greek, Cyrillic, Chinese."""
    return [
        Row("amartin", "Anaïs", "Martin", "compta projets", "/bin/bash", keys.ed25519, "present"),
        Row("jeric", "Jean-Éric", "O'Brien", "support users", "", keys.ecdsa256, ""),
        Row("zlefevre", "Zoë", "Lefèvre-Dupont", "", "/bin/sh", keys.rsa3072, "present"),
        Row("rdurand", "Rene\u0301e", "D\u2019Arc", "projets projets support", "", "", "present"),
        Row("gpapadopoulos", "Γιώργος", "Παπαδόπουλος", "compta", "", "", "present"),
        Row("divanov", "Дмитрий", "Иванов", "", "", "", "present"),
        Row("lxiaolong", "小龍", "李", "support", "", "", ""),
        Row("lgone", "Léa", "Gone", "compta", "", "", "absent"),     # a leaver who never existed here
    ]


GOOD_CREATED = ["amartin", "divanov", "gpapadopoulos", "jeric", "lxiaolong", "rdurand", "zlefevre"]
GOOD_GROUPS_CREATED = ["compta", "projets", "support"]      # `users` exists already (GID 100)


def expected_first_run(impl: Impl) -> dict:
    return {
        "script": "provision-users", "impl": impl.name, "status": "changed",
        "changed": len(GOOD_CREATED) + len(GOOD_GROUPS_CREATED), "dry_run": False,
        "created": GOOD_CREATED, "updated": [], "disabled": [], "groups_created": GOOD_GROUPS_CREATED,
        "unchanged": 1,
    }


# ==================================================================================================
# Good input: one fresh container, one run, checked from every side


@dataclass
class Scenario:
    node: Node
    rows: list[Row]
    run: Run
    accounts: Accounts
    passwords: dict[str, str]

    def row(self, login: str) -> Row:
        return next(r for r in self.rows if r.login == login)


@pytest.fixture(scope="class")
def good(target: Target, class_nodes: NodeFactory, keys: Keys) -> Scenario:
    """The good file, applied once to a fresh container."""
    node = class_nodes(target.platform)
    rows = good_rows(keys)
    run = provision(node, target.impl, csv(*rows))
    if run.exit != 0:
        pytest.fail(f"the good file was not applied{run!r}")
    path = run.result.get("password_file")
    passwords = password_file(node, path) if isinstance(path, str) and node.exists(path) else {}
    return Scenario(node, rows, run, accounts(node), passwords)


class TestGoodInput:
    def test_good_file_exits_0_and_reports_every_change(self, good: Scenario, impl: Impl) -> None:
        expected = expected_first_run(impl)
        assert subset(good.run.result, expected) == expected
        assert DEFAULT_PASSWORD_FILE.match(good.run.result["password_file"] or "")

    def test_each_user_gets_the_listed_name_shell_and_home(self, good: Scenario) -> None:
        for login in GOOD_CREATED:
            row = good.row(login)
            entry = good.accounts.passwd[login]
            assert entry[4] == row.gecos, login
            assert entry[6] == row.login_shell, login
            assert entry[5] == f"/home/{login}", login
            assert 1000 <= int(entry[2]) <= 60000, login
            assert good.accounts.gid_of(login) == int(entry[3]), f"{login}: primary group of the same name"

    def test_home_is_a_private_copy_of_skel_owned_by_the_user(self, good: Scenario) -> None:
        # /etc/skel, then for each login its home's stat and listing, in one `docker exec`.
        homes = parse_snapshot(good.node.sh(
            "printf '=== skel\\n'; ls -A /etc/skel; for login; do printf '=== %s\\n' \"$login\";"
            " stat -c '%a %U %G %F' \"/home/$login\";"
            " find \"/home/$login\" -maxdepth 1 -printf '%P:%u:%g\\n'; done", args=GOOD_CREATED))
        skel = set(homes["skel"].split())
        assert skel, "the image has an /etc/skel"
        for login in GOOD_CREATED:
            home_stat, _, listing = homes[login].partition("\n")
            assert home_stat == f"700 {login} {login} directory"
            owners = {name: f"{user}:{group}" for name, user, group in (line.split(":") for line in
                                                                          listing.splitlines())}
            assert owners.pop("") == f"{login}:{login}", f"/home/{login} is not owned by {login}"
            assert skel <= set(owners), f"{login}: missing skel files {skel - set(owners)}"
            assert set(owners.values()) == {f"{login}:{login}"}, f"{login}: not owned by the user: {owners}"

    def test_supplementary_groups_are_exactly_those_listed(self, good: Scenario) -> None:
        for login in GOOD_CREATED:
            assert good.accounts.member_of(login) == good.row(login).group_set, login

    def test_missing_groups_are_created_and_existing_ones_reused(self, good: Scenario) -> None:
        for group in GOOD_GROUPS_CREATED:
            assert 1000 <= good.accounts.gid_of(group) <= 60000, group
        assert good.accounts.gid_of("users") == 100, "the existing group `users` was replaced"

    def test_authorized_keys_hold_exactly_the_listed_key(self, good: Scenario) -> None:
        logins = ("amartin", "jeric", "zlefevre")
        found = authorized_keys_of(good.node, logins)
        modes = iter(stats(good.node, *(path for login in logins for path in (
            f"/home/{login}/.ssh", f"/home/{login}/.ssh/authorized_keys"))))
        for login in logins:
            content = found[login]
            assert content is not None, f"{login}: no authorized_keys"
            assert content.splitlines() == [good.row(login).ssh_key], login
            assert next(modes) == f"700 {login} {login} directory"
            assert next(modes) == f"600 {login} {login} regular file"

    def test_user_without_key_gets_no_authorized_keys(self, good: Scenario) -> None:
        assert authorized_keys(good.node, "rdurand") is None

    def test_new_passwords_are_set_and_must_be_changed_at_first_login(self, good: Scenario) -> None:
        for login in GOOD_CREATED:
            shadow = good.accounts.shadow[login]
            assert shadow[1].startswith("$"), f"{login}: no password hash ({shadow[1]!r})"
            assert shadow[2] == "0", f"{login}: last change is {shadow[2]!r}, not 0 (change not forced)"
            assert shadow[7] == "", f"{login}: the account expires"

    def test_password_file_is_root_only_and_lists_every_created_login(self, good: Scenario) -> None:
        path = good.run.result["password_file"]
        assert stat(good.node, path) == "600 root root regular file"
        assert stat(good.node, PASSWORD_DIR) == "700 root root directory"
        assert sorted(good.passwords) == GOOD_CREATED
        for login, password in good.passwords.items():
            assert len(password) == 20, f"{login}: password of {len(password)} characters"

    def test_recorded_passwords_open_the_accounts(self, good: Scenario) -> None:
        assert good.passwords
        for login, password in good.passwords.items():
            assert password_opens(good.node, password, good.accounts.shadow[login][1]), login

    def test_passwords_never_appear_in_output_or_syslog(self, good: Scenario) -> None:
        assert good.passwords
        syslog = good.node.syslog()
        for login, password in good.passwords.items():
            assert password not in good.run.stdout, f"{login}'s password on stdout"
            assert password not in good.run.stderr, f"{login}'s password on stderr"
            assert password not in syslog, f"{login}'s password in syslog"

    def test_actions_are_logged_to_syslog_under_the_script_tag(self, good: Scenario) -> None:
        tagged = [line for line in good.node.syslog().splitlines() if SYSLOG_TAG in line]
        assert tagged, f"nothing in syslog under {SYSLOG_TAG}"
        for login in GOOD_CREATED:
            assert any(login in line for line in tagged), f"{login}'s creation is not in syslog"

    def test_absent_login_that_does_not_exist_is_left_alone(self, good: Scenario) -> None:
        assert "lgone" not in good.accounts.passwd
        assert "lgone" not in good.accounts.group
        assert not good.node.exists("/home/lgone")


# ==================================================================================================
# The other contract scenarios: one fresh container each


def test_second_run_changes_nothing(node: Node, impl: Impl, keys: Keys) -> None:
    text = csv(*good_rows(keys))
    first = provision(node, impl, text)
    assert first.exit == 0, first
    before, second, after = provision_between(node, impl, text)
    assert second.exit == 0, second
    expected = {"status": "ok", "changed": 0, "dry_run": False, "created": [], "updated": [],
                "disabled": [], "groups_created": [], "unchanged": len(good_rows(keys)),
                "password_file": None}
    assert subset(second.result, expected) == expected
    assert_same_host(before, after)


def test_quiet_run_with_nothing_to_do_prints_only_the_result(node: Node, impl: Impl, keys: Keys) -> None:
    text = csv(*good_rows(keys))
    assert provision(node, impl, text).exit == 0
    quiet = provision(node, impl, text, "--quiet")
    assert quiet.exit == 0, quiet
    assert quiet.stderr == "", f"--quiet narrated although nothing changed{quiet!r}"
    assert len(quiet.stdout.splitlines()) == 1 and quiet.result["changed"] == 0, quiet


@pytest.mark.parametrize("flag", ["--dry-run", "-n"])
def test_dry_run_reports_planned_changes_and_changes_nothing(node: Node, impl: Impl, keys: Keys,
                                                             flag: str) -> None:
    before, run, after = provision_between(node, impl, csv(*good_rows(keys)), flag)
    assert run.exit == 0, run
    expected = {**expected_first_run(impl), "dry_run": True, "password_file": None}
    assert subset(run.result, expected) == expected
    for login in GOOD_CREATED:
        assert login in run.stderr, f"the planned creation of {login} is not reported{run!r}"
    assert_same_host(before, after)


def test_malformed_csv_creates_no_user(node: Node, impl: Impl, keys: Keys) -> None:
    rows = good_rows(keys)
    text = csv(*rows[:3], 'bob;"Bob;Smith;;;;', *rows[3:])
    before, run, after = provision_between(node, impl, text)
    assert_refused(run, 5, {"first_name", "row"}, "unterminated quoted field",
                   good_lines=(2, 3, 4, 6, 7, 8, 9, 10))
    assert_same_host(before, after)


def test_run_while_another_holds_the_lock_exits_3_and_changes_nothing(node: Node, impl: Impl,
                                                                       keys: Keys) -> None:
    node.sh(f"mkdir -p -m 0755 {LOCK.rsplit('/', 1)[0]} && touch {LOCK}")
    subprocess.run(["docker", "exec", "--detach", node.name, "flock", LOCK, "sleep", "300"], check=True)
    node.sh(f"for i in $(seq 50); do [ -e {LOCK} ] && ! flock -n {LOCK} true && exit 0; sleep 0.1; done; "
            "exit 1")
    before, run, after = provision_between(node, impl, csv(*good_rows(keys)))
    assert run.exit == 3, run
    assert run.result.get("changed") == 0, run
    assert_same_host(before, after)


def test_custom_password_file_receives_the_passwords(node: Node, impl: Impl) -> None:
    path = "/root/new-passwords.csv"
    run = provision(node, impl, csv(Row("pcustom", "Paul", "Custom")), "--password-file", path)
    assert run.exit == 0, run
    assert run.result.get("password_file") == path
    assert stat(node, path) == "600 root root regular file"
    assert list(password_file(node, path)) == ["pcustom"]


def test_failing_system_command_exits_1_with_a_failed_result(node: Node, impl: Impl) -> None:
    broken = "#!/bin/sh\necho \"$0: broken for the test\" >&2\nexit 1\n"
    for tool in ("/usr/sbin/newusers", "/usr/sbin/useradd"):      # replaced in place: PATH does not matter
        node.write(tool, broken, mode="0755")
    run = provision(node, impl, csv(Row("pbroken", "Paul", "Broken")))
    assert run.exit == 1, run
    result = run.result
    assert result.get("status") == "failed", run
    assert isinstance(result.get("error"), str) and result["error"].strip() and "\n" not in result["error"]


@pytest.mark.parametrize(("os_id", "id_like", "exit_code"), [
    pytest.param("linuxmint", "ubuntu debian", 0, id="debian-like-is-accepted"),
    pytest.param("alpine", "", 2, id="other-family-is-refused"),
])
def test_os_family_comes_from_os_release(node: Node, impl: Impl, os_id: str, id_like: str,
                                         exit_code: int) -> None:
    release = f'NAME="Test"\nID={os_id}\n' + (f'ID_LIKE="{id_like}"\n' if id_like else "")
    node.sh("rm -f /etc/os-release && cat > /etc/os-release && chmod 0644 /etc/os-release",
            stdin=release.encode())
    before, run, after = provision_between(node, impl, csv(Row("posfam", "Paul", "Family")), "--dry-run")
    assert run.exit == exit_code, run
    if exit_code:
        assert os_id in run.stderr, f"the refused OS is not named{run!r}"
    assert_same_host(before, after)


@pytest.mark.parametrize("link", [".ssh", ".ssh/authorized_keys"])
def test_symlinked_ssh_path_is_refused_and_its_target_untouched(node: Node, impl: Impl, keys: Keys,
                                                                link: str) -> None:
    assert provision(node, impl, csv(Row("slink", "Sam", "Link", ssh_key=keys.ed25519))).exit == 0
    # The user (who owns the home) points the path at root's files, hoping root will write there.
    target = "/root/victim" if link == ".ssh" else "/root/victim-file"
    state = SNAPSHOT + "".join(f"printf '=== {path}\\n'; cat {path}\n"
                               for path in ("/root/victim/authorized_keys", "/root/victim-file"))
    before = prepare(node, "mkdir -p /root/victim && printf 'precious\\n' > /root/victim/authorized_keys"
                           " && printf 'precious\\n' > /root/victim-file"
                           f" && rm -rf /home/slink/{link} && ln -s {target} /home/slink/{link}"
                           f" && chown -h slink:slink /home/slink/{link}", state)
    text = csv(Row("slink", "Sam", "Link", ssh_key=keys.ed25519_other))
    (run,), printed = run_in_turn(node, [(text, command(impl))], state)
    after = parse_snapshot(printed)
    assert_refused(run, 2, {"ssh_key"})
    assert_same_host(before, after)
    assert after["/root/victim/authorized_keys"] == "precious\n"
    assert after["/root/victim-file"] == "precious\n"


def test_locked_account_without_a_password_gets_a_new_recorded_one(node: Node, impl: Impl) -> None:
    node.sh("useradd --create-home --uid 2000 --comment 'Old Account' --shell /bin/bash legacy")
    assert accounts(node).shadow["legacy"][1] in ("!", "!!", "*"), "useradd leaves no usable password"
    run = provision(node, impl, csv(Row("legacy", "Old", "Account")))
    assert run.exit == 0, run
    expected = {"status": "changed", "changed": 1, "created": [], "updated": ["legacy"]}
    assert subset(run.result, expected) == expected
    path = run.result.get("password_file")
    assert isinstance(path, str), f"the new password is not recorded{run!r}"
    passwords = password_file(node, path)
    assert list(passwords) == ["legacy"]
    shadow = accounts(node).shadow["legacy"]
    assert password_opens(node, passwords["legacy"], shadow[1])
    assert shadow[2] == "0", "the new password need not be changed at first login"


def test_passwords_never_appear_on_a_command_line(node: Node, impl: Impl, keys: Keys) -> None:
    # Each account tool is moved to TOOL.real and replaced by a wrapper that logs its argv, then runs it.
    node.write("/root/wrapper", '#!/bin/sh\nprintf "%s\\n" "$0 $*" >> /root/argv.log\nexec "$0.real" "$@"\n')
    node.sh("for t in newusers chpasswd chage usermod useradd groupadd gpasswd passwd mkpasswd openssl; do"
            " real=$(command -v $t) || continue;"
            " mv \"$real\" \"$real.real\" && install -m 755 /root/wrapper \"$real\";"
            " done")
    run = provision(node, impl, csv(*good_rows(keys)))
    assert run.exit == 0, run
    logged = node.sh("cat /root/argv.log 2>/dev/null", check=False)
    if not logged:
        pytest.skip("no account tool was run through its wrapper: nothing to look at")
    passwords = password_file(node, run.result["password_file"])
    for login, password in passwords.items():
        assert password not in logged, f"{login}'s password on a command line"


def test_expired_account_listed_present_is_unexpired_with_its_password(node: Node, impl: Impl) -> None:
    text = csv(Row("pexpired", "Paul", "Expired"))
    assert provision(node, impl, text).exit == 0
    node.sh("usermod -e 1 pexpired")
    hashed = accounts(node).shadow["pexpired"][1]
    run = provision(node, impl, text)
    assert run.exit == 0, run
    expected = {"status": "changed", "changed": 1, "updated": ["pexpired"], "password_file": None}
    assert subset(run.result, expected) == expected
    shadow = accounts(node).shadow["pexpired"]
    assert shadow[7] == "", f"still expires ({shadow[7]!r})"
    assert shadow[1] == hashed, "the password was changed"


def test_authorized_keys_are_brought_back_to_the_listed_key_and_modes(node: Node, impl: Impl,
                                                                      keys: Keys) -> None:
    text = csv(Row("pkeys", "Paul", "Keys", ssh_key=keys.ed25519))
    assert provision(node, impl, text).exit == 0
    # The user adds a key of their own and opens the modes.
    node.sh(f"echo '{keys.ecdsa256}' >> /home/pkeys/.ssh/authorized_keys"
            " && chmod 755 /home/pkeys/.ssh && chmod 644 /home/pkeys/.ssh/authorized_keys")
    run = provision(node, impl, text)
    assert run.exit == 0, run
    expected = {"status": "changed", "changed": 1, "updated": ["pkeys"]}
    assert subset(run.result, expected) == expected
    assert (authorized_keys(node, "pkeys") or "").splitlines() == [keys.ed25519]
    assert stat(node, "/home/pkeys/.ssh") == "700 pkeys pkeys directory"
    assert stat(node, "/home/pkeys/.ssh/authorized_keys") == "600 pkeys pkeys regular file"


def test_existing_password_files_are_never_overwritten(node: Node, impl: Impl) -> None:
    # A file for every second of the next half minute, as if runs had just made them.
    node.sh(f"mkdir -p -m 700 {PASSWORD_DIR} && now=$(date -u +%s) && for i in $(seq -2 30); do"
            f" f={PASSWORD_DIR}/passwords-$(date -u -d @$((now + i)) +%Y%m%dT%H%M%SZ).csv;"
            " printf 'login;password\\nsentinel;do-not-lose-me\\n' > $f && chmod 600 $f; done")
    sentinels = node.sh(f"cd {PASSWORD_DIR} && sha256sum *")
    run = provision(node, impl, csv(Row("pnew", "Paul", "New")))
    assert run.exit == 0, run
    names = " ".join(line.split()[1] for line in sentinels.splitlines())       # made above: no odd characters
    now = node.sh(f"cd {PASSWORD_DIR} && sha256sum {names}", check=False)
    assert now == sentinels, "an existing password file was overwritten"
    path = run.result["password_file"]
    assert re.search(r"-\d+\.csv$", path) and DEFAULT_PASSWORD_FILE.match(path), path
    assert stat(node, path) == "600 root root regular file"
    assert list(password_file(node, path)) == ["pnew"]


def test_password_file_option_naming_an_existing_file_is_refused(node: Node, impl: Impl) -> None:
    node.write("/root/old-passwords.csv", "login;password\nsomeone;secret\n", mode="0600")
    before, run, after = provision_between(node, impl, csv(Row("pnew", "Paul", "New")),
                                           "--password-file", "/root/old-passwords.csv")
    assert run.exit == 2, run
    assert "/root/old-passwords.csv" in run.stderr, run
    assert_same_host(before, after)
    assert node.read("/root/old-passwords.csv") == "login;password\nsomeone;secret\n"


UNSAFE_FOLDERS = {
    "folder-open-to-all": "mkdir -p -m 755 {dir}",
    "folder-not-owned-by-root": "mkdir -p -m 700 {dir} && chown 65534 {dir}",
    "folder-is-a-symlink": "mkdir -p -m 700 /root/elsewhere {dir} && rmdir {dir}"
                           " && ln -s /root/elsewhere {dir}",
}


@pytest.mark.parametrize("unsafe", list(UNSAFE_FOLDERS))
@pytest.mark.parametrize("folder", ["default", "given"])
def test_unsafe_password_folder_is_refused(node: Node, impl: Impl, folder: str, unsafe: str) -> None:
    """Spec: "A missing folder is created 0700; an existing one must be root-owned with mode 0700 …
    Anything else is a validation error (exit 2)" — for the default folder as for a given one."""
    where = PASSWORD_DIR if folder == "default" else "/root/passwords"
    flags = ("--password-file", f"{where}/new.csv") if folder == "given" else ()
    # The host, the folder's mode and owner (through the symlink), what the symlink points to.
    state = (SNAPSHOT + f"printf '=== folder\\n'; stat -L -c '%a %U' {where}\n"
             "printf '=== elsewhere\\n'; ls -A /root/elsewhere 2>/dev/null || true\n")
    before = prepare(node, UNSAFE_FOLDERS[unsafe].format(dir=where), state)
    (run,), printed = run_in_turn(node, [(csv(Row("pnew", "Paul", "New")), command(impl, *flags))], state)
    after = parse_snapshot(printed)
    assert run.exit == 2, run
    assert after.pop("folder") == before.pop("folder"), "the folder was changed"
    assert_same_host(before, after)
    assert after["elsewhere"] == "", "something was written where the symlink points"


# ==================================================================================================
# No privilege by CSV: privileged, system and foreign groups, administrators' accounts (fresh
# container each; the name-only cases are in REFUSED). Every refusal: exit 2, the line and field,
# and the host exactly as before (passwd, shadow, group, gshadow, homes, /var/lib/tssr-kit).

# A group made by hand, in the managed GID range, that sudo trusts: the case a GID rule alone misses.
HANDMADE = ("groupadd --gid 1234 ops && mkdir -p /etc/sudoers.d"
            " && echo '%ops ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/ops")
RECORD = f"{PASSWORD_DIR}/created-groups"


def refused_run(node: Node, impl: Impl, setup: str, text: str, *flags: str, state: str = SNAPSHOT
                ) -> tuple[Run, dict[str, str], dict[str, str]]:
    """``setup`` (test code), then one run of ``text`` with ``flags``: the run, the state before and after."""
    before = prepare(node, setup, state)
    (run,), printed = run_in_turn(node, [(text, command(impl, *flags))], state)
    return run, before, parse_snapshot(printed)


def test_group_made_by_hand_is_refused_even_in_the_login_range(node: Node, impl: Impl) -> None:
    run, before, after = refused_run(node, impl, HANDMADE, csv(GOOD, Row("newops", "New", "Ops", "ops")))
    assert_refused(run, 3, {"groups"}, "'ops' (GID 1234) was not created by provision-users: refused unless "
                   "allowed with --allow-group ops", good_lines=(2,))
    assert_same_host(before, after)


def test_new_login_named_like_a_group_made_by_hand_is_refused(node: Node, impl: Impl) -> None:
    run, before, after = refused_run(node, impl, HANDMADE, csv(Row("ops", "Oscar", "Ops")))
    assert_refused(run, 2, {"login"},
                   "'ops' is the name of a group (GID 1234) not created by provision-users")
    assert_same_host(before, after)


# Administrators made outside the file, with a key of their own: `alex` in sudo, `boss` with sudo as
# primary group. (Not `admin`: that name is itself a privileged group, Ubuntu's old sudo group.)
ADMIN = ("useradd --create-home --uid 1500 --groups sudo alex"
         " && useradd --create-home --uid 1501 --gid sudo boss"
         " && for u in alex boss; do install -d -m 700 -o $u /home/$u/.ssh"
         " && echo \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOwn $u-own\" > /home/$u/.ssh/authorized_keys; done")
KEYS_STATE = (SNAPSHOT + "printf '=== keys\\n';"
              " cat /home/alex/.ssh/authorized_keys /home/boss/.ssh/authorized_keys\n")


@pytest.mark.parametrize("state", ["present", "absent"])
def test_an_administrator_s_account_can_be_neither_taken_over_nor_locked_by_the_file(
        node: Node, impl: Impl, keys: Keys, state: str) -> None:
    """`alex` is in sudo, `boss` has sudo as primary group: a row may not replace their key, unlock,
    lock or expire them."""
    text = csv(Row("alex", "Alex", "Min", ssh_key=keys.ed25519, state=state),
               Row("boss", "The", "Boss", ssh_key=keys.ed25519, state=state))
    run, before, after = refused_run(node, impl, ADMIN, text, state=KEYS_STATE)
    assert_refused(run, 2, {"login"}, "'alex' is a member of the privileged group 'sudo': refused unless "
                   "allowed with --allow-group sudo")
    assert_refused(run, 3, {"login"}, "'boss' is a member of the privileged group 'sudo'")
    assert_same_host(before, after)
    assert keys.ed25519 not in after["keys"]


SUDOERS = ("useradd --create-home --uid 1800 jdoe"
           " && echo 'jdoe ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/jdoe"
           " && useradd --create-home --uid 1801 --groups ops opsie"
           " && useradd --create-home --uid 1802 plain")


def test_an_account_sudo_trusts_by_name_or_through_a_foreign_group_is_refused(node: Node, impl: Impl,
                                                                            keys: Keys) -> None:
    """Rights sudo gives by name (or to a group no list knows) are found with `sudo -l -U`: a file may
    not adopt such an account, even with its groups allowed; an account sudo does not trust may."""
    text = csv(Row("jdoe", "John", "Doe", ssh_key=keys.ed25519), Row("opsie", "Op", "Sie", "ops"),
               Row("plain", "Plain", "User"))
    run, before, after = refused_run(node, impl, f"{HANDMADE} && {SUDOERS}", text, "--allow-group", "ops")
    assert_refused(run, 2, {"login"}, "'jdoe' may run commands through sudo and was not created by "
                   "provision-users: refused (manage this account by hand)", good_lines=(4,))
    assert_refused(run, 3, {"login"}, "'opsie' may run commands through sudo", good_lines=(4,))
    assert_same_host(before, after)


def test_allowed_group_is_granted_and_its_members_then_need_the_option(node: Node, impl: Impl) -> None:
    text = csv(Row("chief", "Chief", "Admin", "sudo"))
    runs, printed = run_in_turn(node, [(text, command(impl, "--allow-group", "sudo")),
                                       (text, command(impl, "--allow-group=sudo")),
                                       (text, command(impl))], ACCOUNTS)
    first, again, without = runs
    assert first.exit == 0, first
    assert parse_accounts(printed).member_of("chief") == {"sudo"}
    assert subset(again.result, {"status": "ok", "changed": 0}) == {"status": "ok", "changed": 0}, again
    assert_refused(without, 2, {"groups"}, "'sudo' is a privileged group")
    assert_refused(without, 2, {"login"}, "'chief' is a member of the privileged group 'sudo'")


@pytest.mark.parametrize("option", [("--allow-group", "root"), ("--allow-group", "Bad name"),
                                    ("--allow-group=",), ("--allow-group=-x",)])
def test_allow_group_needs_a_group_name_and_never_root(clean: Clean, impl: Impl,
                                                       option: tuple[str, ...]) -> None:
    run = provision(clean, impl, csv(GOOD), *option)
    assert run.exit == 2, run
    assert "--allow-group" in run.stderr, run
    assert_nothing_changed(clean)


def test_groups_the_script_made_are_recorded_and_stay_usable(node: Node, impl: Impl) -> None:
    first = provision(node, impl, csv(Row("ana", "Ana", "A", "compta")))
    assert first.exit == 0, first
    record = node.read(RECORD)
    groups = parse_accounts(node.sh(ACCOUNTS)).group
    assert record == "".join(f"{name}:{groups[name][2]}\n" for name in ("ana", "compta")), record
    assert stat(node, RECORD) == "600 root root regular file"
    # Another user in the same group, and a new user named like it: both are the script's own.
    second = provision(node, impl, csv(Row("ana", "Ana", "A", "compta"),
                                       Row("ben", "Ben", "B", "compta ana")))
    assert second.exit == 0, second
    assert parse_accounts(node.sh(ACCOUNTS)).member_of("ben") == {"compta", "ana"}


UNTRUSTED_RECORDS = {
    "writable-by-all": f"chmod 666 {RECORD}",
    "owned-by-a-user": f"chown 65534 {RECORD}",
    "a-symlink": f"printf 'ops:1234\\n' > /root/fake && rm {RECORD} && ln -s /root/fake {RECORD}",
    "in-an-open-folder": f"chmod 755 {PASSWORD_DIR}",
}


@pytest.mark.parametrize("how", list(UNTRUSTED_RECORDS))
def test_a_record_of_created_groups_others_could_write_is_not_trusted(node: Node, impl: Impl,
                                                                     how: str) -> None:
    assert provision(node, impl, csv(Row("ana", "Ana", "A", "compta"))).exit == 0
    run, before, after = refused_run(node, impl, f"{HANDMADE} && {UNTRUSTED_RECORDS[how]}",
                                     csv(Row("ana", "Ana", "A", "compta ops")))
    assert run.exit == 2, run
    assert "created-groups cannot be trusted" in run.stderr, run
    assert run.result["status"] == "failed"
    assert_same_host(before, after)


def test_group_deleted_and_made_again_by_someone_else_is_foreign(node: Node, impl: Impl) -> None:
    assert provision(node, impl, csv(Row("ana", "Ana", "A", "compta"))).exit == 0
    run, before, after = refused_run(node, impl, "groupdel compta && groupadd --gid 1777 compta",
                                     csv(Row("ana", "Ana", "A", "compta")))
    assert_refused(run, 2, {"groups"}, "'compta' (GID 1777) was not created by provision-users")
    assert_same_host(before, after)


def test_new_group_for_an_existing_user_needs_a_private_record_folder(node: Node, impl: Impl) -> None:
    setup = f"useradd --create-home --uid 1600 joe && mkdir -p -m 755 {PASSWORD_DIR}"
    run, before, after = refused_run(node, impl, setup, csv(Row("joe", "Joe", "J", "newgrp")))
    assert run.exit == 2, run
    assert f"folder {PASSWORD_DIR} must be owned by root with mode 0700" in run.stderr, run
    assert_same_host(before, after)


# --------------------------------------------------------------------------------------------------
# Names read from the host are data: a home path another user can redirect, a ~/.ssh that is not the
# user's. The key of an existing user is written as that user, and such homes are refused.

ROOT_SSH = SNAPSHOT + ("printf '=== root ssh\\n'; ls -la --time-style=full-iso /root/.ssh 2>&1;"
                       " cat /root/.ssh/authorized_keys 2>&1\n"
                       "printf '=== shared\\n'; ls -la --time-style=full-iso /srv/shared 2>&1\n")


def test_key_for_a_user_whose_home_now_points_at_root_s_folder_is_refused(node: Node, impl: Impl,
                                                                          keys: Keys) -> None:
    # vic's home is in a shared sticky folder; vic (who owns it) swaps it for a link to /root.
    setup = ("mkdir -p -m 1777 /srv/shared"
             " && useradd --create-home --home-dir /srv/shared/vic --uid 1700 vic"
             " && mkdir -p -m 700 /root/.ssh && echo 'precious' > /root/.ssh/authorized_keys"
             " && runuser -u vic -- sh -c 'rm -rf /srv/shared/vic && ln -s /root /srv/shared/vic'")
    run, before, after = refused_run(node, impl, setup, csv(Row("vic", "Vic", "Tim", ssh_key=keys.ed25519)),
                                     state=ROOT_SSH)
    assert_refused(run, 2, {"ssh_key"},
                   "home directory /srv/shared/vic is owned by UID 0, not by 'vic': refused")
    assert_same_host(before, after)
    assert "precious" in after["root ssh"]


def test_ssh_folder_of_someone_else_in_the_home_is_refused_not_handed_over(node: Node, impl: Impl,
                                                                           keys: Keys) -> None:
    setup = ("useradd --create-home --uid 1701 sam && mkdir -m 755 /home/sam/.ssh"
             " && echo kept > /home/sam/.ssh/note")
    run, before, after = refused_run(node, impl, setup, csv(Row("sam", "Sam", "S", ssh_key=keys.ed25519)))
    assert_refused(run, 2, {"ssh_key"}, "/home/sam/.ssh is owned by UID 0, not by 'sam': refused")
    assert_same_host(before, after)


# ==================================================================================================
# Updates: one container goes through a story; each test checks one part of it


def rows_before(keys: Keys) -> list[Row]:
    return [
        Row("amartin", "Anaïs", "Martin", "compta projets", "/bin/bash", keys.ed25519, "present"),
        Row("bleroy", "Bruno", "Leroy", "support", "", keys.ecdsa256, "present"),
        Row("cpetit", "Chloé", "Petit", "compta", "", "", "present"),
        Row("dmoreau", "David", "Moreau", "", "", "", "present"),
        Row("eroux", "Émile", "Roux", "support", "", keys.rsa3072, "present"),
        Row("fnoel", "Fanny", "Noël", "", "", keys.rsa2048, "present"),
        Row("gsimon", "Gaëlle", "Simon", "projets", "", "", "present"),
    ]


def rows_update(keys: Keys) -> list[Row]:
    return [
        Row("amartin", "Anaïs", "Martin-Durand", "compta", "/bin/bash", keys.ed25519, "present"),
        Row("bleroy", "Bruno", "Leroy", "support", "/bin/sh", keys.ecdsa256, "present"),
        Row("cpetit", "Chloé", "Petit", "compta ventes", "", "", "present"),
        Row("dmoreau", "David", "Moreau", "", "", keys.ed25519_other, "present"),
        Row("eroux", "Émile", "Roux", "", "", "", "absent"),
        Row("fnoel", "Fanny", "Noël", "", "", keys.ed25519_other, "present"),
        Row("gsimon", "Gaëlle", "Simon", "projets", "", "", "present"),
        Row("hblanc", "Hugo", "Blanc", "ventes", "", "", "present"),
    ]


def rows_back(keys: Keys) -> list[Row]:
    """eroux comes back; everything else as in the update."""
    return [replace(r, groups="support", state="present") if r.login == "eroux" else r
            for r in rows_update(keys)]


UPDATE_EXPECTED = {
    "status": "changed", "changed": 8, "created": ["hblanc"],
    "updated": ["amartin", "bleroy", "cpetit", "dmoreau", "fnoel"], "disabled": ["eroux"],
    "groups_created": ["ventes"], "unchanged": 1,
}


@dataclass
class Story:
    node: Node
    before: Accounts               # after the first file, plus the local changes below
    eroux_hash: str
    dry: Run
    dry_changed: bool
    update: Run
    after: Accounts
    again: Run
    again_changed: bool
    back: Run
    back_accounts: Accounts
    files: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="class")
def story(target: Target, class_nodes: NodeFactory, keys: Keys) -> Story:
    """One container: the first file, local changes, a dry run, the update, the update again, eroux back."""
    node, impl = class_nodes(target.platform), target.impl
    first = provision(node, impl, csv(*rows_before(keys)))
    if first.exit != 0:
        pytest.fail(f"the first file was not applied{first!r}")
    # Local state the file knows nothing about: a user outside the file in two of its groups,
    # a file member added by hand to a system group, data in the leaver's home.
    node.sh("useradd --create-home --uid 1500 --groups compta,projets outsider"
            " && usermod -a -G audio cpetit"
            " && printf 'notes\\n' > /home/eroux/notes.txt && chown eroux: /home/eroux/notes.txt")
    before = accounts(node)
    text = csv(*rows_update(keys))
    snap, dry, after_dry = provision_between(node, impl, text, "--dry-run")
    dry_changed = after_dry != snap
    update = provision(node, impl, text)
    after = accounts(node)
    found = authorized_keys_of(node, ["eroux", "dmoreau", "fnoel"])
    files = {
        "eroux_notes": node.sh("cat /home/eroux/notes.txt", check=False),
        "eroux_keys": found["eroux"] or "",
        "dmoreau_keys": found["dmoreau"] or "",
        "fnoel_keys": found["fnoel"] or "",
        "dmoreau_ssh": stat(node, "/home/dmoreau/.ssh") if node.exists("/home/dmoreau/.ssh") else "",
        "dmoreau_ak": (stat(node, "/home/dmoreau/.ssh/authorized_keys")
                       if found["dmoreau"] is not None else ""),
    }
    snap, again, after_again = provision_between(node, impl, text)
    again_changed = after_again != snap
    back = provision(node, impl, csv(*rows_back(keys)))
    return Story(node, before, before.shadow["eroux"][1], dry, dry_changed, update, after, again,
                 again_changed, back, accounts(node), files)



class TestUpdate:
    def test_update_reports_who_was_created_updated_and_disabled(self, story: Story) -> None:
        assert story.update.exit == 0, story.update
        assert subset(story.update.result, UPDATE_EXPECTED) == UPDATE_EXPECTED

    def test_changed_name_is_written_to_gecos(self, story: Story) -> None:
        assert story.after.passwd["amartin"][4] == "Anaïs Martin-Durand"

    def test_changed_shell_is_applied(self, story: Story) -> None:
        assert story.after.passwd["bleroy"][6] == "/bin/sh"

    def test_user_leaves_every_group_no_longer_listed(self, story: Story) -> None:
        assert story.after.member_of("amartin") == {"compta"}
        assert story.after.member_of("cpetit") == {"compta", "ventes"}, "cpetit: audio (added by hand)"

    def test_members_not_in_the_file_keep_their_groups(self, story: Story) -> None:
        assert story.after.member_of("outsider") == {"compta", "projets"}
        for table in ("passwd", "shadow"):
            assert getattr(story.after, table)["outsider"] == getattr(story.before, table)["outsider"]

    def test_missing_group_is_created_and_joined(self, story: Story) -> None:
        assert 1000 <= story.after.gid_of("ventes") <= 60000
        assert story.after.member_of("hblanc") == {"ventes"}

    def test_key_is_added_or_replaced(self, story: Story, keys: Keys) -> None:
        assert story.files["dmoreau_keys"].splitlines() == [keys.ed25519_other]
        assert story.files["fnoel_keys"].splitlines() == [keys.ed25519_other]
        assert story.files["dmoreau_ssh"] == "700 dmoreau dmoreau directory"
        assert story.files["dmoreau_ak"] == "600 dmoreau dmoreau regular file"

    def test_user_whose_line_did_not_change_is_not_touched(self, story: Story) -> None:
        for table in ("passwd", "shadow"):
            assert getattr(story.after, table)["gsimon"] == getattr(story.before, table)["gsimon"]
        assert story.after.member_of("gsimon") == {"projets"}

    def test_absent_user_is_locked_expired_and_given_nologin(self, story: Story, target: Target) -> None:
        shadow = story.after.shadow["eroux"]
        assert shadow[1].startswith("!"), f"password not locked: {shadow[1][:3]}…"
        assert shadow[7] == "1", f"expiry date is {shadow[7]!r}, not 1 (1970-01-02)"
        assert story.after.passwd["eroux"][6] == target.platform.nologin

    def test_absent_user_keeps_home_data_groups_and_key(self, story: Story, keys: Keys) -> None:
        assert story.files["eroux_notes"] == "notes\n"
        assert story.files["eroux_keys"].splitlines() == [keys.rsa3072]
        assert story.after.member_of("eroux") == {"support"}
        assert story.after.passwd["eroux"][5] == "/home/eroux"

    def test_update_password_file_holds_only_the_new_login(self, story: Story) -> None:
        path = story.update.result["password_file"]
        assert DEFAULT_PASSWORD_FILE.match(path or ""), path
        assert list(password_file(story.node, path)) == ["hblanc"]

    def test_dry_run_plans_exactly_what_the_update_does(self, story: Story) -> None:
        assert story.dry.exit == 0, story.dry
        assert not story.dry_changed, "the dry run changed the host"
        planned = {k: v for k, v in story.dry.result.items() if k not in ("dry_run", "password_file")}
        done = {k: v for k, v in story.update.result.items() if k not in ("dry_run", "password_file")}
        assert planned == done
        assert story.dry.result["dry_run"] is True and story.dry.result["password_file"] is None

    def test_update_run_twice_changes_nothing(self, story: Story) -> None:
        assert story.again.exit == 0, story.again
        expected = {"status": "ok", "changed": 0, "created": [], "updated": [], "disabled": [],
                    "groups_created": [], "unchanged": 8, "password_file": None}
        assert subset(story.again.result, expected) == expected
        assert not story.again_changed, "the second run changed the host"

    def test_user_present_again_is_re_enabled_with_the_same_password(self, story: Story) -> None:
        assert story.back.exit == 0, story.back
        expected = {"status": "changed", "changed": 1, "created": [], "updated": ["eroux"],
                    "disabled": [], "groups_created": [], "unchanged": 7, "password_file": None}
        assert subset(story.back.result, expected) == expected
        shadow = story.back_accounts.shadow["eroux"]
        assert shadow[1] == story.eroux_hash, "the password is not the one eroux had"
        assert shadow[7] == "", f"still expires ({shadow[7]!r})"
        assert story.back_accounts.passwd["eroux"][6] == "/bin/bash"


# ==================================================================================================
# File format: tricky but valid files (fresh container each)


def test_comma_delimiter_bom_crlf_and_quotes_are_understood(node: Node, impl: Impl, keys: Keys) -> None:
    text = "\ufeff" + "\r\n".join([
        " login , first_name,last_name ,groups,shell,ssh_key,state",
        "",
        f' hquote , "Jean-Éric" ,"O\'Brien",  "grpa grpb"  ,"","{keys.ed25519}", present ',
        "   ",
        "hplain,Zoë,Lefèvre,grpa,/bin/sh,,",
    ]) + "\r\n"
    run = provision(node, impl, text)
    assert run.exit == 0, run
    assert run.result["created"] == ["hplain", "hquote"]
    acc = accounts(node)
    assert acc.passwd["hquote"][4] == "Jean-Éric O'Brien"
    assert acc.passwd["hquote"][6] == "/bin/bash"
    assert acc.member_of("hquote") == {"grpa", "grpb"}
    assert (authorized_keys(node, "hquote") or "").splitlines() == [keys.ed25519]
    assert acc.passwd["hplain"][4] == "Zoë Lefèvre"
    assert acc.passwd["hplain"][6] == "/bin/sh"
    assert "\r" not in node.read("/etc/passwd") + node.read("/etc/group")


def test_columns_in_any_order_and_optional_columns_may_be_missing(node: Node, impl: Impl) -> None:
    text = "last_name;login;first_name\nDubois;mdubois;Marc\nPetit;lpetit;Lou"      # no final newline
    run = provision(node, impl, text)
    assert run.exit == 0, run
    assert run.result["created"] == ["lpetit", "mdubois"]
    acc = accounts(node)
    assert acc.passwd["mdubois"][4] == "Marc Dubois"
    assert acc.passwd["lpetit"][6] == "/bin/bash"
    assert acc.member_of("lpetit") == set()
    assert authorized_keys(node, "lpetit") is None


def boundary_rows(keys: Keys) -> list[Row]:
    """Every value at the longest (or otherwise extreme) the spec allows."""
    return [
        Row("_" + "a" * 31, "A" * 64, "B" * 64, "g" * 32, "", keys.bare(keys.rsa2048) + " " + "c" * 100),
        Row("a-b_c9", "É" * 64, "Ο" * 64, "x-y_z x-y_z", "/bin/sh", keys.bare(keys.ed25519)),
        Row("z", "J. R.", "D\u2019Arc - O'Neil", "", "", keys.ed25519.split()[0] + " "
            + keys.blob(keys.ed25519) + " user.name@host-1+tag=x/y"),
    ]


def test_values_at_the_limits_are_accepted(node: Node, impl: Impl, keys: Keys) -> None:
    rows = boundary_rows(keys)
    run = provision(node, impl, csv(*rows))
    assert run.exit == 0, run
    acc = accounts(node)
    found = authorized_keys_of(node, [row.login for row in rows])
    for row in rows:
        assert acc.passwd[row.login][4] == row.gecos, row.login
        assert acc.member_of(row.login) == row.group_set, row.login
        assert (found[row.login] or "").splitlines() == [row.ssh_key], row.login


def key_rows(keys: Keys) -> list[Row]:
    return [Row(f"k{n}", "Key", "Type", ssh_key=key) for n, key in enumerate(
        [keys.ed25519, keys.ecdsa256, keys.ecdsa384, keys.ecdsa521, keys.rsa2048, keys.rsa3072,
         keys.sk_ed25519, keys.bare(keys.ed25519_other)])]


def test_every_supported_key_type_is_accepted(node: Node, impl: Impl, keys: Keys) -> None:
    rows = key_rows(keys)
    run = provision(node, impl, csv(*rows))
    assert run.exit == 0, run
    found = authorized_keys_of(node, [row.login for row in rows])
    for row in rows:
        assert (found[row.login] or "").splitlines() == [row.ssh_key], row.ssh_key[:30]


# ==================================================================================================
# Input that must be refused: exit 2, `users.csv:<line>:<field>:`, nothing changed (shared container)

GOOD = Row("gooduser", "Good", "User", "newgroup")        # line 2: would create a user and a group


@dataclass(frozen=True)
class Case:
    """A file that must be refused, and the line and field (one of ``fields``) it must name."""

    id: str
    build: Callable[[Keys], str | bytes]
    line: int
    fields: frozenset[str]
    message: str | None = None
    good_lines: tuple[int, ...] = (2,)


def bad_row(case_id: str, fields: str, message: str | None = None, **values: str) -> Case:
    """A case whose line 3 is GOOD with ``values`` changed (values may use ``{key_name}``)."""
    def build(keys: Keys) -> str:
        formats = keys.formats()
        filled = {k: v.format(**formats) for k, v in values.items()}
        return csv(GOOD, replace(GOOD, **{"login": "baduser", "groups": "", **filled}))
    return Case(case_id, build, 3, frozenset(fields.split("|")), message)


def raw_line(case_id: str, line: str, fields: str, message: str | None = None) -> Case:
    """A case whose line 3 is written as is."""
    return Case(case_id, lambda keys: csv(GOOD, line), 3, frozenset(fields.split("|")), message)


def header(case_id: str, head: str, row: str) -> Case:
    return Case(case_id, lambda keys: head + "\n" + row + "\n", 1, frozenset({"header"}), good_lines=())


def raw_bytes(case_id: str, line: bytes, fields: str) -> Case:
    return Case(case_id, lambda keys: csv(GOOD).encode() + line + b"\n", 3, frozenset(fields.split("|")))


def _two_keys(keys: Keys) -> str:
    return csv(GOOD, replace(GOOD, login="baduser", groups="", ssh_key=f"{keys.ed25519} {keys.ecdsa256}"))


def _blob_key(kind: str, blob: bytes) -> str:
    return f"{kind} {base64.b64encode(blob).decode()}"


def _truncated(keys: Keys) -> str:
    blob = base64.b64decode(keys.blob(keys.ed25519))[:-8]
    return csv(GOOD, replace(GOOD, login="baduser", groups="", ssh_key=_blob_key("ssh-ed25519", blob)))


def _padded(keys: Keys) -> str:
    blob = base64.b64decode(keys.blob(keys.ed25519)) + b"\0" * 8
    return csv(GOOD, replace(GOOD, login="baduser", groups="", ssh_key=_blob_key("ssh-ed25519", blob)))


REFUSED: list[Case] = [
    # Quoting and shape (RFC 4180 subset)
    raw_line("quote-inside-unquoted-field", 'baduser;Ba"d;User;;;;', "first_name|row",
             "quote inside unquoted field"),
    raw_line("unterminated-quote", 'baduser;"Bad;User;;;;', "first_name|row", "unterminated quoted field"),
    raw_line("text-after-closing-quote", 'baduser;"Bad"x;User;;;;', "first_name|row",
             "text after closing quote"),
    raw_line("newline-inside-quotes", 'baduser;"Ba\nd";User;;;;', "first_name|row",
             "unterminated quoted field"),
    raw_line("too-few-fields", "baduser;Bad;User;;;", "row", "expected 7 fields, found 6"),
    raw_line("too-many-fields", "baduser;Bad;User;;;;;", "row", "expected 7 fields, found 8"),
    raw_line("doubled-quote-gives-a-quote-in-the-name", 'baduser;Bad;"O""Brien";;;;', "last_name"),
    # Header
    header("unknown-column", "login;first_name;last_name;email", "baduser;Bad;User;bad@example.org"),
    header("duplicate-column", "login;first_name;last_name;login", "baduser;Bad;User;baduser"),
    header("missing-required-column", "login;first_name;groups", "baduser;Bad;"),
    header("empty-column-name", "login;first_name;last_name;", "baduser;Bad;User;"),
    # login
    bad_row("empty-login", "login", login=""),
    bad_row("uppercase-login", "login", login="Baduser"),
    bad_row("login-of-33-characters", "login", login="a" * 33),
    bad_row("login-starting-with-a-digit", "login", login="1baduser"),
    bad_row("login-root", "login", login="root"),
    bad_row("login-of-system-account-daemon", "login", login="daemon"),
    bad_row("login-of-system-account-nobody", "login", login="nobody"),
    bad_row("login-of-lab-account-uid-990", "login", login="tssr"),
    bad_row("system-account-marked-absent", "login", login="daemon", state="absent"),
    bad_row("login-named-like-a-system-group", "login", login="staff"),
    bad_row("new-login-whose-home-exists", "login", login="ghost"),
    # names
    bad_row("empty-first-name", "first_name", first_name=""),
    bad_row("empty-last-name", "last_name", last_name=""),
    bad_row("name-not-starting-with-a-letter", "first_name", first_name="-Jean"),
    bad_row("name-of-65-characters", "last_name", last_name="B" * 65),
    bad_row("lone-carriage-return-in-a-name", "first_name", first_name="Ba\rd"),
    # groups
    bad_row("group-root", "groups", groups="root"),
    bad_row("group-with-gid-0", "groups", groups="wheelzero"),
    bad_row("group-with-gid-0-even-allowed-twice", "groups", groups="wheelzero wheelzero"),
    bad_row("uppercase-group", "groups", groups="Compta"),
    # No privilege by CSV: privileged groups (existing or not), system groups, and logins named like
    # privileged groups are refused unless --allow-group names them (docs/reference/users-csv.md).
    *[bad_row(f"privileged-group-{g}", "groups", f"'{g}' is a privileged group: refused unless allowed with "
              f"--allow-group {g}", groups=g)
      for g in ("sudo", "wheel", "admin", "adm", "disk", "shadow", "docker", "lxd", "libvirt", "kvm",
                "systemd-journal", "staff", "video", "input", "ssl-cert", "_ssh")],
    bad_row("privileged-group-after-a-good-one", "groups", "'sudo' is a privileged group",
            groups="newgroup sudo"),
    *[bad_row(f"system-group-{g}", "groups", f"'{g}' is a system group (GID {gid}): refused unless allowed "
              f"with --allow-group {g}", groups=g)
      for g, gid in (("audio", 29), ("www-data", 33), ("nogroup", 65534), ("backup", 34), ("tssr", 990))],
    bad_row("login-named-like-a-privileged-group-that-does-not-exist", "login",
            "'docker' is the name of a privileged group: refused unless allowed with --allow-group docker",
            login="docker"),
    bad_row("login-named-like-the-group-wheel", "login", "'wheel' is the name of a privileged group",
            login="wheel"),
    # shell (ruff S604 below: a login shell value, not subprocess's shell=True)
    bad_row("shell-not-installed", "shell", shell="/bin/zsh"),  # noqa: S604
    bad_row("relative-shell", "shell", shell="bin/bash"),  # noqa: S604
    bad_row("shell-path-with-dot-dot", "shell", shell="/bin/../bin/bash"),  # noqa: S604
    # state
    bad_row("unknown-state", "state", state="deleted"),
    # duplicates
    raw_line("duplicate-login", "gooduser;Good;Again;;;;", "login", "duplicates line 2"),
    # encoding
    raw_bytes("invalid-utf8", b"baduser;Bad;User\xff;;;;", "encoding"),
    raw_bytes("latin1-file", b"baduser;\xc9lodie;User;;;;", "encoding"),
    raw_bytes("nul-byte", b"baduser;Ba\x00d;User;;;;", "encoding"),
    # ssh_key
    bad_row("key-garbage-base64", "ssh_key", ssh_key="ssh-ed25519 @@@not*base64@@@"),
    bad_row("key-cut-in-the-middle-of-its-text", "ssh_key", ssh_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM"),
    Case("key-blob-too-short", _truncated, 3, frozenset({"ssh_key"})),
    Case("key-blob-too-long", _padded, 3, frozenset({"ssh_key"})),
    bad_row("key-type-is-not-the-blob-type", "ssh_key", ssh_key="ssh-rsa {ed25519_blob}"),
    bad_row("key-ecdsa-size-is-not-the-blob-size", "ssh_key", ssh_key="ecdsa-sha2-nistp384 {ecdsa256_blob}"),
    bad_row("key-unknown-type", "ssh_key", ssh_key="ssh-dss AAAAB3NzaC1kc3MAAACBAP8="),
    bad_row("key-rsa-1024-bits", "ssh_key", ssh_key="{rsa1024}"),
    bad_row("key-with-command-option", "ssh_key", ssh_key='command="/bin/sh" {ed25519}'),
    bad_row("key-with-no-pty-option", "ssh_key", ssh_key="no-pty {ed25519}"),
    bad_row("key-with-from-option", "ssh_key", ssh_key='from="*" {ed25519}'),
    bad_row("key-with-environment-option", "ssh_key", ssh_key='environment="LD_PRELOAD=/tmp/x.so" {ed25519}'),
    bad_row("key-as-a-certificate-authority", "ssh_key", ssh_key="cert-authority {ed25519}"),
    bad_row("key-with-restrict-then-command", "ssh_key", ssh_key='restrict,command="id" {ed25519}'),
    bad_row("key-certificate-type", "ssh_key", ssh_key="ssh-ed25519-cert-v01@openssh.com {ed25519_blob}"),
    Case("key-two-keys-in-one-field", _two_keys, 3, frozenset({"ssh_key"})),
    bad_row("key-two-ed25519-keys-in-one-field", "ssh_key", ssh_key="{ed25519} {ed25519_other_bare}"),
    bad_row("key-type-name-in-the-comment", "ssh_key", ssh_key="{ed25519_bare} my ssh-rsa key"),
    bad_row("key-private-key-text", "ssh_key", ssh_key="{private}"),
    bad_row("key-type-alone", "ssh_key", ssh_key="ssh-ed25519"),
    bad_row("key-comment-of-101-characters", "ssh_key", ssh_key="{ed25519_bare} " + "c" * 101),
]

# Text that a careless script would hand to a shell, a path or a passwd line, in each field.
INJECTIONS = {
    "command-substitution": "$(touch /tmp/pwned)",
    "backticks": "`touch /tmp/pwned`",
    "semicolon": ";touch /tmp/pwned;",
    "pipe": "|touch /tmp/pwned|",
    "and-and": "&&touch /tmp/pwned&&",
    "redirection": ">/tmp/pwned",
    "dot-dot-slash": "../../tmp/pwned",
    "colon": ":",
    "comma": ",",
    "tab": "\t",
    "escape-character": "\x1b[31m",
}
# Where the text goes in each field: in the middle, so that trimming cannot remove it.
FIELD_TEMPLATES = {
    "login": "bad{p}user",
    "first_name": "Jean{p}Luc",
    "last_name": "Du{p}pont",
    "groups": "dev{p}ops",
    "shell": "/bin/{p}bash",
    "ssh_key": "{key} bad{p}comment",      # in the comment: the only free text of a key
    "state": "pre{p}sent",
}


def injection(column: str, name: str, payload: str) -> Case:
    """A case whose line 3 is GOOD with ``payload`` in ``column`` (where FIELD_TEMPLATES puts it)."""
    def build(keys: Keys) -> str:
        value = FIELD_TEMPLATES[column].format(p=payload, key=keys.ed25519)
        return csv(GOOD, replace(GOOD, **{"login": "baduser", "groups": "", "ssh_key": keys.ed25519,
                                          column: value}))
    return Case(f"{column}-{name}", build, 3, frozenset({column}))


INJECTED: list[Case] = [
    injection(column, name, payload)
    for column in FIELD_TEMPLATES
    for name, payload in INJECTIONS.items()
    # `.` and `/` are legal in a key comment: "bad../../tmp/pwnedcomment" is a valid comment.
    if not (column == "ssh_key" and name == "dot-dot-slash")
]


# --------------------------------------------------------------------------------------------------
# One run for many refused files
#
# Both scripts split and check each line on its own, report every problem on its own line, and
# change nothing when there is one: "the whole file and the host are checked before the first change;
# every problem is reported" (the Bash script's header; read_csv and validate_row there, parse_csv,
# validate_rows and validate_against_host in the Python one). A header problem is the exception: the
# rows are then not read at all. So the files that begin as most refused files do — the header, then
# GOOD on line 2 — share one file: that beginning once, then the lines of each file in turn. One run
# answers for all of them, and each is still its own test, checked on its own lines. A file that
# begins otherwise is run on its own.

HEAD = csv(GOOD).encode()      # the header and line 2 that most refused files begin with
FILLER = b"baduser;"           # the login of the lines refused for another field


@dataclass
class SharedFile:
    """Files run as one: ``data``; ``parts``: file name → the lines of ``data`` that are its lines 3 on."""

    data: bytes = HEAD
    parts: dict[str, range] = field(default_factory=dict)
    logins: set[bytes] = field(default_factory=set)

    @property
    def next_line(self) -> int:
        return self.data.count(b"\n") + 1


def share_files(files: dict[str, Callable[[Keys], str | bytes]], keys: Keys) -> list[SharedFile]:
    """What to run so that each of ``files`` is answered: as few files as the logins allow.

    A login appears only once in a shared file (a second one is an error of its own, "duplicates
    line N", and the host checks of that login are then skipped), so a file whose lines repeat a login
    goes to the next shared file. For the same reason the filler login ``baduser`` of a line refused
    for another field becomes ``baduser<line>``: any new, valid login does.
    """
    shared: list[SharedFile] = []
    alone: list[SharedFile] = []
    for name, build in files.items():
        text = build(keys)
        data = text.encode() if isinstance(text, str) else text
        if not data.startswith(HEAD):
            alone.append(SharedFile(data, {name: range(3, data.count(b"\n") + 2)}))
            continue
        own = data[len(HEAD):].splitlines(keepends=True)
        assert own and own[-1].endswith(b"\n"), f"{name}: no end of line at the end: it would run on"
        for into in [*shared, SharedFile()]:
            first = into.next_line
            lines = [FILLER[:-1] + str(first + n).encode() + line[len(FILLER) - 1:]
                     if line.startswith(FILLER) else line for n, line in enumerate(own)]
            logins = {line.split(b";", 1)[0] for line in lines}
            if not logins & into.logins:
                break
        if into not in shared:
            shared.append(into)
        into.data += b"".join(lines)
        into.parts[name] = range(first, into.next_line)
        into.logins |= logins
    return shared + alone


@dataclass(repr=False)
class SharedRun(Run):
    """A run of a shared file, seen from one of its files: its lines' errors are shown first."""

    own: range = range(3, 3)

    def __repr__(self) -> str:
        mine = [line for line in self.stderr.splitlines()
                if (match := ERROR_LINE.search(line)) and int(match[1]) in self.own]
        where = f"{self.own.start}-{self.own.stop - 1}" if len(self.own) > 1 else str(self.own.start)
        return (f"\n--- this file's lines from line 3 on are line(s) {where} of the file run;"
                " their errors:\n" + "\n".join(mine) + super().__repr__())


@dataclass(frozen=True)
class Answer:
    """What one file got from the run of the file it was part of, and the host around that run."""

    run: SharedRun
    before: dict[str, str]
    after: dict[str, str]

    def line(self, number: int) -> int:
        """Where line ``number`` of the file was in the file run (lines 1 and 2 are the same)."""
        return number if number < 3 else self.run.own.start + number - 3

    def errors(self) -> list[tuple[int, str]]:
        """(line, field) of each problem reported on the file's lines, lines 1 and 2 included,
        numbered as in the file itself (a problem reported twice is there twice)."""
        found = [(int(m[1]), m[2]) for m in self.run.error_lines]
        return sorted((n if n < 3 else n - self.run.own.start + 3, f) for n, f in found
                      if n < 3 or n in self.run.own)


def run_shared(holder: SharedNode, impl: Impl, files: dict[str, Callable[[Keys], str | bytes]],
               keys: Keys) -> dict[str, Answer]:
    """Each of ``share_files(files)`` run once, in the shared container in its baseline state:
    file name → its answer."""
    answers: dict[str, Answer] = {}
    for shared in share_files(files, keys):
        clean = holder.get()
        run = provision(clean, impl, shared.data)
        after = clean.snapshot_after()
        for name, own in shared.parts.items():
            answers[name] = Answer(SharedRun(run.exit, run.stdout, run.stderr, run.argv, own=own),
                                   clean.before, after)
    return answers


@pytest.fixture(scope="module")
def refused(target: Target, shared: SharedNode, keys: Keys) -> dict[str, Answer]:
    """Every file of REFUSED, run by the target implementation (in shared files)."""
    return run_shared(shared, target.impl, {case.id: case.build for case in REFUSED}, keys)


@pytest.fixture(scope="module")
def injected(target: Target, shared: SharedNode, keys: Keys) -> dict[str, Answer]:
    """Every file of INJECTED, run by the target implementation (in shared files)."""
    return run_shared(shared, target.impl, {case.id: case.build for case in INJECTED}, keys)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in REFUSED])
def test_refused_file_names_line_and_field_and_changes_nothing(refused: dict[str, Answer],
                                                               case: Case) -> None:
    got = refused[case.id]
    assert_refused(got.run, got.line(case.line), case.fields, case.message, map(got.line, case.good_lines))
    assert_same_host(got.before, got.after)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in INJECTED])
def test_injected_text_is_refused_and_never_run(injected: dict[str, Answer], case: Case) -> None:
    got = injected[case.id]
    assert_refused(got.run, got.line(case.line), case.fields, good_lines=map(got.line, case.good_lines))
    assert_same_host(got.before, got.after)


def test_one_bad_last_line_blocks_the_good_lines_above(clean: Clean, impl: Impl, keys: Keys) -> None:
    rows = good_rows(keys)[:4]
    run = provision(clean, impl, csv(*rows, Row("Zbad", "Bad", "Last")))
    assert_refused(run, 6, {"login"}, good_lines=(2, 3, 4, 5))
    assert_nothing_changed(clean)


def multi_error_file(keys: Keys) -> str:
    return csv(
        GOOD,                                                            # 2
        Row("Bad3", "Bad", "Login"),                                     # 3
        Row("good4", "Good", "Four"),                                    # 4
        Row("bad5", "Bad", "Shell", shell="/bin/zsh"),  # noqa: S604 (a login shell) — line 5
        Row("bad6", "Bad", "Key", ssh_key="ssh-ed25519 AAAA"),           # 6
        Row("gooduser", "Good", "Twice"),                                # 7
    )


def test_every_problem_of_the_file_is_reported(clean: Clean, impl: Impl, keys: Keys) -> None:
    run = provision(clean, impl, multi_error_file(keys))
    assert_refused(run, 3, {"login"}, good_lines=(2, 4))
    assert run.errors == {(3, "login"), (5, "shell"), (6, "ssh_key"), (7, "login")}, run
    assert run.result["errors"] == 4
    assert_nothing_changed(clean)


def test_error_line_is_the_physical_line_despite_bom_crlf_and_blank_lines(clean: Clean,
                                                                          impl: Impl) -> None:
    text = "\ufeff" + "\r\n".join(["", "login;first_name;last_name", "   ", "gooduser;Good;User", "",
                                   "Bad;Bad;User"]) + "\r\n"
    run = provision(clean, impl, text)
    assert_refused(run, 6, {"login"}, good_lines=(4,))
    assert run.errors == {(6, "login")}, run
    assert_nothing_changed(clean)


@pytest.mark.parametrize("flag", ["--dry-run", "--quiet"])
def test_bad_file_is_refused_with_any_option(clean: Clean, impl: Impl, flag: str) -> None:
    run = provision(clean, impl, csv(GOOD, Row("Baduser", "Bad", "User")), flag)
    assert_refused(run, 3, {"login"}, good_lines=(2,))
    assert_nothing_changed(clean)


# ==================================================================================================
# Command line


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_usage_with_examples_and_exit_codes(clean: Clean, impl: Impl, flag: str) -> None:
    run = run_script(clean.node, impl, flag)
    assert run.exit == 0, run
    text = run.stdout
    assert re.search(r"usage", text, re.IGNORECASE), run
    for option in ("--dry-run", "--password-file", "--quiet", "CSV_FILE"):
        assert option in text, f"{option} is not in the help{run!r}"
    assert re.search(r"example", text, re.IGNORECASE), run
    assert len(re.findall(r"provision[-_]users\S*\s+(?:-\S+\s+)*\S+\.csv", text)) >= 2, (
        f"fewer than two example command lines{run!r}")
    section = re.search(r"exit\s+(?:status|code)", text, re.IGNORECASE)
    assert section, f"no exit codes section{run!r}"
    for code in "0123":
        assert re.search(rf"\b{code}\b", text[section.start():section.start() + 800]), (
            f"exit code {code} is not documented{run!r}")
    assert_nothing_changed(clean)


def test_unknown_option_is_a_usage_error(clean: Clean, impl: Impl) -> None:
    run = provision(clean, impl, csv(GOOD), "--frobnicate")
    assert run.exit == 2, run
    assert "--frobnicate" in run.stderr, run
    assert_nothing_changed(clean)


def test_missing_csv_argument_is_a_usage_error(clean: Clean, impl: Impl) -> None:
    run = run_script(clean.node, impl)
    assert run.exit == 2, run
    assert_nothing_changed(clean)


def test_missing_csv_file_is_a_usage_error(clean: Clean, impl: Impl) -> None:
    run = run_script(clean.node, impl, "no-such-file.csv")
    assert run.exit == 2, run
    assert "no-such-file.csv" in run.stderr, run
    assert_nothing_changed(clean)


def test_csv_path_with_shell_metacharacters_is_just_a_path(clean: Clean, impl: Impl) -> None:
    name = "users $(touch /tmp/pwned);`touch /tmp/pwned`.csv"
    clean.node.write(f"{WORKDIR}/{name}", csv(GOOD))
    run = run_script(clean.node, impl, "--dry-run", name)
    assert run.exit == 0, run
    assert run.result["created"] == ["gooduser"]
    assert_nothing_changed(clean)


def test_run_by_a_non_root_user_is_refused(clean: Clean, impl: Impl) -> None:
    clean.node.write("/tmp/users.csv", csv(GOOD))
    run = run_script(clean.node, impl, "/tmp/users.csv", user="65534:65534", workdir="/tmp")
    clean.node.exec("rm", "-f", "/tmp/users.csv")
    assert run.exit == 2, run
    assert "root" in run.stderr, run
    assert_nothing_changed(clean)


# ==================================================================================================
# Parity: on one platform, Bash and Python give the same answer


def comparable(run: Run) -> dict:
    """The result line without what is allowed to differ: impl, the timestamped path, the error text."""
    result = dict(run.result)
    result.pop("impl", None)
    if result.get("password_file"):
        result["password_file"] = "<set>"
    if "error" in result:
        result["error"] = "<one line>" if result["error"] and "\n" not in result["error"] else result["error"]
    return result


# The accounts, then the authorized_keys of the logins given (see host_view).
HOST = ACCOUNTS + "; echo '###'\n" + KEYS_OF


def host_view(text: str, logins: Iterable[str]) -> dict:
    """What the runs did to these logins (``text``: what HOST printed for them), without numbers that
    depend on creation order (UID, GID)."""
    tables, keys_text = text.rsplit("###\n", 1)
    acc, keys = parse_accounts(tables), parse_keys(keys_text)
    view = {}
    for login in logins:
        if login not in acc.passwd:
            view[login] = None
            continue
        entry, shadow = acc.passwd[login], acc.shadow[login]
        primary = next((g for g, f in acc.group.items() if f[2] == entry[3]), None)
        view[login] = {"gecos": entry[4], "home": entry[5], "shell": entry[6], "primary": primary,
                       "groups": sorted(acc.member_of(login)), "lastchg": shadow[2],
                       "locked": shadow[1].startswith("!"), "expire": shadow[7],
                       "keys": keys[login]}
    view["groups"] = sorted(g for g, f in acc.group.items() if 1000 <= int(f[2]) <= 60000)
    return view


def _logins(*groups: list[Row]) -> list[str]:
    return sorted({r.login for rows in groups for r in rows} | {"outsider"})


# Files applied for real, one after the other, in a fresh container per implementation.
VALID_FILES: dict[str, Callable[[Keys], tuple[list[str], list[str]]]] = {
    "good-file": lambda k: ([csv(*good_rows(k))], _logins(good_rows(k))),
    "comma-bom-crlf-quotes": lambda k: (
        [csv(*good_rows(k), delimiter=",", eol="\r\n", bom=True, quote_all=True)], _logins(good_rows(k))),
    "limits": lambda k: ([csv(*boundary_rows(k))], _logins(boundary_rows(k))),
    "key-types": lambda k: ([csv(*key_rows(k))], _logins(key_rows(k))),
    "reordered-columns": lambda k: (["state;last_name;login;first_name\n;Dubois;mdubois;Marc\n"
                                     "absent;Petit;lpetit;Lou\n"], ["mdubois", "lpetit"]),
    "update-story": lambda k: ([csv(*rows_before(k)), csv(*rows_update(k)), csv(*rows_back(k))],
                               _logins(rows_before(k), rows_update(k))),
    # Groups that are also logins (new, or the user's own).
    "group-named-like-a-new-user": lambda k: (
        [csv(Row("alice", "Alice", "A", groups="bob"), Row("bob", "Bob", "B"))], ["alice", "bob"]),
    "own-group-listed": lambda k: ([csv(Row("selfgrp", "Self", "Group", groups="selfgrp"))], ["selfgrp"]),
    "new-user-named-like-an-existing-group": lambda k: (
        [csv(Row("alice", "Alice", "A", groups="compta")),
         csv(Row("alice", "Alice", "A", groups="compta"), Row("compta", "Compta", "User"))],
        ["alice", "compta"]),
    # Existing users, then a file without the optional columns: what happens to their groups and shell?
    "optional-columns-left-out-for-existing-users": lambda k: (
        [csv(*rows_before(k)), csv(*rows_before(k), columns=("login", "first_name", "last_name"))],
        _logins(rows_before(k))),
}
INVALID_FILES: dict[str, Callable[[Keys], str | bytes]] = {
    **{c.id: c.build for c in REFUSED},
    "every-problem": multi_error_file,
}



def one_row(**values: str) -> Callable[[Keys], str]:
    """A file whose only user line is GOOD with these values (``{ed25519}``… as in ``bad_row``)."""
    return lambda keys: csv(replace(GOOD, **{k: v.format(**keys.formats()) for k, v in values.items()}))


def _unpadded_ecdsa(keys: Keys) -> str:
    return csv(replace(GOOD, ssh_key="ecdsa-sha2-nistp256 " + keys.blob(keys.ecdsa256).rstrip("=")))


# Corners where the spec is easy to read two ways: whatever the answer, both must give the same one.
EDGE_FILES: dict[str, Callable[[Keys], str | bytes]] = {
    "devanagari-with-virama": one_row(first_name="नमस्ते"),
    "thai-with-vowel-marks": one_row(first_name="สมศักดิ์"),
    "arabic-and-hebrew": one_row(first_name="علي", last_name="דוד"),
    "hangul-and-katakana-long-mark": one_row(first_name="김", last_name="スーザン"),
    "titlecase-and-ordinal-letters": one_row(first_name="ǅemal", last_name="Maªa"),
    "roman-numeral-letter": one_row(last_name="Louis Ⅻ"),
    "modifier-letter-apostrophe": one_row(last_name="Hawaiʻi"),
    "fullwidth-letters": one_row(first_name="Ｊｅａｎ"),
    "digit-in-name": one_row(first_name="Jean2"),
    "combining-mark-outside-0300-036f": one_row(first_name="Je\u20ddan"),
    "combining-mark-inside-0300-036f": one_row(first_name="Jea\u0363n"),
    "no-break-space-in-name": one_row(first_name="Jean\u00a0Luc"),
    "zero-width-joiner-in-name": one_row(first_name="Jean\u200dLuc"),
    "name-of-64-code-points-with-combining-accents": one_row(first_name="e\u0301" * 32),
    "name-of-33-letters-with-combining-accents": one_row(first_name="e\u0301" * 33),
    "name-with-only-a-letter-and-a-space": one_row(first_name="J "),
    "login-underscore-alone": one_row(login="_"),
    "login-ending-with-dash": one_row(login="good-"),
    "login-of-an-existing-user-group-in-range": lambda keys: csv(
        GOOD, Row("gooduser2", "Good", "Two", groups="gooduser")),
    "state-in-capitals": one_row(state="ABSENT"),
    "state-with-spaces-inside-quotes": lambda keys: csv(GOOD).replace("newgroup;;;", 'newgroup;;;" absent "'),
    "shell-by-its-usr-bin-path": one_row(shell="/usr/bin/bash"),  # noqa: S604 (a login shell)
    "key-with-two-spaces-after-type": one_row(ssh_key="ssh-ed25519  {ed25519_blob}"),
    "key-with-a-tab-after-type": one_row(ssh_key="ssh-ed25519\t{ed25519_blob}"),
    "key-base64-without-padding": _unpadded_ecdsa,
    "header-in-capitals": lambda keys: csv(GOOD).replace("login;first_name", "LOGIN;first_name", 1),
    "header-with-quoted-names": lambda keys: csv(GOOD).replace("login;first_name", '"login";"first_name"', 1),
    "comma-header-with-a-quoted-semicolon": lambda keys: 'login,first_name,"last;name"\ngooduser,Good,User\n',
    "line-of-tabs-between-rows": lambda keys: csv(GOOD, "\t\t", Row("good2", "Good", "Two")),
    "line-of-delimiters-only": lambda keys: csv(GOOD, ";;;;;;"),
    "tab-after-closing-quote": lambda keys: csv(GOOD, 'good2;"Good"\t;Two;;;;'),
    "spaces-inside-quotes": lambda keys: csv(GOOD, 'good2;" Good ";Two;;;;'),
    "bom-not-at-start": lambda keys: csv(GOOD, "\ufeffgood2;Good;Two;;;;"),
    "cr-only-line-endings": lambda keys: csv(GOOD, Row("good2", "Good", "Two"), eol="\r"),
    "utf8-overlong-encoding": lambda keys: csv(GOOD).encode() + b"good2;Go\xc0\xafd;Two;;;;\n",
    "utf8-surrogate-encoded": lambda keys: csv(GOOD).encode() + b"good2;Go\xed\xa0\x80d;Two;;;;\n",
    "empty-file": lambda keys: "",
    "header-only": lambda keys: csv(),
    "bom-only": lambda keys: "\ufeff",
}


@pytest.mark.parametrize("name", list(EDGE_FILES))
def test_bash_and_python_agree_on_an_edge_case(platform_clean: Clean, keys: Keys, name: str) -> None:
    """Run as dry runs: the question is how each reads the file, and a dry run reads it all."""
    runs = provision_each(platform_clean, IMPLS.values(), EDGE_FILES[name](keys), "--dry-run")
    seen = {impl: {"exit": run.exit, "result": comparable(run) if run.stdout else None,
                   "errors": sorted(run.errors)} for impl, run in runs.items()}
    assert seen["bash"] == seen["python"]
    assert_nothing_changed(platform_clean)


@pytest.mark.parametrize("name", list(VALID_FILES))
def test_bash_and_python_agree_on_a_valid_file(platform: Platform, new_node: NodeFactory, keys: Keys,
                                               name: str) -> None:
    texts, logins = VALID_FILES[name](keys)
    seen = {}
    for impl in IMPLS.values():
        # The files applied one after the other, then the host read, in one `docker exec`.
        runs, host = run_in_turn(new_node(platform), [(text, command(impl)) for text in texts], HOST, *logins)
        seen[impl.name] = {"steps": [{"exit": run.exit, "result": comparable(run) if run.stdout else None}
                                     for run in runs],
                           "host": host_view(host, logins)}
    assert seen["bash"] == seen["python"]


@pytest.fixture(scope="module")
def invalid(platform: Platform, platform_shared: SharedNode, keys: Keys) -> dict[str, dict[str, Answer]]:
    """Every file of INVALID_FILES run by each implementation (in shared files): impl → name → answer."""
    return {impl.name: run_shared(platform_shared, impl, INVALID_FILES, keys) for impl in IMPLS.values()}


@pytest.mark.parametrize("name", list(INVALID_FILES))
def test_bash_and_python_agree_on_an_invalid_file(invalid: dict[str, dict[str, Answer]], name: str) -> None:
    got = {impl: answers[name] for impl, answers in invalid.items()}
    # This file's lines first (so that a difference is pinned on the file that has it), then the run.
    mine = {impl: answer.errors() for impl, answer in got.items()}
    assert mine["bash"] == mine["python"]
    seen = {impl: {"exit": answer.run.exit, "result": comparable(answer.run) if answer.run.stdout else None}
            for impl, answer in got.items()}
    assert seen["bash"] == seen["python"]
    for answer in got.values():
        assert_same_host(answer.before, answer.after)


def privilege_file(keys: Keys) -> str:
    """Every way a file could grant a privilege, on a host prepared with PRIVILEGE_HOST."""
    return csv(Row("newuser", "New", "User", "sudo adm docker audio users ops wheelzero newgrp"),   # 2
               Row("alex", "Alex", "Min", ssh_key=keys.ed25519),                                  # 3
               Row("docker", "Do", "Cker"),                                                        # 4
               Row("ops", "Op", "S"),                                                              # 5
               Row("boss", "B", "Oss", state="absent"))                                            # 6


PRIVILEGE_HOST = f"{HANDMADE} && {ADMIN} && groupadd --non-unique --gid 0 wheelzero"


@pytest.mark.parametrize("allowed", [(), ("--allow-group", "sudo", "--allow-group", "ops")],
                         ids=["nothing-allowed", "sudo-and-ops-allowed"])
def test_bash_and_python_print_the_same_messages_for_what_a_file_may_not_grant(
        platform: Platform, new_node: NodeFactory, keys: Keys, allowed: tuple[str, ...]) -> None:
    """The parity tests above compare lines and fields; here the very messages, as the spec gives them."""
    node = new_node(platform)
    prepare(node, PRIVILEGE_HOST)
    runs, _ = run_in_turn(node, [(privilege_file(keys), command(impl, "--dry-run", *allowed))
                                 for impl in IMPLS.values()], "true")
    seen = {impl.name: sorted((int(m[1]), m[2], m[3]) for m in run.error_lines)
            for impl, run in zip(IMPLS.values(), runs, strict=True)}
    assert seen["bash"] == seen["python"]
    assert all(run.exit == 2 for run in runs)
    fields = [(line, field) for line, field, _ in seen["bash"]]
    if allowed:
        assert fields == [(2, "groups")] * 4 + [(4, "login")], seen["bash"]     # adm docker audio wheelzero
    else:
        assert fields == [(2, "groups")] * 6 + [(3, "login"), (4, "login"), (5, "login"), (6, "login")], seen
