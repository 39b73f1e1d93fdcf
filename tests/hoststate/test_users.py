"""Host-state tests of the user-provisioning job: does the host look like the users CSV says?

They read the CSV the host was provisioned from, parse it with the project's own parser
(scripts/python/provision_users.py), and check each account on the host through Testinfra's `host`
fixture, so they run unchanged wherever Testinfra reaches:

    # under Molecule (molecule/users/molecule.yml points its verifier here):
    molecule test -s users --platform-name debian12
    # against a container of the local lab:
    pytest --hosts=ssh://tssr-lab1 --ssh-config=.tssr/lab/ssh_config --sudo tests/hoststate
    # against a real server, with the CSV that was applied there:
    TSSR_USERS_CSV=staff.csv pytest --hosts=ssh://admin@server --sudo tests/hoststate

The CSV is $TSSR_USERS_CSV (a relative path is taken from the current folder), by default
examples/users/users.csv of this repository. Reading /etc/shadow and the users' ~/.ssh needs root:
connect as root or pass --sudo.

This folder is left out of a plain `pytest` run (it needs a host): tests/conftest.py collects it only
with --hosts=… or TSSR_HOSTSTATE=1 (Molecule's verifier sets it).

What is checked, from docs/reference/users-csv.md:
- present: the account exists with 1000 <= UID <= 60000, GECOS "First Last", the listed shell
  (/bin/bash when empty), a home owned by the user, exactly the listed supplementary groups, the key as
  the whole of ~/.ssh/authorized_keys (.ssh 0700, file 0600) when one is given, a usable password
  that is neither locked nor expired;
- absent (a leaver), when the account exists: password locked ('!'), expiry day 1 (1970-01-02), the
  family's no-login shell, home kept. A leaver with no account on the host is skipped, with a reason;
- the primary group of a present user is the group of its own name (a file cannot make it another);
- the record of the groups the script created (/var/lib/tssr-kit/users/created-groups) is root-only and
  names each group with its GID on this host (skipped where the script never created a group).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tssrkit.paths import REPO

PARSER = REPO / "scripts" / "python" / "provision_users.py"
CSV = Path(os.environ.get("TSSR_USERS_CSV") or REPO / "examples" / "users" / "users.csv")

# The no-login shell of each OS family (docs/reference/users-csv.md, "What absent does").
NOLOGIN = {"debian": "/usr/sbin/nologin", "redhat": "/sbin/nologin"}
RECORD = "/var/lib/tssr-kit/users/created-groups"
UID_MIN, UID_MAX = 1000, 60000


def load_parser() -> ModuleType:
    """Import scripts/python/provision_users.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("provision_users", PARSER)
    assert spec and spec.loader, f"cannot import {PARSER}"
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("provision_users", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def expected_users() -> list:
    """The validated rows of the CSV, as the script sees them (defaults filled in: shell, state)."""
    provision_users = load_parser()
    records, problems = provision_users.parse_csv(CSV.read_bytes(), CSV.name)
    users, row_problems = provision_users.validate_rows(records, CSV.name)
    problems = [*problems, *row_problems]
    if problems:
        raise ValueError(f"{CSV} is not a valid users CSV:\n" + "\n".join(map(str, problems)))
    return users


PROVISION_USERS = load_parser()
USERS = expected_users()
PRESENT = [u for u in USERS if u.state == "present"]
ABSENT = [u for u in USERS if u.state == "absent"]
WITH_KEY = [u for u in PRESENT if u.ssh_key]


def by_login(users: list) -> dict:
    """Parametrize over users, with the login as the test id."""
    return {"argvalues": users, "ids": [u.login for u in users]}


# ---- what the host says ------------------------------------------------------------------------------
def shadow_fields(host, login: str) -> list[str]:
    """The /etc/shadow entry of a login: name, password, last change, min, max, warn, inactive, expire."""
    return host.check_output("getent shadow %s", login).split(":")


def supplementary_groups(host, login: str) -> set[str]:
    """Groups that list the login as a member in /etc/group (the primary group is not listed)."""
    groups = set()
    for line in host.check_output("getent group").splitlines():
        name, _password, _gid, members = line.split(":", 3)
        if login in members.split(","):
            groups.add(name)
    return groups


def os_family(host) -> str | None:
    """`debian` or `redhat`, read from the host's /etc/os-release the way the script reads it."""
    os_release = PROVISION_USERS.parse_os_release(host.file("/etc/os-release").content_string)
    return PROVISION_USERS.os_family(os_release)


def days_since_epoch(host) -> int:
    return int(host.check_output("date -u +%s")) // 86400


def require_account(host, user) -> None:
    """Skip a leaver's test when the account does not exist: there is nothing to disable."""
    if not host.user(user.login).exists:
        pytest.skip(f"{user.login} (absent, line {user.line}) has no account here: nothing to disable")


# ---- present users ---------------------------------------------------------------------------------
def test_the_csv_names_at_least_one_user():
    assert USERS, f"{CSV} lists no user"


@pytest.mark.parametrize("user", **by_login(PRESENT))
def test_present_user_exists_with_a_uid_in_the_managed_range(host, user):
    account = host.user(user.login)
    assert account.exists, f"{user.login} (line {user.line}) does not exist"
    assert UID_MIN <= account.uid <= UID_MAX


@pytest.mark.parametrize("user", **by_login(PRESENT))
def test_present_user_gecos_is_first_name_and_last_name(host, user):
    assert host.user(user.login).gecos == f"{user.first_name} {user.last_name}"


@pytest.mark.parametrize("user", **by_login(PRESENT))
def test_present_user_has_the_listed_shell(host, user):
    assert host.user(user.login).shell == user.shell


@pytest.mark.parametrize("user", **by_login(PRESENT))
def test_present_user_home_exists_and_belongs_to_the_user(host, user):
    home = host.file(host.user(user.login).home)
    assert home.is_directory
    assert home.user == user.login


@pytest.mark.parametrize("user", **by_login(PRESENT))
def test_present_user_primary_group_is_the_group_of_its_own_name(host, user):
    assert host.user(user.login).group == user.login


@pytest.mark.parametrize("user", **by_login(PRESENT))
def test_present_user_is_in_exactly_the_listed_supplementary_groups(host, user):
    assert supplementary_groups(host, user.login) == set(user.groups)


@pytest.mark.parametrize("user", **by_login(WITH_KEY))
def test_present_user_authorized_keys_holds_exactly_the_listed_key(host, user):
    home = host.user(user.login).home
    ssh_dir = host.file(f"{home}/.ssh")
    keys = host.file(f"{home}/.ssh/authorized_keys")
    assert ssh_dir.is_directory and not ssh_dir.is_symlink
    assert (ssh_dir.user, ssh_dir.mode) == (user.login, 0o700)
    assert keys.is_file and not keys.is_symlink
    assert (keys.user, keys.mode) == (user.login, 0o600)
    assert keys.content_string == user.ssh_key + "\n"


@pytest.mark.parametrize("user", **by_login(PRESENT))
def test_present_user_has_a_password_that_is_not_locked(host, user):
    password = shadow_fields(host, user.login)[1]
    assert password, f"{user.login} has no password"
    assert not password.startswith(("!", "*")), f"{user.login}'s password is locked or unusable"


@pytest.mark.parametrize("user", **by_login(PRESENT))
def test_present_user_account_is_not_expired(host, user):
    expire = shadow_fields(host, user.login)[7]
    assert expire == "" or int(expire) > days_since_epoch(host), f"{user.login} expired on day {expire}"


# ---- leavers (state absent) ------------------------------------------------------------------------
@pytest.mark.parametrize("user", **by_login(ABSENT))
def test_leaver_password_is_locked(host, user):
    require_account(host, user)
    assert shadow_fields(host, user.login)[1].startswith("!")


@pytest.mark.parametrize("user", **by_login(ABSENT))
def test_leaver_account_expired_on_day_one(host, user):
    require_account(host, user)
    assert shadow_fields(host, user.login)[7] == "1"  # 1970-01-02


@pytest.mark.parametrize("user", **by_login(ABSENT))
def test_leaver_has_the_no_login_shell_of_the_os_family(host, user):
    require_account(host, user)
    family = os_family(host)
    assert family in NOLOGIN, f"unsupported OS family: {family}"
    assert host.user(user.login).shell == NOLOGIN[family]


@pytest.mark.parametrize("user", **by_login(ABSENT))
def test_leaver_home_is_kept(host, user):
    require_account(host, user)
    home = host.file(host.user(user.login).home)
    assert home.is_directory
    assert home.user == user.login


# ---- the record of the groups the script created ----------------------------------------------------
def test_record_of_created_groups_is_root_only_and_names_each_group_with_its_gid(host):
    record = host.file(RECORD)
    if not record.exists:
        pytest.skip(f"no {RECORD}: provision-users created no group on this host")
    assert record.is_file and not record.is_symlink
    assert (record.user, record.mode) == ("root", 0o600)
    folder = host.file(RECORD.rsplit("/", 1)[0])
    assert (folder.user, folder.mode) == ("root", 0o700) and not folder.is_symlink
    lines = record.content_string.splitlines()
    assert lines, f"{RECORD} is empty"
    for line in lines:
        name, gid = line.split(":")
        assert host.group(name).exists, f"{RECORD} names {name}, which is no group here"
        assert host.group(name).gid == int(gid), f"{name} has GID {host.group(name).gid}, not {gid}"
