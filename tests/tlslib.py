"""Certificates for the TLS tests of every folder, made here with openssl: a CA of the test's own, and a
server certificate it signed for one name (as a client checks it). tests/ is on the import path
(pytest puts the folder of tests/conftest.py there): ``from tlslib import make_pki``."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_pki(folder: Path, server_name: str) -> dict[str, Path]:
    """``ca.pem`` (and its key), ``server.pem`` for ``server_name`` (subjectAltName, serverAuth) and its
    private key ``server.key`` (0600) in ``folder``; returns the three files by name."""
    def openssl(*args: str) -> None:
        proc = subprocess.run(["openssl", *args], cwd=folder, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=tssr-kit test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", f"/CN={server_name}")
    (folder / "ext").write_text(f"subjectAltName=DNS:{server_name}\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "ext")
    (folder / "server.key").chmod(0o600)
    return {name: folder / name for name in ("ca.pem", "server.pem", "server.key")}
