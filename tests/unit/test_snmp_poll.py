"""Unit tests of scripts/python/snmp_poll.py against a REAL net-snmp agent, no container, no mock.

The fixture starts `snmpd` (Debian package snmpd) in the foreground as an unprivileged user (nobody, when
the tests run as root) with a temporary configuration: two SNMPv3 users made with `createUser`
(SHA-256 + AES-128 and SHA-512 + AES-256), `rouser ... authpriv`, a `disk /` and a `load` line, listening
on 20 UDP ports of 127.0.0.1 at once (one agent process, 20 addresses: twenty agents to poll at once).
It is stopped by the PID it was started with. Without snmpd the agent tests are skipped (say so: install
with `apt-get install snmpd`); the parsing tests run anyway.

Note for whoever writes the fixture of the next agent: snmpd rewrites $SNMP_PERSISTENT_DIR/snmpd.conf
when it stops, so the configuration (-c) must not live there; and with -C it reads createUser only from
the -c file, not from the persistent folder.
"""

from __future__ import annotations

import importlib.util
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
import time
from pathlib import Path

import pytest

from tssrkit.paths import REPO

SCRIPT = REPO / "scripts" / "python" / "snmp_poll.py"
AUTH_PASS, PRIV_PASS = "auth-pass-1234", "priv-pass-5678"
N_AGENTS = 20


def _load():
    spec = importlib.util.spec_from_file_location("snmp_poll", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


sp = _load()


def free_udp_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class Agent:
    """One snmpd process started by a test: its ports, its PID, its folder."""

    def __init__(self, ports: list[int], with_disk: bool = True):
        if not shutil.which("snmpd"):
            pytest.skip("snmpd is not installed (apt-get install snmpd): no real agent to poll")
        self.ports = ports
        self.folder = Path(tempfile.mkdtemp(prefix="tssr-snmpd-"))
        persist = self.folder / "persist"
        persist.mkdir()
        conf = self.folder / "agent.conf"
        conf.write_text("\n".join([
            "sysName tssr-test",
            "rouser tssr authpriv",
            "rouser tssr512 authpriv",
            f'createUser tssr SHA-256 "{AUTH_PASS}" AES "{PRIV_PASS}"',
            f'createUser tssr512 SHA-512 "{AUTH_PASS}" AES256 "{PRIV_PASS}"',
            "load 12 10 5",
            *(["disk / 10%"] if with_disk else []),
        ]) + "\n")
        self.pidfile = self.folder / "snmpd.pid"
        argv = ["snmpd", "-f", "-C", "-c", str(conf), "-I", "-smux", "-M", "/nonexistent", "-m", "",
                "-Lf", str(self.folder / "snmpd.log"), "-p", str(self.pidfile),
                ",".join(f"udp:127.0.0.1:{port}" for port in ports)]
        user = {}
        if os.geteuid() == 0:   # run it as nobody: a real agent needs no privilege on a high port
            nobody = pwd.getpwnam("nobody")
            for path in (self.folder, persist, conf):
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
            user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ["PATH"], "SNMP_PERSISTENT_DIR": str(persist)}
        self.process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        **user)
        self.pid = self.process.pid
        deadline = time.monotonic() + 10
        while not (self.pidfile.exists() and self.pidfile.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.folder / "snmpd.log").read_text() if (self.folder / "snmpd.log").exists() else ""
                self.stop()
                pytest.fail(f"snmpd did not start: {log}")
            time.sleep(0.05)
        assert int(self.pidfile.read_text()) == self.pid, "-f: the PID we started is the agent"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)   # the PID recorded at start, nothing else
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait(5)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def agent():
    started = Agent(free_udp_ports(N_AGENTS))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def agent_without_dsktable():
    started = Agent(free_udp_ports(1), with_disk=False)
    yield started
    started.stop()


def creds_env(user: str = "tssr", auth: str = "sha256", priv: str = "aes128", auth_pass: str = AUTH_PASS,
              priv_pass: str = PRIV_PASS) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSSR_SNMP_")}
    env.update(TSSR_SNMP_USER=user, TSSR_SNMP_AUTH_PROTOCOL=auth, TSSR_SNMP_PRIV_PROTOCOL=priv,
               TSSR_SNMP_AUTH_PASSPHRASE=auth_pass, TSSR_SNMP_PRIV_PASSPHRASE=priv_pass)
    return env


def poll(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                          env=env if env is not None else creds_env(), check=False)


def poll_json(*args: str, env: dict | None = None) -> tuple[int, dict]:
    done = poll(*args, "--format", "json", env=env)
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout.splitlines()[-1])


def secrets_absent(done: subprocess.CompletedProcess) -> None:
    for secret in (AUTH_PASS, PRIV_PASS, "wrong-pass-0000"):
        assert secret not in done.stdout + done.stderr, "a passphrase must never be printed"


# --------------------------------------------------------------------------------------------------
# a real agent


def test_right_credentials_read_name_uptime_load_and_disk(agent):
    code, out = poll_json("--agent", f"127.0.0.1:{agent.ports[0]}")
    assert code == 0, out
    row = out["results"][0]
    assert row["state"] == "OK" and row["sys_name"] == "tssr-test"
    assert isinstance(row["uptime_seconds"], int) and row["uptime_seconds"] >= 0
    proc = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    assert row["load"] and all(abs(a - b) < 1.5 for a, b in zip(row["load"], proc, strict=True))
    assert list(row["disks"]) == ["/"] and 0 <= row["disks"]["/"] <= 100
    assert out["status"] == "ok" and out["changed"] == 0 and out["script"] == "snmp_poll.py"


def test_sha512_and_aes256_from_a_root_only_credentials_file(agent, tmp_path):
    creds = tmp_path / "poller.conf"
    creds.write_text(f"# the monitoring user\nuser = tssr512\nauth_protocol = sha512   # HMAC-SHA-512\n"
                     f"auth_passphrase = {AUTH_PASS}\npriv_protocol = aes256\n"
                     f"priv_passphrase = {PRIV_PASS}\n")
    creds.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSSR_SNMP_")}
    done = poll("--agent", f"127.0.0.1:{agent.ports[1]}", "--credentials", str(creds), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"127\.0\.0\.1:\d+\s+OK\s+tssr-test", done.stdout)
    assert json.loads(done.stdout.splitlines()[-1])["ok"] == 1, "the table ends with the JSON result line"
    secrets_absent(done)


def test_a_wrong_auth_passphrase_is_refused_and_reported(agent):
    done = poll("--agent", f"127.0.0.1:{agent.ports[0]}", "--format", "json",
                env=creds_env(auth_pass="wrong-pass-0000"))
    row = json.loads(done.stdout)["results"][0]
    assert done.returncode == 1
    assert row["state"] == "UNKNOWN" and "authentication refused" in row["message"]
    assert row["sys_name"] is None
    secrets_absent(done)


def test_a_wrong_priv_passphrase_gets_no_data(agent):
    code, out = poll_json("--agent", f"127.0.0.1:{agent.ports[0]}", "--timeout", "0.5", "--retries", "0",
                          env=creds_env(priv_pass="wrong-pass-0000"))
    row = out["results"][0]
    assert code == 1 and row["state"] != "OK" and row["sys_name"] is None
    print(f"\nwrong priv passphrase: {row['state']} - {row['message']}")


def test_an_unknown_user_is_unknown(agent):
    code, out = poll_json("--agent", f"127.0.0.1:{agent.ports[0]}", env=creds_env(user="intruder"))
    assert code == 1 and out["results"][0]["state"] == "UNKNOWN"
    assert "unknown user" in out["results"][0]["message"]


def test_an_unreachable_port_times_out_and_is_reported_critical(agent):
    dead = free_udp_ports(1)[0]
    started = time.monotonic()
    code, out = poll_json("--agent", f"127.0.0.1:{dead}", "--agent", f"127.0.0.1:{agent.ports[0]}",
                          "--timeout", "0.5", "--retries", "1")
    elapsed = time.monotonic() - started
    states = {r["agent"]: r for r in out["results"]}
    assert code == 1
    assert states[f"127.0.0.1:{dead}"]["state"] == "CRITICAL"
    assert "no answer in 0.5s (2 tries" in states[f"127.0.0.1:{dead}"]["message"]
    assert states[f"127.0.0.1:{agent.ports[0]}"]["state"] == "OK", "one dead agent spoils no other row"
    assert elapsed < 30


def test_a_name_that_does_not_resolve_is_a_row_not_a_crash(agent):
    code, out = poll_json("--agent", "no-such-host.invalid", "--agent", f"127.0.0.1:{agent.ports[0]}")
    rows = {r["agent"]: r["state"] for r in out["results"]}
    assert code == 1 and rows == {"no-such-host.invalid": "UNKNOWN", f"127.0.0.1:{agent.ports[0]}": "OK"}


def test_thresholds_turn_answers_into_warning_and_critical(agent):
    target = f"127.0.0.1:{agent.ports[0]}"
    _, warn = poll_json("--agent", target, "--load-warning", "@0:1000")
    assert warn["results"][0]["state"] == "WARNING" and warn["results"][0]["message"].startswith("load ")
    _, crit = poll_json("--agent", target, "--disk-critical", "@0:100")
    assert crit["results"][0]["state"] == "CRITICAL" and "/ " in crit["results"][0]["message"]


def test_nagios_output_is_a_plugin_line_with_perfdata_and_the_worst_exit_code(agent):
    target = f"127.0.0.1:{agent.ports[0]}"
    ok = poll("--agent", target, "--format", "nagios")
    assert ok.returncode == 0
    first = ok.stdout.splitlines()[0]
    assert re.fullmatch(r"SNMP OK - 1 of 1 agents OK \| ok=1;;;0;1 warning=0;;;0;1 critical=0;;;0;1 "
                        r"unknown=0;;;0;1 '127\.0\.0\.1:\d+ load1'=[\d.]+;;;0 "
                        r"'127\.0\.0\.1:\d+ /'=[\d.]+%;80;90;0;100",
                        first), first
    assert ok.stdout.splitlines()[1].startswith(f"{target}: OK - tssr-test")
    assert poll("--agent", target, "--format", "nagios", "--disk-critical", "@0:100").returncode == 2
    assert poll("--agent", target, "--format", "nagios", "--load-warning", "@0:1000").returncode == 1


def test_without_a_dsktable_the_fixed_disks_of_hrstorage_are_used(agent_without_dsktable):
    code, out = poll_json("--agent", f"127.0.0.1:{agent_without_dsktable.ports[0]}")
    disks = out["results"][0]["disks"]
    assert code == 0, out
    assert "/" in disks and 0 <= disks["/"] <= 100


def test_twenty_agents_are_all_read_concurrently_and_a_dead_one_is_reported(agent):
    """Every agent of a concurrent poll is read, and a silent one among them is a row, not a hang.

    Timing is not judged here (bench/bench_poller.py measures it on the lab's agents): timeouts are
    generous, so that a loaded machine does not make a slow answer look like a dead agent."""
    agents = [arg for port in agent.ports for arg in ("--agent", f"127.0.0.1:{port}")]
    code, out = poll_json(*agents, "--concurrency", "20", "--timeout", "5", "--retries", "2")
    assert code == 0 and out["agents"] == N_AGENTS and out["ok"] == N_AGENTS, out
    dead = free_udp_ports(1)[0]
    code, out = poll_json("--agent", f"127.0.0.1:{dead}", *agents, "--concurrency", "20", "--timeout", "3",
                          "--retries", "1")
    assert code == 1 and out["ok"] == N_AGENTS and out["critical"] == 1, out


# --------------------------------------------------------------------------------------------------
# input, no agent needed


@pytest.mark.parametrize(("text", "host", "port"), [
    ("web1", "web1", 161), ("web1:1161", "web1", 1161), ("192.0.2.5", "192.0.2.5", 161),
    ("[2001:db8::5]:1161", "2001:db8::5", 1161), ("[::1]", "::1", 161),
    ("db.example.org:161", "db.example.org", 161),
])
def test_agents_are_host_and_optional_port(text, host, port):
    assert sp.parse_agent(text) == sp.Agent(host, port)


@pytest.mark.parametrize("text", ["", "web1:0", "web1:70000", "web1:abc", "-rf", "a b", "host:1:2", "..",
                                  "web1;reboot"])
def test_a_bad_agent_is_refused(text):
    with pytest.raises(sp.UsageError):
        sp.parse_agent(text)


def test_the_agents_file_names_the_bad_line(tmp_path):
    listing = tmp_path / "agents.txt"
    listing.write_text("# lab\nweb1\n\ndb1:1161   # the database\nbad host\n")
    with pytest.raises(sp.UsageError, match=r"agents.txt line 5"):
        sp.read_agents_file(listing)
    listing.write_text("# lab\nweb1\n\ndb1:1161   # the database\n")
    assert sp.read_agents_file(listing) == [sp.Agent("web1"), sp.Agent("db1", 1161)]


def test_a_credentials_file_readable_by_others_is_refused(tmp_path):
    creds = tmp_path / "poller.conf"
    creds.write_text(f"user = tssr\nauth_passphrase = {AUTH_PASS}\npriv_passphrase = {PRIV_PASS}\n")
    creds.chmod(0o644)
    done = poll("--agent", "web1", "--credentials", str(creds), env={"PATH": os.environ["PATH"]})
    assert done.returncode == 2 and "mode 0600 or 0400, not 0644" in done.stderr
    secrets_absent(done)
    creds.chmod(0o600)
    assert sp.read_credentials_file(creds).user == "tssr"


@pytest.mark.parametrize(("change", "message"), [
    ({"TSSR_SNMP_AUTH_PASSPHRASE": "short"}, "auth_passphrase: at least 8 characters"),
    ({"TSSR_SNMP_PRIV_PASSPHRASE": ""}, "priv_passphrase: at least 8 characters"),
    ({"TSSR_SNMP_AUTH_PROTOCOL": "md5"}, "auth_protocol: one of sha256, sha512"),
    ({"TSSR_SNMP_PRIV_PROTOCOL": "des"}, "priv_protocol: one of aes128, aes256, aes256c"),
    ({"TSSR_SNMP_USER": "a user"}, "user: expected"),
])
def test_bad_credentials_exit_2_before_any_poll(change, message):
    done = poll("--agent", "192.0.2.1", env={**creds_env(), **change})
    assert done.returncode == 2 and message in done.stderr and done.stdout == ""


def test_there_is_no_way_to_give_a_passphrase_on_the_command_line():
    done = poll("--agent", "web1", "--auth-passphrase", "x" * 12)
    assert done.returncode == 2 and "unrecognized arguments" in done.stderr
    assert "passphrase" not in " ".join(a.option_strings[0] for a in sp.build_parser()._actions)


def test_usage_errors_in_nagios_mode_are_unknown():
    done = poll("--format", "nagios")
    assert done.returncode == 3 and done.stdout.startswith("SNMP UNKNOWN - usage: no agent")


def test_sequential_and_concurrency_are_exclusive():
    assert poll("--agent", "web1", "--sequential", "--concurrency", "4").returncode == 2
