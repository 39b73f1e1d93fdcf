"""`inv setup-snmp`, `inv poll`, `inv setup-logging` and `inv check` end to end on the lab (issue 6's
"the poller reads the lab's agents").

setup-snmp.sh really runs on both lab hosts (with the credentials the lab generates, uploaded
root-only), then snmp_poll.py, on this machine, polls their agents through each host's 161/udp
published on 127.0.0.1: every agent answers with its own sysName, and a wrong passphrase is refused.
setup-logging.sh makes tssr-t2 the central log server and tssr-t1 its client, and a marked message
logged on tssr-t1 arrives in tssr-t1's own file on tssr-t2, in plain TCP and then over TLS (an
openssl-made CA; the server's private key, uploaded by the runner, ends root-only). `inv check`
prints one row per host and check, with the worst state as its exit code (a missing unit makes it
CRITICAL).

Same separate lab as the other lab tests (TSSR_LAB=tssr-t, same xdist group, so never at the same
time); this module uses tssr-t1 and tssr-t2 and, like test_lab_lamp.py, removes the lab when it
started it. A lab left by an older version, without 161/udp published, makes the poll tests fail with
the fix in the message (`inv lab.down`), never pass.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from lablib import HOSTS, STATE, inv, on, running_lab, summary_row
from tlslib import make_pki

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab"), pytest.mark.slow]

CREDENTIALS = STATE / "snmp-credentials.conf"


def passphrases() -> list[str]:
    values = dict(line.split(" = ", 1) for line in CREDENTIALS.read_text().splitlines() if " = " in line)
    return [values["auth_passphrase"], values["priv_passphrase"]]


@pytest.fixture(scope="module")
def lab():
    with running_lab(2) as hosts:
        yield hosts


@pytest.fixture(scope="module")
def snmp(lab):
    """`inv setup-snmp` with the lab's defaults (monitor: the lab network's gateway; credentials:
    generated once into .tssr/tssr-t/snmp-credentials.conf)."""
    return inv("setup-snmp")


def test_setup_snmp_configures_an_agent_on_every_lab_host(snmp):
    assert snmp.returncode == 0, snmp.stdout + snmp.stderr[-4000:]
    for host in HOSTS:
        assert summary_row(snmp.stdout, host)[1] in ("changed", "ok")
        assert on(host, "systemctl", "is-active", "snmpd").stdout.strip() == "active"
    assert CREDENTIALS.stat().st_mode & 0o777 == 0o600
    for secret in passphrases():
        assert secret not in snmp.stdout + snmp.stderr


def test_the_poller_reads_the_lab_agents(snmp):
    assert snmp.returncode == 0, snmp.stderr[-4000:]
    proc = inv("poll", "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = {row["sys_name"]: row for row in result["results"]}
    assert sorted(rows) == HOSTS, result
    for host in HOSTS:
        assert rows[host]["state"] == "OK", rows[host]
        assert re.fullmatch(r"127\.0\.0\.1:\d+", rows[host]["agent"]), rows[host]


def test_the_poll_table_names_each_agent(snmp):
    proc = inv("poll")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for host in HOSTS:
        assert re.search(rf"^127\.0\.0\.1:\d+\s+OK\s+{host}\s", proc.stdout, re.MULTILINE), proc.stdout


def test_a_wrong_passphrase_is_refused_by_the_lab_agents(snmp, tmp_path):
    wrong = tmp_path / "wrong.conf"
    wrong.write_text(CREDENTIALS.read_text().replace(passphrases()[0], "not-the-right-one-42"))
    wrong.chmod(0o600)
    proc = inv("poll", "--format", "json", "--credentials", str(wrong), "--timeout", "1", "--retries", "0")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {row["state"] for row in result["results"]} == {"UNKNOWN"}, result


def test_a_second_setup_snmp_changes_nothing(snmp):
    assert snmp.returncode == 0, snmp.stderr[-4000:]
    again = inv("setup-snmp")
    assert again.returncode == 0, again.stdout + again.stderr[-4000:]
    for host in HOSTS:
        row = summary_row(again.stdout, host)
        assert (row[1], row[2]) == ("ok", "0"), row


def test_no_passphrase_is_left_on_the_hosts_outside_snmpd_files(snmp):
    assert snmp.returncode == 0, snmp.stderr[-4000:]
    secrets = passphrases()
    for host in HOSTS:
        journal = on(host, "journalctl", "--no-pager", "-o", "cat").stdout
        assert not any(s in journal for s in secrets), f"a passphrase is in {host}'s journal"
        leftovers = on(host, "sh", "-c", "ls -d /tmp/tssr-kit.* 2>/dev/null").stdout
        assert leftovers == "", f"the runner's private folder is left on {host}: {leftovers}"


@pytest.fixture(scope="module")
def logging_lab(lab):
    """`inv setup-logging lab`: tssr-t2 the central server (clients: the lab network), tssr-t1 its client."""
    return inv("setup-logging", "lab")


def test_setup_logging_makes_a_central_server_and_a_client(logging_lab):
    assert logging_lab.returncode == 0, logging_lab.stdout + logging_lab.stderr[-4000:]
    assert summary_row(logging_lab.stdout, HOSTS[1])[1] in ("changed", "ok")
    assert summary_row(logging_lab.stdout, HOSTS[0])[1] in ("changed", "ok")


def test_a_message_logged_on_the_client_arrives_on_the_central_server(logging_lab):
    assert logging_lab.returncode == 0, logging_lab.stderr[-4000:]
    marker = f"tssr-lab-test-{uuid.uuid4()}"
    assert on(HOSTS[0], "logger", "-t", "tssr-labtest", marker).returncode == 0
    found = wait_for(HOSTS[1], marker)
    assert found, f"{marker} did not arrive in /var/log/remote on {HOSTS[1]} within 30 s"
    assert f"/{client_folder()}/" in found, f"not in {HOSTS[0]}'s own folder ({client_folder()}): {found}"


def client_folder() -> str:
    """tssr-t1's folder on the central: its address (the central names a folder from the address the
    connection came from, never from a name inside the message)."""
    return on(HOSTS[0], "hostname", "-I").stdout.split()[0]


def wait_for(host: str, marker: str, seconds: float = 30) -> str:
    """The files of /var/log/remote on ``host`` holding ``marker`` (waits up to ``seconds``)."""
    deadline = time.monotonic() + seconds
    found = ""
    while time.monotonic() < deadline and not found:
        found = on(host, "grep", "-rl", "--", marker, "/var/log/remote").stdout.strip()
        time.sleep(0.5)
    return found


def test_over_tls_a_message_arrives_and_the_key_is_root_only_on_the_server(logging_lab, tmp_path):
    assert logging_lab.returncode == 0, logging_lab.stderr[-4000:]
    tls = {name: str(path) for name, path in make_pki(tmp_path, HOSTS[1]).items()}
    server = inv("setup-logging", "server", "--tls", "--ca", tls["ca.pem"], "--cert", tls["server.pem"],
                 "--key", tls["server.key"])
    assert server.returncode == 0, server.stdout + server.stderr[-4000:]
    client = inv("setup-logging", "client", "--tls", "--ca", tls["ca.pem"])
    assert client.returncode == 0, client.stdout + client.stderr[-4000:]
    assert on(HOSTS[0], "grep", "-q", 'port="6514"', "/etc/rsyslog.d/60-tssr-forward.conf").returncode == 0
    keys = on(HOSTS[1], "sh", "-c", "stat -c '%U %a %n' /etc/tssr-kit/syslog/tls/*key*").stdout.split("\n")
    assert keys and all(line.startswith("root 600 ") for line in keys if line), keys
    marker = f"tssr-lab-tls-{uuid.uuid4()}"
    assert on(HOSTS[0], "logger", "-t", "tssr-labtest", marker).returncode == 0
    found = wait_for(HOSTS[1], marker)
    assert f"/{client_folder()}/" in found, \
        f"{marker} did not arrive over TLS in {HOSTS[0]}'s folder: {found!r}"


def test_check_prints_one_row_per_host_and_check(lab):
    proc = inv("check", "--check", "disk --path / -w 100 -c 100", "--check", "service ssh.service")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for host in HOSTS:
        rows = [re.split(r"\s{2,}", line) for line in proc.stdout.splitlines() if line.startswith(host + " ")]
        assert [(r[1], r[2]) for r in rows] == [("disk --path / -w 100 -c 100", "OK"),
                                               ("service ssh.service", "OK")], rows
        assert rows[1][3].startswith("SERVICE OK - ssh.service is active"), rows[1]
    assert proc.stdout.strip().splitlines()[-1] == "4 check(s): 4 OK"


def test_check_exits_with_the_worst_state(lab):
    proc = inv("check", "--hosts", HOSTS[0], "--check", "service no-such-unit.service", "--check", "memory")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    rows = [re.split(r"\s{2,}", line) for line in proc.stdout.splitlines() if line.startswith(HOSTS[0] + " ")]
    assert [(r[1], r[2]) for r in rows][0] == ("service no-such-unit.service", "CRITICAL"), rows
    assert rows[1][1] == "memory" and rows[1][2] in ("OK", "WARNING", "CRITICAL"), rows


def test_check_reads_the_age_of_a_backup_made_by_inv_backup(lab):
    made = inv("backup", "--hosts", HOSTS[0], "--job", "monitoring", "--source", "/etc/hostname")
    try:
        assert made.returncode == 0, made.stdout + made.stderr[-4000:]
        proc = inv("check", "--hosts", HOSTS[0], "--check", "backup --job monitoring -w 1 -c 2")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        row = summary_row(proc.stdout, HOSTS[0])
        assert (row[1], row[2]) == ("backup --job monitoring -w 1 -c 2", "OK"), row
        assert row[3].startswith("BACKUP OK - last good backup monitoring-"), row
    finally:
        on(HOSTS[0], "rm", "-rf", "/var/backups/tssr-kit/monitoring")
