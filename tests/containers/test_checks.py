"""tssr_check.py's `service` check against a real systemd, in a booted container of each platform.

The other checks read the machine they run on and are tested where the tests run
(tests/unit/test_tssr_check.py); this one needs systemd as PID 1, which the test machine may not have.
The container (``tssr-test-checks-<uuid8>``) boots from the node image, gets the script in
``/opt/tssr-test/tssr_check.py`` and a few units made for the tests:

- ``tssr-idle.service``: installed, never started (CRITICAL);
- ``tssr-manual.service``: started by hand, not enabled at boot (WARNING unless ``--allow-disabled``);
- ``tssr-flaky.service``: fails until a flag file exists, restarted by systemd (``Restart=on-failure``)
  until then, so its ``NRestarts`` is known to be at least 3 (the ``-w``/``-c`` ranges apply to it).

RedHat: *skipped, not run: no image* unless ``TSSR_REDHAT_IMAGE`` names one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from containerlib import PLATFORMS, Node, Platform, start_systemd_node, stop_node

pytestmark = [pytest.mark.containers, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "/opt/tssr-test/tssr_check.py"

SLEEPER = "[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n"
UNITS = {
    "tssr-idle.service": SLEEPER,
    "tssr-manual.service": SLEEPER,
    "tssr-flaky.service": (
        "[Unit]\nStartLimitIntervalSec=0\n"
        "[Service]\nExecStart=/bin/sh -c 'test -e /run/tssr-flaky-ok || exit 1; exec sleep infinity'\n"
        "Restart=on-failure\nRestartSec=100ms\n[Install]\nWantedBy=multi-user.target\n"),
}


def restarts(node: Node, unit: str) -> int:
    return int(node.sh(f"systemctl show {unit} --property=NRestarts --value").strip() or 0)


@pytest.fixture(scope="module", params=[pytest.param(p, id=p.name) for p in PLATFORMS.values()])
def node(request: pytest.FixtureRequest) -> Iterator[Node]:
    platform: Platform = request.param
    started = start_systemd_node(platform, {SCRIPT: ROOT / "scripts" / "python" / "tssr_check.py"},
                                 "tssr-test-checks")
    try:
        for unit, text in UNITS.items():
            started.write(f"/etc/systemd/system/{unit}", text)
        started.sh("systemctl daemon-reload && systemctl enable --quiet tssr-flaky.service tssr-idle.service"
                   " && systemctl start tssr-manual.service && systemctl start --no-block tssr-flaky.service")
        deadline = time.monotonic() + 60
        while restarts(started, "tssr-flaky.service") < 3:
            assert time.monotonic() < deadline, "tssr-flaky.service was not restarted 3 times in 60 s"
            time.sleep(0.2)
        started.sh("touch /run/tssr-flaky-ok")
        while started.sh("systemctl is-active tssr-flaky.service || true").strip() != "active":
            assert time.monotonic() < deadline, "tssr-flaky.service did not settle"
            time.sleep(0.2)
        yield started
    finally:
        stop_node(started)


def check(node: Node, *args: str) -> tuple[int, str]:
    proc = node.exec("python3", SCRIPT, "service", *args)
    out = proc.stdout.decode()
    assert len(out.splitlines()) == 1, f"one status line expected: {out!r} {proc.stderr!r}"
    return proc.returncode, out.strip()


def test_an_active_service_enabled_at_boot_is_ok_with_its_restart_count(node):
    code, line = check(node, "ssh.service")
    assert code == 0, line
    assert re.fullmatch(r"SERVICE OK - ssh\.service is active \(running\), enabled, restarted 0 time\(s\)"
                        r" \| restarts=0c;;;0", line), line


def test_an_installed_service_that_is_not_running_is_critical(node):
    code, line = check(node, "tssr-idle.service")
    assert code == 2, line
    assert line.startswith("SERVICE CRITICAL - tssr-idle.service is inactive (dead)"), line


def test_a_running_service_not_enabled_at_boot_warns_unless_allowed(node):
    code, line = check(node, "tssr-manual.service")
    assert code == 1 and "it will not start at boot" in line, line
    code, line = check(node, "tssr-manual.service", "--allow-disabled")
    assert code == 0, line


def test_the_ranges_apply_to_the_number_of_restarts(node):
    count = restarts(node, "tssr-flaky.service")
    code, line = check(node, "tssr-flaky.service")
    assert code == 0 and f"restarts={count}c" in line, line
    code, line = check(node, "tssr-flaky.service", "-w", "2", "-c", "1000")
    assert code == 1 and f"restarts={count}c;2;1000;0" in line, line
    code, line = check(node, "tssr-flaky.service", "-w", "2", "-c", "2")
    assert code == 2, line


def test_a_unit_that_is_not_installed_is_critical(node):
    code, line = check(node, "tssr-nope.service")
    assert code == 2 and "tssr-nope.service is not installed" in line, line
