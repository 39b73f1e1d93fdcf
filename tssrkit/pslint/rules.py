"""Rules about names and about code that is unsafe or wrong, each after a PSScriptAnalyzer rule.

  approved-verb          function and Verb-Noun file names use a verb of Get-Verb
  no-alias               no built-in alias (ls, %, ?, select…)                     PSAvoidUsingCmdletAliases
  no-write-host          no Write-Host                                             PSAvoidUsingWriteHost
  secret-parameter       a parameter named like a secret (English or French: Password, MotDePasse,
                         Mdp, Secret, Jeton, Token, Credential…) is [securestring] or [pscredential]
                         PSAvoidUsingPlainTextForPassword, PSUsePSCredentialType
  no-invoke-expression   no Invoke-Expression                                     PSAvoidUsingInvokeExpression
  no-wmi-cmdlet          no Get-WmiObject & co. (gone in PowerShell 7): the CIM cmdlets
                                                                                  PSAvoidUsingWMICmdlet
  plaintext-securestring no ConvertTo-SecureString -AsPlainText
                                                          PSAvoidUsingConvertToSecureStringWithPlainText
  empty-catch            no catch block without a statement                       PSAvoidUsingEmptyCatchBlock
  null-comparison        $null on the left of -eq/-ne (``$array -eq $null`` filters an array)
                                                                                  PSPossibleIncorrectComparisonWithNull
  assignment-in-condition  no ``=`` in an if/elseif/while condition (unless its right side is a command,
                         or the assignment is in double parentheses: ``if (($x = Get-Y))``)
                                                                                  PSPossibleIncorrectUsageOfAssignmentOperator
  redirection-in-condition no ``>`` in a condition: it writes a file, it does not compare
                                                                                  PSPossibleIncorrectUsageOfRedirectionOperator
  no-global-var          no $global: variable                                     PSAvoidGlobalVars
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from tree_sitter import Node

from tssrkit.pslint import tree
from tssrkit.pslint.structure import file_stem
from tssrkit.pslint.tree import File, child, text, walk

DATA = Path(__file__).resolve().parents[1] / "data"

SECRET_NAME_RE = re.compile(
    r"(?i)(password|passwd|passphrase|pwd|secret|credential|token|apikey|privatekey|"
    r"motdepasse|mot_de_passe|mdp|phrasesecrete|jeton|secretpartage|cleprivee|identifiants?)")
# ... unless the name says where a secret goes or a rule about one (PasswordFile, PasswordLength,
# ChangePasswordAtLogon, PasswordNeverExpires), in English or French (FichierMotDePasse ends in "passe").
NOT_A_SECRET_RE = re.compile(
    r"(?i)(file|path|folder|length|policy|age|expires?|expired|atlogon|never|required|history|"
    r"fichier|chemin|dossier|longueur|politique|expiration)$|^(fichier|chemin|dossier|longueur)")
SECRET_TYPES = {"securestring", "system.security.securestring", "pscredential",
                "system.management.automation.pscredential"}
FLAG_TYPES = {"switch", "bool", "boolean", "system.boolean", "system.management.automation.switchparameter"}
WMI_CMDLETS = {"get-wmiobject", "set-wmiinstance", "invoke-wmimethod", "remove-wmiobject",
               "register-wmievent"}
EQUALITY_OPERATORS = {"-eq", "-ne", "-ceq", "-cne", "-ieq", "-ine"}


def _word_list(name: str) -> frozenset[str]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return frozenset(s.strip().lower() for s in lines if s.strip() and not s.startswith("#"))


@cache
def approved_verbs() -> frozenset[str]:
    return _word_list("approved-verbs.txt")


@cache
def builtin_aliases() -> frozenset[str]:
    return _word_list("powershell-aliases.txt")


def check_names(f: File) -> None:
    verbs = approved_verbs()
    aliases = builtin_aliases()
    stem = file_stem(f)
    if "-" in stem and stem.split("-", 1)[0].lower() not in verbs:
        f.report(None, "approved-verb", f"file name {f.path.name}: {stem.split('-', 1)[0]!r} is not an "
                                        "approved verb (Get-Verb)")
    for node in walk(f.root):
        if node.type == "function_name":
            name = text(node)
            verb = name.split("-", 1)[0] if "-" in name else None
            if verb is None or verb.lower() not in verbs:
                f.report(node, "approved-verb", f"function {name}: not Verb-Noun with an approved verb")
        elif node.type == "script_parameter":
            _check_secret_parameter(f, node)
    for command, name in tree.commands(f.root):
        lower = name.lower()
        if lower in aliases:
            f.report(command, "no-alias", f"{name!r} is an alias: call the command by its full name")
        elif lower == "write-host":
            f.report(command, "no-write-host", "Write-Host: Write-Verbose for narration, objects for output")
        elif lower == "invoke-expression":
            f.report(command, "no-invoke-expression",
                     "Invoke-Expression runs a string as code: call the command, or & with an argument list")
        elif lower in WMI_CMDLETS:
            f.report(command, "no-wmi-cmdlet",
                     f"{name} is gone in PowerShell 7 and uses DCOM: use Get-CimInstance / Invoke-CimMethod")
        elif lower == "convertto-securestring" and any(
                p and "asplaintext".startswith(p) for p in tree.command_parameters(command)):
            f.report(command, "plaintext-securestring",
                     "ConvertTo-SecureString -AsPlainText: the secret was plain text before (a command line, "
                     "a file, a variable): read it with Read-Host -AsSecureString or Get-Credential")


def _check_secret_parameter(f: File, node: Node) -> None:
    name = tree.parameter_name(node)
    if not SECRET_NAME_RE.search(name) or NOT_A_SECRET_RE.search(name):
        return
    types = [text(t).lower().replace(" ", "").strip("[]") for t in walk(node) if t.type == "type_literal"]
    types = [t.removesuffix("[]") for t in types if t not in ("parameter()", "")]
    if any(t in SECRET_TYPES for t in types) or any(t in FLAG_TYPES for t in types):
        return
    shown = f"[{types[0]}]" if types else "untyped"
    f.report(node, "secret-parameter",
             f"${name} is {shown}: a secret is a [securestring] or a [pscredential], never plain text")


def _conditions(root: Node) -> list[Node]:
    """The condition pipelines of if, elseif, while, do-while and do-until."""
    found = []
    for node in walk(root):
        if node.type in ("if_statement", "elseif_clause") or node.type == "while_condition":
            found += [c for c in node.children if c.type == "pipeline"][:1]
    return found


def _right_side_is_command(assignment: Node) -> bool:
    right = child(assignment, "pipeline")
    chain = child(right, "pipeline_chain") if right is not None else None
    return chain is not None and child(chain, "command") is not None


def check_safety(f: File) -> None:
    for node in walk(f.root):
        if node.type == "catch_clause":
            block = child(node, "statement_block")
            body = child(block, "statement_list") if block is not None else None
            if body is None or not [c for c in body.children if c.type != "comment"]:
                f.report(node, "empty-catch",
                         "an empty catch hides the error: handle it, or Write-Verbose/Write-Warning why it "
                         "does not matter")
        elif node.type in ("comparison_expression", "comparison_argument_expression"):
            operator = child(node, "comparison_operator")
            operands = [c for c in node.children if c.type != "comparison_operator"]
            if (operator is not None and text(operator).lower() in EQUALITY_OPERATORS and len(operands) == 2
                    and text(operands[1]).strip().lower() == "$null"):
                f.report(node, "null-comparison",
                         f"$null goes on the left ($null {text(operator)} $x): with an array on the left, "
                         f"{text(operator)} filters the array instead of testing it")
        elif node.type == "variable" and re.match(r"(?i)^(\$|\$\{|@)global:", text(node)):
            f.report(node, "no-global-var",
                     f"{text(node)}: a global variable outlives the script; use $script: or a parameter")
    for condition in _conditions(f.root):
        assignment = child(condition, "assignment_expression")
        operator = child(assignment, "assignement_operator") if assignment is not None else None
        if operator is not None and text(operator) == "=" and not _right_side_is_command(assignment):
            f.report(assignment, "assignment-in-condition",
                     "= in a condition assigns: compare with -eq (or write (($x = …)) if you mean it)")
        for node in walk(condition):
            if node.type == "file_redirection_operator" and text(node).strip() in (">", ">>"):
                f.report(node, "redirection-in-condition",
                         f"{text(node).strip()} in a condition writes a file: compare with -gt")
