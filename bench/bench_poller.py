"""Benchmark snmp_poll.py on 20 real agents: sequential against concurrent polling, median and spread.

The agents: 4 containers of the test image (systemd, sshd, like lab hosts) on a docker network of
their own, 5 agents each (``--containers``, ``--per-container``):

- agent 1 of each container is the host's snmpd as ``setup-snmp.sh`` configures it (copied in with
  its lib/ and tssr_check.py and run with ``docker exec``, as a technician would: credentials from a
  root-only file generated for the bench, the monitor = the network's gateway, i.e. this machine);
- agents 2 to 5 are more snmpd processes in the same container (transient systemd units) started
  from a copy of that same snmpd.conf with only ``agentAddress`` changed (udp:1162 … udp:1165), each
  with its own persistent folder, so its own engine ID and its own localized keys (with ``-C`` snmpd
  reads no persistent file, so the createUser line is appended to that root-only copy, through stdin,
  never an argv);
- every agent port is published on 127.0.0.1, the poller runs here (as ``inv poll`` does for the lab).

Why not 20 containers, one agent each (what setup-snmp.sh alone makes): each systemd container holds
about 5 inotify instances, and this machine allows 128 per user (fs.inotify.max_user_instances) for all
containers together, other tests' included: 20 more containers stopped booting ("systemd did not finish
booting", state initializing). ``--containers 20 --per-container 1`` runs that layout where the limit
allows it. Why not one container with 20 instances: four hosts keep some of a fleet's shape (four
network paths, four docker-proxy processes) at a fifth of the cost.

Each round polls all agents with ``--format json`` in every mode, in an order that rotates from
round to round: ``--sequential``; ``--concurrency 10`` (the default); ``--concurrency N`` (all at
once); and, with ``--silent K`` (default 2), the same three again with K more agents that never answer
(UDP ports on 127.0.0.1 where nothing listens) polled with ``--timeout 2 --retries 0``. The figure is
the poller's own ``elapsed_seconds`` (polling only); the wall time of the whole command (Python start
and pysnmp import included) is shown beside it. Every run must report every live agent OK (and every
silent one CRITICAL), else the bench stops: a fast poll of failing agents measures nothing.

Not measured: network latency. A ``--delay`` option (tc netem in the containers) was planned, but
this machine's kernel has no netem qdisc ("Specified qdisc kind is unknown"), so on 127.0.0.1 the
agents answer in microseconds and the cost is the poller's own CPU (see
docs/reference/checks-and-poller.md).

Usage:  .venv/bin/python bench/bench_poller.py [--containers 4] [--per-container 5] [--rounds 5]
            [--silent 2] [--distro debian12] [--json FILE]
Only the containers and the network this bench starts are removed (at the end, even on failure). Needs
`inv images` and the Debian mirror (apt-get inside the containers, for snmpd). Not a test: it prints a
table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import deploybench  # noqa: F401 — first: it puts the repository on the import path, for tssrkit

from tssrkit import bundles, images, jobs, pkgcache, runner
from tssrkit.containers import docker, remove, run_node, wait_booted

log = logging.getLogger("bench")
# With silent agents: --timeout 2 --retries 0 (each silent agent costs 2 s; the poller cuts any agent's
# poll at 4 x 2 s). 1 s proved too short on a loaded 2-CPU machine: 20 concurrent polls then share the
# CPU (pysnmp encrypts in Python) and live agents overran the 4 s cut.
SILENT_TIMEOUT = 2.0
BASE_PORT = 1160          # agent k (k >= 2) of a container listens on udp:BASE_PORT + k
STAGE = "/root/bench-snmp"
SNMPD = ("/usr/sbin/snmpd", "-LOw", "-u", "Debian-snmp", "-g", "Debian-snmp", "-I",
         "-smux,mteTrigger,mteTriggerConf", "-f")   # Debian's snmpd.service ExecStart, in the foreground
EXTRA_AGENT = r"""set -eu
k="$1"; port="$2"; dir="/var/lib/snmp-bench-$k"; conf="/etc/snmp/bench-$k.conf"
umask 077
sed "s/^agentAddress .*/agentAddress udp:$port/" /etc/snmp/snmpd.conf > "$conf"
cat >> "$conf"      # the createUser line (with -C snmpd reads no persistent file: it goes here)
install -d -o Debian-snmp -g Debian-snmp -m 0700 "$dir"
shift 2
systemd-run --quiet --unit "snmpd-bench-$k" -E "SNMP_PERSISTENT_DIR=$dir" \
    "$@" -C -c "/etc/snmp/bench-$k.conf" -p "/run/snmpd-bench-$k.pid"
"""


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


def published(container: str, inner: str) -> int:
    return int(docker("port", container, inner).stdout.split()[0].rsplit(":", 1)[1])


def configure(box: str, stage: Path, credentials: dict[str, str], gateway: str, per_container: int) -> dict:
    """setup-snmp.sh in ``box`` (agent 1), then agents 2..K from its snmpd.conf; the times."""
    docker("cp", f"{stage}/.", f"{box}:{STAGE}")
    docker("exec", box, "chown", "-R", "root:root", STAGE)
    start = time.perf_counter()
    proc = docker("exec", "--env", "DEBIAN_FRONTEND=noninteractive", box, "bash", f"{STAGE}/setup-snmp.sh",
                  "--credentials", f"{STAGE}/credentials.conf", "--monitor", gateway, check=False)
    seconds = time.perf_counter() - start
    result = runner.parse_result(proc.stdout) or {}
    if proc.returncode != 0 or result.get("status") != "changed":
        raise RuntimeError(f"{box}: setup-snmp.sh exit {proc.returncode}: {proc.stderr[-3000:]}")
    auth = credentials["auth_protocol"].upper().replace("SHA", "SHA-")     # sha512 -> SHA-512
    create_user = (f'createUser {credentials["user"]} {auth} "{credentials["auth_passphrase"]}" '
                   f'AES "{credentials["priv_passphrase"]}"\n')               # generated: aes128 = AES
    for k in range(2, per_container + 1):
        docker("exec", "-i", box, "sh", "-c", EXTRA_AGENT, "sh", str(k), str(BASE_PORT + k), *SNMPD,
               input_text=create_user)
    return {"setup_snmp_s": round(seconds, 1), "changed": result.get("changed")}


def set_up(run_id: str, containers: int, per_container: int, distro: str,
           state: Path) -> tuple[list[str], Path, dict]:
    """The bench's containers and agents; (agents as HOST:PORT, credentials file, set-up figures)."""
    image = images.ensure([distro])[0]
    network = f"tssr-bench-{run_id}"
    docker("network", "create", "--label", f"org.tssr-kit.bench={run_id}", network)
    inner = ["161/udp"] + [f"{BASE_PORT + k}/udp" for k in range(2, per_container + 1)]
    publish = [arg for port in inner for arg in ("--publish", f"127.0.0.1::{port}")]
    boxes = [f"tssr-bench-{run_id}-{i}" for i in range(1, containers + 1)]
    start = time.perf_counter()
    for box in boxes:
        run_node(image, box, "--network", network, *publish, labels={"org.tssr-kit.bench": run_id})
    for box in boxes:
        wait_booted(box, timeout=120)
    figures = {"boot_s": round(time.perf_counter() - start, 1)}
    gateway = docker("network", "inspect", "--format", "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
                     network).stdout.strip()
    credentials_file = jobs.snmp.ensure_lab_credentials(state / "credentials.conf")
    credentials = jobs.snmp.read_credentials(credentials_file)
    stage = state / "stage"
    stage.mkdir()
    for name, local in bundles.with_script(jobs.snmp.SCRIPT).items():
        (stage / name).parent.mkdir(parents=True, exist_ok=True)
        (stage / name).write_bytes(local.read_bytes())
    (stage / "credentials.conf").write_bytes(credentials_file.read_bytes())
    (stage / "credentials.conf").chmod(0o600)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=containers) as pool:
        done = list(pool.map(lambda b: configure(b, stage, credentials, gateway, per_container), boxes))
    figures["configure_s"] = round(time.perf_counter() - start, 1)
    figures["setup_snmp_s"] = [d["setup_snmp_s"] for d in done]
    time.sleep(2)   # the extra agents' transient units start in the background
    agents = [f"127.0.0.1:{published(box, port)}" for box in boxes for port in inner]
    return agents, credentials_file, figures


def tear_down(run_id: str) -> None:
    """Remove this run's containers and network (found by this run's label only)."""
    ids = docker("ps", "--all", "--quiet", "--filter", f"label=org.tssr-kit.bench={run_id}").stdout.split()
    for container in ids:
        remove(container)
    pkgcache.remove_network(f"tssr-bench-{run_id}")


def poll_once(agents: list[str], silent: list[str], credentials: Path, mode: str, concurrency: int) -> dict:
    """One poll of every agent; the poller's own time, the wall time; checks every agent's state."""
    extra = {"sequential": True} if mode == "sequential" else {"concurrency": concurrency}
    timing = {"timeout": SILENT_TIMEOUT, "retries": 0} if silent else {}
    argv = jobs.poll.argv(agents + silent, credentials=credentials, fmt="json", **extra, **timing)
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
    parser.add_argument("--containers", type=int, default=4, help="containers (default 4)")
    parser.add_argument("--per-container", type=int, default=5, help="agents in each (default 5)")
    parser.add_argument("--distro", default=images.DEFAULT_DISTRO, help="debian12 (default) or debian13")
    parser.add_argument("--rounds", type=int, default=5, help="polls per mode (default 5)")
    parser.add_argument("--silent", type=int, default=2,
                        help="silent agents added in the second set (0: none)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run_id = uuid.uuid4().hex[:6]
    state = Path(tempfile.mkdtemp(prefix="tssr-bench-poller-"))    # the bench's credentials, 0600
    try:
        agents, credentials, setup_times = set_up(run_id, args.containers, args.per_container, args.distro,
                                                  state)
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
        tear_down(run_id)
        shutil.rmtree(state, ignore_errors=True)
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
    summary = {"bench": "bench_poller.py", "agents": n, "containers": args.containers,
               "per_container": args.per_container, "silent": len(silent_agents), "rounds": args.rounds,
               "cpus": os.cpu_count(), "load_before": [round(x, 2) for x in load_before], **setup_times,
               "results": rows}
    print(json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
