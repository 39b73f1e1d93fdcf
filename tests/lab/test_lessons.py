"""The lessons' walkthroughs, run against a lab of their own, each output compared with the lesson's.

Each lesson of docs/lessons/ runs from its first console block to its last, in order, on a fresh lab of
its own (lesson 1 on tssr-les1: hosts tssr-les11, tssr-les12…; TSSR_LESSON_LAB names another base than
tssr-les; never the lab a trainee practises on), the way a trainee types it, each lesson in its own xdist
group so that lessons run side by side;
what each command prints is compared with what the lesson shows, after tssrkit.lessons.normalise (times,
ports, dates, hashes vary). A lesson that drifts from the code fails here, with the line, the command,
what the lesson shows and what was printed. A block the lesson marks as not runnable here (Windows) is
reported as not run, never as passed. The conventions: docs/lessons/README.md.
"""

from __future__ import annotations

import os

import invlib
import pytest

from tssrkit import lessons
from tssrkit.paths import REPO

BASE = os.environ.get("TSSR_LESSON_LAB", "tssr-les")
FILES = sorted((REPO / "docs" / "lessons").glob("[0-9][0-9]-*.md"))


def _parse(path) -> list[lessons.Block] | str:
    try:
        return lessons.parse(path.read_text(encoding="utf-8"))
    except ValueError as exc:          # reported by the lesson's test, not as a collection error
        return f"docs/lessons/{path.name}: {exc}"


PARSED = {path.stem: _parse(path) for path in FILES}
BLOCKS = {stem: parsed for stem, parsed in PARSED.items() if isinstance(parsed, list)}
NOT_RUN = [(stem, block) for stem, blocks in BLOCKS.items() for block in blocks if block.not_run]

pytestmark = pytest.mark.lab


def lab_of(lesson: str) -> str:
    """The lab a lesson runs on: the base and the lesson's number (tssr-les1 for 01-…)."""
    return f"{BASE}{int(lesson[:2])}"


def lab_down(prefix: str) -> None:
    proc = invlib.inv("lab.down", TSSR_LAB=prefix)
    assert proc.returncode == 0, proc.stdout + proc.stderr


RUNNABLE = [stem for stem, parsed in PARSED.items()
            if isinstance(parsed, str) or any(not block.not_run for block in parsed)]


@pytest.mark.parametrize("lesson", [pytest.param(s, marks=pytest.mark.xdist_group(f"lesson-{s[:2]}"))
                                    for s in RUNNABLE])
def test_walkthrough_prints_what_the_lesson_shows(lesson):
    assert not isinstance(PARSED[lesson], str), PARSED[lesson]
    prefix = lab_of(lesson)
    runner = lessons.Runner(REPO, prefix)
    failures: list[str] = []
    steps = 0
    lab_down(prefix)
    try:
        for block in BLOCKS[lesson]:
            if block.not_run:
                continue
            for step in block.steps:
                outcome = runner.run(step, block.check_output)
                steps += not step.login
                if not outcome.ok:
                    failures.append(f"§ {block.section}\n{lessons.report(outcome)}")
    finally:
        lab_down(prefix)
    assert not failures, f"{len(failures)} of {steps} step(s) differ from docs/lessons/{lesson}.md:\n\n" + \
        "\n\n".join(failures)


@pytest.mark.parametrize(("lesson", "block"), NOT_RUN, ids=[f"{s}-line{b.line}" for s, b in NOT_RUN])
def test_block_that_cannot_run_here_is_reported_as_not_run(lesson, block):
    assert block.steps, f"docs/lessons/{lesson}.md:{block.line}: an empty console block"
    where = f"docs/lessons/{lesson}.md:{block.line}"
    pytest.skip(f"not run: {block.not_run} ({where}, {len(block.steps)} command(s))")
