"""The graders' own host-state tests for lesson 1's exercises (docs/lessons/exercises/01.yml): what
tests/hoststate/test_users.py does not check. Run by `inv exercise check 1.N` only (tssrkit/exercises.py
sets TSSR_EXERCISE; tests/conftest.py leaves this folder out otherwise), against a lab host or any
server, with root (`--sudo`).
"""

from __future__ import annotations

import pytest
from hostlib import run

HIRES_1_1 = ("aroux", "bkone", "cpetit")


def last_password_change(host, login: str) -> str:
    """The third field of the login's /etc/shadow entry: the day of the last password change."""
    result = run(host, "getent", "shadow", login)
    assert result.rc == 0, f"{login} has no account here"
    return result.stdout.split(":")[2]


def test_1_1_the_leaver_has_an_account_to_disable(host):
    assert host.user("zbenali").exists, \
        "zbenali has no account here: apply examples/users/users.csv first (lesson 1, section 2)"


@pytest.mark.parametrize("login", HIRES_1_1)
def test_1_1_hires_must_change_their_password_at_first_login(host, login):
    assert last_password_change(host, login) == "0", \
        f"{login}: the password need not be changed at first login (chage -d 0)"


def test_1_2_sudo_lets_sobrien_run_every_command_as_root(host):
    assert host.user("sobrien").exists, "sobrien has no account here"
    rights = run(host, "sudo", "-l", "-U", "sobrien").stdout
    assert "(ALL : ALL) ALL" in rights, f"sudo -l -U sobrien does not list (ALL : ALL) ALL:\n{rights}"
