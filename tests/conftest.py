"""Shared pytest set-up: which tests are collected, their tier and capability marks, their order, and
what the end of a run prints.

``tests/hoststate/`` holds Testinfra tests of a host's *state*; they need a host, so they are only
collected when one is given: ``pytest --hosts=… tests/hoststate`` (or TSSR_HOSTSTATE=1, as Molecule's
verifier sets). Its subfolder ``exercises/`` holds the lessons' graders' own host-state tests, collected
only when TSSR_EXERCISE names an exercise (``inv exercise check`` sets it). The other folders need no
option.

Every test is marked with its layer (``static``, ``unit``, ``containers``, ``lab``, ``molecule``,
``hoststate``) and its capabilities (``users``, ``lamp``, ``java``, ``backup``, ``snmp``, ``logging``,
``checks``, ``powershell``, ``firewall``), read from its folder and names by tests/tiers.py: nothing to
mark by hand. ``--job CAPABILITY`` keeps one capability's tests (``inv test --job logging``);
``-m "unit and backup"`` and the like work too.
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict

import pytest
import tiers

collect_ignore: list[str] = []
if not (os.environ.get("TSSR_HOSTSTATE") or any(a.startswith("--hosts") for a in sys.argv)):
    collect_ignore.append("hoststate")
# The exercises' own host-state tests (tests/hoststate/exercises/) are run by their grader only
# (`inv exercise check`, tssrkit/exercises.py), which names the exercise in TSSR_EXERCISE.
if not os.environ.get("TSSR_EXERCISE"):
    collect_ignore.append("hoststate/exercises")


def pytest_addoption(parser) -> None:
    parser.addoption("--job", choices=sorted(tiers.CAPABILITIES), default=None, metavar="CAPABILITY",
                     help="only the tests of one capability, across the layers (its unit, container, "
                          f"lab and Molecule tests): {', '.join(tiers.CAPABILITIES)}")


def pytest_configure(config) -> None:
    for name in tiers.LAYERS:
        config.addinivalue_line("markers", f"{name}: a test of tests/{name}/ (marked by tests/conftest.py)")
    for name, words in tiers.CAPABILITIES.items():
        config.addinivalue_line("markers", f"{name}: a test of the {name} capability, by a word of its "
                                f"names: {', '.join(words)} (marked by tests/conftest.py)")


# The longest tests first: with pytest-xdist (`--dist loadgroup --no-loadscope-reorder`, as
# `inv test` runs it) tests and groups go to the workers in this order, so the Molecule runs (minutes
# each) start at once and the many short tests fill the workers around them, instead of a lone
# Molecule run ending the session. (Without --no-loadscope-reorder xdist hands out the groups with the
# most tests first, whatever their length.) Inside static and unit, the tests marked slow (5 to 60 s of
# CPU each: ansible-lint, ShellCheck of the job scripts, a real build) go first too, so that none of
# them ends a run alone.
_FIRST = ("molecule", "containers", "lab")


def _rank(item) -> tuple[int, int]:
    folder = tiers.layer(item.nodeid)
    if folder in _FIRST:
        return _FIRST.index(folder), 0
    return len(_FIRST), 0 if item.get_closest_marker("slow") else 1


@pytest.hookimpl(tryfirst=True)          # the marks must be there before -m and xdist read them
def pytest_collection_modifyitems(config, items: list) -> None:
    for item in items:
        folder = tiers.layer(item.nodeid)
        if folder:
            item.add_marker(folder)
        for name in sorted(tiers.capabilities(item.nodeid)):
            item.add_marker(name)
    job = config.getoption("job")
    if job:
        kept = [item for item in items if item.get_closest_marker(job)]
        config.hook.pytest_deselected(items=[item for item in items if not item.get_closest_marker(job)])
        items[:] = kept
    items.sort(key=_rank)  # stable: the order inside each folder is kept


# ---- the end of a run: time per tier, Molecule's times ------------------------------------------
# Reports reach the controlling process from every pytest-xdist worker, so these hooks see them all.
_STARTED = [time.monotonic()]
_CPU_AT_START: list[tuple[float, float]] = []
_TIER_SECONDS: dict[str, float] = defaultdict(float)
_TIER_TESTS: dict[str, set[str]] = defaultdict(set)
# How long each `molecule test` took (tests/molecule records it in the report's user_properties).
_MOLECULE_SECONDS: dict[str, float] = {}


def pytest_sessionstart(session) -> None:
    _STARTED[0] = time.monotonic()
    _CPU_AT_START[:] = [tiers.cpu_seconds()]


def pytest_runtest_logreport(report) -> None:
    tier = tiers.layer(report.nodeid) or "other"
    _TIER_SECONDS[tier] += report.duration          # setup, call and teardown
    _TIER_TESTS[tier].add(report.nodeid)
    if report.when == "call":
        for key, value in report.user_properties:
            if key == "molecule_seconds":
                _MOLECULE_SECONDS[report.nodeid.split("[")[-1].rstrip("]")] = value


@pytest.hookimpl(trylast=True)          # after pytest's own "slowest durations"
def pytest_terminal_summary(terminalreporter, config) -> None:
    if _TIER_SECONDS:
        workers = getattr(config.option, "numprocesses", None) or 1
        terminalreporter.section("time per tier (test time: setup, call and teardown, summed over workers)")
        for line in tiers.tier_lines(_TIER_SECONDS, _TIER_TESTS, time.monotonic() - _STARTED[0], workers):
            terminalreporter.write_line(line)
        if _CPU_AT_START:
            cores = os.cpu_count() or 1
            terminalreporter.write_line(tiers.cpu_line(_CPU_AT_START[0], tiers.cpu_seconds(), cores))
    if _MOLECULE_SECONDS:
        terminalreporter.section("molecule timings")
        for name, seconds in sorted(_MOLECULE_SECONDS.items()):
            terminalreporter.write_line(f"{name:<28} {seconds:7.1f} s")
