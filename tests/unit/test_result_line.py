"""result_line and json_object (scripts/bash/lib/common.sh): the one builder of every Bash script's result
line. Whatever the values hold (terminal escapes, quotes that would close the string, bytes that are not
UTF-8, text where a number or a boolean goes) and whatever mistake a caller makes (an unknown type, an
array that does not exist, a missing value), the line is one valid JSON object, on one line, with no raw
control character: values are data, never JSON.

The container test tests/containers/test_result_json.py runs every script with such a value for real.
"""

from __future__ import annotations

import json

import bashlib
import pytest

HOSTILE = b"\x1b[2J\x1b]52;c;eA==\x07\r\n\xff\xfe\xc2\x9b" + b'", "status": "ok", "x": "'


def decode(raw: bytes) -> str:
    """As json_quote sees bytes: valid UTF-8 kept, every other byte one U+FFFD."""
    return raw.decode("utf-8", errors="replace")


def line_of(body: str, *args: str | bytes) -> tuple[dict, bytes, bytes]:
    """Run ``body`` (which prints one result line) and parse its stdout strictly."""
    proc = bashlib.bash(body, *args)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out = proc.stdout
    assert out.endswith(b"\n") and out.count(b"\n") == 1, out
    text = out.decode("utf-8")                                  # strict: valid UTF-8
    assert not [c for c in text[:-1] if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0], text
    value = json.loads(text)
    assert isinstance(value, dict)
    return value, out, proc.stderr


def test_the_result_line_starts_with_the_contracts_members_then_the_scripts_own_in_order() -> None:
    value, out, _ = line_of('CHANGES=3; DRY_RUN=true; result_line changed name str parc url opt "" '
                            'keep int 5 rolled_back bool false')
    assert list(value) == ["script", "status", "changed", "dry_run", "name", "url", "keep", "rolled_back"]
    assert value == {"script": "unit-test", "status": "changed", "changed": 3, "dry_run": True,
                     "name": "parc", "url": None, "keep": 5, "rolled_back": False}
    assert out.startswith(b'{"script": "unit-test", "status": "changed", "changed": 3, "dry_run": true, ')


def test_result_script_names_the_script_as_its_result_line_always_did() -> None:
    value, _, _ = line_of("RESULT_SCRIPT=backup.sh; result_line ok")
    assert value["script"] == "backup.sh"


@pytest.mark.parametrize("kind", ["str", "opt", "some"])
def test_a_hostile_string_stays_one_value_of_the_member_it_was_given_to(kind: str) -> None:
    value, _, _ = line_of(f'result_line failed error {kind} "$1"', HOSTILE)
    assert value["status"] == "failed", value
    assert value["error"] == decode(HOSTILE)
    assert set(value) == {"script", "status", "changed", "dry_run", "error"}


def test_empty_values_are_null_for_opt_absent_for_some_and_an_empty_string_for_str() -> None:
    value, _, _ = line_of('result_line ok a opt "" b some "" c str ""')
    assert value["a"] is None and "b" not in value and value["c"] == ""


@pytest.mark.parametrize("number", ["12", "0", "-3", "08", "1,2", "1}, \"x\": {", "", "9" * 19, "1e3", " 1"])
def test_int_writes_a_whole_number_or_null_never_the_raw_text(number: str) -> None:
    value, _, _ = line_of('result_line ok n int "$1"', number)
    expected = int(number) if number in ("12", "0", "-3") else None
    assert value["n"] == expected


@pytest.mark.parametrize(("given", "expected"), [("true", True), ("false", False), ("1", None), ("", None),
                                                 ('true, "x": 1', None)])
def test_bool_writes_true_false_or_null(given: str, expected: bool | None) -> None:
    value, _, _ = line_of('result_line ok b bool "$1"', given)
    assert value["b"] is expected


def test_list_writes_the_named_array_each_element_a_string() -> None:
    value, _, _ = line_of('EMPTY=(); local_items=("$1" "" plain); '
                          'result_line ok items list local_items none list EMPTY', HOSTILE)
    assert value["items"] == [decode(HOSTILE), "", "plain"]
    assert value["none"] == []


def test_list_sees_an_array_local_to_the_calling_function() -> None:
    value, _, _ = line_of('emit() { local -a mine=(a "$1"); result_line ok mine list mine; }; emit "$1"',
                          "b c")
    assert value["mine"] == ["a", "b c"]


def test_json_keeps_what_the_json_helpers_printed_and_quotes_anything_else() -> None:
    body = ('nested="$(json_object name str "$1" n int 4)"; arr="$(json_items "$nested" "$nested")"; '
            'result_line ok one json "$nested" many json "$arr" forged json "$1" '
            'strings json "$(json_array "$1")"')
    value, _, _ = line_of(body, HOSTILE)
    assert value["one"] == {"name": decode(HOSTILE), "n": 4}
    assert value["many"] == [value["one"], value["one"]]
    assert value["forged"] == decode(HOSTILE)
    assert value["strings"] == [decode(HOSTILE)]


@pytest.mark.parametrize("members", [
    "x nosuchtype 1",
    "x list NO_SUCH_ARRAY",
    "x list 'not a name'",
    "x str",
    "lonely",
])
def test_a_bug_in_a_call_still_gives_valid_json_and_a_warning(members: str) -> None:
    value, _, err = line_of(f"result_line ok {members}")
    assert value["status"] == "ok"
    assert b"a bug in unit-test" in err, err


def test_a_status_other_than_ok_or_changed_is_written_failed() -> None:
    value, _, _ = line_of('result_line "$1"', HOSTILE)
    assert value["status"] == "failed"


def test_a_key_is_data_too() -> None:
    value, _, _ = line_of('result_line ok "$1" str v', b'k", "status": "ok')
    assert value['k", "status": "ok'] == "v" and value["status"] == "ok"
