"""tssr-kit's front door: ``inv --list`` shows the jobs, ``inv --help TASK`` their options.

Every task is thin: it picks the hosts (``--hosts``, ``--inventory`` or the local lab: ``@fleet_task``,
tssrkit/fleet.py) and runs a script of ``scripts/`` there through its job module (``tssrkit/jobs/``):
``fleet.run(job)``. See README.md.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from invoke import Collection, Exit, task

from tssrkit import exercises as exerciselib
from tssrkit import hosts as hostlib
from tssrkit import images as imagelib
from tssrkit import jobs, pkgcache, pslint, runner
from tssrkit import lab as labmod
from tssrkit import states as statelib
from tssrkit import windows as winlib
from tssrkit.fleet import HOST_KEY_HELP, HOSTS_HELP, Fleet, checks_host_keys, fleet_task
from tssrkit.paths import REPO

logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
logging.getLogger("paramiko").setLevel(logging.WARNING)  # "sftp session closed" is not news


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _print_sites(fleet: Fleet, results: list[runner.HostResult], self_signed: bool) -> None:
    """After a deploy: where to open the site on each host (lab hosts: their port on 127.0.0.1)."""
    if fleet.dry_run:
        return
    lab_hosts = labmod.hosts() if any(r.target.lab for r in results) else []
    for line in jobs.web.site_urls(results, lab_hosts, self_signed):
        print(runner.printable(line))


@task(help={"distro": "debian12, debian13 or all (default)", "force": "rebuild even if up to date"})
def images(c, distro="all", force=False):
    """Build the Debian 12/13 test images offline (debootstrap + docker import + systemd layer), and
    the package cache's image."""
    names = list(imagelib.DISTROS) if distro == "all" else [distro]
    unknown = [n for n in names if n not in imagelib.DISTROS]
    if unknown:
        choices = ", ".join(imagelib.DISTROS)
        raise Exit(f"error: unknown distro {unknown[0]!r} (choose {choices} or all)", code=2)
    for name in imagelib.ensure(names, force=force):
        print(name)
    redhat = imagelib.redhat_image()
    print(f"RedHat family: {redhat}" if redhat else f"RedHat family: {imagelib.redhat_not_run_reason()}")


@task(help={"count": "number of lab hosts (default 1)", "distro": "debian12 (default) or debian13"})
def lab_up(c, count=1, distro=imagelib.DEFAULT_DISTRO):
    """Start the local lab: tssr-lab1…N with systemd and sshd, ports on 127.0.0.1."""
    try:
        print(labmod.status_table(labmod.up(int(count), distro)))
    except ValueError as exc:
        raise Exit(f"error: {exc}", code=2) from None


@task
def lab_status(c):
    """Show the lab hosts and their SSH/HTTP/HTTPS ports on 127.0.0.1."""
    print(labmod.status_table(labmod.hosts()))


@task
def lab_down(c):
    """Remove the lab containers (and only them)."""
    removed = labmod.down()
    print("removed: " + (", ".join(removed) if removed else "nothing"))


@task
def cache_status(c):
    """Show the package cache every kit container downloads through (tssrkit/pkgcache.py)."""
    for key, value in pkgcache.status().items():
        print(f"{key:<10} {value}")
    rows = statelib.images()
    print(f"states     {len(rows)} prepared test states ({statelib.REPOSITORY}, tssrkit/states.py)")
    for name, created, size in rows:
        print(f"           {name}  {created}  {size}")


@task(help={"purge": "also delete its downloads (the volume tssr-apt-cache)",
            "states": f"also remove the prepared test states ({statelib.REPOSITORY}:*, built again by the "
                      "next test run)"})
def cache_down(c, purge=False, states=False):
    """Stop and remove the package cache (the next test run or lab start starts it again)."""
    pkgcache.stop(purge=purge)
    print(f"removed: {pkgcache.NAME}" + (f" and the volume {pkgcache.VOLUME}" if purge else ""))
    if states:
        removed = statelib.remove()
        print("removed: " + (", ".join(removed) if removed else "no prepared state"))


@fleet_task(iterable=["allow_group"], help={
    "csv": "the users CSV (default examples/users/users.csv); format: docs/reference/users-csv.md",
    "accounts": "instead of --csv: a YAML list of accounts (roles/users' users_accounts format)",
    "impl": "bash (default) or python: the two implementations of the same contract",
    "allow-group": "a privileged (sudo, adm, docker...), system or foreign group the file may grant, "
                   "and whose members it may manage (repeatable; root never). Without it such rows are "
                   "refused",
}, order=("csv", "accounts", "hosts", "inventory", "parallel", "dry_run", "impl", "verbose", "allow_group",
          "known_hosts", "accept_new_host_key"))
def provision_users(c, fleet, csv=str(jobs.users.DEFAULT_CSV), accounts=None, impl="bash", allow_group=None):
    """Create, update and disable Linux accounts from a CSV on every host (validated everywhere first).

    A file grants no privilege by itself: groups such as sudo, adm or docker, system groups and groups
    the script did not create are refused unless --allow-group names each (docs/reference/users-csv.md).
    """
    with tempfile.TemporaryDirectory(prefix="tssr-users-") as tmp:
        if accounts and not Path(accounts).is_file():
            raise ValueError(f"--accounts {accounts}: no such file")
        if not accounts and not Path(csv).is_file():
            raise ValueError(f"--csv {csv}: no such file")
        path = jobs.users.csv_from_accounts(Path(accounts), Path(tmp)) if accounts else Path(csv)
        results = fleet.run(jobs.users.provision(path, impl, allow_group or ()))
    files = [f"{r.target.label()}:{r.result['password_file']}" for r in results
             if r.result.get("password_file")]
    if files:
        print("new passwords (root-only files on each host): " + runner.printable(", ".join(files)))


@fleet_task(auto_shortflags=False, help={
    "app": "the application: a folder (packed into a tarball) or a .tar/.tar.gz/.tgz "
           "(default examples/lamp/parc-v1)",
    "schema": "SQL applied once per content as the app's migration account NAME-migrate, never root "
              "(default: the sample app's schema.sql, only with the default --app)",
    "name": "the app's name (default: from --app, without version: parc-v1 -> parc)",
    "domain": "the vhost's ServerName (default: the host's FQDN, else NAME.localdomain)",
    "cert": "a PEM certificate (with --key; default: a self-signed one, generated once)",
    "key": "the certificate's PEM private key (with --cert)",
    "health": "the path that must answer 200 over HTTPS after the switch (default /)",
    "rollback": "switch back to the previous release (needs --name or --app)",
})
def deploy_lamp(c, fleet, app=str(jobs.lamp.DEFAULT_APP), schema=None, name=None, domain=None, cert=None,
                key=None, health=None, rollback=False):
    """Put a PHP + MariaDB app into production (Apache, PHP-FPM, TLS, firewall) as a new release."""
    app_path = _path(app)
    if rollback and app_path == jobs.lamp.DEFAULT_APP and not name:
        # A rollback needs only the name: the sample app's, without uploading it.
        app_path, name = None, jobs.lamp.DEFAULT_NAME
    schema_path = _path(schema) or (app_path and jobs.lamp.default_schema(app_path, rollback))
    with tempfile.TemporaryDirectory(prefix="tssr-lamp-") as tmp:
        job = jobs.lamp.deploy(app_path, schema=schema_path, domain=domain, name=name, health=health,
                               cert=_path(cert), key=_path(key), rollback=rollback, out_dir=Path(tmp))
        results = fleet.run(job)
    _print_sites(fleet, results, self_signed=not (cert or key))


@fleet_task(auto_shortflags=False, help={
    "jar": "an executable jar to run as a hardened service (default: the sample hello-service, built "
           "from examples/java at --version, 1.0.0 by default)",
    "war": "instead of --jar: a WAR to run on the distribution's Tomcat (Debian's tomcat10)",
    "name": "the app's name (default: from the file name, without version: hello-service-1.0.0.jar -> "
            "hello-service)",
    "version": "the release's name (default: the manifest's Implementation-Version)",
    "domain": "the vhost's ServerName (default: the host's FQDN, else NAME.localdomain)",
    "cert": "a PEM certificate (with --key; default: a self-signed one, generated once)",
    "key": "the certificate's PEM private key (with --cert)",
    "context": "WAR: the context path (default /NAME)",
    "port": "jar: the port the app listens on, on 127.0.0.1 (default 8080)",
    "java": "the Java feature release (default: the distribution's: Debian 12 -> 17, 13 -> 21)",
    "heap": "the JVM's largest heap (default 256m)",
    "env-file": "jar: KEY=VALUE lines for the app's environment (kept root-only on the host)",
    "health": "the path that must answer 200 over HTTPS after a change (default /health)",
    "health-timeout": "seconds the app has to answer after a (re)start (default 90)",
    "rollback": "switch back to the previous release (needs --name, or the sample's)",
})
def deploy_java(c, fleet, jar=None, war=None, name=None, version=None, domain=None, cert=None, key=None,
                context=None, port=None, java=None, heap=None, env_file=None, health=None,
                health_timeout=None, rollback=False):
    """Run a Java app in production: a jar as a hardened systemd service or a WAR on Tomcat, behind HTTPS."""
    with tempfile.TemporaryDirectory(prefix="tssr-java-") as tmp:
        jar_path = _path(jar)
        if rollback and not (jar or war or name):
            name = jobs.java.SAMPLE_NAME
        elif not (jar or war or rollback):
            # The sample service, built here from its source (no prebuilt binary in the repository).
            jar_path = jobs.java.build_samples(version or jobs.java.SAMPLE_VERSION, Path(tmp))["jar"]
        job = jobs.java.deploy(jar_path, _path(war), name=name, version=version, domain=domain,
                               cert=_path(cert), key=_path(key), context=context, port=port, java=java,
                               heap=heap, env_file=_path(env_file), health=health,
                               health_timeout=health_timeout, rollback=rollback)
        results = fleet.run(job)
    _print_sites(fleet, results, self_signed=not (cert or key))


BACKUP_HELP = {
    "dest": f"where the sets are: a folder of the host (default {jobs.backup.DEFAULT_DEST}) or "
            "ssh://[user@]host[:port]/path",
    "job": f"the job's name: its repository DEST/JOB/ (default {jobs.backup.DEFAULT_JOB})",
    "ssh-key": "with an ssh:// --dest: the private key, a path on the host",
    "dest-host-key": "with an ssh:// --dest: the backup server's SSH host key, 'TYPE BASE64' (default: the "
                     "one --install-timer recorded; an unknown key is refused)",
    "dest-known-hosts": "with an ssh:// --dest: a known_hosts file on the host holding the backup server's "
                        "key",
}


@fleet_task(auto_shortflags=False, iterable=["source", "exclude", "mysql_db", "postgres_db"], help={
    "source": "a folder or file of the host to archive (repeat the option for more; default /etc when "
              "no database and no --config is given)",
    "exclude": "a tar --exclude pattern (repeatable)",
    "mysql": "dump every MariaDB/MySQL database of the host",
    "mysql-db": "dump this MariaDB/MySQL database (repeatable)",
    "postgres": "dump every PostgreSQL database of the host, and its roles",
    "postgres-db": "dump this PostgreSQL database (repeatable)",
    "keep-last": "retention: the N newest sets (default 1)",
    "keep-daily": "retention: the newest set of each of the N last days with one (default 7)",
    "keep-weekly": "retention: the same per ISO week (default 4)",
    "keep-monthly": "retention: the same per month (default 6)",
    "compress": "zstd or gzip (default zstd when the host has it)",
    "encrypt-key": "encrypt the set (GnuPG, AES-256) with this passphrase file: a path on the host, "
                   "root-only (0600/0400); the passphrase never leaves the host",
    "config": "a job config on the host (key = value lines, e.g. /etc/tssr-kit/backup/JOB.conf)",
    "install-timer": "instead of a backup now: install the job (config, scripts, systemd timer)",
    "on-calendar": "with --install-timer: when the timer runs (systemd calendar, default daily)",
    **BACKUP_HELP,
})
def backup(c, fleet, job=jobs.backup.DEFAULT_JOB, source=None, exclude=None, mysql=False, mysql_db=None,
           postgres=False, postgres_db=None, dest=jobs.backup.DEFAULT_DEST, ssh_key=None, dest_host_key=None,
           dest_known_hosts=None, keep_last=None, keep_daily=None, keep_weekly=None, keep_monthly=None,
           compress=None, encrypt_key=None, config=None, install_timer=False, on_calendar=None):
    """Back up folders and databases now, as a verified set on each host, or install the job's timer."""
    keep = {"last": keep_last, "daily": keep_daily, "weekly": keep_weekly, "monthly": keep_monthly}
    fleet.run(jobs.backup.backup(
        job=job, sources=source or (), excludes=exclude or (), mysql=mysql, mysql_dbs=mysql_db or (),
        postgres=postgres, postgres_dbs=postgres_db or (), dest=dest, ssh_key=ssh_key, host_key=dest_host_key,
        known_hosts=dest_known_hosts, keep=keep, compress=compress, encrypt_key=encrypt_key, config=config,
        install_timer=install_timer, on_calendar=on_calendar))


@fleet_task(auto_shortflags=False, iterable=["path"], help={
    "set": "the set to restore from: latest (default) or its name (JOB-YYYYmmddTHHMMSSZ)",
    "target": "restore files into this folder of the host (it must be empty or missing, unless --in-place)",
    "path": "with --target: only this member, relative to / (srv/data); repeatable",
    "in-place": "with --target: allow a non-empty target, / included (overwrites live files)",
    "keep-setuid": "with --target: keep setuid/setgid bits outside / (they are listed either way)",
    "mysql-db": "restore this MariaDB/MySQL database (its name as the server had it)",
    "postgres-db": "restore this PostgreSQL database (its name as the server had it)",
    "postgres-globals": "load the set's PostgreSQL roles (globals.sql; psql cannot run client commands)",
    "into": "with a database: restore it under this name instead",
    "replace": "with a database: replace it when it exists and has tables",
    "encrypt-key": "the passphrase file of an encrypted set: a path on the host; the set must then be "
                   "authenticated by it",
    "allow-unauthenticated": "restore a set nothing authenticates (no key, and storage someone else holds; "
                             "or an encrypted set made before set version 2): only if you trust the storage",
    **BACKUP_HELP,
})
def restore(c, fleet, job=jobs.backup.DEFAULT_JOB, set_="latest", target=None, path=None, in_place=False,
            keep_setuid=False, mysql_db=None, postgres_db=None, postgres_globals=False, into=None,
            replace=False, encrypt_key=None, allow_unauthenticated=False, ssh_key=None, dest_host_key=None,
            dest_known_hosts=None, dest=jobs.backup.DEFAULT_DEST):
    """Restore files, a database or the PostgreSQL roles from a backup set (verified, and authenticated
    with its key, first) on each host."""
    fleet.run(jobs.backup.restore(
        job=job, dest=dest, backup_set=set_, target=target, paths=path or (), in_place=in_place,
        keep_setuid=keep_setuid, mysql_db=mysql_db, postgres_db=postgres_db,
        postgres_globals=postgres_globals, into=into, replace=replace, encrypt_key=encrypt_key,
        allow_unauthenticated=allow_unauthenticated, ssh_key=ssh_key, host_key=dest_host_key,
        known_hosts=dest_known_hosts))


@fleet_task(auto_shortflags=False, dry_run=False, help={
    **BACKUP_HELP,
    "job": f"the job(s) to check, comma-separated (default {jobs.backup.DEFAULT_JOB})",
    "max-age": "hours: an older newest set is a failure (default 26: a daily job and some slack)",
})
def backup_status(c, fleet, job=jobs.backup.DEFAULT_JOB, max_age=26, dest=jobs.backup.DEFAULT_DEST,
                  ssh_key=None, dest_host_key=None, dest_known_hosts=None):
    """Show each host's last good backup, its age and the sets kept; fail when one is missing or too old."""
    try:
        hours = float(max_age)
    except ValueError:
        hours = 0
    if hours <= 0:
        raise ValueError(f"--max-age {max_age!r}: expected a number of hours above 0")
    names = [name.strip() for name in str(job).split(",") if name.strip()]
    if not names:
        raise ValueError("--job is empty")
    statuses = [jobs.backup.status(name, dest, ssh_key=ssh_key, host_key=dest_host_key,
                                   known_hosts=dest_known_hosts) for name in names]
    results = fleet.run(*statuses, report=False)
    print(jobs.backup.status_table(results, hours))
    if any(jobs.backup.health(r, hours) != "ok" for r in results):
        raise Exit(code=2 if runner.exit_code(results) == 2 else 1)   # 2: a host refused the input


# --------------------------------------------------------------------------------------------------
# Monitoring: the SNMP agent, log forwarding, checks over SSH and the SNMP poller.

@fleet_task(auto_shortflags=False, iterable=["monitor", "listen", "view", "disk", "proc"], help={
    "monitor": "the monitoring server's address or CIDR, the only source allowed to query the agent "
               "(repeatable; required with --hosts; lab: the lab network's gateway, i.e. this machine)",
    "credentials": "the SNMPv3 user: a key = value file in snmp_poll.py's format, mode 0600 (required with "
                   "--hosts; lab: .tssr/<lab>/snmp-credentials.conf, generated once); uploaded root-only, "
                   "never on a command line",
    "listen": "an address the agent listens on (repeatable; default: every address)",
    "sys-name": "sysName (default: the host's name)",
    "location": "sysLocation",
    "contact": "sysContact",
    "view": "add a subtree to the read-only view: a known name or a numeric OID (repeatable)",
    "disk": "PATH:MIN% for dskTable (repeatable; default /:10%)",
    "load": "M1,M5,M15 for laTable (default: from the CPU count)",
    "proc": "NAME[:MAX[:MIN]] for prTable (repeatable)",
    "backup-job": "publish this backup job's freshness as the tssr-backup extend",
    "v2c-community-file": "ALSO allow SNMP v2c (read-only, not recommended) with the community in this "
                          "file (goes with --v2c-source)",
    "v2c-source": "the only network v2c is answered from (CIDR)",
})
def setup_snmp(c, fleet, monitor=None, credentials=None, listen=None, sys_name=None, location=None,
               contact=None, view=None, disk=None, load=None, proc=None, backup_job=None,
               v2c_community_file=None, v2c_source=None):
    """Configure an SNMPv3 agent (authPriv only, firewalled to the monitor) on each host: setup-snmp.sh."""
    lab = not fleet.given or all(t.lab for t in fleet.targets)
    if not (credentials or lab):
        raise ValueError("--credentials FILE is required with --hosts/--inventory (snmp_poll.py's format)")
    if not credentials:
        logging.info("SNMPv3 credentials of the lab: %s", labmod.SNMP_CREDENTIALS)
    creds = _path(credentials) or jobs.snmp.ensure_lab_credentials(labmod.SNMP_CREDENTIALS)
    # On the lab: its network's gateway, this machine (known once the lab is started: fleet.targets).
    monitors = monitor or ([labmod.monitor()] if lab and fleet.targets else [])
    fleet.run(jobs.snmp.setup(
        credentials=creds, monitors=monitors, listen=listen or (), sys_name=sys_name, location=location,
        contact=contact, views=view or (), disks=disk or (), load=load, procs=proc or (),
        backup_job=backup_job, v2c_community_file=_path(v2c_community_file), v2c_source=v2c_source))
    if lab and not fleet.dry_run:
        try:
            jobs.poll.lab_agents([h for h in labmod.hosts() if h.name in {t.name for t in fleet.targets}])
            print(f"poll the agents: inv poll{' --hosts ' + fleet.hosts if fleet.hosts else ''}")
        except ValueError as exc:
            print(f"warning: {exc}", file=sys.stderr)


@fleet_task(auto_shortflags=False, positional=["mode"], iterable=["allow"], help={
    "mode": "client (forward to --server), server (receive from --allow), or lab: both on the lab "
            "(the central first)",
    "server": "client: the central log server, HOST[:PORT] (default port 514, 6514 with --tls; lab: the "
              "central lab host)",
    "allow": "server: a client network allowed in, CIDR (repeatable; lab: the lab network)",
    "listen": "server: the address to listen on (default: every address)",
    "port": "server: the TCP port (default 514, 6514 with --tls)",
    "tls": "TLS on the TCP connection (needs --ca; the server also --cert/--key)",
    "ca": "the CA certificate (PEM file here) that signed the certificates",
    "cert": "this side's certificate (PEM file here; with --key)",
    "key": "this side's private key (PEM file here; uploaded root-only)",
    "server-name": "client with --tls: the name expected in the server's certificate",
    "queue-size": "client: the disk-assisted queue's largest size on disk, MB",
    "dir": "server: where the hosts' logs go, one folder per host (default /var/log/remote)",
    "keep-days": "server: days of logs kept by logrotate (default 30)",
    "central": f"lab: the central log server among the lab hosts (default {labmod.log_central()}, started "
               "if needed)",
})
def setup_logging(c, fleet, mode, server=None, allow=None, listen=None, port=None, tls=False, ca=None,
                  cert=None, key=None, server_name=None, queue_size=None, dir=None,  # noqa: A002
                  keep_days=None, central=None):
    """Forward each host's logs to a central rsyslog over TCP, losing none (client), or be it (server).

    Without --hosts/--inventory the lab is used: the central log server is tssr-lab2 (started with
    tssr-lab1 if needed; --central picks another lab host) and the clients are the other running lab
    hosts. `inv setup-logging lab` configures both, the central first.
    """
    if mode not in (*jobs.logging.MODES, "lab"):
        raise ValueError(f"mode {mode!r}: expected client, server or lab")
    options = dict(port=port, tls=tls, ca=_path(ca), cert=_path(cert), key=_path(key),
                   server_name=server_name, queue_size=queue_size, log_dir=dir, keep_days=keep_days,
                   listen=listen)
    if fleet.given:
        if mode == "lab":
            raise ValueError("mode lab is the lab's default: give client or server with --hosts")
        if central:
            raise ValueError("--central is for the lab: with --hosts give --server")
        fleet.run(jobs.logging.setup(mode, server=server, allow=allow or (), **options))
        return
    fleet.run(*jobs.logging.on_lab(mode, central, server=server, allow=allow or (), **options))


@fleet_task(auto_shortflags=False, dry_run=False, usage_code=3, iterable=["check"], help={
    "check": "a tssr_check.py command line, quoted: disk, memory, load, \"service ssh.service\", "
             "\"http https://localhost/ --insecure\", \"disk --path /var -w 85 -c 95\", \"backup --job web\" "
             "(repeatable; default: disk, memory and load)",
})
def check(c, fleet, check=None):
    """Run service checks (tssr_check.py) on each host over SSH: one row per host and check.

    Exit code: the worst state, as a monitoring plugin's: 0 OK, 1 WARNING, 2 CRITICAL (also a host
    that cannot be reached), 3 UNKNOWN (also bad input: an unknown check, a bad host).
    """
    job = jobs.checks.check(check or jobs.checks.DEFAULT_CHECKS)
    rows = jobs.checks.rows(fleet.run(job, report=False))
    print(jobs.checks.table(rows))
    if jobs.checks.exit_code(rows):
        raise Exit(code=jobs.checks.exit_code(rows))


@task(auto_shortflags=False, iterable=["agent"], help={
    "agent": "an agent, HOST[:PORT] (repeatable; instead of the hosts)",
    "credentials": "the SNMPv3 credentials file (snmp_poll.py's format; lab: the lab's, written by "
                   "`inv setup-snmp`; else the TSSR_SNMP_* environment or /etc/tssr-kit/snmp-poller.conf)",
    "format": "table (default), json or nagios",
    "sequential": "poll one agent after the other",
    "concurrency": "agents polled at the same time (default 10)",
    "timeout": "seconds per SNMP request (default 2)",
    "retries": "more tries per request (default 1)",
    "load-warning": "RANGE on the 1-minute load", "load-critical": "RANGE on the 1-minute load",
    "disk-warning": "RANGE on each disk's % used (default 80)",
    "disk-critical": "RANGE on each disk's % used (default 90)",
    "hosts": "comma list of hosts whose agent (port 161) is polled; default: the lab's agents",
    "inventory": HOSTS_HELP["inventory"],
})
def poll(c, agent=None, credentials=None, format="table", sequential=False, concurrency=None,  # noqa: A002
         timeout=None, retries=None, load_warning=None, load_critical=None, disk_warning=None,
         disk_critical=None, hosts=None, inventory=None):
    """Poll the hosts' SNMPv3 agents from this machine (snmp_poll.py): a table, JSON or a plugin line.

    The lab's agents are reached on 127.0.0.1 through each lab host's published 161/udp. Exit code:
    snmp_poll.py's (table/json: 0 all OK, 1 some agent not OK, 2 bad input; nagios: 0-3).
    """
    try:
        agents, lab = (list(agent), False) if agent else jobs.poll.agents_of(hosts, inventory)
        creds = _path(credentials) or (labmod.SNMP_CREDENTIALS if lab else None)
        if lab and not credentials and not creds.exists():
            raise ValueError(f"no {creds}: configure the lab's agents first with `inv setup-snmp`")
    except (ValueError, hostlib.HostError) as exc:
        raise Exit(f"error: {exc}", code=3 if format == "nagios" else 2) from None
    argv = jobs.poll.argv(agents, credentials=creds, fmt=format, sequential=sequential,
                          concurrency=concurrency, timeout=timeout, retries=retries, thresholds={
                              "load-warning": load_warning, "load-critical": load_critical,
                              "disk-warning": disk_warning, "disk-critical": disk_critical})
    proc = subprocess.run(argv, check=False)
    if proc.returncode:
        raise Exit(code=proc.returncode)


@task
def lint_powershell(c):
    """Check every .ps1/.psm1 with the PowerShell static gate (tree-sitter grammar + the kit's rules)."""
    problems = [p for path in pslint.powershell_files() for p in pslint.lint_file(path)]
    for problem in problems:
        print(problem)
    count = len(pslint.powershell_files())
    if problems:
        raise Exit(f"{len(problems)} problem(s) in {count} PowerShell file(s)", code=1)
    print(f"{count} PowerShell file(s): no problem")


@task(auto_shortflags=False, iterable=["param", "file"], help={
    "script": "a script of scripts/powershell, e.g. Get-TssrServerHealth.ps1",
    "param": "a script parameter: Name=Value, or Name for a switch (WhatIf); repeatable",
    "file": "an input file to upload next to the script (a users CSV…); repeatable, refer to it by its name",
    "hosts": "comma list of [user@]host[:port] of Windows hosts running OpenSSH Server",
    **HOST_KEY_HELP,
})
@checks_host_keys()
def run_powershell(c, script, hosts, param=None, file=None):
    """NOT TESTED HERE (no Windows, no pwsh): run a PowerShell script on Windows hosts over OpenSSH (Fabric).

    Uploads the script (and TssrUserCsv.psm1, and the --file inputs) into ~\\tssr-kit on each host, runs it
    with powershell.exe -EncodedCommand, prints one JSON result line per host (script, status, changed,
    exit, objects, host), its error stream as text on stderr (CLIXML decoded), and exits 1 if any host
    failed. See docs/howto/run-powershell-on-windows.md.
    """
    try:
        params = winlib.parse_params(param or [])
        winlib.files_to_upload(script, file or [])
        winlib.remote_command(script, params)
        targets = hostlib.parse_hosts(hosts)
    except (ValueError, hostlib.HostError) as exc:
        raise Exit(f"error: {exc}", code=2) from None
    failed = 0
    for target in targets:
        result = winlib.run_script(runner.connect(target), script, params, file or [])
        line, errors, ok = winlib.report(script, target.label(), result.stdout, result.stderr, result.exited)
        print(runner.printable(line))
        for error in errors:
            print(runner.printable(f"[{target.label()}] {error}"), file=sys.stderr)
        failed += 0 if ok else 1
    if failed:
        raise Exit(f"{failed} of {len(targets)} host(s) failed", code=1)


TEST_LAYERS = ("static", "unit", "containers", "lab", "molecule")   # the folders of tests/ `inv test` runs
QUICK_LAYERS = ("static", "unit")


def pytest_argv(only: str | None = None, quick: bool = False, job: str | None = None, k: str | None = None,
                workers: int | str | None = None) -> list[str]:
    """The pytest command line of `inv test` (what each option selects: tests/unit/test_tiers.py).

    Layers are folders of tests/; --quick is static and unit without the tests marked slow; --job is a
    capability, marked on each test by tests/conftest.py from its names (rules: tests/tiers.py)."""
    if only and only not in TEST_LAYERS:
        raise ValueError(f"--only must be one of {', '.join(TEST_LAYERS)}")
    if quick and only and only not in QUICK_LAYERS:
        raise ValueError(f"--quick runs static and unit tests: --only {only} has none")
    folders = [only] if only else list(QUICK_LAYERS) if quick else ["tests"]
    args = [sys.executable, "-m", "pytest", *(f if f == "tests" else f"tests/{f}" for f in folders)]
    if quick:
        args += ["-m", "not slow"]
    if job:
        args += ["--job", job]
    if k:
        args += ["-k", k]
    if workers is None:
        workers = 2 if quick else 3
    if int(workers) > 1:
        # In collection order (see tests/conftest.py): the longest runs first.
        args += ["-n", str(workers), "--dist", "loadgroup", "--no-loadscope-reorder"]
    return [*args, "--durations", "25"]


@task(help={
    "only": "run one layer: static, unit, containers, lab or molecule (default: all of them)",
    "quick": "static and unit tests only, without those marked slow: the edit loop",
    "job": "one capability's tests in every layer: users, lamp, java, backup, snmp, logging, checks, "
           "powershell, firewall (or a new job's noun: tests/tiers.py)",
    "k": "pytest -k expression",
    "workers": "pytest-xdist workers (default 3: the runs mostly wait on containers and the package mirror; "
               "2 with --quick, which only computes: one per core)",
})
def test(c, only=None, quick=False, job=None, k=None, workers=None):
    """Run the tests (all of them by default: static, unit, containers, lab, Molecule) with one pytest
    summary, ending with the slowest tests and the time per tier."""
    try:
        args = pytest_argv(only=only, quick=quick, job=job, k=k, workers=workers)
    except ValueError as exc:
        raise Exit(f"error: {exc}", code=2) from None
    os.chdir(REPO)
    os.execv(sys.executable, args)  # noqa: S606 — replace this process by pytest, argv list


@task(help={"lang": "fr or en (default: French when the locale is French, else English)"})
def exercises(c, lang=None):
    """List the lessons' graded exercises (grade one with `inv exercise check N.M`)."""
    lang = _language(lang)
    for ex in _exercises().values():
        print(f"{ex.id:5}  {ex.title[lang]}  (docs/lessons/{ex.lesson})")


@task(positional=["action", "number"], help={
    "action": "check",
    "number": "the exercise's number, e.g. 1.1 (`inv exercises` lists them)",
    "lang": "fr or en (default: French when the locale is French, else English)",
    "host": "the lab host to inspect (default: the lab's first host, tssr-lab1)",
})
def exercise(c, action, number, lang=None, host=None):
    """Grade an exercise of the lessons: `inv exercise check 1.1` reads the lab host's state with the
    host-state tests and says which criteria are met (exit 0: all, 1: not yet, 2: bad usage or no lab)."""
    lang = _language(lang)
    found = _exercises()
    if action != "check":
        raise Exit(f"error: {action!r}: the action is check (`inv exercise check N.M`)", code=2)
    if number not in found:
        raise Exit(f"error: no exercise {number!r}: one of {', '.join(found)} (`inv exercises`)", code=2)
    host = host or f"{labmod.PREFIX}1"
    if host not in {h.name for h in labmod.hosts() if h.state == "running"}:
        raise Exit(f"error: the lab host {host} is not running: start the lab with `inv lab.up`", code=2)
    verdicts = exerciselib.grade(found[number], host, labmod.SSH_CONFIG, labmod.PREFIX)
    print(exerciselib.render(found[number], host, verdicts, lang))
    if not all(v.met for v in verdicts):
        raise Exit(code=1)


def _exercises() -> dict[str, exerciselib.Exercise]:
    try:
        return exerciselib.load()
    except ValueError as exc:          # a malformed description: its file and what is wrong, no traceback
        raise Exit(f"error: {exc}", code=2) from None


def _language(lang: str | None) -> str:
    lang = lang or exerciselib.default_language()
    if lang not in exerciselib.LANGUAGES:
        raise Exit(f"error: --lang must be one of {', '.join(exerciselib.LANGUAGES)}", code=2)
    return lang


lab = Collection("lab")
lab.add_task(lab_up, "up")
lab.add_task(lab_status, "status")
lab.add_task(lab_down, "down")

cache = Collection("cache")
cache.add_task(cache_status, "status")
cache.add_task(cache_down, "down")

ns = Collection(images, provision_users, deploy_lamp, deploy_java, backup, restore, backup_status,
                setup_snmp, setup_logging, check, poll, lint_powershell, run_powershell, test, lab, cache,
                exercises, exercise)
