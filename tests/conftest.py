"""Shared pytest set-up.

``tests/hoststate/`` holds Testinfra tests of a host's *state*; they need a host, so they are only
collected when one is given: ``pytest --hosts=… tests/hoststate`` (or TSSR_HOSTSTATE=1, as Molecule's
verifier sets). The other folders need no option.
"""

from __future__ import annotations

import os
import sys

collect_ignore: list[str] = []
if not (os.environ.get("TSSR_HOSTSTATE") or any(a.startswith("--hosts") for a in sys.argv)):
    collect_ignore.append("hoststate")


# The longest tests first: with pytest-xdist (`--dist loadgroup --no-loadscope-reorder`, as
# `inv test` runs it) tests and groups go to the workers in this order, so the Molecule runs (minutes
# each) start at once and the many short tests fill the workers around them, instead of a lone
# Molecule run ending the session. (Without --no-loadscope-reorder xdist hands out the groups with the
# most tests first, whatever their length.)
_FIRST = ("molecule", "containers", "lab")


def pytest_collection_modifyitems(items: list) -> None:
    def rank(item) -> int:
        parts = item.nodeid.split("/")
        folder = parts[1] if len(parts) > 2 and parts[0] == "tests" else ""
        return _FIRST.index(folder) if folder in _FIRST else len(_FIRST)

    items.sort(key=rank)  # stable: the order inside each folder is kept


# How long each `molecule test` took (tests/molecule records it in the report's user_properties, which
# pytest-xdist carries back to the controlling process, where this hook runs).
_MOLECULE_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report) -> None:
    if report.when == "call":
        for key, value in report.user_properties:
            if key == "molecule_seconds":
                _MOLECULE_SECONDS[report.nodeid.split("[")[-1].rstrip("]")] = value


def pytest_terminal_summary(terminalreporter) -> None:
    if _MOLECULE_SECONDS:
        terminalreporter.section("molecule timings")
        for name, seconds in sorted(_MOLECULE_SECONDS.items()):
            terminalreporter.write_line(f"{name:<28} {seconds:7.1f} s")
