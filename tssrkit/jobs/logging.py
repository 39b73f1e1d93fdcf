"""``inv setup-logging``: setup-logging.sh, a log client forwarding to a central rsyslog, or that server
(docs/reference/setup-logging.md).

Checked here: the certificates and the key, local files (the builder). They go up under fixed names
in ``tls/``, the key root-only. The mode's options, the addresses, ports, folders and which options go
together are the script's to check, on every host first. On the lab, one task configures the central
server and its clients (:func:`on_lab`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tssrkit import lab
from tssrkit.hosts import Target, lab_target
from tssrkit.jobs.command import Upload, script_job
from tssrkit.paths import SCRIPTS
from tssrkit.runner import Job

SCRIPT = SCRIPTS / "bash" / "logging" / "setup-logging.sh"
MODES = ("client", "server")
NOTE_KEYS = ("error", "server", "dir", "config")
# On the lab, where one task configures both sides, each side gets its own options.
CLIENT_OPTIONS = ("tls", "ca", "cert", "key", "server_name", "queue_size")
SERVER_OPTIONS = ("port", "tls", "ca", "cert", "key", "log_dir", "keep_days", "listen")


def setup(mode: str, *, server: str | None = None, allow: Sequence[str] = (), listen: str | None = None,
          port: object = None, tls: bool = False, ca: Path | None = None, cert: Path | None = None,
          key: Path | None = None, server_name: str | None = None, queue_size: object = None,
          log_dir: str | None = None, keep_days: object = None) -> Job:
    """Forward logs to a central rsyslog (``client``) or be that server (``server``). A ValueError
    means nothing was contacted."""
    return script_job(SCRIPT, {
        "--server": server, "--allow": list(allow), "--listen": listen, "--port": port, "--dir": log_dir,
        "--keep-days": keep_days, "--server-name": server_name, "--queue-size": queue_size, "--tls": tls,
        "--ca": Upload(ca, "tls/ca.pem"), "--cert": Upload(cert, "tls/cert.pem"),
        "--key": Upload(key, "tls/key.pem", secret=True)},
        first=[mode], name=f"setup-logging {mode}", note_keys=NOTE_KEYS)


def on_lab(mode: str, central: str | None = None, *, server: str | None = None, allow: Sequence[str] = (),
           **options: object) -> list[tuple[Job, list[Target]]]:
    """The jobs of ``inv setup-logging`` on the lab, each with its hosts: the central log server
    (tssr-lab2 unless ``central``; it and the hosts before it are started if needed) admitting the
    lab network, and the other running lab hosts its clients. Mode ``lab``: both, the central first."""
    central = central or lab.log_central()
    if not central.startswith(lab.PREFIX):
        raise ValueError(f"--central {central!r}: expected a lab host ({lab.log_central()})")
    running = lab.ensure_running(max(2, int(central.removeprefix(lab.PREFIX) or 0)))
    runs = []
    if mode in ("server", "lab"):
        job = setup("server", allow=allow or [lab.log_clients()], **{k: options[k] for k in SERVER_OPTIONS})
        runs.append((job, [lab_target(central, running)]))
    if mode in ("client", "lab"):
        job = setup("client", server=server or central, **{k: options[k] for k in CLIENT_OPTIONS})
        runs.append((job, [lab_target(name, running) for name in sorted(running) if name != central]))
    return runs
