"""`inv deploy-java` end to end on a lab host: the sample service, built from its source, is served
over HTTPS on 127.0.0.1, survives a kill, is updated and rolled back.

Same separate lab as the other lab tests (TSSR_LAB=tssr-t, same xdist group, so never at the same
time); this module uses tssr-t1 only, and, like test_lab_lamp.py, removes the lab at the end
when it started it. Everything goes through the commands a technician types.
"""

from __future__ import annotations

import re
import time

import pytest
from lablib import HOST, fetch, inv, on_host, running_lab, summary_row

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab"), pytest.mark.slow]

NAME = "hello-service"
LOCAL_URL = re.compile(r"https://127\.0\.0\.1:(\d+)/")


@pytest.fixture(scope="module")
def deployed():
    """The lab (started if needed) with the sample service 1.0.0 deployed by `inv deploy-java`."""
    with running_lab():
        yield inv("deploy-java", "--hosts", HOST)


def url_of(proc) -> str:
    found = LOCAL_URL.search(proc.stdout)
    assert found, f"no local URL printed:\n{proc.stdout}\n{proc.stderr}"
    return found.group(0)


def served_version(url: str) -> str:
    status, body = fetch(url + "version")
    assert status == 200
    return body.strip()


def test_deploy_java_serves_the_sample_service_over_https_and_prints_its_url(deployed):
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert summary_row(deployed.stdout, HOST)[1] == "changed"
    status, body = fetch(url_of(deployed))
    assert status == 200 and body.startswith(f"{NAME} 1.0.0"), body


def test_second_run_changes_nothing(deployed):
    again = inv("deploy-java", "--hosts", HOST)
    assert again.returncode == 0, again.stdout + again.stderr
    row = summary_row(again.stdout, HOST)
    assert row[1:3] == ["ok", "0"], row


def test_the_service_comes_back_after_its_process_is_killed(deployed):
    url = url_of(deployed)
    unit = f"app-{NAME}"
    pid = on_host("systemctl", "show", "-p", "MainPID", "--value", unit).stdout.strip()
    assert pid not in ("", "0")
    assert on_host("kill", "-9", pid).returncode == 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new_pid = on_host("systemctl", "show", "-p", "MainPID", "--value", unit).stdout.strip()
        if new_pid not in ("", "0", pid):
            try:
                if served_version(url) == "1.0.0":
                    break
            except OSError:
                pass
        time.sleep(1)
    else:
        pytest.fail(f"{unit} did not come back within 60 s after kill -9 {pid}")
    assert int(on_host("systemctl", "show", "-p", "NRestarts", "--value", unit).stdout.strip()) >= 1


def test_an_update_is_served_then_a_rollback_serves_the_previous_release_again(deployed):
    url = url_of(deployed)
    update = inv("deploy-java", "--hosts", HOST, "--version", "2.0.0")
    assert update.returncode == 0, update.stdout + update.stderr
    assert served_version(url) == "2.0.0"
    assert on_host("readlink", f"/opt/{NAME}/current").stdout.strip() == "releases/2.0.0"
    back = inv("deploy-java", "--hosts", HOST, "--rollback")
    assert back.returncode == 0, back.stdout + back.stderr
    assert served_version(url) == "1.0.0"
    assert on_host("readlink", f"/opt/{NAME}/current").stdout.strip() == "releases/1.0.0"
