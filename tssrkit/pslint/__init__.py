"""The PowerShell static gate: a real PowerShell grammar plus the kit's rules, without PowerShell.

There is no ``pwsh`` on the machines that run the tests (docs/lessons/05-powershell.md), so every
``.ps1``/``.psm1`` is parsed with tree-sitter's PowerShell grammar (PyPI ``tree-sitter-powershell``;
tree.py repairs the grammar's known gaps) and checked on the syntax tree. The rules, by module:

  structure.py  parse-error, help, cmdletbinding, should-process, should-process-declared
  guard.py      unguarded-change (every change inside if ($PSCmdlet.ShouldProcess(...)))
  rules.py      approved-verb, no-alias, no-write-host, secret-parameter, no-invoke-expression,
                no-wmi-cmdlet, plaintext-securestring, empty-catch, null-comparison,
                assignment-in-condition, redirection-in-condition, no-global-var
  compat.py     bom, ps7-only, removed-in-7 (Windows PowerShell 5.1 and PowerShell 7 alike)

  suppress.py   PSScriptAnalyzer's [Diagnostics.CodeAnalysis.SuppressMessageAttribute(RULE, '',
                Justification = 'why')] silences a rule for one function (or the script), for both tools

Pester files (``*.Tests.ps1``) are test code: they get every rule except help, cmdletbinding,
should-process, should-process-declared and unguarded-change.

Usage:
  python -m tssrkit.pslint [PATH ...]      # default: every .ps1/.psm1 of the repository
Exit codes: 0 no problem, 1 problems found (one line each: FILE:LINE:COL: RULE: message), 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tssrkit.pslint import suppress
from tssrkit.pslint.compat import check_bom, check_compat
from tssrkit.pslint.guard import check_guards
from tssrkit.pslint.rules import approved_verbs, builtin_aliases, check_names, check_safety
from tssrkit.pslint.structure import check_parse, check_structure
from tssrkit.pslint.tree import File, Problem

REPO = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", ".tssr", "node_modules"}
# Folders whose .ps1 files are broken on purpose (the gate's own tests prove each rule with them).
BAD_FIXTURES = Path("tests") / "fixtures" / "powershell" / "bad"
RULES = (
    "parse-error", "help", "cmdletbinding", "should-process", "should-process-declared", "unguarded-change",
    "approved-verb", "no-alias", "no-write-host", "secret-parameter", "no-invoke-expression", "no-wmi-cmdlet",
    "plaintext-securestring", "empty-catch", "null-comparison", "assignment-in-condition",
    "redirection-in-condition", "no-global-var", "bom", "ps7-only", "removed-in-7",
)
__all__ = ["Problem", "RULES", "approved_verbs", "builtin_aliases", "lint_file", "lint_source", "main",
           "powershell_files"]


def lint_source(path: Path, source: bytes) -> list[Problem]:
    f = File(path, source)
    if check_bom(f):      # not UTF-8: nothing else can be read
        return f.problems
    check_compat(f)       # first: it explains the syntax errors that are PowerShell 7 syntax
    check_parse(f)
    check_structure(f)
    check_guards(f)
    check_names(f)
    check_safety(f)
    return sorted(set(suppress.apply(f, f.problems)), key=lambda p: (p.line, p.column, p.rule))


def lint_file(path: Path) -> list[Problem]:
    return lint_source(path, path.read_bytes())


def powershell_files(root: Path = REPO) -> list[Path]:
    """Every .ps1/.psm1 under root, except the seeded bad examples."""
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        # prune in place: os.walk then never enters .venv, .git…, nor the bad examples
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and (here / d).relative_to(root) != BAD_FIXTURES]
        found += [here / f for f in files if Path(f).suffix.lower() in (".ps1", ".psm1")]
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tssrkit.pslint", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*", type=Path, help="files or folders (default: the repository)")
    args = ap.parse_args(argv)
    files: list[Path] = []
    for p in args.paths or [REPO]:
        if p.is_dir():
            files += powershell_files(p)
        elif p.is_file():
            files.append(p)
        else:
            print(f"error: {p}: no such file or folder", file=sys.stderr)
            return 2
    problems = [problem for path in files for problem in lint_file(path)]
    for problem in problems:
        print(problem)
    print(f"{len(files)} file(s) checked, {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0
