"""Every graded exercise's grader fails on a fresh lab and passes after the exercise's reference solution.

For each lesson with exercises (docs/lessons/exercises/NN.yml): a fresh lab of its own (lesson 1's
exercises on tssr-exe1; TSSR_EXERCISE_LAB names another base than tssr-exe), each lesson in its own xdist
group so that they run side by side; every exercise of the lesson graded there first (`inv exercise
check N.M` must exit 1: nothing done yet); then, in order, each exercise's reference solution (the
`## Exercise N.M` section of the lesson's answers file, run like a walkthrough, outputs compared) and its
grader, which must now exit 0.
"""

from __future__ import annotations

import os

import invlib
import pytest

from tssrkit import exercises, lessons
from tssrkit.paths import REPO

BASE = os.environ.get("TSSR_EXERCISE_LAB", "tssr-exe")
ALL = exercises.load()
BY_LESSON: dict[str, list[exercises.Exercise]] = {}
for _exercise in ALL.values():
    BY_LESSON.setdefault(_exercise.lesson.removesuffix(".md"), []).append(_exercise)

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("lesson", [pytest.param(s, marks=pytest.mark.xdist_group(f"exercises-{s[:2]}"))
                                    for s in sorted(BY_LESSON)])
def test_graders_fail_on_a_fresh_lab_and_pass_after_the_reference_solution(lesson):
    graded = BY_LESSON[lesson]
    prefix = f"{BASE}{int(lesson[:2])}"

    def inv(*args: str):
        return invlib.inv(*args, timeout=1800, TSSR_LAB=prefix)

    def grade(exercise_id: str):
        return inv("exercise", "check", exercise_id, "--lang", "en")

    answers = (REPO / "docs" / "lessons" / graded[0].answers).read_text(encoding="utf-8")
    solutions = lessons.sections(answers, "Exercise ")
    missing = [ex.id for ex in graded if ex.id not in solutions]
    assert not missing, f"{graded[0].answers}: no '## Exercise N.M' section with a solution for {missing}"
    runner = lessons.Runner(REPO, prefix)
    inv("lab.down")
    try:
        up = inv("lab.up", "--count", str(max(ex.lab_hosts for ex in graded)))
        assert up.returncode == 0, up.stdout + up.stderr
        for ex in graded:
            fresh = grade(ex.id)
            assert fresh.returncode == 1 and "✘ not met" in fresh.stdout, \
                f"exercise {ex.id} on a fresh lab: exit {fresh.returncode}\n{fresh.stdout}{fresh.stderr}"
        for ex in graded:
            for block in solutions[ex.id]:
                for step in block.steps:
                    outcome = runner.run(step, block.check_output)
                    assert outcome.ok, f"solution of {ex.id}, {graded[0].answers}:\n{lessons.report(outcome)}"
            solved = grade(ex.id)
            assert solved.returncode == 0, \
                f"exercise {ex.id} solved: exit {solved.returncode}\n{solved.stdout}{solved.stderr}"
    finally:
        inv("lab.down")
