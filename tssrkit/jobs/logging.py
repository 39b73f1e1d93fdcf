"""``inv setup-logging``: setup-logging.sh, a log client forwarding to a central rsyslog, or that server
(docs/reference/setup-logging.md).

Checked here: the certificates and the key, local files (the builder). They go up under fixed names
in ``tls/``, the key root-only. The mode's options, the addresses, ports, folders and which options go
together are the script's to check, on every host first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tssrkit.jobs.command import Upload, script_job
from tssrkit.paths import SCRIPTS
from tssrkit.runner import Job

SCRIPT = SCRIPTS / "bash" / "logging" / "setup-logging.sh"
MODES = ("client", "server")
NOTE_KEYS = ("error", "server", "dir", "config")


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
