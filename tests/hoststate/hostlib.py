"""Helpers shared by the host-state tests of this folder: commands on the host, its OS family, HTTP
fetched on the host with curl, listening sockets. Not a test module (pytest collects test_*.py only);
the tests import it as `hostlib` (this folder is on sys.path when pytest runs them).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

import pytest


# ---- running commands on the host -------------------------------------------------------------------
def run(host, *argv: str):
    """Run argv on the host (each word quoted, no shell expansion); return Testinfra's result."""
    return host.run(" ".join(["%s"] * len(argv)), *argv)


def check(host, *argv: str) -> str:
    """Run argv on the host; its stdout, or a failure showing the command and its stderr."""
    result = run(host, *argv)
    assert result.rc == 0, f"`{shlex.join(argv)}` exited with {result.rc}: {result.stderr.strip()}"
    return result.stdout


def os_family(host) -> str:
    """debian or redhat, read from /etc/os-release (ID and ID_LIKE) as the scripts read it."""
    fields = {}
    for line in host.file("/etc/os-release").content_string.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key] = value.strip().strip("\"'")
    ids = {fields.get("ID", ""), *fields.get("ID_LIKE", "").split()}
    if ids & {"debian", "ubuntu"}:
        return "debian"
    if ids & {"rhel", "fedora", "centos"}:
        return "redhat"
    pytest.fail(f"unsupported OS family: ID={fields.get('ID')} ID_LIKE={fields.get('ID_LIKE')}")


# ---- HTTP, fetched on the host with curl ------------------------------------------------------------
@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, list[str]]  # lower-case name -> values
    body: str

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[-1] if values else None


def parse_response(out: str) -> Response:
    """curl --include's output: the status line, the headers, a blank line, the body."""
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    status_line, *header_lines = head.split("\n")
    headers: dict[str, list[str]] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return Response(int(status_line.split()[1]), headers, body)


def fetch(host, domain: str, path: str = "/", scheme: str = "https") -> Response:
    """GET scheme://DOMAIN/path on the host, the name resolved to 127.0.0.1; no redirect followed."""
    port = 443 if scheme == "https" else 80
    return parse_response(check(
        host, "curl", "--silent", "--show-error", "--insecure", "--include", "--max-time", "10",
        "--resolve", f"{domain}:{port}:127.0.0.1", f"{scheme}://{domain}{path}"))


# ---- sockets ----------------------------------------------------------------------------------------
def listeners(host, port: int | None = None) -> list[tuple[str, int, int]]:
    """(address, port, uid) of each listening TCP socket (of one port, when given), as `ss -e` shows
    them: the address as `ss` writes it (`127.0.0.1`, `*`, `[::1]`, `[::ffff:127.0.0.1]`…)."""
    argv = ["ss", "-Hltne"] + ([f"sport = :{port}"] if port is not None else [])
    found = []
    for line in check(host, *argv).splitlines():
        address, _, listened = line.split()[3].rpartition(":")
        uid = re.search(r"\buid:(\d+)", line)
        found.append((address.split("%")[0], int(listened), int(uid.group(1)) if uid else 0))
    return found
