"""Bad input refused through `inv` by the script itself, on a lab host: exit 2, and nothing changed.

tssrkit's job modules check only what this machine alone can know (a local file, the options that
decide what goes up); every other check is the script's own, which runs on every host before any
change. Each case below is a check tssrkit.jobs made before and the script makes now: `inv TASK
--hosts tssr-t1 BAD` must exit 2 with the script's message, and leave the host as it was — its /etc,
/srv, /opt, the kit's state and backups, the remote logs, the packages, the firewall, the units
enabled at boot. One case runs two jobs (`inv setup-logging lab`: the central server, then its
clients): a client's refusal must leave the central untouched too.

Same separate lab as the other lab tests (TSSR_LAB=tssr-t, same xdist group); like test_lab_lamp.py,
the module removes the lab when it started it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from lablib import HOST, HOSTS, STATE, inv, on, running_lab
from snapshots import assert_nothing_changed, host_state_script, parse_snapshot

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab"), pytest.mark.slow]

STATE_PATHS = ("/etc", "/srv", "/opt", "/home", "/var/lib/tssr-kit", "/var/backups", "/var/log/remote",
               "/usr/local/lib/tssr-kit")
SNAPSHOT = host_state_script(STATE_PATHS) + (
    "printf '=== enabled units\\n'; systemctl list-unit-files --state=enabled --no-legend --no-pager "
    "| LC_ALL=C sort\n")
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

# (task and its arguments, what the script says). {tmp}: a folder of this machine with the files below.
CASES = {
    # deploy-lamp.sh
    "lamp-no-app": (("deploy-lamp", "--app", ""), "--app: missing"),
    "lamp-rollback-without-a-name": (("deploy-lamp", "--rollback", "--app", ""),
                                     "--name: needed with --rollback when --app is not given"),
    "lamp-cert-without-key": (("deploy-lamp", "--cert", "{tmp}/cert.pem"), "--cert and --key go together"),
    "lamp-key-without-cert": (("deploy-lamp", "--key", "{tmp}/cert.pem"), "--cert and --key go together"),
    "lamp-a-zip-as-app": (("deploy-lamp", "--app", "{tmp}/parc.zip"),
                          "is neither a folder nor a .tar, .tar.gz or .tgz file"),
    # deploy-java.sh
    "java-jar-and-war": (("deploy-java", "--jar", "{tmp}/app.jar", "--war", "{tmp}/app.war"),
                         "--jar and --war: give one of them"),
    "java-rollback-with-an-archive": (("deploy-java", "--rollback", "--jar", "{tmp}/app.jar"),
                                      "--rollback goes back to a release already on the host"),
    "java-cert-without-key": (("deploy-java", "--jar", "{tmp}/app.jar", "--cert", "{tmp}/cert.pem"),
                              "--cert and --key go together"),
    "java-port-zero": (("deploy-java", "--jar", "{tmp}/app.jar", "--port", "0"), "--port: '0' is not a port"),
    # backup.sh
    "backup-job-name": (("backup", "--job", "Web"), "--job: 'Web' is not a valid job name"),
    "backup-job-too-long": (("backup", "--job", "a" * 41), "is not a valid job name"),
    "backup-relative-source": (("backup", "--source", "srv/data"), "--source: 'srv/data' is not an absolute"),
    "backup-relative-dest": (("backup", "--dest", "backups"), "--dest: 'backups' must be an absolute folder"),
    "backup-relative-key": (("backup", "--encrypt-key", "backup.pass"), "--encrypt-key: 'backup.pass'"),
    "backup-keep-last-zero": (("backup", "--keep-last", "0"), "--keep-last: '0' is not a whole number"),
    "backup-keep-daily-negative": (("backup", "--keep-daily=-1"), "--keep-daily: '-1' is not a whole number"),
    "backup-keep-last-not-a-number": (("backup", "--keep-last", "x"),
                                      "--keep-last: 'x' is not a whole number"),
    "backup-compress": (("backup", "--compress", "xz"), "--compress: 'xz' is not zstd or gzip"),
    "backup-host-key-of-a-local-dest": (("backup", "--dest-host-key", "ssh-ed25519 AAAA"),
                                        "--host-key, --known-hosts: only for a remote --dest"),
    "backup-relative-known-hosts": (("backup", "--dest", "ssh://nas/b", "--dest-known-hosts", "known_hosts"),
                                    "--known-hosts: 'known_hosts' must be an absolute path"),
    "backup-status-job-name": (("backup-status", "--job", "Web"), "--job: 'Web' is not a valid job name"),
    # restore.sh
    "restore-nothing": (("restore",), "what to restore: give --files"),
    "restore-two-things": (("restore", "--target", "/r", "--mysql-db", "parc"), "give one of --files"),
    "restore-relative-target": (("restore", "--target", "restore"),
                                "--target: 'restore' must be an absolute"),
    # (A leading / is allowed: restore.sh reads --path /srv/data as srv/data, docs/reference/backup.md.)
    "restore-member-with-dot": (("restore", "--target", "/r", "--path", "srv/./data"),
                                "--path: 'srv/./data' must be a path relative to /"),
    "restore-member-with-dotdot": (("restore", "--target", "/r", "--path", "srv/../etc"),
                                   "--path: 'srv/../etc'"),
    "restore-path-without-target": (("restore", "--mysql-db", "parc", "--path", "srv"),
                                    "--target, --path, --in-place and --keep-setuid go with --files"),
    "restore-in-place-without-target": (("restore", "--mysql-db", "parc", "--in-place"), "go with --files"),
    "restore-keep-setuid-without-target": (("restore", "--mysql-db", "parc", "--keep-setuid"),
                                           "go with --files"),
    "restore-into-with-globals": (("restore", "--postgres-globals", "--into", "x"),
                                  "--into and --replace go with --mysql-db or --postgres-db"),
    "restore-into-with-files": (("restore", "--target", "/r", "--into", "x"), "--into and --replace go with"),
    "restore-host-key-of-a-local-dest": (("restore", "--target", "/r", "--dest-host-key", "ssh-ed25519 AAAA"),
                                         "only for a remote --dest"),
    "restore-host-key-and-known-hosts": (("restore", "--target", "/r", "--dest", "ssh://nas/b",
                                          "--dest-known-hosts", "/k", "--dest-host-key", "ssh-ed25519 AAAA"),
                                         "--host-key and --known-hosts: give one or the other"),
    "restore-set-name": (("restore", "--target", "/r", "--set", "yesterday"), "--set: 'yesterday' is not"),
    "restore-job-name": (("restore", "--target", "/r", "--job", "Web"),
                         "--job: 'Web' is not a valid job name"),
    # setup-snmp.sh (monitor: the lab's gateway)
    "snmp-monitor-name": (("setup-snmp", "--monitor", "monitoring.example.org"),
                          "--monitor: 'monitoring.example.org' is not an IPv4/IPv6 address or network"),
    "snmp-monitor-prefix": (("setup-snmp", "--monitor", "10.0.0.0/33"), "--monitor: '10.0.0.0/33'"),
    "snmp-listen-network": (("setup-snmp", "--listen", "10.0.0.0/24"),
                            "--listen: '10.0.0.0/24' is not an IPv4 or IPv6 address"),
    "snmp-listen-name": (("setup-snmp", "--listen", "nowhere"), "--listen: 'nowhere' is not an IPv4"),
    "snmp-v2c-source-alone": (("setup-snmp", "--v2c-source", "10.0.0.0/24"),
                              "--v2c-community-file and --v2c-source go together"),
    "snmp-backup-job-name": (("setup-snmp", "--backup-job", "Web Site"), "--backup-job: 'Web Site' is not"),
    "snmp-passphrase-too-long": (("setup-snmp", "--credentials", "{tmp}/long.conf"), "8 to 64 characters"),
    # setup-logging.sh (with --hosts: no lab default)
    "logging-client-without-server": (("setup-logging", "client"), "--server HOST[:PORT] is required"),
    "logging-server-without-allow": (("setup-logging", "server"), "--allow CIDR is required in server mode"),
    "logging-server-option-in-client-mode": (("setup-logging", "client", "--server", "central", "--allow",
                                              "10.0.0.0/8"), "are server options"),
    "logging-client-option-in-server-mode": (("setup-logging", "server", "--allow", "10.0.0.0/8",
                                              "--queue-size", "100"), "are client options"),
    "logging-allow-prefix": (("setup-logging", "server", "--allow", "10.0.0.0/40"), "--allow: '10.0.0.0/40'"),
    "logging-server-port": (("setup-logging", "client", "--server", "central:99999"),
                            "port '99999' is not a number from 1 to 65535"),
    "logging-server-name": (("setup-logging", "client", "--server", "bad host"), "'bad host' is neither"),
    "logging-port-zero": (("setup-logging", "server", "--allow", "10.0.0.0/8", "--port", "0"),
                          "--port: '0' is not a number from 1 to 65535"),
    "logging-port-not-a-number": (("setup-logging", "server", "--allow", "10.0.0.0/8", "--port", "x"),
                                  "--port: 'x' is not a number"),
    "logging-relative-dir": (("setup-logging", "server", "--allow", "10.0.0.0/8", "--dir", "logs"),
                             "--dir: 'logs' must be an absolute path"),
    "logging-tls-without-ca": (("setup-logging", "client", "--server", "central", "--tls"),
                               "--tls needs --ca"),
    "logging-ca-without-tls": (("setup-logging", "client", "--server", "central", "--ca", "{tmp}/cert.pem"),
                               "--ca, --cert, --key and --server-name go with --tls"),
}


@pytest.fixture(scope="module")
def lab():
    with running_lab(2) as hosts:
        yield hosts


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The local files the cases give: a certificate, a zip, archives, credentials with a passphrase of
    65 characters (the poller's reader takes it; setup-snmp.sh does not)."""
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "cert.pem").write_text(PEM)
    for name in ("parc.zip", "app.jar", "app.war"):
        (folder / name).write_bytes(b"PK\x05\x06" + bytes(18))
    long = folder / "long.conf"
    long.write_text("user = tssr-monitor\nauth_protocol = sha512\nauth_passphrase = auth-passphrase-1\n"
                    f"priv_protocol = aes128\npriv_passphrase = {'p' * 65}\n")
    long.chmod(0o600)
    return folder


def snapshot(host: str) -> dict[str, str]:
    proc = on(host, "sh", "-c", SNAPSHOT)
    assert proc.returncode == 0, proc.stderr
    return parse_snapshot(proc.stdout)


def assert_refused(proc: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 2, the script's own message, and no success: the input was refused on the host."""
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-6000:]
    assert message in output, output[-6000:]


@pytest.mark.parametrize(("args", "message"), CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_by_the_script_on_the_host_and_changes_nothing(lab, inputs, args, message):
    before = snapshot(HOST)
    proc = inv(*(arg.replace("{tmp}", str(inputs)) for arg in args), "--hosts", HOST)
    assert_refused(proc, message)
    assert "failed" in proc.stdout, "the summary says the host failed"
    assert_nothing_changed(before, snapshot(HOST), proc)


def test_setup_snmp_on_a_host_outside_the_lab_needs_a_monitor_and_the_script_says_so(lab, inputs, tmp_path):
    """No lab default for a host reached by its address: setup-snmp.sh refuses the missing --monitor."""
    published = subprocess.run(["docker", "port", HOST, "22/tcp"], capture_output=True, text=True, check=True)
    ssh_port = published.stdout.split()[0].rsplit(":", 1)[1]
    host_key = on(HOST, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[:2]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{ssh_port} {' '.join(host_key)}\n")
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(f"direct ansible_host=127.0.0.1 ansible_port={ssh_port} ansible_user=tssr "
                         f"ansible_ssh_private_key_file={STATE / 'id_ed25519'}\n")
    credentials = tmp_path / "snmp.conf"
    credentials.write_text((inputs / "long.conf").read_text().replace("p" * 65, "p" * 20))
    credentials.chmod(0o600)
    before = snapshot(HOST)
    proc = inv("setup-snmp", "--inventory", str(inventory), "--credentials", str(credentials),
               "--known-hosts", str(known_hosts))
    assert_refused(proc, "--monitor: required")
    assert "direct" in proc.stdout, "the host was reached, by its address"
    assert_nothing_changed(before, snapshot(HOST), proc)


def test_a_client_refused_in_the_lab_leaves_its_central_log_server_unchanged_too(lab):
    """`inv setup-logging lab` checks the central's job and the clients' on every host before either runs:
    a client refusing --queue-size 0 stops the central's change (here a retention of 7 days) as well."""
    before = {host: snapshot(host) for host in HOSTS}
    proc = inv("setup-logging", "lab", "--queue-size", "0", "--keep-days", "7")
    assert_refused(proc, "--queue-size: '0' is not a number of MB")
    assert "not run" in proc.stdout, "the central accepted its input, and was not run"
    for host in HOSTS:
        assert_nothing_changed(before[host], snapshot(host), proc)
