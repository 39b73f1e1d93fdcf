"""Host-state tests of log forwarding: does a client set up by `setup-logging.sh client` deliver its
messages to the central server, and did every message logged during an outage arrive?

They look at the client through Testinfra's `host` fixture and at the central server through a second
Testinfra host, so they run unchanged wherever Testinfra reaches both:

    # under Molecule (molecule/logging/molecule.yml points its verifier here; the central is
    # docker://<platform>-central, derived from the client's container name):
    molecule test -s logging --platform-name logging-debian12
    # against the lab or real servers: the client as --hosts, the central as TSSR_LOGGING_CENTRAL
    # (any Testinfra host spec; root or sudo on both: the logs and configs are root's):
    TSSR_LOGGING_CENTRAL=ssh://admin@logs pytest --hosts=ssh://admin@web1 --sudo \
        tests/hoststate/test_logging.py

$TSSR_LOGGING_CENTRAL_SUDO=1 runs the central's commands with sudo (the client's follow --sudo).
$TSSR_LOGGING_DIR: the central's folder of host folders (default /var/log/remote).
$TSSR_LOGGING_CLIENT_ADDRESS: the client's address as the central sees it, which names its folder there
(default: the client's source address towards the central, from `ip route get`; set it when NAT lies
between them).
$TSSR_LOGGING_OUTAGE=1: an outage was recorded on the client in /root/tssr-logging-outage.txt ("TAG N",
as molecule/logging/side_effect.yml writes it: N messages numbered 1..N logged with that tag while the
central was down); all N must be on the central, none missing (the file missing is then a failure).
Unset, that test is skipped, not passed.

This folder is left out of a plain `pytest` run (it needs a host): tests/conftest.py collects it only
with --hosts=… or TSSR_HOSTSTATE=1 (Molecule's verifier sets it).

What is checked:
- the client: rsyslog installed, enabled and running; /etc/rsyslog.d/60-tssr-forward.conf forwards
  over TCP with a disk-assisted queue saved at shutdown that never gives up a message;
- the central: rsyslog running and listening on the port the client forwards to; the host folders'
  parent is not readable by others; a logrotate file for them;
- a message logged now on the client arrives in <dir>/<client's address>/syslog.log on the central (the
  folder is named from the address the connection came from, never from a name inside the message);
- with TSSR_LOGGING_OUTAGE: all N messages of the recorded outage arrived (the count is printed).
"""

from __future__ import annotations

import os
import re
import time
import uuid

import pytest
import testinfra
from hostlib import check, run

CLIENT_CONF = "/etc/rsyslog.d/60-tssr-forward.conf"
SERVER_CONF = "/etc/rsyslog.d/60-tssr-server.conf"
LOGROTATE_CONF = "/etc/logrotate.d/tssr-remote-syslog"
REMOTE = os.environ.get("TSSR_LOGGING_DIR") or "/var/log/remote"
OUTAGE_RECORD = "/root/tssr-logging-outage.txt"
DELIVERY_TIMEOUT = 120       # seconds: the client retries every 5 s, a backlog may take a moment


def docker_name(host) -> str:
    """The client's container name: the docker backend's, or (under Molecule, which hands Testinfra its
    Ansible inventory) the inventory name of a host Ansible reaches with the docker connection."""
    if host.backend.NAME == "docker":
        return host.backend.name
    if host.backend.NAME == "ansible":
        variables = host.ansible.get_variables()
        if "docker" in str(variables.get("ansible_connection", "")):
            return host.backend.host
    pytest.fail("set TSSR_LOGGING_CENTRAL to the central server's host spec (e.g. ssh://admin@logs)")


@pytest.fixture(scope="module")
def central(host):
    """The central server as a Testinfra host: TSSR_LOGGING_CENTRAL, or docker://<client>-central."""
    spec = os.environ.get("TSSR_LOGGING_CENTRAL")
    if not spec:
        spec = f"docker://{docker_name(host)}-central"
    return testinfra.get_host(spec, sudo=bool(os.environ.get("TSSR_LOGGING_CENTRAL_SUDO")))


@pytest.fixture(scope="module")
def forward_conf(host) -> str:
    conf = host.file(CLIENT_CONF)
    assert conf.is_file, f"{CLIENT_CONF} is missing: is this host a client of setup-logging.sh?"
    return conf.content_string


@pytest.fixture(scope="module")
def target_port(forward_conf: str) -> int:
    match = re.search(r'port="(\d+)"', forward_conf)
    assert match, f"no port in {CLIENT_CONF}:\n{forward_conf}"
    return int(match.group(1))


@pytest.fixture(scope="module")
def client_name(host, forward_conf: str) -> str:
    """The client's folder on the central: its source address towards the central (the address the
    central's rsyslog sees, %FROMHOST-IP%), or $TSSR_LOGGING_CLIENT_ADDRESS."""
    if os.environ.get("TSSR_LOGGING_CLIENT_ADDRESS"):
        return os.environ["TSSR_LOGGING_CLIENT_ADDRESS"]
    match = re.search(r'target="([^"]+)"', forward_conf)
    assert match, f"no target in {CLIENT_CONF}:\n{forward_conf}"
    address = check(host, "getent", "ahosts", match.group(1)).split()[0]
    route = check(host, "ip", "-o", "route", "get", address)
    source = re.search(r"\bsrc (\S+)", route)
    assert source, f"no source address towards {address}: {route}"
    return source.group(1)


def received(central, client_name: str, tag: str) -> list[int]:
    """The numbers of TAG's messages in the client's file on the central (duplicates kept)."""
    path = f"{REMOTE}/{client_name}/syslog.log"
    out = central.run(f"grep -o ' {tag}: n=[0-9]*' {path} 2>/dev/null | cut -d= -f2")
    return [int(n) for n in out.stdout.split()]


def wait_for(central, client_name: str, tag: str, expected: set[int]) -> set[int]:
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    got: set[int] = set()
    while time.monotonic() < deadline:
        got = set(received(central, client_name, tag))
        if expected <= got:
            break
        time.sleep(2)
    return got


# ---- the client ----------------------------------------------------------------------------------
def test_rsyslog_is_installed_enabled_and_running_on_the_client(host):
    assert host.package("rsyslog").is_installed
    service = host.service("rsyslog")
    assert service.is_enabled and service.is_running


def test_the_client_forwards_over_tcp_with_a_queue_that_keeps_everything(forward_conf: str):
    for setting in ('type="omfwd"', 'protocol="tcp"', 'queue.type="LinkedList"', 'queue.filename="',
                    'queue.saveOnShutdown="on"', 'action.resumeRetryCount="-1"', 'queue.maxDiskSpace="'):
        assert setting in forward_conf, f"{setting} missing from {CLIENT_CONF}"


# ---- the central ---------------------------------------------------------------------------------
def test_the_central_runs_rsyslog_listening_on_the_clients_port(central, target_port: int):
    assert central.service("rsyslog").is_running
    sockets = central.run("ss -ltnp").stdout
    assert re.search(rf":{target_port}\s.*rsyslogd", sockets), sockets
    assert central.file(SERVER_CONF).is_file


def test_the_centrals_log_folder_is_private_and_rotated(central):
    folder = central.file(REMOTE)
    assert folder.is_directory and folder.user == "root"
    assert folder.mode & 0o007 == 0, f"{REMOTE} is readable by others: {oct(folder.mode)}"
    rotate = central.file(LOGROTATE_CONF)
    assert rotate.is_file and f"{REMOTE}/*/*.log" in rotate.content_string


# ---- delivery ------------------------------------------------------------------------------------
def test_a_message_logged_now_arrives_in_the_clients_file_on_the_central(host, central, client_name: str,
                                                                         forward_conf: str):
    tag = f"hoststate{uuid.uuid4().hex[:8]}"
    run(host, "logger", "-t", tag, "n=1")
    got = wait_for(central, client_name, tag, {1})
    assert got == {1}, f"the message {tag} did not reach {REMOTE}/{client_name}/syslog.log on the central"


def test_every_message_of_the_recorded_outage_arrived(host, central, client_name: str, forward_conf: str):
    if not os.environ.get("TSSR_LOGGING_OUTAGE"):
        pytest.skip("no outage to check (TSSR_LOGGING_OUTAGE unset)")
    record = host.file(OUTAGE_RECORD)
    assert record.exists, f"TSSR_LOGGING_OUTAGE is set but {OUTAGE_RECORD} is missing"
    tag, count = record.content_string.split()
    expected = set(range(1, int(count) + 1))
    got = wait_for(central, client_name, tag, expected)
    print(f"outage {tag}: {len(expected)} logged, {len(got & expected)} received, "
          f"{len(expected - got)} lost")
    assert got == expected, f"lost during the outage: {sorted(expected - got)[:50]}"
