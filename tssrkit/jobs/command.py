"""One way to turn a job's options into a kit script's command line, and what goes up with it.

A job module says which script runs and maps its own options to the script's, in order::

    script_job(SCRIPT, {"--app": app_tarball, "--name": name, "--rollback": rollback})

- ``None``, ``False`` and ``""`` are left out; ``True`` is a flag (``--rollback``);
- a list or tuple repeats the option (``--allow 10.0.0.0/8 --allow 2001:db8::/64``);
- a local :class:`~pathlib.Path` (or an :class:`Upload`) is uploaded into the run's private folder,
  under its own name (``OPTION/NAME`` when that name is taken), and the script gets its path there;
  a file that does not exist here is the one ValueError, before any host is contacted;
- anything else is written as ``str(value)``: the script checks it, on every host, before any change
  (the runner runs ``--dry-run`` everywhere first).

The script travels with its bundle (:mod:`tssrkit.bundles`, scripts/bundles.yml).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tssrkit import bundles
from tssrkit.paths import script_module  # noqa: F401 — the job modules take it from here
from tssrkit.runner import Job


@dataclass(frozen=True)
class Upload:
    """A local file given to the script: uploaded into the run's private folder."""

    path: Path | None
    name: str | None = None        # its name there (default: its own, or OPTION/NAME when taken)
    secret: bool = False           # made root-only there before the script runs (a key, credentials)


def interpreter(script: Path) -> tuple[str, ...]:
    """How a kit script is run on a host: Python scripts with python3, the others with bash."""
    return ("python3",) if script.suffix == ".py" else ("bash",)


def words(options: Mapping[str | None, object], upload: Callable[[str | None, Upload], str] | None = None
          ) -> list[str]:
    """The command-line words of ``options`` (option -> value, in order; the option None: the value
    alone, a positional argument). Paths go through ``upload``, which gives their name on the host;
    without it they are written as they are (a command run here)."""
    out: list[str] = []
    for option, value in options.items():
        for item in value if isinstance(value, list | tuple) else (value,):
            if item is None or item is False or item == "" or getattr(item, "path", "") is None:
                continue
            if item is True:
                out.append(str(option))
                continue
            if isinstance(item, Path | Upload) and upload is not None:
                text = upload(option, item if isinstance(item, Upload) else Upload(item))
            else:
                text = str(item.path if isinstance(item, Upload) else item)
            out += [option, text] if option else [text]
    return out


def script_job(script: Path, options: Mapping[str, object] | None = None, *, first: Sequence[object] = (),
               last: Sequence[object] = (), files: Mapping[str, Path] | None = None, name: str | None = None,
               **job: object) -> Job:
    """A :class:`~tssrkit.runner.Job` running ``script`` with ``first`` (a mode, a command), then
    ``options``, then ``last`` (positional arguments), uploaded with its bundle and ``files``.
    ``job``: the other fields of the Job (``validate_first``, ``note_keys``…)."""
    uploads = {**bundles.files(script), **(files or {})}
    secrets: list[str] = []

    def upload(option: str | None, item: Upload) -> str:
        path = Path(item.path)
        if not path.is_file():
            raise ValueError(f"{option + ' ' if option else ''}{path}: no such file")
        remote = item.name or _free_name(uploads, script, option, path.name)
        uploads[remote] = path
        if item.secret:
            secrets.append(remote)
        return f"{{dir}}/{remote}"

    args = [*words({None: list(first)}, upload), *words(options or {}, upload),
            *words({None: list(last)}, upload)]
    return Job(name=name or script.stem, script=script, args=args, files=uploads,
               interpreter=interpreter(script), root_only=secrets, **job)


def _free_name(uploads: Mapping[str, Path], script: Path, option: str | None, name: str) -> str:
    """``name`` when nothing beside the script has it yet; else ``OPTION/name`` (``key/server.pem``)."""
    taken = {script.name, *uploads, *(remote.split("/", 1)[0] for remote in uploads)}
    folder = (option or "input").lstrip("-")
    candidate, number = name, 1
    while candidate in taken or candidate.split("/", 1)[0] in uploads:
        candidate = f"{folder}{number if number > 1 else ''}/{name}"
        number += 1
    return candidate
