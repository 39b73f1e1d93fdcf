"""setup-snmp.sh runs for real in containers, against docs/reference/setup-snmp.md.

Per platform (Debian 12, Debian 13, RedHat when ``TSSR_REDHAT_IMAGE`` names an image — otherwise
*skipped, not run: no image*), three containers on a user-defined docker network of their own:

- the *agent*: systemd, the scripts in the repository's layout under /opt/tssr-test, its 161/udp
  published on a random port of 127.0.0.1 (for snmp_poll.py, run on this machine: the agent sees it
  come from the network's gateway, which is therefore a second --monitor);
- the *monitor*: a plain container with the net-snmp client (`snmpget`, `snmpwalk`), the address
  given as --monitor;
- the *other*: the same client at another address of the same network, NOT a monitor: the firewall
  must drop what it sends even with the right credentials.

The agent is taken through a story, test by test, in the order of this file: refused input and a dry
run on the fresh container (nothing changed, not even a package installed), the first run, what the
monitor may and may not read, the firewall, the tables (dskTable, laTable, prTable, extends), the
poller, the second run (no change, no restart), a passphrase change (old refused, new accepted), a
renamed user (the old one removed), SNMPv2c asked for and taken back, and last the passphrases
searched for in `ps`, the journal, the logs and every run's output.

The tests of one platform form one ``xdist_group``: run them with ``pytest -n 2 --dist loadgroup``,
each platform's story on one worker, in order. Only the containers and the network made here are
removed, by name, at the end.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from containerlib import (
    CLIENTS_STATE,
    PLATFORMS,
    SCRIPT_DIR,
    Node,
    Platform,
    ScriptRun,
    assert_nothing_changed,
    host_state_script,
    ip_address,
    ip_addresses,
    kit_copies,
    nodes_on_network,
    parse_snapshot,
    require,
    script_result,
    start_plain_node,
    start_systemd_node,
    subset,
)

from tssrkit.containers import docker
from tssrkit.paths import REPO

pytestmark = [pytest.mark.containers, pytest.mark.slow]

COPIES = kit_copies("scripts/bash/snmp", "scripts/bash/lib", "scripts/python/tssr_check.py")
POLLER = REPO / "scripts" / "python" / "snmp_poll.py"
SETUP = f"{SCRIPT_DIR}/scripts/bash/snmp/setup-snmp.sh"
RUN_TIMEOUT = 300

# Every secret of the story: none may ever be shown, logged or on a command line of the agent.
TOKEN = uuid.uuid4().hex[:12]
AUTH_1 = f"auth-one-{TOKEN}"
PRIV_1 = f"priv-one-{TOKEN}"
AUTH_2 = f"auth-two-{TOKEN}"
PRIV_2 = f"priv-two-{TOKEN}"
COMMUNITY = f"comm-{TOKEN}"
SECRETS = (AUTH_1, PRIV_1, AUTH_2, PRIV_2, COMMUNITY)
USER = "monitor"
CREDENTIALS = "/root/snmp.conf"

# OIDs (numeric: the clients here have no MIB files).
SYS_CONTACT, SYS_NAME, SYS_LOCATION = ".1.3.6.1.2.1.1.4.0", ".1.3.6.1.2.1.1.5.0", ".1.3.6.1.2.1.1.6.0"
DSK_PATH, DSK_PERCENT = ".1.3.6.1.4.1.2021.9.1.2", ".1.3.6.1.4.1.2021.9.1.9"
LA_LOAD = ".1.3.6.1.4.1.2021.10.1.3"
PR_NAMES, PR_ERROR = ".1.3.6.1.4.1.2021.2.1.2", ".1.3.6.1.4.1.2021.2.1.100"
IP_FORWARDING = ".1.3.6.1.2.1.4.1.0"  # in the ip group: outside the default view


def extend_oid(name: str) -> str:
    """nsExtendOutput1Line."NAME": the name's length, then its characters."""
    return ".1.3.6.1.4.1.8072.1.3.2.3.1.1." + ".".join([str(len(name)), *(str(ord(c)) for c in name)])


# "Nothing changed": these are the same before and after a run that must change nothing.
SNAPSHOT = (
    host_state_script(
        (
            "/etc/snmp",
            "/var/lib/snmp",
            "/var/lib/net-snmp",
            "/var/lib/tssr-kit",
            "/usr/local/lib/tssr-kit",
            "/etc/tssr-kit",
            "/etc/sudoers.d",
            "/etc/nftables.conf",
        )
    )
    + r"""
printf '=== snmpd\n'
systemctl show -p MainPID -p ActiveState -p UnitFileState snmpd 2>/dev/null || true
true
"""
)


def credentials(
    user: str = USER,
    auth: str = AUTH_1,
    priv: str = PRIV_1,
    auth_protocol: str = "sha512",
    priv_protocol: str = "aes128",
) -> str:
    return (
        f"# the SNMPv3 user of the monitoring server\nuser = {user}\nauth_protocol = {auth_protocol}\n"
        f"auth_passphrase = {auth}\npriv_protocol = {priv_protocol}\npriv_passphrase = {priv}\n"
    )


# --------------------------------------------------------------------------------------------------
# The containers and the runs made there


@dataclass
class Lab:
    """The platform's agent, monitor and other containers, and every run made on the agent."""

    agent: Node
    monitor: Node
    other: Node
    platform: Platform
    monitor_ip: str
    other_ip: str
    gateway: str
    network: str
    port: int  # the agent's 161/udp, published on 127.0.0.1
    runs: list[ScriptRun] = field(default_factory=list, repr=False)

    def base_args(self) -> tuple[str, ...]:
        return (
            "--monitor",
            self.monitor_ip,
            "--monitor",
            self.gateway,
            "--credentials",
            CREDENTIALS,
            "--sys-name",
            "agent-under-test",
            "--location",
            "Rack 4, room B",
            "--contact",
            "noc@example.org",
            "--disk",
            "/:10%",
            "--disk",
            "/tmp:5%",
            "--load",
            "90,80,70",
            "--proc",
            "sshd:0:1",
            "--proc",
            "nosuchdaemon:1:1",
            "--backup-job",
            "web",
        )

    def setup(self, *args: str, env: dict[str, str] | None = None) -> ScriptRun:
        """``bash setup-snmp.sh ARGS`` as root on the agent (no shell: the values arrive as they are)."""
        argv = ("bash", SETUP, *args)
        if env:
            argv = ("env", *(f"{k}={v}" for k, v in env.items()), *argv)
        start = time.monotonic()
        run = ScriptRun.of(self.agent.exec(*argv, timeout=RUN_TIMEOUT), argv, start)
        self.runs.append(run)
        return run

    def unchanged(self, *args: str, env: dict[str, str] | None = None, argv: tuple[str, ...] | None = None
                  ) -> tuple[ScriptRun, dict[str, str], dict[str, str]]:
        """``setup`` (or ``argv``, as root on the agent) between two snapshots of the agent: the
        three in one ``docker exec``."""
        if argv is None:
            argv = ("bash", SETUP, *args)
            if env:
                argv = ("env", *(f"{k}={v}" for k, v in env.items()), *argv)
        before, run, after = self.agent.run_between(*argv, workdir="/", before=SNAPSHOT, after=SNAPSHOT,
                                                    timeout=RUN_TIMEOUT)
        assert before is not None and after is not None
        self.runs.append(run)
        return run, before, after


def result_of(run: ScriptRun) -> dict:
    return script_result(run, "setup-snmp.sh")


@dataclass(frozen=True)
class Answer:
    code: int
    out: str
    err: str

    def values(self) -> dict[str, str]:
        """`-On -Oq` lines: numeric OID → value (quotes removed)."""
        found = {}
        for line in self.out.splitlines():
            oid, _, value = line.partition(" ")
            found[oid] = value.strip().strip('"')
        return found


def snmp(
    node: Node,
    command: str,
    *args: str,
    user: str = USER,
    auth: str = AUTH_1,
    priv: str = PRIV_1,
    level: str = "authPriv",
    agent: str = "",
    timeout: int = 3,
) -> Answer:
    """snmpget/snmpwalk from a client container (its own argv holds the test's passphrases: the
    client is the test's, not the agent)."""
    security = ["-v3", "-l", level, "-u", user]
    if level in ("authPriv", "authNoPriv"):
        security += ["-a", "SHA-512", "-A", auth]
    if level == "authPriv":
        security += ["-x", "AES", "-X", priv]
    proc = node.exec(
        command, *security, "-t", str(timeout), "-r", "0", "-On", "-Oq", agent, *args, timeout=60
    )
    return Answer(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))


def v2c(node: Node, community: str, agent: str, *oids: str) -> Answer:
    proc = node.exec(
        "snmpget", "-v2c", "-c", community, "-t", "2", "-r", "0", "-On", "-Oq", agent, *oids, timeout=60
    )
    return Answer(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))


# --------------------------------------------------------------------------------------------------
# Fixtures


PLATFORM_PARAMS = [
    pytest.param(p, id=p.name, marks=pytest.mark.xdist_group(f"snmp-{p.name}")) for p in PLATFORMS.values()
]


def start_agent(platform: Platform, network: str) -> Node:
    """A booted systemd container on the network, 161/udp published on 127.0.0.1, the scripts in it."""
    return start_systemd_node(
        platform, COPIES, "tssr-test-snmp-agent", network=network, extra=("--publish", "127.0.0.1::161/udp")
    )


def start_client(platform: Platform, network: str, role: str) -> Node:
    """A plain container on the network with the net-snmp client: from the prepared state
    CLIENTS_STATE (containerlib: the client tools installed once per machine), as the clients are not
    what these tests test."""
    return start_plain_node(platform, f"tssr-test-snmp-{role}", network=network, state=CLIENTS_STATE)


@pytest.fixture(scope="module", params=PLATFORM_PARAMS)
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """The agent from the fresh node image (setup-snmp.sh installs snmpd itself: that is tested), the
    monitor and the other client from the prepared state CLIENTS_STATE."""
    platform: Platform = request.param
    platform.image()
    require(*COPIES.values(), REPO / "scripts" / "bash" / "snmp" / "setup-snmp.sh")
    start = time.monotonic()
    try:
        with nodes_on_network(
            lambda net: start_agent(platform, net),
            lambda net: start_client(platform, net, "monitor"),
            lambda net: start_client(platform, net, "other"),
            prefix="tssr-test-snmp-net",
        ) as (network, (agent, monitor, other)):
            gateway = docker(
                "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", network
            ).stdout.strip()
            port = int(docker("port", agent.name, "161/udp").stdout.split(":")[-1])
            agent.write(CREDENTIALS, credentials(), "0600")
            ready = time.monotonic() - start
            print(f"\n{platform.name}: the three containers were ready after {ready:.0f} s")
            yield Lab(
                agent,
                monitor,
                other,
                platform,
                *ip_addresses([monitor, other], network).values(),
                gateway,
                network,
                port,
            )
    finally:
        print(f"\n{platform.name}: the SNMP story took {time.monotonic() - start:.0f} s")


@pytest.fixture(scope="module")
def first_run(lab: Lab) -> ScriptRun:
    run = lab.setup(*lab.base_args())
    if run.exit != 0:
        pytest.fail(f"the first run failed, the story cannot go on{run!r}")
    return run


# ==================================================================================================
# 1. Refused input and the dry run change nothing (on the fresh agent: not even a package)


# (case, arguments, environment, words the message must hold). MON stands for the monitor's address;
# GOOD for the valid credentials file.
GOOD = ("--credentials", CREDENTIALS)
REFUSED: list[tuple[str, tuple[str, ...], dict[str, str], tuple[str, ...]]] = [
    (
        "auth-passphrase-7-characters",
        ("--monitor", "MON", "--credentials", "/root/short.conf"),
        {},
        ("auth_passphrase", "8 to 64 characters"),
    ),
    (
        "priv-passphrase-in-env-too-short",
        ("--monitor", "MON"),
        {"TSSR_SNMP_USER": "env", "TSSR_SNMP_AUTH_PASSPHRASE": AUTH_1, "TSSR_SNMP_PRIV_PASSPHRASE": "short"},
        ("TSSR_SNMP_", "priv_passphrase", "8 to 64"),
    ),
    (
        "md5-auth",
        ("--monitor", "MON", "--credentials", "/root/md5.conf"),
        {},
        ("auth_protocol", "sha256, sha512"),
    ),
    (
        "unknown-key",
        ("--monitor", "MON", "--credentials", "/root/badkey.conf"),
        {},
        ("line 2", "unknown key"),
    ),
    (
        "credentials-mode-0644",
        ("--monitor", "MON", "--credentials", "/root/snmp-0644.conf"),
        {},
        ("--credentials", "mode 0400 or 0600"),
    ),
    (
        "credentials-missing",
        ("--monitor", "MON", "--credentials", "/root/no-such.conf"),
        {},
        ("--credentials", "not a regular file"),
    ),
    ("no-credentials", ("--monitor", "MON"), {}, ("no credentials",)),
    (
        "unknown-view",
        ("--monitor", "MON", *GOOD, "--view", "everything"),
        {},
        ("--view", "'everything'", "known name"),
    ),
    ("view-bad-oid", ("--monitor", "MON", *GOOD, "--view", "1.3.6.x"), {}, ("--view", "numeric OID")),
    ("monitor-missing", GOOD, {}, ("--monitor: required",)),
    ("monitor-bad-address", ("--monitor", "300.1.2.3", *GOOD), {}, ("--monitor", "300.1.2.3")),
    ("monitor-host-bits", ("--monitor", "10.1.2.3/24", *GOOD), {}, ("--monitor", "host bits")),
    ("monitor-name", ("--monitor", "monitor.example.org", *GOOD), {}, ("--monitor", "not an IPv4/IPv6")),
    # Addresses that are not: refused before nft, firewall-cmd or snmpd sees them (lib/firewall.sh).
    ("monitor-three-groups", ("--monitor", "1:2:3", *GOOD), {}, ("--monitor", "'1:2:3'")),
    ("monitor-only-colons", ("--monitor", "::::", *GOOD), {}, ("--monitor", "'::::'")),
    ("monitor-three-octets", ("--monitor", "1.2.3", *GOOD), {}, ("--monitor", "'1.2.3'")),
    ("monitor-leading-zero", ("--monitor", "01.2.3.4", *GOOD), {}, ("--monitor", "'01.2.3.4'")),
    ("monitor-ipv6-zone", ("--monitor", "fe80::1%eth0", *GOOD), {}, ("--monitor", "fe80::1%eth0")),
    ("monitor-prefix-129", ("--monitor", "fd00::/129", *GOOD), {}, ("--monitor", "'fd00::/129'")),
    ("monitor-empty-prefix", ("--monitor", "192.0.2.0/", *GOOD), {}, ("--monitor", "'192.0.2.0/'")),
    (
        "v2c-source-prefix-33",
        ("--monitor", "MON", *GOOD, "--v2c-community-file", "/root/community", "--v2c-source", "10.0.0.0/33"),
        {},
        ("--v2c-source", "10.0.0.0/33"),
    ),
    (
        "listen-not-local",
        ("--monitor", "MON", *GOOD, "--listen", "192.0.2.77"),
        {},
        ("--listen", "not an address of this host"),
    ),
    (
        "listen-cidr",
        ("--monitor", "MON", *GOOD, "--listen", "10.0.0.0/8"),
        {},
        ("--listen", "not an IPv4 or IPv6"),
    ),
    (
        "v2c-public",
        ("--monitor", "MON", *GOOD, "--v2c-community-file", "/root/public", "--v2c-source", "10.0.0.0/8"),
        {},
        ("public", "refused"),
    ),
    (
        "v2c-without-source",
        ("--monitor", "MON", *GOOD, "--v2c-community-file", "/root/community"),
        {},
        ("go together",),
    ),
    ("disk-no-percent", ("--monitor", "MON", *GOOD, "--disk", "/:10"), {}, ("--disk", "PATH:MIN%")),
    (
        "proc-min-over-max",
        ("--monitor", "MON", *GOOD, "--proc", "sshd:1:3"),
        {},
        ("--proc", "MIN is more than MAX"),
    ),
    ("load-two-values", ("--monitor", "MON", *GOOD, "--load", "4,3"), {}, ("--load",)),
    ("location-newline", ("--monitor", "MON", *GOOD, "--location", "a\nb"), {}, ("--location",)),
]


@pytest.fixture(scope="module")
def bad_files(lab: Lab) -> Lab:
    lab.agent.write_files({
        "/root/short.conf": (credentials(auth="7-chars"), "0600"),
        "/root/md5.conf": (credentials(auth_protocol="md5"), "0600"),
        "/root/badkey.conf": (f"user = x\npassword = {AUTH_1}\n", "0600"),
        "/root/snmp-0644.conf": (credentials(), "0644"),
        "/root/public": ("public\n", "0600"),
        "/root/community": (COMMUNITY + "\n", "0600"),
    })
    return lab


@pytest.mark.parametrize(("args", "env", "words"), [pytest.param(a, e, w, id=c) for c, a, e, w in REFUSED])
def test_bad_input_exits_2_names_the_field_and_changes_nothing(
    bad_files: Lab, args: tuple[str, ...], env: dict[str, str], words: tuple[str, ...]
) -> None:
    lab = bad_files
    run, before, after = lab.unchanged(*(lab.monitor_ip if arg == "MON" else arg for arg in args), env=env)
    assert run.exit == 2, run
    expected = {"status": "failed", "changed": 0}
    assert subset(result_of(run), expected) == expected, run
    for word in words:
        assert word in run.stderr, f"the message does not say {word!r}{run!r}"
    assert "nothing was changed" in run.stderr, run
    for secret in SECRETS:
        assert secret not in run.stdout + run.stderr, run
    assert_nothing_changed(before, after, run)
    assert "snmpd" not in after["packages"] and "net-snmp" not in after["packages"], "a package was installed"


def test_dry_run_plans_the_agent_and_changes_nothing(lab: Lab) -> None:
    run, before, after = lab.unchanged("--dry-run", *lab.base_args())
    assert run.exit == 0, run
    result = result_of(run)
    expected = {"status": "changed", "dry_run": True, "user": USER, "rekeyed": True}
    assert subset(result, expected) == expected, run
    assert result["changed"] >= 4, run
    assert "would: install the packages" in run.stderr, run
    assert "would: create the SNMPv3 user monitor" in run.stderr, run
    assert "would: load the firewall table tssr_snmp" in run.stderr or "firewalld" in run.stderr, run
    assert_nothing_changed(before, after, run)


# ==================================================================================================
# 2. The first run, and what the monitor may and may not read


def test_the_first_run_installs_configures_and_starts_the_agent(lab: Lab, first_run: ScriptRun) -> None:
    result = result_of(first_run)
    expected = {
        "status": "changed",
        "user": USER,
        "rekeyed": True,
        "removed_users": [],
        "v2c": False,
        "listen": "udp:161,udp6:161",
        "monitors": [lab.monitor_ip, lab.gateway],
    }
    assert subset(result, expected) == expected, first_run
    node = lab.agent
    assert node.sh("systemctl is-enabled snmpd; systemctl is-active snmpd").split() == ["enabled", "active"]
    conf = node.read("/etc/snmp/snmpd.conf")
    assert f"rouser {USER} priv -V tssr_ro" in conf.splitlines()
    assert not re.search(r"(?m)^\s*(rocommunity|rwcommunity|com2sec|rwuser)", conf), conf
    assert "includeDir" not in conf, "a drop-in folder could take the view back"
    state = node.sh("stat -c '%U %a' /var/lib/tssr-kit/snmp /var/lib/tssr-kit/snmp/users").split()
    assert state == ["root", "700", "root", "600"], state
    if lab.platform.family == "debian":
        assert node.sh("stat -c '%U:%G %a' /etc/snmp/snmpd.conf").strip() == "root:Debian-snmp 640"


def test_authpriv_get_works_from_the_monitor(lab: Lab, first_run: ScriptRun) -> None:
    answer = snmp(lab.monitor, "snmpget", SYS_NAME, SYS_LOCATION, SYS_CONTACT, agent=lab.agent.name)
    assert answer.code == 0, answer
    assert answer.values() == {
        SYS_NAME: "agent-under-test",
        SYS_LOCATION: "Rack 4, room B",
        SYS_CONTACT: "noc@example.org",
    }, answer


@pytest.mark.parametrize(
    ("case", "kwargs"),
    [
        ("wrong-auth-passphrase", {"auth": "wrong-auth-passphrase"}),
        ("wrong-priv-passphrase", {"priv": "wrong-priv-passphrase"}),
        ("unknown-user", {"user": "intruder"}),
        ("noAuthNoPriv", {"level": "noAuthNoPriv"}),
        ("authNoPriv", {"level": "authNoPriv"}),
    ],
)
def test_wrong_credentials_and_weaker_levels_are_refused(
    lab: Lab, first_run: ScriptRun, case: str, kwargs: dict
) -> None:
    answer = snmp(lab.monitor, "snmpget", SYS_NAME, agent=lab.agent.name, timeout=2, **kwargs)
    assert answer.code != 0 and "agent-under-test" not in answer.out, f"{case} was answered: {answer}"


def test_v2c_public_is_refused(lab: Lab, first_run: ScriptRun) -> None:
    answer = v2c(lab.monitor, "public", lab.agent.name, SYS_NAME)
    assert answer.code != 0 and "agent-under-test" not in answer.out, answer
    assert "Timeout" in answer.err, answer


def test_the_view_hides_what_it_does_not_name(lab: Lab, first_run: ScriptRun) -> None:
    answer = snmp(lab.monitor, "snmpget", IP_FORWARDING, agent=lab.agent.name)
    assert "No Such Object" in answer.out or answer.code != 0, answer


# ==================================================================================================
# 3. The firewall: the monitors only


def test_another_source_is_dropped_by_the_firewall(lab: Lab, first_run: ScriptRun) -> None:
    # The same request, right credentials, from another address of the same network.
    answer = snmp(lab.other, "snmpget", SYS_NAME, agent=lab.agent.name, timeout=2)
    assert answer.code != 0 and "Timeout" in answer.err, f"another address was answered: {answer}"
    # ... while the monitor, asking at the same moment, is answered.
    assert snmp(lab.monitor, "snmpget", SYS_NAME, agent=lab.agent.name).code == 0
    if lab.platform.family == "debian":
        table = lab.agent.sh("nft list table inet tssr_snmp")
        accepted = re.search(r"ip saddr \{ ([^}]*) \} udp dport 161 accept", table)
        assert accepted and set(accepted.group(1).split(", ")) == {lab.monitor_ip, lab.gateway}, table
        assert "udp dport 161 drop" in table, table
        assert lab.agent.sh("systemctl is-enabled nftables").strip() == "enabled"


# ==================================================================================================
# 4. The tables: dskTable, laTable, prTable, extends


def test_disk_load_and_process_tables_are_readable(lab: Lab, first_run: ScriptRun) -> None:
    disks = snmp(lab.monitor, "snmpwalk", DSK_PATH, agent=lab.agent.name).values()
    assert "/tmp" in disks.values(), f"no /tmp in dskTable: {disks}"
    percents = snmp(lab.monitor, "snmpwalk", DSK_PERCENT, agent=lab.agent.name).values()
    assert all(0 <= int(v) <= 100 for v in percents.values()) and percents, percents
    loads = snmp(lab.monitor, "snmpwalk", LA_LOAD, agent=lab.agent.name).values()
    assert len(loads) == 3 and all(float(v) >= 0 for v in loads.values()), loads
    names = snmp(lab.monitor, "snmpwalk", PR_NAMES, agent=lab.agent.name).values()
    assert sorted(names.values()) == ["nosuchdaemon", "sshd"], names
    flags = snmp(lab.monitor, "snmpwalk", PR_ERROR, agent=lab.agent.name).values()
    by_name = {names[f"{PR_NAMES}.{oid.rsplit('.', 1)[1]}"]: flags[oid] for oid in flags}
    assert by_name == {"sshd": "0", "nosuchdaemon": "1"}, by_name


def test_the_extends_answer(lab: Lab, first_run: ScriptRun) -> None:
    updates = snmp(lab.monitor, "snmpget", extend_oid("tssr-updates"), agent=lab.agent.name, timeout=10)
    assert updates.code == 0, updates
    assert re.fullmatch(r"\d+", updates.values()[extend_oid("tssr-updates")]), updates
    backup = snmp(lab.monitor, "snmpget", extend_oid("tssr-backup"), agent=lab.agent.name, timeout=10)
    # No backup job here: the plugin says so (UNKNOWN or CRITICAL), proving it ran as root through sudo.
    line = backup.values().get(extend_oid("tssr-backup"), "")
    assert line.startswith("BACKUP "), backup


def test_snmp_poll_reads_the_agent(lab: Lab, first_run: ScriptRun, tmp_path: Path) -> None:
    creds = tmp_path / "poller.conf"
    creds.write_text(credentials())
    creds.chmod(0o600)
    proc = subprocess.run(
        [
            sys.executable,
            str(POLLER),
            "--agent",
            f"127.0.0.1:{lab.port}",
            "--credentials",
            str(creds),
            "--format",
            "json",
            "--timeout",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TSSR_SNMP_USER": ""},
    )
    result = json.loads(proc.stdout.splitlines()[-1])
    row = result["results"][0]
    assert row["sys_name"] == "agent-under-test", proc.stdout + proc.stderr
    assert "/tmp" in row["disks"] and len(row["load"]) == 3, row
    assert row["state"] in ("OK", "WARNING"), row


# ==================================================================================================
# 5. Idempotence, re-keying, removal


def test_a_second_run_changes_nothing_and_does_not_restart_snmpd(lab: Lab, first_run: ScriptRun) -> None:
    run, before, after = lab.unchanged(*lab.base_args())
    assert run.exit == 0, run
    assert subset(result_of(run), {"status": "ok", "changed": 0, "rekeyed": False}) == {
        "status": "ok",
        "changed": 0,
        "rekeyed": False,
    }, run
    assert "no change" in run.stderr, run
    assert_nothing_changed(before, after, run)


def test_a_passphrase_change_re_keys_the_user(lab: Lab, first_run: ScriptRun) -> None:
    lab.agent.write(CREDENTIALS, credentials(auth=AUTH_2, priv=PRIV_2), "0600")
    run = lab.setup(*lab.base_args())
    assert run.exit == 0, run
    assert subset(result_of(run), {"status": "changed", "rekeyed": True}) == {
        "status": "changed",
        "rekeyed": True,
    }
    assert "re-key the SNMPv3 user monitor" in run.stderr, run
    old = snmp(lab.monitor, "snmpget", SYS_NAME, agent=lab.agent.name, timeout=2)
    assert old.code != 0 and "agent-under-test" not in old.out, f"the old passphrases still work: {old}"
    new = snmp(lab.monitor, "snmpget", SYS_NAME, auth=AUTH_2, priv=PRIV_2, agent=lab.agent.name)
    assert new.code == 0 and new.values() == {SYS_NAME: "agent-under-test"}, new
    again = lab.setup(*lab.base_args())
    assert subset(result_of(again), {"status": "ok", "changed": 0}) == {"status": "ok", "changed": 0}, again


def test_a_protocol_change_alone_re_keys_the_user(lab: Lab, first_run: ScriptRun) -> None:
    lab.agent.write(CREDENTIALS, credentials(auth=AUTH_2, priv=PRIV_2, priv_protocol="aes256"), "0600")
    run = lab.setup(*lab.base_args())
    assert run.exit == 0 and result_of(run)["rekeyed"] is True, run
    proc = lab.monitor.exec(
        "snmpget",
        "-v3",
        "-l",
        "authPriv",
        "-u",
        USER,
        "-a",
        "SHA-512",
        "-A",
        AUTH_2,
        "-x",
        "AES256",
        "-X",
        PRIV_2,
        "-t",
        "3",
        "-r",
        "0",
        "-On",
        "-Oq",
        lab.agent.name,
        SYS_NAME,
    )
    assert proc.returncode == 0, proc.stderr
    lab.agent.write(CREDENTIALS, credentials(auth=AUTH_2, priv=PRIV_2), "0600")
    assert lab.setup(*lab.base_args()).exit == 0


def test_a_renamed_user_replaces_the_old_one(lab: Lab, first_run: ScriptRun) -> None:
    lab.agent.write(CREDENTIALS, credentials(user="poller", auth=AUTH_2, priv=PRIV_2), "0600")
    run = lab.setup(*lab.base_args())
    assert run.exit == 0, run
    assert subset(result_of(run), {"user": "poller", "removed_users": [USER]}) == {
        "user": "poller",
        "removed_users": [USER],
    }, run
    old = snmp(lab.monitor, "snmpget", SYS_NAME, auth=AUTH_2, priv=PRIV_2, agent=lab.agent.name, timeout=2)
    assert old.code != 0 and "agent-under-test" not in old.out, f"the removed user still works: {old}"
    new = snmp(
        lab.monitor, "snmpget", SYS_NAME, user="poller", auth=AUTH_2, priv=PRIV_2, agent=lab.agent.name
    )
    assert new.code == 0, new
    persistent = (
        "/var/lib/snmp/snmpd.conf" if lab.platform.family == "debian" else "/var/lib/net-snmp/snmpd.conf"
    )
    usm = [line.split()[4] for line in lab.agent.read(persistent).splitlines() if line.startswith("usmUser ")]
    assert usm == ['"poller"'], usm
    lab.agent.write(CREDENTIALS, credentials(auth=AUTH_2, priv=PRIV_2), "0600")
    back = lab.setup(*lab.base_args())
    assert back.exit == 0 and result_of(back)["removed_users"] == ["poller"], back


def test_listen_on_one_address_limits_snmpd_to_it(lab: Lab, first_run: ScriptRun) -> None:
    address = ip_address(lab.agent, lab.network)
    run = lab.setup(*lab.base_args(), "--listen", address)
    assert run.exit == 0 and result_of(run)["listen"] == f"udp:{address}:161", run
    sockets = lab.agent.sh("ss -Hlun 'sport = :161'")
    assert f"{address}:161" in sockets and "0.0.0.0:161" not in sockets, sockets
    assert snmp(lab.monitor, "snmpget", SYS_NAME, auth=AUTH_2, priv=PRIV_2, agent=address).code == 0
    back = lab.setup(*lab.base_args())
    assert back.exit == 0 and result_of(back)["listen"] == "udp:161,udp6:161", back


def test_a_second_run_while_one_holds_the_lock_exits_3_and_changes_nothing(
    lab: Lab, first_run: ScriptRun
) -> None:
    # flock -o: the lock is held by flock itself (not passed to sleep); both are stopped by their ids.
    pid = lab.agent.sh(
        "setsid flock -o /run/tssr-kit/snmp.lock sleep 60 </dev/null >/dev/null 2>&1 &"
        " echo $!; sleep 0.3"
    ).strip()
    try:
        run, before, after = lab.unchanged(*lab.base_args())
    finally:
        lab.agent.sh(f"kill $(pgrep -P {pid}) {pid} 2>/dev/null || true")
    assert run.exit == 3, run
    assert "another setup-snmp run holds" in run.stderr, run
    assert_nothing_changed(before, after, run)


# ==================================================================================================
# 6. SNMPv2c, asked for: read-only, restricted, with a warning; and taken back


def test_v2c_asked_for_answers_the_source_network_only_and_warns(lab: Lab, first_run: ScriptRun) -> None:
    lab.agent.write("/root/community-ok", COMMUNITY + "\n", "0600")
    run = lab.setup(
        *lab.base_args(), "--v2c-community-file", "/root/community-ok", "--v2c-source", f"{lab.monitor_ip}/32"
    )
    assert run.exit == 0 and result_of(run)["v2c"] is True, run
    assert "warning: SNMPv2c asked for" in run.stderr, run
    assert COMMUNITY not in run.stdout + run.stderr, run
    conf = lab.agent.read("/etc/snmp/snmpd.conf")
    assert f"rocommunity {COMMUNITY} {lab.monitor_ip}/32 -V tssr_ro" in conf.splitlines(), conf
    good = v2c(lab.monitor, COMMUNITY, lab.agent.name, SYS_NAME)
    assert good.code == 0 and good.values() == {SYS_NAME: "agent-under-test"}, good
    assert v2c(lab.monitor, "public", lab.agent.name, SYS_NAME).code != 0
    back = lab.setup(*lab.base_args())
    assert back.exit == 0 and result_of(back)["v2c"] is False, back
    assert v2c(lab.monitor, COMMUNITY, lab.agent.name, SYS_NAME).code != 0, "the community still works"


# ==================================================================================================
# 7. A broken configuration never replaces a working one


def test_a_config_snmpd_refuses_never_replaces_the_working_one(lab: Lab, first_run: ScriptRun) -> None:
    # Every value is validated before it reaches the file, so the broken configuration is made by the
    # test: the script is sourced (its main is behind a guard) and its generator given a line that
    # snmpd does not know; main then runs as usual.
    broken = (
        '. "$0"; eval "original_$(declare -f snmpd_config)";'
        ' snmpd_config() { original_snmpd_config; printf "bogusDirective on\\n"; }; main "$@"'
    )
    run, before, after = lab.unchanged(argv=("bash", "-c", broken, SETUP, *lab.base_args()))
    assert run.exit == 1, run
    assert "Unknown token: bogusDirective" in run.stderr, run
    assert "does not pass snmpd's own check" in run.stderr, run
    assert_nothing_changed(before, after, run)
    assert snmp(lab.monitor, "snmpget", SYS_NAME, auth=AUTH_2, priv=PRIV_2, agent=lab.agent.name).code == 0


def test_a_firewall_failure_leaves_snmpds_configuration_as_it_was(lab: Lab, first_run: ScriptRun) -> None:
    """The firewall step comes right after snmpd's own check of the new file, before any other change:
    when it fails (here its folder cannot be written: a file stands where /etc/tssr-kit/nftables.d
    should be), the new snmpd.conf is never installed and snmpd keeps running as it was."""
    lab.agent.sh("mv /etc/tssr-kit/nftables.d /etc/tssr-kit/nftables.d.tssr-test"
                 " && touch /etc/tssr-kit/nftables.d")
    try:
        run, before, after = lab.unchanged(*lab.base_args(), "--location", "Moved to rack 9")
    finally:
        lab.agent.sh("rm -f /etc/tssr-kit/nftables.d"
                     " && mv /etc/tssr-kit/nftables.d.tssr-test /etc/tssr-kit/nftables.d")
    assert run.exit == 1, run
    assert result_of(run)["status"] == "failed", run
    assert "Moved to rack 9" not in lab.agent.read("/etc/snmp/snmpd.conf")
    assert_nothing_changed(before, after, run)
    assert snmp(lab.monitor, "snmpget", SYS_NAME, auth=AUTH_2, priv=PRIV_2, agent=lab.agent.name).code == 0


# ==================================================================================================
# 8. Last: the secrets, now that every run can be searched


def test_no_passphrase_in_ps_journal_logs_or_output(lab: Lab, first_run: ScriptRun) -> None:
    node = lab.agent
    # A re-key while `ps` is sampled: the createUser path is the one that handles the passphrases.
    node.write(CREDENTIALS, credentials(auth=AUTH_1, priv=PRIV_1), "0600")
    args = shlex.join(["bash", SETUP, *lab.base_args()])
    node.sh(
        f"{args} >/root/run.out 2>&1 & pid=$!; : > /root/ps.log; "
        "while kill -0 $pid 2>/dev/null; do ps -eo args >> /root/ps.log; done; wait $pid"
    )
    samples = node.read("/root/ps.log")
    assert samples.count("setup-snmp.sh") >= 3, "ps was not sampled during the run"
    assert 'rekeyed": true' in node.read("/root/run.out")
    for run in lab.runs:
        for secret in SECRETS:
            assert secret not in run.stdout + run.stderr, f"a secret was shown{run!r}"
            assert all(secret not in arg for arg in run.argv if not arg.startswith("TSSR_SNMP_")), run
    journal = node.exec("journalctl", "--no-pager", "-o", "verbose").stdout.decode(errors="replace")
    assert "tssr-snmp" in journal, "the runs' journal entries are missing"
    # For each secret, the files that hold it: `grep -rlF` once per secret, all in one `docker exec`
    # (a line `=== N` before the files of SECRETS[N]).
    found = node.sh(
        'i=0; for secret; do printf "=== %s\\n" "$i"; grep -rlF -e "$secret" /var/log /etc /var/lib'
        " /usr/local/lib/tssr-kit /root/run.out /tmp; i=$((i + 1)); done; true",
        args=SECRETS,
    )
    files = parse_snapshot(found)
    for n, secret in enumerate(SECRETS):
        assert secret not in samples, f"a secret was on a command line: {secret}"
        assert secret not in journal, "a secret is in the journal"
        hits = [
            path
            for path in files[str(n)].split()
            if path != "/root/community-ok" and path != "/root/community" and not path.startswith("/root/")
        ]
        assert hits == [], f"{secret} is in {hits}"
