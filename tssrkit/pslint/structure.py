"""Rules about the shape of a script or module: it parses, it documents itself, it supports -WhatIf.

  parse-error           zero ERROR and MISSING nodes (after tree.py's repairs of the grammar's gaps)
  help                  comment-based help: .SYNOPSIS, .DESCRIPTION, two .EXAMPLE, a .PARAMETER each
  cmdletbinding         [CmdletBinding()] on a script and on each function of a module
  should-process        SupportsShouldProcess declared => $PSCmdlet.ShouldProcess() called, and the
                        reverse: a ShouldProcess() call where -WhatIf is not declared is a dead guard
  should-process-declared
                        a script or function whose verb changes state (New, Set, Remove, Add, Start…)
                        declares SupportsShouldProcess (PSScriptAnalyzer's
                        PSUseShouldProcessForStateChangingFunctions, with the kit's longer verb list)
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tree_sitter import Node

from tssrkit.pslint import tree
from tssrkit.pslint.tree import File, child, text, walk

# "$name: text" in a double-quoted string: PowerShell reads $name: as a drive-qualified variable and
# stops with "Variable reference is not valid" (the grammar does not know it): write ${name}: or $($name):
DRIVE_VARIABLE_RE = re.compile(r"(?<!`)\$[A-Za-z_][A-Za-z0-9_]*:(?![A-Za-z0-9_{?])")
HELP_KEYWORD_RE = re.compile(r"(?im)^\s*\.([A-Z]+)\b[ \t]*(\S*)")
# Verbs whose command changes the system: PSScriptAnalyzer's eight (New Set Remove Start Stop Restart
# Reset Update) and the others of Get-Verb that do as much.
STATE_CHANGING_VERBS = frozenset({
    "new", "set", "remove", "start", "stop", "restart", "reset", "update", "add", "clear", "disable",
    "enable", "install", "uninstall", "register", "unregister", "move", "rename", "copy", "grant", "revoke",
    "block", "unblock", "lock", "unlock", "mount", "dismount", "publish", "unpublish", "suspend", "resume",
    "sync", "backup", "restore", "initialize", "format", "protect", "unprotect", "save", "deny", "approve",
})


def check_parse(f: File) -> None:
    for node in walk(f.root):
        if node.is_missing and not tree.is_spurious_missing(node):
            f.report(node, "parse-error", f"missing {node.type!r}")
        elif node.type == "ERROR" and (node.start_byte, node.end_byte) not in f.explained_errors:
            snippet = text(node).splitlines()[0][:40] if text(node) else ""
            f.report(node, "parse-error", f"syntax error near {snippet!r}")
        elif node.type in ("expandable_string_literal", "expandable_here_string_literal"):
            for match in DRIVE_VARIABLE_RE.finditer(text(node)):
                name = match.group(0)[1:-1]
                f.report(node, "parse-error", f"\"${name}:\" in a string is not a variable for "
                                              f"PowerShell (':' not followed by a name): write ${{{name}}}:")


def _help_comment(comments: Iterable[Node]) -> Node | None:
    for node in comments:
        body = text(node)
        if body.startswith("<#") and re.search(r"(?im)^\s*\.SYNOPSIS\b", body):
            return node
    return None


def _function_help(function: Node) -> Node | None:
    """Help inside the body (first thing) or in the comment right before the function."""
    inside = [n for n in walk(function) if n.type == "comment"]
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


def _calls_should_process(scope: Node, own: bool) -> bool:
    """A ShouldProcess() call in ``scope``; with ``own``, not one in a function nested in it."""
    me = scope if scope.type == "function_statement" else None
    return any(tree.is_should_process_call(n) and (not own or tree.owner(n) == me) for n in walk(scope))


def _check_help(f: File, what: str, anchor: Node, help_node: Node | None, block: Node | None) -> None:
    if help_node is None:
        f.report(anchor, "help", f"{what} has no comment-based help (<# .SYNOPSIS … #>)")
        return
    keywords = [(k.upper(), arg) for k, arg in HELP_KEYWORD_RE.findall(text(help_node))]
    names = [k for k, _ in keywords]
    for needed in ("SYNOPSIS", "DESCRIPTION"):
        if needed not in names:
            f.report(help_node, "help", f"{what}: the help has no .{needed}")
    if names.count("EXAMPLE") < 2:
        f.report(help_node, "help", f"{what}: the help has {names.count('EXAMPLE')} .EXAMPLE, needs 2")
    documented = {arg.lower() for k, arg in keywords if k == "PARAMETER"}
    for parameter in tree.parameters(block) if block is not None else []:
        name = tree.parameter_name(parameter)
        if name and name.lower() not in documented:
            f.report(parameter, "help", f"{what}: parameter ${name} has no .PARAMETER in the help")


def _check_should_process(f: File, what: str, scope: Node, block: Node | None, verb: str | None,
                          need_binding: bool) -> None:
    binding = tree.cmdlet_binding(block)
    if binding is None and need_binding:
        f.report(block or scope, "cmdletbinding", f"{what} does not declare [CmdletBinding()]")
    declared = tree.declares_should_process(binding)
    if declared and not _calls_should_process(scope, own=False):
        f.report(binding, "should-process",
                 f"{what} declares SupportsShouldProcess but never calls $PSCmdlet.ShouldProcess()")
    elif not declared and _calls_should_process(scope, own=True):
        f.report(binding or block or scope, "should-process",
                 f"{what} calls $PSCmdlet.ShouldProcess() without [CmdletBinding(SupportsShouldProcess)]: "
                 "-WhatIf does not exist, the guard is always true")
    if verb in STATE_CHANGING_VERBS and not declared:
        f.report(binding or block or scope, "should-process-declared",
                 f"{what}: the verb {verb.capitalize()} changes state: declare "
                 "[CmdletBinding(SupportsShouldProcess)] and guard each change")


def _verb(name: str) -> str | None:
    return name.split("-", 1)[0].lower() if "-" in name else None


def file_stem(f: File) -> str:
    name = f.path.name
    for suffix in (".tests.ps1", ".ps1", ".psm1"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def check_structure(f: File) -> None:
    if f.is_pester:
        return
    module_functions = tree.functions(f.root)
    if f.is_module and not module_functions:
        f.report(f.root, "help", "a module with no function")
    for function in module_functions:
        name = tree.function_name(function) or "?"
        block = tree.param_block(tree.function_body(function))
        if f.is_module:
            _check_help(f, f"function {name}", function, _function_help(function), block)
        # A script's own functions: help and CmdletBinding are optional (the script's help is the
        # reference), but -WhatIf support must be honest everywhere.
        _check_should_process(f, f"function {name}", function, block, _verb(name), need_binding=f.is_module)
    if f.is_module:
        return
    top_comments = [c for c in f.root.children if c.type == "comment"]
    block = tree.param_block(f.root)
    _check_help(f, "the script", f.root, _help_comment(top_comments[:3]), block)
    _check_should_process(f, "the script", f.root, block, _verb(file_stem(f)), need_binding=True)


__all__ = ["check_parse", "check_structure", "STATE_CHANGING_VERBS", "child"]
