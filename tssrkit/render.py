"""Render the kit's Jinja2 templates outside Ansible, so ``inv`` and the roles produce the same files.

Templates live in one place, ``roles/<role>/templates/``; they use plain Jinja2 only (no Ansible
filters), so that this module renders them the same way Ansible's ``template`` module does.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from tssrkit.paths import ROLES

ANSIBLE_MANAGED = "Managed by tssr-kit: local changes will be overwritten."


def render(role: str, template: str, **variables: object) -> str:
    """Render ``roles/<role>/templates/<template>`` with ``variables``; undefined names are errors."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ROLES / role / "templates")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 — config files and CSV, not HTML
    )
    env.filters["comment"] = lambda text, prefix="#": "\n".join(
        f"{prefix} {line}".rstrip() for line in str(text).splitlines())
    variables.setdefault("ansible_managed", ANSIBLE_MANAGED)
    return env.get_template(template).render(**variables)


def render_to(path: Path, role: str, template: str, **variables: object) -> Path:
    """Render a template into ``path`` (created with mode 0600: inputs may name people)."""
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(render(role, template, **variables), encoding="utf-8")
    return path
