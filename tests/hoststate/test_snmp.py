"""Host-state tests of the SNMP agent: is the agent that `setup-snmp.sh` configured running, readable by
the monitoring server with its SNMPv3 credentials (authPriv), and by nobody and nothing else?

Two hosts take part: the AGENT, Testinfra's `host` fixture (local files, the service, the firewall),
and the MONITOR, from which the SNMP requests are sent (`snmpget`/`snmpwalk` of net-snmp must be
installed there), reached with `testinfra.get_host(TSSR_SNMP_MONITOR)`:

    # under Molecule (molecule/snmp/molecule.yml points its verifier here): the monitor is the
    # container <agent>-monitor that prepare.yml started, found by its name
    molecule test -s snmp --platform-name snmp-debian12
    # against a real server, polled from the real monitoring server:
    TSSR_SNMP_MONITOR=ssh://admin@nms TSSR_SNMP_AGENT=web1.example.org \
    TSSR_SNMP_USER=monitor TSSR_SNMP_AUTH_PASSPHRASE=... TSSR_SNMP_PRIV_PASSPHRASE=... \
        pytest --hosts=ssh://admin@web1 --sudo tests/hoststate/test_snmp.py

$TSSR_SNMP_MONITOR: the monitor's Testinfra host spec (default `docker://<agent>-monitor`, the
Molecule layout, <agent> being the agent's host name as Testinfra knows it).
$TSSR_SNMP_AGENT: the agent's address as the monitor reaches it (default: that same name).
$TSSR_SNMP_USER, _AUTH_PROTOCOL (sha256|sha512, default sha256), _AUTH_PASSPHRASE, _PRIV_PROTOCOL
(aes128|aes256|aes256c, default aes128), _PRIV_PASSPHRASE: the credentials, as snmp_poll.py takes them.
$TSSR_SNMP_OLD_AUTH_PASSPHRASE / _OLD_PRIV_PASSPHRASE: passphrases the user had before a re-key; when
set, they must be refused. $TSSR_SNMP_LOCATION, $TSSR_SNMP_SYS_NAME: the expected sysLocation.0 and
sysName.0 (default: the agent's host name). $TSSR_SNMP_PROCS: process names (comma-separated) that
prTable must watch and find running.
The passphrases are on the MONITOR's command lines (as any poller's), never on the agent's. The
agent's files are root-only: connect as root or pass --sudo.

This folder is left out of a plain `pytest` run (it needs a host): tests/conftest.py collects it only
with --hosts=… or TSSR_HOSTSTATE=1 (Molecule's verifier sets it).

What is checked:
- snmpd is enabled and running; its configuration is setup-snmp.sh's (authPriv `rouser` with the view
  tssr_ro, no community, no write access); the re-key state is root-only; no createUser line (the
  passphrases in clear) is left in snmpd's persistent file;
- from the monitor: authPriv with the credentials reads sysName/sysLocation; a wrong auth or priv
  passphrase, an unknown user, noAuthNoPriv, authNoPriv and SNMPv2c `public` get nothing; the old
  passphrases (after a re-key) get nothing;
- dskTable, laTable, prTable and the extend tssr-updates answer;
- the firewall lets udp/161 in from the monitor's address and drops it from anyone else.
"""

from __future__ import annotations

import os
import re

import pytest
import testinfra
from hostlib import check, os_family, run

USER = os.environ.get("TSSR_SNMP_USER", "")
AUTH = os.environ.get("TSSR_SNMP_AUTH_PASSPHRASE", "")
PRIV = os.environ.get("TSSR_SNMP_PRIV_PASSPHRASE", "")
AUTH_PROTOCOL = {"sha256": "SHA-256", "sha512": "SHA-512"}[
    os.environ.get("TSSR_SNMP_AUTH_PROTOCOL", "sha256").lower()
]
PRIV_PROTOCOL = {"aes128": "AES", "aes256": "AES256", "aes256c": "AES256C"}[
    os.environ.get("TSSR_SNMP_PRIV_PROTOCOL", "aes128").lower()
]
OLD_AUTH = os.environ.get("TSSR_SNMP_OLD_AUTH_PASSPHRASE", "")
OLD_PRIV = os.environ.get("TSSR_SNMP_OLD_PRIV_PASSPHRASE", "")
LOCATION = os.environ.get("TSSR_SNMP_LOCATION", "")
SYS_NAME_EXPECTED = os.environ.get("TSSR_SNMP_SYS_NAME", "")
PROCS = [name for name in os.environ.get("TSSR_SNMP_PROCS", "").split(",") if name]

SNMPD_CONF = "/etc/snmp/snmpd.conf"
STATE = "/var/lib/tssr-kit/snmp/users"
PERSISTENT = {"debian": "/var/lib/snmp/snmpd.conf", "redhat": "/var/lib/net-snmp/snmpd.conf"}
SYS_NAME, SYS_LOCATION = ".1.3.6.1.2.1.1.5.0", ".1.3.6.1.2.1.1.6.0"
DSK_PATH, LA_LOAD = ".1.3.6.1.4.1.2021.9.1.2", ".1.3.6.1.4.1.2021.10.1.3"
PR_NAMES, PR_ERROR = ".1.3.6.1.4.1.2021.2.1.2", ".1.3.6.1.4.1.2021.2.1.100"
UPDATES = ".1.3.6.1.4.1.8072.1.3.2.3.1.1.12." + ".".join(str(ord(c)) for c in "tssr-updates")


@pytest.fixture(scope="module", autouse=True)
def credentials_given() -> None:
    if not (USER and AUTH and PRIV):
        pytest.fail(
            "set TSSR_SNMP_USER, TSSR_SNMP_AUTH_PASSPHRASE and TSSR_SNMP_PRIV_PASSPHRASE (the "
            "credentials the monitoring server polls with)"
        )


@pytest.fixture(scope="module")
def agent_name(host) -> str:
    return host.backend.get_hostname()


@pytest.fixture(scope="module")
def monitor(agent_name: str):
    spec = os.environ.get("TSSR_SNMP_MONITOR") or f"docker://{agent_name}-monitor"
    node = testinfra.get_host(spec)
    assert node.exists("snmpget"), f"{spec}: no snmpget (install the net-snmp client: snmp / net-snmp-utils)"
    return node


@pytest.fixture(scope="module")
def agent_address(agent_name: str) -> str:
    return os.environ.get("TSSR_SNMP_AGENT") or agent_name


def snmp(
    monitor,
    agent: str,
    command: str,
    *oids: str,
    user: str = USER,
    auth: str = AUTH,
    priv: str = PRIV,
    level: str = "authPriv",
    timeout: int = 3,
):
    argv = [command, "-v3", "-l", level, "-u", user]
    if level in ("authPriv", "authNoPriv"):
        argv += ["-a", AUTH_PROTOCOL, "-A", auth]
    if level == "authPriv":
        argv += ["-x", PRIV_PROTOCOL, "-X", priv]
    argv += ["-t", str(timeout), "-r", "0", "-On", "-Oq", agent, *oids]
    return run(monitor, *argv)


def values(out: str) -> dict[str, str]:
    found = {}
    for line in out.splitlines():
        oid, _, value = line.partition(" ")
        found[oid] = value.strip().strip('"')
    return found


# ---- the agent's own state ---------------------------------------------------------------------------
def test_snmpd_is_enabled_and_running(host):
    service = host.service("snmpd")
    assert service.is_enabled and service.is_running


def test_the_configuration_grants_authpriv_read_only_and_nothing_else(host):
    conf = host.file(SNMPD_CONF)
    assert conf.user == "root" and conf.mode & 0o007 == 0, "snmpd.conf must not be world-readable"
    text = conf.content_string
    assert "Written by setup-snmp.sh" in text
    assert f"rouser {USER} priv -V tssr_ro" in text.splitlines()
    assert not re.search(r"(?m)^\s*(rocommunity6?|rwcommunity6?|com2sec|rwuser|createUser)\b", text), text


def test_the_re_key_state_is_root_only_and_holds_no_passphrase(host):
    state = host.file(STATE)
    assert state.user == "root" and state.mode == 0o600
    assert host.file(STATE.rsplit("/", 1)[0]).mode == 0o700
    assert [line.split()[0] for line in state.content_string.splitlines()] == [USER]


def test_no_clear_passphrase_is_left_in_the_persistent_file(host):
    path = PERSISTENT[os_family(host)]
    lines = host.file(path).content_string.splitlines()
    assert not [line for line in lines if line.startswith("createUser")], (
        f"{path} still holds a createUser line"
    )
    assert [line for line in lines if line.startswith("usmUser ") and f'"{USER}"' in line], (
        f"no usmUser {USER}"
    )


# ---- what the monitor may read ---------------------------------------------------------------------
def test_authpriv_reads_the_system_group(host, monitor, agent_address):
    answer = snmp(monitor, agent_address, "snmpget", SYS_NAME, SYS_LOCATION)
    assert answer.rc == 0, answer.stderr
    got = values(answer.stdout)
    assert got[SYS_NAME] == (SYS_NAME_EXPECTED or check(host, "hostname").strip()), got
    if LOCATION:
        assert got[SYS_LOCATION] == LOCATION


@pytest.mark.parametrize(
    ("case", "kwargs"),
    [
        ("wrong-auth-passphrase", {"auth": "not-the-auth-passphrase"}),
        ("wrong-priv-passphrase", {"priv": "not-the-priv-passphrase"}),
        ("unknown-user", {"user": "intruder"}),
        ("noAuthNoPriv", {"level": "noAuthNoPriv"}),
        ("authNoPriv", {"level": "authNoPriv"}),
    ],
)
def test_wrong_credentials_and_weaker_levels_get_nothing(monitor, agent_address, case, kwargs):
    answer = snmp(monitor, agent_address, "snmpget", SYS_NAME, timeout=2, **kwargs)
    assert answer.rc != 0 and SYS_NAME not in answer.stdout, f"{case} was answered: {answer.stdout}"


def test_the_passphrases_before_the_re_key_get_nothing(monitor, agent_address):
    if not (OLD_AUTH or OLD_PRIV):
        pytest.skip("TSSR_SNMP_OLD_*_PASSPHRASE not set: no re-key to check")
    answer = snmp(
        monitor, agent_address, "snmpget", SYS_NAME, auth=OLD_AUTH or AUTH, priv=OLD_PRIV or PRIV, timeout=2
    )
    assert answer.rc != 0 and SYS_NAME not in answer.stdout, "the old passphrases still work: no re-key"


def test_v2c_public_gets_nothing(monitor, agent_address):
    answer = run(
        monitor, "snmpget", "-v2c", "-c", "public", "-t", "2", "-r", "0", "-On", agent_address, SYS_NAME
    )
    assert answer.rc != 0 and SYS_NAME not in answer.stdout


def test_disk_load_process_and_extend_tables_answer(monitor, agent_address):
    disks = values(snmp(monitor, agent_address, "snmpwalk", DSK_PATH).stdout)
    loads = values(snmp(monitor, agent_address, "snmpwalk", LA_LOAD).stdout)
    assert len(loads) == 3 and all(re.fullmatch(r"\d+\.\d+", v) for v in loads.values()), loads
    assert disks and all(v.startswith("/") for v in disks.values()), f"dskTable is empty: {disks}"
    updates = snmp(monitor, agent_address, "snmpget", UPDATES, timeout=10)
    assert re.fullmatch(r"\d+", values(updates.stdout).get(UPDATES, "")), updates.stdout + updates.stderr
    if PROCS:
        names = values(snmp(monitor, agent_address, "snmpwalk", PR_NAMES).stdout)
        flags = values(snmp(monitor, agent_address, "snmpwalk", PR_ERROR).stdout)
        watched = {name: flags[f"{PR_ERROR}.{oid.rsplit('.', 1)[1]}"] for oid, name in names.items()}
        assert {name: watched.get(name) for name in PROCS} == dict.fromkeys(PROCS, "0"), watched


# ---- the firewall -----------------------------------------------------------------------------------
def test_the_firewall_lets_the_monitor_in_and_drops_the_others(host, monitor):
    addresses = set(check(monitor, "hostname", "-I").split())
    if os_family(host) == "debian":
        table = check(host, "nft", "list", "table", "inet", "tssr_snmp")
        accepted = set(re.findall(r"ip6? saddr (?:\{ ([^}]*) \}|(\S+)) udp dport 161 accept", table))
        sources = {s.strip() for group in accepted for part in group if part for s in part.split(",")}
        assert addresses & sources, f"none of the monitor's addresses {addresses} is accepted:\n{table}"
        assert "udp dport 161 drop" in table, table
        assert host.service("nftables").is_enabled
    else:
        rules = check(host, "firewall-cmd", "--list-rich-rules")
        assert any(f'source address="{a}"' in rules and 'port="161"' in rules for a in addresses), rules
        assert "161/udp" not in check(host, "firewall-cmd", "--list-ports")
