"""Host-state tests of lesson 6's exercises (docs/lessons/06-monitoring.md, graded by `inv exercise check
6.M` as docs/lessons/exercises/06.yml says): what tests/hoststate/test_snmp.py and test_logging.py cannot
check here on their own — they need the credentials and the central server named in environment
variables, and a lab's credentials are generated (random) and its hosts' names carry the lab's prefix.

So these read them where the lab keeps them: the SNMPv3 credentials in .tssr/<lab>/snmp-credentials.conf
(the lab is $TSSR_LAB, which the grader sets), the agent's 161/udp on 127.0.0.1 (`docker port`), the
central server as the client's forwarding config names it, reached over SSH with the same ssh_config
as the host under test. The SNMP request is sent from this machine — the lab's monitor — with the
passphrases on its command line, as any poller's (never on the agent's).

They read the hosts' state only, never the trainee's commands. Collected only when TSSR_EXERCISE is set
(the grader sets it; tests/conftest.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import testinfra
from hoststate.hostlib import check

REPO = Path(__file__).resolve().parents[3]
LAB = os.environ.get("TSSR_LAB", "tssr-lab")
SNMPD_CONF = "/etc/snmp/snmpd.conf"
LOCATION = "Salle B12, baie 3"
SYS_LOCATION = ".1.3.6.1.2.1.1.6.0"
CLIENT_CONF = "/etc/rsyslog.d/60-tssr-forward.conf"
REMOTE = "/var/log/remote"
MESSAGE = "exercice62: serveur 1 en ligne"
AUTH = {"sha256": "SHA-256", "sha512": "SHA-512", "sha": "SHA"}
PRIV = {"aes128": "AES", "aes": "AES", "aes256": "AES-256", "aes256c": "AES-256C"}


def lines(host, path: str) -> list[str]:
    conf = host.file(path)
    assert conf.is_file, f"{path} is missing"
    return [" ".join(line.split()) for line in conf.content_string.splitlines()]


# ---- 6.1 ------------------------------------------------------------------------------------------
def test_6_1_snmpd_runs_with_location_process_and_disks(host):
    service = host.service("snmpd")
    assert service.is_enabled and service.is_running, "snmpd is not enabled and running"
    conf = lines(host, SNMPD_CONF)
    for wanted in (f"sysLocation {LOCATION}", "proc sshd 10 1", "disk / 10%", "disk /tmp 10%"):
        assert wanted in conf, f"{SNMPD_CONF}: no line `{wanted}`"


def test_6_1_udp_161_is_dropped_for_all_but_the_monitor(host):
    table = check(host, "nft", "list", "table", "inet", "tssr_snmp")
    assert re.search(r"ip6? saddr \S+ udp dport 161 accept", table), table
    assert "udp dport 161 drop" in table, table


def test_6_1_the_monitor_reads_the_location_over_snmpv3(host):
    credentials = REPO / ".tssr" / LAB / "snmp-credentials.conf"
    assert credentials.is_file(), f"no {credentials}: run inv setup-snmp"
    fields = dict(line.split(" = ", 1) for line in credentials.read_text().splitlines() if " = " in line)
    name = host.backend.get_hostname()
    port = subprocess.run(["docker", "port", name, "161/udp"], capture_output=True, text=True, check=False)
    assert port.returncode == 0 and port.stdout.strip(), f"{name}: no 161/udp ({port.stderr.strip()})"
    agent = "udp:" + port.stdout.split()[0]
    argv = ["snmpget", "-m", "", "-On", "-Oqv", "-v3", "-l", "authPriv", "-u", fields["user"],
            "-a", AUTH[fields.get("auth_protocol", "sha256")], "-A", fields["auth_passphrase"],
            "-x", PRIV[fields.get("priv_protocol", "aes128")], "-X", fields["priv_passphrase"],
            "-t", "3", "-r", "1", agent, SYS_LOCATION]
    answer = subprocess.run(argv, capture_output=True, text=True, check=False,
                            env={**os.environ, "SNMPCONFPATH": "/nonexistent"})
    assert answer.returncode == 0, f"snmpget {agent} sysLocation.0: {answer.stderr.strip()}"
    assert answer.stdout.strip().strip('"') == LOCATION, f"sysLocation.0 is {answer.stdout.strip()}"


# ---- 6.2 ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def target(host) -> str:
    conf = host.file(CLIENT_CONF)
    assert conf.is_file, f"{CLIENT_CONF} is missing: this host forwards nothing"
    found = re.search(r'target="([^"]+)"', conf.content_string)
    assert found, f"no target in {CLIENT_CONF}"
    return found.group(1)


def test_6_2_the_client_forwards_to_the_second_lab_host(target: str):
    assert target == f"{LAB}2", f"{CLIENT_CONF} forwards to {target}, not to {LAB}2"


def test_6_2_the_message_reached_the_central(host, target: str, pytestconfig):
    # The name comes from the graded host's config: only the lab's own second host is ever contacted.
    assert target == f"{LAB}2", f"{CLIENT_CONF} forwards to {target}: not contacted"
    address = check(host, "getent", "ahosts", target).split()[0]
    route = check(host, "ip", "-o", "route", "get", address)
    source = re.search(r"\bsrc (\S+)", route)
    assert source, f"no source address towards {target}: {route}"
    central = testinfra.get_host(f"ssh://{target}", ssh_config=pytestconfig.getoption("ssh_config"),
                                 sudo=True)
    path = f"{REMOTE}/{source.group(1)}/syslog.log"
    deadline = time.monotonic() + 15
    while True:
        found = central.run("grep -c -F -- %s %s", MESSAGE, path)
        if found.stdout.strip() not in ("", "0") or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert found.stdout.strip() not in ("", "0"), f"{target}:{path} has no `{MESSAGE}`"
