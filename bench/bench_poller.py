"""Benchmark snmp_poll.py on 20 real agents: sequential against concurrent polling, median and spread.

The agents: a lab of its own (TSSR_LAB=tssr-bench, so yours is never touched) of N hosts (default 20),
one container each, from the test image (systemd, sshd), every one configured the way a technician
does it, by ``setup-snmp.sh`` through the kit's own runner (what ``inv setup-snmp`` runs: credentials
generated once, uploaded root-only; the monitor is the lab network's gateway, i.e. this machine), and
each reached through its own 161/udp published on 127.0.0.1 (what ``inv poll`` polls).

Why 20 containers rather than one container running 20 snmpd instances on 20 ports: setup-snmp.sh
configures *the* agent of a host (one snmpd.conf, one persistent USM file, one firewall rule), as on
a real fleet; 20 instances in one container would need configurations the script never writes, so
the bench would poll something the kit does not deploy. Twenty small containers cost about 20 x 30 MB
of memory and ~20 s to start; setup-snmp.sh (apt-get install snmpd included) runs on 10 at a time.

Each round polls all agents with ``--format json`` in every mode, in an order that rotates from
round to round: ``--sequential``; ``--concurrency 10`` (the default); ``--concurrency N`` (all at
once); and, with ``--silent K`` (default 2), the same three again with K more agents that never answer
(UDP ports on 127.0.0.1 where nothing listens) polled with ``--timeout 1 --retries 0``. The figure is
the poller's own ``elapsed_seconds`` (polling only); the wall time of the whole command (Python start
and pysnmp import included) is shown beside it. Every run must report every live agent OK (and every
silent one CRITICAL), else the bench stops: a fast poll of failing agents measures nothing.

Not measured: network latency. A ``--delay`` option (tc netem in the containers) was planned, but
this machine's kernel has no netem qdisc ("Specified qdisc kind is unknown"), so on 127.0.0.1 the
agents answer in microseconds and the cost is the poller's own CPU (see
docs/reference/checks-and-poller.md).

Usage:  .venv/bin/python bench/bench_poller.py [--agents 20] [--rounds 5] [--silent 2] [--parallel 10]
            [--keep] [--json FILE]
``--keep`` leaves the bench lab running (a second run then skips the set-up: setup-snmp.sh reports no
change); without it the bench lab is removed at the end (its containers and network only, by label),
even on failure. Needs `inv images` and the Debian mirror (apt-get inside the containers).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ["TSSR_LAB"] = os.environ.get("TSSR_BENCH_LAB", "tssr-bench")  # before tssrkit reads it
import deploybench  # noqa: E402, F401 — puts the repository on the import path, for tssrkit

from tssrkit import hosts as hostlib  # noqa: E402
from tssrkit import jobs, runner  # noqa: E402
from tssrkit import lab as labmod  # noqa: E402

log = logging.getLogger("bench")


def free_udp_ports(count: int) -> list[int]:
    """UDP ports of 127.0.0.1 where nothing listens (bound then released: silent agents)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def set_up(count: int, parallel: int) -> tuple[list[str], Path, dict]:
    """The bench lab's N agents configured by setup-snmp.sh; (agents, credentials file, set-up times)."""
    times = {}
    start = time.perf_counter()
    lab_hosts = labmod.up(count)
    times["lab_up_s"] = round(time.perf_counter() - start, 1)
    credentials = jobs.ensure_lab_snmp_credentials(labmod.LAB_STATE / "snmp-credentials.conf")
    job = jobs.setup_snmp(credentials=credentials, monitors=[labmod.network_gateway()])
    names = {h.name for h in lab_hosts}
    targets = [hostlib.lab_target(h.name, names) for h in lab_hosts]
    start = time.perf_counter()
    results = runner.run_job(job, targets, parallel=parallel, progress=runner.Progress(verbose=False))
    times["setup_snmp_s"] = round(time.perf_counter() - start, 1)
    failed = [r for r in results if not r.succeeded]
    if failed:
        print(runner.summary(results), file=sys.stderr)
        raise RuntimeError(f"setup-snmp.sh failed on {len(failed)} host(s)")
    times["setup_snmp_changed"] = sum(r.changed for r in results)
    return jobs.lab_agents(labmod.hosts()), credentials, times


def poll_once(agents: list[str], silent: list[str], credentials: Path, mode: str, concurrency: int) -> dict:
    """One poll of every agent; the poller's own time, the wall time; checks every agent's state."""
    extra = {"sequential": True} if mode == "sequential" else {"concurrency": concurrency}
    timing = {"timeout": 1.0, "retries": 0} if silent else {}
    argv = jobs.poll_argv(agents + silent, credentials=credentials, fmt="json", **extra, **timing)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - start
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    states = {row["agent"]: row["state"] for row in result["results"]}
    bad = [a for a in agents if states.get(a) != "OK"] + [a for a in silent if states.get(a) != "CRITICAL"]
    if bad:
        raise RuntimeError(f"{mode}: unexpected states for {bad[:3]}: "
                           f"{[next(r for r in result['results'] if r['agent'] == a) for a in bad[:3]]}")
    return {"poll_s": result["elapsed_seconds"], "wall_s": round(wall, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=20, help="lab hosts, one agent each (default 20)")
    parser.add_argument("--rounds", type=int, default=5, help="polls per mode (default 5)")
    parser.add_argument("--silent", type=int, default=2,
                        help="silent agents added in the second set (0: none)")
    parser.add_argument("--parallel", type=int, default=10, help="hosts set up at once (default 10)")
    parser.add_argument("--keep", action="store_true", help="leave the bench lab running")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        agents, credentials, setup_times = set_up(args.agents, args.parallel)
        silent_agents = [f"127.0.0.1:{p}" for p in free_udp_ports(args.silent)] if args.silent else []
        n = len(agents)
        modes = [("sequential", 0), ("concurrency 10", 10), (f"concurrency {n}", n)]
        sets = [("", [])] + ([(f" + {len(silent_agents)} silent", silent_agents)] if silent_agents else [])
        runs: dict[str, list[dict]] = {}
        load_before = os.getloadavg()
        for round_number in range(args.rounds):
            order = modes[round_number % len(modes):] + modes[:round_number % len(modes)]
            for suffix, silent in sets:
                for mode, concurrency in order:
                    label = f"{mode}{suffix}"
                    runs.setdefault(label, []).append(
                        poll_once(agents, silent, credentials, mode.split()[0], concurrency))
                    log.info("round %d %-32s %.3f s", round_number + 1, label, runs[label][-1]["poll_s"])
    finally:
        if not args.keep:
            labmod.down()
    rows = []
    for label, figures in runs.items():
        polls = [f["poll_s"] for f in figures]
        walls = [f["wall_s"] for f in figures]
        rows.append({"mode": label, "agents": n + (len(silent_agents) if "silent" in label else 0),
                     "median_s": round(statistics.median(polls), 3), "min_s": min(polls), "max_s": max(polls),
                     "wall_median_s": round(statistics.median(walls), 3), "rounds": len(polls)})
    cells = [(r["mode"], str(r["agents"]), f"{r['median_s']:.2f} s", f"{r['min_s']:.2f}-{r['max_s']:.2f} s",
              f"{r['wall_median_s']:.2f} s") for r in rows]
    header = ("mode", "agents", "poll median", "min-max", "wall median")
    table = runner.table([header, *cells], right=(1, 2, 3))
    print("\n".join(table))
    summary = {"bench": "bench_poller.py", "agents": n, "silent": len(silent_agents), "rounds": args.rounds,
               "cpus": os.cpu_count(), "load_before": [round(x, 2) for x in load_before], **setup_times,
               "results": rows}
    print(json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
