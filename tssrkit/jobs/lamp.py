"""``inv deploy-lamp``: deploy-lamp.sh with a PHP app (docs/reference/deploy-lamp.md).

Checked here: the app, a local folder (packed into a tarball, so that the script derives the same app
name from it) or file, and the other local files (the builder). The rest — a tarball's kind and
members, the name, ``--cert`` without ``--key``, a rollback without ``--name`` — is the script's to
check, on every host first.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from tssrkit.jobs.command import script_job
from tssrkit.paths import EXAMPLES, SCRIPTS
from tssrkit.runner import Job

SCRIPT = SCRIPTS / "bash" / "lamp" / "deploy-lamp.sh"
DEFAULT_APP = EXAMPLES / "lamp" / "parc-v1"
DEFAULT_NAME = "parc"                  # what deploy-lamp.sh derives from parc-v1
SKIPPED_IN_APP = {".git"}


def default_schema(app: Path, rollback: bool = False) -> Path | None:
    """The sample app's schema when ``app`` is the sample app (and this is a deploy); else None."""
    if rollback or app.resolve() != DEFAULT_APP.resolve():
        return None
    return DEFAULT_APP / "schema.sql"


def pack_app(app_dir: Path, out_dir: Path) -> Path:
    """Pack an app folder into ``out_dir/<name>.tar.gz``: one top folder ``<name>/``, owned by root.

    Members are added in sorted order, owned 0:0 ``root``, modes kept; ``.git`` is left out; a link is
    packed as a link. The top folder keeps an app whose only entry is ``public/`` from being read from
    inside ``public/``.
    """
    app_dir = app_dir.resolve()
    base = app_dir.name
    tarball = out_dir / f"{base}.tar.gz"

    def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    def members(folder: Path, arcname: str):
        yield folder, arcname
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            if entry.name in SKIPPED_IN_APP:
                continue
            if entry.is_dir() and not entry.is_symlink():
                yield from members(entry, f"{arcname}/{entry.name}")
            else:
                yield entry, f"{arcname}/{entry.name}"

    with tarfile.open(tarball, "w:gz") as tar:
        for path, arcname in members(app_dir, base):
            tar.add(path, arcname=arcname, recursive=False, filter=owned_by_root)
    return tarball


def deploy(app: Path | None, *, schema: Path | None = None, domain: str | None = None,
           cert: Path | None = None, key: Path | None = None, name: str | None = None,
           health: str | None = None, rollback: bool = False, out_dir: Path) -> Job:
    """Put a PHP + MariaDB app into production with deploy-lamp.sh: a folder is packed into
    ``out_dir`` as ``<folder>.tar.gz``, a file uploaded as it is. A ValueError means nothing was
    contacted."""
    if app is not None and app.is_dir():
        app = pack_app(app, out_dir)
    elif app is not None and not app.is_file():
        raise ValueError(f"--app {app}: no such folder or file")
    return script_job(SCRIPT, {"--app": app, "--schema": schema, "--cert": cert, "--key": key, "--name": name,
                               "--domain": domain, "--health": health, "--rollback": rollback})
