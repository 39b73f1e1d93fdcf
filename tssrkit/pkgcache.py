"""The kit's package cache: one ``apt-cacher-ng`` container that every container the kit starts (the
lab, the container tests, Molecule, the benches) downloads Debian packages through.

Packages are still installed by the scripts, for real: only the downloads are shared. The cache is
pointed to by the *images'* apt configuration (``images/node.Dockerfile``: apt's
``Proxy-Auto-Detect`` asks for ``tssr-apt-cache:3142`` and goes DIRECT when no cache answers), never
by the scripts, which work the same without it.

- the container ``tssr-apt-cache`` (image ``tssr-kit/apt-cache``, ``images/apt-cache.Dockerfile``)
  runs on Docker's default bridge; its downloads live in the volume ``tssr-apt-cache``, which survives
  the container, so a second run on one machine finds them and a fresh machine fills it as it goes;
- a container on the default bridge reaches it by ``--add-host`` (:func:`run_args`); on a
  user-defined network the cache joins that network (:func:`attach`) and Docker's DNS names it, and it
  leaves it before the network is removed (:func:`remove_network`);
- ``TSSR_APT_CACHE=0`` turns it off (every container then downloads from the mirror itself); a cache
  that cannot start is a warning, never a failure: the containers go DIRECT.

``inv cache.status`` and ``inv cache.down [--purge]`` look after it by hand.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tssrkit import containers
from tssrkit.paths import STATE

log = logging.getLogger(__name__)

NAME = "tssr-apt-cache"          # the container, and the host name the images' apt asks for
VOLUME = "tssr-apt-cache"
IMAGE = "tssr-kit/apt-cache"
PORT = 3142
ENV = "TSSR_APT_CACHE"
LABEL = "org.tssr-kit.role=apt-cache"


def docker(*args: str, check: bool = True):
    return containers.docker(*args, check=check)   # containers imports this module: looked up late


def enabled() -> bool:
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "no", "off", "false")


@contextmanager
def _locked() -> Iterator[None]:
    """One process at a time starts the cache (pytest-xdist workers start together)."""
    STATE.mkdir(parents=True, exist_ok=True)
    with (STATE / "apt-cache.lock").open("w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _state() -> str:
    proc = docker("inspect", "--format", "{{.State.Status}}", NAME, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else "absent"


def _answers() -> bool:
    """apt-cacher-ng accepts connections on its port (checked from inside its container)."""
    probe = f"exec 3<>/dev/tcp/127.0.0.1/{PORT}"
    return docker("exec", NAME, "bash", "-c", probe, check=False).returncode == 0


def start() -> bool:
    """The cache running and answering (started, or created, when needed); False when it cannot be:
    then the containers download from the mirror themselves."""
    if not enabled():
        return False
    with _locked():
        state = _state()
        if state == "absent":
            if docker("image", "inspect", IMAGE, check=False).returncode != 0:
                log.warning("%s: image %s missing (`inv images` builds it): no package cache", NAME, IMAGE)
                return False
            proc = docker("run", "--detach", "--name", NAME, "--hostname", NAME, "--label", LABEL,
                          "--restart", "unless-stopped", "--volume", f"{VOLUME}:/var/cache/apt-cacher-ng",
                          IMAGE, check=False)
            if proc.returncode != 0:
                log.warning("%s did not start (%s): no package cache", NAME, proc.stderr.strip())
                return False
        elif state != "running":
            docker("start", NAME, check=False)
        deadline = time.monotonic() + 30
        while not _answers():
            if time.monotonic() > deadline:
                log.warning("%s does not answer on %d: no package cache", NAME, PORT)
                return False
            time.sleep(0.2)
    return True


@functools.cache
def bridge_address() -> str | None:
    """The cache's address on Docker's default bridge (started if needed), or None without a cache."""
    if not start():
        return None
    proc = docker("inspect", "--format", '{{(index .NetworkSettings.Networks "bridge").IPAddress}}', NAME,
                  check=False)
    return proc.stdout.strip() or None


# The networks this process put the cache on (until remove_network): attached once, not once per
# container started on them (each attach costs three docker calls).
_attached: set[str] = set()


def attach(network: str) -> None:
    """Put the cache on ``network`` (a user-defined network of the kit), where Docker's DNS names it.
    Done once per network and process."""
    if network in _attached or not start():
        return
    proc = docker("network", "connect", network, NAME, check=False)
    if proc.returncode != 0 and "already exists" not in proc.stderr:
        log.warning("%s could not join %s (%s): its containers download themselves", NAME, network,
                    proc.stderr.strip())
    else:
        _attached.add(network)


def run_args(network: str | None = None) -> list[str]:
    """What ``docker run`` needs for a container to reach the cache: on the default bridge
    (``network`` None) its address as a host name; on a user-defined network, nothing more (the cache
    joins the network)."""
    if not enabled():
        return []
    if network:
        attach(network)
        return []
    address = bridge_address()
    return ["--add-host", f"{NAME}:{address}"] if address else []


def create_network(network: str, *args: str) -> None:
    """``docker network create [ARGS] NETWORK`` with the cache on it."""
    docker("network", "create", *args, network)
    attach(network)


def remove_network(network: str) -> None:
    """Take the cache off ``network``, then remove the network (a network with a container attached
    cannot be removed). Missing network: nothing to do."""
    _attached.discard(network)
    docker("network", "disconnect", "--force", network, NAME, check=False)
    docker("network", "rm", network, check=False)


def status() -> dict[str, str]:
    """The cache's state, its volume's size and where its image comes from."""
    size = docker("run", "--rm", "--volume", f"{VOLUME}:/cache", IMAGE, "du", "-sh", "/cache",
                  check=False).stdout.split("\t")[0].strip() if _state() != "absent" else "-"
    return {"container": NAME, "state": _state(), "enabled": str(enabled()).lower(), "volume": VOLUME,
            "size": size or "-"}


def stop(purge: bool = False) -> None:
    """Remove the cache container (and, with ``purge``, its downloads)."""
    _attached.clear()
    docker("rm", "--force", NAME, check=False)
    if purge:
        docker("volume", "rm", VOLUME, check=False)
