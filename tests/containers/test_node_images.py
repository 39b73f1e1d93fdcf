"""The tests start this checkout's node images, never another checkout's: a ``tssr-kit/node`` tag
built from another ``images/node.Dockerfile`` (another worktree's ``inv images``) is refused with the
reason, and the tests start the image they checked by its ID (tests/containers/containerlib.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from containerlib import PLATFORMS, State, prepared_image

from tssrkit import images, states
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


# --------------------------------------------------------------------------------------------------
# Prepared states (containerlib.prepared_image) are made from the checked node image, by its ID


def test_a_prepared_states_hash_changes_with_the_node_image_and_the_recipe(tmp_path) -> None:
    platform = PLATFORMS[images.DEFAULT_DISTRO]
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.sh").write_text("echo a\n")

    def digest(packages=("rsync",), script="true", node="sha256:aaa") -> str:
        state = State("selftest", {"debian": packages}, script=script, copies={"/opt/lib": tmp_path / "lib"})
        return state.digest(platform, node)

    first = digest()
    assert first == digest()
    others = {digest(node="sha256:bbb"), digest(packages=("rsync", "curl")), digest(script="false")}
    assert len(others | {first}) == 4
    (tmp_path / "lib" / "a.sh").write_text("echo b\n")
    assert digest() != first, "a kit file copied in changed: another state"


def test_a_prepared_state_is_built_from_the_checked_node_image_once_then_reused() -> None:
    platform = PLATFORMS[images.DEFAULT_DISTRO]
    # A hash of its own (the uuid in the recipe): this run's image, removed at the end.
    state = State("selftest", {}, script=f"touch /etc/tssr-state-selftest # {uuid.uuid4().hex}")
    tag = states.tag(state.name, platform.name, state.digest(platform, platform.image()))
    try:
        first = prepared_image(platform, state)
        created = docker("image", "inspect", "--format", "{{.Created}}", first).stdout
        again = prepared_image(platform, state)
        assert again == first == images.image_id(tag)
        assert docker("image", "inspect", "--format", "{{.Created}}", again).stdout == created, "built twice"
        assert states.labels(tag) == {states.LABEL: state.digest(platform, platform.image()),
                                      states.FROM_LABEL: platform.image()}
        inside = docker("run", "--rm", "--entrypoint", "sh", first, "-c",
                        "ls /etc/tssr-state-selftest; ls /etc/ssh/ssh_host_* 2>/dev/null | wc -l").stdout
        assert inside.split() == ["/etc/tssr-state-selftest", "0"], "the recipe's file, and no host key"
    finally:
        docker("image", "rm", "--force", tag, check=False)
