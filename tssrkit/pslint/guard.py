"""Rule unguarded-change: every change to the system sits behind $PSCmdlet.ShouldProcess().

One ShouldProcess() call somewhere in a script does not make -WhatIf a dry run: each change must be
inside ``if ($PSCmdlet.ShouldProcess(target, action)) { … }`` (or after an early
``if (-not $PSCmdlet.ShouldProcess(…)) { return }``). A change is:

- a command whose verb changes state (structure.STATE_CHANGING_VERBS, plus Export-Csv, Out-File…),
  except those that only build an object or touch the session (New-Object, New-ScheduledTaskAction,
  Set-StrictMode… : NOT_CHANGES);
- a native program that changes files or the system (robocopy, icacls, takeown, vssadmin…);
- a .NET call that writes ([System.IO.File]::WriteAllText, [System.Diagnostics.EventLog]::WriteEntry,
  an ADSI object's .SetInfo()…).

A call of a function defined in the same file is not itself a change: a function that declares
SupportsShouldProcess guards its own changes; a helper that does not (a seam such as
Invoke-TssrRobocopy) is fine when every call of it, in the file, is guarded. Calls that pass
``-WhatIf`` themselves are guarded by the command. Pester files are not checked.
"""

from __future__ import annotations

import re

from tree_sitter import Node

from tssrkit.pslint import tree
from tssrkit.pslint.structure import STATE_CHANGING_VERBS
from tssrkit.pslint.tree import File, ancestors, child, text, walk

NOT_CHANGES = frozenset({
    "new-object", "new-timespan", "new-guid", "set-strictmode", "set-location", "push-location",
    "pop-location", "export-modulemember", "new-scheduledtaskaction", "new-scheduledtasktrigger",
    "new-scheduledtasksettingsset", "new-scheduledtaskprincipal", "new-pesterconfiguration",
    "new-cimsession", "remove-cimsession", "new-cimsessionoption", "new-pssession", "remove-pssession",
    "new-pssessionoption", "add-member", "add-type", "set-psdebug", "update-typedata",
    "update-formatdata", "set-alias", "new-alias", "start-sleep", "new-psdrive", "remove-psdrive",
    "new-module", "clear-host", "new-mockobject", "new-tssrpassword", "copy-itemproperty",
    "start-transcript", "stop-transcript", "new-event", "remove-event", "remove-job", "start-job",
    "stop-job", "set-psreadlineoption", "register-argumentcompleter",
})
OTHER_CHANGES = frozenset({
    "out-file", "export-csv", "export-clixml", "tee-object", "write-eventlog", "invoke-cimmethod",
    "expand-archive", "compress-archive", "invoke-wmimethod", "set-wmiinstance",
})
NATIVE_CHANGES = frozenset({
    "robocopy", "icacls", "takeown", "vssadmin", "diskshadow", "wbadmin", "bcdedit", "diskpart",
    "format", "dsadd", "dsmod", "dsrm", "dsmove", "cipher", "secedit", "auditpol", "ntdsutil",
})
DOTNET_STATIC_CHANGES = {
    "system.io.file": {"writealltext", "writealllines", "writeallbytes", "appendalltext",
                       "appendalllines", "delete", "move", "copy", "create", "replace", "setattributes",
                       "encrypt", "decrypt", "setaccesscontrol"},
    "system.io.directory": {"createdirectory", "delete", "move", "setaccesscontrol"},
    "system.diagnostics.eventlog": {"createeventsource", "deleteeventsource", "writeentry", "delete"},
    "system.environment": {"setenvironmentvariable"},
}
INSTANCE_CHANGES = frozenset({"setinfo", "commitchanges", "deletetree", "setaccesscontrol", "moveto"})
EARLY_GUARD_RE = re.compile(r"(?is)^\(\s*(-not\s*|!\s*)\(?\s*\$PSCmdlet\.Should(Process|Continue)\s*\(")
EXIT_WORDS = ("return", "continue", "break", "throw", "exit")


def _change(node: Node, own: set[str]) -> str | None:
    """What ``node`` changes, or None when it is not a change."""
    if node.type == "command":
        name_node = child(node, "command_name") or child(child(node, "command_name_expr"), "command_name")
        name = text(name_node).lower()
        if not name or name in own:
            return None
        native = name.rsplit("\\", 1)[-1].removesuffix(".exe")
        if native in NATIVE_CHANGES:
            return f"{text(name_node)} (a program that changes files)"
        verb, _, noun = name.partition("-")
        if name in NOT_CHANGES or noun == "variable" or not noun:
            return None
        if verb in STATE_CHANGING_VERBS or name in OTHER_CHANGES:
            whatif = tree.command_argument_after(node, "whatif")
            if whatif is not None and whatif.strip().lower() != "$false":
                return None  # the command gets -WhatIf itself
            return text(name_node)
        return None
    if node.type == "invokation_expression":
        member = text(child(node, "member_name")).lower()
        literal = child(node, "type_literal")
        if literal is not None:
            type_name = text(literal).strip("[]").lower().replace(" ", "")
            type_name = type_name if type_name.startswith("system.") else f"system.{type_name}"
            if member in DOTNET_STATIC_CHANGES.get(type_name, ()):
                return f"{text(literal)}::{text(child(node, 'member_name'))}()"
        elif member in INSTANCE_CHANGES and child(node, "argument_list") is not None:
            return f".{text(child(node, 'member_name'))}()"
    return None


def _condition(statement: Node) -> Node | None:
    return child(statement, "pipeline")


def _has_should_process(node: Node | None) -> bool:
    return node is not None and any(tree.is_should_process_call(n) for n in walk(node))


def _early_guard(statement: Node) -> bool:
    """``if (-not $PSCmdlet.ShouldProcess(…)) { …; return }``: what follows it is guarded."""
    if statement.type != "if_statement":
        return False
    condition = text(statement)[len("if"):].lstrip()
    block = child(statement, "statement_block")
    body = text(block).strip("{} \r\n\t").lower() if block is not None else ""
    exits = re.search(r"\b(" + "|".join(EXIT_WORDS) + r")\b", body)
    return bool(EARLY_GUARD_RE.match(condition)) and exits is not None


def lexically_guarded(node: Node) -> bool:
    current = node
    for up in ancestors(node):
        if up.type == "statement_block" and up.parent is not None:
            owner = up.parent
            blocks = [c for c in owner.children if c.type == "statement_block"]
            if owner.type in ("if_statement", "elseif_clause") and blocks and blocks[0] == up \
                    and _has_should_process(_condition(owner)):
                return True
        if up.type == "statement_list":
            for sibling in up.children:
                if sibling == current:
                    break
                if _early_guard(sibling):
                    return True
        current = up
    return False


def check_guards(f: File) -> None:
    if f.is_pester:
        return
    functions = tree.functions(f.root)
    own = {tree.function_name(fn).lower() for fn in functions}
    call_sites: dict[str, list[Node]] = {}
    for command, name in tree.commands(f.root):
        call_sites.setdefault(name.lower(), []).append(command)

    def guarded(node: Node, depth: int = 0) -> bool:
        if lexically_guarded(node):
            return True
        function = tree.owner(node)
        if function is None or depth > 10:
            return False
        sites = call_sites.get(tree.function_name(function).lower(), [])
        return bool(sites) and all(guarded(site, depth + 1) for site in sites)

    for node in walk(f.root):
        what = _change(node, own)
        if what is not None and not guarded(node):
            f.report(node, "unguarded-change",
                     f"{what} changes the system outside if ($PSCmdlet.ShouldProcess(…)): -WhatIf does it")
