"""Which tier and which capabilities a test belongs to, read from its node id alone.

tests/conftest.py marks every collected test with them, and `inv test` selects by them: `--only LAYER`,
`--quick`, `--job CAPABILITY` (or `pytest -m lamp`, `pytest -m "unit and backup"`). No test is marked
by hand with its layer or capability: a new job's tests are found by their names
(docs/howto/add-a-job.md, "One name").

- **Layer**: the folder under tests/ (static, unit, containers, lab, molecule, hoststate).
- **Quick tier** (`inv test --quick`): static and unit, except the tests marked ``slow`` (5 to 60 s of
  CPU each: ansible-lint, ShellCheck of a script with the library it sources, a real build; the mark
  says why). The containers, lab and Molecule layers are never quick.
- **Capability**: each Molecule scenario (users, lamp, java, backup, snmp, logging), plus checks,
  powershell and firewall (CAPABILITIES below). A test belongs to a capability when a word of its
  module's name (``test_logging.py``, ``test_logging_role.py``, ``test_lab_lamp.py``) or of its
  parameter id (``test_molecule.py::…[logging-debian12]``, ``test_static.py::…[scripts/bash/logging/
  setup-logging.sh]``, ``test_result_json.py::…[debian12-setup-logging.sh]``) is one of the
  capability's words. A module name is split at ``_``, a parameter id at anything but letters and
  digits. So a test that covers several capabilities carries each of them
  (tests/containers/test_firewall.py's ``[debian12-setup-snmp]`` is firewall and snmp;
  test_result_json.py and tests/lab/test_lab_refusals.py name a job in each parameter), and a test
  whose names say none (the runner, the host keys, the harness) carries none: it runs with its layer,
  never with one capability. A word is a word: ``[debian12-in-a-users-home]`` puts that backup test
  in users too. A capability's run may take a few tests more than its own, never fewer.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tssrkit.paths import REPO

LAYERS = ("static", "unit", "containers", "lab", "molecule", "hoststate")
QUICK_LAYERS = ("static", "unit")

# Every Molecule scenario (molecule/<noun>/molecule.yml) is a capability: a new job is one by its
# scenario alone. Then the capabilities without a role (the checks and the poller, the PowerShell
# scripts, the firewall library), and the other words a capability already goes by: its second script
# (restore.sh), its inv tasks (check, poll), the files of the PowerShell gate (pslint, Pester, the
# Windows workflow, CLIXML).
SCENARIOS = tuple(sorted(path.parent.name for path in (REPO / "molecule").glob("*/molecule.yml")))
ALSO: dict[str, tuple[str, ...]] = {
    "backup": ("restore", "backups"),
    "checks": ("check", "poll", "plugin"),
    "powershell": ("pslint", "pester", "windows", "clixml"),
    "firewall": (),
}
# capability -> the words that name it (the first is the capability noun itself)
CAPABILITIES: dict[str, tuple[str, ...]] = {
    name: (name, *ALSO.get(name, ())) for name in (*SCENARIOS, *(n for n in ALSO if n not in SCENARIOS))
}

# A word that names several capabilities: lesson 6's monitoring is the agent, the logs and the checks.
GROUPS: dict[str, tuple[str, ...]] = {"monitoring": ("snmp", "logging", "checks")}

_WORD_TO_CAPABILITIES: dict[str, tuple[str, ...]] = {
    **{word: (name,) for name, words in CAPABILITIES.items() for word in words},
    **GROUPS,
}


def layer(nodeid: str) -> str | None:
    """The layer of a test: its folder under tests/ (None outside them)."""
    parts = nodeid.split("::")[0].split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" and parts[1] in LAYERS else None


def words(nodeid: str) -> list[str]:
    """The words of a test's module name (test_ and lab_ dropped) and of its parameter id."""
    module = nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py").removeprefix("test_")
    found = module.lower().split("_")
    if nodeid.endswith("]") and "[" in nodeid:
        found += re.split(r"[^a-z0-9]+", nodeid[nodeid.index("[") + 1:-1].lower())
    return [word for word in found if word]


def capabilities(nodeid: str) -> set[str]:
    """The capabilities a test belongs to (see the module's docstring); empty for the harness's own."""
    return {name for word in words(nodeid) for name in _WORD_TO_CAPABILITIES.get(word, ())}


def cpu_seconds(stat: str | None = None) -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, every process and container included,
    from /proc/stat's first line (``stat``: its text, for the tests). Busy is all but idle and iowait."""
    if stat is None:
        stat = Path("/proc/stat").read_text(encoding="ascii").split("\n", 1)[0]
    ticks = [int(value) for value in stat.split()[1:]]
    hertz = os.sysconf("SC_CLK_TCK")
    idle = sum(ticks[3:5])                      # idle, iowait
    total = sum(ticks[:8])                      # user … steal (guest time is already in user)
    return (total - idle) / hertz, total / hertz


def cpu_line(start: tuple[float, float], end: tuple[float, float], cores: int) -> str:
    """How busy the machine was during a run: CPU seconds used (by everything, containers included)
    against what its cores could give. Near 100 %, the run is bound by the CPU: more workers cannot
    make it faster, only less work can."""
    busy, total = end[0] - start[0], end[1] - start[1]
    share = 100 * busy / total if total > 0 else 0.0
    return f"machine CPU: {busy:.0f} CPU-s busy of {total:.0f} ({share:.0f} %), {cores} core(s)"


def tier_lines(seconds: dict[str, float], tests: dict[str, set[str]], wall: float,
               workers: object) -> list[str]:
    """The end of a run's "time per tier": each layer's tests and the sum of their durations (setup,
    call, teardown), then all of them with the session's wall clock."""
    order = [name for name in (*LAYERS, "other") if name in seconds]
    lines = [f"{'tier':<12} {'tests':>6} {'test time':>11}"]
    lines += [f"{name:<12} {len(tests[name]):>6} {seconds[name]:>9.1f} s" for name in order]
    lines.append(f"{'all':<12} {sum(len(tests[name]) for name in order):>6} {sum(seconds.values()):>9.1f} s"
                 f"   wall clock {wall:.1f} s, {workers} worker(s)")
    return lines
