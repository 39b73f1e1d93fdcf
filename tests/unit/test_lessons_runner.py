"""tssrkit/lessons.py: how a lesson's console blocks become steps, and how outputs are compared."""

from __future__ import annotations

import pytest

from tssrkit import lessons

LESSON = """# Lesson

## 1. Local and remote

```console
$ .venv/bin/inv lab.up
host       state
tssr-lab1  running
$ ssh -F .tssr/tssr-lab/ssh_config tssr-lab1
tssr@tssr-lab1:~$ id -u
1000
```

```sh
$ not run: an illustration
```

<!-- lesson: not run: Windows only -->
```console
$ pwsh -File x.ps1
```

<!-- lesson: no output check -->

```console
$ printf 'a\\
b'
```

## Exercise 1.1 — hires

```console
$ true
```
"""


def test_console_blocks_become_local_remote_and_login_steps():
    blocks = lessons.parse(LESSON)
    assert [len(b.steps) for b in blocks] == [3, 1, 1, 1]
    local, login, remote = blocks[0].steps
    assert (local.host, local.command, local.expected) == (None, ".venv/bin/inv lab.up",
                                                           ["host       state", "tssr-lab1  running"])
    assert login.login and not remote.login
    assert (remote.host, remote.command, remote.expected) == ("tssr-lab1", "id -u", ["1000"])
    assert blocks[0].section == "1. Local and remote"


def test_other_blocks_are_illustrations_and_directives_apply_to_the_next_block_only():
    blocks = lessons.parse(LESSON)
    assert blocks[1].not_run == "Windows only" and blocks[1].check_output
    assert blocks[2].not_run is None and not blocks[2].check_output   # a blank line between is allowed
    assert blocks[2].steps[0].command == "printf 'a\\\nb'"            # continued on the next line
    assert blocks[3].not_run is None and blocks[3].check_output


def test_output_before_any_command_and_unknown_directives_are_errors():
    with pytest.raises(ValueError, match="output before any command"):
        lessons.parse("```console\nhello\n$ true\n```\n")
    with pytest.raises(ValueError, match="unknown lesson directive"):
        lessons.parse("<!-- lesson: skip -->\n```console\n$ true\n```\n")


def test_a_powershell_prompt_is_a_windows_step_only_in_a_block_marked_not_run():
    blocks = lessons.parse("<!-- lesson: not run: Windows only -->\n```console\n"
                           "PS C:\\Scripts> .\\Get-TssrServerHealth.ps1 -WhatIf\nWhat if: …\n```\n")
    assert (blocks[0].steps[0].host, blocks[0].steps[0].expected) == (lessons.WINDOWS, ["What if: …"])
    with pytest.raises(ValueError, match="PowerShell prompt needs"):
        lessons.parse("```console\nPS C:\\> Get-Date\n```\n")


def test_a_directive_followed_by_text_applies_to_nothing():
    blocks = lessons.parse("<!-- lesson: not run: x -->\nSome text.\n```console\n$ true\n```\n")
    assert blocks[0].not_run is None


def test_answers_sections_are_found_by_exercise_number():
    found = lessons.sections(LESSON, "Exercise ")
    assert list(found) == ["1.1"] and found["1.1"][0].steps[0].command == "true"


@pytest.mark.parametrize(("shown", "printed"), [
    ("tssr-lab1  changed       41     51.8  https://tssr-lab1/", "tssr-lab1  changed  41  3.2  https://tssr-lab1/"),
    ("[tssr-lab1] changed, 8 change(s) in 0.6 s", "[tssr-lab1] changed, 8 change(s) in 12.25 s"),
    ("tssr-lab1: https://127.0.0.1:32780/", "tssr-lab1: https://127.0.0.1:41002/"),
    ("/var/lib/tssr-kit/users/passwords-20261128T181905Z.csv",
     "/var/lib/tssr-kit/users/passwords-20270101T000000Z.csv"),
    ("drwx------ 3 edupont edupont 4096 Nov 28 18:19 /home/edupont",
     "drwx------ 3 edupont edupont 4096 Dec  7 09:01 /home/edupont"),
    ("checking /tmp/tssr-kit.G3xtgSc3/bad.csv", "checking /tmp/tssr-kit.Zz81_aQ/bad.csv"),
    ("set 2026-11-28T18:19:05Z sha256 3f2a9c0b1d4e5f60718293a4b5c6d7e8",
     "set 2027-01-02T03:04:05Z sha256 0123456789abcdef0123"),
])
def test_what_varies_between_runs_is_ignored(shown, printed):
    assert lessons.matches([shown], [printed])


@pytest.mark.parametrize(("shown", "printed"), [
    ("tssr-lab1  changed  41", "tssr-lab1  ok  0"),               # a status or a count is not a time
    ("uid=1000(edupont) gid=1000(edupont)", "uid=1001(edupont) gid=1001(edupont)"),
    ("inet 10.0.0.1", "inet 10.0.0.2"),                          # an address is not a duration
    ("exit 2", "exit 0"),
])
def test_what_the_lesson_states_must_be_printed(shown, printed):
    assert not lessons.matches([shown], [printed])


def test_an_ellipsis_is_any_text_and_a_line_of_it_any_number_of_lines():
    assert lessons.matches(["[tssr-lab1] provision-users: started", "…", "exit 2"],
                           ["[tssr-lab1] provision-users: started", "a", "b", "exit 2"])
    assert lessons.matches(["first", "…", "last"], ["first", "last"])
    assert lessons.matches(["edupont;…"], ["edupont;Xk3-random-password"])
    assert not lessons.matches(["first", "last"], ["first", "middle", "last"])
    assert not lessons.matches(["first"], ["first", "more"])          # nothing unshown may be printed


def test_blank_lines_and_column_widths_do_not_count():
    assert lessons.matches(["a  b", "", "c"], ["a b", "c", ""])
    assert lessons.matches(["host       state", "---------  -----"], ["host      state", "--------  -----"])


def test_the_runner_moves_the_lesson_onto_its_own_lab():
    runner = lessons.Runner(lessons.Path("/repo"), "tssr-les")
    step = lessons.Step(line=1, command="cat .tssr/tssr-lab/ssh_config", host="tssr-lab1")
    argv = runner.argv(step)
    assert argv[:4] == ["ssh", "-F", "/repo/.tssr/tssr-les/ssh_config", "tssr-les1"]
    assert "tssr-les/ssh_config" in argv[-1]
    assert runner._from_lab("tssr-les1 ok") == "tssr-lab1 ok"
