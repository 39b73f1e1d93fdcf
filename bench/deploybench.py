"""What the deploy benchmarks share (bench_lamp.py, bench_java.py): a deploy script against its floor.

A bench is described by a :class:`Spec` (its packages, what it builds once, what one deploy round
measures, the rows of its table) and run by :func:`main`, which owns the rest: the options
(``--distro``, ``--repeat``, ``--downloads cached|network``, ``--json``), the fresh systemd
containers (named ``tssr-bench-<name>-<hex>``, the only ones removed, at the end even on failure),
the one-off download of the packages into a host folder mounted as ``/var/cache/apt/archives``,
the floor (``apt-get install -y --no-install-recommends`` of the packages in a fresh container),
the order of floor and deploy (floor first with cached downloads; alternating from one round to
the next with network downloads), the medians, the table and the JSON line.

Not a bench itself: it is imported by the bench scripts beside it.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tssrkit import images  # noqa: E402 — after the path set-up above
from tssrkit.bundles import BASH_LIB  # noqa: E402
from tssrkit.containers import docker, remove, run_node, wait_booted  # noqa: E402

log = logging.getLogger("bench")
APT_ENV = ("--env", "DEBIAN_FRONTEND=noninteractive")
APT_INSTALL = ("apt-get", "install", "-y", "-q")


def _bash_array(script: Path, name: str) -> str:
    """The text between the parentheses of ``NAME=( … )`` in ``script`` (readonly/declare allowed)."""
    pattern = re.compile(rf"^\s*(?:(?:readonly|declare)(?:\s+-[aAr]+)?\s+)?{re.escape(name)}=\(([^)]*)\)",
                         re.M | re.S)
    found = pattern.search(script.read_text(encoding="utf-8"))
    if not found:
        raise SystemExit(f"{script}: no {name}=( … ) array found")
    return "\n".join(line.split("#", 1)[0] for line in found.group(1).splitlines())


def bash_list(script: Path, name: str) -> list[str]:
    """The words of the script's indexed array ``NAME=( … )`` (comments skipped, quotes removed)."""
    words = [w.strip("'\"") for w in _bash_array(script, name).split()]
    if not words:
        raise SystemExit(f"{script}: {name} is empty")
    return words


def bash_table(script: Path, name: str) -> dict[str, str]:
    """The script's associative array ``NAME=(["key"]=value …)`` as a dict."""
    pairs = re.findall(r"\[\s*['\"]?([^]'\"]+)['\"]?\s*\]=(\S+)", _bash_array(script, name))
    if not pairs:
        raise SystemExit(f"{script}: {name} has no [key]=value entries")
    return {key: value.strip("'\"") for key, value in pairs}


def timed(container: str, *argv: str) -> tuple[float, subprocess.CompletedProcess]:
    """Run ``argv`` with docker exec in ``container``; its wall time and the process. Fails loudly."""
    start = time.perf_counter()
    proc = docker("exec", *APT_ENV, container, *argv, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:3]}… failed ({proc.returncode}):\n"
                           f"{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    return elapsed, proc


def result_line(proc: subprocess.CompletedProcess) -> dict:
    """The script's JSON result: the last non-empty line of its stdout ({} when there is none)."""
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else {}


def deploy_twice(box: str, argv: list[str]) -> dict:
    """(b) and (c): ``argv`` (the deploy) run twice in ``box``; their times and result counts."""
    figures: dict = {}
    figures["fresh_deploy_s"], proc = timed(box, *argv)
    first = result_line(proc)
    figures["second_run_s"], proc = timed(box, *argv)
    second = result_line(proc)
    figures["fresh_deploy_changed"] = first.get("changed")
    figures["second_run_status"], figures["second_run_changed"] = second.get("status"), second.get("changed")
    if first.get("status") != "changed" or second.get("status") != "ok" or second.get("changed") != 0:
        log.warning("unexpected result lines: first %s, second %s", first, second)
    log.info("(b) fresh deploy: %.1f s (%d changes); (c) second run: %.1f s (%s, %s changes)",
             figures["fresh_deploy_s"], first.get("changed") or 0, figures["second_run_s"],
             second.get("status"), second.get("changed"))
    return figures


class Bench:
    """The containers of one bench run: all of ``image``, all named ``tssr-bench-<name>-<hex>``."""

    def __init__(self, name: str, image: str, apt_cache: Path | None) -> None:
        self.name, self.image, self.apt_cache = name, image, apt_cache
        # not /tmp: a tmpfs in these containers, which `docker cp` cannot fill
        self.work = f"/root/bench-{name}"
        self.started: list[str] = []

    def fresh(self) -> str:
        """A new systemd container, booted; its name is added to ``started``."""
        name = f"tssr-bench-{self.name}-{uuid.uuid4().hex[:8]}"
        self.started.append(name)
        mount = ("--volume", f"{self.apt_cache}:/var/cache/apt/archives") if self.apt_cache else ()
        run_node(self.image, name, *mount)
        wait_booted(name, timeout=120)
        return name

    @contextmanager
    def container(self) -> Iterator[str]:
        """A fresh container for the ``with`` block, removed at its end."""
        box = self.fresh()
        try:
            yield box
        finally:
            remove(box)
            self.started.remove(box)

    def remove_all(self) -> None:
        """Remove the containers this bench started and has not removed yet (and no other)."""
        for name in list(self.started):
            remove(name)
            self.started.remove(name)

    def prefetch(self, packages: list[str]) -> None:
        """Download the packages (and what they pull in) once into the apt cache; not timed."""
        if self.apt_cache is None:
            raise ValueError("prefetch needs the apt cache folder (--downloads cached)")
        with self.container() as box:
            timed(box, *APT_INSTALL, "--download-only", "--no-install-recommends", *packages)
        log.info("packages downloaded once into %s (%d files)", self.apt_cache,
                 len(list(self.apt_cache.glob("*.deb"))))

    def floor(self, packages: list[str]) -> float:
        """(a): apt-get install of the script's packages in a fresh container."""
        with self.container() as box:
            seconds, _ = timed(box, *APT_INSTALL, "--no-install-recommends", *packages)
        log.info("(a) floor, apt-get install of %d packages: %.1f s", len(packages), seconds)
        return seconds

    def install(self, box: str, script: Path, templates: Path, *files: Path) -> str:
        """Copy the script, its templates/, the shared lib/ and ``files`` (under their own names)
        into the work folder of ``box`` with docker cp; return the folder."""
        docker("exec", box, "mkdir", "-p", self.work)
        docker("cp", str(script), f"{box}:{self.work}/{script.name}")
        docker("cp", str(templates), f"{box}:{self.work}/templates")
        docker("cp", str(BASH_LIB), f"{box}:{self.work}/lib")
        for path in files:
            docker("cp", str(path), f"{box}:{self.work}/{path.name}")
        return self.work


@dataclass(frozen=True)
class Spec:
    """One deploy benchmark.

    name:     ``lamp`` → containers tssr-bench-lamp-<hex>, work folder /root/bench-lamp, deploy-lamp
    doc:      the bench script's docstring (its --help)
    packages: distro (``debian12``) → the floor's packages
    prepare:  temporary folder → what ``deploy`` needs, built once before any container
    deploy:   (bench, that) → the figures of one deploy round, in its own fresh container(s)
    rows:     the table's rows after the floor, (label, key of a time in seconds), in order
    listed:   keys of ``deploy``'s figures reported as one list over the rounds
    """

    name: str
    doc: str
    packages: Callable[[str], list[str]]
    prepare: Callable[[Path], Any]
    deploy: Callable[[Bench, Any], dict]
    rows: tuple[tuple[str, str], ...]
    listed: tuple[str, ...]


def one_round(spec: Spec, bench: Bench, packages: list[str], inputs: Any, floor_first: bool) -> dict:
    """The floor and the deploy once, each container removed as soon as its part is measured."""
    if floor_first:
        floor_s = bench.floor(packages)
        return {"floor_s": floor_s, **spec.deploy(bench, inputs)}
    figures = spec.deploy(bench, inputs)
    return {"floor_s": bench.floor(packages), **figures}


def summary(spec: Spec, rounds: list[dict], **head: Any) -> dict:
    """``head`` and, over the rounds: the median of each time (and all of them), the ratio of the
    fresh deploy to the floor, the lists of ``spec.listed``."""
    figures: dict = dict(head)
    for key in ("floor_s", *(key for _, key in spec.rows)):
        figures[key] = statistics.median(r[key] for r in rounds)
        figures[f"{key}_all"] = [round(r[key], 2) for r in rounds]
    figures["ratio_to_floor"] = figures["fresh_deploy_s"] / figures["floor_s"]
    for key in spec.listed:
        figures[key] = [r[key] for r in rounds]
    return figures


def table(spec: Spec, figures: dict) -> str:
    rows = [("measure", "seconds"),
            ("(a) floor: apt-get install of the packages", f"{figures['floor_s']:.1f}"),
            *((label, f"{figures[key]:.1f}") for label, key in spec.rows),
            ("(b)/(a)", f"{figures['ratio_to_floor']:.2f}x")]
    width = max(len(r[0]) for r in rows)
    lines = [f"{a.ljust(width)}  {b.rjust(8)}" for a, b in rows]
    lines.insert(1, f"{'-' * width}  {'-' * 8}")
    suffix = f", medians of {figures['repeat']}" if figures["repeat"] > 1 else ""
    title = f"deploy-{spec.name} on {figures['image']} (downloads: {figures['downloads']}{suffix})"
    return title + "\n" + "\n".join(lines)


def main(spec: Spec, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=spec.doc,
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
    packages = spec.packages(args.distro)
    rounds: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="tssr-bench-") as tmp:
        inputs = spec.prepare(Path(tmp))
        apt_cache = None
        if args.downloads == "cached":
            apt_cache = Path(tmp) / "apt-archives"
            apt_cache.mkdir()
        bench = Bench(spec.name, image, apt_cache)
        try:
            if apt_cache:
                bench.prefetch(packages)
            for number in range(1, args.repeat + 1):
                log.info("round %d/%d", number, args.repeat)
                floor_first = args.downloads == "cached" or number % 2 == 1
                rounds.append(one_round(spec, bench, packages, inputs, floor_first))
        finally:
            bench.remove_all()
    figures = summary(spec, rounds, image=image, repeat=args.repeat, downloads=args.downloads,
                      packages=packages)
    print(table(spec, figures))
    line = json.dumps(figures, sort_keys=True)
    print(line)
    if args.json:
        args.json.write_text(line + "\n")
    return 0
