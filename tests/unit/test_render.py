"""Template rendering outside Ansible."""

from __future__ import annotations

import jinja2
import pytest

from tssrkit import render


def test_undefined_variable_is_an_error_not_an_empty_string(tmp_path, monkeypatch):
    (tmp_path / "r" / "templates").mkdir(parents=True)
    (tmp_path / "r" / "templates" / "t.j2").write_text("value={{ missing }}\n")
    monkeypatch.setattr(render, "ROLES", tmp_path)
    with pytest.raises(jinja2.UndefinedError):
        render.render("r", "t.j2")


def test_comment_filter_prefixes_every_line(tmp_path, monkeypatch):
    (tmp_path / "r" / "templates").mkdir(parents=True)
    (tmp_path / "r" / "templates" / "t.j2").write_text("{{ ansible_managed | comment }}\nx=1\n")
    monkeypatch.setattr(render, "ROLES", tmp_path)
    assert render.render("r", "t.j2").startswith("# Managed by tssr-kit")


def test_rendered_file_is_private(tmp_path, monkeypatch):
    (tmp_path / "r" / "templates").mkdir(parents=True)
    (tmp_path / "r" / "templates" / "t.j2").write_text("a\n")
    monkeypatch.setattr(render, "ROLES", tmp_path)
    out = render.render_to(tmp_path / "out", "r", "t.j2")
    assert out.stat().st_mode & 0o777 == 0o600


def test_accounts_yaml_renders_the_roles_csv_template(tmp_path):
    from tssrkit import jobs
    accounts = tmp_path / "group_vars.yml"
    accounts.write_text(
        "users_accounts:\n"
        "  - {login: adupont, first_name: Anaïs, last_name: 'Du; \"Pont\"', groups: [compta, vpn]}\n"
        "  - {login: bleaver, first_name: Bob, last_name: Leaver, state: absent}\n")
    csv = jobs.users.csv_from_accounts(accounts, tmp_path)
    assert csv.read_text(encoding="utf-8").splitlines() == [
        "login;first_name;last_name;groups;shell;ssh_key;state",
        'adupont;Anaïs;"Du; ""Pont""";compta vpn;;;present',
        "bleaver;Bob;Leaver;;;;absent",
    ]
    assert csv.stat().st_mode & 0o777 == 0o600


def test_accounts_file_that_is_not_a_list_is_refused(tmp_path):
    from tssrkit import jobs
    accounts = tmp_path / "bad.yml"
    accounts.write_text("users_accounts: adupont\n")
    with pytest.raises(ValueError, match="list of accounts"):
        jobs.users.csv_from_accounts(accounts, tmp_path)
