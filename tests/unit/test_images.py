"""Image inputs: what makes an image rebuild, and how RedHat is reported when absent."""

from __future__ import annotations

from tssrkit import images


def test_mirror_comes_from_the_environment_first(monkeypatch):
    monkeypatch.setenv("TSSR_DEBIAN_MIRROR", "http://mirror.invalid/debian")
    assert images.debian_mirror() == "http://mirror.invalid/debian"


def test_base_inputs_change_with_the_mirror(monkeypatch):
    distro = images.DISTROS["debian12"]
    monkeypatch.setenv("TSSR_DEBIAN_MIRROR", "http://a.invalid/debian")
    first = images.base_inputs(distro)
    monkeypatch.setenv("TSSR_DEBIAN_MIRROR", "http://b.invalid/debian")
    assert images.base_inputs(distro) != first


def test_redhat_without_image_is_reported_as_not_run(monkeypatch):
    monkeypatch.delenv(images.REDHAT_ENV, raising=False)
    assert images.redhat_image() is None
    assert images.redhat_not_run_reason().startswith("not run: no image")


def test_both_debian_releases_are_built():
    assert {d.suite for d in images.DISTROS.values()} == {"bookworm", "trixie"}
