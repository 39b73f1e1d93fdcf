"""tssrkit/exercises.py: reading the exercises' descriptions, matching host-state tests to criteria, and
the grader's report in French and English (the grading itself runs in tests/lab/test_exercises.py)."""

from __future__ import annotations

import pytest

from tssrkit import exercises

GOOD = """
lesson: 01-provision-users.md
answers: answers/01-provision-users.md
exercises:
  "1.1":
    title: {fr: Trois embauches, en: Three hires}
    criteria:
      - fr: Les comptes existent
        en: The accounts exist
        tests: [test_users.py]
        env: {TSSR_USERS_CSV: docs/lessons/exercises/1.1.csv}
      - fr: Le départ est verrouillé
        en: The leaver is locked
        tests: ["exercises/test_exercises_users.py::test_1_1_leaver_is_locked"]
"""


def write(tmp_path, text: str):
    (tmp_path / "01.yml").write_text(text, encoding="utf-8")
    return tmp_path


def test_a_description_is_read_with_both_languages_and_its_tests(tmp_path):
    found = exercises.load(write(tmp_path, GOOD))
    ex = found["1.1"]
    assert (ex.lesson, ex.title["fr"], len(ex.criteria)) == ("01-provision-users.md", "Trois embauches", 2)
    assert ex.criteria[0].env == (("TSSR_USERS_CSV", "docs/lessons/exercises/1.1.csv"),)
    assert ex.criteria[1].tests == ("exercises/test_exercises_users.py::test_1_1_leaver_is_locked",)


@pytest.mark.parametrize(("change", "word"), [
    (("        en: The accounts exist\n", ""), "'fr' and 'en'"),
    (("        tests: [test_users.py]\n", ""), "needs 'tests'"),
    (("en: Three hires}", "en: ''}"), "title"),
    (("exercises:", "exercices:"), "needs 'lesson'"),
    (("en: The accounts exist", "en: The accounts: exist"), "not valid YAML"),
])
def test_a_malformed_description_is_an_error_naming_the_file(tmp_path, change, word):
    with pytest.raises(ValueError, match="01.yml") as error:
        exercises.load(write(tmp_path, GOOD.replace(*change)))
    assert word in str(error.value)


@pytest.mark.parametrize(("selection", "classname", "name", "selected"), [
    ("test_users.py", "tests.hoststate.test_users", "test_present_account[ssh://tssr-lab1]", True),
    ("test_users.py", "tests.hoststate.test_users_more", "test_x", False),
    ("exercises/test_exercises_users.py::test_1_1_leaver_is_locked",
     "tests.hoststate.exercises.test_exercises_users", "test_1_1_leaver_is_locked[ssh://tssr-lab1]", True),
    ("exercises/test_exercises_users.py::test_1_1_leaver_is_locked",
     "tests.hoststate.exercises.test_exercises_users", "test_1_1_leaver_is_locked_twice", False),
    ("test_lamp.py", "tests.hoststate.test_lamp.TestVhost", "test_tls", True),
])
def test_junit_cases_are_matched_to_their_selection(selection, classname, name, selected):
    assert exercises._selects(selection, classname, name) is selected


def test_the_report_says_what_is_met_and_what_is_not_in_either_language(tmp_path):
    ex = exercises.load(write(tmp_path, GOOD))["1.1"]
    verdicts = [exercises.Verdict(ex.criteria[0], True),
                exercises.Verdict(ex.criteria[1], False, ["AssertionError: edupont is not locked"])]
    french = exercises.render(ex, "tssr-lab1", verdicts, "fr")
    english = exercises.render(ex, "tssr-lab1", verdicts, "en")
    assert french.splitlines()[0] == "Exercice 1.1 — Trois embauches (tssr-lab1)"
    assert "✔ rempli" in french and "✘ non rempli  Le départ est verrouillé" in french
    assert "edupont is not locked" in french and "1 critère(s) rempli(s) sur 2" in french
    assert "✘ not met  The leaver is locked" in english and "1 of 2 criteria met" in english
    done = exercises.render(ex, "tssr-lab1", [exercises.Verdict(c, True) for c in ex.criteria], "en")
    assert done.splitlines()[-1] == "All criteria met (2/2): exercise done."


def test_a_criterion_nothing_checked_says_so():
    crit = exercises.Criterion({"fr": "x", "en": "y"}, ("test_users.py",), ())
    ex = exercises.Exercise("1.1", "01-x.md", "answers/01-x.md", {"fr": "t", "en": "t"}, (crit,))
    report = exercises.render(ex, "h", [exercises.Verdict(crit, False)], "en")
    assert "no test could check this criterion" in report


@pytest.mark.parametrize(("env", "lang"), [
    ({"LANG": "fr_FR.UTF-8"}, "fr"), ({"LANG": "en_GB.UTF-8"}, "en"), ({}, "en"),
    ({"LC_ALL": "C.UTF-8", "LANG": "fr_FR.UTF-8"}, "en"), ({"LC_MESSAGES": "fr_CA.UTF-8"}, "fr"),
])
def test_the_default_language_follows_the_locale(monkeypatch, env, lang):
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert exercises.default_language() == lang


def test_every_exercise_of_the_kit_is_described_well():
    found = exercises.load()          # raises on a malformed file
    assert all(ex.criteria for ex in found.values())
