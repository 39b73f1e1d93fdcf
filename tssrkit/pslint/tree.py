"""The syntax tree the rules read: tree-sitter's PowerShell grammar, plus the fixes for its gaps.

tree-sitter-powershell rejects a few forms that PowerShell accepts. Each is repaired here *before* the
rules run, without moving a byte (so every line:column stays true), and each repair has a test:

- a number with an upper-case suffix after an operator (``$x / 1GB``, ``1L``, ``1E3``): the suffix is
  lower-cased (PowerShell's suffixes are case-insensitive; the grammar knows only the lower case);
- ``param(...)`` followed by code on the same line (``function f { param($a) $a }``): the first blank
  after the closing parenthesis becomes ``;`` (a statement separator: the same meaning);
- an array of bare words as a command argument (``Select-Object -Property Name, Size``): each comma
  between two bare words becomes a blank (two arguments instead of an array of two: the same command,
  the same parameters, for every rule);
- an empty script block (``{ }``, ``{}``), or ``param()`` with no statement after it: the grammar
  reports a zero-width MISSING ``;`` there, which is ignored (:func:`is_spurious_missing`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

# A number token: decimal or hexadecimal, optional exponent, type suffix and multiplier, any case.
NUMBER_RE = re.compile(
    rb"(?<![\w$.`'-])(0[xX][0-9A-Fa-f]+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    rb"((?:[uU]?[lLyYsS]|[dDnNuU])?(?:[kKmMgGtTpP][bB])?)(?![\w-])")
MAX_REPAIRS = 50


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    column: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.rule}: {self.message}"


@cache
def parser() -> Parser:
    return Parser(Language(tree_sitter_powershell.language()))


def walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from walk(child)


def text(node: Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text is not None else ""


def child(node: Node | None, *types: str) -> Node | None:
    if node is None:
        return None
    return next((c for c in node.children if c.type in types), None)


def ancestors(node: Node) -> Iterator[Node]:
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


def _lower_numbers(source: bytes) -> bytes:
    def lower(match: re.Match[bytes]) -> bytes:
        return match.group(0).lower()
    return NUMBER_RE.sub(lower, source)


def _param_then_code(root: Node, source: bytes) -> int | None:
    """The offset of the blank after ``param(...)`` when code follows it on the same line (grammar gap)."""
    for node in walk(root):
        if node.type == "ERROR" and node.children and node.children[0].type == "param_block":
            end = node.children[0].end_byte
            line = source[end:].split(b"\n", 1)[0]
            if line[:1] in (b" ", b"\t") and line.strip() and not line.strip().startswith(b"#"):
                return end
    return None


def _bare_word_array(root: Node, source: bytes) -> int | None:
    """The offset of a comma that follows a bare word argument and precedes another (grammar gap)."""
    for node in walk(root):
        sep = node.parent if node.is_missing else None
        if sep is not None and sep.type == "command_argument_sep" and sep.next_sibling is not None \
                and text(sep.next_sibling).startswith(","):
            return sep.next_sibling.start_byte  # a,b: the grammar wants a blank before ",b"
        if node.type != "ERROR":
            continue
        for i, item in enumerate(node.children):
            if item.type != ",":
                continue
            before = node.children[i - 1] if i > 0 else node.prev_sibling
            while before is not None and before.type == "command_argument_sep":
                before = before.prev_sibling
            last = before
            while last is not None and last.children:
                last = last.children[-1]
            after = source[item.end_byte:].split(b"\n", 1)[0]
            in_command = last is not None and any(a.type == "command_elements" for a in ancestors(last))
            if in_command and re.match(rb"\s*[^\s,;|)}#]", after):
                return item.start_byte
    return None


REPAIRS = ((_param_then_code, ord(";")), (_bare_word_array, ord(" ")))


def parse(source: bytes):
    """The tree of ``source`` after the byte-for-byte repairs above (same length, same positions)."""
    fixed = bytearray(_lower_numbers(source))
    tree = parser().parse(bytes(fixed))
    for _ in range(MAX_REPAIRS):
        for find, replacement in REPAIRS:
            offset = find(tree.root_node, bytes(fixed))
            if offset is not None:
                fixed[offset] = replacement
                tree = parser().parse(bytes(fixed))
                break
        else:
            break
    return tree


def is_spurious_missing(node: Node) -> bool:
    """The MISSING ``;`` the grammar puts into an empty script block ``{ }``: valid PowerShell."""
    if not node.is_missing or node.type != ";":
        return False
    statement = node.parent
    statements = statement.parent if statement is not None else None
    if (statement is not None and statement.type == "empty_statement" and statements is not None
            and statements.type == "statement_list" and len(statements.children) == 1
            and statements.prev_sibling is not None
            and statements.prev_sibling.type in ("param_block", "comment")):
        return True  # param() and nothing after it: a script or a block with no statement
    for up in ancestors(node):
        if up.type == "script_block_expression":
            inner = [c for c in up.children if c.type not in ("{", "}", "comment")]
            return all(text(c).strip() == "" for c in inner)
        if up.type not in ("empty_statement", "statement_list", "script_block_body", "script_block"):
            return False
    return False


@dataclass
class File:
    """One parsed file and the problems found in it."""

    path: Path
    source: bytes
    problems: list[Problem] = field(default_factory=list)
    # ERROR nodes (start, end byte) that a rule explained better than "syntax error" (7-only syntax)
    explained_errors: set[tuple[int, int]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.tree = parse(self.source)
        self.root = self.tree.root_node

    @property
    def is_pester(self) -> bool:
        return self.path.name.lower().endswith(".tests.ps1")

    @property
    def is_module(self) -> bool:
        return self.path.suffix.lower() == ".psm1"

    def report(self, node: Node | None, rule: str, message: str) -> None:
        row, col = node.start_point if node is not None else (0, 0)
        self.problems.append(Problem(self.path, row + 1, col + 1, rule, message))


# ---- shapes the rules share ---------------------------------------------------------------------------
def functions(root: Node) -> list[Node]:
    return [n for n in walk(root) if n.type == "function_statement"]


def function_name(function: Node) -> str:
    return text(child(function, "function_name"))


def function_body(function: Node) -> Node | None:
    return child(function, "script_block")


def param_block(scope: Node | None) -> Node | None:
    """The param() of a script (under the root or its script_block) or of a function's script_block."""
    found = child(scope, "param_block")
    if found is None and scope is not None and scope.type == "program":
        found = child(child(scope, "script_block"), "param_block")
    return found


def attributes(block: Node) -> list[Node]:
    lists = [c for c in block.children if c.type == "attribute_list"]
    return [a for lst in lists for a in lst.children if a.type == "attribute"]


def attribute_name(attribute: Node) -> str:
    return text(child(attribute, "attribute_name")).lower()


def cmdlet_binding(block: Node | None) -> Node | None:
    if block is None:
        return None
    return next((a for a in attributes(block) if attribute_name(a) == "cmdletbinding"), None)


def declares_should_process(binding: Node | None) -> bool:
    return binding is not None and bool(
        re.search(r"(?i)\bSupportsShouldProcess\b(?!\s*=\s*\$false)", text(binding)))


def parameters(block: Node) -> list[Node]:
    plist = child(block, "parameter_list")
    return [c for c in plist.children if c.type == "script_parameter"] if plist is not None else []


def parameter_name(parameter: Node) -> str:
    return text(child(parameter, "variable")).lstrip("$")


def owner(node: Node) -> Node | None:
    """The function that contains ``node`` (None: the script or module level)."""
    return next((a for a in ancestors(node) if a.type == "function_statement"), None)


def is_should_process_call(node: Node) -> bool:
    """``$PSCmdlet.ShouldProcess(...)`` or ``$PSCmdlet.ShouldContinue(...)``."""
    if node.type != "invokation_expression":
        return False
    parts = [c for c in node.children if c.type in ("variable", "member_name")]
    return (len(parts) >= 2 and text(parts[0]).lower() == "$pscmdlet"
            and text(parts[1]).lower() in ("shouldprocess", "shouldcontinue"))


def commands(root: Node) -> Iterator[tuple[Node, str]]:
    """Every command call: (the command node, its name)."""
    for node in walk(root):
        if node.type == "command":
            name = child(node, "command_name") or child(child(node, "command_name_expr"), "command_name")
            if name is not None:
                yield node, text(name)


def command_parameters(command: Node) -> list[str]:
    """The -Parameter names of a command call, lower case, without the dash (``-WhatIf:$false`` → whatif)."""
    elements = child(command, "command_elements")
    if elements is None:
        return []
    return [text(c).lstrip("-").split(":", 1)[0].lower() for c in elements.children
            if c.type == "command_parameter"]


def command_argument_after(command: Node, parameter: str) -> str | None:
    """The text of the argument that follows -parameter (None when absent)."""
    elements = child(command, "command_elements")
    if elements is None:
        return None
    items = [c for c in elements.children if c.type != "command_argument_sep"]
    for i, item in enumerate(items):
        if item.type == "command_parameter" and text(item).lstrip("-").split(":", 1)[0].lower() == parameter:
            if ":" in text(item):
                return text(item).split(":", 1)[1]
            following = items[i + 1] if i + 1 < len(items) else None
            return text(following) if following is not None and following.type != "command_parameter" else ""
    return None
