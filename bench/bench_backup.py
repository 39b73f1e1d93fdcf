"""Benchmark backup.sh against its floor: a bare ``tar | zstd`` of the same data, in the same run.

In one fresh container of the test image (systemd as PID 1, like a lab host):

0. set-up, not timed: ``apt-get install zstd`` (the image has no zstd; backup.sh would fall back to
   gzip), then ~1 GB of mixed files under /srv/bench, generated in the container from a fixed seed:
   many small files (text and binary, 512 B to 16 KiB, in nested folders), some medium ones (64 KiB to
   2 MiB), and a few large ones (log-like text that compresses, random bytes that do not); then one
   untimed read of the whole tree, so that every timed pass starts with the same warm page cache;
(a) floor: ``tar -C / -cf - srv/bench | zstd -T0 -3 > /x.tar.zst`` — the least any tar+zstd backup of
    the folder must pay (the zstd flags are read from backup.sh, so the two cannot drift);
(b) ``backup.sh run --source /srv/bench --dest /backup --job bench --compress zstd``: archive,
    checksums, verification, retention, as a technician runs it; copied in with its lib/, templates/
    and backup_retention.py (``docker cp``) and run with ``docker exec``;
(c) ``restore.sh --dest /backup --job bench --set latest --files --target /restore``, then a check that
    the restored tree has the same number of files and bytes as the source.

Reported: wall times, throughput (source MB / s, MB = 10^6 bytes, source size counted with
``du --apparent-size``), the archive sizes, and (b)'s throughput as a fraction of (a)'s (target >= 0.9),
taken round by round ((a) and (b) of one round ran a minute apart, under the same load) and then the
median over the rounds; the load average before the first round is in the JSON, because on a shared
machine the spread between rounds can exceed the difference being measured.
``--repeat N`` runs (a) and (b) N times, alternating which goes first, and reports medians. Only the
container this bench starts is removed (at the end, even on failure). Not a test: it prints a table and
one JSON line (also written with --json FILE). Needs `inv images` and network access to the Debian
mirror from the container (for zstd). ``--bare-only`` times (a) alone (e.g. before backup.sh exists).

Usage:  .venv/bin/python bench/bench_backup.py [--distro debian12] [--size-mb 1024] [--repeat 1]
            [--bare-only] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import statistics
import uuid
from pathlib import Path

import deploybench  # first: it puts the repository on the import path, for tssrkit
from deploybench import APT_INSTALL, result_line, timed

from tssrkit import images
from tssrkit.bundles import BASH_LIB
from tssrkit.containers import docker, remove, run_node, wait_booted

log = logging.getLogger("bench")
REPO = deploybench.REPO
BACKUP_DIR = REPO / "scripts" / "bash" / "backup"
BACKUP_SCRIPT = BACKUP_DIR / "backup.sh"
RESTORE_SCRIPT = BACKUP_DIR / "restore.sh"
PLANNER = REPO / "scripts" / "python" / "backup_retention.py"
DEFAULT_ZSTD_FLAGS = ("-T0", "-3")
SOURCE, DEST, TARGET, BARE_ARCHIVE = "/srv/bench", "/backup", "/restore", "/x.tar.zst"
WORK = "/root/bench-backup"  # not /tmp: a tmpfs in these containers
JOB = "bench"

# Runs in the container (python3 is in the image): writes the data set. argv: folder, size in MB.
GENERATOR = r'''
import os, random, sys
root, total = sys.argv[1], int(sys.argv[2]) * 10**6
rng = random.Random(20261129)
words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
         for _ in range(3000)]
services = ["sshd", "cron", "nginx", "php-fpm", "mariadbd", "systemd", "kernel", "postfix"]
pool = [f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
        f"{rng.randint(0, 59):02d}Z web{rng.randint(1, 9)} "
        f"{rng.choice(services)}[{rng.randint(100, 99999)}]: "
        + " ".join(rng.choices(words, k=rng.randint(4, 14))) + "\n" for _ in range(60000)]

def text(size):
    out, n = [], 0
    while n < size:
        chunk = "".join(rng.choices(pool, k=2000))
        out.append(chunk)
        n += len(chunk)
    return "".join(out).encode()[:size]

def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)

written = files = 0
# many small files: 15 % of the total, 512 B - 16 KiB, two text for one binary, 100 per folder
budget = total * 15 // 100
while written < budget:
    size = rng.randint(512, 16384)
    data = text(size) if files % 3 else os.urandom(size)
    write(f"{root}/small/d{files // 100:04d}/f{files:06d}.{'txt' if files % 3 else 'bin'}", data)
    written += size; files += 1
# medium files: 20 %, 64 KiB - 2 MiB, half text, half binary
budget += total * 20 // 100
while written < budget:
    size = rng.randint(65536, 2 * 1048576)
    data = text(size) if files % 2 else os.urandom(size)
    write(f"{root}/medium/m{files:06d}.{'log' if files % 2 else 'dat'}", data)
    written += size; files += 1
# a few large files: the rest, half log-like text, half random bytes, in 4 files
rest = total - written
for i, kind in enumerate(["text", "binary", "text", "binary"]):
    size = rest // 4
    path = f"{root}/large/{'app.log' if kind == 'text' else 'blob.bin'}.{i}"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 16 * 1048576)
            f.write(text(n) if kind == "text" else os.urandom(n))
            left -= n
    written += size; files += 1
print(files, written)
'''


def zstd_flags(script: Path) -> tuple[str, ...]:
    """The thread and level flags of the ``zstd`` compression in ``script`` (e.g. ``-T0 -3``)."""
    if not script.exists():
        log.warning("%s does not exist yet: the floor uses zstd %s", script, " ".join(DEFAULT_ZSTD_FLAGS))
        return DEFAULT_ZSTD_FLAGS
    text = script.read_text(encoding="utf-8")
    for line in text.splitlines():
        code = line.split("#", 1)[0]
        decompress = re.search(r"\bzstd\s+(-t|--test|-d|--decompress|-dc)\b", code)
        if re.search(r"\bzstd\b", code) and not decompress:
            threads = re.search(r"\s(-T\d+|--threads=\d+)\b", code)
            level = re.search(r"\s(-\d{1,2}|--fast=\d+)\b", code)
            if threads or level:
                return tuple(m.group(1) for m in (threads, level) if m)
    # a level kept in a variable, e.g. ZSTD_LEVEL=3 / ZSTD_ARGS=(-T0 -3)
    found = re.search(r"^\s*(?:readonly\s+)?ZSTD\w*=\(?([^)\n]*)\)?", text, re.M)
    if found:
        return tuple(w.strip("'\"") for w in found.group(1).split())
    log.warning("no zstd flags found in %s: the floor uses zstd %s", script, " ".join(DEFAULT_ZSTD_FLAGS))
    return DEFAULT_ZSTD_FLAGS


def sh(box: str, command: str) -> tuple[float, str]:
    """Time ``bash -c command`` in ``box``; wall seconds and its stdout. Fails loudly."""
    seconds, proc = timed(box, "bash", "-o", "pipefail", "-c", command)
    return seconds, proc.stdout


def tree_size(box: str, path: str) -> tuple[int, int]:
    """(regular files, apparent bytes) under ``path`` in ``box``."""
    _, out = sh(box, f"find {path} -type f | wc -l; du -sb --apparent-size {path} | cut -f1")
    files, size = out.split()
    return int(files), int(size)


def install(box: str) -> str:
    """Copy backup/ (scripts and templates), lib/ and the planner beside the scripts; return the folder."""
    docker("exec", box, "mkdir", "-p", WORK)
    docker("cp", f"{BACKUP_DIR}/.", f"{box}:{WORK}/")
    docker("cp", str(BASH_LIB), f"{box}:{WORK}/lib")
    docker("cp", str(PLANNER), f"{box}:{WORK}/{PLANNER.name}")
    return WORK


def bare(box: str, flags: tuple[str, ...]) -> dict:
    """(a): tar | zstd of the source, nothing else."""
    docker("exec", box, "rm", "-f", BARE_ARCHIVE)
    seconds, _ = sh(box, f"tar -C / -cf - {SOURCE.lstrip('/')} | zstd -q {' '.join(flags)} > {BARE_ARCHIVE}")
    size = int(sh(box, f"stat -c %s {BARE_ARCHIVE}")[1])
    log.info("(a) bare tar | zstd %s: %.1f s, archive %.0f MB", " ".join(flags), seconds, size / 1e6)
    return {"bare_s": seconds, "bare_archive_bytes": size}


def backup(box: str, work: str) -> dict:
    """(b): one backup.sh run; its time and the figures of its result line."""
    docker("exec", box, "rm", "-rf", DEST)
    seconds, proc = timed(box, "bash", f"{work}/backup.sh", "run", "--source", SOURCE, "--dest", DEST,
                          "--job", JOB, "--compress", "zstd", "--quiet")
    result = result_line(proc)
    log.info("(b) backup.sh run: %.1f s, status %s, set %s", seconds, result.get("status"), result.get("set"))
    _, out = sh(box, f"du -sb {DEST}/{JOB}/*/ | cut -f1")
    return {"backup_s": seconds, "backup_result": result,
            "backup_set_bytes": int(out.split()[0]) if out.split() else None}


def restore(box: str, work: str, source: tuple[int, int]) -> dict:
    """(c): restore.sh of the latest set into an empty folder, then the restored tree is counted."""
    docker("exec", box, "rm", "-rf", TARGET)
    seconds, proc = timed(box, "bash", f"{work}/restore.sh", "--dest", DEST, "--job", JOB, "--set", "latest",
                          "--files", "--target", TARGET, "--quiet")
    restored = tree_size(box, f"{TARGET}{SOURCE}")
    if restored != source:
        raise RuntimeError(f"restore mismatch: source {source} (files, bytes), restored {restored}")
    log.info("(c) restore.sh --files: %.1f s, %d files, %d bytes, same as the source", seconds, *restored)
    return {"restore_s": seconds, "restore_result": result_line(proc)}


def table(figures: dict) -> str:
    mb = figures["source_bytes"] / 1e6

    def row(label: str, key: str) -> tuple[str, str, str]:
        seconds = figures.get(key)
        if seconds is None:
            return (label, "not run", "")
        return (label, f"{seconds:.1f}", f"{mb / seconds:.0f}")

    rows = [("measure", "seconds", "MB/s"),
            row(f"(a) bare tar | zstd {' '.join(figures['zstd_flags'])}", "bare_s"),
            row("(b) backup.sh run (archive, sums, verify, retention)", "backup_s"),
            row("(c) restore.sh --files --target", "restore_s")]
    if figures.get("ratio") is not None:
        label = "(b) throughput / (a) throughput (target >= 0.9)"
        if figures["repeat"] > 1:
            label += ", median of the rounds' ratios"
        rows.append((label, f"{figures['ratio']:.2f}", ""))
    width = max(len(r[0]) for r in rows)
    lines = [f"{a.ljust(width)}  {b.rjust(8)}  {c.rjust(6)}" for a, b, c in rows]
    lines.insert(1, f"{'-' * width}  {'-' * 8}  {'-' * 6}")
    suffix = f", medians of {figures['repeat']}" if figures["repeat"] > 1 else ""
    title = (f"backup of {mb:.0f} MB ({figures['source_files']} files) on {figures['image']}, "
             f"{figures['cpus']} CPU(s){suffix}")
    return title + "\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--distro", default="debian12", choices=sorted(images.DISTROS))
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the data set (default 1024)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of (a) and (b); medians reported")
    parser.add_argument("--bare-only", action="store_true", help="time (a) only (no backup.sh needed)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.size_mb < 10:
        parser.error("--repeat must be at least 1 and --size-mb at least 10")
    if not args.bare_only and not (BACKUP_SCRIPT.exists() and RESTORE_SCRIPT.exists()):
        parser.error(f"{BACKUP_SCRIPT} or {RESTORE_SCRIPT} is missing (use --bare-only to time the floor)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    image = images.ensure([args.distro])[0]
    flags = zstd_flags(BACKUP_SCRIPT)
    box = f"tssr-bench-backup-{uuid.uuid4().hex[:8]}"
    rounds: list[dict] = []
    figures: dict = {"image": image, "repeat": args.repeat, "zstd_flags": list(flags)}
    try:
        run_node(image, box)
        wait_booted(box, timeout=120)
        seconds, _ = timed(box, "apt-get", "update", "-q")
        timed(box, *APT_INSTALL, "--no-install-recommends", "zstd")
        log.info("zstd installed (%.0f s for apt-get update)", seconds)
        seconds, out = sh(box, f"python3 - {SOURCE} {args.size_mb} <<'EOF'\n{GENERATOR}\nEOF")
        log.info("data set generated in %.0f s: %s files, %s bytes", seconds, *out.split())
        figures["source_files"], figures["source_bytes"] = source = tree_size(box, SOURCE)
        figures["cpus"] = int(sh(box, "nproc")[1])
        figures["loadavg_before"] = sh(box, "cut -d' ' -f1-3 /proc/loadavg")[1].strip()  # a shared machine?
        sh(box, f"tar -C / -cf - {SOURCE.lstrip('/')} > /dev/null")  # warm the page cache, untimed
        work = None if args.bare_only else install(box)
        for number in range(1, args.repeat + 1):
            log.info("round %d/%d", number, args.repeat)
            one: dict = {}
            bare_first = args.bare_only or number % 2 == 1
            if bare_first:
                one.update(bare(box, flags))
            if work:
                one.update(backup(box, work))
            if not bare_first:
                one.update(bare(box, flags))
            if "backup_s" in one:
                one["ratio"] = one["bare_s"] / one["backup_s"]  # paired: the same minute's load on both
            rounds.append(one)
        if work:
            figures.update(restore(box, work, source))
    finally:
        remove(box)
    for key in ("bare_s", "backup_s"):
        if all(key in r for r in rounds):
            figures[key] = statistics.median(r[key] for r in rounds)
            figures[f"{key}_all"] = [round(r[key], 2) for r in rounds]
    figures["bare_archive_bytes"] = rounds[-1]["bare_archive_bytes"]
    if "backup_s" in figures:
        figures["backup_set_bytes"] = rounds[-1]["backup_set_bytes"]
        figures["backup_result"] = rounds[-1]["backup_result"]
        figures["ratio"] = statistics.median(r["ratio"] for r in rounds)
        figures["ratio_all"] = [round(r["ratio"], 2) for r in rounds]
    mb = figures["source_bytes"] / 1e6
    for key in ("bare_s", "backup_s", "restore_s"):
        if key in figures:
            figures[key.replace("_s", "_mb_per_s")] = mb / figures[key]
    print(table(figures))
    line = json.dumps(figures, sort_keys=True)
    print(line)
    if args.json:
        args.json.write_text(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
