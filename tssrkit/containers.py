"""How a container is made to behave like a small server (systemd as PID 1).

One place for the ``docker run`` options used by the lab and the container tests; Molecule's
``molecule/*/molecule.yml`` spell the same options in YAML (see docs/explanation/containers.md).
"""

from __future__ import annotations

import subprocess
import time

from tssrkit import pkgcache

# --privileged fails on the machines we test on; these are the least that systemd needs.
SYSTEMD_RUN_ARGS: tuple[str, ...] = (
    "--cap-add", "SYS_ADMIN",          # systemd mounts its own cgroup and tmpfs hierarchy
    "--cap-add", "NET_ADMIN",          # so that firewall scripts (nftables) can be tested
    "--volume", "/sys/fs/cgroup:/sys/fs/cgroup:ro",
    "--tmpfs", "/run",
    "--tmpfs", "/run/lock",
    "--tmpfs", "/tmp",
    # journald hands syslog messages to rsyslog through a datagram socket whose queue holds 10 by
    # default: a burst is dropped there, before any forwarding. setup-logging.sh raises it on a server
    # (sysctl.d); in a container /proc/sys is read-only, so the container starts with it.
    "--sysctl", "net.unix.max_dgram_qlen=512",
)


def docker(*args: str, check: bool = True, input_text: str | None = None) -> subprocess.CompletedProcess:
    """Run the docker CLI with an argv list and return the completed process (text mode)."""
    return subprocess.run(
        ["docker", *args], check=check, capture_output=True, text=True, input=input_text
    )


def run_node(image: str, name: str, *extra: str, labels: dict[str, str] | None = None) -> str:
    """Start a systemd container from ``image`` and return its id (does not wait for boot). It
    downloads its packages through the kit's cache (:mod:`tssrkit.pkgcache`) when there is one."""
    label_args: list[str] = []
    for key, value in (labels or {}).items():
        label_args += ["--label", f"{key}={value}"]
    network = extra[extra.index("--network") + 1] if "--network" in extra else None
    proc = docker("run", "--detach", "--name", name, "--hostname", name,
                  *SYSTEMD_RUN_ARGS, *label_args, *pkgcache.run_args(network), *extra, image)
    return proc.stdout.strip()


def wait_booted(container: str, timeout: float = 60.0) -> str:
    """Wait until systemd in ``container`` reports running or degraded; return that state.

    Right after start ``systemctl`` cannot reach the bus yet, so failures are retried.
    """
    deadline = time.monotonic() + timeout
    state = "unknown"
    while time.monotonic() < deadline:
        proc = docker("exec", container, "systemctl", "is-system-running", check=False)
        state = proc.stdout.strip() or "unknown"
        if state in ("running", "degraded"):
            return state
        time.sleep(0.3)
    raise TimeoutError(f"{container}: systemd did not finish booting in {timeout:.0f} s (state: {state})")


def remove(container: str) -> None:
    """Remove one container by name or id (ours only: callers pass what they created)."""
    docker("rm", "--force", "--volumes", container, check=False)
