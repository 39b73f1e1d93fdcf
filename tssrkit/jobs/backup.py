"""``inv backup``, ``inv restore`` and ``inv backup-status``: backup.sh and restore.sh.

Every path of these jobs is on the host (the sources, the passphrase file, the SSH key, the config,
the restore target): a secret never travels with the job. The job's name, the destination, retention,
what to restore and which options go together are the scripts' to check, on every host first; checked
here is only ``--on-calendar`` without ``--install-timer``, which backup.sh would ignore (a set now, no
timer). The one default taken here: with no source, no database and no config, a backup takes
``/etc``. After the run, the status table (age, sets, verdict) is made here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tssrkit import runner
from tssrkit.jobs.command import script_job
from tssrkit.paths import SCRIPTS
from tssrkit.runner import HostResult, Job

BACKUP_SCRIPT = SCRIPTS / "bash" / "backup" / "backup.sh"
RESTORE_SCRIPT = SCRIPTS / "bash" / "backup" / "restore.sh"
DEFAULT_DEST = "/var/backups/tssr-kit"
DEFAULT_JOB = "default"
DEFAULT_SOURCES = ("/etc",)          # when nothing else is asked for: the host's configuration
PERIODS = ("last", "daily", "weekly", "monthly")
NOTE_KEYS = ("error", "set", "timer", "last_good")
RESTORE_NOTE_KEYS = ("error", "restored")
RESTORE_NOTE = "{restored} into {target}"


def _remote(ssh_key: str | None, host_key: str | None, known_hosts: str | None) -> dict[str, object]:
    """An ssh:// destination's key and host key options (backup.sh and restore.sh take the same)."""
    return {"--ssh-key": ssh_key, "--host-key": host_key, "--known-hosts": known_hosts}


def backup(*, job: str = DEFAULT_JOB, sources: Sequence[str] = (), excludes: Sequence[str] = (),
           mysql: bool = False, mysql_dbs: Sequence[str] = (), postgres: bool = False,
           postgres_dbs: Sequence[str] = (), dest: str = DEFAULT_DEST, ssh_key: str | None = None,
           host_key: str | None = None, known_hosts: str | None = None,
           keep: Mapping[str, object] | None = None, compress: str | None = None,
           encrypt_key: str | None = None, config: str | None = None,
           install_timer: bool = False, on_calendar: str | None = None) -> Job:
    """Back up folders and databases with backup.sh, or install the job's timer (``install_timer``).

    ``host_key`` pins an ssh:// destination's host key ("TYPE BASE64"); without it (nor
    ``known_hosts``) the key recorded by ``install_timer`` is checked. ``keep``: ``{"last": 1,
    "daily": 7, ...}``, any subset.
    """
    if on_calendar and not install_timer:   # backup.sh would make a set now, and no timer: say so
        raise ValueError("--on-calendar goes with --install-timer")
    if not (sources or mysql or mysql_dbs or postgres or postgres_dbs or config):
        sources = DEFAULT_SOURCES
    keep = keep or {}
    return script_job(BACKUP_SCRIPT, {
        "--install-timer": install_timer, "--job": job, "--dest": dest, "--config": config,
        "--source": list(sources), "--exclude": list(excludes), "--mysql": mysql,
        "--mysql-db": list(mysql_dbs), "--postgres": postgres, "--postgres-db": list(postgres_dbs),
        **_remote(ssh_key, host_key, known_hosts),
        "--encrypt-key": encrypt_key, "--compress": compress, "--on-calendar": on_calendar,
        **{f"--keep-{period}": keep.get(period) for period in PERIODS}}, note_keys=NOTE_KEYS)


def status(job: str = DEFAULT_JOB, dest: str = DEFAULT_DEST, *, ssh_key: str | None = None,
           host_key: str | None = None, known_hosts: str | None = None) -> Job:
    """``backup.sh status``: the job's newest complete set, its age and the number of sets (read only)."""
    options = {"--job": job, "--dest": dest, **_remote(ssh_key, host_key, known_hosts)}
    return script_job(BACKUP_SCRIPT, options, first=["status"], name="backup-status", validate_first=False,
                      note_keys=NOTE_KEYS)


def restore(*, job: str = DEFAULT_JOB, dest: str = DEFAULT_DEST, backup_set: str = "latest",
            target: str | None = None, paths: Sequence[str] = (), in_place: bool = False,
            keep_setuid: bool = False, mysql_db: str | None = None, postgres_db: str | None = None,
            postgres_globals: bool = False, into: str | None = None, replace: bool = False,
            encrypt_key: str | None = None, allow_unauthenticated: bool = False, ssh_key: str | None = None,
            host_key: str | None = None, known_hosts: str | None = None) -> Job:
    """Restore files (``target``: restore.sh's ``--files --target``), one database or the PostgreSQL
    roles from a set with restore.sh, which verifies (and authenticates) the set first."""
    return script_job(RESTORE_SCRIPT, {
        "--dest": dest, "--job": job, "--set": backup_set, "--files": bool(target), "--target": target,
        "--path": list(paths), "--in-place": in_place, "--keep-setuid": keep_setuid,
        "--postgres-globals": postgres_globals, "--mysql-db": mysql_db, "--postgres-db": postgres_db,
        "--into": into, "--replace": replace, "--encrypt-key": encrypt_key,
        "--allow-unauthenticated": allow_unauthenticated, **_remote(ssh_key, host_key, known_hosts)},
        note_keys=RESTORE_NOTE_KEYS, note_format=RESTORE_NOTE)


def format_age(seconds: float | None) -> str:
    """An age as a technician reads it: ``3h05m``; ``4d02h`` from 100 hours on; ``-`` when unknown."""
    if seconds is None:
        return "-"
    minutes = max(0, int(seconds)) // 60
    hours, minutes = divmod(minutes, 60)
    if hours >= 100:
        return f"{hours // 24}d{hours % 24:02d}h"
    return f"{hours}h{minutes:02d}m"


def health(result: HostResult, max_age_hours: float) -> str:
    """One host's verdict: ok, too old, no backup, or the run's own status (failed, unreachable)."""
    if not result.succeeded:
        return result.status
    if not result.result.get("last_good"):
        return "no backup"
    age = result.result.get("age_seconds")
    if age is None or float(age) > max_age_hours * 3600:
        return "too old"
    return "ok"


def status_table(results: Sequence[HostResult], max_age_hours: float) -> str:
    """host, job, last good backup, age, sets, status; then how many hosts are fine."""
    rows = [("host", "job", "last good backup", "age", "sets", "status")]
    for r in results:
        data = r.result
        verdict = health(r, max_age_hours)
        if verdict not in ("ok", "too old", "no backup") and r.note:
            verdict = f"{verdict}: {r.note}"
        rows.append((r.target.label(), str(data.get("job") or "-"), str(data.get("last_good") or "none"),
                     format_age(data.get("age_seconds")), str(data.get("sets", "-")), verdict))
    lines = runner.table(rows, right=(3, 4))
    bad = sum(health(r, max_age_hours) != "ok" for r in results)
    lines.append(f"{len(results)} host(s): {len(results) - bad} with a good backup younger than "
                 f"{max_age_hours:g} h, {bad} without")
    return "\n".join(lines)
