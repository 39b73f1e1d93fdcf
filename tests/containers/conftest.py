"""Fixtures for the container tests: what they run on, and the containers they run in.

- ``target``: one implementation on one platform (most tests); ``platform``: one platform (parity).
  A RedHat platform without an image is *skipped* with the reason, never passed.
- ``node``: a fresh container for one scenario; ``new_node(platform)``: as many as a test needs;
  ``class_nodes``: containers kept for the tests of one class (a scenario checked from every side).
- ``clean`` / ``platform_clean``: a shared container in its baseline state, for tests that must
  change nothing (replaced as soon as one did).

Parallel runs (``pytest -n 2 --dist loadgroup``): the tests of one implementation on one platform form
one ``xdist_group``, so their shared containers are made once, on one worker. Every container is removed
by the fixture that made it, even when the test fails.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from containerlib import IMPLS, PLATFORMS, Clean, Impl, Node, NodeFactory, Platform, SharedNode, Target

# --------------------------------------------------------------------------------------------------
# Parameters

TARGET_PARAMS = [
    pytest.param(Target(impl, platform), id=f"{impl.name}-{platform.name}")
    for platform in PLATFORMS.values()
    for impl in IMPLS.values()
]


@pytest.hookimpl(tryfirst=True)          # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group the tests of one implementation on one platform, so that they share their containers."""
    for item in items:
        chosen = getattr(getattr(item, "callspec", None), "params", {}).get("target")
        if isinstance(chosen, Target):
            item.add_marker(pytest.mark.xdist_group(f"{chosen.impl.name}-{chosen.platform.name}"))
PLATFORM_PARAMS = [pytest.param(platform, id=platform.name) for platform in PLATFORMS.values()]


@pytest.fixture(scope="module", params=TARGET_PARAMS)
def target(request: pytest.FixtureRequest) -> Target:
    """An implementation on a platform (RedHat: skipped with the reason when no image is supplied)."""
    chosen: Target = request.param
    chosen.platform.image()
    return chosen


@pytest.fixture(scope="module", params=PLATFORM_PARAMS)
def platform(request: pytest.FixtureRequest) -> Platform:
    """A platform, for the tests that compare the implementations on it."""
    chosen: Platform = request.param
    chosen.image()
    return chosen


@pytest.fixture
def impl(target: Target) -> Impl:
    return target.impl


# --------------------------------------------------------------------------------------------------
# Containers


@pytest.fixture
def new_node() -> Iterator[NodeFactory]:
    """``new_node(platform)`` → a fresh container, removed at the end of the test."""
    factory = NodeFactory()
    yield factory
    factory.close()


@pytest.fixture
def node(target: Target, new_node: NodeFactory) -> Node:
    """A fresh container of the target's platform, for one scenario."""
    return new_node(target.platform)


@pytest.fixture(scope="class")
def class_nodes() -> Iterator[NodeFactory]:
    """Containers for a scenario whose steps are checked by several tests of one class."""
    factory = NodeFactory()
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def shared(target: Target) -> Iterator[SharedNode]:
    holder = SharedNode(target.platform)
    yield holder
    holder.close()


@pytest.fixture
def clean(shared: SharedNode) -> Clean:
    """The target platform's shared container, in its baseline state (for tests that change nothing)."""
    return shared.get()


@pytest.fixture(scope="module")
def platform_shared(platform: Platform) -> Iterator[SharedNode]:
    holder = SharedNode(platform)
    yield holder
    holder.close()


@pytest.fixture
def platform_clean(platform_shared: SharedNode) -> Clean:
    """The platform's shared container in its baseline state (both implementations run in it)."""
    return platform_shared.get()
