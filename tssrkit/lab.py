"""The local lab: containers ``tssr-lab1`` … ``tssr-labN`` that behave like small Debian servers.

Each lab host boots systemd and sshd from ``tssr-kit/node:<distro>`` and publishes SSH, HTTP, HTTPS and
SNMP (161/udp, for ``inv poll``) on 127.0.0.1 ports chosen by Docker. The lab keeps its state in the
git-ignored ``.tssr/lab/``:

- ``id_ed25519`` — the key the lab generates; its public half is the only way into the ``tssr``
  account (password logins are off);
- ``known_hosts`` — each host's own SSH host key, read from the container, so connections are checked
  strictly (no "trust on first use");
- ``ssh_config`` — one ``Host tssr-labN`` block per host, usable as it is by ``ssh -F``, Fabric and
  Testinfra (``--ssh-config``).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tssrkit import containers, images
from tssrkit.containers import docker
from tssrkit.paths import STATE

log = logging.getLogger(__name__)

# TSSR_LAB names another, separate lab (the tests use one so that they never touch yours).
PREFIX = os.environ.get("TSSR_LAB", "tssr-lab")
NETWORK = PREFIX
LAB_STATE = STATE / PREFIX
LABEL = "org.tssr-kit.lab"            # value: the lab's name (PREFIX)
DISTRO_LABEL = "org.tssr-kit.distro"
LAB_USER = "tssr"
# label -> the container's port/protocol, each published on a 127.0.0.1 port chosen by Docker.
PORTS = {"ssh": "22/tcp", "http": "80/tcp", "https": "443/tcp", "snmp": "161/udp"}
KEY = LAB_STATE / "id_ed25519"
KNOWN_HOSTS = LAB_STATE / "known_hosts"
SSH_CONFIG = LAB_STATE / "ssh_config"


@dataclass(frozen=True)
class LabHost:
    """One lab container as seen from the machine running the kit."""

    name: str
    state: str
    distro: str
    ports: dict[str, int]          # ssh/http/https/snmp -> port on 127.0.0.1

    def url(self, scheme: str = "https") -> str:
        port = self.ports.get(scheme)
        return f"{scheme}://127.0.0.1:{port}/" if port else ""


def host_name(index: int) -> str:
    return f"{PREFIX}{index}"


def ensure_key() -> Path:
    """Generate the lab's SSH key once (ed25519, no passphrase: a lab key, never used elsewhere)."""
    LAB_STATE.mkdir(parents=True, exist_ok=True)
    LAB_STATE.chmod(0o700)
    if not KEY.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tssr-kit-lab", "-f", str(KEY)],
                       check=True)
    return KEY


def _published_ports(name: str) -> dict[str, int]:
    proc = docker("inspect", "--format", "{{json .NetworkSettings.Ports}}", name, check=False)
    if proc.returncode != 0 or not proc.stdout.strip() or proc.stdout.strip() == "null":
        return {}
    bindings = json.loads(proc.stdout)
    ports: dict[str, int] = {}
    for label, inner in PORTS.items():
        for binding in bindings.get(inner) or []:
            ports[label] = int(binding["HostPort"])
    return ports


def hosts() -> list[LabHost]:
    """Every lab container (running or not), sorted by number."""
    proc = docker("ps", "--all", "--filter", f"label={LABEL}={PREFIX}",
                  "--format", '{{.Names}}\t{{.State}}\t{{.Label "' + DISTRO_LABEL + '"}}', check=False)
    found = []
    for line in proc.stdout.splitlines():
        name, state, distro = (line.split("\t") + ["", ""])[:3]
        found.append(LabHost(name, state, distro, _published_ports(name) if state == "running" else {}))
    return sorted(found, key=lambda h: int(h.name.removeprefix(PREFIX) or 0))


def missing_ports(host: LabHost) -> list[str]:
    """The published ports a running lab host lacks (``["snmp"]`` for a host of an older lab)."""
    if host.state != "running":
        return []
    return [f"{label} ({inner})" for label, inner in PORTS.items() if label not in host.ports]


def network_gateway() -> str:
    """The lab network's gateway: the address the lab hosts see the machine running the kit as.

    Traffic from 127.0.0.1 to a published port reaches a lab host from this address (Docker's proxy
    sends it from the network's gateway), so a firewall rule on a lab host allows this address.
    """
    proc = docker("network", "inspect", "--format", "{{range .IPAM.Config}}{{.Gateway}} {{end}}", NETWORK,
                  check=False)
    gateways = proc.stdout.split()
    if proc.returncode != 0 or not gateways:
        raise ValueError(f"no lab network {NETWORK}: start the lab with `inv lab.up`")
    return gateways[0]


def network_subnet() -> str:
    """The lab network's IPv4 subnet (``172.18.0.0/16``): where the lab hosts talk to each other from."""
    proc = docker("network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", NETWORK,
                  check=False)
    subnets = [s for s in proc.stdout.split() if "." in s]
    if proc.returncode != 0 or not subnets:
        raise ValueError(f"no lab network {NETWORK}: start the lab with `inv lab.up`")
    return subnets[0]


def running_names() -> set[str]:
    """Names of the running lab containers (one `docker ps`, no port look-ups)."""
    proc = docker("ps", "--filter", f"label={LABEL}={PREFIX}", "--filter", "status=running",
                  "--format", "{{.Names}}", check=False)
    return set(proc.stdout.split())


def _ensure_network() -> None:
    if docker("network", "inspect", NETWORK, check=False).returncode != 0:
        docker("network", "create", NETWORK)


def _authorize(name: str, public_key: str) -> None:
    script = (f"install -d -m 0700 -o {LAB_USER} -g {LAB_USER} /home/{LAB_USER}/.ssh && "
              f"cat > /home/{LAB_USER}/.ssh/authorized_keys && "
              f"chown {LAB_USER}:{LAB_USER} /home/{LAB_USER}/.ssh/authorized_keys && "
              f"chmod 0600 /home/{LAB_USER}/.ssh/authorized_keys")
    docker("exec", "-i", name, "sh", "-c", script, input_text=public_key)


def _host_key(name: str, timeout: float = 30.0) -> str:
    """The container's ed25519 host key, once sshd has generated it and is active."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if docker("exec", name, "systemctl", "is-active", "--quiet", "ssh", check=False).returncode == 0:
            proc = docker("exec", name, "cat", "/etc/ssh/ssh_host_ed25519_key.pub", check=False)
            if proc.returncode == 0:
                return " ".join(proc.stdout.split()[:2])
        time.sleep(0.3)
    raise TimeoutError(f"{name}: sshd did not start in {timeout:.0f} s")


def write_ssh_files(lab_hosts: list[LabHost], host_keys: dict[str, str]) -> None:
    """Write ``ssh_config`` and ``known_hosts`` for the running lab hosts."""
    blocks, known = [], []
    for host in lab_hosts:
        port = host.ports.get("ssh")
        if not port:
            continue
        blocks.append(
            f"Host {host.name}\n"
            f"    HostName 127.0.0.1\n"
            f"    Port {port}\n"
            f"    User {LAB_USER}\n"
            f"    IdentityFile {KEY}\n"
            f"    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {KNOWN_HOSTS}\n"
            f"    StrictHostKeyChecking yes\n"
            f"    LogLevel ERROR\n"
            # One SSH connection per host, reused for 60 s by every `ssh -F` command (Testinfra's ssh
            # backend runs one per check): no handshake per command. Paramiko (Fabric) ignores these.
            f"    ControlMaster auto\n"
            f"    ControlPath /tmp/tssr-ssh-%C\n"
            f"    ControlPersist 60s\n"
        )
        if host.name in host_keys:
            known.append(f"[127.0.0.1]:{port} {host_keys[host.name]}")
    SSH_CONFIG.write_text("# Written by `inv lab.up`: the local lab's hosts.\n\n" + "\n".join(blocks))
    KNOWN_HOSTS.write_text("\n".join(known) + ("\n" if known else ""))


def _read_host_keys() -> dict[str, str]:
    """Host keys recorded by an earlier ``lab.up``, by lab host name (from ssh_config + known_hosts)."""
    if not (SSH_CONFIG.exists() and KNOWN_HOSTS.exists()):
        return {}
    by_port = {}
    for line in KNOWN_HOSTS.read_text().splitlines():
        target, _, key = line.partition(" ")
        if target.startswith("[127.0.0.1]:"):
            by_port[int(target.rsplit(":", 1)[1])] = key
    keys = {}
    for host in hosts():
        port = host.ports.get("ssh")
        if port in by_port:
            keys[host.name] = by_port[port]
    return keys


def up(count: int = 1, distro: str = images.DEFAULT_DISTRO) -> list[LabHost]:
    """Start lab hosts 1…count (existing ones are kept), wait for systemd and sshd; return them."""
    if distro not in images.DISTROS:
        raise ValueError(f"unknown distro {distro!r}: choose from {', '.join(images.DISTROS)}")
    if count < 1:
        raise ValueError("count must be at least 1")
    image = images.ensure([distro])[0]
    public_key = ensure_key().with_suffix(".pub").read_text()
    _ensure_network()
    existing = {h.name: h for h in hosts()}
    other = sorted({h.distro for h in existing.values()} - {distro})
    if other:
        log.warning("the lab already runs %s hosts; they are kept (`inv lab.down` first to change)",
                    ", ".join(other))
    host_keys = _read_host_keys()
    for host in existing.values():
        missing = missing_ports(host)
        if missing:
            log.warning("%s was started without %s published on 127.0.0.1 (an older lab); Docker cannot "
                        "add a port to a container: `inv lab.down && inv lab.up` recreates the lab "
                        "(its hosts are wiped)", host.name, ", ".join(missing))
    started = []
    for index in range(1, count + 1):
        name = host_name(index)
        if name in existing and existing[name].state != "running":
            docker("start", name)
        elif name not in existing:
            publish = [arg for inner in PORTS.values() for arg in ("--publish", f"127.0.0.1::{inner}")]
            containers.run_node(image, name, "--network", NETWORK, *publish,
                                labels={LABEL: PREFIX, DISTRO_LABEL: distro})
            started.append(name)
    for index in range(1, count + 1):
        name = host_name(index)
        containers.wait_booted(name)
        if name in started or name not in host_keys:
            _authorize(name, public_key)
        host_keys[name] = _host_key(name)
    current = hosts()
    write_ssh_files(current, host_keys)
    return [h for h in current if int(h.name.removeprefix(PREFIX)) <= count]


def down() -> list[str]:
    """Remove every lab container (and the lab network); return the names removed."""
    removed = []
    for host in hosts():
        containers.remove(host.name)
        removed.append(host.name)
    docker("network", "rm", NETWORK, check=False)
    if SSH_CONFIG.exists():
        SSH_CONFIG.unlink()
    if KNOWN_HOSTS.exists():
        KNOWN_HOSTS.unlink()
    return removed


def status_table(lab_hosts: list[LabHost]) -> str:
    """A table of lab hosts and their ports on 127.0.0.1."""
    if not lab_hosts:
        return "no lab host: start one with `inv lab.up`"
    rows = [("host", "state", "distro", "ssh", "http", "https", "snmp (udp)")]
    for h in lab_hosts:
        rows.append((h.name, h.state, h.distro,
                     *(f"127.0.0.1:{h.ports[p]}" if p in h.ports else "-" for p in PORTS)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"\nssh -F {SSH_CONFIG} {lab_hosts[0].name}")
    return "\n".join(lines)
