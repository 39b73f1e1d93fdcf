"""Where things live: the repository, and the git-ignored state folder ``.tssr/``."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
STATE = REPO / ".tssr"            # git-ignored: lab key, ssh_config, collections, caches
SCRIPTS = REPO / "scripts"
ROLES = REPO / "roles"
IMAGES = REPO / "images"
EXAMPLES = REPO / "examples"


@functools.cache
def script_module(path: Path) -> ModuleType:
    """A Python script of the kit loaded as a module, so that the controller uses the script's own
    reader or parser for what only it can check here (a local file, a check's command line)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
