"""What a hostile host sends back cannot drive the operator's terminal (tssrkit/runner.py).

A host's script prints narration (stderr) and a result line whose notes (an error message, a URL) the
runner shows in its progress lines and summary table. Whoever controls that host (or a name, a file,
a message that reaches the script's output) could otherwise clear the screen (ESC [ 2 J), set the
clipboard (OSC 52), change the title, overwrite a line with a carriage return to forge a verdict, or
reorder text with a bidirectional override. The runner writes all of these visibly.

A small in-memory host stands in for SSH (as in test_runner.py): the runner's printing is under test;
the SSH side runs for real in tests/lab.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fakehost import FakeHost

from tssrkit import runner
from tssrkit.hosts import Target

ATTACKS = {
    "clear-screen": "\x1b[2J\x1b[H",
    "osc52-clipboard": "\x1b]52;c;Y3VybCBldmlsIHwgc2gK\x07",
    "window-title": "\x1b]0;all good\x07",
    "carriage-return-forgery": "exit 1\r[web1] ok, 0 change(s) in 0.1 s",
    "c1-csi": "\x9b2J",
    "bidi-override": "\u202etxt.exe",
    "backspaces": "failed\b\b\b\b\b\bok    ",
    "vertical-tab-form-feed": "a\x0bb\x0cc",
    "line-separator": "a\u2028b",
    "unpaired-surrogate": "caf\udce9",
}


def assert_nothing_raw(text: str) -> None:
    bad = [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0
           or ord(c) in (0x2028, 0x2029) or 0x202A <= ord(c) <= 0x202E or 0xD800 <= ord(c) <= 0xDFFF]
    assert not bad, f"raw terminal controls in the output: {bad!r}\n{text!r}"


@pytest.mark.parametrize("attack", list(ATTACKS.values()), ids=list(ATTACKS))
def test_printable_writes_terminal_controls_visibly(attack: str) -> None:
    shown = runner.printable(f"before {attack} after")
    assert_nothing_raw(shown)
    assert shown.startswith("before ") and shown.endswith(" after")


def test_printable_keeps_ordinary_text_and_unicode_as_it_is() -> None:
    text = "Anaïs — 日本語 🚀 ok, 2 change(s) in 1.0 s"
    assert runner.printable(text) == text
    assert runner.printable("\x1b[31m") == "\\x1b[31m"
    assert runner.printable("a\rb\nc\td") == "a\\rb\\nc\\td"


def hostile(attack: str) -> FakeHost:
    """A host whose script's narration and result line carry terminal controls."""
    def reply(command: str) -> tuple[dict, str, int]:
        result = {"status": "failed", "changed": 0, "error": f"bad name {attack}"}
        return result, f"narration {attack}\nmore {attack}\n", 1
    return FakeHost(reply)


@pytest.mark.parametrize("attack", list(ATTACKS.values()), ids=list(ATTACKS))
def test_progress_and_summary_escape_what_the_host_sent(attack: str) -> None:
    stream = io.StringIO()
    job = runner.Job("demo", Path(__file__), validate_first=False)
    results = runner.run_job(job, [Target(name="web1", host="web1")], progress=runner.Progress(stream),
                             connector=lambda t: hostile(attack))
    progress = stream.getvalue()
    table = runner.summary(results)
    assert_nothing_raw(progress)
    assert_nothing_raw(table)
    assert "narration" in progress and "bad name" in table
    # One output line per line the host sent, each marked with the host: nothing forged between them.
    assert all(line.startswith("[web1]") for line in progress.splitlines()), progress


def test_an_unreachable_hosts_error_is_escaped_too() -> None:
    stream = io.StringIO()

    def refuse(target):
        raise OSError(f"banner {ATTACKS['clear-screen']} from the server")

    results = runner.run_job(runner.Job("demo", Path(__file__), validate_first=False),
                             [Target(name="web1", host="web1")], progress=runner.Progress(stream),
                             connector=refuse)
    assert results[0].status == "unreachable"
    assert_nothing_raw(stream.getvalue())
    assert_nothing_raw(runner.summary(results))


def test_table_cells_are_escaped_and_columns_still_line_up() -> None:
    lines = runner.table([("host", "note"), ("a\x1b[2J", "x\ry")])
    assert_nothing_raw("\n".join(lines))
    assert lines[2].startswith("a\\x1b[2J  ")
