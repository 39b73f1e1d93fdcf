"""roles/users without a host: its one CSV template and its links to the scripts.

The template is rendered by Ansible (roles/users) and by the `inv` side (tssrkit.render) with plain
Jinja2; both must give a file that the project's parser reads back as the same users.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import jinja2
import pytest
import rolelib
from ansible.plugins.filter.core import regex_replace

from tssrkit import render

REPO = Path(__file__).resolve().parents[2]
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


@pytest.mark.parametrize("link, script", [
    ("provision-users.sh", "scripts/bash/users/provision-users.sh"),
    ("provision_users.py", "scripts/python/provision_users.py"),
])
def test_role_ships_the_scripts_through_relative_links_not_copies(link, script):
    path = ROLE / "files" / link
    assert path.is_symlink()
    assert not Path(path.readlink()).is_absolute()
    assert path.resolve() == (REPO / script).resolve()


def test_every_role_variable_is_validated_prefixed_and_documented():
    rolelib.assert_every_default_is_validated(ROLE)
    rolelib.assert_every_option_is_prefixed_and_defaulted(ROLE, "users_")
    rolelib.assert_readme_documents_every_variable(ROLE)


def script_argv(**variables) -> list[str]:
    """The argv the role's run task gives the script, rendered with Jinja2 and Ansible's own filters."""
    tasks = rolelib.load(ROLE / "tasks" / "main.yml")
    block = next(t for t in tasks if "block" in t)["block"]
    expression = next(t for t in block if t["name"].startswith("Run the provisioning script"))[
        "ansible.builtin.command"]["argv"]
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 — argv, not HTML
    env.filters["regex_replace"] = regex_replace
    defaults = rolelib.load(ROLE / "defaults" / "main.yml")
    names = {"__users_interpreter": {"bash": "bash"}, "__users_script_dest": "/s/provision-users.sh",
             "__users_csv_dest": "/d/users.csv", "ansible_check_mode": False}
    return ast.literal_eval(env.from_string(expression).render(**{**defaults, **names, **variables}))


def test_no_group_is_allowed_unless_the_playbook_says_so():
    assert script_argv() == ["bash", "/s/provision-users.sh", "--quiet", "/d/users.csv"]


def test_allowed_groups_reach_the_script_as_one_allow_group_option_each():
    argv = script_argv(users_allowed_privileged_groups=["sudo", "docker"])
    assert argv == ["bash", "/s/provision-users.sh", "--allow-group=sudo", "--allow-group=docker", "--quiet",
                    "/d/users.csv"]
