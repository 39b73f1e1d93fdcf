"""What the lab tests share: a lab of their own, driven through `inv` as a technician drives it.

TSSR_LAB=tssr-t names a separate lab (tssr-t1, tssr-t2), so that the tests never touch the lab you
practise on; every lab module is in one xdist group, so never two at the same time.
"""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import invlib

from tssrkit.paths import EXAMPLES, REPO

LAB = "tssr-t"
HOSTS = [f"{LAB}1", f"{LAB}2"]
HOST = HOSTS[0]
STATE = REPO / ".tssr" / LAB
SSH_CONFIG = STATE / "ssh_config"
SAMPLE_CSV = EXAMPLES / "users" / "users.csv"


def inv(*args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    """``inv ARGS`` on the test lab."""
    return invlib.inv(*args, timeout=1200, TSSR_LAB=LAB, **env)


def on(host: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """``argv`` as root in a lab host (docker exec: no SSH session)."""
    return subprocess.run(["docker", "exec", host, *argv], capture_output=True, text=True)


def on_host(*argv: str) -> subprocess.CompletedProcess[str]:
    return on(HOST, *argv)


def summary_row(output: str, host: str) -> list[str]:
    """The last table row of ``host`` in a task's output, split into its columns."""
    rows = [re.split(r"\s{2,}", line.strip()) for line in output.splitlines() if line.startswith(host + " ")]
    assert rows, f"no summary row for {host} in:\n{output}"
    return rows[-1]


def fetch(url: str) -> tuple[int, str]:
    """GET ``url`` like `curl -k`: the lab's certificate is self-signed."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(url, context=context, timeout=30) as response:  # noqa: S310 — https only
        return response.status, response.read().decode("utf-8", "replace")


def lab_containers() -> list[str]:
    """The test lab's containers (to know whether a module started the lab, and must remove it)."""
    proc = subprocess.run(["docker", "ps", "--all", "--filter", f"label=org.tssr-kit.lab={LAB}",
                           "--format", "{{.Names}}"], capture_output=True, text=True, check=True)
    return proc.stdout.split()


@contextmanager
def running_lab(count: int = 1) -> Iterator[list[str]]:
    """The test lab with its hosts 1…count running (`inv lab.up`); removed at the end when it was started
    here, so the modules that follow get fresh hosts (a lab found there is left as found)."""
    ours = not lab_containers()
    up = inv("lab.up", "--count", str(count))
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield HOSTS[:count]
    finally:
        if ours:
            inv("lab.down")


def host_state_tests(module: str, hosts: Sequence[str], **env: str) -> subprocess.CompletedProcess[str]:
    """tests/hoststate/MODULE over SSH on lab hosts (with sudo), exactly as against a real server."""
    targets = ",".join(f"ssh://{host}" for host in hosts)
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--hosts={targets}",
            f"--ssh-config={SSH_CONFIG}", "--sudo", f"tests/hoststate/{module}"]
    return subprocess.run(argv, cwd=REPO, env={**os.environ, "TSSR_LAB": LAB, **env}, capture_output=True,
                          text=True, timeout=600)
