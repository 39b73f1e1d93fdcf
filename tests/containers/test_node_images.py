"""The tests start this checkout's node images, never another checkout's: a ``tssr-kit/node`` tag
built from another ``images/node.Dockerfile`` (another worktree's ``inv images``) is refused with the
reason, and the tests start the image they checked by its ID (tests/containers/containerlib.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from containerlib import PLATFORMS

from tssrkit import images
from tssrkit.containers import docker

pytestmark = [pytest.mark.containers]

DEBIAN = [pytest.param(p, id=p.name) for p in PLATFORMS.values() if p.family == "debian"]


@dataclass(frozen=True)
class ElsewhereDistro(images.Distro):
    """A distro whose node image is a scratch tag (so that the real tag is never touched)."""

    tag: str = ""

    @property
    def node_image(self) -> str:
        return self.tag


@pytest.mark.parametrize("platform", DEBIAN)
def test_this_checkouts_node_image_is_the_one_tagged(platform) -> None:
    assert images.node_image_problem(images.DISTROS[platform.name]) is None


@pytest.mark.parametrize("platform", DEBIAN)
def test_the_tests_start_the_checked_image_by_its_id(platform) -> None:
    assert platform.image() == images.image_id(images.DISTROS[platform.name].node_image)


@pytest.mark.parametrize("platform", DEBIAN)
def test_a_node_image_built_from_another_dockerfile_is_refused(platform, tmp_path) -> None:
    real = images.DISTROS[platform.name]
    tag = f"tssr-test-elsewhere/node:{uuid.uuid4().hex[:8]}"
    (tmp_path / "Dockerfile").write_text(f"FROM {real.base_image}\nRUN true\n")
    docker("build", "--quiet", "--label", f"{images.LABEL}=built-elsewhere", "--tag", tag, str(tmp_path))
    try:
        problem = images.node_image_problem(ElsewhereDistro(real.name, real.suite, tag))
    finally:
        docker("image", "rm", "--force", tag, check=False)
    assert problem is not None
    assert "another images/node.Dockerfile" in problem and "inv images" in problem


def test_a_missing_node_image_is_refused() -> None:
    real = images.DISTROS[images.DEFAULT_DISTRO]
    tag = f"tssr-test-elsewhere/node:{uuid.uuid4().hex[:8]}"
    problem = images.node_image_problem(ElsewhereDistro(real.name, real.suite, tag))
    assert problem == f"{tag} is missing: run `inv images` first"
