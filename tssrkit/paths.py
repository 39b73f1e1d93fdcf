"""Where things live: the repository, and the git-ignored state folder ``.tssr/``."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STATE = REPO / ".tssr"            # git-ignored: lab key, ssh_config, collections, caches
SCRIPTS = REPO / "scripts"
ROLES = REPO / "roles"
IMAGES = REPO / "images"
EXAMPLES = REPO / "examples"
