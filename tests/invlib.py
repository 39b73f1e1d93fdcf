"""`inv` as a technician types it, run from this checkout: for the tests of every folder.

tests/ is on the import path (pytest puts the folder of tests/conftest.py there): ``from invlib import
inv``. The repository's own paths are tssrkit.paths' (REPO, SCRIPTS, EXAMPLES): one place for the kit
and its tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tssrkit.paths import REPO

INV = (str(Path(sys.executable).parent / "inv"), "--search-root", str(REPO))


def inv(*args: str, timeout: float = 600, **env: str | None) -> subprocess.CompletedProcess[str]:
    """``inv ARGS`` with this checkout's tasks.py and tssrkit, ``env`` added to the environment (a
    variable set to None is removed); text out, never raises on the exit code."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return subprocess.run([*INV, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={name: value for name, value in environment.items() if value is not None})
