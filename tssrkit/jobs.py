"""The jobs ``inv`` can run: which script, which interpreter, which input files.

Each function returns a :class:`tssrkit.runner.Job`; the scripts themselves do the work.
"""

from __future__ import annotations

import re
import subprocess
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


def provision_users(csv: Path, impl: str = "bash") -> Job:
    """Create, update and disable accounts from a users CSV (docs/reference/users-csv.md)."""
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {impl!r}: choose bash or python")
    script, interpreter = IMPLEMENTATIONS[impl]
    # Uploaded under its own name, so that the script's messages name the file the user gave.
    return Job(name="provision-users", script=script, interpreter=interpreter,
               files={csv.name: csv}, args=[f"{{dir}}/{csv.name}"], validate_first=True)


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


def backup(*, job: str = BACKUP_DEFAULT_JOB, sources: Sequence[str] = (), excludes: Sequence[str] = (),
           mysql: bool = False, mysql_dbs: Sequence[str] = (), postgres: bool = False,
           postgres_dbs: Sequence[str] = (), dest: str = BACKUP_DEFAULT_DEST, ssh_key: str | None = None,
           keep: dict[str, int] | None = None, compress: str | None = None, encrypt_key: str | None = None,
           config: str | None = None, install_timer: bool = False, on_calendar: str | None = None) -> Job:
    """Back up folders and databases with backup.sh, or install the job's timer (``install_timer``).

    Paths are on the host: the sources, the passphrase file (``encrypt_key``, root-only there: a
    secret never travels with the job), the SSH key, the config. With no source, no database and no
    config, the job backs up ``/etc``. ``keep``: ``{"last": 1, "daily": 7, ...}``, any subset. Input
    is checked here first: a ValueError means nothing was contacted.
    """
    _check_job_name(job)
    _check_dest(dest)
    for option, paths in (("--source", sources), ("--encrypt-key", [encrypt_key]), ("--ssh-key", [ssh_key]),
                          ("--config", [config])):
        for path in paths:
            _check_host_path(option, path)
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
    for option, value in (("--ssh-key", ssh_key), ("--encrypt-key", encrypt_key), ("--compress", compress),
                          ("--on-calendar", on_calendar)):
        if value:
            args += [option, value]
    for period in ("last", "daily", "weekly", "monthly"):
        if period in keep:
            args += [f"--keep-{period}", str(keep[period])]
    return Job(name="backup", script=BACKUP_SCRIPT, files=backup_script_files(BACKUP_SCRIPT), args=args,
               validate_first=True, note_keys=BACKUP_NOTE_KEYS)


def backup_status(job: str = BACKUP_DEFAULT_JOB, dest: str = BACKUP_DEFAULT_DEST) -> Job:
    """``backup.sh status``: the job's newest complete set, its age and the number of sets (read only)."""
    _check_job_name(job)
    _check_dest(dest)
    return Job(name="backup-status", script=BACKUP_SCRIPT, files=backup_script_files(BACKUP_SCRIPT),
               args=["status", "--job", job, "--dest", dest], validate_first=False,
               note_keys=BACKUP_NOTE_KEYS)


def restore(*, job: str = BACKUP_DEFAULT_JOB, dest: str = BACKUP_DEFAULT_DEST, backup_set: str = "latest",
            target: str | None = None, paths: Sequence[str] = (), in_place: bool = False,
            mysql_db: str | None = None, postgres_db: str | None = None, into: str | None = None,
            replace: bool = False, encrypt_key: str | None = None, ssh_key: str | None = None) -> Job:
    """Restore files (``target``) or one database from a set with restore.sh.

    Exactly one of ``target``, ``mysql_db``, ``postgres_db``. Files go into ``target`` (a folder of
    the host that must be empty or missing, unless ``in_place``); ``paths`` restrict them to members
    (relative to /, like ``srv/data``). A database is restored under its name, or ``into`` another.
    Input is checked here first: a ValueError means nothing was contacted.
    """
    _check_job_name(job)
    _check_dest(dest)
    chosen = [name for name, value in (("--target", target), ("--mysql-db", mysql_db),
                                       ("--postgres-db", postgres_db)) if value]
    if len(chosen) != 1:
        raise ValueError("give one of --target (files), --mysql-db or --postgres-db"
                         + (f", not {' and '.join(chosen)}" if chosen else ""))
    _check_host_path("--target", target)
    _check_host_path("--encrypt-key", encrypt_key)
    _check_host_path("--ssh-key", ssh_key)
    for path in paths:
        if path.startswith("/") or ".." in PurePosixPath(path).parts:
            raise ValueError(f"--path {path!r}: expected a member relative to / such as srv/data")
    if (paths or in_place) and not target:
        raise ValueError("--path and --in-place go with --target (a files restore)")
    if (into or replace) and target:
        raise ValueError("--into and --replace go with --mysql-db or --postgres-db")
    if not re.match(r"^(latest|[a-z0-9][a-z0-9_-]{0,39}-\d{8}T\d{6}Z)$", backup_set):
        raise ValueError(f"--set {backup_set!r}: expected latest or a set name such as "
                         f"{job}-20261129T021500Z")
    args = ["--dest", dest, "--job", job, "--set", backup_set]
    if target:
        args += ["--files", "--target", target, *_repeated("--path", paths)]
        args += ["--in-place"] if in_place else []
    else:
        args += ["--mysql-db", mysql_db] if mysql_db else ["--postgres-db", postgres_db]
        args += (["--into", into] if into else []) + (["--replace"] if replace else [])
    for option, value in (("--encrypt-key", encrypt_key), ("--ssh-key", ssh_key)):
        if value:
            args += [option, value]
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
