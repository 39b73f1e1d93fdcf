"""Prepared states of the test nodes: local images ``tssr-kit/state:<name>-<platform>-<hash>``.

A container test whose fixture needs packages that the test does not test (the backup server's
MariaDB and PostgreSQL, the SNMP client on a monitor…) starts from such an image instead of the node
image: the packages are installed once, on this machine, and every later container is a clone. The
tests that prove a script's install path still start from the fresh node image.

How one is made (tests/containers/containerlib.py, ``prepared_image``): a systemd node of the
platform's checked node image (by ID), the recipe run in it (packages installed, files set up), the
container stopped cleanly (systemd shuts every service down: no database committed mid-write), then
``docker commit``. The hash in the tag covers everything that goes in: the node image's ID, the
recipe's packages and shell text, the kit files copied in, and :data:`VERSION`; an image of another
hash is never used (a changed node image or recipe gives a new tag). One process builds it while the
others wait (a lock under ``.tssr/``, as the package cache does); it stays on the machine, so a second
test run finds it.

``inv cache.status`` lists them, ``inv cache.down --states`` removes them (the next test run builds
them again).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from tssrkit.containers import docker
from tssrkit.paths import STATE

REPOSITORY = "tssr-kit/state"
LABEL = "org.tssr-kit.state"            # the hash, as in the tag
FROM_LABEL = "org.tssr-kit.state.from"  # the ID of the node image it was made from
VERSION = "1"                           # bump to rebuild every state (a change of how they are made)


def tag(name: str, platform: str, digest: str) -> str:
    return f"{REPOSITORY}:{name}-{platform}-{digest}"


@contextmanager
def locked(name: str, platform: str) -> Iterator[None]:
    """One process at a time builds a state (pytest-xdist workers ask for it together)."""
    STATE.mkdir(parents=True, exist_ok=True)
    with (STATE / f"state-{name}-{platform}.lock").open("w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def labels(image: str) -> dict[str, str] | None:
    """The state labels of a local image (hash, node image ID), or None when there is no such image."""
    fmt = f'{{{{index .Config.Labels "{LABEL}"}}}}\t{{{{index .Config.Labels "{FROM_LABEL}"}}}}'
    proc = docker("image", "inspect", "--format", fmt, image, check=False)
    if proc.returncode != 0:
        return None
    digest, _, origin = proc.stdout.strip().partition("\t")
    return {LABEL: digest, FROM_LABEL: origin}


def images() -> list[tuple[str, str, str]]:
    """Every state image on this machine: (tag, created, size)."""
    proc = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}\t{{.CreatedSince}}\t{{.Size}}",
                  REPOSITORY, check=False)
    rows = [line.split("\t") for line in proc.stdout.splitlines() if line.strip()]
    return sorted((row[0], row[1], row[2]) for row in rows if len(row) == 3)


def remove() -> list[str]:
    """Remove every state image (one a running test container uses stays: docker refuses); return
    the tags removed."""
    removed = []
    for name, _, _ in images():
        if docker("image", "rm", name, check=False).returncode == 0:
            removed.append(name)
    return removed
