"""A host standing in for an SSH connection in the runner's unit tests.

It records what the runner asks (each command, and ``put REMOTE`` for each upload) and answers as a host
running a kit script would: ``mktemp`` with its private folder, the folder and file commands (rm, mkdir,
chown) with nothing, the script's run with ``reply(command)``. The SSH side itself runs for real in
tests/lab and tests/containers/test_runner_ssh.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

Reply = Callable[[str], tuple[dict, str, int]]     # command -> (result line, stderr, exit code)


def accept(command: str) -> tuple[dict, str, int]:
    """A script that accepts its input and changes nothing."""
    return {"script": "demo", "status": "ok", "changed": 0}, "", 0


@dataclass
class FakeProc:
    stdout: str
    stderr: str = ""
    exited: int = 0


@dataclass
class FakeHost:
    reply: Reply = accept
    user: str = "admin"
    remote_dir: str = "/tmp/tssr-kit.abc"
    commands: list[str] = field(default_factory=list)
    uploads: dict[str, str] = field(default_factory=dict)     # remote path -> local file's name

    def __enter__(self) -> FakeHost:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False

    def put(self, local: object, remote: str) -> None:
        self.commands.append(f"put {remote}")
        self.uploads[remote] = str(local).rsplit("/", 1)[-1]

    def run(self, command: str, **kwargs: object) -> FakeProc:
        self.commands.append(command)
        if command.startswith("mktemp"):
            return FakeProc(self.remote_dir + "\n")
        if command.startswith(("rm ", "mkdir ")) or "chown 0:0 --" in command:
            return FakeProc("")
        result, stderr, code = self.reply(command)
        return FakeProc(json.dumps(result), stderr, code)

    def script_runs(self) -> list[str]:
        """The commands that ran the script (dry runs included), in order."""
        return [c for c in self.commands if not c.startswith(("mktemp", "rm ", "mkdir ", "put "))
                and "chown 0:0 --" not in c]
