"""``inv setup-snmp``: setup-snmp.sh, configuring an SNMPv3 agent (docs/reference/setup-snmp.md).

Checked here: the credentials file, a local file, with snmp_poll.py's own reader (``key = value``
lines, yours and 0600/0400: only this machine can see who may read it), since ``inv poll`` reads the
same file; the builder checks that a community file is there. The credentials (and a v2c community)
go up root-only under fixed names: no passphrase in any argv. The monitors, addresses, views, disks,
processes and which options go together are the script's to check, on every host first.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from tssrkit.jobs.command import Upload, script_job, script_module
from tssrkit.paths import SCRIPTS
from tssrkit.runner import Job

SCRIPT = SCRIPTS / "bash" / "snmp" / "setup-snmp.sh"
POLL_SCRIPT = SCRIPTS / "python" / "snmp_poll.py"
CREDENTIALS_NAME = "snmp-credentials.conf"      # the upload's name in the private folder
COMMUNITY_NAME = "snmp-community"
LAB_USER = "tssr-monitor"
NOTE_KEYS = ("error", "user", "listen")


def read_credentials(path: Path) -> dict[str, str]:
    """Read and check a credentials file with snmp_poll.py's own reader. A ValueError names the file
    and what is wrong, never a passphrase."""
    poller = script_module(POLL_SCRIPT)
    try:
        credentials = poller.read_credentials_file(path)
    except poller.UsageError as exc:
        raise ValueError(f"--credentials: {exc}") from None
    return {key: getattr(credentials, key) for key in poller.CREDENTIAL_KEYS}


def ensure_lab_credentials(path: Path) -> Path:
    """The lab's SNMPv3 credentials: generated once (random passphrases, SHA-512 + AES-128), 0600.

    An existing file is kept as it is (the lab's agents were keyed with it).
    """
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ("# The lab's SNMPv3 user, written once by `inv setup-snmp` (snmp_poll.py's format).\n"
            f"user = {LAB_USER}\nauth_protocol = sha512\n"
            f"auth_passphrase = {secrets.token_urlsafe(24)}\npriv_protocol = aes128\n"
            f"priv_passphrase = {secrets.token_urlsafe(24)}\n")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def setup(*, credentials: Path, monitors: Sequence[str] = (), listen: Sequence[str] = (),
          sys_name: str | None = None, location: str | None = None, contact: str | None = None,
          views: Sequence[str] = (), disks: Sequence[str] = (), load: str | None = None,
          procs: Sequence[str] = (), backup_job: str | None = None, v2c_community_file: Path | None = None,
          v2c_source: str | None = None) -> Job:
    """Configure the SNMPv3 agent with setup-snmp.sh. A ValueError means nothing was contacted."""
    read_credentials(credentials)
    return script_job(SCRIPT, {
        "--credentials": Upload(credentials, CREDENTIALS_NAME, secret=True), "--monitor": list(monitors),
        "--listen": list(listen), "--sys-name": sys_name, "--location": location, "--contact": contact,
        "--load": load, "--backup-job": backup_job, "--view": list(views), "--disk": list(disks),
        "--proc": list(procs),
        "--v2c-community-file": Upload(v2c_community_file, COMMUNITY_NAME, secret=True),
        "--v2c-source": v2c_source}, note_keys=NOTE_KEYS)
