"""json_quote (scripts/bash/lib/common.sh), the one JSON string escaper of the Bash scripts, against
Python's json.loads, with hostile strings: every control character, terminal escape sequences, quotes and
backslashes, Unicode, C1 controls, and bytes that are not UTF-8.

A NUL byte cannot be tested: a Bash string (and an argv entry) cannot hold one, so a value that had one
lost it before any script could quote it.

Every Bash script sources lib/common.sh (provision-users.sh too, since issue 15: it travels with lib/,
scripts/bundles.yml): the escaper it runs is the library's, not a copy.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import bashlib
import pytest

HOSTILE: dict[str, bytes] = {
    "clear-screen": b"\x1b[2J\x1b[H",
    "osc52-clipboard": b"\x1b]52;c;cm0gLXJmIC8K\x07",
    "carriage-return-overwrite": b"status: failed\rstatus: ok    ",
    "title-and-bell": b"\x1b]0;pwned\x07\x07",
    "every-c0-control": bytes(range(1, 32)),
    "del": b"a\x7fb",
    "quotes-and-backslashes": b'\\"\\\\"\\n\\u0000"',
    "json-breaker": b'x", "status": "ok", "y": "',
    "unicode": "Anaïs Dupont — 日本語 🚀 é".encode(),
    "c1-controls": "\u0085 \u009b2J \u0090".encode(),
    "bidi-override": "\u202eevil\u202c".encode(),
    "invalid-latin1": b"caf\xe9 na\xefve",
    "lone-continuation": b"\x80\xbf",
    "truncated-4-byte": b"\xf0\x9f\x98",
    "overlong-slash": b"\xc0\xaf\xe0\x80\xaf",
    "encoded-surrogate": b"\xed\xa0\x80",
    "above-u10ffff": b"\xf4\x90\x80\x80",
    "ff-fe": b"\xff\xfe",
    "dollar-and-backticks": b"$(touch /tmp/pwned) `id` ${HOME}",
    "ampersand-patsub": b"a&b\\&c",
    "empty": b"",
    "long-mixed": (b"\x1b[31m" + "é".encode() + b"\xff\x01\"\\") * 500,
}


def reference(raw: bytes) -> str:
    """What json_quote must encode: valid UTF-8 kept, each byte outside it one U+FFFD."""
    out, i = [], 0
    while i < len(raw):
        for length in (1, 2, 3, 4):
            try:
                char = raw[i:i + length].decode("utf-8")
            except UnicodeDecodeError:
                continue
            if len(char) == 1:
                out.append(char)
                i += length
                break
        else:
            out.append("\ufffd")
            i += 1
    return "".join(out)


def assert_safe_json(output: bytes, raw: bytes) -> None:
    text = output.decode("utf-8")                               # valid UTF-8, whatever came in
    assert text.startswith('"') and text.endswith('"'), text
    raw_controls = [c for c in text if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0]
    assert not raw_controls, f"control characters left raw: {raw_controls!r}"
    assert json.loads(text) == reference(raw)


@pytest.mark.parametrize("raw", list(HOSTILE.values()), ids=list(HOSTILE))
def test_json_quote_gives_json_that_decodes_to_the_string_with_no_raw_control(raw: bytes) -> None:
    assert_safe_json(bashlib.call("json_quote", raw), raw)


def test_json_quote_escapes_each_control_character_alone() -> None:
    for code in [*range(1, 32), 127]:
        raw = b"<" + bytes([code]) + b">"
        out = bashlib.call("json_quote", raw)
        assert_safe_json(out, raw)
        assert bytes([code]) not in out


def test_json_quote_survives_random_bytes() -> None:
    rng = random.Random(14)  # noqa: S311 - repeatable test data, not a secret
    values = [bytes(rng.choice(range(1, 256)) for _ in range(rng.randint(0, 40))) for _ in range(200)]
    for raw, out in zip(values, bashlib.call_each("json_quote", values), strict=True):
        assert_safe_json(out, raw)


def test_json_quote_does_not_depend_on_the_callers_locale() -> None:
    raw = HOSTILE["long-mixed"][:200]
    proc = bashlib.bash('export LC_ALL=C.UTF-8; json_quote "$1"', raw)
    assert proc.returncode == 0, proc.stderr
    assert_safe_json(proc.stdout, raw)


def test_json_array_and_json_or_null_use_the_same_escaping() -> None:
    raw = [HOSTILE["clear-screen"], HOSTILE["invalid-latin1"], HOSTILE["json-breaker"]]
    assert json.loads(bashlib.call("json_array", *raw)) == [reference(r) for r in raw]
    assert json.loads(bashlib.call("json_or_null", HOSTILE["osc52-clipboard"])) == \
        reference(HOSTILE["osc52-clipboard"])
    assert bashlib.call("json_or_null", b"") == b"null"


@pytest.mark.parametrize(("value", "expected"), [("514", "514"), ("0", "0"), ("-3", "-3"), ("", "null"),
                                                 ("1,2", "null"), ('1}, "x": 1', "null"), ("08", "null")])
def test_json_number_prints_only_whole_numbers(value: str, expected: str) -> None:
    assert bashlib.call("json_number", value).decode() == expected


def test_json_quote_to_sets_the_variable_it_is_given_whatever_its_name() -> None:
    """Any name but json_quote_to's own locals (__jq_…): those of a caller (s, i, out...) work."""
    raw = HOSTILE["json-breaker"] + HOSTILE["clear-screen"]
    for name in ("out", "s", "i", "quoted", "valid", "line"):
        proc = bashlib.bash(f'json_quote_to {name} "$1"; printf %s "${name}"', raw)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == bashlib.call("json_quote", raw), name


def test_provision_users_runs_the_librarys_escaper_not_a_copy_of_it() -> None:
    values = [*HOSTILE.values(), bytes(range(1, 256))]
    body = (f'. {bashlib.USERS_SCRIPT}\n'
            'shopt -s extdebug; declare -F json_quote json_quote_to result_line\n'
            'for v in "$@"; do json_quote "$v"; printf "\\n"; done')
    proc = subprocess.run(["bash", "-c", body, "provision-users", *values], capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    lines = proc.stdout.split(b"\n")
    where = [Path(line.decode().split(" ", 2)[2]).resolve() for line in lines[:3]]
    assert where == [bashlib.LIB / "common.sh"] * 3, where
    assert lines[3:-1] == [bashlib.call("json_quote", v) for v in values]
