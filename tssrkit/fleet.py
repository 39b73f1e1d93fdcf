"""What every ``inv`` task that runs a job on hosts shares: its host options and one way to run.

``@fleet_task(help={...})`` is Invoke's ``@task`` for such a task: the task gets the options --hosts,
--inventory, --parallel, --dry-run (unless told not to), --verbose, --known-hosts and
--accept-new-host-key, and its body gets them as a :class:`Fleet`, right after ``c``. Bad input (a
ValueError, a bad host) ends the task with ``error: …`` and the usage exit code, before any host is
contacted. :meth:`Fleet.run` runs jobs on the hosts with progress lines and the summary table.
"""

from __future__ import annotations

import functools
import inspect
import logging
from dataclasses import dataclass

from invoke import Exit, task

from tssrkit import hostkeys, runner
from tssrkit import hosts as hostlib
from tssrkit import lab as labmod

log = logging.getLogger(__name__)

HOST_KEY_HELP = {
    "known-hosts": "the known_hosts file that vouches for the hosts' SSH keys, and where "
                   "--accept-new-host-key records a new one (default: ssh's own, ~/.ssh/known_hosts); "
                   "lab hosts always use the lab's",
    "accept-new-host-key": "trust a host met for the first time: record its key (--known-hosts FILE or "
                           "~/.ssh/known_hosts). Without it an unknown key is refused; a changed key "
                           "always is",
}
HOSTS_HELP = {
    "hosts": "comma list of [user@]host[:port] or lab names (tssr-lab1); default: the local lab",
    "inventory": "an Ansible inventory file (INI or YAML) instead of --hosts",
    "parallel": "how many hosts at once (default 4)",
    "dry-run": "report what would change, change nothing",
    "verbose": "show each host's narration, not only on failure",
    **HOST_KEY_HELP,
}

Run = tuple[runner.Job, list[hostlib.Target]]


@dataclass
class Fleet:
    """Where and how a task runs its jobs: ``--hosts``/``--inventory`` (else the local lab),
    ``--parallel``, ``--dry-run``, ``--verbose``."""

    hosts: str | None
    inventory: str | None
    parallel: int = 4
    dry_run: bool = False
    verbose: bool = False

    @property
    def given(self) -> bool:
        return bool(self.hosts or self.inventory)

    @functools.cached_property
    def targets(self) -> list[hostlib.Target]:
        """The hosts; with neither option, the running lab hosts (tssr-lab1 is started if none runs)."""
        if self.hosts and self.inventory:
            raise hostlib.HostError("give --hosts or --inventory, not both")
        if self.given:
            return hostlib.parse_hosts(self.hosts) if self.hosts else hostlib.load_inventory(self.inventory)
        running = [h for h in labmod.hosts() if h.state == "running"]
        if not running:
            log.info("no host given: starting the local lab (tssr-lab1)…")
            running = labmod.up(1)
        names = {h.name for h in running}
        return [hostlib.lab_target(h.name, names) for h in running]

    def run(self, *runs: runner.Job | Run, report: bool = True) -> list[runner.HostResult]:
        """Run each job on its hosts (the fleet's when not given; several jobs are all checked on every
        host before any runs) with progress lines; with ``report``, the summary table and a non-zero
        exit when a host failed (2 when it refused the input)."""
        pairs = [run if isinstance(run, tuple) else (run, self.targets) for run in runs]
        results = runner.run_jobs(pairs, parallel=self.parallel, dry_run=self.dry_run,
                                  progress=runner.Progress(verbose=self.verbose))
        if report:
            print(runner.summary(results))
            if runner.exit_code(results):
                raise Exit(code=runner.exit_code(results))
        return results


def _with_options(body, options: dict[str, object], drop: str | None = None) -> None:
    """Invoke reads a task's options from its signature: ``body``'s (without ``drop``), then ``options``."""
    parameters = [p for name, p in inspect.signature(body).parameters.items() if name != drop]
    parameters += [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default)
                   for name, default in options.items()]
    body.__signature__ = inspect.Signature(parameters)


def checks_host_keys(usage_code: int = 2):
    """Gives a task that connects to hosts the options --known-hosts and --accept-new-host-key: every
    connection it makes checks host keys with them (tssrkit/hostkeys.py). A bad --known-hosts exits
    ``usage_code`` before any host is touched."""
    def decorate(body):
        @functools.wraps(body)
        def wrapper(c, *args, known_hosts=None, accept_new_host_key=False, **kwargs):
            try:
                options = hostkeys.Options.parse(known_hosts, accept_new_host_key)
            except ValueError as exc:
                raise Exit(f"error: {exc}", code=usage_code) from None
            with hostkeys.using(options):
                return body(c, *args, **kwargs)

        _with_options(wrapper, {"known_hosts": None, "accept_new_host_key": False})
        return wrapper
    return decorate


def fleet_task(help: dict[str, str], *, dry_run: bool = True, usage_code: int = 2,  # noqa: A002
               order: tuple[str, ...] = (), **options):
    """``@task`` for a job run on hosts (see the module's help). ``order``: the options' order where it
    must stay as it was (it decides Invoke's short flags)."""
    fleet_options = {"hosts": None, "inventory": None, "parallel": 4, "dry_run": False, "verbose": False}
    if not dry_run:
        del fleet_options["dry_run"]

    def decorate(body):
        @functools.wraps(body)
        def wrapper(c, *args, hosts=None, inventory=None, parallel=4, dry_run=False, verbose=False, **kwargs):
            try:
                return body(c, Fleet(hosts, inventory, int(parallel), dry_run, verbose), *args, **kwargs)
            except (ValueError, FileNotFoundError, hostlib.HostError) as exc:
                raise Exit(f"error: {exc}", code=usage_code) from None

        _with_options(wrapper, fleet_options, drop="fleet")
        checked = checks_host_keys(usage_code)(wrapper)
        if order:
            parameters = inspect.signature(checked).parameters
            checked.__signature__ = inspect.Signature([parameters["c"], *(parameters[n] for n in order)])
        names = (*fleet_options, "known_hosts", "accept_new_host_key")
        fleet_help = {k: v for k, v in HOSTS_HELP.items() if k.replace("-", "_") in names}
        return task(checked, help={**help, **fleet_help}, **options)
    return decorate
