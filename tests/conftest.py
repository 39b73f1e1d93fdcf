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
