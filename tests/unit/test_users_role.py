"""roles/users without a host: its one CSV template, the scripts it runs, the CSV and the arguments it
gives them (rendered by Ansible's own templating), its documented variables.

The template is rendered by Ansible (roles/users) and by the `inv` side (tssrkit.render) with plain
Jinja2; both must give a file that the project's parser reads back as the same users.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import jinja2
import pytest
import rolelib

from tssrkit import render
from tssrkit.paths import REPO, SCRIPTS

ROLE = REPO / "roles" / "users"
EXAMPLE = REPO / "examples" / "users" / "users.csv"

ACCOUNTS = [
    {"login": "edupont", "first_name": "Élodie", "last_name": "Dupont", "groups": ["compta", "vpn"],
     "shell": "/bin/bash",
     "ssh_key": ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM+9dDU32VDct8lZ4UoOCFPOCkZHLI3BdhNSvFxTudRl"
                 " edupont@tssr-lab")},
    {"login": "fgarcon", "first_name": "François", "last_name": "Garçon", "groups": ["support"]},
    {"login": "nmuller", "first_name": "Noémie", "last_name": "Müller-Lefèvre", "groups": ["compta"],
     "shell": "/bin/sh"},
    {"login": "sobrien", "first_name": "Seán", "last_name": "O'Brien", "groups": ["support", "vpn"],
     "shell": "/bin/bash"},
    {"login": "zbenali", "first_name": "Zoé", "last_name": "Ben Ali"},
    {"login": "lmartin", "first_name": "Lucas", "last_name": "Martin", "groups": ["compta"],
     "state": "absent"},
]


@pytest.fixture(scope="module")
def provision_users():
    """scripts/python/provision_users.py, imported as a module for its parser."""
    path = REPO / "scripts" / "python" / "provision_users.py"
    spec = importlib.util.spec_from_file_location("provision_users", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("provision_users", module)
    spec.loader.exec_module(module)
    return module


def read_users(provision_users, data: bytes) -> list:
    records, problems = provision_users.parse_csv(data, "users.csv")
    users, row_problems = provision_users.validate_rows(records, "users.csv")
    assert not problems + row_problems, "\n".join(map(str, problems + row_problems))
    return [(u.login, u.first_name, u.last_name, u.groups, u.shell, u.ssh_key, u.state) for u in users]


def ansible_like(accounts: list) -> str:
    """Render as Ansible's template module does (trim_blocks on, trailing newline kept)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROLE / "templates")), trim_blocks=True,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
                             autoescape=False)  # noqa: S701 — a CSV, not HTML
    return env.get_template("users.csv.j2").render(accounts=accounts)


def test_template_renders_the_same_for_ansible_and_for_invoke():
    assert render.render("users", "users.csv.j2", accounts=ACCOUNTS) == ansible_like(ACCOUNTS)


def test_template_says_the_same_as_the_example_csv(provision_users):
    rendered = render.render("users", "users.csv.j2", accounts=ACCOUNTS)
    assert read_users(provision_users, rendered.encode()) == read_users(provision_users, EXAMPLE.read_bytes())


def test_template_quotes_a_field_holding_the_delimiter_or_a_quote(provision_users):
    rendered = render.render("users", "users.csv.j2",
                             accounts=[{"login": "x", "first_name": 'A"B', "last_name": "C;D"}])
    assert rendered.splitlines()[1] == 'x;"A""B";"C;D";;;;present'
    records, problems = provision_users.parse_csv(rendered.encode(), "users.csv")
    assert not problems
    assert (records[0].values["first_name"], records[0].values["last_name"]) == ('A"B', "C;D")


def test_template_with_no_account_is_the_header_alone():
    assert render.render("users", "users.csv.j2", accounts=[]) == (
        "login;first_name;last_name;groups;shell;ssh_key;state\n")


@pytest.mark.parametrize("implementation, script", [
    ("bash", "scripts/bash/users/provision-users.sh"),
    ("python", "scripts/python/provision_users.py"),
])
def test_role_ships_the_scripts_through_relative_links_not_copies(implementation, script):
    call = rolelib.rendered_call(ROLE, users_implementation=implementation)
    assert SCRIPTS / call["tssr_script_file"] == REPO / script
    link = rolelib.SHARED / "files" / "scripts"
    assert link.is_symlink() and not Path(link.readlink()).is_absolute()
    assert (link / call["tssr_script_file"]).resolve() == (REPO / script).resolve()


def script_argv(**variables) -> list[str]:
    """The arguments the role gives the script, rendered by Ansible (the CSV is /in/users.csv)."""
    return rolelib.rendered_call(ROLE, **variables)["tssr_script_args"]


def test_no_group_is_allowed_unless_the_playbook_says_so():
    assert script_argv() == ["--quiet", "/in/users.csv"]


def test_allowed_groups_reach_the_script_as_one_allow_group_option_each():
    argv = script_argv(users_allowed_privileged_groups=["sudo", "docker"])
    assert argv == ["--allow-group=sudo", "--allow-group=docker", "--quiet", "/in/users.csv"]


def test_a_password_file_is_passed_only_when_set():
    assert script_argv(users_password_file="/root/new.csv") == [
        "--password-file", "/root/new.csv", "--quiet", "/in/users.csv"]


@pytest.mark.parametrize("script", ["bash/users/provision-users.sh", "python/provision_users.py"])
def test_the_role_passes_only_options_both_scripts_know(script):
    passed = rolelib.options_in(script_argv(users_allowed_privileged_groups=["sudo"],
                                            users_password_file="/root/p.csv"))
    assert passed == {"--allow-group", "--password-file", "--quiet"}
    rolelib.assert_passes_only_options_the_script_knows(passed, SCRIPTS / script)


def test_the_csv_file_given_goes_as_it_is_and_the_accounts_are_then_ignored():
    rendered = rolelib.rendered_call(ROLE, users_csv_file="staff.csv", users_accounts=ACCOUNTS)
    files = rendered["tssr_script_files"]
    assert files == [{"name": "users.csv", "src": "staff.csv", "origin": "users_csv_file"}]


def test_the_accounts_are_rendered_by_ansible_as_invoke_renders_them(provision_users):
    files = rolelib.rendered_call(ROLE, users_accounts=ACCOUNTS)["tssr_script_files"]
    assert [file["name"] for file in files] == ["users.csv"]
    # Ansible's own template lookup, as the play runs it.
    assert files[0]["content"] == render.render("users", "users.csv.j2", accounts=ACCOUNTS)
    assert read_users(provision_users, files[0]["content"].encode()) == read_users(
        provision_users, EXAMPLE.read_bytes())


@pytest.mark.parametrize(("implementation", "interpreter"), [("bash", "bash"), ("python", "python3")])
def test_the_packages_the_script_calls_are_there_on_both_families(implementation, interpreter):
    packages = rolelib.rendered_call(ROLE, users_implementation=implementation)["tssr_script_packages"]
    assert set(packages) == {"Debian", "RedHat"}
    for family in packages.values():
        assert interpreter in family and "util-linux" in family
    assert "gawk" in packages["RedHat"] or implementation == "python"
