"""tssr-kit's front door: ``inv --list`` shows the jobs, ``inv --help TASK`` their options.

Every task is thin: it picks the hosts (``--hosts``, ``--inventory`` or the local lab) and hands a
script from ``scripts/`` to the runner in ``tssrkit/``. See README.md.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

from invoke import Collection, Exit, task

from tssrkit import hosts as hostlib
from tssrkit import images as imagelib
from tssrkit import jobs, runner
from tssrkit import lab as labmod
from tssrkit.paths import EXAMPLES, REPO

logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
logging.getLogger("paramiko").setLevel(logging.WARNING)  # "sftp session closed" is not news

HOSTS_HELP = {
    "hosts": "comma list of [user@]host[:port] or lab names (tssr-lab1); default: the local lab",
    "inventory": "an Ansible inventory file (INI or YAML) instead of --hosts",
    "parallel": "how many hosts at once (default 4)",
    "dry-run": "report what would change, change nothing",
    "verbose": "show each host's narration, not only on failure",
}


def _targets(hosts: str | None, inventory: str | None) -> list[hostlib.Target]:
    """The hosts a task runs on; with neither option, the running lab hosts (tssr-lab1 is started)."""
    try:
        if hosts and inventory:
            raise hostlib.HostError("give --hosts or --inventory, not both")
        if hosts:
            return hostlib.parse_hosts(hosts)
        if inventory:
            return hostlib.load_inventory(inventory)
    except hostlib.HostError as exc:
        raise Exit(f"error: {exc}", code=2) from None
    running = [h for h in labmod.hosts() if h.state == "running"]
    if not running:
        logging.info("no host given: starting the local lab (tssr-lab1)…")
        running = labmod.up(1)
    names = {h.name for h in running}
    return [hostlib.lab_target(h.name, names) for h in running]


def _run(job: runner.Job, hosts: str | None, inventory: str | None, parallel: int, dry_run: bool,
         verbose: bool) -> list[runner.HostResult]:
    targets = _targets(hosts, inventory)
    try:
        results = runner.run_job(job, targets, parallel=parallel, dry_run=dry_run,
                                 progress=runner.Progress(verbose=verbose))
    except (FileNotFoundError, ValueError) as exc:
        raise Exit(f"error: {exc}", code=2) from None
    print(runner.summary(results))
    code = runner.exit_code(results)
    if code:
        raise Exit(code=code)
    return results


@task(help={"distro": "debian12, debian13 or all (default)", "force": "rebuild even if up to date"})
def images(c, distro="all", force=False):
    """Build the Debian 12/13 test images offline (debootstrap + docker import + systemd layer)."""
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


@task(help={
    "csv": "the users CSV (default examples/users/users.csv); format: docs/reference/users-csv.md",
    "accounts": "instead of --csv: a YAML list of accounts (roles/users' users_accounts format)",
    "impl": "bash (default) or python: the two implementations of the same contract",
    **HOSTS_HELP,
})
def provision_users(c, csv=str(EXAMPLES / "users" / "users.csv"), accounts=None, hosts=None, inventory=None,
                    parallel=4, dry_run=False, impl="bash", verbose=False):
    """Create, update and disable Linux accounts from a CSV on every host (validated everywhere first)."""
    with tempfile.TemporaryDirectory(prefix="tssr-users-") as tmp:
        path = Path(csv)
        try:
            if accounts:
                if not Path(accounts).is_file():
                    raise ValueError(f"--accounts {accounts}: no such file")
                path = jobs.users_csv_from_accounts(Path(accounts), Path(tmp))
            elif not path.is_file():
                raise ValueError(f"--csv {csv}: no such file")
            job = jobs.provision_users(path, impl)
        except ValueError as exc:
            raise Exit(f"error: {exc}", code=2) from None
        results = _run(job, hosts, inventory, int(parallel), dry_run, verbose)
    files = [f"{r.target.label()}:{r.result['password_file']}" for r in results
             if r.result.get("password_file")]
    if files:
        print("new passwords (root-only files on each host): " + ", ".join(files))


@task(auto_shortflags=False, help={
    "app": "the application: a folder (packed into a tarball) or a .tar/.tar.gz/.tgz "
           "(default examples/lamp/parc-v1)",
    "schema": "SQL applied once per content by root (default: the sample app's schema.sql, "
              "only with the default --app)",
    "name": "the app's name (default: from --app, without version: parc-v1 -> parc)",
    "domain": "the vhost's ServerName (default: the host's FQDN, else NAME.localdomain)",
    "cert": "a PEM certificate (with --key; default: a self-signed one, generated once)",
    "key": "the certificate's PEM private key (with --cert)",
    "health": "the path that must answer 200 over HTTPS after the switch (default /)",
    "rollback": "switch back to the previous release (needs --name or --app)",
    **HOSTS_HELP,
})
def deploy_lamp(c, app=str(jobs.LAMP_DEFAULT_APP), schema=None, name=None, domain=None, cert=None, key=None,
                health=None, rollback=False, hosts=None, inventory=None, parallel=4, dry_run=False,
                verbose=False):
    """Put a PHP + MariaDB app into production (Apache, PHP-FPM, TLS, firewall) as a new release."""
    app_path = Path(app) if app else None
    if rollback and app_path == jobs.LAMP_DEFAULT_APP and not name:
        # A rollback needs only the name: the sample app's, without uploading it.
        app_path, name = None, jobs.LAMP_DEFAULT_NAME
    schema_path = Path(schema) if schema else None
    if schema_path is None and app_path is not None:
        schema_path = jobs.default_lamp_schema(app_path, rollback)
    with tempfile.TemporaryDirectory(prefix="tssr-lamp-") as tmp:
        try:
            job = jobs.deploy_lamp(app_path, schema=schema_path, domain=domain, name=name, health=health,
                                   cert=Path(cert) if cert else None, key=Path(key) if key else None,
                                   rollback=rollback, out_dir=Path(tmp))
        except ValueError as exc:
            raise Exit(f"error: {exc}", code=2) from None
        results = _run(job, hosts, inventory, int(parallel), dry_run, verbose)
    if dry_run:
        return
    lab_hosts = labmod.hosts() if any(r.target.lab for r in results) else []
    for line in jobs.site_urls(results, lab_hosts, self_signed=not (cert or key)):
        print(line)



@task(auto_shortflags=False, help={
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
    **HOSTS_HELP,
})
def deploy_java(c, jar=None, war=None, name=None, version=None, domain=None, cert=None, key=None,
                context=None, port=None, java=None, heap=None, env_file=None, health=None,
                health_timeout=None, rollback=False, hosts=None, inventory=None, parallel=4, dry_run=False,
                verbose=False):
    """Run a Java app in production: a jar as a hardened systemd service or a WAR on Tomcat, behind HTTPS."""
    with tempfile.TemporaryDirectory(prefix="tssr-java-") as tmp:
        try:
            jar_path = Path(jar) if jar else None
            if rollback and not (jar or war or name):
                name = jobs.JAVA_SAMPLE_NAME
            elif not (jar or war or rollback):
                # The sample service, built here from its source (no prebuilt binary in the repository).
                jar_path = jobs.build_java_samples(version or "1.0.0", Path(tmp))["jar"]
            job = jobs.deploy_java(jar_path, Path(war) if war else None, name=name, version=version,
                                   domain=domain, cert=Path(cert) if cert else None,
                                   key=Path(key) if key else None, context=context, port=port, java=java,
                                   heap=heap, env_file=Path(env_file) if env_file else None, health=health,
                                   health_timeout=health_timeout, rollback=rollback)
        except ValueError as exc:
            raise Exit(f"error: {exc}", code=2) from None
        results = _run(job, hosts, inventory, int(parallel), dry_run, verbose)
    if dry_run:
        return
    lab_hosts = labmod.hosts() if any(r.target.lab for r in results) else []
    for line in jobs.site_urls(results, lab_hosts, self_signed=not (cert or key)):
        print(line)

@task(help={
    "only": "run one part: static, unit, containers, lab or molecule (default: everything)",
    "k": "pytest -k expression",
    "workers": "pytest-xdist workers (default 2)",
})
def test(c, only=None, k=None, workers=2):
    """Run every test (static checks, unit, container, lab and Molecule) with one pytest summary."""
    parts = {"static": "tests/static", "unit": "tests/unit", "containers": "tests/containers",
             "lab": "tests/lab", "molecule": "tests/molecule"}
    if only and only not in parts:
        raise Exit(f"error: --only must be one of {', '.join(parts)}", code=2)
    args = [sys.executable, "-m", "pytest", parts[only] if only else "tests"]
    if int(workers) > 1:
        # In collection order (see tests/conftest.py): the longest runs first.
        args += ["-n", str(workers), "--dist", "loadgroup", "--no-loadscope-reorder"]
    args += ["--durations", "25"]
    if k:
        args += ["-k", k]
    os.chdir(REPO)
    os.execv(sys.executable, args)  # noqa: S606 — replace this process by pytest, argv list


lab = Collection("lab")
lab.add_task(lab_up, "up")
lab.add_task(lab_status, "status")
lab.add_task(lab_down, "down")

ns = Collection(images, provision_users, deploy_lamp, deploy_java, test, lab)
