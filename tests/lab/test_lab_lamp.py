"""`inv deploy-lamp` end to end on a lab host: the sample app is served over HTTPS on 127.0.0.1.

Same separate lab as test_lab_users.py (TSSR_LAB=tssr-t, same xdist group, so never at the same time).
This module uses tssr-t1 only. When it finds the lab already there it leaves it as found (its owner
removes it); when it starts the lab itself it removes it at the end, so the fleet tests that follow
get fresh hosts. Everything goes through the commands a technician types.
"""

from __future__ import annotations

import re
import subprocess

import pytest
from lablib import HOST, fetch, host_state_tests, inv, on_host, running_lab, summary_row

from tssrkit.paths import EXAMPLES

SAMPLE = EXAMPLES / "lamp"
LOCAL_URL = re.compile(r"https://127\.0\.0\.1:(\d+)/")

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab"), pytest.mark.slow]


def releases() -> tuple[str, str]:
    """(the current link's target, the list of release folders) of the sample app on the host."""
    current = on_host("readlink", "/srv/lamp/parc/current").stdout.strip()
    listing = on_host("ls", "-1", "/srv/lamp/parc/releases").stdout
    return current, listing


@pytest.fixture(scope="module")
def lab_host():
    with running_lab():
        yield HOST


@pytest.fixture(scope="module")
def first_deploy(lab_host) -> subprocess.CompletedProcess:
    return inv("deploy-lamp", "--hosts", lab_host)


@pytest.fixture(scope="module")
def site_url(first_deploy) -> str:
    found = LOCAL_URL.search(first_deploy.stdout)
    assert found, first_deploy.stdout + first_deploy.stderr
    return found.group(0)


def test_deploying_the_sample_app_succeeds_and_prints_its_local_https_url(first_deploy, lab_host):
    assert first_deploy.returncode == 0, first_deploy.stdout + first_deploy.stderr[-4000:]
    assert summary_row(first_deploy.stdout, lab_host)[1] == "changed"
    assert LOCAL_URL.search(first_deploy.stdout), first_deploy.stdout
    assert "curl -k https://127.0.0.1:" in first_deploy.stdout  # no --cert: the hint is there


def test_the_printed_url_serves_version_1_with_the_seeded_asset(site_url):
    status, html = fetch(site_url)
    assert status == 200
    assert "version 1" in html and "PC-0001" in html, html[:2000]


def test_a_second_deploy_changes_nothing(first_deploy, lab_host):
    before = releases()
    proc = inv("deploy-lamp", "--hosts", lab_host)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    assert summary_row(proc.stdout, lab_host)[1:3] == ["ok", "0"]
    assert releases() == before


def test_a_dry_run_of_version_2_plans_changes_and_makes_none(first_deploy, site_url, lab_host):
    before = releases()
    proc = inv("deploy-lamp", "--hosts", lab_host, "--dry-run", "--app", str(SAMPLE / "parc-v2"),
               "--schema", str(SAMPLE / "parc-v2" / "schema.sql"))
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    row = summary_row(proc.stdout, lab_host)
    assert row[1] == "changed" and int(row[2]) > 0, row
    assert releases() == before
    status, html = fetch(site_url)
    assert status == 200 and "version 1" in html


def test_a_missing_app_is_a_usage_error_before_any_host(lab_host, tmp_path):
    proc = inv("deploy-lamp", "--hosts", lab_host, "--app", str(tmp_path / "nothing-here"))
    assert proc.returncode == 2
    assert "no such folder or file" in proc.stderr
    assert lab_host not in proc.stdout  # no summary: no host was contacted


def test_host_state_tests_pass_over_ssh(first_deploy, lab_host):
    """tests/hoststate/test_lamp.py over SSH, as against a real server."""
    assert first_deploy.returncode == 0, first_deploy.stdout + first_deploy.stderr[-4000:]
    proc = host_state_tests("test_lamp.py", [lab_host], TSSR_LAMP_NAME="parc", TSSR_LAMP_EXPECT="PC-0001")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout and "error" not in proc.stdout
