"""The jobs ``inv`` runs: one module a job, each saying which kit script runs with which options.

A job module checks only what this machine alone can know — local files to upload, and the option
combinations that decide what goes up — and maps its options to the script's with
:func:`tssrkit.jobs.command.script_job` (one argv builder; the script travels with its bundle,
scripts/bundles.yml). Everything else is the script's own validation, which the runner runs on every
host before any host changes (``--dry-run`` first). A new job is one module here (its script's path,
one function) and one task in tasks.py.
"""

from tssrkit.jobs import backup, checks, java, lamp, logging, poll, snmp, users, web

__all__ = ["backup", "checks", "java", "lamp", "logging", "poll", "snmp", "users", "web"]
