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

import pytest
from containerlib import PLATFORMS, Node, Platform, kit_copies, start_systemd_node, stop_node

pytestmark = [pytest.mark.containers, pytest.mark.slow]

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
    started = start_systemd_node(platform, kit_copies(("tssr_check.py", "scripts/python/tssr_check.py")),
                                 "tssr-test-checks")
    try:
        started.write_files({f"/etc/systemd/system/{unit}": text for unit, text in UNITS.items()},
                            "systemctl daemon-reload && systemctl enable --quiet tssr-flaky.service"
                            " tssr-idle.service && systemctl start tssr-manual.service"
                            " && systemctl start --no-block tssr-flaky.service")
        # Waited for inside the container (one `docker exec` each), within 60 s in all.
        deadline = time.monotonic() + 60
        started.wait_for('[ "$(systemctl show tssr-flaky.service --property=NRestarts --value)" -ge 3 ]',
                         60, "tssr-flaky.service restarted 3 times")
        started.wait_for('[ "$(systemctl is-active tssr-flaky.service)" = active ]',
                         max(deadline - time.monotonic(), 1), "tssr-flaky.service settling",
                         first="touch /run/tssr-flaky-ok")
        yield started
    finally:
        stop_node(started)


def check(node: Node, *args: str) -> tuple[int, str]:
    proc = node.exec("python3", SCRIPT, "service", *args)
    return status_line(proc.returncode, proc.stdout.decode(), proc.stderr)


def status_line(code: int, out: str, err: bytes | str) -> tuple[int, str]:
    """The exit code and the one line a service check printed (``err``: its stderr)."""
    assert len(out.splitlines()) == 1, f"one status line expected: {out!r} {err!r}"
    return code, out.strip()


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


# ==================================================================================================
# What the checks read from the other side is data: a unit name never reaches a shell, and what an
# HTTP server or a backup status says never adds a line, perfdata, or a terminal control.

HOSTILE_UNITS = ["x;touch /tmp/pwned", "$(touch /tmp/pwned).service", "-H/tmp/pwned", "../../etc/passwd",
                 "a\nb.service", "ssh.service|touch /tmp/pwned"]


@pytest.mark.parametrize("unit", HOSTILE_UNITS)
def test_a_hostile_unit_name_is_refused_and_runs_nothing(node, unit: str):
    # The check, then a look for /tmp/pwned, in one `docker exec`.
    _, run, after = node.run_between("python3", SCRIPT, "service", unit, workdir="/",
                                      after="printf '=== pwned\\n'; [ ! -e /tmp/pwned ] || echo /tmp/pwned")
    code, line = status_line(run.exit, run.stdout, run.stderr)
    assert code == 3 and line.startswith("SERVICE UNKNOWN - usage"), line
    assert after is not None and after["pwned"] == "", after
    assert "\n" not in line and "\x1b" not in line


# A one-answer HTTP server in the container: the reason phrase carries ESC sequences, OSC 52, a CR,
# a C1 CSI, a "|" and perfdata of its own; then it exits.
HOSTILE_HTTP = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8099)); s.listen(1)
print("ready", flush=True)
c, _ = s.accept(); c.recv(4096)
c.sendall(b"HTTP/1.1 200 OK \x1b]52;c;cm0K\x07| time=0s;;;0 evil=1 \x1b[2J\r\xc2\x9b\r\n"
          b"Content-Length: 2\r\nConnection: close\r\n\r\nok")
c.close()
"""


def raw_controls(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0]


def plugin(node: Node, *args: str, status: str | None = None) -> tuple[int, str]:
    """The script's one status line and exit code; ``status`` is written to /root/status.json first
    (in the same ``docker exec``)."""
    if status is None:
        proc = node.exec("python3", SCRIPT, *args)
    else:
        proc = node.write_and_exec("/root/status.json", status, "python3", SCRIPT, *args)
    out = proc.stdout.decode("utf-8")
    assert out.count("\n") == 1 and out.endswith("\n"), f"one status line expected: {out!r}"
    assert not raw_controls(out), raw_controls(out)
    assert out.count("|") <= 1, out
    return proc.returncode, out.strip()


def test_a_hostile_http_server_cannot_add_perfdata_or_terminal_controls(node):
    node.write_files({"/root/hostile_http.py": HOSTILE_HTTP},
                     "(setsid python3 /root/hostile_http.py > /root/hostile_http.out 2>&1 < /dev/null &)")
    node.wait_for("grep -q ready /root/hostile_http.out 2>/dev/null", 10, "the hostile HTTP server starting",
                  interval=0.1)
    code, line = plugin(node, "http", "http://127.0.0.1:8099/")
    assert code == 0 and line.startswith("HTTP OK - 200 OK \\x1b]52;"), line
    perfdata = line.partition(" | ")[2]
    assert [item.split("=")[0] for item in perfdata.split()] == ["time", "size"], perfdata


HOSTILE_STATUS = {
    "last_good": '{"command": "status", "job": "web", "dest": "/srv", "last_good": "web-1\\n| evil=1 '
                 '\\u001b[2J\\r", "age_seconds": 60, "sets": 1}',
    "job": '{"command": "status", "job": "w\\u001b]0;t\\u0007|x=1", "dest": "/srv\\n| y=2",'
           ' "last_good": null, "age_seconds": null, "sets": 0}',
    "age-not-a-number": '{"command": "status", "job": "web", "last_good": "web-1", "age_seconds": "soon",'
                        ' "sets": 1}',
}


@pytest.mark.parametrize("status", list(HOSTILE_STATUS.values()), ids=list(HOSTILE_STATUS))
def test_a_hostile_backup_status_cannot_forge_the_backup_check(node, status: str):
    code, line = plugin(node, "backup", "--status-file", "/root/status.json", status=status + "\n")
    assert line.startswith("BACKUP "), line
    perfdata = line.partition(" | ")[2]
    assert "evil" not in perfdata and "x=1" not in perfdata and "y=2" not in perfdata, line
    if "soon" in status:
        assert code == 3 and line.startswith("BACKUP UNKNOWN"), line
