"""``inv provision-users``: provision-users.sh (or provision_users.py) with a users CSV.

Checked here: the implementation asked for (it picks the script) and the CSV (a local file: the
builder checks it is there, or the accounts YAML it is rendered from). The rows, the groups and
``--allow-group`` are the script's to check, on every host first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from tssrkit import render
from tssrkit.jobs.command import script_job
from tssrkit.paths import EXAMPLES, SCRIPTS
from tssrkit.runner import Job

# The two implementations of the same contract (`--impl`).
IMPLEMENTATIONS = {
    "bash": SCRIPTS / "bash" / "users" / "provision-users.sh",
    "python": SCRIPTS / "python" / "provision_users.py",
}
DEFAULT_CSV = EXAMPLES / "users" / "users.csv"


def provision(csv: Path, impl: str = "bash", allow_groups: Sequence[str] = ()) -> Job:
    """Create, update and disable accounts from a users CSV (docs/reference/users-csv.md).

    ``allow_groups``: the privileged, system or foreign groups the file may name (the script's
    ``--allow-group``, which checks the names). The CSV goes up under its own name, so that the
    script's messages name the file the user gave."""
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {impl!r}: choose bash or python")
    return script_job(IMPLEMENTATIONS[impl], {"--allow-group": list(allow_groups)}, last=[csv],
                      name="provision-users")


def csv_from_accounts(accounts_file: Path, out_dir: Path) -> Path:
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
