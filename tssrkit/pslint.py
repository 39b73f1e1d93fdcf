"""The PowerShell static gate: a real PowerShell grammar plus the kit's rules, without PowerShell.

There is no ``pwsh`` on the machines that run the tests (docs/lessons/05-powershell.md), so every
``.ps1``/``.psm1`` is parsed with tree-sitter's PowerShell grammar (PyPI ``tree-sitter-powershell``) and
checked on the syntax tree:

  parse-error       the file parses with zero ERROR and MISSING nodes
  help              a script (or each function of a module) has comment-based help with .SYNOPSIS,
                    .DESCRIPTION, at least two .EXAMPLE and a .PARAMETER for every parameter
  cmdletbinding     a script (or each function of a module) declares [CmdletBinding(...)]
  should-process    where SupportsShouldProcess is declared, $PSCmdlet.ShouldProcess(...) is called
  approved-verb     function names and Verb-Noun file names use a verb of Get-Verb (data/approved-verbs.txt)
  no-alias          no built-in alias is called (data/powershell-aliases.txt): ls, dir, %, ?, select…
  no-write-host     Write-Host is never called (Write-Verbose for narration, objects for output)
  password-string   no [string] parameter named like a secret (Password, Passphrase, Secret, Credential…)

Pester files (``*.Tests.ps1``) are test code, not scripts: they get parse-error, approved-verb (for the
functions they define), no-alias and no-write-host, not the help and CmdletBinding rules.

Usage:
  python -m tssrkit.pslint [PATH ...]      # default: every .ps1/.psm1 of the repository
Exit codes: 0 no problem, 1 problems found (one line each: FILE:LINE:COL: RULE: message), 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

DATA = Path(__file__).resolve().parent / "data"
REPO = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", ".tssr", "node_modules"}
# Folders whose .ps1 files are broken on purpose (the gate's own tests prove each rule with them).
BAD_FIXTURES = Path("tests") / "fixtures" / "powershell" / "bad"

SECRET_NAME_RE = re.compile(r"(?i)(password|passwd|passphrase|secret|credential|pwd)")
# ... unless the name says it is where a secret goes, or a rule about one (PasswordFile, PasswordLength).
NOT_A_SECRET_RE = re.compile(r"(?i)(file|path|folder|length|policy|age)$")
HELP_KEYWORD_RE = re.compile(r"(?im)^\s*\.([A-Z]+)\b[ \t]*(\S*)")


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    column: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.rule}: {self.message}"


def _word_list(name: str) -> frozenset[str]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return frozenset(s.strip().lower() for s in lines if s.strip() and not s.startswith("#"))


@cache
def approved_verbs() -> frozenset[str]:
    return _word_list("approved-verbs.txt")


@cache
def builtin_aliases() -> frozenset[str]:
    return _word_list("powershell-aliases.txt")


@cache
def _parser() -> Parser:
    return Parser(Language(tree_sitter_powershell.language()))


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _text(node: Node) -> str:
    return node.text.decode("utf-8", "replace")


class _File:
    """One parsed file and the problems found in it."""

    def __init__(self, path: Path, source: bytes):
        self.path = path
        self.tree = _parser().parse(source)
        self.problems: list[Problem] = []

    def report(self, node: Node | None, rule: str, message: str) -> None:
        row, col = node.start_point if node is not None else (0, 0)
        self.problems.append(Problem(self.path, row + 1, col + 1, rule, message))


def _is_pester(path: Path) -> bool:
    return path.name.lower().endswith(".tests.ps1")


# ---- parse ------------------------------------------------------------------------------------------
def _check_parse(f: _File) -> None:
    for node in _walk(f.tree.root_node):
        if node.is_missing:
            f.report(node, "parse-error", f"missing {node.type!r}")
        elif node.type == "ERROR":
            snippet = _text(node).splitlines()[0][:40] if _text(node) else ""
            f.report(node, "parse-error", f"syntax error near {snippet!r}")


# ---- help, CmdletBinding, ShouldProcess --------------------------------------------------------------
def _help_comment(comments: Iterable[Node]) -> Node | None:
    for node in comments:
        text = _text(node)
        if text.startswith("<#") and re.search(r"(?im)^\s*\.SYNOPSIS\b", text):
            return node
    return None


def _param_block(script_block: Node | None) -> Node | None:
    if script_block is None:
        return None
    return next((c for c in script_block.children if c.type == "param_block"), None)


def _attributes(param_block: Node) -> list[Node]:
    lists = [c for c in param_block.children if c.type == "attribute_list"]
    return [a for lst in lists for a in lst.children if a.type == "attribute"]


def _attribute_name(attribute: Node) -> str:
    name = next((c for c in attribute.children if c.type == "attribute_name"), None)
    return _text(name).lower() if name is not None else ""


def _parameters(param_block: Node) -> list[Node]:
    plist = next((c for c in param_block.children if c.type == "parameter_list"), None)
    return [c for c in plist.children if c.type == "script_parameter"] if plist is not None else []


def _parameter_name(parameter: Node) -> str:
    var = next((c for c in parameter.children if c.type == "variable"), None)
    return _text(var).lstrip("$") if var is not None else ""


def _declares_should_process(binding: Node) -> bool:
    return bool(re.search(r"(?i)\bSupportsShouldProcess\b(?!\s*=\s*\$false)", _text(binding)))


def _calls_should_process(scope: Node) -> bool:
    for node in _walk(scope):
        if node.type == "invokation_expression":
            parts = [c for c in node.children if c.type in ("variable", "member_name")]
            if (len(parts) >= 2 and _text(parts[0]).lower() == "$pscmdlet"
                    and _text(parts[1]).lower() == "shouldprocess"):
                return True
    return False


def _check_unit(f: _File, what: str, anchor: Node, help_node: Node | None, param_block: Node | None,
                scope: Node) -> None:
    """The help/CmdletBinding/ShouldProcess rules for one script or one module function."""
    if help_node is None:
        f.report(anchor, "help", f"{what} has no comment-based help (<# .SYNOPSIS … #>)")
    else:
        keywords = [(k.upper(), arg) for k, arg in HELP_KEYWORD_RE.findall(_text(help_node))]
        names = [k for k, _ in keywords]
        for needed in ("SYNOPSIS", "DESCRIPTION"):
            if needed not in names:
                f.report(help_node, "help", f"{what}: the help has no .{needed}")
        if names.count("EXAMPLE") < 2:
            f.report(help_node, "help", f"{what}: the help has {names.count('EXAMPLE')} .EXAMPLE, needs 2")
        documented = {arg.lower() for k, arg in keywords if k == "PARAMETER"}
        for parameter in _parameters(param_block) if param_block is not None else []:
            name = _parameter_name(parameter)
            if name and name.lower() not in documented:
                f.report(parameter, "help", f"{what}: parameter ${name} has no .PARAMETER in the help")
    binding = None
    if param_block is not None:
        binding = next((a for a in _attributes(param_block) if _attribute_name(a) == "cmdletbinding"), None)
    if binding is None:
        f.report(param_block or anchor, "cmdletbinding", f"{what} does not declare [CmdletBinding()]")
    elif _declares_should_process(binding) and not _calls_should_process(scope):
        f.report(binding, "should-process",
                 f"{what} declares SupportsShouldProcess but never calls $PSCmdlet.ShouldProcess()")


def _functions(root: Node) -> list[Node]:
    return [n for n in _walk(root) if n.type == "function_statement"]


def _function_name(function: Node) -> Node | None:
    return next((c for c in function.children if c.type == "function_name"), None)


def _function_help(function: Node) -> Node | None:
    """Help inside the body (first thing) or in the comment right before the function."""
    inside = [n for n in _walk(function) if n.type == "comment"]
    before = []
    sibling = function.prev_sibling
    while sibling is not None and sibling.type == "comment":
        before.append(sibling)
        sibling = sibling.prev_sibling
    if function.parent is not None and function.parent.type == "statement_list" and not before:
        # a comment that precedes the first statement sits before the statement_list
        outer = function.parent.prev_sibling
        if outer is not None and outer.type == "comment" and function.parent.children[0] == function:
            before.append(outer)
    return _help_comment(inside[:3] + before)


def _check_structure(f: _File) -> None:
    root = f.tree.root_node
    if f.path.suffix.lower() == ".psm1":
        functions = _functions(root)
        if not functions:
            f.report(root, "help", "a module with no function")
        for function in functions:
            name = _function_name(function)
            block = next((c for c in function.children if c.type == "script_block"), None)
            _check_unit(f, f"function {_text(name) if name else '?'}", function, _function_help(function),
                        _param_block(block), function)
        return
    # A script's own functions: help and CmdletBinding are optional for them (the script's help is the
    # reference), but a declared SupportsShouldProcess must still be honoured.
    for function in _functions(root):
        block = _param_block(next((c for c in function.children if c.type == "script_block"), None))
        binding = None
        if block is not None:
            binding = next((a for a in _attributes(block) if _attribute_name(a) == "cmdletbinding"), None)
        if binding is not None and _declares_should_process(binding) and not _calls_should_process(function):
            name = _text(_function_name(function) or function)
            f.report(binding, "should-process",
                     f"function {name} declares SupportsShouldProcess but never calls "
                     "$PSCmdlet.ShouldProcess()")
    top_comments = [c for c in root.children if c.type == "comment"]
    # The grammar puts a script's param() right under the root, or inside a script_block.
    block = next((c for c in root.children if c.type == "script_block"), None)
    params = _param_block(root) or _param_block(block)
    _check_unit(f, "the script", root, _help_comment(top_comments[:3]), params, root)


# ---- names: verbs, aliases, Write-Host, secrets -------------------------------------------------------
def _check_names(f: _File) -> None:
    verbs = approved_verbs()
    aliases = builtin_aliases()
    stem = f.path.name
    for suffix in (".Tests.ps1", ".tests.ps1", ".ps1", ".psm1"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    if "-" in stem and stem.split("-", 1)[0].lower() not in verbs:
        f.report(None, "approved-verb", f"file name {f.path.name}: {stem.split('-', 1)[0]!r} is not an "
                                        "approved verb (Get-Verb)")
    for node in _walk(f.tree.root_node):
        if node.type == "function_name":
            name = _text(node)
            verb = name.split("-", 1)[0] if "-" in name else None
            if verb is None or verb.lower() not in verbs:
                f.report(node, "approved-verb", f"function {name}: not Verb-Noun with an approved verb")
        elif node.type == "command_name":
            name = _text(node)
            if name.lower() in aliases:
                f.report(node, "no-alias", f"{name!r} is an alias: call the command by its full name")
            elif name.lower() == "write-host":
                f.report(node, "no-write-host",
                         "Write-Host: use Write-Verbose for narration, objects for output")
        elif node.type == "script_parameter":
            name = _parameter_name(node)
            types = [_text(t).lower().replace(" ", "") for t in _walk(node) if t.type == "type_literal"]
            secret = SECRET_NAME_RE.search(name) and not NOT_A_SECRET_RE.search(name)
            if secret and any(t in ("[string]", "[string[]]") for t in types):
                f.report(node, "password-string",
                         f"${name} is a plain [string]: use [securestring] or [pscredential]")


def lint_source(path: Path, source: bytes) -> list[Problem]:
    f = _File(path, source)
    _check_parse(f)
    if not _is_pester(path):
        _check_structure(f)
    _check_names(f)
    return sorted(set(f.problems), key=lambda p: (p.line, p.column, p.rule))


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


if __name__ == "__main__":
    raise SystemExit(main())
