"""A host's state, taken before and after a run that must change nothing, and compared: for the
container tests (docker exec into a test container) and the lab tests (into a lab host) alike.

``host_state_script(paths)`` is a shell snippet run on the host; ``parse_snapshot`` reads its output;
``assert_nothing_changed`` compares two, showing what differs and the run that changed it. tests/ is
on the import path (pytest puts the folder of tests/conftest.py there): ``from snapshots import …``.
"""

from __future__ import annotations

import difflib


def parse_snapshot(text: str) -> dict[str, str]:
    """The output of SNAPSHOT as section name → text."""
    sections: dict[str, str] = {}
    name = ""
    for line in text.splitlines(keepends=True):
        if line.startswith("=== "):
            name = line[4:].strip()
            sections[name] = ""
        else:
            sections[name] += line
    return sections


def host_state_script(paths: tuple[str, ...]) -> str:
    """A shell snippet that prints a server's state in :func:`parse_snapshot`'s sections: for each
    of ``paths`` that exists, its tree (modes, owners, link targets) and the sums of its files; then
    the installed packages and the loaded firewall (nftables). A deploy script's run that must change
    nothing leaves it the same."""
    return (f"for p in {' '.join(paths)}; do\n" + r"""    [ -e "$p" ] || [ -L "$p" ] || continue
    printf '=== tree %s\n' "$p"; find "$p" -printf '%M %u %g %p -> %l\n' | LC_ALL=C sort
    printf '=== sums %s\n' "$p"; find "$p" -type f -exec sha256sum {} + | LC_ALL=C sort
done
printf '=== packages\n'
if command -v dpkg-query >/dev/null 2>&1; then dpkg-query -W; else rpm -qa | LC_ALL=C sort; fi
printf '=== firewall\n'
if command -v nft >/dev/null 2>&1; then nft -s list ruleset 2>&1; fi
""")


def snapshot_diff(before: dict[str, str], after: dict[str, str]) -> str:
    """What differs between two snapshots, as a unified diff per section ('' when nothing does)."""
    out: list[str] = []
    for section in sorted(set(before) | set(after)):
        old, new = before.get(section, "<none>\n"), after.get(section, "<none>\n")
        if old != new:
            out.append(f"--- {section}")
            out += list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=1))[2:60]
    return "\n".join(out)


def assert_nothing_changed(before: dict[str, str], after: dict[str, str], run: object) -> None:
    """Two snapshots are the same (and no injected command left a trace in a ``pwned`` section);
    ``run`` (a ScriptRun, a CompletedProcess) is shown when they are not."""
    assert not after.get("pwned", "").strip(), f"an injected command ran: {after['pwned']}{run!r}"
    diff = snapshot_diff(before, after)
    assert not diff, f"the run changed the host:\n{diff}{run!r}"
