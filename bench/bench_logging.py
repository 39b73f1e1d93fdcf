"""Benchmark the forwarding chain of setup-logging.sh: messages per second from a client's rsyslog to
the central server's file, every message counted on the server.

Two systemd containers of the test image on a docker network of their own (started with
``--sysctl net.unix.max_dgram_qlen=512``, as setup-logging.sh sets it on a real client): the *server*
(``setup-logging.sh server --allow <client>/32``) and the *client* (``setup-logging.sh client --server
<server>``), set up untimed. Then, per round, two scenarios of N numbered messages (default 20,000):

- ``steady``: the server up. A Python loop in the client sends the N messages as fast as it can and the
  bench polls the server's file until all N are there. Reported: the send rate (messages/s the client's
  rsyslog accepted) and the end-to-end rate (N / time from the first message sent to the last one
  counted on the server).
- ``outage``: the server's rsyslog stopped, the N messages sent (they wait in the client's queue: in
  memory up to 20,000, on disk beyond), the server started; reported: the reconnect time (server start
  to the first message counted: the client retries every 5 s, ``action.resumeInterval``), the drain
  rate (N / time from the server's start to the last message counted, the reconnect included) and the
  queue files the client had on disk.

Rates are measured by polling the server's file every 0.25 s (``grep``): a run of about half a second
(the steady scenario) reads low by up to one poll; the figures are a floor.

Every round checks that each of the N numbers arrived (``lost`` must be 0; duplicates are counted too).

Where the messages enter: ``--via rsyslog`` (default) writes each as one datagram to rsyslog's own
socket, ``/run/systemd/journal/syslog`` (Debian: imuxsock reads it; a blocking send, so the loop waits
when rsyslog is behind instead of losing messages); ``--via journald`` writes to ``/dev/log`` like
``logger`` does, through journald (whose rate limit is switched off in the client for the bench, and
which hands messages on to rsyslog without waiting: what journald drops there — "Forwarding to syslog
missed N messages" — shows as ``lost``). Debian only (RedHat's rsyslog reads the journal).

Not a test: it prints a table and one JSON line (also written with --json FILE). Only the containers
and the network this bench starts are removed (at the end, even on failure). Needs ``inv images`` and
the Debian mirror from the containers (the script installs rsyslog).

Usage:  .venv/bin/python bench/bench_logging.py [--distro debian12] [--messages 20000] [--repeat 3]
            [--via rsyslog|journald] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
import uuid
from pathlib import Path

import deploybench  # first: it puts the repository on the import path, for tssrkit

from tssrkit import images, pkgcache
from tssrkit.containers import docker, remove, run_node, wait_booted

log = logging.getLogger("bench")
REPO = deploybench.REPO
SCRIPT_DIR = REPO / "scripts" / "bash" / "logging"
LIB_DIR = REPO / "scripts" / "bash" / "lib"
REMOTE = "/opt/tssr-bench/scripts/bash"
SCRIPT = f"{REMOTE}/logging/setup-logging.sh"
POLL = 0.25                  # seconds between two counts on the server
TIMEOUT = 600                # seconds for one scenario's messages to arrive

# Runs in the client (python3 is in the image): argv = socket path, tag, first, last. One datagram per
# message, "<14>TAG: n=I" (user.info); prints the seconds the sending took.
SENDER = r"""
import socket, sys, time
path, tag, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.connect(path)
start = time.monotonic()
for i in range(first, last + 1):
    sock.send(f"<14>{tag}: n={i}".encode())
print(time.monotonic() - start)
"""

# journald's rate limit would drop most of a burst of N: switched off in the bench's client only.
JOURNALD_NO_LIMIT = "[Journal]\nRateLimitIntervalSec=0\nRateLimitBurst=0\n"


class Chain:
    """The two containers, their network, and how to count on the server."""

    def __init__(self, distro: str, via: str) -> None:
        self.distro = distro
        self.via = via
        suffix = uuid.uuid4().hex[:8]
        self.network = f"tssr-bench-logging-net-{suffix}"
        self.server = f"tssr-bench-logging-server-{suffix}"
        self.client = f"tssr-bench-logging-client-{suffix}"
        self.client_folder = ""             # its address, once it runs: its folder on the server
        self.started: list[str] = []

    def exec(self, container: str, *argv: str, check: bool = True) -> str:
        return docker("exec", container, *argv, check=check).stdout

    def sh(self, container: str, script: str) -> str:
        return self.exec(container, "sh", "-c", script)

    def up(self) -> None:
        image = images.DISTROS[self.distro].node_image
        docker("network", "create", self.network)
        for name in (self.server, self.client):
            run_node(image, name, "--network", self.network, "--sysctl", "net.unix.max_dgram_qlen=512")
            self.started.append(name)
        for name in (self.server, self.client):
            wait_booted(name)
            self.exec(name, "mkdir", "-p", REMOTE)
            docker("cp", str(SCRIPT_DIR), f"{name}:{REMOTE}/logging")
            docker("cp", str(LIB_DIR), f"{name}:{REMOTE}/lib")
        fmt = "{{(index .NetworkSettings.Networks \"" + self.network + "\").IPAddress}}"
        client_ip = docker("inspect", "-f", fmt, self.client).stdout.strip()
        self.client_folder = client_ip      # the server names a host's folder from its address
        log.info("setting up the server and the client (untimed: the script installs rsyslog)")
        self.exec(self.server, "bash", SCRIPT, "server", "--allow", f"{client_ip}/32", "--quiet")
        self.exec(self.client, "bash", SCRIPT, "client", "--server", self.server, "--quiet")
        if self.via == "journald":
            docker("exec", "-i", self.client, "sh", "-c",
                   "mkdir -p /etc/systemd/journald.conf.d && "
                   "cat > /etc/systemd/journald.conf.d/tssr-bench.conf"
                   " && systemctl restart systemd-journald",
                   input_text=JOURNALD_NO_LIMIT)
        # The first message opens the connection: not part of any measurement.
        self.exec(self.client, "logger", "-t", "bench-warmup", "hello")
        self.wait_count("bench-warmup", 1, 60)

    def down(self) -> None:
        for name in self.started:
            remove(name)
        pkgcache.remove_network(self.network)

    def count(self, tag: str) -> tuple[int, int]:
        """(distinct numbers, lines) of TAG's messages in the client's file on the server."""
        path = f"/var/log/remote/{self.client_folder}/syslog.log"
        out = self.sh(self.server, f"grep -o ' {tag}: n=[0-9]*' {path} 2>/dev/null | cut -d= -f2 | sort -n"
                      " | uniq -c | awk '{d++; l+=$1} END {print d+0, l+0}'")
        distinct, lines = out.split()
        return int(distinct), int(lines)

    def wait_count(self, tag: str, n: int, timeout: float = TIMEOUT) -> float:
        """Poll until N distinct numbers of TAG arrived (or the timeout); the monotonic time it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count(tag)[0] >= n:
                return time.monotonic()
            time.sleep(POLL)
        return time.monotonic()

    def send(self, tag: str, n: int) -> float:
        """Send messages 1..N from the client; the seconds the sending took (measured in the client)."""
        path = "/run/systemd/journal/syslog" if self.via == "rsyslog" else "/dev/log"
        return float(self.exec(self.client, "python3", "-c", SENDER, path, tag, "1", str(n)).strip())

    def queue_files(self) -> int:
        out = self.sh(self.client, "ls /var/spool/rsyslog/ 2>/dev/null | grep -c '^tssr_forward\\.0' || true")
        return int(out.strip() or 0)


def steady(chain: Chain, n: int) -> dict:
    tag = f"steady{uuid.uuid4().hex[:6]}"
    start = time.monotonic()
    sent_seconds = chain.send(tag, n)
    done = chain.wait_count(tag, n)
    distinct, lines = chain.count(tag)
    total = done - start
    return {"scenario": "steady", "messages": n, "received": distinct, "lost": n - distinct,
            "duplicates": lines - distinct, "send_rate": round(n / sent_seconds),
            "end_to_end_seconds": round(total, 2), "end_to_end_rate": round(n / total)}


def outage(chain: Chain, n: int) -> dict:
    tag = f"outage{uuid.uuid4().hex[:6]}"
    chain.sh(chain.server, "systemctl stop rsyslog.service syslog.socket")
    try:
        sent_seconds = chain.send(tag, n)
        time.sleep(2)
        on_disk = chain.queue_files()
        early = chain.count(tag)[0]
    finally:
        chain.sh(chain.server, "systemctl start rsyslog.service")
    start = time.monotonic()
    first = chain.wait_count(tag, 1)
    done = chain.wait_count(tag, n)
    distinct, lines = chain.count(tag)
    total = done - start
    return {"scenario": "outage", "messages": n, "received": distinct, "lost": n - distinct,
            "duplicates": lines - distinct, "send_rate": round(n / sent_seconds),
            "arrived_while_down": early, "queue_files_on_disk": on_disk,
            "reconnect_seconds": round(first - start, 2), "drain_seconds": round(total, 2),
            "drain_rate": round(n / total)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--distro", default="debian12", choices=sorted(images.DISTROS))
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--via", choices=("rsyslog", "journald"), default="rsyslog")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    chain = Chain(args.distro, args.via)
    rows: list[dict] = []
    try:
        chain.up()
        for round_ in range(1, args.repeat + 1):
            for scenario in (steady, outage):
                row = {"round": round_, **scenario(chain, args.messages)}
                log.info("%s", row)
                rows.append(row)
    finally:
        chain.down()
    print(f"\n{args.distro}, {args.messages} messages per run, via {args.via}")
    print(f"{'round':>5} {'scenario':<8} {'sent/s':>8} {'chain msg/s':>12} {'seconds':>8} "
          f"{'reconnect s':>11} {'received':>9} {'lost':>5} {'dupes':>6} "
          f"{'disk files':>10}")
    for row in rows:
        rate = row.get("end_to_end_rate", row.get("drain_rate"))
        seconds = row.get("end_to_end_seconds", row.get("drain_seconds"))
        print(f"{row['round']:>5} {row['scenario']:<8} {row['send_rate']:>8} {rate:>12} {seconds:>8} "
              f"{row.get('reconnect_seconds', '-'):>11} "
              f"{row['received']:>9} {row['lost']:>5} {row['duplicates']:>6} "
              f"{row.get('queue_files_on_disk', '-'):>10}")
    summary = {}
    for name, key in (("steady", "end_to_end_rate"), ("outage", "drain_rate")):
        rates = [row[key] for row in rows if row["scenario"] == name]
        summary[name] = {"median_rate": statistics.median(rates), "min_rate": min(rates),
                         "max_rate": max(rates),
                         "lost": sum(row["lost"] for row in rows if row["scenario"] == name)}
    print("medians (msg/s): steady end-to-end {steady[median_rate]} (min {steady[min_rate]}, max "
          "{steady[max_rate]}), outage drain {outage[median_rate]} (min {outage[min_rate]}, max "
          "{outage[max_rate]}); lost: {lost}".format(**summary, lost=summary["steady"]["lost"]
                                                     + summary["outage"]["lost"]))
    line = json.dumps({"bench": "logging", "distro": args.distro, "via": args.via,
                       "messages": args.messages, "rounds": rows, "summary": summary})
    print(line)
    if args.json:
        args.json.write_text(line + "\n", encoding="utf-8")
    return 0 if all(row["lost"] == 0 for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
