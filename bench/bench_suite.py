"""Benchmark the test suite the way CI runs it: ``.ci/run`` on a fresh clone, timed, with the time of
each tier (static, unit, containers, lab, molecule) and of each Molecule scenario.

Each round clones the repository (``--ref``, default HEAD) into a new temporary folder and runs its
``.ci/run`` there (``./setup``, then ``inv test``), with pytest writing a JUnit XML report. Reported per
round: the wall-clock of the whole run and of ``./setup`` (``ci: setup took N s``), the pass/fail/skip
counts, and per tier the sum of its tests' durations (with 3 workers the tiers overlap: their sums add
up to about three times the wall-clock). With ``--quick`` the round is ``inv test --quick`` instead (the
edit loop's tier: static and unit).

A second round on the same machine shows what survives between runs: the images (rebuilt only when
their inputs change) and the package cache's downloads (the volume ``tssr-apt-cache``). Run it on an
idle machine: the figures are wall-clock.

Not a test: it prints a Markdown table and one JSON line per round (also appended to --json FILE).
Nothing is removed but the clones (``--keep`` keeps them).

Usage:  .venv/bin/python bench/bench_suite.py [--rounds 2] [--ref HEAD] [--quick] [--json FILE] [--keep]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TIERS = ("static", "unit", "containers", "lab", "molecule")
log = logging.getLogger("bench_suite")


def tier_of(classname: str, file: str) -> str:
    """The tier of a JUnit test case: the folder under tests/ (tests/unit/… → unit)."""
    path = file or classname.replace(".", "/")
    parts = path.split("/")
    return parts[1] if len(parts) > 1 and parts[0] == "tests" and parts[1] in TIERS else "other"


def read_report(path: Path) -> dict:
    """Counts, the seconds per tier and per Molecule scenario of a JUnit XML report."""
    tiers: dict[str, float] = defaultdict(float)
    molecule: dict[str, float] = {}
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    # The report pytest just wrote in our own temporary folder: trusted.
    for case in ET.parse(path).getroot().iter("testcase"):  # noqa: S314
        seconds = float(case.get("time") or 0)
        tier = tier_of(case.get("classname", ""), case.get("file", ""))
        tiers[tier] += seconds
        if case.find("failure") is not None or case.find("error") is not None:
            counts["failed"] += 1
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
        match = re.search(r"test_molecule_scenario_passes_on_platform\[([^\]]+)\]", case.get("name", ""))
        if match and case.find("skipped") is None:
            molecule[match.group(1)] = round(seconds, 1)
    return {"counts": counts, "tiers": {k: round(v, 1) for k, v in sorted(tiers.items())},
            "molecule": dict(sorted(molecule.items()))}


def one_round(number: int, ref: str, quick: bool, keep: bool) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"tssr-bench-suite-{number}-", dir="/var/tmp"))
    clone = folder / "repo"
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", ref], capture_output=True, text=True,
                            check=True).stdout.strip()
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", commit], check=True)
    report = folder / "junit.xml"
    env = {**os.environ, "PYTEST_ADDOPTS": f"--junitxml={report}"}
    argv = ["bash", "-c", ".ci/run" if not quick else "./setup >/dev/null && .venv/bin/inv test --quick"]
    log.info("round %d: %s in %s", number, "inv test --quick" if quick else ".ci/run", clone)
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=clone, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    setup = re.search(r"ci: setup took (\d+) s", proc.stderr)
    result = {"round": number, "what": "inv test --quick" if quick else ".ci/run", "exit": proc.returncode,
              "wall_s": round(wall, 1), "setup_s": int(setup.group(1)) if setup else None,
              "commit": commit[:12]}
    if report.exists():
        result.update(read_report(report))
    else:
        result["output_tail"] = (proc.stdout + proc.stderr)[-3000:]
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def table(results: list[dict]) -> str:
    head = ["round", "what", "exit", "wall", "setup", "passed", "failed", "skipped", *TIERS]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        counts, tiers = r.get("counts", {}), r.get("tiers", {})
        rows.append("| " + " | ".join(str(x) for x in [
            r["round"], r["what"], r["exit"], f"{r['wall_s'] / 60:.1f} min", f"{r['setup_s']} s",
            counts.get("passed", "-"), counts.get("failed", "-"), counts.get("skipped", "-"),
            *(f"{tiers[t]:.0f} s" if t in tiers else "-" for t in TIERS)]) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="runs one after the other (default 2)")
    parser.add_argument("--ref", default="HEAD", help="what to clone and run (default HEAD)")
    parser.add_argument("--quick", action="store_true", help="time `inv test --quick` instead of .ci/run")
    parser.add_argument("--json", type=Path, help="append one JSON line per round to this file")
    parser.add_argument("--keep", action="store_true", help="keep the clones (in /var/tmp)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="bench_suite: %(message)s")
    results = []
    for number in range(1, args.rounds + 1):
        result = one_round(number, args.ref, args.quick, args.keep)
        results.append(result)
        line = json.dumps(result)
        print(line, flush=True)
        if args.json:
            with args.json.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
    print(table(results))
    for r in results:
        if r.get("molecule"):
            scenarios = ", ".join(f"{k} {v:.0f} s" for k, v in r["molecule"].items())
            print(f"molecule, round {r['round']}: {scenarios}")
    return 0 if all(r["exit"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
