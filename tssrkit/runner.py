"""Run one of the kit's scripts on many hosts over SSH (Fabric) and gather their result lines.

For each host: make a private temporary folder, upload the script and its input files (into
sub-folders when their remote names have one: ``templates/vhost.conf.tmpl``), run it with
``sudo -n`` (or directly as root), read the JSON object on the last line of its stdout, remove the
folder. Hosts run in parallel up to a bound; each prints a progress line; a summary table ends the
run. A job marked ``validate_first`` is first run with ``--dry-run`` on every host, and runs for real
only when every host accepted its input: bad input changes nothing anywhere (several jobs run
together, such as a log server and its clients, are all checked first).
"""

from __future__ import annotations

import json
import shlex
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TextIO

from fabric import Config, Connection

from tssrkit import hostkeys, lab, paths
from tssrkit.hosts import Target

OK_STATUSES = ("ok", "changed")
EXIT_VALIDATION = 2


@dataclass
class Job:
    """A script to run on each host, with the files it reads."""

    name: str                                   # shown in progress lines: "provision-users"
    script: Path                                # local path of the script
    args: Sequence[str] = ()                    # arguments; "{dir}" stands for the remote folder
    files: dict[str, Path] = field(default_factory=dict)   # remote file name -> local path
    interpreter: Sequence[str] = ("bash",)
    validate_first: bool = True                 # --dry-run everywhere before changing anything
    # The result line's fields shown as the host's note in the summary: the first one set; or, when
    # the line has no error, ``note_format`` filled from the line (``"{restored} into {target}"``).
    note_keys: Sequence[str] = ("error", "url", "password_file")
    note_format: str | None = None
    # Remote names of secret input files (credentials, private keys): made root-owned, mode 0600, with
    # sudo right after the upload, before the script runs (scripts refuse a secret others could read).
    root_only: Sequence[str] = ()

    def note(self, result: dict) -> str:
        if self.note_format and not result.get("error"):
            try:
                return self.note_format.format_map(result)
            except (KeyError, ValueError):
                pass
        return str(next((result[k] for k in self.note_keys if result.get(k)), ""))

    def remote_folders(self) -> list[str]:
        """The sub-folders the remote names need (``templates`` for ``templates/a.tmpl``), sorted.

        A remote name is relative and stays inside the private folder: no absolute path, no ``..``.
        """
        folders = set()
        for remote_name in self.files:
            path = PurePosixPath(remote_name)
            if path.is_absolute() or ".." in path.parts or not path.name or remote_name != str(path):
                raise ValueError(f"{self.name}: remote name {remote_name!r} must be a plain relative path")
            if str(path.parent) != ".":
                folders.add(str(path.parent))
        return sorted(folders)

    def argv(self, remote_dir: str, dry_run: bool) -> list[str]:
        args = [a.replace("{dir}", remote_dir) for a in self.args]
        return [*self.interpreter, f"{remote_dir}/{self.script.name}",
                *(("--dry-run",) if dry_run else ()), *args]


@dataclass
class HostResult:
    """What happened on one host."""

    target: Target
    status: str = "not run"          # ok | changed | failed | unreachable | not run
    changed: int = 0
    seconds: float = 0.0
    exit_code: int | None = None
    result: dict = field(default_factory=dict)
    stderr: str = ""
    note: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status in OK_STATUSES


def connect(target: Target, timeout: int = 15, host_keys: hostkeys.Options | None = None) -> Connection:
    """A Fabric connection to ``target`` whose host key is checked (tssrkit/hostkeys.py).

    Lab hosts: name, port, user and key come from the lab's ssh_config, host keys from the lab's
    known_hosts only; an unknown or changed key is refused. Other hosts: ``~/.ssh/config`` and the
    known_hosts files ssh would read; an unknown key is refused unless ``host_keys`` (by default the
    run's options, ``--accept-new-host-key``) accepts and records it, a changed key always is.
    Nothing is sent to a host before its key is accepted.
    """
    if target.lab:
        config = Config(runtime_ssh_path=str(target.ssh_config))
        conn = hostkeys.CheckedConnection(target.host, config=config, connect_timeout=timeout,
                                          connect_kwargs={"look_for_keys": False, "allow_agent": False})
        return conn.use(hostkeys.KnownHosts.for_lab(lab.KNOWN_HOSTS))
    kwargs: dict = {}
    if target.key_file:
        kwargs["key_filename"] = str(Path(target.key_file).expanduser())
    conn = hostkeys.CheckedConnection(target.host, user=target.user, port=target.port,
                                      connect_timeout=timeout, connect_kwargs=kwargs)
    return conn.use(hostkeys.KnownHosts.for_host(conn, host_keys or hostkeys.current()))


def parse_result(stdout: str) -> dict | None:
    """The JSON object on the last non-empty line of a script's stdout, or None."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        return None
    try:
        value = json.loads(lines[-1])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


# What a host sends back (its scripts' narration, an error message, a note of its result line) is
# shown to the operator, never obeyed by the terminal: these characters are written visibly instead.
# C0 controls (ESC starts "ESC [ 2 J" to clear the screen, "ESC ] 52" to set the clipboard; CR goes
# back over a line to forge it), DEL, C1 controls (U+009B is a one-character CSI), the line and
# paragraph separators, the bidirectional overrides (they reorder what is displayed), and unpaired
# surrogates (a byte that was not UTF-8). tssr_check.py's function, one definition for both (a Python
# script travels alone, so the controller borrows it rather than the script importing tssrkit).
printable = paths.script_module(paths.SCRIPTS / "python" / "tssr_check.py").printable


class Progress:
    """Thread-safe progress lines on stderr: ``[host] message``; what came from a host is escaped
    (:func:`printable`), one output line per line it sent."""

    def __init__(self, stream: TextIO = sys.stderr, verbose: bool = False):
        self.stream, self.verbose, self._lock = stream, verbose, threading.Lock()

    def say(self, target: Target, message: str) -> None:
        with self._lock:
            print(f"[{printable(target.label())}] {printable(message)}", file=self.stream, flush=True)

    def block(self, target: Target, text: str, limit: int = 60) -> None:
        lines = text.rstrip().split("\n")
        with self._lock:
            for line in lines[-limit:]:
                print(f"[{printable(target.label())}]   {printable(line)}", file=self.stream)
            self.stream.flush()


def run_on_host(job: Job, target: Target, dry_run: bool, progress: Progress,
                connector: Callable[[Target], Connection] = connect) -> HostResult:
    """Upload and run ``job`` on one host; never raises for host-side problems."""
    outcome = HostResult(target)
    started = time.monotonic()
    progress.say(target, f"{job.name}: {'checking (dry run)' if dry_run else 'started'}")
    try:
        with connector(target) as conn:
            remote_dir = conn.run("mktemp -d /tmp/tssr-kit.XXXXXXXX", hide=True).stdout.strip()
            try:
                conn.put(str(job.script), f"{remote_dir}/{job.script.name}")
                for folder in job.remote_folders():
                    conn.run(f"mkdir -p -- {shlex.quote(f'{remote_dir}/{folder}')}", hide=True)
                for remote_name, local in job.files.items():
                    conn.put(str(local), f"{remote_dir}/{remote_name}")
                if job.root_only:
                    secrets = [f"{remote_dir}/{name}" for name in job.root_only]
                    sudo = "" if conn.user == "root" else "sudo -n "
                    conn.run(f"{sudo}chown 0:0 -- {shlex.join(secrets)} && {sudo}chmod 0600 -- "
                             f"{shlex.join(secrets)}", hide=True)
                argv = job.argv(remote_dir, dry_run)
                if conn.user != "root":
                    argv = ["sudo", "-n", "--", *argv]
                proc = conn.run(shlex.join(argv), hide=True, warn=True, in_stream=False)
            finally:
                conn.run(f"rm -rf -- {shlex.quote(remote_dir)}", hide=True, warn=True)
    except Exception as exc:  # noqa: BLE001 — any SSH/network problem becomes this host's result
        outcome.status, outcome.note = "unreachable", f"{type(exc).__name__}: {exc}".splitlines()[0]
        outcome.seconds = time.monotonic() - started
        progress.say(target, f"unreachable: {outcome.note}")
        return outcome
    outcome.seconds = time.monotonic() - started
    outcome.exit_code, outcome.stderr = proc.exited, proc.stderr
    result = parse_result(proc.stdout)
    if result is None:
        outcome.status = "failed"
        outcome.note = f"exit {proc.exited}, no result line" + (
            " (sudo needs a password: allow NOPASSWD for this account)" if "sudo:" in proc.stderr else "")
    else:
        outcome.result = result
        outcome.changed = int(result.get("changed", 0) or 0)
        outcome.status = str(result.get("status", "failed")) if proc.exited == 0 else "failed"
        outcome.note = job.note(result)
    changes = f"{outcome.changed} change(s){' planned' if dry_run else ''}"
    verdict = f"{outcome.status}, {changes} in {outcome.seconds:.1f} s"
    progress.say(target, verdict if outcome.succeeded else f"{verdict} (exit {proc.exited})")
    if progress.verbose or not outcome.succeeded:
        progress.block(target, proc.stderr)
    return outcome


def run_job(job: Job, targets: Sequence[Target], **options) -> list[HostResult]:
    """Run ``job`` on every target (at most ``parallel`` at once) and return one result per host."""
    return run_jobs([(job, targets)], **options)


def run_jobs(runs: Sequence[tuple[Job, Sequence[Target]]], *, parallel: int = 4, dry_run: bool = False,
             progress: Progress | None = None,
             connector: Callable[[Target], Connection] = connect) -> list[HostResult]:
    """Run each job on its targets, one job after the other, and return one result per job and host.

    When more than one host would change, every ``validate_first`` job first runs with ``--dry-run`` on
    each of its hosts, and no job runs for real unless every host accepted its input."""
    progress = progress or Progress()
    for job, _ in runs:
        for local in (job.script, *job.files.values()):
            if not Path(local).is_file():
                raise FileNotFoundError(f"{job.name}: {local} is not a file")
        job.remote_folders()  # a bad remote name is refused before any host is touched
        unknown = [name for name in job.root_only if name not in job.files]
        if unknown:
            raise ValueError(f"{job.name}: root-only {unknown[0]!r} is not one of the job's files")

    def on_all(job: Job, targets: Sequence[Target], as_dry_run: bool) -> list[HostResult]:
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            return list(pool.map(lambda t: run_on_host(job, t, as_dry_run, progress, connector), targets))

    checked = [(job, targets) for job, targets in runs if job.validate_first]
    if not dry_run and sum(len(targets) for _, targets in checked) > 1:
        checks = [r for job, targets in checked for r in on_all(job, targets, True)]
        if not all(r.succeeded for r in checks):
            for r in checks:
                if r.succeeded:
                    r.status, r.changed, r.note = "not run", 0, "another host rejected the input"
            return checks
    return [r for job, targets in runs for r in on_all(job, targets, dry_run)]


def table(rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    """Text columns two spaces apart, a dashed line under the header (the first row); the columns
    whose indexes are in ``right`` aligned right (numbers), the last one left unpadded (notes). Every
    cell is escaped (:func:`printable`): a note may quote what a host said."""
    rows = [[printable(cell) for cell in row] for row in rows]
    count = len(rows[0])
    widths = [max(len(row[i]) for row in rows) for i in range(count)]
    lines = []
    for row in rows:
        cells = [row[i].rjust(widths[i]) if i in right else row[i].ljust(widths[i]) for i in range(count - 1)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths[:-1]) + "  " + "-" * len(rows[0][-1]))
    return lines


def summary(results: Sequence[HostResult]) -> str:
    """The end-of-run table: host, status, changed, seconds, note."""
    rows = [("host", "status", "changed", "seconds", "note")]
    for r in results:
        rows.append((r.target.label(), r.status, str(r.changed), f"{r.seconds:.1f}", r.note))
    lines = table(rows, right=(2, 3))
    failed = sum(not r.succeeded for r in results)
    lines.append(f"{len(results)} host(s): {len(results) - failed} succeeded, {failed} failed")
    return "\n".join(lines)


def exit_code(results: Sequence[HostResult]) -> int:
    """0 when every host succeeded; 2 when input was rejected; 1 for any other failure."""
    if all(r.succeeded for r in results):
        return 0
    if any(r.exit_code == EXIT_VALIDATION for r in results):
        return EXIT_VALIDATION
    return 1
