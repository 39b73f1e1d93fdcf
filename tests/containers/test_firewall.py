"""The deploy scripts' firewall (scripts/bash/lib/web.sh) never locks the operator out: real sshd, real
nftables, real SSH logins.

Per platform (Debian 12, Debian 13; RedHat with TSSR_REDHAT_IMAGE, else *skipped, not run: no image*),
two containers on a docker network of their own:

- the *server*: systemd, sshd, the kit's scripts; a web server on 8080 stands for any port the firewall
  must close (so that "SSH still answers" is not true merely because nothing is filtered);
- the *operator*: a plain container with the OpenSSH client and a key the server's `tssr` account
  accepts (sudo without a password, as the lab's and the runner's accounts).

The firewall step runs through tests/fixtures/firewall/web-firewall.sh: validation (report_errors runs
web.sh's LIB_CHECKS), the lock, nftables installed, step_firewall, the result line: what deploy-lamp.sh
and deploy-java.sh run before anything else, without a whole LAMP install per case. deploy-lamp.sh
itself is run for the refusal (it stops at validation, before any package).

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
   the rules name 2023 and 2200 too;
5. the same run again changes nothing.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from containerlib import (
    PLATFORMS,
    SCRIPT_DIR,
    Node,
    Platform,
    ScriptRun,
    assert_nothing_changed,
    host_state_script,
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
            "setsid python3 -m http.server 8080 >/dev/null 2>&1 < /dev/null &")


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
    assert "tcp dport { 22, 80, 443, 2022, 2023, 2200, 2222 } accept" in rules, rules


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
