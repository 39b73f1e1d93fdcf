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


# The longest tests first: with pytest-xdist (--dist loadgroup) groups go to the workers in this
# order, so the Molecule scenarios (minutes each, one worker per scenario) start at once and the
# many short tests fill the other worker around them, instead of a lone scenario ending the run.
_FIRST = ("molecule", "containers", "lab")


def pytest_collection_modifyitems(items: list) -> None:
    def rank(item) -> int:
        parts = item.nodeid.split("/")
        folder = parts[1] if len(parts) > 2 and parts[0] == "tests" else ""
        return _FIRST.index(folder) if folder in _FIRST else len(_FIRST)

    items.sort(key=rank)  # stable: the order inside each folder is kept
