"""The jobs ``inv`` can run: which script, which interpreter, which input files.

Each function returns a :class:`tssrkit.runner.Job`; the scripts themselves do the work.
"""

from __future__ import annotations

import functools
import importlib.util
import ipaddress
import os
import re
import secrets
import shlex
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import yaml

from tssrkit import render, runner
from tssrkit.lab import LabHost
from tssrkit.paths import EXAMPLES, SCRIPTS
from tssrkit.runner import HostResult, Job

IMPLEMENTATIONS = {
    "bash": (SCRIPTS / "bash" / "users" / "provision-users.sh", ("bash",)),
    "python": (SCRIPTS / "python" / "provision_users.py", ("python3",)),
}


def provision_users(csv: Path, impl: str = "bash", allow_groups: Sequence[str] = ()) -> Job:
    """Create, update and disable accounts from a users CSV (docs/reference/users-csv.md).

    ``allow_groups``: the privileged, system or foreign groups the file may name (the script's
    ``--allow-group``, which checks the names)."""
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {impl!r}: choose bash or python")
    script, interpreter = IMPLEMENTATIONS[impl]
    allow = [arg for group in allow_groups for arg in ("--allow-group", group)]
    # Uploaded under its own name, so that the script's messages name the file the user gave.
    return Job(name="provision-users", script=script, interpreter=interpreter,
               files={csv.name: csv}, args=[*allow, f"{{dir}}/{csv.name}"], validate_first=True)


def users_csv_from_accounts(accounts_file: Path, out_dir: Path) -> Path:
    """Render the users CSV from a YAML list of accounts (the role's ``users_accounts`` format).

    The YAML holds either a list, or a mapping with a ``users_accounts`` key (so an Ansible
    ``group_vars`` file serves both sides). The CSV is rendered from the role's own template.
    """
    data = yaml.safe_load(accounts_file.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data = data.get("users_accounts")
    if not isinstance(data, list) or not all(isinstance(a, dict) for a in data):
        raise ValueError(f"{accounts_file}: expected a list of accounts (or a users_accounts: list)")
    return render.render_to(out_dir / f"{accounts_file.stem}.csv", "users", "users.csv.j2", accounts=data)


BASH_LIB = SCRIPTS / "bash" / "lib"       # the deploy scripts' shared building blocks
LAMP_SCRIPT = SCRIPTS / "bash" / "lamp" / "deploy-lamp.sh"
LAMP_TEMPLATES = LAMP_SCRIPT.parent / "templates"
LAMP_DEFAULT_APP = EXAMPLES / "lamp" / "parc-v1"
LAMP_DEFAULT_NAME = "parc"                  # what deploy-lamp.sh derives from parc-v1
TARBALL_SUFFIXES = (".tar", ".tar.gz", ".tgz")
SKIPPED_IN_APP = {".git"}


def default_lamp_schema(app: Path, rollback: bool = False) -> Path | None:
    """The sample app's schema when ``app`` is the sample app (and this is a deploy); else None."""
    if rollback or app.resolve() != LAMP_DEFAULT_APP.resolve():
        return None
    return LAMP_DEFAULT_APP / "schema.sql"


def pack_app(app_dir: Path, out_dir: Path) -> Path:
    """Pack an app folder into ``out_dir/<name>.tar.gz``: one top folder ``<name>/``, owned by root.

    Members are added in sorted order, owned 0:0 ``root``, modes kept; ``.git`` is left out. The top
    folder keeps an app whose only entry is ``public/`` from being read from inside ``public/``.
    """
    app_dir = app_dir.resolve()
    base = app_dir.name
    tarball = out_dir / f"{base}.tar.gz"

    def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    def members(folder: Path, arcname: str):
        yield folder, arcname
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            if entry.name in SKIPPED_IN_APP:
                continue
            if entry.is_dir() and not entry.is_symlink():
                yield from members(entry, f"{arcname}/{entry.name}")
            else:
                yield entry, f"{arcname}/{entry.name}"

    with tarfile.open(tarball, "w:gz") as tar:
        for path, arcname in members(app_dir, base):
            tar.add(path, arcname=arcname, recursive=False, filter=owned_by_root)
    return tarball


def deploy_script_files(templates: Path) -> dict[str, Path]:
    """What a deploy script needs beside itself: its ``templates/`` and the shared ``lib/`` (with
    ``lib/templates/``), as remote name -> local path."""
    files = {f"templates/{t.name}": t for t in sorted(templates.iterdir()) if t.is_file()}
    files.update({f"lib/{f.relative_to(BASH_LIB)}": f
                  for f in sorted(BASH_LIB.rglob("*")) if f.is_file()})
    return files


def _upload_name(files: dict[str, Path], local: Path, role: str) -> str:
    """``local``'s own name in the private folder, or ``role/<name>`` when that name is taken."""
    name = local.name
    if name in files or name in (LAMP_SCRIPT.name, JAVA_SCRIPT.name, "lib", "templates"):
        name = f"{role}/{local.name}"
    files[name] = local
    return name


def deploy_lamp(app: Path | None, *, schema: Path | None = None, domain: str | None = None,
                cert: Path | None = None, key: Path | None = None, name: str | None = None,
                health: str | None = None, rollback: bool = False, out_dir: Path) -> Job:
    """Put a PHP + MariaDB app into production with deploy-lamp.sh (docs/reference/deploy-lamp.md).

    A local app folder is packed into ``out_dir`` as ``<folder>.tar.gz`` (so that the script derives
    the same app name from it); a tarball is uploaded as it is. The templates go to ``templates/``
    beside the script. Input is checked here first: a ValueError means nothing was contacted.
    """
    if app is None and not rollback:
        raise ValueError("--app is required (except with --rollback)")
    if rollback and app is None and not name:
        raise ValueError("--rollback without --app needs --name")
    if app is not None and not (app.is_dir() or app.is_file()):
        raise ValueError(f"--app {app}: no such folder or file")
    if app is not None and app.is_file() and not app.name.endswith(TARBALL_SUFFIXES):
        raise ValueError(f"--app {app}: expected a folder or a tarball ({', '.join(TARBALL_SUFFIXES)})")
    for option, path in (("--schema", schema), ("--cert", cert), ("--key", key)):
        if path is not None and not path.is_file():
            raise ValueError(f"{option} {path}: no such file")
    if (cert is None) != (key is None):
        raise ValueError("--cert and --key go together: give both or neither")
    if not LAMP_TEMPLATES.is_dir():
        raise ValueError(f"{LAMP_TEMPLATES}: no templates folder beside the script")

    files = deploy_script_files(LAMP_TEMPLATES)
    args: list[str] = []
    if app is not None:
        tarball = pack_app(app, out_dir) if app.is_dir() else app
        args += ["--app", f"{{dir}}/{_upload_name(files, tarball, 'app')}"]
    if schema is not None:
        args += ["--schema", f"{{dir}}/{_upload_name(files, schema, 'schema')}"]
    if cert is not None and key is not None:
        args += ["--cert", f"{{dir}}/{_upload_name(files, cert, 'cert')}",
                 "--key", f"{{dir}}/{_upload_name(files, key, 'key')}"]
    for option, value in (("--name", name), ("--domain", domain), ("--health", health)):
        if value:
            args += [option, value]
    if rollback:
        args.append("--rollback")
    return Job(name="deploy-lamp", script=LAMP_SCRIPT, files=files, args=args, validate_first=True)


def site_urls(results: Sequence[HostResult], lab_hosts: Sequence[LabHost], self_signed: bool) -> list[str]:
    """One line per successful host: where to open the app (deploy-lamp or deploy-java).

    Lab hosts are reached through their HTTPS port published on 127.0.0.1 (the vhost is the only one
    on 443, so Apache serves it whatever the Host header), at the path of the result line's ``url``
    (a WAR's context); other hosts at the ``url`` itself.
    """
    ports = {h.name: h.ports.get("https") for h in lab_hosts}
    lines = []
    for r in results:
        if not r.succeeded:
            continue
        domain = r.result.get("domain") or ""
        url = str(r.result.get("url") or (f"https://{domain}/" if domain else ""))
        port = ports.get(r.target.name) if r.target.lab else None
        if port:
            path = "/" + url.split("://", 1)[-1].partition("/")[2] if url else "/"
            local = f"https://127.0.0.1:{port}{path}"
            line = f"{r.target.label()}: {local}  (vhost {domain or url})"
            if self_signed:
                line += f"  self-signed certificate: curl -k {local}"
        elif url:
            line = f"{r.target.label()}: {url}"
            if self_signed:
                line += f"  self-signed certificate: curl -k {url}"
        else:
            continue
        lines.append(line)
    return lines


JAVA_SCRIPT = SCRIPTS / "bash" / "java" / "deploy-java.sh"
JAVA_TEMPLATES = JAVA_SCRIPT.parent / "templates"
JAVA_SAMPLES = EXAMPLES / "java"
JAVA_BUILD = JAVA_SAMPLES / "build.sh"
JAVA_SAMPLE_NAME = "hello-service"          # what deploy-java.sh derives from hello-service-1.0.0.jar


def build_java_samples(version: str, out_dir: Path) -> dict[str, Path]:
    """Build the sample jar and WAR (examples/java) at ``version`` with the local JDK.

    Returns ``{"jar": …, "war": …}``. Raises ValueError when the build fails (no JDK, bad version).
    """
    proc = subprocess.run(["bash", str(JAVA_BUILD), "samples", version, str(out_dir)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise ValueError(f"building the Java samples failed: {proc.stderr.strip()}")
    return {"jar": out_dir / f"hello-service-{version}.jar", "war": out_dir / f"hello-war-{version}.war"}


def deploy_java(jar: Path | None = None, war: Path | None = None, *, name: str | None = None,
                version: str | None = None, domain: str | None = None, cert: Path | None = None,
                key: Path | None = None, context: str | None = None, port: int | None = None,
                java: str | None = None, heap: str | None = None, env_file: Path | None = None,
                health: str | None = None, health_timeout: int | None = None, rollback: bool = False) -> Job:
    """Run a Java application with deploy-java.sh (docs/reference/deploy-java.md).

    The archive is uploaded under its own name (the script derives the app name from it), the
    templates to ``templates/`` and the shared building blocks to ``lib/`` beside the script. Input is
    checked here first: a ValueError means nothing was contacted.
    """
    if jar is not None and war is not None:
        raise ValueError("give --jar or --war, not both")
    archive = jar if jar is not None else war
    if rollback:
        if archive is not None:
            raise ValueError("--rollback goes back to a release already on the hosts: give --name only")
        if not name:
            raise ValueError("--rollback needs --name")
    elif archive is None:
        raise ValueError("--jar or --war is required (except with --rollback)")
    for option, path in (("--jar", jar), ("--war", war), ("--cert", cert), ("--key", key),
                         ("--env-file", env_file)):
        if path is not None and not path.is_file():
            raise ValueError(f"{option} {path}: no such file")
    if (cert is None) != (key is None):
        raise ValueError("--cert and --key go together: give both or neither")
    files = deploy_script_files(JAVA_TEMPLATES)
    args: list[str] = []
    if archive is not None:
        args += ["--jar" if jar is not None else "--war", f"{{dir}}/{_upload_name(files, archive, 'app')}"]
    if cert is not None and key is not None:
        args += ["--cert", f"{{dir}}/{_upload_name(files, cert, 'cert')}",
                 "--key", f"{{dir}}/{_upload_name(files, key, 'key')}"]
    if env_file is not None:
        args += ["--env-file", f"{{dir}}/{_upload_name(files, env_file, 'env')}"]
    for option, value in (("--name", name), ("--version", version), ("--domain", domain),
                          ("--context", context), ("--port", port), ("--java", java), ("--heap", heap),
                          ("--health", health), ("--health-timeout", health_timeout)):
        if value is not None and value != "":
            args += [option, str(value)]   # 0 or a bad value goes through: the script refuses it (exit 2)
    if rollback:
        args.append("--rollback")
    return Job(name="deploy-java", script=JAVA_SCRIPT, files=files, args=args, validate_first=True)


BACKUP_DIR = SCRIPTS / "bash" / "backup"
BACKUP_SCRIPT = BACKUP_DIR / "backup.sh"
RESTORE_SCRIPT = BACKUP_DIR / "restore.sh"
BACKUP_TEMPLATES = BACKUP_DIR / "templates"
BACKUP_RETENTION = SCRIPTS / "python" / "backup_retention.py"
BACKUP_DEFAULT_DEST = "/var/backups/tssr-kit"
BACKUP_DEFAULT_JOB = "default"
BACKUP_DEFAULT_SOURCES = ("/etc",)          # when nothing else is asked for: the host's configuration
BACKUP_JOB_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
BACKUP_NOTE_KEYS = ("error", "set", "timer", "last_good")
RESTORE_NOTE_KEYS = ("error", "restored")
RESTORE_NOTE = "{restored} into {target}"


def backup_script_files(main: Path) -> dict[str, Path]:
    """What backup.sh and restore.sh need beside ``main``: the other script of the pair, the units'
    ``templates/``, the shared ``lib/`` and the retention planner ``backup_retention.py`` (looked up
    beside the script), as remote name -> local path. ``--install-timer`` installs them all."""
    files = deploy_script_files(BACKUP_TEMPLATES)
    for script in (BACKUP_SCRIPT, RESTORE_SCRIPT):
        if script != main:
            files[script.name] = script
    files[BACKUP_RETENTION.name] = BACKUP_RETENTION
    return files


def _check_job_name(job: str) -> None:
    if not BACKUP_JOB_NAME.match(job):
        raise ValueError(f"--job {job!r}: expected {BACKUP_JOB_NAME.pattern} (lower case, digits, - and _)")


def _check_dest(dest: str) -> None:
    if not (dest.startswith("/") or dest.startswith("ssh://")):
        raise ValueError(f"--dest {dest!r}: expected an absolute folder of the host or ssh://[user@]host/path")


def _check_host_path(option: str, path: str | None) -> None:
    if path is not None and not path.startswith("/"):
        raise ValueError(f"{option} {path!r}: expected an absolute path on the host")


def _repeated(option: str, values: Sequence[str]) -> list[str]:
    return [word for value in values for word in (option, value)]


def _host_key_args(dest: str, ssh_key: str | None, host_key: str | None, known_hosts: str | None
                   ) -> list[str]:
    """--ssh-key, --host-key, --known-hosts for an ssh:// destination (the script checks the key line;
    here only what needs no host: they go with a remote destination, paths are absolute, one pin)."""
    _check_host_path("--ssh-key", ssh_key)
    _check_host_path("--known-hosts", known_hosts)
    if (host_key or known_hosts) and not dest.startswith("ssh://"):
        raise ValueError("--host-key and --known-hosts go with an ssh:// --dest")
    if host_key and known_hosts:
        raise ValueError("--host-key and --known-hosts: give one or the other")
    args: list[str] = []
    for option, value in (("--ssh-key", ssh_key), ("--host-key", host_key), ("--known-hosts", known_hosts)):
        if value:
            args += [option, value]
    return args


def backup(*, job: str = BACKUP_DEFAULT_JOB, sources: Sequence[str] = (), excludes: Sequence[str] = (),
           mysql: bool = False, mysql_dbs: Sequence[str] = (), postgres: bool = False,
           postgres_dbs: Sequence[str] = (), dest: str = BACKUP_DEFAULT_DEST, ssh_key: str | None = None,
           host_key: str | None = None, known_hosts: str | None = None,
           keep: dict[str, int] | None = None, compress: str | None = None, encrypt_key: str | None = None,
           config: str | None = None, install_timer: bool = False, on_calendar: str | None = None) -> Job:
    """Back up folders and databases with backup.sh, or install the job's timer (``install_timer``).

    Paths are on the host: the sources, the passphrase file (``encrypt_key``, root-only there: a
    secret never travels with the job), the SSH key, the config, a known_hosts file. ``host_key``
    pins an ssh:// destination's host key ("TYPE BASE64"); without it (nor ``known_hosts``) the key
    recorded by ``install_timer`` is checked. With no source, no database and no config, the job
    backs up ``/etc``. ``keep``: ``{"last": 1, "daily": 7, ...}``, any subset. Input is checked here
    first: a ValueError means nothing was contacted.
    """
    _check_job_name(job)
    _check_dest(dest)
    for option, paths in (("--source", sources), ("--encrypt-key", [encrypt_key]), ("--config", [config])):
        for path in paths:
            _check_host_path(option, path)
    remote = _host_key_args(dest, ssh_key, host_key, known_hosts)
    keep = keep or {}
    for period, count in keep.items():
        if period not in ("last", "daily", "weekly", "monthly"):
            raise ValueError(f"unknown retention --keep-{period}")
        if not isinstance(count, int) or count < (1 if period == "last" else 0):
            raise ValueError(f"--keep-{period} {count!r}: expected a whole number, at least "
                             f"{1 if period == 'last' else 0}")
    if compress not in (None, "", "zstd", "gzip"):
        raise ValueError(f"--compress {compress!r}: expected zstd or gzip")
    if on_calendar and not install_timer:
        raise ValueError("--on-calendar goes with --install-timer")
    if not (sources or mysql or mysql_dbs or postgres or postgres_dbs or config):
        sources = BACKUP_DEFAULT_SOURCES
    args = ["--install-timer"] if install_timer else []
    args += ["--job", job, "--dest", dest]
    if config:
        args += ["--config", config]
    args += _repeated("--source", sources) + _repeated("--exclude", excludes)
    args += (["--mysql"] if mysql else []) + _repeated("--mysql-db", mysql_dbs)
    args += (["--postgres"] if postgres else []) + _repeated("--postgres-db", postgres_dbs)
    args += remote
    for option, value in (("--encrypt-key", encrypt_key), ("--compress", compress),
                          ("--on-calendar", on_calendar)):
        if value:
            args += [option, value]
    for period in ("last", "daily", "weekly", "monthly"):
        if period in keep:
            args += [f"--keep-{period}", str(keep[period])]
    return Job(name="backup", script=BACKUP_SCRIPT, files=backup_script_files(BACKUP_SCRIPT), args=args,
               validate_first=True, note_keys=BACKUP_NOTE_KEYS)


def backup_status(job: str = BACKUP_DEFAULT_JOB, dest: str = BACKUP_DEFAULT_DEST, *,
                  ssh_key: str | None = None, host_key: str | None = None, known_hosts: str | None = None
                  ) -> Job:
    """``backup.sh status``: the job's newest complete set, its age and the number of sets (read only)."""
    _check_job_name(job)
    _check_dest(dest)
    remote = _host_key_args(dest, ssh_key, host_key, known_hosts)
    return Job(name="backup-status", script=BACKUP_SCRIPT, files=backup_script_files(BACKUP_SCRIPT),
               args=["status", "--job", job, "--dest", dest, *remote], validate_first=False,
               note_keys=BACKUP_NOTE_KEYS)


def restore(*, job: str = BACKUP_DEFAULT_JOB, dest: str = BACKUP_DEFAULT_DEST, backup_set: str = "latest",
            target: str | None = None, paths: Sequence[str] = (), in_place: bool = False,
            keep_setuid: bool = False, mysql_db: str | None = None, postgres_db: str | None = None,
            postgres_globals: bool = False, into: str | None = None, replace: bool = False,
            encrypt_key: str | None = None, allow_unauthenticated: bool = False, ssh_key: str | None = None,
            host_key: str | None = None, known_hosts: str | None = None) -> Job:
    """Restore files (``target``), one database or the PostgreSQL roles from a set with restore.sh.

    Exactly one of ``target``, ``mysql_db``, ``postgres_db``, ``postgres_globals``. Files go into
    ``target`` (a folder of the host that must be empty or missing, unless ``in_place``); ``paths``
    restrict them to members (relative to /, like ``srv/data``); setuid/setgid bits are removed
    outside / unless ``keep_setuid``. A database is restored under its name (any name the server
    had), or ``into`` another. A set without ``encrypt_key`` on storage someone else holds is refused
    unless ``allow_unauthenticated``. Input is checked here first: a ValueError means nothing was
    contacted.
    """
    _check_job_name(job)
    _check_dest(dest)
    chosen = [name for name, value in (("--target", target), ("--mysql-db", mysql_db),
                                       ("--postgres-db", postgres_db),
                                       ("--postgres-globals", postgres_globals)) if value]
    if len(chosen) != 1:
        raise ValueError("give one of --target (files), --mysql-db, --postgres-db or --postgres-globals"
                         + (f", not {' and '.join(chosen)}" if chosen else ""))
    _check_host_path("--target", target)
    _check_host_path("--encrypt-key", encrypt_key)
    remote = _host_key_args(dest, ssh_key, host_key, known_hosts)
    for path in paths:
        if path.startswith("/") or ".." in PurePosixPath(path).parts:
            raise ValueError(f"--path {path!r}: expected a member relative to / such as srv/data")
    if (paths or in_place or keep_setuid) and not target:
        raise ValueError("--path, --in-place and --keep-setuid go with --target (a files restore)")
    if (into or replace) and (target or postgres_globals):
        raise ValueError("--into and --replace go with --mysql-db or --postgres-db")
    if not re.match(r"^(latest|[a-z0-9][a-z0-9_-]{0,39}-\d{8}T\d{6}Z)$", backup_set):
        raise ValueError(f"--set {backup_set!r}: expected latest or a set name such as "
                         f"{job}-20261129T021500Z")
    args = ["--dest", dest, "--job", job, "--set", backup_set]
    if target:
        args += ["--files", "--target", target, *_repeated("--path", paths)]
        args += (["--in-place"] if in_place else []) + (["--keep-setuid"] if keep_setuid else [])
    elif postgres_globals:
        args += ["--postgres-globals"]
    else:
        args += ["--mysql-db", mysql_db] if mysql_db else ["--postgres-db", postgres_db]
        args += (["--into", into] if into else []) + (["--replace"] if replace else [])
    if encrypt_key:
        args += ["--encrypt-key", encrypt_key]
    args += ["--allow-unauthenticated"] if allow_unauthenticated else []
    args += remote
    return Job(name="restore", script=RESTORE_SCRIPT, files=backup_script_files(RESTORE_SCRIPT), args=args,
               validate_first=True, note_keys=RESTORE_NOTE_KEYS, note_format=RESTORE_NOTE)


def format_age(seconds: float | None) -> str:
    """An age as a technician reads it: ``3h05m``; ``4d02h`` from 100 hours on; ``-`` when unknown."""
    if seconds is None:
        return "-"
    minutes = max(0, int(seconds)) // 60
    hours, minutes = divmod(minutes, 60)
    if hours >= 100:
        return f"{hours // 24}d{hours % 24:02d}h"
    return f"{hours}h{minutes:02d}m"


def backup_health(result: HostResult, max_age_hours: float) -> str:
    """One host's verdict: ok, too old, no backup, or the run's own status (failed, unreachable)."""
    if not result.succeeded:
        return result.status
    if not result.result.get("last_good"):
        return "no backup"
    age = result.result.get("age_seconds")
    if age is None or float(age) > max_age_hours * 3600:
        return "too old"
    return "ok"


def backup_status_table(results: Sequence[HostResult], max_age_hours: float) -> str:
    """host, job, last good backup, age, sets, status; then how many hosts are fine."""
    rows = [("host", "job", "last good backup", "age", "sets", "status")]
    for r in results:
        data = r.result
        health = backup_health(r, max_age_hours)
        if health not in ("ok", "too old", "no backup") and r.note:
            health = f"{health}: {r.note}"
        rows.append((r.target.label(), str(data.get("job") or "-"), str(data.get("last_good") or "none"),
                     format_age(data.get("age_seconds")), str(data.get("sets", "-")), health))
    lines = runner.table(rows, right=(3, 4))
    bad = sum(backup_health(r, max_age_hours) != "ok" for r in results)
    lines.append(f"{len(results)} host(s): {len(results) - bad} with a good backup younger than "
                 f"{max_age_hours:g} h, {bad} without")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Monitoring (issue 6): the SNMP agent, log forwarding, checks over SSH, the SNMP poller.

SNMP_DIR = SCRIPTS / "bash" / "snmp"
SNMP_SCRIPT = SNMP_DIR / "setup-snmp.sh"
SYSLOG_DIR = SCRIPTS / "bash" / "logging"
SYSLOG_SCRIPT = SYSLOG_DIR / "setup-logging.sh"
CHECK_SCRIPT = SCRIPTS / "python" / "tssr_check.py"
POLL_SCRIPT = SCRIPTS / "python" / "snmp_poll.py"
CHECK_RUNNER = Path(__file__).resolve().parent / "run_checks.py"
SNMP_CREDENTIALS_NAME = "snmp-credentials.conf"      # the upload's name in the private folder
SNMP_PASSPHRASE_MAX = 64                              # setup-snmp.sh's limit (net-snmp's poller has none)
SNMP_LAB_USER = "tssr-monitor"
SNMP_NOTE_KEYS = ("error", "user", "listen")
LOGGING_MODES = ("client", "server")
LOGGING_NOTE_KEYS = ("error", "server", "dir", "config")
CHECKS = ("disk", "memory", "load", "service", "http", "backup")
DEFAULT_CHECKS = ("disk", "memory", "load")
PLUGIN_STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
POLL_FORMATS = ("table", "json", "nagios")


def script_folder_files(script: Path, *extra: Path) -> dict[str, Path]:
    """What a script of its own folder needs on the host: every other file of its folder (templates,
    helpers; sub-folders kept), the shared ``lib/``, and ``extra`` files beside it, as remote name ->
    local path. The script itself is uploaded by the runner."""
    folder = script.parent
    files = {str(f.relative_to(folder)): f for f in sorted(folder.rglob("*"))
             if f.is_file() and f != script and "__pycache__" not in f.parts}
    files.update({f"lib/{f.relative_to(BASH_LIB)}": f for f in sorted(BASH_LIB.rglob("*")) if f.is_file()})
    for path in extra:
        files.setdefault(path.name, path)
    return files


def check_address(option: str, value: str, cidr: bool = True) -> str:
    """An IPv4/IPv6 address (or network, when ``cidr``) as the scripts take it; ValueError otherwise."""
    try:
        if cidr and "/" in value:
            ipaddress.ip_network(value, strict=False)
        else:
            ipaddress.ip_address(value)
    except ValueError:
        what = "an IPv4/IPv6 address or CIDR" if cidr else "an IPv4/IPv6 address"
        raise ValueError(f"{option} {value!r}: expected {what}") from None
    return value


@functools.cache
def snmp_poll_module():
    """scripts/python/snmp_poll.py as a module (it finds tssr_check.py beside itself): its credentials
    format (keys, protocols, user, file rights) is the one the kit reads everywhere."""
    spec = importlib.util.spec_from_file_location("snmp_poll", POLL_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def read_snmp_credentials(path: Path) -> dict[str, str]:
    """Read and check a credentials file with snmp_poll.py's own reader (``key = value`` lines,
    yours and 0600/0400, a known user and protocols, passphrases of 8 characters or more), since
    ``inv poll`` reads the same file; and setup-snmp.sh's limit of 64 characters per passphrase.
    A ValueError names the file and what is wrong, never a passphrase.
    """
    poller = snmp_poll_module()
    try:
        credentials = poller.read_credentials_file(path)
    except poller.UsageError as exc:
        raise ValueError(f"--credentials: {exc}") from None
    values = {key: getattr(credentials, key) for key in poller.CREDENTIAL_KEYS}
    for key in ("auth_passphrase", "priv_passphrase"):
        if len(values[key]) > SNMP_PASSPHRASE_MAX:
            raise ValueError(f"--credentials {path}: {key}: at most {SNMP_PASSPHRASE_MAX} characters "
                             f"(setup-snmp.sh refuses longer ones)")
    return values


def ensure_lab_snmp_credentials(path: Path) -> Path:
    """The lab's SNMPv3 credentials: generated once (random passphrases, SHA-512 + AES-128), 0600.

    An existing file is kept as it is (the lab's agents were keyed with it).
    """
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ("# The lab's SNMPv3 user, written once by `inv setup-snmp` (snmp_poll.py's format).\n"
            f"user = {SNMP_LAB_USER}\nauth_protocol = sha512\n"
            f"auth_passphrase = {secrets.token_urlsafe(24)}\npriv_protocol = aes128\n"
            f"priv_passphrase = {secrets.token_urlsafe(24)}\n")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def setup_snmp(*, credentials: Path, monitors: Sequence[str], listen: Sequence[str] = (),
               sys_name: str | None = None, location: str | None = None, contact: str | None = None,
               views: Sequence[str] = (), disks: Sequence[str] = (), load: str | None = None,
               procs: Sequence[str] = (), backup_job: str | None = None,
               v2c_community_file: Path | None = None, v2c_source: str | None = None) -> Job:
    """Configure the SNMPv3 agent with setup-snmp.sh (docs/reference/setup-snmp.md).

    The credentials file (and a v2c community file) is uploaded into the run's private folder and
    made root-only there before the script reads it: no passphrase in any argv. The monitors and
    listening addresses are checked here; the rest (views, disks, processes) by the script, whose
    dry run runs on every host before any host changes. A ValueError means nothing was contacted.
    """
    read_snmp_credentials(credentials)
    if not monitors:
        raise ValueError("--monitor is required: the address (or CIDR) of the monitoring server")
    for value in monitors:
        check_address("--monitor", value)
    for value in listen:
        check_address("--listen", value, cidr=False)
    if (v2c_community_file is None) != (not v2c_source):
        raise ValueError("--v2c-community-file and --v2c-source go together: give both or neither")
    if v2c_community_file is not None and not v2c_community_file.is_file():
        raise ValueError(f"--v2c-community-file {v2c_community_file}: no such file")
    if v2c_source:
        check_address("--v2c-source", v2c_source)
    if backup_job:
        _check_job_name(backup_job)
    files = script_folder_files(SNMP_SCRIPT, CHECK_SCRIPT)
    files[SNMP_CREDENTIALS_NAME] = credentials
    root_only = [SNMP_CREDENTIALS_NAME]
    args = ["--credentials", f"{{dir}}/{SNMP_CREDENTIALS_NAME}"]
    args += _repeated("--monitor", monitors) + _repeated("--listen", listen)
    for option, value in (("--sys-name", sys_name), ("--location", location), ("--contact", contact),
                          ("--load", load), ("--backup-job", backup_job)):
        if value:
            args += [option, value]
    args += _repeated("--view", views) + _repeated("--disk", disks) + _repeated("--proc", procs)
    if v2c_community_file is not None and v2c_source:
        files["snmp-community"] = v2c_community_file
        root_only.append("snmp-community")
        args += ["--v2c-community-file", "{dir}/snmp-community", "--v2c-source", v2c_source]
    return Job(name="setup-snmp", script=SNMP_SCRIPT, files=files, args=args, validate_first=True,
               note_keys=SNMP_NOTE_KEYS, root_only=root_only)


def _server_spec(value: str) -> str:
    """``HOST[:PORT]`` or ``[IPv6]:PORT`` of a log server; ValueError otherwise."""
    match = re.fullmatch(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"
                         r"|[0-9A-Fa-f:]+:[0-9A-Fa-f:.]*))(?::(?P<port>\d{1,5}))?", value)
    if not match or (match.group("port") and not 0 < int(match.group("port")) < 65536):
        raise ValueError(f"--server {value!r}: expected HOST[:PORT] (IPv6 as [ADDR]:PORT)")
    return value


def setup_logging(mode: str, *, server: str | None = None, allow: Sequence[str] = (),
                  listen: str | None = None, port: int | None = None, tls: bool = False,
                  ca: Path | None = None, cert: Path | None = None, key: Path | None = None,
                  server_name: str | None = None, queue_size: int | None = None, log_dir: str | None = None,
                  keep_days: int | None = None) -> Job:
    """Forward logs to a central rsyslog (``client``) or be that server (``server``) with
    setup-logging.sh (docs/reference/setup-logging.md).

    Certificates and the private key are local files, uploaded beside the script (the key made
    root-only there). A ValueError means nothing was contacted.
    """
    if mode not in LOGGING_MODES:
        raise ValueError(f"mode {mode!r}: expected client or server")
    client_only = {"--server": server, "--server-name": server_name, "--queue-size": queue_size}
    server_only = {"--allow": list(allow), "--listen": listen, "--port": port, "--dir": log_dir,
                   "--keep-days": keep_days}
    others = server_only if mode == "client" else client_only
    wrong = [option for option, value in others.items() if value not in (None, [], "")]
    if wrong:
        raise ValueError(f"{wrong[0]} does not go with {mode} mode")
    if mode == "client" and not server:
        raise ValueError("client mode needs --server HOST[:PORT] (the central log server)")
    if mode == "server" and not allow:
        raise ValueError("server mode needs --allow CIDR (the clients' addresses; repeatable)")
    for value in allow:
        check_address("--allow", value)
    if listen:
        check_address("--listen", listen, cidr=False)
    if server:
        _server_spec(server)
    for option, value in (("--port", port), ("--queue-size", queue_size), ("--keep-days", keep_days)):
        if value is not None and not (isinstance(value, int) and value > 0):
            raise ValueError(f"{option} {value!r}: expected a whole number above 0")
    _check_host_path("--dir", log_dir)
    for option, path in (("--ca", ca), ("--cert", cert), ("--key", key)):
        if path is not None and not path.is_file():
            raise ValueError(f"{option} {path}: no such file")
    if (ca or cert or key) and not tls:
        raise ValueError("--ca, --cert and --key go with --tls")
    if tls and ca is None:
        raise ValueError("--tls needs --ca FILE (the CA that signed the certificates)")
    if (cert is None) != (key is None):
        raise ValueError("--cert and --key go together: give both or neither")
    if mode == "server" and tls and cert is None:
        raise ValueError("server mode with --tls needs --cert and --key")
    files = script_folder_files(SYSLOG_SCRIPT)
    root_only: list[str] = []
    args = [mode]
    if server:
        args += ["--server", server]
    args += _repeated("--allow", allow)
    for option, value in (("--listen", listen), ("--port", port), ("--dir", log_dir),
                          ("--keep-days", keep_days), ("--server-name", server_name),
                          ("--queue-size", queue_size)):
        if value is not None and value != "":
            args += [option, str(value)]
    if tls:
        args.append("--tls")
    for option, path in (("--ca", ca), ("--cert", cert), ("--key", key)):
        if path is not None:
            name = f"tls/{option.lstrip('-')}.pem"
            files[name] = path
            args += [option, f"{{dir}}/{name}"]
            if option == "--key":
                root_only.append(name)
    return Job(name=f"setup-logging {mode}", script=SYSLOG_SCRIPT, files=files, args=args,
               validate_first=True, note_keys=LOGGING_NOTE_KEYS, root_only=root_only)


def parse_check(spec: str) -> list[str]:
    """A ``--check`` value: a tssr_check.py command line (``disk --path /var -w 85``) → its words."""
    try:
        words = shlex.split(spec)
    except ValueError as exc:
        raise ValueError(f"--check {spec!r}: {exc}") from None
    if not words or words[0] not in CHECKS:
        raise ValueError(f"--check {spec!r}: expected one of {', '.join(CHECKS)}, then its options "
                         f"(scripts/python/tssr_check.py --help)")
    if words[0] in ("service", "http") and len(words) < 2:
        what = "UNIT" if words[0] == "service" else "URL"
        raise ValueError(f"--check {spec!r}: {words[0]} needs its {what}")
    return words


def check(checks: Sequence[str] = DEFAULT_CHECKS) -> Job:
    """Run tssr_check.py checks on each host, in one SSH session (tssrkit/run_checks.py), read only.

    Each check is a tssr_check.py command line; the backup check gets backup.sh (and lib/) beside
    tssr_check.py, where it looks for it. Runs with sudo like every job (the backup check needs root).
    """
    specs = [" ".join(shlex.quote(w) for w in parse_check(spec)) for spec in checks] if checks else []
    if not specs:
        raise ValueError("no check given")
    files = {CHECK_SCRIPT.name: CHECK_SCRIPT}
    if any(spec.split()[0] == "backup" for spec in specs):
        files.update(backup_script_files(BACKUP_SCRIPT))
        files[BACKUP_SCRIPT.name] = BACKUP_SCRIPT
    return Job(name="check", script=CHECK_RUNNER, interpreter=("python3",), files=files,
               args=["--script", f"{{dir}}/{CHECK_SCRIPT.name}", *specs], validate_first=False)


def check_rows(results: Sequence[HostResult]) -> list[tuple[str, str, str, str]]:
    """(host, check, state, status line) for each host and check; a host where the checks could not
    run is one CRITICAL row (unreachable) or UNKNOWN row (ran, but gave no result)."""
    rows = []
    for r in results:
        checks = r.result.get("checks") if r.succeeded else None
        if not isinstance(checks, list):
            state = "CRITICAL" if r.status == "unreachable" else "UNKNOWN"
            rows.append((r.target.label(), "-", state, f"{r.status}: {r.note}" if r.note else r.status))
            continue
        for item in checks:
            state = item.get("state") if item.get("state") in PLUGIN_STATES else "UNKNOWN"
            rows.append((r.target.label(), str(item.get("check", "?")), state, str(item.get("line", ""))))
    return rows


def check_exit_code(rows: Sequence[tuple[str, str, str, str]]) -> int:
    """The worst state's plugin code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (snmp_poll.py's order)."""
    return max((PLUGIN_STATES.index(row[2]) for row in rows), default=3)


def check_table(rows: Sequence[tuple[str, str, str, str]]) -> str:
    lines = runner.table([("host", "check", "state", "status line"), *rows])
    counts = {s: sum(row[2] == s for row in rows) for s in PLUGIN_STATES}
    lines.append(f"{len(rows)} check(s): " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return "\n".join(lines)


def poll_argv(agents: Sequence[str], *, credentials: Path | None = None, fmt: str = "table",
              concurrency: int | None = None, sequential: bool = False, timeout: float | None = None,
              retries: int | None = None, thresholds: dict[str, str] | None = None,
              python: str = sys.executable) -> list[str]:
    """The snmp_poll.py command line for ``agents`` (run on this machine; no secret in it: the
    credentials are a file, or the TSSR_SNMP_* environment when ``credentials`` is None)."""
    if not agents:
        raise ValueError("no agent to poll")
    if fmt not in POLL_FORMATS:
        raise ValueError(f"--format {fmt!r}: expected {', '.join(POLL_FORMATS)}")
    if sequential and concurrency:
        raise ValueError("--sequential and --concurrency do not go together")
    argv = [python, str(POLL_SCRIPT), *_repeated("--agent", agents), "--format", fmt]
    if credentials is not None:
        read_snmp_credentials(credentials)
        argv += ["--credentials", str(credentials)]
    if sequential:
        argv.append("--sequential")
    for option, value in (("--concurrency", concurrency), ("--timeout", timeout), ("--retries", retries)):
        if value is not None:
            argv += [option, str(value)]
    for name, value in (thresholds or {}).items():
        if name not in ("load-warning", "load-critical", "disk-warning", "disk-critical"):
            raise ValueError(f"unknown threshold --{name}")
        if value:
            argv += [f"--{name}", value]
    return argv


def lab_agents(lab_hosts: Sequence[LabHost]) -> list[str]:
    """The lab's agents as the poller reaches them: 127.0.0.1 and each host's published 161/udp.

    A running host without that port (started by an older lab) is a ValueError naming the fix.
    """
    running = [h for h in lab_hosts if h.state == "running"]
    if not running:
        raise ValueError("no lab host is running: `inv lab.up`, then `inv setup-snmp`")
    missing = [h.name for h in running if "snmp" not in h.ports]
    if missing:
        raise ValueError(f"{', '.join(missing)} does not publish 161/udp (started by an older lab): "
                         "`inv lab.down && inv lab.up` recreates the lab with it (the hosts are wiped)")
    return [f"127.0.0.1:{h.ports['snmp']}" for h in running]
