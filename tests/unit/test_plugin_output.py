"""A hostile SNMP agent, HTTP server or backup storage cannot forge a plugin line or drive a terminal.

snmp_poll.py and tssr_check.py print monitoring-plugin lines: `NAME STATE - text | perfdata`, then
long-output lines. Nagios, Icinga and Centreon read the perfdata after the first "|" of the first line
and of the long output: a value that holds a newline or a "|" could add lines or performance data of its
own, and a control character would reach the terminal of whoever runs the check by hand. Every string
that came from the other side (sysName, dskPath, an HTTP reason phrase, a backup set's name) is escaped.

The agent here is a REAL snmpd (Debian package snmpd, on this machine as in test_snmp_poll.py) made
hostile with `pass` scripts, as a compromised or malicious host would be: its sysName.0 and its dskTable
path hold ESC sequences, newlines, "|", "=" and quotes.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tssrkit.paths import REPO

POLLER = REPO / "scripts" / "python" / "snmp_poll.py"
CHECK = REPO / "scripts" / "python" / "tssr_check.py"
AUTH_PASS, PRIV_PASS = "auth-pass-1234", "priv-pass-5678"

HOSTILE_SYSNAME = b"\x1b[2J\n| evil=1 \x1b]52;c;cm0gLXJmIH4K\x07\r\xc2\x9b"
HOSTILE_PATH = b"/\n| injected=99 '=\x1b]0;t\x07"

SYSNAME_SCRIPT = """#!/bin/sh
if [ "$1" = "-g" ] && [ "$2" = ".1.3.6.1.2.1.1.5.0" ]; then
  echo .1.3.6.1.2.1.1.5.0; echo octet; echo "{hex}"
fi
"""
# dskPath.1 (octet) and dskPercent.1 (95: CRITICAL, so the hostile path is in the message too).
DSK_SCRIPT = """#!/bin/sh
P=.1.3.6.1.4.1.2021.9.1.2.1; C=.1.3.6.1.4.1.2021.9.1.9.1
get() {{ case "$1" in
  $P) echo $P; echo octet; echo "{hex}" ;;
  $C) echo $C; echo integer; echo 95 ;;
esac; }}
[ "$1" = "-g" ] && get "$2"
if [ "$1" = "-n" ]; then
  case "$2" in
    .1.3.6.1.4.1.2021.9|.1.3.6.1.4.1.2021.9.1|.1.3.6.1.4.1.2021.9.1.1*|.1.3.6.1.4.1.2021.9.1.2) get $P ;;
    $P|.1.3.6.1.4.1.2021.9.1.[3-8]*|.1.3.6.1.4.1.2021.9.1.9) get $C ;;
  esac
fi
exit 0
"""


def hexed(raw: bytes) -> str:
    return " ".join(f"{b:02x}" for b in raw)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HostileAgent:
    """snmpd on 127.0.0.1:PORT, its sysName.0 and dskTable answered by `pass` scripts (stopped by PID)."""

    def __init__(self) -> None:
        if not shutil.which("snmpd"):
            pytest.skip("snmpd is not installed (apt-get install snmpd): no real agent to poll")
        self.port = free_udp_port()
        self.folder = Path(tempfile.mkdtemp(prefix="tssr-hostile-snmpd-"))
        (self.folder / "persist").mkdir()
        (self.folder / "sysname.sh").write_text(SYSNAME_SCRIPT.format(hex=hexed(HOSTILE_SYSNAME)))
        (self.folder / "dsk.sh").write_text(DSK_SCRIPT.format(hex=hexed(HOSTILE_PATH)))
        conf = self.folder / "agent.conf"
        conf.write_text("\n".join([
            "rouser tssr authpriv",
            f'createUser tssr SHA-256 "{AUTH_PASS}" AES "{PRIV_PASS}"',
            "load 12 10 5",
            f"pass -p 1 .1.3.6.1.2.1.1.5 /bin/sh {self.folder}/sysname.sh",
            f"pass .1.3.6.1.4.1.2021.9 /bin/sh {self.folder}/dsk.sh",
        ]) + "\n")
        self.pidfile = self.folder / "snmpd.pid"
        user = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            for path in [self.folder, *self.folder.iterdir()]:
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
            user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        argv = ["snmpd", "-f", "-C", "-c", str(conf), "-I", "-smux", "-M", "/nonexistent", "-m", "",
                "-Lf", str(self.folder / "snmpd.log"), "-p", str(self.pidfile), f"udp:127.0.0.1:{self.port}"]
        env = {"PATH": os.environ["PATH"], "SNMP_PERSISTENT_DIR": str(self.folder / "persist")}
        self.process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        **user)
        deadline = time.monotonic() + 10
        while not (self.pidfile.exists() and self.pidfile.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("the hostile snmpd did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(5)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def hostile_agent():
    agent = HostileAgent()
    yield agent
    agent.stop()


def poll(agent: HostileAgent, fmt: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSSR_SNMP_")}
    env.update(TSSR_SNMP_USER="tssr", TSSR_SNMP_AUTH_PASSPHRASE=AUTH_PASS,
               TSSR_SNMP_PRIV_PASSPHRASE=PRIV_PASS)
    argv = [sys.executable, str(POLLER), "--agent", f"127.0.0.1:{agent.port}", "--format", fmt]
    return subprocess.run(argv, capture_output=True, timeout=60, env=env, check=False)


def raw_controls(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0]


# A perfdata item: a label (quoted, a quote inside doubled; or bare, without space, = or ') = a value.
PERF_ITEM = re.compile(r"('(?:[^']|'')*'|[^\s='|]+)=([-0-9.]+[a-zA-Z%]*(?:;[^;\s]*){0,4})")


def perf_items(perfdata: str) -> list[str]:
    items, rest = [], perfdata.strip()
    while rest:
        match = PERF_ITEM.match(rest)
        assert match, f"not a perfdata item: {rest!r}"
        items.append(match[1])
        rest = rest[match.end():].lstrip(" ")
    return items


def test_a_hostile_agent_cannot_add_lines_or_perfdata_to_the_plugin_output(hostile_agent) -> None:
    proc = poll(hostile_agent, "nagios")
    out = proc.stdout.decode("utf-8")
    assert proc.returncode == 2, out                      # the disk at 95 %: CRITICAL, as the values say
    lines = out.splitlines()
    assert len(lines) == 2, f"one status line and one line per agent, nothing more: {lines!r}"
    assert not raw_controls(out), raw_controls(out)
    assert all(line.count("|") <= 1 for line in lines), lines
    assert lines[1].count("|") == 0, "the long output may carry no perfdata of the agent's"
    text, _, perfdata = lines[0].partition(" | ")
    labels = perf_items(perfdata)
    assert labels[:4] == ["ok", "warning", "critical", "unknown"], labels
    assert len(labels) == 6, f"the agent added perfdata: {labels}"       # + load1 and the one disk
    assert "injected" not in "".join(labels[:4] + labels[4:5])
    assert "\\x1b" in lines[1] and "\\n" in lines[1], "the hostile sysName is shown, escaped"


def test_a_hostile_agent_cannot_drive_the_terminal_through_the_table(hostile_agent) -> None:
    proc = poll(hostile_agent, "table")
    out = proc.stdout.decode("utf-8")
    lines = out.splitlines()
    assert len(lines) == 3, lines                          # header, the agent, the JSON result line
    assert not raw_controls(out), raw_controls(out)
    assert json.loads(lines[-1])["agents"] == 1


def test_json_output_keeps_the_agents_strings_as_escaped_data(hostile_agent) -> None:
    proc = poll(hostile_agent, "json")
    out = proc.stdout.decode("utf-8")
    assert len(out.splitlines()) == 1 and not raw_controls(out)
    result = json.loads(out)["results"][0]
    # JSON carries the strings as they came (pysnmp decodes them; json.dumps escapes every control).
    assert result["sys_name"].startswith("\x1b[2J\n| evil=1 \x1b]52;"), result["sys_name"]
    assert list(result["disks"]) == [HOSTILE_PATH.decode("utf-8")]


# ------------------------------------------------------------------------------------- tssr_check.py

def check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECK), *args], capture_output=True, timeout=60, check=False)


def assert_one_plugin_line(proc: subprocess.CompletedProcess) -> str:
    out = proc.stdout.decode("utf-8")
    assert out.endswith("\n") and out.count("\n") == 1, f"one line: {out!r}"
    assert not raw_controls(out), raw_controls(out)
    assert out.count("|") <= 1, out
    return out


@pytest.mark.parametrize("field", ["job", "last_good", "dest"])
def test_a_hostile_backup_status_cannot_forge_the_backup_check(tmp_path: Path, field: str) -> None:
    """The status line describes sets read from the backup storage: their names are data."""
    status = {"command": "status", "job": "web", "dest": "/srv/backup", "last_good": "web-2026-01-01T0000",
              "age_seconds": 3600, "sets": 3}
    status[field] = "x\n| evil=1 \x1b[2J\r" + status[field]
    if field == "dest":
        status["last_good"] = None
    (tmp_path / "status.json").write_text(json.dumps(status) + "\n")
    out = assert_one_plugin_line(check("backup", "--status-file", str(tmp_path / "status.json")))
    assert "evil=1" not in out.partition(" | ")[2], out


@pytest.mark.parametrize(("field", "value"), [("age_seconds", "soon"), ("age_seconds", [1]), ("sets", "3"),
                                              ("age_seconds", 1e400)])
def test_a_malformed_backup_status_is_unknown_not_a_crash(tmp_path: Path, field: str, value) -> None:
    status = {"command": "status", "job": "web", "last_good": "web-1", "age_seconds": 60, "sets": 1}
    status[field] = value
    (tmp_path / "status.json").write_text(json.dumps(status).replace("Infinity", "1e400") + "\n")
    proc = check("backup", "--status-file", str(tmp_path / "status.json"))
    out = assert_one_plugin_line(proc)
    assert proc.returncode == 3 and out.startswith("BACKUP UNKNOWN"), out


def test_a_hostile_http_server_cannot_forge_the_http_check() -> None:
    """A real TCP server answers with a reason phrase full of controls, "|" and perfdata of its own."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK \x1b]52;c;cm0K\x07| time=0s;;;0 \x1b[2J\r\x9b\r\n"
                         b"Content-Length: 2\r\nConnection: close\r\n\r\nok")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        out = assert_one_plugin_line(check("http", f"http://127.0.0.1:{port}/"))
    finally:
        thread.join(5)
        server.close()
    assert out.startswith("HTTP OK"), out
    assert out.partition(" | ")[2].split()[0].startswith("time="), out
    assert out.partition(" | ")[2].count("time=") == 1, f"the server added perfdata: {out!r}"
