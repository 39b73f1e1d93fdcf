"""PowerShell's CLIXML error stream, turned back into text.

When ``powershell.exe`` runs without a console (over SSH, from a service), it writes its error, warning,
verbose and progress streams to stderr as serialized objects::

    #< CLIXML
    <Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><Obj S="progress">…</Obj>
    <S S="Error">Get-ADUser : Unable to contact the server._x000D__x000A_</S>…</Objs>

:func:`to_text` keeps what a person needs: the text of the ``<S>`` records (error lines as they are,
warnings and verbose lines prefixed as PowerShell prints them), progress records dropped, XML entities
and the ``_xHHHH_`` escapes of ``System.Xml.XmlConvert`` decoded (``_x000D__x000A_`` is a line break,
``_xD83D__xDE00_`` a surrogate pair). Text outside the CLIXML documents is kept as it is. No XML parser
is used: the input comes from a remote host, and a regular expression cannot be made to expand entities.
"""

from __future__ import annotations

import html
import re

MARKER = "#< CLIXML"
DOCUMENT_RE = re.compile(r"<Objs\b[^>]*>(.*?)</Objs>", re.DOTALL)
STRING_RE = re.compile(r'<S S="(\w+)">(.*?)</S>', re.DOTALL)
ESCAPE_RE = re.compile(r"_x([0-9A-Fa-f]{4}|[0-9A-Fa-f]{8})_")
PREFIX = {"error": "", "warning": "WARNING: ", "verbose": "VERBOSE: ", "debug": "DEBUG: ", "information": ""}


def decode_escapes(value: str) -> str:
    """``_xHHHH_`` (and ``_xHHHHHHHH_``) → the character; UTF-16 surrogate pairs are joined."""
    units: list[int] = []
    out: list[str] = []
    position = 0

    def flush() -> None:
        if units:
            data = b"".join(u.to_bytes(2, "little") for u in units)
            out.append(data.decode("utf-16-le", "replace"))
            units.clear()

    for match in ESCAPE_RE.finditer(value):
        if match.start() != position:
            flush()
            out.append(value[position:match.start()])
        code = int(match.group(1), 16)
        if code > 0xFFFF:
            flush()
            out.append(chr(code) if code <= 0x10FFFF else "\ufffd")
        else:
            units.append(code)
        position = match.end()
    flush()
    out.append(value[position:])
    return "".join(out)


def _records(document: str) -> list[str]:
    lines = []
    for stream, body in STRING_RE.findall(document):
        text = decode_escapes(html.unescape(body))
        lines.append(PREFIX.get(stream.lower(), f"{stream.upper()}: ") + text)
    return lines


def to_text(stream: str) -> str:
    """The readable text of a stderr that may hold CLIXML documents; other text is returned unchanged."""
    if MARKER not in stream:
        return stream
    parts: list[str] = []
    head, _, rest = stream.partition(MARKER)
    if head.strip():
        parts.append(head.rstrip("\r\n"))
    rest = rest.replace(MARKER, "")
    position = 0
    for match in DOCUMENT_RE.finditer(rest):
        between = rest[position:match.start()].strip("\r\n")
        if between.strip():
            parts.append(between)
        records = "".join(_records(match.group(1)))
        if records:
            parts.append(records.rstrip("\r\n"))
        position = match.end()
    tail = rest[position:].strip("\r\n")
    if tail.strip():
        parts.append(tail)
    return "\r\n".join(parts)
