"""tssrkit/pkgcache.py without Docker: what a container is given to reach the cache, and the off switch.
(tests/containers/test_pkgcache.py proves the cache with real containers and apt.)"""

from __future__ import annotations

from tssrkit import pkgcache
from tssrkit.paths import REPO


def test_turned_off_a_container_is_given_nothing(monkeypatch):
    monkeypatch.setenv(pkgcache.ENV, "0")
    assert pkgcache.enabled() is False
    assert pkgcache.run_args() == []
    assert pkgcache.run_args("some-network") == []
    assert pkgcache.start() is False


def test_on_the_default_bridge_a_container_gets_the_cache_address_as_a_host_name(monkeypatch):
    monkeypatch.setenv(pkgcache.ENV, "1")
    monkeypatch.setattr(pkgcache, "bridge_address", lambda: "172.17.0.9")
    assert pkgcache.run_args() == ["--add-host", "tssr-apt-cache:172.17.0.9"]


def test_on_a_network_of_its_own_the_cache_joins_it_instead(monkeypatch):
    joined = []
    monkeypatch.setenv(pkgcache.ENV, "1")
    monkeypatch.setattr(pkgcache, "attach", joined.append)
    assert pkgcache.run_args("tssr-test-net-1") == []
    assert joined == ["tssr-test-net-1"]


def test_the_images_ask_for_the_cache_by_the_name_the_harness_gives_it():
    node = (REPO / "images" / "node.Dockerfile").read_text(encoding="utf-8")
    assert f"c={pkgcache.NAME}" in node and str(pkgcache.PORT) in node and "echo DIRECT" in node
    assert "Proxy-Auto-Detect" in node
