"""Build the test images offline: debootstrap + ``docker import``, then a systemd node layer.

No container registry is reachable, so nothing is pulled:

1. ``tssr-kit/base:<distro>`` — a minimal Debian root file system made by ``debootstrap`` from the
   Debian mirror the machine already uses, imported with ``docker import``.
2. ``tssr-kit/node:<distro>`` — ``images/node.Dockerfile`` on top: systemd as PID 1, sshd, sudo,
   python3 (what the lab, the container tests and Molecule need).

Each image carries a label ``org.tssr-kit.inputs`` holding a hash of what it was built from; an image
whose label matches is kept, so a second ``inv images`` takes seconds.

RedHat family: no RPM repository is reachable here, so no image can be built. An image you have
(Rocky, Alma, CentOS Stream with systemd) is used when its name is in ``TSSR_REDHAT_IMAGE``;
otherwise every RedHat platform is reported as *not run: no image*.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tssrkit import pkgcache
from tssrkit.containers import docker
from tssrkit.paths import IMAGES

log = logging.getLogger(__name__)

LABEL = "org.tssr-kit.inputs"
RECIPE_VERSION = "1"                   # bump to force a rebuild of every base image
REDHAT_ENV = "TSSR_REDHAT_IMAGE"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class Distro:
    """A Debian release we build images for."""

    name: str       # debian12
    suite: str      # bookworm

    @property
    def base_image(self) -> str:
        return f"tssr-kit/base:{self.name}"

    @property
    def node_image(self) -> str:
        return f"tssr-kit/node:{self.name}"


DISTROS: dict[str, Distro] = {
    "debian12": Distro("debian12", "bookworm"),
    "debian13": Distro("debian13", "trixie"),
}
DEFAULT_DISTRO = "debian12"


def debian_mirror() -> str:
    """The Debian mirror to debootstrap from: ``TSSR_DEBIAN_MIRROR``, else the host's APT sources."""
    if os.environ.get("TSSR_DEBIAN_MIRROR"):
        return os.environ["TSSR_DEBIAN_MIRROR"]
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        match = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", path.read_text(), re.MULTILINE)
        if match:
            return match.group(1)
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        match = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s", legacy.read_text(), re.MULTILINE)
        if match:
            return match.group(1)
    return DEFAULT_MIRROR


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def image_label(image: str) -> str | None:
    """The inputs label of a local image, or None when the image does not exist."""
    proc = docker("image", "inspect", "--format", f'{{{{index .Config.Labels "{LABEL}"}}}}', image,
                  check=False)
    if proc.returncode != 0:
        return None
    return proc.stdout.strip()


def image_id(image: str) -> str:
    return docker("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()


def base_inputs(distro: Distro) -> str:
    return _digest(RECIPE_VERSION, distro.suite, "minbase", debian_mirror())


def build_base(distro: Distro, force: bool = False) -> bool:
    """Make ``tssr-kit/base:<distro>`` with debootstrap; return True when it was (re)built."""
    wanted = base_inputs(distro)
    if not force and image_label(distro.base_image) == wanted:
        log.info("%s is up to date", distro.base_image)
        return False
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is missing: run ./setup (or apt-get install debootstrap)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"tssr-rootfs-{distro.name}-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        log.info("debootstrap %s from %s …", distro.suite, debian_mirror())
        subprocess.run(
            ["debootstrap", "--variant=minbase", distro.suite, str(rootfs), debian_mirror()],
            check=True, stdout=subprocess.DEVNULL,
        )
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "import", "--change", f"LABEL {LABEL}={wanted}", "--change", 'CMD ["/bin/bash"]',
             "-", distro.base_image],
            stdin=tar.stdout, check=True, stdout=subprocess.DEVNULL,
        )
        if tar.stdout is not None:
            tar.stdout.close()
        if tar.wait() != 0:
            raise RuntimeError(f"tar of the {distro.suite} root file system failed")
    log.info("built %s in %.0f s", distro.base_image, time.monotonic() - started)
    return True


def build_from_base(distro: Distro, image: str, dockerfile: str, force: bool = False) -> bool:
    """Make ``image`` from ``images/<dockerfile>`` on the distro's base; return True when it was
    (re)built. Its label is a hash of the base image and the Dockerfile: a match is kept."""
    wanted = _digest(image_id(distro.base_image), (IMAGES / dockerfile).read_text())
    if not force and image_label(image) == wanted:
        log.info("%s is up to date", image)
        return False
    started = time.monotonic()
    proc = subprocess.run(
        ["docker", "build", "--quiet", "--build-arg", f"BASE={distro.base_image}",
         "--label", f"{LABEL}={wanted}", "--tag", image, "--file", str(IMAGES / dockerfile), str(IMAGES)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"docker build of {image} failed:\n{proc.stderr}")
    log.info("built %s in %.0f s", image, time.monotonic() - started)
    return True


def node_image_problem(distro: Distro) -> str | None:
    """Why ``tssr-kit/node:<distro>`` cannot be used as this checkout's image, or None when it can:
    missing, or built from other inputs (another checkout's ``inv images`` overwrote the tag)."""
    image = distro.node_image
    label = image_label(image)
    if label is None:
        return f"{image} is missing: run `inv images` first"
    base_label = image_label(distro.base_image)
    if base_label != base_inputs(distro):
        return f"{distro.base_image} was built from other inputs than this checkout's: run `inv images`"
    if label != _digest(image_id(distro.base_image), (IMAGES / "node.Dockerfile").read_text()):
        return (f"{image} was built from another images/node.Dockerfile than this checkout's "
                "(another checkout ran `inv images`?): run `inv images`")
    return None


def build_node(distro: Distro, force: bool = False) -> bool:
    """Make ``tssr-kit/node:<distro>`` from the base; return True when it was (re)built."""
    return build_from_base(distro, distro.node_image, "node.Dockerfile", force=force)


def build_apt_cache(force: bool = False) -> bool:
    """Make the package cache's image (tssrkit/pkgcache.py) from the Debian 12 base."""
    distro = DISTROS[DEFAULT_DISTRO]
    build_base(distro, force=force)
    return build_from_base(distro, pkgcache.IMAGE, "apt-cache.Dockerfile", force=force)


def ensure(names: list[str] | None = None, force: bool = False) -> list[str]:
    """Build (when needed) the node images of ``names`` (default: every distro) and the package
    cache's image; return the node images' names."""
    built = []
    for name in names or list(DISTROS):
        distro = DISTROS[name]
        build_base(distro, force=force)
        build_node(distro, force=force)
        built.append(distro.node_image)
    build_apt_cache(force=force)
    return built


def redhat_image() -> str | None:
    """The RedHat-family image named by ``TSSR_REDHAT_IMAGE`` if it exists locally, else None."""
    name = os.environ.get(REDHAT_ENV, "").strip()
    if not name:
        return None
    return name if image_label(name) is not None else None


def redhat_not_run_reason() -> str:
    name = os.environ.get(REDHAT_ENV, "").strip()
    if not name:
        return f"not run: no image (set {REDHAT_ENV} to a local RedHat-family image with systemd)"
    return f"not run: no image ({REDHAT_ENV}={name} is not a local image)"
