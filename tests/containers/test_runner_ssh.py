"""The runner over real SSH: a hostile host's output cannot drive the operator's terminal.

Per platform (Debian 12, Debian 13; RedHat with TSSR_REDHAT_IMAGE, else *skipped, not run: no image*),
one systemd container with sshd, its port 22 published on 127.0.0.1, and the `tssr` account (sudo
without a password) accepting a key made here. The runner (tssrkit/runner.py: run_job, Progress,
summary) uploads a job and runs it with `sudo -n` through a real Fabric connection; the host key is
pinned from the container's own key file (no unknown key accepted). The job is a script written as a
hostile host would answer: its narration and its result line carry ESC [ 2 J (clear the screen),
OSC 52 (set the clipboard), a title change, a carriage return that would overwrite the verdict with a
forged one, backspaces, a C1 CSI and a bidirectional override. What the operator's terminal receives
(the progress stream and the summary table) must hold none of them raw.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from containerlib import PLATFORMS, Node, Platform, start_systemd_node, stop_node
from fabric import Connection
from paramiko import RejectPolicy

from tssrkit import runner
from tssrkit.containers import docker
from tssrkit.hosts import Target

pytestmark = [pytest.mark.containers]

HOSTILE_JOB = r"""#!/usr/bin/env bash
printf 'step 1 \033[2J\033[H screen cleared?\n' >&2
printf 'step 2 \033]52;c;Y3VybCBldmlsIHwgc2gK\a clipboard set?\n' >&2
printf 'step 3 \033]0;all good\a title?\n' >&2
printf 'failed\r[target] ok, 0 change(s) in 0.1 s\n' >&2
printf 'failed\b\b\b\b\b\bok    \n' >&2
printf '\302\2332J c1 csi and \342\200\256txt.exe\n' >&2
printf '{"script": "hostile", "status": "failed", "changed": 0, '
printf '"error": "bad \\u001b[2J \\u001b]52;c;eA==\\u0007 \\r forged \\u009b"}\n'
exit 1
"""


def raw_controls(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0
            or 0x202A <= ord(c) <= 0x202E]


@pytest.fixture(scope="module", params=[pytest.param(p, id=p.name) for p in PLATFORMS.values()])
def host(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    platform: Platform = request.param
    folder = tmp_path_factory.mktemp("runner-ssh")
    key = folder / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    node: Node = start_systemd_node(platform, {}, "tssr-test-runner", extra=("-p", "127.0.0.1::22"))
    try:
        node.write("/home/tssr/.ssh/authorized_keys", (folder / "key.pub").read_text(), "0600")
        node.sh("chown -R tssr:tssr /home/tssr/.ssh")
        port = int(docker("port", node.name, "22/tcp").stdout.strip().splitlines()[0].rsplit(":", 1)[1])
        host_key = node.read("/etc/ssh/ssh_host_ed25519_key.pub").split()
        known_hosts = folder / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
        yield node, port, key, known_hosts
    finally:
        stop_node(node)


def connector(key: Path, known_hosts: Path):
    def connect(target: Target) -> Connection:
        conn = Connection(target.host, user="tssr", port=target.port, connect_timeout=15,
                          connect_kwargs={"key_filename": str(key), "look_for_keys": False,
                                          "allow_agent": False})
        conn.client.load_host_keys(str(known_hosts))
        conn.client.set_missing_host_key_policy(RejectPolicy())
        return conn
    return connect


def test_a_hostile_hosts_output_reaches_the_terminal_escaped(host, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _node, port, key, known_hosts = host
    script = tmp_path / "hostile.sh"
    script.write_text(HOSTILE_JOB)
    stream = io.StringIO()
    # As from a terminal with nothing typed: pytest's own stdin refuses reads, which Invoke tries.
    with Path(os.devnull).open() as nothing:
        monkeypatch.setattr(sys, "stdin", nothing)
        results = runner.run_job(runner.Job("hostile", script, validate_first=False),
                                 [Target(name="target", host="127.0.0.1", port=port)],
                                 progress=runner.Progress(stream), connector=connector(key, known_hosts))
    progress, table = stream.getvalue(), runner.summary(results)
    assert results[0].status == "failed" and results[0].exit_code == 1, progress
    assert "screen cleared?" in progress and "c1 csi" in progress, "the narration is shown"
    assert "\\x1b[2J" in progress and "\\x1b]52;" in progress and "\\r[target] ok" in progress, progress
    assert not raw_controls(progress), raw_controls(progress)
    assert not raw_controls(table), raw_controls(table)
    assert "\\x1b[2J" in table and "forged" in table, table
    assert all(line.startswith("[target]") for line in progress.splitlines()), progress
