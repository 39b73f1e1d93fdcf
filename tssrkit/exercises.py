"""The lessons' graded exercises: what each asks, and the grader behind `inv exercise check N.M`.

Each lesson's exercises are described in docs/lessons/exercises/NN.yml (format: docs/lessons/README.md,
"Exercises are graded"): a title and criteria in French and English, each criterion checked by host-state
tests of tests/hoststate/ — the kit's own, which Molecule and a real server use, and the exercise's own in
tests/hoststate/exercises/. The grader runs them over SSH against a lab host with Testinfra, exactly as
they run against a real server, and says which criteria are met.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET  # noqa: S405 — our own pytest's JUnit report, not foreign input
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tssrkit.paths import REPO

LESSONS = REPO / "docs" / "lessons"
DESCRIPTIONS = LESSONS / "exercises"
HOSTSTATE = REPO / "tests" / "hoststate"
LANGUAGES = ("fr", "en")

TEXT = {
    "fr": {"exercise": "Exercice", "met": "✔ rempli    ", "unmet": "✘ non rempli",
           "done": "Tous les critères sont remplis ({n}/{n}) : exercice réussi.",
           "not_done": "{met} critère(s) rempli(s) sur {n} : pas encore, relisez l'énoncé.",
           "nothing": "aucun test n'a pu vérifier ce critère"},
    "en": {"exercise": "Exercise", "met": "✔ met    ", "unmet": "✘ not met",
           "done": "All criteria met ({n}/{n}): exercise done.",
           "not_done": "{met} of {n} criteria met: not yet, read the task again.",
           "nothing": "no test could check this criterion"},
}


@dataclass(frozen=True)
class Criterion:
    text: dict[str, str]               # language -> sentence
    tests: tuple[str, ...]             # modules or node ids under tests/hoststate/
    env: tuple[tuple[str, str], ...]   # environment of the host-state tests (paths from the repository)


@dataclass(frozen=True)
class Exercise:
    id: str                            # "1.1"
    lesson: str                        # the lesson's file name
    answers: str                       # the answers file, from docs/lessons/
    title: dict[str, str]
    criteria: tuple[Criterion, ...]
    lab_hosts: int = 1


@dataclass
class Verdict:
    criterion: Criterion
    met: bool
    details: list[str] = field(default_factory=list)


def _text(value, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) != set(LANGUAGES) or not all(
            isinstance(v, str) and v.strip() for v in value.values()):
        raise ValueError(f"{where}: needs a non-empty 'fr' and 'en' text, and nothing else")
    return {k: " ".join(v.split()) for k, v in value.items()}


def load(folder: Path = DESCRIPTIONS) -> dict[str, Exercise]:
    """Every exercise, by id, in lesson order; a malformed description is an error naming its file."""
    found: dict[str, Exercise] = {}
    for path in sorted(folder.glob("*.yml")):
        where = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ValueError(f"{where}: not valid YAML: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("exercises"), dict):
            raise ValueError(f"{where}: needs 'lesson', 'answers' and 'exercises'")
        for ex_id, spec in data["exercises"].items():
            criteria = []
            for n, crit in enumerate(spec.get("criteria") or [], 1):
                tests = crit.get("tests") or []
                if not tests or not all(isinstance(t, str) for t in tests):
                    raise ValueError(f"{where}: {ex_id} criterion {n}: needs 'tests'")
                env = tuple(sorted((str(k), str(v)) for k, v in (crit.get("env") or {}).items()))
                text = _text({k: crit.get(k) for k in LANGUAGES}, f"{where}: {ex_id} criterion {n}")
                criteria.append(Criterion(text, tuple(tests), env))
            if not criteria:
                raise ValueError(f"{where}: {ex_id}: no criteria")
            if str(ex_id) in found:
                raise ValueError(f"{where}: exercise {ex_id} is described twice")
            found[str(ex_id)] = Exercise(str(ex_id), data["lesson"], data["answers"],
                                         _text(spec.get("title"), f"{where}: {ex_id} title"), tuple(criteria),
                                         int(data.get("lab_hosts", 1)))
    return found


def default_language() -> str:
    """French when the locale is French (LC_ALL, LC_MESSAGES, then LANG), else English."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name)
        if value:
            return "fr" if value.lower().startswith("fr") else "en"
    return "en"


# ---- grading ---------------------------------------------------------------------------------------
def _selects(selection: str, classname: str, name: str) -> bool:
    """Whether a JUnit test case (classname, name) is one of ``selection`` (a module or a node id)."""
    module, _, test = selection.partition("::")
    dotted = "tests.hoststate." + module.removesuffix(".py").replace("/", ".")
    if classname != dotted and not classname.startswith(dotted + "."):
        return False
    return not test or name == test or name.startswith(test + "[")


def grade(exercise: Exercise, host: str, ssh_config: Path, lab: str) -> list[Verdict]:
    """Run the exercise's host-state tests against ``host`` and say which criteria are met."""
    verdicts = [Verdict(c, False) for c in exercise.criteria]
    groups: dict[tuple[tuple[str, str], ...], list[Verdict]] = {}
    for verdict in verdicts:
        groups.setdefault(verdict.criterion.env, []).append(verdict)
    for env, members in groups.items():
        selections = sorted({t for v in members for t in v.criterion.tests})
        cases = _run(selections, dict(env), exercise.id, host, ssh_config, lab)
        for verdict in members:
            mine = [c for c in cases if any(_selects(t, c[0], c[1]) for t in verdict.criterion.tests)]
            passed = [c for c in mine if c[2] == "passed"]
            failed = [c for c in mine if c[2] in ("failed", "error")]
            verdict.met = bool(passed) and not failed
            verdict.details = [c[3] for c in failed][:3]
    return verdicts


def _run(selections: list[str], env: dict[str, str], ex_id: str, host: str, ssh_config: Path,
         lab: str) -> list[tuple[str, str, str, str]]:
    """(classname, name, outcome, first line of the message) of each host-state test run."""
    with tempfile.TemporaryDirectory(prefix="tssr-grade-") as tmp:
        report = Path(tmp) / "junit.xml"
        argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--no-header",
                f"--hosts=ssh://{host}", f"--ssh-config={ssh_config}", "--sudo", f"--junitxml={report}",
                "-o", "junit_family=xunit1", *(f"tests/hoststate/{s}" for s in selections)]
        proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=900,
                              env={**os.environ, **env, "TSSR_EXERCISE": ex_id, "TSSR_LAB": lab})
        if not report.is_file():
            output = proc.stdout[-2000:] + proc.stderr[-2000:]
            raise RuntimeError(f"the host-state tests did not run:\n{output}")
        cases = []
        for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314 — written by our pytest
            outcome, message = "passed", ""
            for tag in ("failure", "error", "skipped"):
                node = case.find(tag)
                if node is not None:
                    outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                    message = (node.get("message") or node.text or "").strip().splitlines()[:1]
                    message = message[0][:300] if message else tag
                    break
            cases.append((case.get("classname", ""), case.get("name", ""), outcome, message))
        return cases


def render(exercise: Exercise, host: str, verdicts: list[Verdict], lang: str) -> str:
    """The grader's report, in ``lang``."""
    text = TEXT[lang]
    lines = [f"{text['exercise']} {exercise.id} — {exercise.title[lang]} ({host})"]
    for verdict in verdicts:
        lines.append(f"  {text['met'] if verdict.met else text['unmet']}  {verdict.criterion.text[lang]}")
        if not verdict.met:
            for detail in verdict.details or [text["nothing"]]:
                lines.append(f"                {detail}")
    met = sum(v.met for v in verdicts)
    n = len(verdicts)
    lines.append(text["done"].format(n=n) if met == n else text["not_done"].format(met=met, n=n))
    return "\n".join(lines)
