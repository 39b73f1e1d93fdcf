"""The exercises' own host-state tests import the helpers of the folder above (``import hostlib``), as
every host-state test does: pytest puts only this folder on the import path, so this adds its parent."""

from __future__ import annotations

import sys
from pathlib import Path

HOSTSTATE = str(Path(__file__).resolve().parents[1])
if HOSTSTATE not in sys.path:
    sys.path.insert(0, HOSTSTATE)
