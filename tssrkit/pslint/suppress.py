"""Suppressions the way PSScriptAnalyzer reads them, so one attribute silences both tools.

``[Diagnostics.CodeAnalysis.SuppressMessageAttribute('PSUseShouldProcessForStateChangingFunctions', '',
Justification = 'builds a password in memory, changes nothing')]`` before ``param()`` silences that rule
for the function (or, before the script's ``param()``, for the script). The Justification is required: a
suppression without a reason is ignored. The kit's own rule names are accepted as well.
"""

from __future__ import annotations

import re

from tssrkit.pslint import tree
from tssrkit.pslint.tree import File, Problem, text, walk

PSSA_NAMES = {
    "psuseshouldprocessforstatechangingfunctions": "should-process-declared",
    "psshouldprocess": "should-process",
    "psavoidusingplaintextforpassword": "secret-parameter",
    "psusepscredentialtype": "secret-parameter",
    "psavoidusingconverttosecurestringwithplaintext": "plaintext-securestring",
    "psavoidusinginvokeexpression": "no-invoke-expression",
    "psavoidusingwmicmdlet": "no-wmi-cmdlet",
    "psavoidusingemptycatchblock": "empty-catch",
    "pspossibleincorrectcomparisonwithnull": "null-comparison",
    "psavoidglobalvars": "no-global-var",
    "psavoidusingwritehost": "no-write-host",
    "psavoidusingcmdletaliases": "no-alias",
    "psusebomforunicodeencodedfile": "bom",
    "psuseapprovedverbs": "approved-verb",
    "pspossibleincorrectusageofassignmentoperator": "assignment-in-condition",
    "pspossibleincorrectusageofredirectionoperator": "redirection-in-condition",
}
ATTRIBUTE_RE = re.compile(
    r"(?is)^\[\s*(System\.)?Diagnostics\.CodeAnalysis\.SuppressMessage(Attribute)?\s*\(\s*['\"]([\w-]+)['\"]"
    r".*\bJustification\s*=\s*['\"]([^'\"]*\S[^'\"]*)['\"]")


def _suppressions(f: File) -> list[tuple[str, int, int]]:
    """(rule, first line, last line) for each justified suppression attribute."""
    found = []
    for block in (n for n in walk(f.root) if n.type == "param_block"):
        scope = tree.owner(block) or f.root
        for attribute in tree.attributes(block):
            match = ATTRIBUTE_RE.match(text(attribute))
            if match:
                name = match.group(3).lower()
                rule = PSSA_NAMES.get(name, name)
                found.append((rule, scope.start_point[0] + 1, scope.end_point[0] + 1))
    return found


def apply(f: File, problems: list[Problem]) -> list[Problem]:
    ranges = _suppressions(f)
    return [p for p in problems if not any(p.rule == rule and first <= p.line <= last
                                           for rule, first, last in ranges)]
