"""Benchmark deploy-lamp.sh against its floor: installing the same Debian packages, nothing else.

In one run, on fresh containers of the same test image (systemd as PID 1, like a lab host):

(a) floor: ``apt-get install -y --no-install-recommends <the script's Debian package list>`` in a
    fresh container — what any tool that sets up Apache, PHP-FPM and MariaDB must pay at least (the
    package list is read from the script's own ``DEBIAN_PACKAGES`` table, so the two cannot drift);
(b) fresh deploy: ``deploy-lamp.sh`` with the sample app ``examples/lamp/parc-v1`` and its schema,
    in another fresh container. The script, its ``templates/`` and ``lib/`` are copied in with ``docker cp``
    and run with ``docker exec`` (no SSH: the figure is the script's, not the runner's); the app goes
    in as the same tarball ``inv deploy-lamp`` would upload (tssrkit.jobs.pack_app);
(c) second run: the same deploy again in the same container (nothing to change).

Downloads: by default (``--downloads cached``) the packages are fetched once, before timing, by a
throw-away container into a host folder mounted as ``/var/cache/apt/archives`` in every container:
(a) and (b) then both install from the same local ``.deb`` files, and the ratio compares work, not
the mirror's mood (measured once: a network floor of 107 s against a deploy of 67 s, the mirror
being faster the second time). ``--downloads network`` lets each container download for itself,
and alternates which of (a) and (b) goes first from one round to the next.

Reported: the three wall times, (b)/(a), and (c). ``--repeat N`` runs it all N times on new
containers and reports medians. Only the containers this bench starts are removed (at the end, even
on failure). Not a test: it prints a table and one JSON line (also written with --json FILE).
Needs `inv images` and network access to the Debian mirror from the containers.

Usage:  .venv/bin/python bench/bench_lamp.py [--distro debian12] [--repeat 1]
            [--downloads cached|network] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tssrkit import images  # noqa: E402 — after the path set-up above
from tssrkit.containers import docker, remove, run_node, wait_booted  # noqa: E402
from tssrkit.jobs import BASH_LIB, LAMP_DEFAULT_APP, LAMP_SCRIPT, LAMP_TEMPLATES, pack_app  # noqa: E402

log = logging.getLogger("bench")
WORK = "/root/bench-lamp"          # not /tmp: a tmpfs in these containers, which `docker cp` cannot fill
APT_ENV = ("--env", "DEBIAN_FRONTEND=noninteractive")
PACKAGES_RE = re.compile(r"^\s*(?:readonly\s+|declare\s+-r?a\s+)?DEBIAN_PACKAGES=\(([^)]*)\)", re.M | re.S)


def debian_packages(script: Path = LAMP_SCRIPT) -> list[str]:
    """The Debian package list from the script's ``DEBIAN_PACKAGES=( … )`` array (comments skipped)."""
    found = PACKAGES_RE.search(script.read_text(encoding="utf-8"))
    if not found:
        raise SystemExit(f"{script}: no DEBIAN_PACKAGES=( … ) array found")
    words = []
    for line in found.group(1).splitlines():
        words += [w.strip("'\"") for w in line.split("#", 1)[0].split()]
    if not words:
        raise SystemExit(f"{script}: DEBIAN_PACKAGES is empty")
    return words


def fresh(image: str, started: list[str], apt_cache: Path | None) -> str:
    """A new systemd container of ``image``, booted; its name is added to ``started``."""
    name = f"tssr-bench-lamp-{uuid.uuid4().hex[:8]}"
    started.append(name)
    mount = ("--volume", f"{apt_cache}:/var/cache/apt/archives") if apt_cache else ()
    run_node(image, name, *mount)
    wait_booted(name, timeout=120)
    return name


def prefetch(image: str, packages: list[str], apt_cache: Path, started: list[str]) -> None:
    """Download the packages (and what they pull in) once into ``apt_cache``; not timed."""
    box = fresh(image, started, apt_cache)
    try:
        timed(box, "apt-get", "install", "-y", "-q", "--download-only", "--no-install-recommends", *packages)
    finally:
        remove(box)
        started.remove(box)
    log.info("packages downloaded once into %s (%d files)", apt_cache, len(list(apt_cache.glob("*.deb"))))


def timed(container: str, *argv: str) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = docker("exec", *APT_ENV, container, *argv, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:3]}… failed ({proc.returncode}):\n"
                           f"{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    return elapsed, proc


def result_line(proc: subprocess.CompletedProcess) -> dict:
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else {}


def floor(image: str, packages: list[str], started: list[str], apt_cache: Path | None) -> float:
    """(a): apt-get install of the script's packages in a fresh container."""
    box = fresh(image, started, apt_cache)
    try:
        seconds, _ = timed(box, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages)
    finally:
        remove(box)
        started.remove(box)
    log.info("(a) floor, apt-get install of %d packages: %.1f s", len(packages), seconds)
    return seconds


def deploy_twice(image: str, tarball: Path, started: list[str], apt_cache: Path | None) -> dict:
    """(b) and (c): the deploy in a fresh container, then again in the same one."""
    figures: dict = {}
    box = fresh(image, started, apt_cache)
    try:
        docker("exec", box, "mkdir", "-p", WORK)
        docker("cp", str(LAMP_SCRIPT), f"{box}:{WORK}/{LAMP_SCRIPT.name}")
        docker("cp", str(LAMP_TEMPLATES), f"{box}:{WORK}/templates")
        docker("cp", str(BASH_LIB), f"{box}:{WORK}/lib")
        docker("cp", str(tarball), f"{box}:{WORK}/{tarball.name}")
        docker("cp", str(LAMP_DEFAULT_APP / "schema.sql"), f"{box}:{WORK}/schema.sql")
        argv = ["bash", f"{WORK}/{LAMP_SCRIPT.name}", "--quiet", "--app", f"{WORK}/{tarball.name}",
                "--schema", f"{WORK}/schema.sql"]
        figures["fresh_deploy_s"], proc = timed(box, *argv)
        first = result_line(proc)
        figures["second_run_s"], proc = timed(box, *argv)
        second = result_line(proc)
    finally:
        remove(box)
        started.remove(box)
    figures["fresh_deploy_changed"] = first.get("changed")
    figures["second_run_status"], figures["second_run_changed"] = second.get("status"), second.get("changed")
    if first.get("status") != "changed" or second.get("changed") != 0:
        log.warning("unexpected result lines: first %s, second %s", first, second)
    log.info("(b) fresh deploy: %.1f s (%d changes); (c) second run: %.1f s (%s, %s changes)",
             figures["fresh_deploy_s"], first.get("changed") or 0, figures["second_run_s"],
             second.get("status"), second.get("changed"))
    return figures


def one_round(image: str, packages: list[str], tarball: Path, started: list[str], apt_cache: Path | None,
              floor_first: bool) -> dict:
    """(a), (b) and (c) once, each container removed as soon as its part is measured."""
    if floor_first:
        floor_s = floor(image, packages, started, apt_cache)
        return {"floor_s": floor_s, **deploy_twice(image, tarball, started, apt_cache)}
    figures = deploy_twice(image, tarball, started, apt_cache)
    return {"floor_s": floor(image, packages, started, apt_cache), **figures}


def table(figures: dict) -> str:
    rows = [("measure", "seconds"),
            ("(a) floor: apt-get install of the packages", f"{figures['floor_s']:.1f}"),
            ("(b) fresh deploy of parc-v1 + schema", f"{figures['fresh_deploy_s']:.1f}"),
            ("(c) second run (nothing to change)", f"{figures['second_run_s']:.1f}"),
            ("(b)/(a)", f"{figures['ratio_to_floor']:.2f}x")]
    width = max(len(r[0]) for r in rows)
    lines = [f"{a.ljust(width)}  {b.rjust(8)}" for a, b in rows]
    lines.insert(1, f"{'-' * width}  {'-' * 8}")
    suffix = f", medians of {figures['repeat']}" if figures["repeat"] > 1 else ""
    title = f"deploy-lamp on {figures['image']} (downloads: {figures['downloads']}{suffix})"
    return title + "\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--distro", default="debian12", choices=sorted(images.DISTROS))
    parser.add_argument("--repeat", type=int, default=1, help="rounds on new containers; medians reported")
    parser.add_argument("--downloads", choices=("cached", "network"), default="cached",
                        help="cached: fetch the packages once, before timing (default); "
                             "network: every container downloads for itself")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    image = images.ensure([args.distro])[0]
    packages = debian_packages()
    rounds: list[dict] = []
    started: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="tssr-bench-") as tmp:
            tarball = pack_app(LAMP_DEFAULT_APP, Path(tmp))
            apt_cache = None
            if args.downloads == "cached":
                apt_cache = Path(tmp) / "apt-archives"
                apt_cache.mkdir()
                prefetch(image, packages, apt_cache, started)
            for number in range(1, args.repeat + 1):
                log.info("round %d/%d", number, args.repeat)
                floor_first = args.downloads == "cached" or number % 2 == 1
                rounds.append(one_round(image, packages, tarball, started, apt_cache, floor_first))
    finally:
        for name in list(started):
            remove(name)
    figures: dict = {"image": image, "repeat": args.repeat, "downloads": args.downloads,
                     "packages": packages}
    for key in ("floor_s", "fresh_deploy_s", "second_run_s"):
        figures[key] = statistics.median(r[key] for r in rounds)
        figures[f"{key}_all"] = [round(r[key], 2) for r in rounds]
    figures["ratio_to_floor"] = figures["fresh_deploy_s"] / figures["floor_s"]
    figures["second_run_changed"] = [r["second_run_changed"] for r in rounds]
    figures["fresh_deploy_changed"] = [r["fresh_deploy_changed"] for r in rounds]
    print(table(figures))
    line = json.dumps(figures, sort_keys=True)
    print(line)
    if args.json:
        args.json.write_text(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
