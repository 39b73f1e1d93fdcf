"""ssh_keep_ports (scripts/bash/lib/firewall.sh): the TCP ports a firewall must keep open for SSH.

Here `sshd -T` is a stand-in printing what a real sshd prints for a given configuration (the lines
were taken from Debian 12's and 13's sshd): the parsing is under test. The container tests
(tests/containers/test_firewall.py, test_logging.py) run the real sshd, nft and ssh.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import bashlib
import pytest


def fake_sshd(tmp_path: Path, output: str, code: int = 0) -> dict[str, str]:
    """An environment whose PATH finds an `sshd` that prints ``output`` for -T and exits ``code``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "output").write_text(output)
    sshd = bin_dir / "sshd"
    sshd.write_text(f'#!/bin/sh\n[ "$1" = -T ] || exit 9\ncat {bin_dir / "output"}\nexit {code}\n')
    sshd.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "SSH_CONNECTION"}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    return env


def keep_ports(env: dict[str, str], prefix: str = "") -> tuple[int, str]:
    proc = bashlib.bash(prefix + 'if ssh_keep_ports; then echo "ok $SSH_KEEP_PORTS"; '
                        'else echo "error $SSH_PORTS_ERROR"; fi', env=env)
    assert proc.returncode == 0, proc.stderr
    status, _, text = proc.stdout.decode().strip().partition(" ")
    return (0 if status == "ok" else 1), text


DEFAULT = "port 22\nlistenaddress [::]:22\nlistenaddress 0.0.0.0:22\nusepam yes\n"
LISTEN_WITH_PORTS = ("port 22\nlistenaddress 0.0.0.0:2222\nlistenaddress [::]:2200\n"
                     "listenaddress 127.0.0.1:22\naddressfamily any\n")
TWO_PORTS = "port 22\nport 2022\nlistenaddress [::]:22\nlistenaddress [::]:2022\nlistenaddress 0.0.0.0:22\n"


@pytest.mark.parametrize(("output", "expected"), [
    (DEFAULT, "22"),
    (LISTEN_WITH_PORTS, "22,2200,2222"),
    (TWO_PORTS, "22,2022"),
    ("port 2300\nlistenaddress 0.0.0.0:2222\nlistenaddress [fd00::1]:2200\n", "2200,2222,2300"),
    ("port 22\nlistenaddress 0.0.0.0:22 rdomain blue\n", "22"),
])
def test_ssh_ports_come_from_port_and_listenaddress_lines(tmp_path: Path, output: str, expected: str) -> None:
    assert keep_ports(fake_sshd(tmp_path, output)) == (0, expected)


@pytest.mark.parametrize(("output", "code", "words"), [
    ("/etc/ssh/sshd_config line 5: Bad configuration option: Bogus\n", 255, "sshd -T` failed"),
    ("", 255, "sshd -T` failed"),
    ("usepam yes\n", 0, "no port"),
    ("port 22\nlistenaddress 0.0.0.0:http\n", 0, "not a port"),
    ("port 0\n", 0, "not a port"),
    ("port 70000\n", 0, "not a port"),
])
def test_a_failing_or_strange_sshd_T_is_an_error_never_a_fallback_to_22(
        tmp_path: Path, output: str, code: int, words: str) -> None:
    status, text = keep_ports(fake_sshd(tmp_path, output, code))
    assert status == 1 and words in text, text


def test_no_sshd_at_all_is_an_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SSH_CONNECTION"}
    env["PATH"] = "/usr/bin:/bin"
    if shutil.which("sshd", path=env["PATH"]) or Path("/usr/sbin/sshd").exists():
        pytest.skip("this machine has an sshd: the case runs in the container tests instead")
    status, text = keep_ports(env)
    assert status == 1 and "not installed" in text, text


def test_the_port_of_ssh_connection_is_kept(tmp_path: Path) -> None:
    env = fake_sshd(tmp_path, DEFAULT)
    env["SSH_CONNECTION"] = "192.0.2.7 51234 192.0.2.1 2299"
    assert keep_ports(env) == (0, "22,2299")


def test_the_port_is_read_from_an_ancestor_when_sudo_dropped_ssh_connection(tmp_path: Path) -> None:
    """sudo (env_reset) runs the script without SSH_CONNECTION; its own environment still has it."""
    env = fake_sshd(tmp_path, DEFAULT)
    env["SSH_CONNECTION"] = "192.0.2.7 51234 192.0.2.1 2299"
    script = tmp_path / "probe.sh"
    script.write_text(bashlib.PRELUDE + 'ssh_keep_ports; echo "$SSH_KEEP_PORTS"\n')
    # The ancestor (this sh) has SSH_CONNECTION; the script is started without it, as sudo starts it.
    proc = subprocess.run(["sh", "-c", f'env -u SSH_CONNECTION bash {script}; :'], env=env,
                          capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().strip() == "22,2299"


@pytest.mark.parametrize("connection", ["garbage", "1 2 3", "192.0.2.7 51234 192.0.2.1 0",
                                        "192.0.2.7 51234 192.0.2.1 22;id"])
def test_a_malformed_ssh_connection_adds_nothing(tmp_path: Path, connection: str) -> None:
    env = fake_sshd(tmp_path, DEFAULT)
    env["SSH_CONNECTION"] = connection
    assert keep_ports(env) == (0, "22")
