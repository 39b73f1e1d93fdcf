"""The kit's one firewall owner (scripts/bash/lib/firewall.sh) never locks the operator out, and its jobs
never fight: real sshd, real nftables, real SSH logins, real services, real clients.

Per platform (Debian 12, Debian 13; RedHat with TSSR_REDHAT_IMAGE, else *skipped, not run: no image*),
two containers on a docker network of their own:

- the *server*: systemd, sshd, the kit's scripts; a web server on 8080 stands for any port the firewall
  must close (so that "SSH still answers" is not true merely because nothing is filtered), one on 80
  for the opening `web` (HTTP and HTTPS from anyone) the deploy scripts declare;
- the *operator*: a plain container with the OpenSSH client and a key the server's `tssr` account
  accepts (sudo without a password, as the lab's and the runner's accounts).

The firewall step runs through tests/fixtures/firewall/web-firewall.sh: validation (report_errors runs
web.sh's LIB_CHECKS), the lock, nftables installed, step_firewall (the baseline and the opening `web`),
the result line: what deploy-lamp.sh and deploy-java.sh run before anything else, without a whole LAMP
install per case. deploy-lamp.sh itself is run for the refusal (it stops at validation, before any
package).

The story, in file order:
1. `sshd -T` failing (a broken sshd_config, sshd missing): exit 2, nothing changed (no package, no
   rule), for the driver and for deploy-lamp.sh;
2. sshd listening on 22, 2022 and 2023 (Port + a ListenAddress without port), 0.0.0.0:2222 and
   [::]:2200 (ListenAddress with ports); the operator logged in through 2023 (one connection, kept and
   multiplexed); then 2023 deleted from sshd_config and sshd restarted (the session lives on: only its
   SSH_CONNECTION knows 2023), and 2022 deleted without a reload (`sshd -T` no longer names it, the
   running sshd still listens): an operator moving SSH, half way;
3. the firewall step run by that operator in the session on 2023, with `sudo -n` (which drops
   SSH_CONNECTION: the library reads it from an ancestor process);
4. new SSH logins on 22, 2022 and 2222 still succeed, the session on 2023 still works, 8080 is dropped,
   80 is let in, the rules name 2023 and 2200 too;
5. the same run again changes nothing;
6. a host set up by an earlier tssr-kit (HTTP and HTTPS in /etc/nftables.conf's SSH line) is migrated
   in place by the next run, which says so, and changes nothing the run after.

Then, per platform, the jobs on one host (three more containers): deploy-lamp.sh, setup-snmp.sh and
setup-logging.sh server on the *host*; the *monitor*, the one source they allow (SNMP, syslog); a
*stranger*. SSH and HTTP(S) answer both, SNMP and syslog the monitor only, 8080 nobody; a second run of
each job changes nothing. setup-snmp.sh runs first (its opening before any baseline), deploy-lamp.sh
second (the baseline written over a host that has an opening), setup-logging.sh last (an opening added
to the baseline).
"""

from __future__ import annotations

import re
import shlex
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from containerlib import (
    CLIENTS_STATE,
    PLATFORMS,
    SCRIPT_DIR,
    Node,
    Platform,
    ScriptRun,
    State,
    assert_nothing_changed,
    host_state_script,
    ip_address,
    kit_copies,
    nodes_on_network,
    parse_snapshot,
    script_result,
    start_plain_node,
    start_systemd_node,
    subset,
)

pytestmark = [pytest.mark.containers, pytest.mark.slow]

COPIES = kit_copies("scripts/bash/lib", "scripts/bash/lamp", "examples/lamp/parc-v1",
                    ("web-firewall.sh", "tests/fixtures/firewall/web-firewall.sh"))
DRIVER = f"{SCRIPT_DIR}/web-firewall.sh"
DEPLOY_LAMP = f"{SCRIPT_DIR}/scripts/bash/lamp/deploy-lamp.sh"
DROP_IN = "/etc/ssh/sshd_config.d/20-tssr-test.conf"
KEY = "/root/operator-key"
RUN_TIMEOUT = 600

SNAPSHOT = host_state_script(("/etc/nftables.conf", "/etc/tssr-kit", "/var/lib/tssr-kit", "/etc/apache2"))
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "-i", KEY)


@dataclass
class Lab:
    server: Node
    operator: Node
    platform: Platform

    def snapshot(self) -> dict[str, str]:
        return parse_snapshot(self.server.sh(SNAPSHOT))

    def run(self, *argv: str) -> ScriptRun:
        """argv as root in the server (docker exec: no SSH session)."""
        start = time.monotonic()
        return ScriptRun.of(self.server.exec(*argv, timeout=RUN_TIMEOUT), argv, start)

    def ssh(self, port: int, command: str = "true", timeout: float = 60) -> ScriptRun:
        """``ssh -p PORT tssr@server COMMAND`` from the operator's container: a real login."""
        argv = ("ssh", *SSH_OPTIONS, "-p", str(port), f"tssr@{self.server.name}", command)
        start = time.monotonic()
        return ScriptRun.of(self.operator.exec(*argv, timeout=timeout), argv, start)

    def reaches(self, port: int) -> bool:
        """Does a TCP connection from the operator to the server's PORT succeed (3 s)?"""
        probe = f"timeout 3 bash -c 'exec 3<>/dev/tcp/{self.server.name}/{port}' && echo open || echo closed"
        return self.operator.sh(probe).strip() == "open"


def result_of(run: ScriptRun, script: str = "web-firewall.sh") -> dict:
    return script_result(run, script)


PLATFORM_PARAMS = [
    pytest.param(p, id=p.name, marks=pytest.mark.xdist_group(f"firewall-{p.name}"))
    for p in PLATFORMS.values()
]


def prepare_server(node: Node) -> None:
    node.sh("mkdir -p /srv/www && cd /srv/www && echo web > index.html && "
            "{ setsid python3 -m http.server 8080 >/dev/null 2>&1 < /dev/null & } && "
            "{ setsid python3 -m http.server 80 >/dev/null 2>&1 < /dev/null & }")


@pytest.fixture(scope="module", params=PLATFORM_PARAMS)
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    platform: Platform = request.param
    platform.image()
    with nodes_on_network(
        lambda net: start_systemd_node(platform, COPIES, "tssr-test-fw-server", network=net,
                                       prepare=prepare_server),
        lambda net: start_plain_node(platform, "tssr-test-fw-operator", network=net),
    ) as (_network, (server, operator)):
        operator.sh(f"ssh-keygen -q -t ed25519 -N '' -f {KEY}")
        server.write("/home/tssr/.ssh/authorized_keys", operator.read(f"{KEY}.pub"), "0600")
        server.sh("chown -R tssr:tssr /home/tssr/.ssh")
        lab = Lab(server, operator, platform)
        ready = lab.ssh(22)
        assert ready.exit == 0, f"the operator cannot log in before any firewall{ready!r}"
        yield lab


# ==================================================================================================
# 1. sshd -T failing: nothing changed, for the driver and for deploy-lamp.sh


BROKEN_CONFIGS = {
    "unknown-option": "Bogus yes\n",
    "bad-port": "Port seventy\n",
    "bad-listen-address": "ListenAddress 999.1.1.1:22\n",
}


@pytest.mark.parametrize("config", list(BROKEN_CONFIGS.values()), ids=list(BROKEN_CONFIGS))
def test_a_broken_sshd_config_stops_the_firewall_step_with_nothing_changed(lab: Lab, config: str) -> None:
    lab.server.write(DROP_IN, config)
    try:
        before = lab.snapshot()
        run = lab.run("bash", DRIVER)
        after = lab.snapshot()
    finally:
        lab.server.exec("rm", "-f", DROP_IN)
    assert run.exit == 2, run
    assert subset(result_of(run), {"status": "failed", "changed": 0}) == {"status": "failed", "changed": 0}
    assert "sshd -T` failed" in run.stderr and "nothing was changed" in run.stderr, run
    assert_nothing_changed(before, after, run)


def test_no_sshd_at_all_stops_the_firewall_step_with_nothing_changed(lab: Lab) -> None:
    lab.server.sh("mv /usr/sbin/sshd /usr/sbin/sshd.tssr-test-away")
    try:
        before = lab.snapshot()
        run = lab.run("bash", DRIVER)
        after = lab.snapshot()
    finally:
        lab.server.sh("mv /usr/sbin/sshd.tssr-test-away /usr/sbin/sshd")
    assert run.exit == 2, run
    assert "sshd is not installed" in run.stderr, run
    assert_nothing_changed(before, after, run)


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_deploy_lamp_refuses_to_start_when_sshd_T_fails(lab: Lab, dry_run: bool) -> None:
    lab.server.write(DROP_IN, BROKEN_CONFIGS["unknown-option"])
    try:
        before = lab.snapshot()
        run = lab.run("bash", DEPLOY_LAMP, *(("--dry-run",) if dry_run else ()),
                      "--app", f"{SCRIPT_DIR}/examples/lamp/parc-v1")
        after = lab.snapshot()
    finally:
        lab.server.exec("rm", "-f", DROP_IN)
    assert run.exit == 2, run
    assert subset(result_of(run, "deploy-lamp"), {"status": "failed", "changed": 0}) == \
        {"status": "failed", "changed": 0}, run
    assert "sshd -T` failed" in run.stderr, run
    assert_nothing_changed(before, after, run)


# ==================================================================================================
# 2-4. Every port sshd listens on, and the session's own, stay open


LISTEN = ("Port 22\nPort 2022\nPort 2023\nListenAddress 0.0.0.0\nListenAddress 0.0.0.0:2222\n"
          "ListenAddress [::]:2200\n")
MASTER = "/root/ssh-master-2023"


def through_session(lab: Lab, command: str) -> ScriptRun:
    """COMMAND in the operator's SSH session on 2023 (multiplexed over its one TCP connection)."""
    argv = ("ssh", *SSH_OPTIONS, "-o", f"ControlPath={MASTER}", "-p", "2023", f"tssr@{lab.server.name}",
            command)
    start = time.monotonic()
    return ScriptRun.of(lab.operator.exec(*argv, timeout=RUN_TIMEOUT), argv, start)


@pytest.fixture(scope="module")
def moved_ssh(lab: Lab) -> Lab:
    """sshd on 22, 2022, 2023, 0.0.0.0:2222 and [::]:2200; the operator logged in through 2023 (one
    connection, kept open and multiplexed); then 2023 taken out of sshd_config and sshd restarted
    (the session lives on: only its own SSH_CONNECTION still knows 2023), and 2022 taken out of
    sshd_config WITHOUT a reload (`sshd -T` no longer names it; the running sshd still listens)."""
    lab.server.write(DROP_IN, LISTEN)
    lab.server.sh("systemctl restart ssh")
    for port in (22, 2022, 2023, 2222):
        login = lab.ssh(port)
        assert login.exit == 0, f"sshd does not answer on {port} before the firewall{login!r}"
    assert lab.reaches(8080), "the stand-in web server must answer before the firewall"
    lab.operator.sh(f"ssh {shlex.join(SSH_OPTIONS)} -o ControlMaster=yes -o ControlPersist=yes "
                    f"-o ControlPath={MASTER} -fN -p 2023 tssr@{lab.server.name} </dev/null >/dev/null 2>&1")
    lab.server.write(DROP_IN, LISTEN.replace("Port 2023\n", ""))
    lab.server.sh("systemctl restart ssh")
    lab.server.write(DROP_IN, LISTEN.replace("Port 2023\n", "").replace("Port 2022\n", ""))
    named = lab.server.sh("sshd -T | grep -E '^(port|listenaddress) '")
    assert "2022" not in named and "2023" not in named, named
    assert not lab.reaches(2023), "sshd must no longer listen on 2023: only the session knows it"
    alive = through_session(lab, "echo alive")
    assert alive.exit == 0 and alive.stdout.strip() == "alive", alive
    return lab


@pytest.fixture(scope="module")
def firewalled(moved_ssh: Lab) -> ScriptRun:
    """The firewall step, run by the operator in the session on 2023, through sudo -n (as the runner
    does: sudo drops SSH_CONNECTION)."""
    run = through_session(moved_ssh, f"sudo -n -- bash {shlex.quote(DRIVER)}")
    assert run.exit == 0, f"the firewall step failed, the story cannot go on{run!r}"
    return run


def test_the_firewall_keeps_every_port_sshd_names_listens_on_and_the_sessions_own(
        moved_ssh: Lab, firewalled: ScriptRun) -> None:
    result = result_of(firewalled)
    assert result["status"] == "changed", firewalled
    assert result["ssh_ports"] == "22,2022,2023,2200,2222", firewalled
    rules = moved_ssh.server.sh("nft list table inet tssr_kit")
    assert "tcp dport { 22, 2022, 2023, 2200, 2222 } accept" in rules, rules
    assert "tcp dport { 80, 443 } accept" in rules, rules          # the opening web, web.rules


def test_the_web_opening_lets_http_in(moved_ssh: Lab, firewalled: ScriptRun) -> None:
    assert moved_ssh.reaches(80), "80 is dropped: the opening web is not in the baseline"


@pytest.mark.parametrize("port", [22, 2022, 2222])
def test_a_new_ssh_login_still_works_on_every_port_after_the_firewall(moved_ssh: Lab, firewalled: ScriptRun,
                                                                      port: int) -> None:
    login = moved_ssh.ssh(port, "sudo -n true && echo in")
    assert login.exit == 0 and login.stdout.strip() == "in", login


def test_the_operators_session_still_works_after_the_firewall(moved_ssh: Lab, firewalled: ScriptRun) -> None:
    again = through_session(moved_ssh, "sudo -n true && echo still-in")
    assert again.exit == 0 and again.stdout.strip() == "still-in", again


def test_the_firewall_is_really_filtering(moved_ssh: Lab, firewalled: ScriptRun) -> None:
    assert not moved_ssh.reaches(8080), "8080 must be dropped: else the SSH checks prove nothing"


def test_the_same_run_again_changes_nothing(moved_ssh: Lab, firewalled: ScriptRun) -> None:
    before = moved_ssh.snapshot()
    run = through_session(moved_ssh, f"sudo -n -- bash {shlex.quote(DRIVER)}")
    after = moved_ssh.snapshot()
    assert run.exit == 0 and result_of(run)["changed"] == 0, run
    assert_nothing_changed(before, after, run)


def test_a_broken_sshd_config_after_the_firewall_changes_nothing_either(moved_ssh: Lab, firewalled: ScriptRun
                                                                       ) -> None:
    moved_ssh.server.write("/etc/ssh/sshd_config.d/30-broken.conf", "Bogus yes\n")
    try:
        before = moved_ssh.snapshot()
        run = moved_ssh.run("bash", DRIVER)
        after = moved_ssh.snapshot()
    finally:
        moved_ssh.server.exec("rm", "-f", "/etc/ssh/sshd_config.d/30-broken.conf")
    assert run.exit == 2, run
    assert_nothing_changed(before, after, run)
    assert moved_ssh.ssh(22).exit == 0


# ==================================================================================================
# 6. A host set up by an earlier tssr-kit: migrated in place, once

# /etc/nftables.conf as the deploy scripts wrote it before issue 15 (HTTP and HTTPS in the SSH line),
# for the SSH ports of this story.
EARLIER_BASELINE = """#!/usr/sbin/nft -f
# Written by the tssr-kit deploy scripts (deploy-lamp.sh, deploy-java.sh) from
# scripts/bash/lib/templates/nftables.conf.tmpl, loaded at boot by nftables.service. Incoming
# traffic is dropped except SSH, HTTP and HTTPS.
table inet tssr_kit
delete table inet tssr_kit

table inet tssr_kit {
    chain input {
        type filter hook input priority filter; policy drop;
        iif "lo" accept
        ct state established,related accept
        ct state invalid drop
        # ICMP and ICMPv6 (protocols 1 and 58: numbers, as /etc/protocols may be missing).
        meta l4proto { 1, 58 } accept
        # SSH (every port sshd listens on), HTTP, HTTPS.
        tcp dport { 22, 80, 443, 2022, 2023, 2200, 2222 } accept
        # What other tssr-kit scripts open to a few sources only (the SNMP agent to its monitoring
        # server, the central log server to its clients): scripts/bash/lib/firewall.sh.
        include "/etc/tssr-kit/nftables.d/*.rules"
    }
}

# Their own tables, which drop those ports from anyone else.
include "/etc/tssr-kit/nftables.d/*.nft"
"""


def test_a_host_set_up_by_an_earlier_kit_is_migrated_in_place_and_says_so(moved_ssh: Lab,
                                                                         firewalled: ScriptRun) -> None:
    server = moved_ssh.server
    server.write("/etc/nftables.conf", EARLIER_BASELINE, "0755")
    server.sh("rm -f /etc/tssr-kit/nftables.d/web.rules && nft -f /etc/nftables.conf")
    assert moved_ssh.reaches(80), "the earlier baseline must let 80 in before the migration"
    migrated = through_session(moved_ssh, f"sudo -n -- bash {shlex.quote(DRIVER)}")
    assert migrated.exit == 0 and result_of(migrated)["status"] == "changed", migrated
    assert "HTTP and HTTPS move from /etc/nftables.conf" in migrated.stderr, migrated
    rules = server.sh("nft list table inet tssr_kit")
    assert "tcp dport { 22, 2022, 2023, 2200, 2222 } accept" in rules, rules
    assert "tcp dport { 80, 443 } accept" in rules, rules
    assert "HTTP, HTTPS" not in server.read("/etc/nftables.conf")
    assert moved_ssh.reaches(80) and not moved_ssh.reaches(8080)
    for port in (22, 2022, 2222):
        assert moved_ssh.ssh(port).exit == 0, f"SSH on {port} lost in the migration"
    before = moved_ssh.snapshot()
    again = through_session(moved_ssh, f"sudo -n -- bash {shlex.quote(DRIVER)}")
    assert again.exit == 0 and result_of(again)["changed"] == 0, again
    assert "HTTP and HTTPS move" not in again.stderr, again
    assert_nothing_changed(before, moved_ssh.snapshot(), again)


# ==================================================================================================
# The jobs on one host: deploy-lamp.sh, setup-snmp.sh and setup-logging.sh server never fight

JOB_COPIES = kit_copies("scripts/bash/lib", "scripts/bash/lamp", "scripts/bash/snmp", "scripts/bash/logging",
                        "examples/lamp/parc-v1")
JOB_SNAPSHOT = host_state_script(("/etc/nftables.conf", "/etc/tssr-kit", "/var/lib/tssr-kit", "/etc/apache2",
                                  "/etc/snmp", "/etc/rsyslog.d", "/srv/lamp"))
DOMAIN = "parc.test"
SNMP_AUTH = f"auth-{uuid.uuid4().hex[:12]}"
SNMP_PRIV = f"priv-{uuid.uuid4().hex[:12]}"
SNMP_CREDENTIALS = "/root/snmp.conf"
SYS_NAME = ".1.3.6.1.2.1.1.5.0"
# The host starts with the three jobs' packages installed (the lists of deploy-lamp.sh, setup-snmp.sh
# and setup-logging.sh; one a script adds later is installed by the script): these tests prove how the
# jobs' firewall openings add up, not how the jobs install (test_lamp, test_snmp, test_logging prove
# that, from a fresh node). The jobs still run for real and configure everything.
JOBS_HOST_STATE = State("firewall-jobs-host", {
    "debian": ("apache2", "mariadb-server", "php-fpm", "php-mysql", "nftables", "openssl", "curl", "snmpd",
               "sudo", "rsyslog", "logrotate"),
    "redhat": ("httpd", "mod_ssl", "mariadb-server", "php-fpm", "php-mysqlnd", "firewalld", "openssl", "curl",
               "policycoreutils-python-utils", "net-snmp", "net-snmp-utils", "sudo", "rsyslog", "logrotate"),
})


@dataclass
class Host:
    """The host of the three jobs, its two would-be clients, and each job's command line."""

    host: Node
    monitor: Node
    stranger: Node
    monitor_ip: str
    jobs: dict[str, tuple[str, ...]]

    def snapshot(self) -> dict[str, str]:
        return parse_snapshot(self.host.sh(JOB_SNAPSHOT))

    def run(self, job: str) -> ScriptRun:
        argv = self.jobs[job]
        start = time.monotonic()
        return ScriptRun.of(self.host.exec(*argv, timeout=RUN_TIMEOUT), argv, start)

    def tcp(self, client: Node, port: int) -> bool:
        """Does a TCP connection from CLIENT to the host's PORT succeed (3 s)?"""
        probe = (f"timeout 3 bash -c 'exec 3<>/dev/tcp/{self.host.name}/{port}' 2>/dev/null"
                 " && echo open || echo closed")
        return client.sh(probe).strip() == "open"

    def https(self, client: Node) -> str:
        """The HTTP status of https://DOMAIN/ from CLIENT, through the host's address."""
        address = client.sh(f"getent hosts {self.host.name} | cut -d' ' -f1").split()[0]
        return client.sh(f"curl -sk -o /dev/null -w '%{{http_code}}' --max-time 5 "
                         f"--resolve {DOMAIN}:443:{address} https://{DOMAIN}/ || true").strip()

    def snmp_answers(self, client: Node) -> bool:
        proc = client.exec("snmpget", "-v3", "-l", "authPriv", "-u", "monitor", "-a", "SHA-256",
                           "-A", SNMP_AUTH, "-x", "AES", "-X", SNMP_PRIV, "-t", "2", "-r", "0", "-On", "-Oq",
                           self.host.name, SYS_NAME, timeout=60)
        return proc.returncode == 0


def prepare_host(node: Node) -> None:
    """A web server on 8080: a port no job opens (Apache takes 80 and 443)."""
    node.sh("mkdir -p /srv/www && cd /srv/www && echo web > index.html && "
            "setsid python3 -m http.server 8080 >/dev/null 2>&1 < /dev/null &")


def host_jobs(monitor_ip: str) -> dict[str, tuple[str, ...]]:
    return {
        "setup-snmp": ("bash", f"{SCRIPT_DIR}/scripts/bash/snmp/setup-snmp.sh", "--monitor", monitor_ip,
                       "--credentials", SNMP_CREDENTIALS),
        "deploy-lamp": ("bash", f"{SCRIPT_DIR}/scripts/bash/lamp/deploy-lamp.sh", "--app",
                        f"{SCRIPT_DIR}/examples/lamp/parc-v1", "--schema",
                        f"{SCRIPT_DIR}/examples/lamp/parc-v1/schema.sql", "--domain", DOMAIN),
        "setup-logging": ("bash", f"{SCRIPT_DIR}/scripts/bash/logging/setup-logging.sh", "server", "--allow",
                          f"{monitor_ip}/32"),
    }


JOB_SCRIPTS = {"setup-snmp": "setup-snmp.sh", "deploy-lamp": "deploy-lamp",
               "setup-logging": "setup-logging.sh"}
HOST_PARAMS = [
    pytest.param(p, id=p.name, marks=pytest.mark.xdist_group(f"firewall-jobs-{p.name}"))
    for p in PLATFORMS.values()
]


@pytest.fixture(scope="module", params=HOST_PARAMS)
def jobs_host(request: pytest.FixtureRequest) -> Iterator[Host]:
    """The three jobs run once each, in that order (each must succeed for the story to go on), on a
    host from the prepared state JOBS_HOST_STATE (their packages installed); the monitor and the
    stranger from CLIENTS_STATE (containerlib)."""
    platform: Platform = request.param
    platform.image()
    start = time.monotonic()
    with nodes_on_network(
        lambda net: start_systemd_node(platform, JOB_COPIES, "tssr-test-fw-host", network=net,
                                       prepare=prepare_host, state=JOBS_HOST_STATE),
        lambda net: start_plain_node(platform, "tssr-test-fw-monitor", network=net, state=CLIENTS_STATE),
        lambda net: start_plain_node(platform, "tssr-test-fw-stranger", network=net, state=CLIENTS_STATE),
        prefix="tssr-test-fw-net",
    ) as (network, (host, monitor, stranger)):
        host.write(SNMP_CREDENTIALS, f"user = monitor\nauth_passphrase = {SNMP_AUTH}\n"
                                     f"priv_passphrase = {SNMP_PRIV}\n", "0600")
        monitor_ip = ip_address(monitor, network)
        lab = Host(host, monitor, stranger, monitor_ip, host_jobs(monitor_ip))
        for job in ("setup-snmp", "deploy-lamp", "setup-logging"):
            run = lab.run(job)
            assert run.exit == 0, f"{job} failed, the story cannot go on{run!r}"
            assert script_result(run, JOB_SCRIPTS[job])["status"] == "changed", run
        print(f"\n{platform.name}: the jobs host was ready, the three jobs run, after "
              f"{time.monotonic() - start:.0f} s")
        yield lab


def test_ssh_and_https_answer_the_monitor_and_a_stranger_alike(jobs_host: Host) -> None:
    for client in (jobs_host.monitor, jobs_host.stranger):
        assert jobs_host.tcp(client, 22), f"SSH dropped for {client.name}"
        assert jobs_host.tcp(client, 80), f"HTTP dropped for {client.name}"
        assert jobs_host.https(client) == "200", f"HTTPS does not answer {client.name}"


def test_snmp_and_syslog_answer_the_monitor_only(jobs_host: Host) -> None:
    assert jobs_host.snmp_answers(jobs_host.monitor), "the monitor's SNMP request was dropped"
    assert jobs_host.tcp(jobs_host.monitor, 514), "the monitor cannot reach the log server"
    assert not jobs_host.snmp_answers(jobs_host.stranger), "a stranger was answered over SNMP"
    assert not jobs_host.tcp(jobs_host.stranger, 514), "a stranger reached the log server"


def test_any_other_port_is_dropped_for_everyone(jobs_host: Host) -> None:
    assert jobs_host.host.sh("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/").strip() == "200"
    for client in (jobs_host.monitor, jobs_host.stranger):
        assert not jobs_host.tcp(client, 8080), f"8080 reached from {client.name}"


def test_the_baseline_takes_in_every_jobs_opening(jobs_host: Host) -> None:
    host, ip = jobs_host.host, re.escape(jobs_host.monitor_ip)
    if host.platform.family == "redhat":
        zone = host.sh("firewall-cmd --get-default-zone").strip()
        assert {"ssh", "http", "https"} <= set(host.sh(f"firewall-cmd --zone={zone} --list-services").split())
        rich = host.sh(f"firewall-cmd --zone={zone} --list-rich-rules")
        for port, proto in (("161", "udp"), ("514", "tcp")):
            rule = rf'source address="{ip}(/32)?" port port="{port}" protocol="{proto}" accept'
            assert re.search(rule, rich), rich
        return
    kit = host.sh("nft list table inet tssr_kit")
    assert "policy drop;" in kit and "tcp dport { 80, 443 } accept" in kit, kit
    for port, proto in (("161", "udp"), ("514", "tcp")):
        assert re.search(rf"ip saddr (\{{ )?{ip}(/32)?( \}})? {proto} dport {port} accept", kit), kit
    ruleset = host.sh("nft list ruleset")
    for table in ("tssr_snmp", "tssr_syslog"):
        assert f"table inet {table} " in ruleset, ruleset
    files = host.sh("ls /etc/tssr-kit/nftables.d").split()
    assert sorted(files) == ["snmp.nft", "snmp.rules", "syslog.nft", "syslog.rules", "web.rules"], files


@pytest.mark.parametrize("job", ["deploy-lamp", "setup-snmp", "setup-logging"])
def test_a_second_run_of_each_job_changes_nothing(jobs_host: Host, job: str) -> None:
    before = jobs_host.snapshot()
    run = jobs_host.run(job)
    after = jobs_host.snapshot()
    assert run.exit == 0, run
    assert subset(script_result(run, JOB_SCRIPTS[job]), {"status": "ok", "changed": 0}) == \
        {"status": "ok", "changed": 0}, run
    assert_nothing_changed(before, after, run)
