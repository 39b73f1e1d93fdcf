"""The lessons' console blocks as steps that a test runs against a lab, and how their outputs compare.

The conventions (docs/lessons/README.md, "Commands and outputs are tested"):

- in a ```console block, ``$ command`` runs on the machine of the kit, in the repository;
  ``tssr@tssr-lab1:~$ command`` runs on the lab host over SSH; ``$ ssh -F … tssr-lab1`` on its own
  opens that shell (no output to compare); ``PS C:\\…> command`` is a Windows prompt, only in a block
  marked not run; a line ending in ``\\`` continues on the next;
- the lines after a command are its output (stdout and stderr together, as a terminal shows them);
- ``<!-- lesson: not run: REASON -->`` before a block: listed as not run, with its reason;
  ``<!-- lesson: no output check -->`` before a block: run, output not compared;
- outputs are compared after :func:`normalise`; ``…`` is any text on a line, and a line of ``…`` alone is
  any number of lines.

A lesson names the lab ``tssr-lab`` (hosts ``tssr-lab1``…, state in ``.tssr/tssr-lab``); the runner runs it
on another lab prefix (so that a test never touches the lab a trainee practises on) by replacing the name
in the commands, and back in the outputs.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

LESSON_LAB = "tssr-lab"
ELLIPSIS = "…"

_FENCE = re.compile(r"^(`{3,})(\S*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*lesson:\s*(.*?)\s*-->\s*$")
_LOCAL = "$ "
_REMOTE = re.compile(r"^(\w[\w-]*)@([a-z][a-z0-9-]*):(\S*)\$ (.*)$")
_LOGIN = re.compile(r"^ssh -F \S+ ([a-z][a-z0-9-]*)$")
_POWERSHELL = re.compile(r"^PS [A-Za-z]:[^>]*> ?(.*)$")    # PS C:\Scripts> … : a Windows prompt
WINDOWS = "windows"


@dataclass
class Step:
    """One command of a console block and the output the lesson shows for it."""

    line: int                     # line number of the command in the lesson (1-based)
    command: str
    host: str | None = None       # None: on the kit's machine; else the lab host it runs on over SSH
    login: bool = False           # `ssh -F … HOST` on its own: opens a shell, nothing to run or compare
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    """A console block: its steps, in the section (heading) it belongs to."""

    line: int
    section: str
    steps: list[Step]
    not_run: str | None = None    # the reason, when the lesson says it cannot run here
    check_output: bool = True


def parse(text: str) -> list[Block]:
    """The console blocks of a lesson (other blocks are illustrations, not run)."""
    blocks: list[Block] = []
    lines = text.splitlines()
    section = ""
    directive: str | None = None     # the directive comment right before the next block
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        comment = _DIRECTIVE.match(line.strip())
        if fence:
            end = i + 1
            while end < len(lines) and lines[end].rstrip() != fence.group(1):
                end += 1
            if fence.group(2) == "console":
                blocks.append(_block(lines[i + 1:end], i + 1, section, directive))
            directive = None
            i = end
        elif comment:
            directive = comment.group(1)
        elif line.strip():
            directive = None
            if line.startswith("#"):
                section = line.lstrip("#").strip()
        i += 1
    return blocks


def _block(lines: list[str], line: int, section: str, directive: str | None) -> Block:
    block = Block(line=line, section=section, steps=_steps(lines, line + 1))
    if directive is None:
        pass
    elif directive.startswith("not run"):
        block.not_run = directive.partition(":")[2].strip() or "not run here"
    elif directive == "no output check":
        block.check_output = False
    else:
        raise ValueError(f"line {line}: unknown lesson directive {directive!r}")
    if block.not_run is None and any(step.host == WINDOWS for step in block.steps):
        raise ValueError(f"line {line}: a block with a PowerShell prompt needs <!-- lesson: not run: … -->")
    return block


def _steps(lines: list[str], first: int) -> list[Step]:
    steps: list[Step] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        start = i
        remote = _REMOTE.match(line)
        windows = _POWERSHELL.match(line)
        if windows:
            steps.append(Step(line=first + start, command=windows.group(1), host=WINDOWS))
        elif line.startswith(_LOCAL) or remote:
            command = remote.group(4) if remote else line[len(_LOCAL):]
            while command.endswith("\\") and i + 1 < len(lines):
                i += 1
                command += "\n" + lines[i]           # bash reads backslash-newline as a continuation
            login = _LOGIN.match(command) if not remote else None
            steps.append(Step(line=first + start, command=command, host=remote.group(2) if remote else None,
                              login=bool(login)))
        elif steps:
            steps[-1].expected.append(line)
        else:
            raise ValueError(f"line {first + i}: output before any command: {line!r}")
        i += 1
    return steps


# ---- comparing outputs ------------------------------------------------------------------------------
_VARYING = [
    (re.compile(r"/tmp/tssr-kit\.\w+"), "/tmp/tssr-kit.<tmp>"),
    (re.compile(r"\b\d{8}T\d{6}Z\b"), "<timestamp>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:?\d{2}| UTC)?)?"),
     "<date>"),
    (re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \w{3} +\d{1,2} \d{2}:\d{2}:\d{2}( \w+)? \d{4}\b"),
     "<date>"),
    (re.compile(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} +"
                r"(\d{2}:\d{2}(:\d{2})?|\d{4})\b"), "<date>"),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}\b"), "<time>"),
    (re.compile(r"\b(127\.0\.0\.1|localhost|0\.0\.0\.0):\d+"), r"\1:<port>"),
    (re.compile(r"\b[0-9a-f]{12,}\b"), "<hex>"),
    (re.compile(r"(?<![\w.])\d+\.\d+(?= ?s\b)"), "<seconds>"),
    (re.compile(r"(?<![\w.:/-])\d+\.\d(?![\w.:/%-])"), "<seconds>"),
    (re.compile(r"-{3,}"), "---"),            # a table's rules are as wide as its widest cell
]


def normalise(line: str) -> str:
    """A line with what varies between runs replaced by a placeholder, and runs of spaces made one."""
    for pattern, placeholder in _VARYING:
        line = pattern.sub(placeholder, line)
    return " ".join(line.split())


def _line_pattern(expected: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in normalise(expected).split(ELLIPSIS)]
    return re.compile(".*".join(parts) + r"\Z", re.DOTALL)


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether the actual output lines are what the lesson shows (after :func:`normalise`)."""
    wanted = [line for line in expected if line.strip()]
    got = [normalise(line) for line in actual if line.strip()]
    patterns = [None if line.strip() == ELLIPSIS else _line_pattern(line) for line in wanted]
    return _match(patterns, got, 0, 0, {})


def _match(patterns, got, p, g, memo) -> bool:
    key = (p, g)
    if key in memo:
        return memo[key]
    if p == len(patterns):
        result = g == len(got)
    elif patterns[p] is None:
        result = any(_match(patterns, got, p + 1, skip, memo) for skip in range(g, len(got) + 1))
    else:
        result = (g < len(got) and bool(patterns[p].match(got[g]))
                  and _match(patterns, got, p + 1, g + 1, memo))
    memo[key] = result
    return result


# ---- running ---------------------------------------------------------------------------------------
@dataclass
class Outcome:
    step: Step
    output: str
    ok: bool
    checked: bool


class Runner:
    """Runs a lesson's steps on the lab ``prefix`` from the repository ``repo``."""

    def __init__(self, repo: Path, prefix: str, timeout: int = 1200) -> None:
        self.repo = repo
        self.prefix = prefix
        self.timeout = timeout
        self.env = {**os.environ, "TSSR_LAB": prefix, "LC_ALL": "C.UTF-8", "COLUMNS": "200",
                    "PYTHONPATH": str(repo)}
        self.env.pop("LANG", None)

    def _to_lab(self, text: str) -> str:
        return text.replace(LESSON_LAB, self.prefix)

    def _from_lab(self, text: str) -> str:
        return text.replace(self.prefix, LESSON_LAB)

    def argv(self, step: Step) -> list[str]:
        command = self._to_lab(step.command)
        if step.host is None:
            return ["bash", "-c", command]
        ssh_config = self.repo / ".tssr" / self.prefix / "ssh_config"
        return ["ssh", "-F", str(ssh_config), self._to_lab(step.host), "bash", "-c", shlex.quote(command)]

    def run(self, step: Step, check_output: bool = True) -> Outcome:
        if step.login:
            return Outcome(step, "", True, False)
        proc = subprocess.run(self.argv(step), cwd=self.repo, env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace", timeout=self.timeout,
                              stdin=subprocess.DEVNULL)
        output = self._from_lab(proc.stdout)
        ok = not check_output or matches(step.expected, output.splitlines())
        return Outcome(step, output, ok, check_output)


def report(outcome: Outcome) -> str:
    """A failed step, for a test's message: where, the command, what the lesson shows, what it printed."""
    where = outcome.step.host or "local"
    return (f"line {outcome.step.line} ({where}): {outcome.step.command}\n"
            f"--- the lesson shows:\n" + "\n".join(outcome.step.expected) +
            "\n--- it printed:\n" + outcome.output.rstrip())


def sections(text: str, prefix: str) -> dict[str, list[Block]]:
    """The console blocks of each section whose heading starts with ``prefix`` (an answers file's
    ``Exercise N.M``), by the first word after it (``1.1``)."""
    found: dict[str, list[Block]] = {}
    for block in parse(text):
        if block.section.startswith(prefix):
            key = block.section[len(prefix):].split()[0].rstrip(":.—")
            found.setdefault(key, []).append(block)
    return found
