"""Every lesson has the one shape of docs/lessons/README.md, its answers file, 2–3 graded exercises whose
descriptions name real host-state tests, and every relative link in the docs leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tssrkit import exercises, lessons
from tssrkit.paths import REPO

DOCS = REPO / "docs"
LESSONS = sorted((DOCS / "lessons").glob("[0-9][0-9]-*.md"))
HEADINGS = ("Objectifs / Objectives", "Compétence visée", "Avant de commencer / Before you start",
            "Walkthrough", "Break it on purpose", "Exercices / Exercises")
ALL = exercises.load()


def headings(path: Path) -> list[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL | re.MULTILINE)
    return [line[3:].strip() for line in text.splitlines() if line.startswith("## ")]


def section(path: Path, heading: str) -> str:
    text = path.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_there_are_six_lessons():
    assert len(LESSONS) >= 6


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_lesson_has_the_one_shape_in_order(lesson):
    found = [h for h in headings(lesson) if h in HEADINGS]
    assert found == list(HEADINGS), f"{lesson.name}: the parts are {headings(lesson)}"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_competence_is_quoted_in_french_with_a_glossary(lesson):
    part = section(lesson, "Compétence visée")
    quoted = [line for line in part.splitlines() if line.startswith(">")]
    assert len(quoted) >= 2, f"{lesson.name}: the competence and its criteria, quoted ('> …')"
    assert re.search(r"Glossaire|Glossary", part), f"{lesson.name}: no glossary"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_objectives_and_before_you_start_are_there_in_both_languages(lesson):
    objectives = section(lesson, "Objectifs / Objectives")
    assert re.search(r"\b(vous|les|des)\b", objectives) and re.search(r"\b(you|the)\b", objectives)
    before = section(lesson, "Avant de commencer / Before you start")
    assert "./setup" in before and "lab.up" in before, f"{lesson.name}: ./setup and inv lab.up"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_lesson_has_two_or_three_graded_exercises_in_its_task_list(lesson):
    mine = [ex for ex in ALL.values() if ex.lesson == lesson.name]
    assert 2 <= len(mine) <= 3, f"{lesson.name}: {len(mine)} exercise(s) in docs/lessons/exercises/"
    tasks = section(lesson, "Exercices / Exercises")
    for ex in mine:
        assert f"inv exercise check {ex.id}" in tasks, f"{lesson.name}: the task list does not grade {ex.id}"
        assert ex.title["fr"] in tasks and ex.title["en"] in tasks, f"{lesson.name}: {ex.id}'s titles"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_lesson_has_its_answers_file_with_a_solution_per_exercise(lesson):
    mine = [ex for ex in ALL.values() if ex.lesson == lesson.name]
    answers = {DOCS / "lessons" / ex.answers for ex in mine}
    assert answers == {DOCS / "lessons" / "answers" / lesson.name}
    solutions = lessons.sections((DOCS / "lessons" / "answers" / lesson.name).read_text(encoding="utf-8"),
                                 "Exercise ")
    assert {ex.id for ex in mine} <= set(solutions)


@pytest.mark.parametrize("exercise", list(ALL.values()), ids=lambda e: e.id)
def test_every_criterion_names_host_state_tests_that_exist(exercise):
    for criterion in exercise.criteria:
        for selection in criterion.tests:
            module, _, name = selection.partition("::")
            path = REPO / "tests" / "hoststate" / module
            assert path.is_file(), f"{exercise.id}: {selection}: no such module"
            if name:
                assert re.search(rf"^def {re.escape(name)}\(", path.read_text(), re.MULTILINE), \
                    f"{exercise.id}: {selection}: no such test"
        for name, value in criterion.env:
            if value.startswith("docs/"):
                assert (REPO / value).is_file(), f"{exercise.id}: {name}={value}: no such file"


def test_exercise_numbers_follow_their_lesson():
    for ex in ALL.values():
        assert ex.id.split(".")[0] == str(int(ex.lesson[:2])), f"{ex.id} is in {ex.lesson}"


LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


@pytest.mark.parametrize("doc", sorted(DOCS.rglob("*.md")) + [REPO / "README.md"],
                         ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_lead_to_a_file(doc):
    text = re.sub(r"^```.*?^```", "", doc.read_text(encoding="utf-8"), flags=re.DOTALL | re.MULTILINE)
    text = re.sub(r"`[^`\n]*`", "", text)             # code, not links
    dead = [target for target, _ in LINK.findall(text)
            if not re.match(r"[a-z]+:", target) and not (doc.parent / target).exists()]
    assert not dead, f"{doc.relative_to(REPO)}: dead links {dead}"
