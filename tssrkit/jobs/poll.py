"""``inv poll``: snmp_poll.py, run on this machine against the hosts' SNMPv3 agents.

Nothing is checked here but which agents to poll (the hosts, or the lab's published 161/udp): the
poller checks its own command line and the credentials file (``--format``, ranges, the file's owner
and mode), with its own exit codes (2, or 3 for a plugin answer).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tssrkit import lab
from tssrkit.hosts import load_inventory, parse_hosts
from tssrkit.jobs.command import words
from tssrkit.lab import LabHost
from tssrkit.paths import SCRIPTS

POLL_SCRIPT = SCRIPTS / "python" / "snmp_poll.py"


def argv(agents: Sequence[str], *, credentials: Path | None = None, fmt: object = "table",
         concurrency: object = None, sequential: bool = False, timeout: object = None, retries: object = None,
         thresholds: Mapping[str, object] | None = None, python: str = sys.executable) -> list[str]:
    """The snmp_poll.py command line for ``agents`` (no secret in it: the credentials are a file, or
    the TSSR_SNMP_* environment when ``credentials`` is None). ``thresholds``: ``{"disk-warning":
    "70", ...}``, the poller's range options."""
    return [python, str(POLL_SCRIPT), *words({
        "--agent": list(agents), "--format": fmt, "--credentials": credentials, "--sequential": sequential,
        "--concurrency": concurrency, "--timeout": timeout, "--retries": retries,
        **{f"--{name}": value for name, value in (thresholds or {}).items()}})]


def lab_agents(lab_hosts: Sequence[LabHost]) -> list[str]:
    """The lab's agents as the poller reaches them: 127.0.0.1 and each host's published 161/udp.

    A running host without that port (started by an older lab) is a ValueError naming the fix.
    """
    running = [h for h in lab_hosts if h.state == "running"]
    if not running:
        raise ValueError("no lab host is running: `inv lab.up`, then `inv setup-snmp`")
    missing = [h.name for h in running if "snmp" not in h.ports]
    if missing:
        raise ValueError(f"{', '.join(missing)} does not publish 161/udp (started by an older lab): "
                         "`inv lab.down && inv lab.up` recreates the lab with it (the hosts are wiped)")
    return [f"127.0.0.1:{h.ports['snmp']}" for h in running]


def agents_of(hosts: str | None, inventory: str | None) -> tuple[list[str], bool]:
    """The agents of ``--hosts`` or ``--inventory`` (port 161), the lab's when neither is given or a host
    is a lab host (their published 161/udp); and whether the lab's are among them."""
    targets = parse_hosts(hosts) if hosts else load_inventory(inventory) if inventory else []
    lab_names = {t.name for t in targets if t.lab}
    on_lab = not targets or bool(lab_names)
    found = lab_agents([h for h in lab.hosts() if not targets or h.name in lab_names]) if on_lab else []
    return found + [f"[{t.host}]" if ":" in t.host else t.host for t in targets if not t.lab], on_lab
