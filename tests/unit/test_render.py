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
