"""Rules that keep a file running on both Windows PowerShell 5.1 and PowerShell 7.

  bom            a file with non-ASCII text starts with a UTF-8 BOM: Windows PowerShell 5.1 reads a
                 BOM-less file as the ANSI code page ("Hélène" becomes "HÃ©lÃ¨ne")
                 (PSUseBOMForUnicodeEncodedFile); bytes that are not UTF-8 at all are refused too
  ps7-only       nothing that 5.1 cannot run:
                 - syntax (a parse error on 5.1, so no version test can save it): ternary ``a ? b : c``,
                   ``??`` and ``??=``, ``?.`` and ``?[]``, pipeline chains ``&&`` ``||``, background ``&``,
                   the ``clean`` block, ``-replace`` with a script block, ```u{…}`` escapes;
                 - commands, parameters and automatic variables that 5.1 does not have
                   (data/ps7-only.txt: ForEach-Object -Parallel, ConvertFrom-Json -AsHashtable, $IsWindows…),
                   unless inside ``if ($PSVersionTable.PSVersion.Major -ge 6)`` /
                   ``if ($PSVersionTable.PSEdition -eq 'Core')``
  removed-in-7   nothing that PowerShell 7 removed (data/removed-in-7.txt: Get-EventLog, *-PSSnapin,
                 ConvertFrom-String, -Encoding Byte…), unless inside a test of the version
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from tree_sitter import Node

from tssrkit.pslint import tree
from tssrkit.pslint.tree import File, ancestors, child, text, walk

DATA = Path(__file__).resolve().parents[1] / "data"
VERSION_TEST_RE = re.compile(r"(?i)\$PSVersionTable\.(PSVersion|PSEdition)")
UNICODE_ESCAPE_RE = re.compile(r"`u\{[0-9A-Fa-f]+\}")
REPLACE_OPERATORS = ("-replace", "-creplace", "-ireplace")


@cache
def _table(name: str) -> dict[str, set[str]]:
    """``command`` (the whole command) or ``command -parameter`` or ``$variable`` → lines of the data file."""
    table: dict[str, set[str]] = {}
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip().lower()
        if line:
            command, _, parameter = line.partition(" ")
            table.setdefault(command, set()).add(parameter.strip())
    return table


def check_bom(f: File) -> bool:
    """The bom rule; True when the file is not UTF-8 at all (then no other rule can read it)."""
    data = f.source
    if data.startswith(b"\xef\xbb\xbf"):
        body = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        f.report(None, "bom", "UTF-16 file: save it as UTF-8 with a BOM (git diffs and the gate read UTF-8)")
        return True
    else:
        body = data
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        f.report(None, "bom", f"not UTF-8 (byte {exc.start}): save the file as UTF-8 with a BOM")
        return True
    if body is data and not data.isascii():
        first = next(i for i, b in enumerate(data) if b > 127)
        line = data[:first].count(b"\n") + 1
        f.problems.append(tree.Problem(
            f.path, line, 1, "bom", "non-ASCII text without a UTF-8 BOM: Windows PowerShell 5.1 would read "
                                    "it as ANSI; save as 'UTF-8 with BOM' (or keep the file ASCII)"))
    return False


def _version_guarded(node: Node) -> bool:
    for up in ancestors(node):
        if up.type in ("if_statement", "elseif_clause"):
            condition = child(up, "pipeline")
            if condition is not None and VERSION_TEST_RE.search(text(condition)):
                return True
    return False


def _syntax_7(f: File) -> None:
    source = f.tree.root_node.text or b""
    for node in walk(f.root):
        if node.type == "pipeline_chain_tail":
            operator = text(node).strip()[:2]
            f.report(node, "ps7-only", f"pipeline chain {operator} (PowerShell 7): use if ($?) or try/catch")
        elif node.type == "comparison_operator" and text(node).lower() in REPLACE_OPERATORS:
            right = text(node.next_sibling)
            if re.search(r"(?s),\s*\{", right) or right.lstrip().startswith("{"):
                f.report(node, "ps7-only", "-replace with a script block (PowerShell 6.1+): [regex]::Replace")
        elif node.type == "expandable_string_literal" and UNICODE_ESCAPE_RE.search(text(node)):
            f.report(node, "ps7-only", "`u{…} escape (PowerShell 6+): use [char]0x2019 or the character")
        elif node.type == "ERROR" and (node.start_byte, node.end_byte) not in f.explained_errors:
            what = _error_7(node, source)
            if what:
                # the enclosing and the nested ERROR nodes are the same mistake
                for same in [*ancestors(node), *walk(node)]:
                    if same.type == "ERROR":
                        f.explained_errors.add((same.start_byte, same.end_byte))
                f.report(node, "ps7-only", what)
        elif node.type == "command_name" and text(node).lower() == "clean" and tree.owner(node) is not None:
            f.report(node, "ps7-only", "clean block (PowerShell 7.3): use try/finally in the end block")


def _error_7(node: Node, source: bytes) -> str | None:
    """Explain a syntax error that is PowerShell 7 syntax (the grammar, as 5.1, does not know it)."""
    for leaf in walk(node):
        if leaf.children:
            continue
        lexeme = text(leaf).strip()
        after = source[leaf.end_byte:leaf.end_byte + 1]
        if lexeme == "?" and after in (b".", b"["):
            return "null-conditional ?. / ?[] (PowerShell 7.1): test for $null first"
        if lexeme in ("??", "??="):
            return "null-coalescing ?? (PowerShell 7): use if ($null -eq $x) { … }"
        if lexeme == "?":
            return "ternary a ? b : c (PowerShell 7): use if/else"
        if lexeme == "&" and leaf.parent == node:
            return "background operator & (PowerShell 6): use Start-Job"
    return None


def check_compat(f: File) -> None:
    _syntax_7(f)
    only7 = _table("ps7-only.txt")
    removed = _table("removed-in-7.txt")
    for node in walk(f.root):
        if node.type == "variable":
            name = text(node).lower()
            if name in only7 and "" in only7[name] and not _version_guarded(node):
                f.report(node, "ps7-only", f"{text(node)} does not exist in Windows PowerShell 5.1 "
                                           "(an error under Set-StrictMode): test $PSVersionTable.PSEdition")
    for command, name in tree.commands(f.root):
        lower = name.lower()
        parameters = tree.command_parameters(command)
        for table, rule, where in ((only7, "ps7-only", "Windows PowerShell 5.1 does not have"),
                                   (removed, "removed-in-7", "PowerShell 7 removed")):
            entries = table.get(lower, set())
            hits = ([name] if "" in entries else []) + [
                f"{name} -{p}" for p in parameters if p in entries]
            hits += [f"{name} -{p} {value}" for p in parameters for e in entries if e.startswith(f"{p} ")
                     for value in [e.split(" ", 1)[1]]
                     if (tree.command_argument_after(command, p) or "").strip("'\"").lower() == value]
            for hit in hits:
                if not _version_guarded(command):
                    f.report(command, rule, f"{hit}: {where} it (test $PSVersionTable.PSVersion first)")
