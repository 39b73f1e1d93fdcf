"""The package cache (tssrkit/pkgcache.py): every container the kit starts downloads its Debian packages
through one apt-cacher-ng container, whatever network it is on; a package fetched once is served from
the cache the next time; without the cache apt goes straight to the mirror; the scripts never know.

Judged by apt itself (the package installs) and by the cache's own log (apt-cacher-ng writes a line
per file it serves, ``|O|``, and per file it had to fetch upstream, ``|I|``).
"""

from __future__ import annotations

import re
import uuid

import pytest
from containerlib import (
    PLATFORMS,
    Node,
    Platform,
    nodes_on_network,
    start_plain_node,
    stop_node,
)

from tssrkit import pkgcache
from tssrkit.containers import docker
from tssrkit.paths import REPO

pytestmark = [pytest.mark.containers]

DEBIAN = [pytest.param(p, id=p.name) for p in PLATFORMS.values() if p.family == "debian"]
PROXY = f"http://{pkgcache.NAME}:{pkgcache.PORT}"
# Small packages that no image or test installs otherwise (each case takes its own).
PACKAGES = {"bridge": "figlet", "network": "sl", "twice": "cowsay", "direct": "toilet"}
LOG = "/var/log/apt-cacher-ng/apt-cacher.log"


@pytest.fixture(scope="module", autouse=True)
def cache() -> None:
    if not pkgcache.start():
        pytest.fail(f"the package cache did not start: `inv images` builds {pkgcache.IMAGE}")


def cache_log() -> str:
    return docker("exec", pkgcache.NAME, "cat", LOG, check=False).stdout


def log_lines(package: str, kind: str, log: str) -> int:
    """Lines of the cache's log about one of the package's .deb files: ``O`` served to a container,
    ``I`` fetched from the mirror."""
    return len(re.findall(rf"^[^|]*\|{kind}\|[^\n]*/{re.escape(package)}_[^/\n]*\.deb$", log, re.MULTILINE))


def since(before: str) -> str:
    """What the cache logged after ``before`` was read."""
    return cache_log()[len(before):]


def install(node: Node, package: str) -> None:
    node.sh(f"apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {package} "
            ">/dev/null",
            timeout=600)
    node.sh(f"dpkg-query -W -f '${{Status}}' {package} | grep -q 'install ok installed'")


@pytest.mark.parametrize("platform", DEBIAN)
def test_a_container_on_the_default_bridge_downloads_through_the_cache(platform: Platform) -> None:
    package = PACKAGES["bridge"]
    node = start_plain_node(platform, "tssr-test-cache")
    try:
        assert node.sh("/usr/local/bin/tssr-apt-proxy").strip() == PROXY
        before = cache_log()
        install(node, package)
        assert log_lines(package, "O", since(before)) >= 1, "apt did not go through the cache"
    finally:
        stop_node(node)


@pytest.mark.parametrize("platform", DEBIAN)
def test_a_container_on_a_network_of_its_own_reaches_the_cache_by_name(platform: Platform) -> None:
    package = PACKAGES["network"]
    with nodes_on_network(lambda net: start_plain_node(platform, "tssr-test-cache", network=net),
                          prefix="tssr-test-cache-net") as (network, (node,)):
        attached = docker("inspect", "--format", "{{json .NetworkSettings.Networks}}", pkgcache.NAME).stdout
        assert network in attached, "the cache did not join the network"
        assert node.sh("/usr/local/bin/tssr-apt-proxy").strip() == PROXY
        before = cache_log()
        install(node, package)
        assert log_lines(package, "O", since(before)) >= 1
    # The network is gone, and the cache is off it (it would keep the network from being removed).
    assert docker("network", "inspect", network, check=False).returncode != 0
    assert network not in docker("inspect", "--format", "{{json .NetworkSettings.Networks}}",
                                 pkgcache.NAME).stdout


def test_a_package_fetched_once_is_served_from_the_cache_the_next_time() -> None:
    package = PACKAGES["twice"]
    platform = PLATFORMS["debian12"]
    before = cache_log()
    for _ in range(2):
        node = start_plain_node(platform, "tssr-test-cache")
        try:
            install(node, package)
        finally:
            stop_node(node)
    log = since(before)
    assert log_lines(package, "O", log) >= 2
    assert log_lines(package, "I", log) <= 1, "the second container's download went to the mirror"


def test_without_the_cache_apt_goes_to_the_mirror_and_still_installs() -> None:
    # A container the cache was never offered to (no --add-host, no shared network), as on a machine
    # where TSSR_APT_CACHE=0 or outside the kit.
    platform = PLATFORMS["debian12"]
    name = f"tssr-test-nocache-{uuid.uuid4().hex[:8]}"
    docker("run", "--detach", "--name", name, platform.image(), "sleep", "infinity")
    node = Node(name, platform)
    try:
        assert node.sh("/usr/local/bin/tssr-apt-proxy").strip() == "DIRECT"
        before = cache_log()
        install(node, PACKAGES["direct"])
        assert log_lines(PACKAGES["direct"], "O", since(before)) == 0, "it went through the cache anyway"
    finally:
        stop_node(node)


def test_no_script_or_role_knows_about_the_cache() -> None:
    # The cache is the test images' business: a script run on a real server never looks for it.
    names = (pkgcache.NAME, str(pkgcache.PORT), "Proxy-Auto-Detect", "Acquire::http::Proxy")
    found = [f"{path.relative_to(REPO)}: {name}"
             for folder in ("scripts", "roles", "playbooks")
             for path in (REPO / folder).rglob("*") if path.is_file()
             for name in names if name in path.read_text(encoding="utf-8", errors="replace")]
    assert found == []
