"""Host-state tests of lesson 2's exercises (docs/lessons/02-deploy-lamp.md, graded by
`inv exercise check 2.M` as docs/lessons/exercises/02.yml says): what tests/hoststate/test_lamp.py, which
the graders run too, cannot check on its own — the domain the trainee was given, which versions are on
the server and which one serves, a row the trainee added in SQL.

They read the host's state only (files, Apache's vhosts, MariaDB as root through its socket, the page
fetched on the host), never the trainee's commands. Collected only when TSSR_EXERCISE is set (the grader
sets it; tests/conftest.py).
"""

from __future__ import annotations

import re

from hostlib import check, fetch, run

APPS = "/srv/lamp"
NAME = "inventaire"
DOMAIN = "inventaire.tssr.lan"
ASSET = ("PC-0042", "pc", "Poste du bureau 12")


def app_version(host, release: str) -> str | None:
    """The APP_VERSION a release of the sample app declares (src/app.php), or None."""
    found = re.search(r"const APP_VERSION = '([^']*)'", run(host, "cat", f"{release}/src/app.php").stdout)
    return found.group(1) if found else None


def releases(host) -> list[str]:
    out = run(host, "find", f"{APPS}/{NAME}/releases", "-mindepth", "1", "-maxdepth", "1", "-type", "d")
    return sorted(out.stdout.split())


def current(host) -> str:
    link = f"{APPS}/{NAME}/current"
    assert host.file(link).is_symlink, f"{link} does not exist: {NAME} is not deployed"
    return check(host, "readlink", "-f", link).strip()


def sql(host, query: str) -> list[str]:
    """Rows of a query run by MariaDB's root through the unix socket (tab-separated, no header)."""
    return check(host, "mariadb", "--batch", "--skip-column-names", "-e", query).splitlines()


# ---- 2.1 ----------------------------------------------------------------------------------------------
def test_2_1_the_app_is_served_on_its_domain(host):
    current(host)
    vhosts = check(host, "apachectl", "-S")
    # `*:443  NAME (FILE:LINE)` with one vhost on a port, `port 443 namevhost NAME (FILE:LINE)` with several.
    assert re.search(rf"\s{re.escape(DOMAIN)} \(\S*/tssr-{NAME}\.conf:\d+\)", vhosts), \
        f"no Apache vhost of {NAME} (tssr-{NAME}.conf) has the name {DOMAIN}:\n{vhosts}"
    page = fetch(host, DOMAIN)
    assert page.status == 200, f"https://{DOMAIN}/ answered {page.status}"
    assert "Parc — version" in page.body, f"https://{DOMAIN}/ does not show the sample app: {page.body[:300]}"


# ---- 2.2 ----------------------------------------------------------------------------------------------
def test_2_2_version_2_was_published_and_is_still_on_the_server(host):
    current(host)
    versions = {app_version(host, release) for release in releases(host)}
    assert "2" in versions, f"no release in {APPS}/{NAME}/releases is version 2: {sorted(versions - {None})}"
    columns = sql(host, f"SHOW COLUMNS FROM `{NAME}`.equipment")
    assert any(row.split("\t")[0] == "location" for row in columns), \
        f"the table {NAME}.equipment has no column location: version 2's schema was not applied"


def test_2_2_version_1_is_back_in_production(host):
    release = current(host)
    assert app_version(host, release) == "1", f"current is {release}, version {app_version(host, release)}"
    page = fetch(host, DOMAIN)
    assert page.status == 200 and "Parc — version 1" in page.body, \
        f"https://{DOMAIN}/ answered {page.status} without 'Parc — version 1'"


# ---- 2.3 ----------------------------------------------------------------------------------------------
def test_2_3_the_item_is_in_the_database(host):
    tag, category, description = ASSET
    # Constants of this file, not input: nothing to inject.
    rows = sql(host, f"SELECT category, description FROM `{NAME}`.equipment WHERE asset_tag = '{tag}'")  # noqa: S608
    assert rows, f"no row with asset_tag {tag} in {NAME}.equipment"
    assert rows[0].split("\t") == [category, description], f"{tag}: {rows[0]!r}"
