"""backup.sh's and restore.sh's handling of names read from a server or a set, without a container:
the functions are called from the scripts themselves (sourced: their ``main`` does not run).

The same classes are proven end to end, with real MariaDB and PostgreSQL servers, in
tests/containers/test_backup.py (sections 11 to 14); here the building blocks, quickly and for many
more hostile names.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tssrkit.paths import REPO

BACKUP = REPO / "scripts" / "bash" / "backup" / "backup.sh"
RESTORE = REPO / "scripts" / "bash" / "backup" / "restore.sh"

HOSTILE = [
    "x'; ALTER ROLE app SUPERUSER; --",
    'q"; DROP TABLE t; --',
    "a`; DROP DATABASE shop; --x",
    "../../../../tmp/planted",
    "-x",
    "--help",
    "a\n\\! touch /tmp/pwned\nb",
    "host=evil dbname=postgres",
    "postgresql://evil/x",
    "$(touch /tmp/pwned)",
    "`id`",
    "é日本 sp",
    "t\tb\\s\r\x01\x7f",
    "a/b",
    "%41@1",
    " lead and trail ",
    "",
]


def call(script: Path, body: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Source ``script`` and run ``body`` (bash) with ``args`` as "$@" ($0 is not the script: its main
    does not run). Output decoded as it is (no newline translation: a \\r must stay one)."""
    proc = subprocess.run(["bash", "-c", f'set -euo pipefail; . "$1"; shift; {body}', "test", str(script),
                           *args], capture_output=True, timeout=30, check=False,
                          env={**os.environ, "LC_ALL": "C"})
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())


@pytest.mark.parametrize("script", [BACKUP, RESTORE], ids=["backup.sh", "restore.sh"])
@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_a_name_goes_to_hex_and_back_byte_for_byte(script: Path, name: str) -> None:
    proc = call(script, 'h="$(hex_of "$1")"; from_hex "$h" back; printf "%s\\n%s" "$h" "$back"', name)
    assert proc.returncode == 0, proc.stderr
    hexed, _, back = proc.stdout.partition("\n")
    assert hexed == name.encode().hex()
    assert back == name


@pytest.mark.parametrize("script", [BACKUP, RESTORE], ids=["backup.sh", "restore.sh"])
@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_a_name_in_json_is_valid_json_of_that_name(script: Path, name: str) -> None:
    proc = call(script, 'printf "[%s]" "$(json_quote "$1")"', name)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [name]


def test_hex_that_is_not_hex_is_refused() -> None:
    for bad in ("6g", "abc", "41;rm", "$(id)"):
        assert call(BACKUP, 'from_hex "$1" out', bad).returncode != 0, bad


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_a_name_never_becomes_a_path_of_the_set(name: str) -> None:
    proc = call(BACKUP, 'dump_file mysql "$1" .sql.zst; printf "%s" "$DUMP_FILE"', name)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "mysql/@1.sql.zst", "a name that is not plain is numbered"


@pytest.mark.parametrize("name", ["shop", "app_db", "a$b", "Shop-2", "_x"])
def test_a_plain_name_keeps_its_file_name(name: str) -> None:
    proc = call(BACKUP, 'dump_file postgres "$1" .dump; printf "%s" "$DUMP_FILE"', name)
    assert proc.stdout == f"postgres/{name}.dump"


@pytest.mark.parametrize(("line", "ok"), [
    ("backup.json", True), ("files.tar.zst.gpg", True), ("mysql/@3.sql.zst", True),
    ("postgres/a$b.dump", True),
    ("../etc/shadow", False), ("mysql/../../x", False), ("/etc/shadow", False), ("mysql/a/b.sql", False),
    ("mysql/.hidden", False), ("files.tar", False), ("x y", False), ("mysql/a\nb", False),
])
def test_sha256sums_may_name_only_files_a_set_holds(line: str, ok: bool) -> None:
    proc = call(BACKUP, '[[ "$1" =~ ${SET_FILE_RE} ]]', line)
    assert (proc.returncode == 0) == ok, line


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_a_conninfo_quotes_the_name_as_libpq_reads_it(name: str) -> None:
    proc = call(BACKUP, 'conninfo "$1"', name)
    value = proc.stdout
    assert value.startswith("dbname='") and value.endswith("'")
    # libpq's rule: inside '...', a backslash escapes the next character; nothing else is special.
    inner, out, i = value[len("dbname='"):-1], "", 0
    while i < len(inner):
        if inner[i] == "\\":
            i += 1
        elif inner[i] == "'":
            pytest.fail(f"an unescaped quote ends the value early: {value!r}")
        out += inner[i]
        i += 1
    assert out == name


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """A fresh folder of root's, 0755 (pytest's temporary folders are 0700)."""
    tmp_path.chmod(0o755)
    return tmp_path


def untrusted(path: Path) -> str:
    return call(BACKUP, 'untrusted_in_path "$1"', str(path)).stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: folders are given to another owner")
def test_a_path_is_roots_alone_only_when_nobody_else_can_change_a_part(tree: Path) -> None:
    if untrusted(tree):
        pytest.skip(f"the temporary folder itself is not root's alone here: {untrusted(tree)}")
    good = tree / "a" / "b"
    good.mkdir(parents=True)
    assert untrusted(good) == ""
    assert untrusted(tree / "a" / "missing" / "deeper") == "", "parts not there yet are root's to make"
    users = tree / "users"
    users.mkdir()
    os.chown(users, 65534, 65534)
    assert "belongs to uid 65534" in untrusted(users / "x")
    open_folder = tree / "open"
    open_folder.mkdir()
    open_folder.chmod(0o777)
    assert "writable by others" in untrusted(open_folder / "x")
    sticky = tree / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    assert untrusted(sticky / "x") == "", "a sticky folder: nobody else can rename what root makes in it"
    link = sticky / "link"
    link.symlink_to("/etc")
    os.lchown(link, 65534, 65534)
    assert "belongs to uid 65534" in untrusted(link / "x"), "someone else's link on the way"
    rootlink = tree / "rootlink"
    rootlink.symlink_to(users)
    assert "belongs to uid 65534" in untrusted(rootlink / "x"), "a root link to someone else's folder"
