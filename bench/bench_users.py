"""Benchmark user provisioning against its floor, and one host against a fleet.

1. Floor: ``newusers(8)`` creating the same N users (same logins, names, shells, passwords of the
   same length) in a fresh container of the test image — what any tool that hashes passwords must pay.
   Then ``provision-users`` (Bash, then Python) on the same users, each in its own fresh container of
   the same image, and the ratio to the floor. Then the second run (nothing to change).
2. Fleet: ``inv provision-users`` of a smaller CSV on one fresh lab host, then on F other fresh lab
   hosts at once (``--parallel F``), then again on those F (nothing to change), in a separate bench
   lab (TSSR_LAB=tssr-bench) removed at the end.

Not a test: it prints figures (and writes them as JSON with --json FILE). Needs `inv images`.

Usage:  .venv/bin/python bench/bench_users.py [--users 1000] [--fleet 8] [--fleet-users 100]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import string
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import deploybench  # first: it puts the repository on the import path, for tssrkit

from tssrkit import images, pkgcache
from tssrkit.bundles import with_script
from tssrkit.containers import docker, remove
from tssrkit.jobs.command import interpreter
from tssrkit.jobs.users import IMPLEMENTATIONS

log = logging.getLogger("bench")
REPO = deploybench.REPO
FIRST = ["Élodie", "François", "Noémie", "Seán", "Zoé", "Lucas", "Ana", "Jean-Éric", "Chloé", "Mathis"]
LAST = ["Dupont", "Garçon", "Müller", "O'Brien", "Ben Ali", "Martin", "Lefèvre", "Nguyen", "Da Silva"]
GROUPS = ["compta", "support", "vpn", "rh", "dev"]


def users(count: int) -> list[tuple[str, str, str, str]]:
    """(login, first, last, groups) for ``count`` users, deterministic."""
    out = []
    for i in range(count):
        groups = f"{GROUPS[i % 5]} {GROUPS[(i + 2) % 5]}"
        out.append((f"u{i:05d}", FIRST[i % len(FIRST)], LAST[i % len(LAST)], groups))
    return out


def write_csv(path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    lines = ["login;first_name;last_name;groups"] + [";".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_newusers(path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    alphabet = string.ascii_letters + string.digits
    lines = []
    for login, first, last, _groups in rows:
        password = "".join(secrets.choice(alphabet) for _ in range(20))
        lines.append(f"{login}:{password}::::/home/{login}:/bin/bash".replace("::::", f":::{first} {last}:"))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)


def fresh(image: str) -> str:
    name = f"tssr-bench-{uuid.uuid4().hex[:8]}"
    docker("run", "--detach", "--name", name, *pkgcache.run_args(), image, "sleep", "infinity")
    return name


def timed(container: str, *argv: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    proc = docker("exec", container, *argv, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed, proc


def bench_floor_and_scripts(count: int, image: str, tmp: Path) -> dict:
    rows = users(count)
    csv, raw = tmp / "users.csv", tmp / "newusers.txt"
    write_csv(csv, rows)
    write_newusers(raw, rows)
    figures: dict = {"users": count, "image": image}

    box = fresh(image)
    try:
        docker("cp", str(raw), f"{box}:/root/newusers.txt")
        figures["floor_newusers_s"], _ = timed(box, "newusers", "/root/newusers.txt")
    finally:
        remove(box)
    log.info("floor (newusers): %.1f s", figures["floor_newusers_s"])

    for impl, script in IMPLEMENTATIONS.items():
        box = fresh(image)
        try:
            for name, local in with_script(script).items():   # the script and what travels with it
                docker("exec", box, "mkdir", "-p", str(Path(f"/root/{name}").parent))
                docker("cp", str(local), f"{box}:/root/{name}")
            docker("cp", str(csv), f"{box}:/root/users.csv")
            argv = [*interpreter(script), f"/root/{script.name}", "--quiet", "/root/users.csv"]
            first, proc = timed(box, *argv)
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            second, proc2 = timed(box, *argv)
            again = json.loads(proc2.stdout.strip().splitlines()[-1])
        finally:
            remove(box)
        if len(result["created"]) != count or again["changed"] != 0:
            raise RuntimeError(f"{impl}: unexpected results {result} / {again}")
        figures[f"{impl}_first_run_s"] = first
        figures[f"{impl}_second_run_s"] = second
        figures[f"{impl}_ratio_to_floor"] = first / figures["floor_newusers_s"]
        log.info("%s: first run %.1f s (%.2fx floor), second run %.1f s", impl, first,
                 figures[f"{impl}_ratio_to_floor"], second)
    return figures


def inv(*args: str, lab: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "inv"), "--search-root", str(REPO), *args],
                          cwd=REPO, env={**os.environ, "TSSR_LAB": lab}, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"inv {' '.join(args)} failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return time.perf_counter() - started, proc


def bench_fleet(fleet: int, count: int, tmp: Path) -> dict:
    lab = "tssr-bench"
    csv = tmp / "fleet.csv"
    write_csv(csv, users(count))
    figures: dict = {"fleet_hosts": fleet, "fleet_users": count}
    try:
        inv("lab.up", "--count", str(fleet + 1), lab=lab)
        figures["one_host_s"], _ = inv("provision-users", "--hosts", f"{lab}1", "--csv", str(csv), lab=lab)
        names = ",".join(f"{lab}{i}" for i in range(2, fleet + 2))
        figures[f"{fleet}_hosts_parallel_s"], _ = inv(
            "provision-users", "--hosts", names, "--parallel", str(fleet), "--csv", str(csv), lab=lab)
        figures[f"{fleet}_hosts_second_run_s"], _ = inv(
            "provision-users", "--hosts", names, "--parallel", str(fleet), "--csv", str(csv), lab=lab)
    finally:
        inv("lab.down", lab=lab)
    log.info("fleet: %s", figures)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--fleet", type=int, default=8, help="lab hosts for the fleet part (0: skip)")
    parser.add_argument("--fleet-users", type=int, default=100)
    parser.add_argument("--distro", default="debian12", choices=sorted(images.DISTROS))
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    image = images.ensure([args.distro])[0]
    with tempfile.TemporaryDirectory(prefix="tssr-bench-") as tmp:
        figures = bench_floor_and_scripts(args.users, image, Path(tmp))
        if args.fleet > 1:
            figures |= bench_fleet(args.fleet, args.fleet_users, Path(tmp))
    text = json.dumps(figures, indent=2, sort_keys=True)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
