"""The jobs ``inv`` can run: which script, which interpreter, which input files.

Each function returns a :class:`tssrkit.runner.Job`; the scripts themselves do the work.
"""

from __future__ import annotations

from pathlib import Path

from tssrkit.paths import SCRIPTS
from tssrkit.runner import Job

IMPLEMENTATIONS = {
    "bash": (SCRIPTS / "bash" / "users" / "provision-users.sh", ("bash",)),
    "python": (SCRIPTS / "python" / "provision_users.py", ("python3",)),
}


def provision_users(csv: Path, impl: str = "bash") -> Job:
    """Create, update and disable accounts from a users CSV (docs/reference/users-csv.md)."""
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {impl!r}: choose bash or python")
    script, interpreter = IMPLEMENTATIONS[impl]
    # Uploaded under its own name, so that the script's messages name the file the user gave.
    return Job(name="provision-users", script=script, interpreter=interpreter,
               files={csv.name: csv}, args=[f"{{dir}}/{csv.name}"], validate_first=True)
