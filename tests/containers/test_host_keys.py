"""Host keys, for real: `inv` against a real sshd in a container, reached on a 127.0.0.1 port.

The host is *not* a lab host (it is given as ``tssr@127.0.0.1:PORT``), so the operator's own
known_hosts files apply: ``HOME`` is a fresh folder per test (its ``.ssh`` holds only the client key),
so nothing of the machine's ``~/.ssh`` is read or written. /etc/ssh/ssh_config of this machine still
applies, as it would for the operator (Debian's says ``HashKnownHosts yes``): the recorded lines are
read back with paramiko, which understands both forms.

"Nothing ran on the host" is checked three ways: sshd's own log (LogLevel VERBOSE) shows no public
key offered for the connection — a refused host key stops the client before authentication —, the
user the CSV would create does not exist, and the known_hosts files are as they were.

Each test gets its own container (sshd started by hand: no systemd needed), on Debian 12 and 13.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import invlib
import pytest
from containerlib import Node, Platform, start_plain_node, stop_node
from paramiko import HostKeys, PKey

from tssrkit import hostkeys

pytestmark = pytest.mark.containers

SSHD_LOG = "/var/log/tssr-test-sshd.log"
# Started by hand: host keys, the account `tssr` (password-less sudo in the image) with the test's key.
START_SSHD = f"""
rm -f /etc/ssh/ssh_host_*
ssh-keygen -A >/dev/null
mkdir -p /run/sshd /home/tssr/.ssh
cat > /home/tssr/.ssh/authorized_keys
chown -R tssr: /home/tssr/.ssh && chmod 700 /home/tssr/.ssh && chmod 600 /home/tssr/.ssh/authorized_keys
/usr/sbin/sshd -E {SSHD_LOG} -o LogLevel=VERBOSE
"""
# A new host key: what a reinstalled host, or a machine in the middle, shows. (The old sshd stays a
# zombie: PID 1 is `sleep`, which reaps nothing. The new one starts once the port is free.)
NEW_HOST_KEYS = f"""
pkill -x sshd
rm -f /etc/ssh/ssh_host_*
ssh-keygen -A >/dev/null
for _ in $(seq 100); do
    /usr/sbin/sshd -E {SSHD_LOG} -o LogLevel=VERBOSE && exit 0
    sleep 0.1
done
exit 1
"""


@dataclass
class Host:
    node: Node
    port: int

    @property
    def spec(self) -> str:
        return f"tssr@127.0.0.1:{self.port}"

    @property
    def name(self) -> str:
        """How known_hosts names it."""
        return f"[127.0.0.1]:{self.port}"

    def key(self) -> PKey:
        """The host's ed25519 key (what paramiko is offered first)."""
        text = self.node.read("/etc/ssh/ssh_host_ed25519_key.pub").split()
        return PKey.from_type_string(text[0], base64.b64decode(text[1]))

    def authentications(self) -> list[str]:
        """The lines of sshd's log where a client offered or used a key: none when it never got that far."""
        log = self.node.read(SSHD_LOG)
        return [line for line in log.splitlines() if "publickey" in line or "Accepted key" in line]

    def has_user(self, login: str) -> bool:
        return self.node.exec("getent", "passwd", login).returncode == 0


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("client")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tssr-test", "-f",
                    str(folder / "id_ed25519")], check=True)
    return folder / "id_ed25519"


@pytest.fixture
def host(platform: Platform, client_key: Path) -> Iterator[Host]:
    public = client_key.with_suffix(".pub").read_bytes()
    node = start_plain_node(platform, "tssr-test-hostkeys", extra=("--publish", "127.0.0.1::22"),
                            prepare=lambda n: _checked(n.exec("sh", "-c", START_SSHD, stdin=public)))
    try:
        port = int(subprocess.run(["docker", "port", node.name, "22/tcp"], capture_output=True, text=True,
                                  check=True).stdout.split(":")[-1])
        yield Host(node, port)
    finally:
        stop_node(node)


def _checked(proc: subprocess.CompletedProcess[bytes]) -> None:
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")


@pytest.fixture
def home(tmp_path: Path, client_key: Path) -> Path:
    """A HOME of the operator's: ~/.ssh holds the client key and nothing else."""
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True, mode=0o700)
    (ssh / "id_ed25519").write_bytes(client_key.read_bytes())
    (ssh / "id_ed25519").chmod(0o600)
    return tmp_path / "home"


def inv(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`inv` with ``home`` as HOME: the key there, not an agent's."""
    return invlib.inv(*args, timeout=300, HOME=str(home), SSH_AUTH_SOCK=None)


def provision(home: Path, host: Host, csv: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return inv(home, "provision-users", "--hosts", host.spec, "--csv", str(csv), *options)


@pytest.fixture
def users_csv(tmp_path: Path) -> Path:
    path = tmp_path / "users.csv"
    path.write_text("login;first_name;last_name\nhkuser;Host;Key\n")
    return path


def recorded(path: Path) -> HostKeys:
    keys = HostKeys()
    keys.load(str(path))
    return keys


def output(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


def test_unknown_host_key_is_refused_and_nothing_runs_on_the_host(host: Host, home: Path,
                                                                  users_csv: Path) -> None:
    proc = provision(home, host, users_csv)
    assert proc.returncode == 1, output(proc)
    text = output(proc)
    assert "unknown host key" in text and hostkeys.fingerprint(host.key()) in text, text
    assert "--accept-new-host-key" in text, "the refusal does not say how to accept the key"
    assert host.authentications() == [], "the client authenticated to a host whose key it refused"
    assert not host.has_user("hkuser")
    assert not (home / ".ssh" / "known_hosts").exists(), "an unknown key was recorded without being asked"


def test_a_known_hosts_file_that_knows_another_host_does_not_vouch_for_this_one(
        host: Host, home: Path, users_csv: Path, tmp_path: Path) -> None:
    other = tmp_path / "known_hosts"
    other.write_text(f"[127.0.0.1]:{host.port + 1} {host.key().get_name()} {host.key().get_base64()}\n")
    proc = provision(home, host, users_csv, "--known-hosts", str(other))
    assert proc.returncode == 1, output(proc)
    assert "unknown host key" in output(proc)
    assert host.authentications() == []
    assert not host.has_user("hkuser")


def test_accepting_a_new_key_records_it_and_the_next_run_needs_no_flag(
        host: Host, home: Path, users_csv: Path, tmp_path: Path) -> None:
    known = tmp_path / "fleet_known_hosts"
    first = provision(home, host, users_csv, "--accept-new-host-key", "--known-hosts", str(known))
    assert first.returncode == 0, output(first)
    assert host.has_user("hkuser")
    assert recorded(known).check(host.name, host.key()), known.read_text()
    assert len(known.read_text().splitlines()) == 1
    assert oct(known.stat().st_mode & 0o777) == "0o600"
    # Another task, without the flag: the recorded key vouches for the host. (Its exit code is the
    # worst check's, which the machine's load decides: what matters is that it ran the checks.)
    second = inv(home, "check", "--check", "disk", "--hosts", host.spec, "--known-hosts", str(known))
    assert "unknown host key" not in output(second) and "DISK " in second.stdout, output(second)
    assert len(known.read_text().splitlines()) == 1, "the known key was recorded again"


def test_accepting_without_a_file_records_in_the_users_known_hosts(host: Host, home: Path,
                                                                   users_csv: Path) -> None:
    first = provision(home, host, users_csv, "--accept-new-host-key", "--dry-run")
    assert first.returncode == 0, output(first)
    known = home / ".ssh" / "known_hosts"
    assert recorded(known).check(host.name, host.key())
    second = provision(home, host, users_csv)
    assert second.returncode == 0, output(second)
    assert host.has_user("hkuser")


def test_changed_host_key_is_refused_even_with_the_flag(host: Host, home: Path, users_csv: Path,
                                                        tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    assert provision(home, host, users_csv, "--accept-new-host-key", "--known-hosts", str(known),
                     "--dry-run").returncode == 0
    before = known.read_bytes()
    old = host.key()
    _checked(host.node.exec("sh", "-c", NEW_HOST_KEYS))
    seen = len(host.authentications())
    proc = provision(home, host, users_csv, "--accept-new-host-key", "--known-hosts", str(known))
    assert proc.returncode == 1, output(proc)
    text = output(proc)
    assert "CHANGED" in text
    assert hostkeys.fingerprint(host.key()) in text and hostkeys.fingerprint(old) in text
    assert "ssh-keygen -R" in text, "the refusal does not say how to drop the old key"
    assert len(host.authentications()) == seen, "the client authenticated to a host whose key changed"
    assert not host.has_user("hkuser")
    assert known.read_bytes() == before, "the changed key was recorded"


@pytest.mark.parametrize("task", [
    pytest.param(("check",), id="check"),
    pytest.param(("backup-status",), id="backup-status"),
    pytest.param(("provision-users", "--dry-run"), id="provision-users"),
    pytest.param(("setup-logging", "client", "--server", "127.0.0.1", "--dry-run"), id="setup-logging"),
])
def test_every_task_that_connects_refuses_an_unknown_host(host: Host, home: Path,
                                                          task: tuple[str, ...]) -> None:
    proc = inv(home, *task, "--hosts", host.spec)
    assert proc.returncode != 0, output(proc)
    assert "unknown host key" in output(proc)
    assert host.authentications() == []
    assert not (home / ".ssh" / "known_hosts").exists()


def test_ssh_config_accept_new_and_its_known_hosts_file_are_honoured(host: Host, home: Path,
                                                                      users_csv: Path) -> None:
    (home / ".ssh" / "config").write_text(
        "Host 127.0.0.1\n    StrictHostKeyChecking accept-new\n    UserKnownHostsFile ~/.ssh/kit_%p\n")
    proc = provision(home, host, users_csv, "--dry-run")
    assert proc.returncode == 0, output(proc)
    known = home / ".ssh" / f"kit_{host.port}"
    assert recorded(known).check(host.name, host.key())
    assert not (home / ".ssh" / "known_hosts").exists()


def test_a_revoked_key_is_never_accepted(host: Host, home: Path, users_csv: Path, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"@revoked * {host.key().get_name()} {host.key().get_base64()}\n")
    proc = provision(home, host, users_csv, "--accept-new-host-key", "--known-hosts", str(known))
    assert proc.returncode == 1, output(proc)
    assert "@revoked" in output(proc)
    assert host.authentications() == []
    assert not host.has_user("hkuser")
    assert len(known.read_text().splitlines()) == 1
