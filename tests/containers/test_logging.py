"""setup-logging.sh in real containers: a central rsyslog server, a forwarding client, and messages
counted one by one on the server.

Per platform (Debian 12, Debian 13; RedHat with TSSR_REDHAT_IMAGE, else *skipped, not run: no image*),
on a user-defined docker network of their own:

- the *server* and the *client*: systemd containers (rsyslog as on a real host, journald in front of it);
  the script installs rsyslog, logrotate, nftables itself;
- the *stranger*: a plain container on the same network, not in ``--allow``: the firewall must drop it.

The story runs in the order of this file: refused input and dry runs (nothing changed, not even a
package), the server then the client set up (second runs change nothing, rsyslog not restarted), a
message arriving, hostile host names, the firewall, N numbered messages logged while the server is
stopped (all N must arrive: the zero-loss figure is printed), the same across a restart of the client's
rsyslog, a broken config that must not replace the working one, logrotate, then TLS with a CA made here
with openssl (a wrong peer name refused, the messages kept and delivered once it is right).

Messages are logged with ``logger`` (through journald, as applications do) and counted on the server by
their number. journald hands messages to rsyslog through a datagram socket of net.unix.max_dgram_qlen
slots, 10 by the kernel's default, where a burst overflows while rsyslog is busy (3 of 1000 were lost
there in a first run). setup-logging.sh writes 512 to /etc/sysctl.d for a real host; a container's
/proc/sys is read-only, so the server and client are started with ``--sysctl
net.unix.max_dgram_qlen=512`` (as every systemd container: tssrkit/containers.py). Right after rsyslog
(re)starts the tests also wait until it writes a marker before logging a burst. The counts print what
the client's own rsyslog saw as well, so that a loss before the forwarding is told apart from one in it.

Run: ``pytest tests/containers/test_logging.py -n 2 --dist loadgroup`` (one platform per worker).
"""

from __future__ import annotations

import base64
import math
import shlex
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from containerlib import (
    PLATFORMS,
    SCRIPT_DIR,
    Node,
    Platform,
    ScriptRun,
    assert_nothing_changed,
    copy_in,
    host_state_script,
    ip_addresses,
    kit_copies,
    nodes_on_network,
    require,
    script_result,
    start_plain_node,
    start_systemd_node,
    subset,
)
from tlslib import make_pki

from tssrkit.paths import REPO

pytestmark = [pytest.mark.containers, pytest.mark.slow]

COPIES = kit_copies("scripts/bash/logging", "scripts/bash/lib")
SCRIPT = f"{SCRIPT_DIR}/scripts/bash/logging/setup-logging.sh"
REMOTE = "/var/log/remote"
CLIENT_CONF = "/etc/rsyslog.d/60-tssr-forward.conf"
SERVER_CONF = "/etc/rsyslog.d/60-tssr-server.conf"
RUN_TIMEOUT = 300
OUTAGE_MESSAGES = 500        # messages logged while the server is down
DELIVERY_TIMEOUT = 90        # seconds for a backlog to reach the server once it is back

# What a run that must change nothing leaves the same: configs, certificates, the log folder, the
# packages, the firewall, and rsyslog's state (its PID: no restart).
STATE_PATHS = ("/etc/rsyslog.d", "/etc/rsyslog.conf", "/etc/tssr-kit", "/etc/logrotate.d/tssr-remote-syslog",
               "/etc/nftables.conf")
SNAPSHOT = host_state_script(STATE_PATHS) + r"""
printf '=== rsyslog\n'
systemctl show -p MainPID -p ActiveState rsyslog 2>/dev/null || true
printf '=== remote folder\n'
ls -ld /var/log/remote 2>/dev/null || true
"""


# --------------------------------------------------------------------------------------------------
# The containers and the runs made there


@dataclass
class Lab:
    """One platform's server, client and stranger, and every run of the script."""

    server: Node
    client: Node
    stranger: Node
    platform: Platform
    addresses: dict[str, str]
    runs: list[ScriptRun] = field(default_factory=list, repr=False)

    def run(self, node: Node, *args: str, timeout: float = RUN_TIMEOUT) -> ScriptRun:
        """``bash setup-logging.sh ARGS`` as root in ``node`` (argv, no shell)."""
        argv = ("bash", SCRIPT, *args)
        start = time.monotonic()
        run = ScriptRun.of(node.exec(*argv, timeout=timeout), argv, start)
        self.runs.append(run)
        return run

    def unchanged(self, node: Node, *args: str, env: dict[str, str] | None = None
                  ) -> tuple[ScriptRun, dict[str, str], dict[str, str]]:
        """Run the script between two snapshots of ``node`` (both and the run in one exec), with
        ``env`` added to its environment."""
        argv = ("bash", SCRIPT, *args)
        if env:
            argv = ("env", *(f"{k}={v}" for k, v in env.items()), *argv)
        before, run, after = node.run_between(*argv, workdir="/root", before=SNAPSHOT, after=SNAPSHOT,
                                              write=("/root/.last-run", shlex.join(argv) + "\n"),
                                              timeout=RUN_TIMEOUT)
        assert before is not None and after is not None
        self.runs.append(run)
        return run, before, after

    @property
    def server_name(self) -> str:
        return self.server.name

    @property
    def client_folder(self) -> str:
        """The client's folder on the server: its address, as the server saw the connection."""
        return self.addresses[self.client.name]

    def server_args(self, *extra: str) -> tuple[str, ...]:
        return ("server", "--allow", f"{self.addresses[self.client.name]}/32", *extra)

    def client_args(self, *extra: str) -> tuple[str, ...]:
        return ("client", "--server", self.server_name, *extra)


def result_of(run: ScriptRun) -> dict:
    return script_result(run, "setup-logging.sh")


def local_log(platform: Platform) -> str:
    """Where the client's own rsyslog writes everything (what it received, before forwarding)."""
    return "/var/log/syslog" if platform.family == "debian" else "/var/log/messages"


def wait_rsyslog_ready(lab: Lab, node: Node) -> None:
    """Log a marker and wait until the node's rsyslog has written it to its own log file."""
    marker = f"ready-{uuid.uuid4().hex[:12]}"
    path = local_log(lab.platform)
    node.wait_for(f"grep -q {marker} {path}", 30, f"{node.name}: rsyslog writing a marker to {path}",
                  first=f"logger -t tssr-ready {marker}")


def log_numbered(node: Node, tag: str, first: int, last: int) -> None:
    """logger -t TAG "n=I" for I in first..last, one logger per message, as applications would."""
    node.sh(f'i={first}; while [ "$i" -le {last} ]; do logger -t {tag} "n=$i"; i=$((i + 1)); done')


def received_script(lab: Lab, tag: str, host: str | None = None) -> str:
    """A shell snippet printing the numbers of TAG's messages in the client's file on the server,
    one a line (duplicates kept)."""
    path = f"{REMOTE}/{host or lab.client_folder}/syslog.log"
    return f"grep -o ' {tag}: n=[0-9]*' {path} 2>/dev/null | cut -d= -f2"


def received(lab: Lab, tag: str, host: str | None = None) -> list[int]:
    """The numbers of TAG's messages in the client's file on the server (duplicates kept)."""
    out = lab.server.exec("sh", "-c", received_script(lab, tag, host))
    return [int(n) for n in out.stdout.decode().split()]


def wait_received_once(lab: Lab, tag: str, seconds: float, what: str) -> None:
    """Wait (in the server) until TAG's message number 1 is in the client's file, once and alone."""
    lab.server.wait_for(f'[ "$({received_script(lab, tag)} | paste -s -d " ")" = 1 ]', seconds, what)


def locally_received(lab: Lab, tag: str) -> set[int]:
    out = lab.client.exec("sh", "-c", f"grep -o ' {tag}: n=[0-9]*' {local_log(lab.platform)} | cut -d= -f2")
    return {int(n) for n in out.stdout.decode().split()}


def wait_for_all(lab: Lab, tag: str, expected: set[int], seconds: float = DELIVERY_TIMEOUT) -> set[int]:
    """Wait until every expected number arrived (or the time is up); return the numbers that did.
    Waited for in the server, looking every second: one ``docker exec``."""
    wanted = "\\n".join(str(n) for n in expected)
    script = (f"printf '{wanted}\\n' | LC_ALL=C sort -u > /tmp/.tssr-wanted\n"
              f"end=$(( $(date +%s) + {math.ceil(seconds)} ))\n"
              f"while :; do\n"
              f"    {received_script(lab, tag)} | LC_ALL=C sort -u > /tmp/.tssr-got\n"
              f"    [ -z \"$(comm -23 /tmp/.tssr-wanted /tmp/.tssr-got)\" ] && break\n"
              f"    [ \"$(date +%s)\" -lt \"$end\" ] || break\n"
              f"    sleep 1\n"
              f"done\n"
              f"cat /tmp/.tssr-got")
    out = lab.server.exec("sh", "-c", script, timeout=seconds + 60)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    return {int(n) for n in out.stdout.decode().split()}


def rsyslog_pid(node: Node) -> str:
    return node.sh("systemctl show -p MainPID --value rsyslog").strip()


def stop_server(lab: Lab) -> None:
    # syslog.socket would start rsyslog again at the server's next local message: stop both.
    lab.server.sh("systemctl stop rsyslog.service syslog.socket 2>/dev/null"
                  " || systemctl stop rsyslog.service")


def start_server(lab: Lab) -> None:
    lab.server.sh("systemctl start rsyslog.service")


# --------------------------------------------------------------------------------------------------
# Fixtures


PLATFORM_PARAMS = [
    pytest.param(p, id=p.name, marks=pytest.mark.xdist_group(f"logging-{p.name}")) for p in PLATFORMS.values()
]


@pytest.fixture(scope="module", params=PLATFORM_PARAMS)
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    platform: Platform = request.param
    platform.image()
    require(*COPIES.values(), REPO / "scripts" / "bash" / "logging" / "setup-logging.sh")
    start = time.monotonic()
    # The server and the client are systemd containers: rsyslog as on a host, journald in front of it.
    try:
        with nodes_on_network(
            lambda net: start_systemd_node(platform, COPIES, "tssr-test-logging-server", network=net),
            lambda net: start_systemd_node(platform, COPIES, "tssr-test-logging-client", network=net),
            lambda net: start_plain_node(platform, "tssr-test-logging-stranger", network=net),
        ) as (network, (server, client, stranger)):
            addresses = ip_addresses([server, client, stranger], network)
            print(f"\n{platform.name}: the containers were ready after {time.monotonic() - start:.0f} s")
            yield Lab(server, client, stranger, platform, addresses)
    finally:
        print(f"\n{platform.name}: the logging story took {time.monotonic() - start:.0f} s")


@pytest.fixture(scope="module")
def server_ready(lab: Lab) -> ScriptRun:
    run = lab.run(lab.server, *lab.server_args())
    if run.exit != 0:
        pytest.fail(f"the server's first run failed, the story cannot go on{run!r}")
    return run


@pytest.fixture(scope="module")
def client_ready(lab: Lab, server_ready: ScriptRun) -> ScriptRun:
    run = lab.run(lab.client, *lab.client_args())
    if run.exit != 0:
        pytest.fail(f"the client's first run failed, the story cannot go on{run!r}")
    wait_rsyslog_ready(lab, lab.client)
    return run


# ==================================================================================================
# 1. Refused input and the dry run change nothing (not even a package: rsyslog is not installed yet)


REFUSED: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]] = [
    ("no-mode", "client", ("--server", "logs"), ("client or server",)),
    ("unknown-option", "client", ("client", "--server", "logs", "--frobnicate"), ("unknown option",)),
    ("client-without-server", "client", ("client",), ("--server HOST[:PORT] is required",)),
    ("server-bad-name", "client", ("client", "--server", "logs;id"), ("--server", "logs;id")),
    ("server-port-too-big", "client", ("client", "--server", "logs:70000"), ("--server", "70000")),
    ("server-port-empty", "client", ("client", "--server", "logs:"), ("--server", "no port")),
    ("server-bad-ipv6", "client", ("client", "--server", "[fd00::zz]:514"), ("--server", "IPv6")),
    ("server-ipv6-without-brackets", "client", ("client", "--server", "fd00::5"), ("--server", "brackets")),
    ("queue-size-0", "client", ("client", "--server", "logs", "--queue-size", "0"), ("--queue-size", "'0'")),
    ("tls-without-ca", "client", ("client", "--server", "logs", "--tls"), ("--tls needs --ca",)),
    ("tls-missing-ca", "client", ("client", "--server", "logs", "--tls", "--ca", "/root/none.pem"),
     ("--ca", "/root/none.pem", "does not exist")),
    ("tls-ca-not-pem", "client", ("client", "--server", "logs", "--tls", "--ca", "/etc/hostname"),
     ("--ca", "not a PEM file")),
    ("tls-address-without-name", "client",
     ("client", "--server", "10.0.0.5", "--tls", "--ca", "/root/ca.pem"), ("--server-name",)),
    ("server-option-in-client", "client", ("client", "--server", "logs", "--allow", "10.0.0.0/8"),
     ("server options",)),
    ("server-without-allow", "server", ("server",), ("--allow CIDR is required",)),
    ("allow-bad-octet", "server", ("server", "--allow", "300.1.1.0/24"), ("--allow", "300.1.1.0/24")),
    ("allow-prefix-33", "server", ("server", "--allow", "10.0.0.0/33"), ("--allow", "10.0.0.0/33")),
    ("allow-a-name", "server", ("server", "--allow", "clients.lan"), ("--allow", "clients.lan")),
    ("listen-bad", "server", ("server", "--allow", "10.0.0.0/8", "--listen", "all"), ("--listen", "'all'")),
    ("port-0", "server", ("server", "--allow", "10.0.0.0/8", "--port", "0"), ("--port", "'0'")),
    ("dir-relative", "server", ("server", "--allow", "10.0.0.0/8", "--dir", "var/log/remote"), ("--dir",)),
    ("dir-dot-dot", "server", ("server", "--allow", "10.0.0.0/8", "--dir", "/var/log/../../etc"), ("--dir",)),
    ("dir-in-etc", "server", ("server", "--allow", "10.0.0.0/8", "--dir", "/etc/remote"),
     ("--dir", "system folder")),
    ("keep-days-0", "server", ("server", "--allow", "10.0.0.0/8", "--keep-days", "0"),
     ("--keep-days", "'0'")),
    ("tls-server-without-key", "server",
     ("server", "--allow", "10.0.0.0/8", "--tls", "--ca", "/root/ca.pem", "--cert", "/root/ca.pem"),
     ("--cert and --key go together",)),
    ("tls-key-readable-by-all", "server",
     ("server", "--allow", "10.0.0.0/8", "--tls", "--ca", "/root/ca.pem", "--cert", "/root/ca.pem",
      "--key", "/root/open.key"), ("--key", "mode 0600 or 0400")),
    ("client-option-in-server", "server", ("server", "--allow", "10.0.0.0/8", "--server", "logs"),
     ("client options",)),
    # Addresses that are not: refused before nft, firewall-cmd or rsyslog sees them.
    ("allow-three-groups", "server", ("server", "--allow", "1:2:3"), ("--allow", "'1:2:3'")),
    ("allow-only-colons", "server", ("server", "--allow", "::::"), ("--allow", "'::::'")),
    ("allow-leading-zero", "server", ("server", "--allow", "01.2.3.4"), ("--allow", "'01.2.3.4'")),
    ("allow-ipv6-zone", "server", ("server", "--allow", "fe80::1%eth0"), ("--allow", "fe80::1%eth0")),
    ("allow-ipv6-prefix-129", "server", ("server", "--allow", "::/129"), ("--allow", "'::/129'")),
    ("allow-empty-prefix", "server", ("server", "--allow", "10.0.0.0/"), ("--allow", "'10.0.0.0/'")),
    ("allow-three-octets", "server", ("server", "--allow", "1.2.3"), ("--allow", "'1.2.3'")),
    ("listen-three-octets", "server", ("server", "--allow", "10.0.0.0/8", "--listen", "10.0.0"),
     ("--listen", "'10.0.0'")),
    ("server-ipv6-three-groups", "client", ("client", "--server", "[1:2:3]:514"), ("--server", "IPv6")),
    ("server-port-not-a-number", "client", ("client", "--server", "logs:5x4"), ("--server", "'5x4'")),
    ("queue-size-not-a-number", "client", ("client", "--server", "logs", "--queue-size", '1}, "x": 1'),
     ("--queue-size",)),
    # The port SSH logins use: the firewall would let only --allow reach it, everyone else locked out.
    ("port-is-ssh", "server", ("server", "--allow", "10.0.0.0/8", "--port", "22"), ("--port", "SSH")),
]


@pytest.fixture(scope="module")
def bad_inputs(lab: Lab) -> Lab:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    key = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"
    for node in (lab.client, lab.server):
        node.write("/root/ca.pem", pem, "0644")
        node.write("/root/open.key", key, "0644")
    return lab


@pytest.mark.parametrize(("side", "args", "words"), [pytest.param(s, a, w, id=c) for c, s, a, w in REFUSED])
def test_bad_input_exits_2_names_the_field_and_changes_nothing(bad_inputs: Lab, side: str,
                                                               args: tuple[str, ...],
                                                               words: tuple[str, ...]) -> None:
    node = bad_inputs.client if side == "client" else bad_inputs.server
    run, before, after = bad_inputs.unchanged(node, *args)
    assert run.exit == 2, run
    expected = {"status": "failed", "changed": 0}
    assert subset(result_of(run), expected) == expected, run
    for word in words:
        assert word in run.stderr, f"the message does not say {word!r}{run!r}"
    assert_nothing_changed(before, after, run)


SSH_DROP_IN = "/etc/ssh/sshd_config.d/20-tssr-test.conf"


@pytest.mark.parametrize(("config", "port"), [
    ("ListenAddress 0.0.0.0:2222\nListenAddress 0.0.0.0\n", "2222"),
    ("Port 22\nPort 2020\n", "2020"),
    ("ListenAddress [::]:2200\nListenAddress 0.0.0.0\n", "2200"),
], ids=["listenaddress-with-port", "second-port", "ipv6-listenaddress"])
def test_a_port_sshd_is_configured_for_is_refused_as_the_server_port(bad_inputs: Lab, config: str,
                                                                      port: str) -> None:
    """sshd_config changed (not even reloaded): `sshd -T` names the port, the firewall must leave it."""
    bad_inputs.server.write(SSH_DROP_IN, config)
    try:
        run, before, after = bad_inputs.unchanged(bad_inputs.server, "server", "--allow", "10.0.0.0/8",
                                                  "--port", port)
    finally:
        bad_inputs.server.exec("rm", "-f", SSH_DROP_IN)
    assert run.exit == 2, run
    assert f"--port: {port} is a port SSH logins use" in run.stderr, run
    assert_nothing_changed(before, after, run)


def test_the_port_of_the_current_ssh_session_is_refused_as_the_server_port(bad_inputs: Lab) -> None:
    session = {"SSH_CONNECTION": "192.0.2.7 50123 192.0.2.1 2525"}
    run, before, after = bad_inputs.unchanged(bad_inputs.server, "server", "--allow", "10.0.0.0/8", "--port",
                                              "2525", env=session)
    assert run.exit == 2, run
    assert "--port: 2525 is a port SSH logins use" in run.stderr, run
    assert_nothing_changed(before, after, run)


@pytest.mark.parametrize("config", ["Bogus yes\n", "Port seventy\n"], ids=["unknown-option", "bad-port"])
def test_a_broken_sshd_config_stops_the_server_setup_with_nothing_changed(bad_inputs: Lab,
                                                                           config: str) -> None:
    """`sshd -T` fails: the SSH ports are unknown, so the firewall cannot be set safely: exit 2."""
    bad_inputs.server.write(SSH_DROP_IN, config)
    try:
        run, before, after = bad_inputs.unchanged(bad_inputs.server, "server", "--allow", "10.0.0.0/8")
    finally:
        bad_inputs.server.exec("rm", "-f", SSH_DROP_IN)
    assert run.exit == 2, run
    assert "sshd -T` failed" in run.stderr and "nothing was changed" in run.stderr, run
    assert_nothing_changed(before, after, run)


def test_server_dry_run_plans_packages_config_firewall_and_changes_nothing(lab: Lab) -> None:
    run, before, after = lab.unchanged(lab.server, *lab.server_args("--dry-run"))
    assert run.exit == 0, run
    expected = {"status": "changed", "dry_run": True, "mode": "server", "port": 514, "dir": REMOTE}
    assert subset(result_of(run), expected) == expected, run
    assert "would: install the packages rsyslog" in run.stderr, run
    assert f"would: write the central server's reception (port 514) ({SERVER_CONF})" in run.stderr, run
    assert "would: load the firewall table tssr_syslog" in run.stderr or "firewalld" in run.stderr, run
    assert_nothing_changed(before, after, run)


def test_client_dry_run_plans_the_forwarding_and_changes_nothing(lab: Lab) -> None:
    run, before, after = lab.unchanged(lab.client, *lab.client_args("--dry-run", "--queue-size", "64"))
    assert run.exit == 0, run
    expected = {"status": "changed", "dry_run": True, "mode": "client", "server": lab.server_name,
                "port": 514, "queue_mb": 64}
    assert subset(result_of(run), expected) == expected, run
    assert f"would: write the forwarding to {lab.server_name}:514 ({CLIENT_CONF})" in run.stderr, run
    assert_nothing_changed(before, after, run)


# ==================================================================================================
# 2. Set up, then a second run changes nothing


def test_server_run_installs_listens_and_reports_its_changes(lab: Lab, server_ready: ScriptRun) -> None:
    result = result_of(server_ready)
    expected = {"status": "changed", "mode": "server", "config": SERVER_CONF, "tls": False, "port": 514}
    assert subset(result, expected) == expected, server_ready
    assert "changed: install the packages rsyslog" in server_ready.stderr, server_ready
    listening = lab.server.sh("ss -ltnp")
    assert ":514 " in listening and "rsyslogd" in listening, listening
    assert lab.server.sh(f"stat -c '%a %U' {REMOTE}").split()[0] == "750"
    lab.server.sh("logrotate -d /etc/logrotate.d/tssr-remote-syslog >/dev/null 2>&1")


def test_client_run_writes_a_disk_assisted_queue_that_never_gives_up(lab: Lab,
                                                                     client_ready: ScriptRun) -> None:
    expected = {"status": "changed", "mode": "client", "server": lab.server_name, "port": 514,
                "queue_mb": 1024}
    assert subset(result_of(client_ready), expected) == expected, client_ready
    assert "net.unix.max_dgram_qlen = 512" in lab.client.read("/etc/sysctl.d/60-tssr-syslog.conf")
    conf = lab.client.read(CLIENT_CONF)
    for setting in ('queue.type="LinkedList"', 'queue.filename="tssr_forward"', 'queue.saveOnShutdown="on"',
                    'action.resumeRetryCount="-1"', 'queue.maxDiskSpace="1024m"', 'protocol="tcp"'):
        assert setting in conf, f"{setting} missing from {CLIENT_CONF}:\n{conf}"


@pytest.mark.parametrize("side", ["server", "client"])
def test_second_run_changes_nothing_and_does_not_restart_rsyslog(lab: Lab, client_ready: ScriptRun,
                                                                  side: str) -> None:
    node = lab.server if side == "server" else lab.client
    args = lab.server_args() if side == "server" else lab.client_args()
    run, before, after = lab.unchanged(node, *args)
    assert run.exit == 0, run
    expected = {"status": "ok", "changed": 0}
    assert subset(result_of(run), expected) == expected, run
    assert "no change" in run.stderr, run
    assert_nothing_changed(before, after, run)


# ==================================================================================================
# 3. Messages arrive, one file per host, and no sender writes outside the folder


def test_a_message_from_the_client_arrives_in_its_own_file_on_the_server(lab: Lab,
                                                                         client_ready: ScriptRun) -> None:
    tag = f"hello{uuid.uuid4().hex[:6]}"
    lab.client.exec("logger", "-t", tag, "n=1")
    wait_received_once(lab, tag, 30, "the message on the server")
    owner = lab.server.sh(f"stat -c '%a' {REMOTE}/{lab.client_folder}/syslog.log").strip()
    assert owner == "640", owner
    # Remote messages stay out of the server's own log files.
    assert lab.server.exec("grep", "-rq", tag, "/var/log/syslog", "/var/log/messages").returncode != 0


HOSTILE_HOSTNAMES = ["..", "../../etc", "a/../../b", "."]


def test_hostile_host_names_stay_inside_the_folder(lab: Lab, client_ready: ScriptRun) -> None:
    token = uuid.uuid4().hex[:10]
    lines = "".join(f"<13>Nov 29 05:00:00 {name} evil: {token}-{i}\n"
                    for i, name in enumerate(HOSTILE_HOSTNAMES))
    lab.client.exec("bash", "-c", f'cat > /dev/tcp/{lab.server_name}/514', stdin=lines.encode())
    lab.server.wait_for(f'[ "$(grep -rh {token} {REMOTE} | wc -l)" -eq {len(HOSTILE_HOSTNAMES)} ]', 30,
                        "the hostile messages on the server")
    found = lab.server.sh(f"grep -rl {token} / --include='*.log' 2>/dev/null || true").split()
    assert found and all(path.startswith(f"{REMOTE}/") for path in found), found
    assert all(".." not in path.split("/") for path in found), found


def send_raw(lab: Lab, frame: bytes) -> None:
    """One TCP connection from the client to the server's 514, carrying ``frame`` as it is: what any
    program on an allowed host can send, whatever its own rsyslog says."""
    proc = lab.client.exec("bash", "-c", f"cat > /dev/tcp/{lab.server_name}/514", stdin=frame)
    assert proc.returncode == 0, proc.stderr


def send_raw_each(lab: Lab, frames: list[bytes]) -> None:
    """``send_raw`` for each frame in turn (one TCP connection each), in one ``docker exec``."""
    script = (f'for frame; do printf %s "$frame" | base64 -d > /dev/tcp/{lab.server_name}/514 || exit 1;'
              ' done')
    proc = lab.client.exec("bash", "-c", script, "bash", *(base64.b64encode(f).decode() for f in frames))
    assert proc.returncode == 0, proc.stderr


def forged_frames(lab: Lab, token: str) -> dict[str, bytes]:
    """Messages whose HOSTNAME field claims to be another host (the server, the stranger's address,
    a name that does not exist), in the framings rsyslog's imtcp accepts."""
    stranger_ip = lab.addresses[lab.stranger.name]
    rfc5424 = f"<13>1 2026-11-29T05:00:00Z victim-octet evil - - - {token}-octet".encode()
    return {
        "rfc3164-server-name": f"<13>Nov 29 05:00:00 {lab.server_name} evil: {token}-server\n".encode(),
        "rfc3164-another-address": f"<13>Nov 29 05:00:00 {stranger_ip} evil: {token}-address\n".encode(),
        "rfc5424-victim": f"<13>1 2026-11-29T05:00:00Z victim-db evil - - - {token}-5424\n".encode(),
        "rfc5424-octet-counted": str(len(rfc5424)).encode() + b" " + rfc5424,
        "rfc3164-path-like": f"<13>Nov 29 05:00:00 ../{lab.server_name} evil: {token}-path\n".encode(),
    }


def test_a_message_claiming_another_hosts_name_lands_in_the_senders_own_folder(
        lab: Lab, client_ready: ScriptRun) -> None:
    token = uuid.uuid4().hex[:10]
    frames = forged_frames(lab, token)
    folders_before = set(lab.server.sh(f"ls {REMOTE}").split())
    send_raw_each(lab, list(frames.values()))
    lab.server.wait_for(f'[ "$(grep -rh {token} {REMOTE} | wc -l)" -eq {len(frames)} ]', 30,
                        "the forged messages on the server")
    found = lab.server.sh(f"grep -rl {token} {REMOTE}").split()
    assert found == [f"{REMOTE}/{lab.client_folder}/syslog.log"], found
    folders_after = set(lab.server.sh(f"ls {REMOTE}").split())
    assert folders_after == folders_before, f"a folder appeared: {folders_after - folders_before}"
    claims = (lab.server_name, lab.addresses[lab.stranger.name], "victim-db", "victim-octet")
    present = lab.server.sh('d=$1; shift; for name; do [ ! -e "$d/$name" ] || echo "$name"; done',
                            args=(REMOTE, *claims))
    for claimed in claims:
        assert claimed not in present.split(), f"a folder for the forged name {claimed}"
    # The name each message claimed is kept inside its line, as data.
    lines = lab.server.sh(f"grep -h {token} {REMOTE}/{lab.client_folder}/syslog.log")
    assert "victim-db" in lines and lab.server_name in lines, lines


def test_control_characters_in_a_message_are_written_escaped(lab: Lab, client_ready: ScriptRun) -> None:
    """Whoever reads the central files with cat or tail gets no terminal control from a sender."""
    token = uuid.uuid4().hex[:10]
    send_raw(lab, f"<13>Nov 29 05:00:00 x evil: {token} ".encode()
             + b"\x1b[2J\x1b]52;c;cm0gLXJmIH4K\x07 over\rwrite\x08\n")
    path = f"{REMOTE}/{lab.client_folder}/syslog.log"
    lab.server.wait_for(f"grep -q {token} {path}", 30, "the message")
    line = lab.server.exec("grep", "-a", token, path).stdout
    assert not [b for b in line.rstrip(b"\n") if b < 0x20 or b == 0x7F], line
    assert b"#033[2J" in line and b"#007" in line and b"#015" in line, line


def test_the_firewall_drops_a_host_not_in_allow(lab: Lab, client_ready: ScriptRun) -> None:
    probe = f"timeout 5 bash -c 'echo probe > /dev/tcp/{lab.server_name}/514' && echo open || echo closed"
    assert lab.client.sh(probe).strip() == "open"
    assert lab.stranger.sh(probe).strip() == "closed"


# ==================================================================================================
# 4. Zero loss: the server down for a while, N messages logged meanwhile, all N arrive


def test_all_messages_logged_while_the_server_is_down_arrive_when_it_returns(
        lab: Lab, client_ready: ScriptRun) -> None:
    tag = f"outage{uuid.uuid4().hex[:6]}"
    expected = set(range(1, OUTAGE_MESSAGES + 1))
    stop_server(lab)
    try:
        log_numbered(lab.client, tag, 1, OUTAGE_MESSAGES)
        time.sleep(3)
        assert received(lab, tag) == [], "messages arrived while the server was down?"
        queued = lab.client.sh("ls /var/spool/rsyslog /var/lib/rsyslog 2>/dev/null || true")
    finally:
        start_server(lab)
    got = wait_for_all(lab, tag, expected)
    local = locally_received(lab, tag)
    print(f"\n{lab.platform.name}: outage: {len(expected)} logged, {len(local & expected)} seen by the "
          f"client's rsyslog, {len(got & expected)} received by the server "
          f"({len(expected - got)} lost)")
    assert expected <= local, f"journald did not hand {sorted(expected - local)[:20]} to rsyslog"
    assert got == expected, (f"lost: {sorted(expected - got)[:50]} (queue folder during the outage: "
                             f"{queued})")


# The most messages the forwarding action may hold (dequeued, not yet sent) when rsyslog stops during an
# outage: they are lost (rsyslog #2710). Seen: 1 on a quiet machine, 2 under heavy load.
HELD_BY_THE_ACTION = 5


def outage_with_client_restart(lab: Lab) -> tuple[set[int], set[int], set[int]]:
    """Server down; N messages; the client's rsyslog restarted; N more; server back. Run once per
    platform (cached on the lab): the expected numbers, what the client's rsyslog saw, what arrived."""
    cached = getattr(lab, "_restart_outage", None)
    if cached is not None:
        return cached
    tag = f"restart{uuid.uuid4().hex[:6]}"
    expected = set(range(1, 2 * OUTAGE_MESSAGES + 1))
    stop_server(lab)
    try:
        log_numbered(lab.client, tag, 1, OUTAGE_MESSAGES)
        time.sleep(2)
        lab.client.sh("systemctl restart rsyslog")
        wait_rsyslog_ready(lab, lab.client)
        log_numbered(lab.client, tag, OUTAGE_MESSAGES + 1, 2 * OUTAGE_MESSAGES)
        time.sleep(2)
    finally:
        start_server(lab)
    got = wait_for_all(lab, tag, expected)
    local = locally_received(lab, tag)
    print(f"\n{lab.platform.name}: outage with a client restart: {len(expected)} logged, "
          f"{len(local & expected)} seen by the client's rsyslog, {len(got & expected)} received "
          f"(lost: {sorted(expected - got)})")
    lab._restart_outage = (expected, local, got)  # type: ignore[attr-defined]
    return lab._restart_outage  # type: ignore[attr-defined]


def test_a_client_restart_during_the_outage_keeps_the_queue(lab: Lab, client_ready: ScriptRun) -> None:
    """What queue.saveOnShutdown guarantees: every message queued when rsyslog stopped is written to
    disk and sent after the restart — all but the messages the suspended action held at that moment
    (rsyslog issue #2710, see the next test): the head of the outage (message 1, under load 1 and 2),
    never one queued behind them, and a handful at most."""
    expected, local, got = outage_with_client_restart(lab)
    assert expected <= local, f"journald did not hand {sorted(expected - local)[:20]} to rsyslog"
    lost = expected - got
    assert lost == set(range(1, len(lost) + 1)), f"lost behind the head of the queue: {sorted(lost)[:50]}"
    assert len(lost) <= HELD_BY_THE_ACTION, f"lost: {sorted(lost)[:50]}"


@pytest.mark.xfail(strict=True, reason="rsyslog issue #2710 (open): the message the suspended forwarding "
                   "action holds when rsyslog stops is not saved with the queue; strict, so that a fixed "
                   "rsyslog turns this into a failure to notice")
def test_a_client_restart_during_the_outage_loses_nothing_at_all(lab: Lab, client_ready: ScriptRun) -> None:
    expected, _local, got = outage_with_client_restart(lab)
    assert got == expected, f"lost: {sorted(expected - got)}"


# ==================================================================================================
# 5. Safe changes: a configuration rsyslog refuses never replaces the working one; logrotate


def test_a_config_rsyslog_refuses_is_not_installed_and_rsyslog_keeps_running(lab: Lab,
                                                                             client_ready: ScriptRun) -> None:
    # An administrator's file that already loads imtcp: the new server config would load it twice.
    lab.server.write("/etc/rsyslog.d/10-admin.conf", 'module(load="imtcp")\n', "0644")
    try:
        conf_before = lab.server.read(SERVER_CONF)
        pid = rsyslog_pid(lab.server)
        run = lab.run(lab.server, *lab.server_args("--port", "1514"))
        assert run.exit == 1, run
        assert "rsyslogd -N1 refused the new configuration" in run.stderr, run
        assert "already in this config" in run.stderr, run
        assert lab.server.read(SERVER_CONF) == conf_before
        assert rsyslog_pid(lab.server) == pid, "rsyslog was restarted"
    finally:
        lab.server.exec("rm", "-f", "/etc/rsyslog.d/10-admin.conf")


def test_a_firewall_failure_leaves_rsyslogs_configuration_as_it_was(lab: Lab,
                                                                   client_ready: ScriptRun) -> None:
    """The firewall step comes first: when it fails (here its folder cannot be written: a file stands
    where /etc/tssr-kit/nftables.d should be), the new port never reaches rsyslog's configuration."""
    lab.server.sh("mv /etc/tssr-kit/nftables.d /etc/tssr-kit/nftables.d.tssr-test"
                  " && touch /etc/tssr-kit/nftables.d")
    try:
        run, before, after = lab.unchanged(lab.server, *lab.server_args("--port", "1515"))
    finally:
        lab.server.sh("rm -f /etc/tssr-kit/nftables.d && mv /etc/tssr-kit/nftables.d.tssr-test"
                      " /etc/tssr-kit/nftables.d")
    assert run.exit == 1, run
    assert result_of(run)["status"] == "failed", run
    assert "1515" not in lab.server.read(SERVER_CONF)
    assert_nothing_changed(before, after, run)


def test_logrotate_rotates_the_hosts_files_and_rsyslog_writes_a_new_one(lab: Lab,
                                                                        client_ready: ScriptRun) -> None:
    lab.server.sh("logrotate -f /etc/logrotate.d/tssr-remote-syslog")
    rotated = lab.server.sh(f"ls {REMOTE}/{lab.client_folder}/")
    assert "syslog.log-" in rotated, rotated
    tag = f"rotated{uuid.uuid4().hex[:6]}"
    lab.client.exec("logger", "-t", tag, "n=1")
    wait_received_once(lab, tag, 30, "a message in the new file after the rotation")


# ==================================================================================================
# 6. TLS with a CA made here: the right name works, a wrong one is refused and nothing is lost


@pytest.fixture(scope="module")
def tls(lab: Lab, client_ready: ScriptRun) -> Iterator[Lab]:
    with tempfile.TemporaryDirectory(prefix="tssr-test-logging-pki-") as tmp:
        make_pki(Path(tmp), lab.server_name)
        copy_in(lab.server, {f"/root/{name}": Path(tmp) / name
                             for name in ("ca.pem", "server.pem", "server.key")})
        copy_in(lab.client, {"/root/tls-ca.pem": Path(tmp) / "ca.pem"})
    lab.server.sh("chown root:root /root/ca.pem /root/server.pem /root/server.key"
                  " && chmod 600 /root/server.key")
    lab.client.sh("chown root:root /root/tls-ca.pem")
    yield lab


def tls_server_args(lab: Lab) -> tuple[str, ...]:
    return lab.server_args("--tls", "--ca", "/root/ca.pem", "--cert", "/root/server.pem",
                           "--key", "/root/server.key")


def test_tls_a_message_arrives_encrypted_on_6514(tls: Lab) -> None:
    run = tls.run(tls.server, *tls_server_args(tls))
    assert run.exit == 0 and result_of(run)["port"] == 6514, run
    assert ":6514 " in tls.server.sh("ss -ltn"), run
    run = tls.run(tls.client, *tls.client_args("--tls", "--ca", "/root/tls-ca.pem"))
    assert run.exit == 0, run
    expected = {"status": "changed", "tls": True, "port": 6514}
    assert subset(result_of(run), expected) == expected, run
    conf = tls.client.read(CLIENT_CONF)
    assert 'StreamDriverAuthMode="x509/name"' in conf, conf
    assert f'StreamDriverPermittedPeers="{tls.server_name}"' in conf, conf
    wait_rsyslog_ready(tls, tls.client)
    tag = f"tls{uuid.uuid4().hex[:6]}"
    tls.client.exec("logger", "-t", tag, "n=1")
    wait_received_once(tls, tag, 45, "the message over TLS")
    # Plain text to the TLS port is not syslog to it.
    token = uuid.uuid4().hex
    tls.client.exec("bash", "-c",
                    f"echo '<13>Nov 29 05:00:00 x plain: {token}' > /dev/tcp/{tls.server_name}/6514")
    time.sleep(2)
    assert tls.server.exec("grep", "-rq", token, REMOTE).returncode != 0, "a plain-text message was accepted"


def test_tls_second_run_changes_nothing(tls: Lab) -> None:
    for node, args in ((tls.server, tls_server_args(tls)),
                       (tls.client, tls.client_args("--tls", "--ca", "/root/tls-ca.pem"))):
        run, before, after = tls.unchanged(node, *args)
        assert run.exit == 0 and result_of(run)["changed"] == 0, run
        assert_nothing_changed(before, after, run)


def test_tls_a_wrong_server_name_is_refused_and_the_messages_wait_for_the_right_one(tls: Lab) -> None:
    run = tls.run(tls.client, *tls.client_args("--tls", "--ca", "/root/tls-ca.pem",
                                               "--server-name", "impostor.lan"))
    assert run.exit == 0, run
    wait_rsyslog_ready(tls, tls.client)
    tag = f"peer{uuid.uuid4().hex[:6]}"
    log_numbered(tls.client, tag, 1, 20)
    time.sleep(8)
    assert received(tls, tag) == [], "the client sent to a server whose certificate names another host"
    run = tls.run(tls.client, *tls.client_args("--tls", "--ca", "/root/tls-ca.pem"))
    assert run.exit == 0, run
    got = wait_for_all(tls, tag, set(range(1, 21)))
    assert got == set(range(1, 21)), f"lost: {sorted(set(range(1, 21)) - got)}"
