"""The jobs ``inv`` can run: which script, which interpreter, which input files.

Each function returns a :class:`tssrkit.runner.Job`; the scripts themselves do the work.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tssrkit import render
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


def users_csv_from_accounts(accounts_file: Path, out_dir: Path) -> Path:
    """Render the users CSV from a YAML list of accounts (the role's ``users_accounts`` format).

    The YAML holds either a list, or a mapping with a ``users_accounts`` key (so an Ansible
    ``group_vars`` file serves both sides). The CSV is rendered from the role's own template.
    """
    data = yaml.safe_load(accounts_file.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data = data.get("users_accounts")
    if not isinstance(data, list) or not all(isinstance(a, dict) for a in data):
        raise ValueError(f"{accounts_file}: expected a list of accounts (or a users_accounts: list)")
    return render.render_to(out_dir / f"{accounts_file.stem}.csv", "users", "users.csv.j2", accounts=data)
