#!/usr/bin/env python3
"""Poll SNMPv3 agents (authPriv) for name, uptime, load and disk use; print a table, JSON or a plugin line.

Each agent is asked, with pysnmp (no snmpget underneath), for sysName.0 and sysUpTime.0 (SNMPv2-MIB),
laLoad.1/.2/.3 (UCD-SNMP-MIB load averages) and the disks: dskPath + dskPercent (UCD-SNMP-MIB dskTable,
the `disk` lines of snmpd.conf) or, when the agent has no dskTable, the fixed disks of HOST-RESOURCES-MIB
hrStorageTable (used / size). Thresholds turn the answers into OK / WARNING / CRITICAL; an agent that does
not answer, refuses our credentials or answers garbage becomes a CRITICAL or UNKNOWN row, never a crash.

Usage:
  snmp_poll.py [--agent HOST[:PORT] ...] [--agents-file FILE] [--credentials FILE]
               [--format table|json|nagios] [--concurrency N | --sequential]
               [--timeout SECONDS] [--retries N]
               [--load-warning RANGE] [--load-critical RANGE] [--disk-warning RANGE] [--disk-critical RANGE]

  --agent HOST[:PORT]     an agent (port 161 by default; IPv6 as [::1]:161); repeatable
  --agents-file FILE      one agent per line, HOST[:PORT]; blank lines and # comments ignored
  --credentials FILE      the SNMPv3 credentials (below); default: the environment when
                          TSSR_SNMP_USER is set, else /etc/tssr-kit/snmp-poller.conf
  --format FORMAT         table (default; then a JSON result line), json (one object), nagios
  --concurrency N         agents polled at the same time, asyncio, bounded (default 10)
  --sequential            one agent after the other (what --concurrency 1 does, in list order)
  --timeout SECONDS       per SNMP request (default 2); --retries N more tries (default 1); an agent's
                          whole poll is also cut at 4 x timeout x (retries + 1)
  --load-warning RANGE    on the 1-minute load average (default: none) ...
  --load-critical RANGE   (the monitoring-plugins range syntax of tssr_check.py: N, N:, ~:N, N:M, @N:M)
  --disk-warning RANGE    on each disk's percent used (default 80) ...
  --disk-critical RANGE   (default 90)
  -v, --verbose           narrate each agent on standard error

Credentials: never on the command line. Either a file (root-only: owned by root or by the user running
the poller, mode 0600 or 0400, else refused) of `key = value` lines:
      user = monitor
      auth_protocol = sha512          # sha256 | sha512 (HMAC-SHA-2, RFC 7860)
      auth_passphrase = ...
      priv_protocol = aes256          # aes128 | aes256 | aes256c
      priv_passphrase = ...
or the environment: TSSR_SNMP_USER, TSSR_SNMP_AUTH_PROTOCOL, TSSR_SNMP_AUTH_PASSPHRASE,
TSSR_SNMP_PRIV_PROTOCOL, TSSR_SNMP_PRIV_PASSPHRASE. Defaults: sha256 and aes128 (what every net-snmp
agent supports). Passphrases must have at least 8 characters (net-snmp refuses shorter ones).
`aes256` is net-snmp's AES-256 (`-x AES256`, the Blumenthal key extension); `aes256c` is the Cisco/Reeder
variant (`-x AES256C`). With SHA-512 the key is long enough for both to be the same.

Agent states: OK; WARNING / CRITICAL from the thresholds; CRITICAL when the agent does not answer
(timeout, closed port, host down: for a poller, a silent agent is an outage); UNKNOWN when it answers but
refuses us (wrong passphrase, unknown user, not authorised to read the view) or when the name does not
resolve: a configuration problem on one side, not an outage.

Output:
  table   AGENT  STATE  SYSNAME  UPTIME  LOAD(1,5,15)  DISK(worst)  MESSAGE, then the JSON result line
          {"script": "snmp_poll.py", "status": "ok"|"failed", "changed": 0, "agents": N, "ok": N, ...}
  json    one object: the result line above with "results": [one object per agent]
  nagios  `SNMP STATE - 19 of 20 agents OK, CRITICAL: web3 (no answer) | ok=19;;;0;20 ...`, then one line
          per agent (the plugin's long output)

Examples:
  # the lab's agents, credentials from a root-only file, a table
  sudo snmp_poll.py --agents-file /etc/tssr-kit/agents.txt --credentials /etc/tssr-kit/snmp-poller.conf

  # two agents, credentials from the environment, as a Nagios/Icinga check
  TSSR_SNMP_USER=monitor TSSR_SNMP_AUTH_PASSPHRASE="$(cat auth.pass)" \\
  TSSR_SNMP_PRIV_PASSPHRASE="$(cat priv.pass)" snmp_poll.py --agent web1 --agent db1:1161 --format nagios

  # JSON for a script: the agents above 90 % on a disk
  snmp_poll.py --agents-file agents.txt --format json | jq '.results[] | select(.state == "CRITICAL")'

Exit codes:
  table, json: 0 every agent OK, 1 at least one agent not OK, 2 usage or validation error (bad agent,
               bad range, credentials missing, too short, or readable by others)
  nagios:      the plugin codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the worst agent's state;
               a usage error is 3)

What it changes on the system: nothing (it only reads; no --dry-run needed).

Supported OS families: debian and redhat (any system with Python 3.9+ and pysnmp 7: pip install pysnmp).
Needs tssr_check.py beside it (the threshold ranges are the same code).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import re
import stat
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tssr_check import (  # noqa: E402 - found beside this script, like backup.sh's planner
    Range,
    UsageError,
    perf_label,
    plugin_text,
    printable,
)

SCRIPT = "snmp_poll.py"
log = logging.getLogger("snmp_poll")
DEFAULT_CREDENTIALS = Path("/etc/tssr-kit/snmp-poller.conf")
STATES = ["OK", "WARNING", "CRITICAL", "UNKNOWN"]
OK, WARNING, CRITICAL, UNKNOWN = range(4)

SYS_NAME = "1.3.6.1.2.1.1.5.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
LA_LOAD = "1.3.6.1.4.1.2021.10.1.3"             # .1 .2 .3: 1, 5, 15 minutes (strings "0.42")
DSK_PATH = "1.3.6.1.4.1.2021.9.1.2"
DSK_PERCENT = "1.3.6.1.4.1.2021.9.1.9"
HR_STORAGE_TYPE = "1.3.6.1.2.1.25.2.3.1.2"
HR_STORAGE_DESCR = "1.3.6.1.2.1.25.2.3.1.3"
HR_STORAGE_SIZE = "1.3.6.1.2.1.25.2.3.1.5"
HR_STORAGE_USED = "1.3.6.1.2.1.25.2.3.1.6"
HR_FIXED_DISK = "1.3.6.1.2.1.25.2.1.4"
# In a container, hrStorage lists the files Docker bind-mounts over /etc as "fixed disks": not disks.
CONTAINER_FILE_MOUNTS = frozenset({"/etc/resolv.conf", "/etc/hostname", "/etc/hosts"})

CREDENTIAL_KEYS = ("user", "auth_protocol", "auth_passphrase", "priv_protocol", "priv_passphrase")
AUTH_PROTOCOLS = ("sha256", "sha512")
PRIV_PROTOCOLS = ("aes128", "aes256", "aes256c")
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


# --------------------------------------------------------------------------------------- input
@dataclass(frozen=True)
class Agent:
    host: str
    port: int = 161

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 161 else f"{host}:{self.port}"


def parse_agent(text: str, where: str = "--agent") -> Agent:
    """'web1', 'web1:1161', '192.0.2.5:161', '[2001:db8::5]:161' -> Agent; UsageError naming `where`."""
    spec = text.strip()
    match = (re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?", spec)
             or re.fullmatch(r"([^:\s]+)(?::(\d+))?", spec))
    if not match:
        raise UsageError(f"{where}: not HOST[:PORT]: {text!r}")
    host, port_text = match[1], match[2]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_RE.match(host) or ".." in host:
            raise UsageError(f"{where}: not a host name or address: {host!r}") from None
    port = int(port_text) if port_text else 161
    if not 1 <= port <= 65535:
        raise UsageError(f"{where}: port {port} is not between 1 and 65535")
    return Agent(host, port)


def read_agents_file(path: Path) -> list[Agent]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read the agents file {path}: {exc.strerror}") from None
    agents = []
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if line:
            agents.append(parse_agent(line, f"{path} line {number}"))
    return agents


@dataclass(frozen=True)
class Credentials:
    user: str
    auth_protocol: str
    auth_passphrase: str = field(repr=False)
    priv_protocol: str
    priv_passphrase: str = field(repr=False)
    source: str = ""


def validate_credentials(values: Mapping[str, str], source: str) -> Credentials:
    user = values.get("user", "")
    auth, priv = values.get("auth_protocol") or "sha256", values.get("priv_protocol") or "aes128"
    if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,32}", user):
        raise UsageError(f"{source}: user: expected 1-32 letters, digits or _.@-")
    if auth.lower() not in AUTH_PROTOCOLS:
        raise UsageError(f"{source}: auth_protocol: one of {', '.join(AUTH_PROTOCOLS)}, not {auth!r}")
    if priv.lower() not in PRIV_PROTOCOLS:
        raise UsageError(f"{source}: priv_protocol: one of {', '.join(PRIV_PROTOCOLS)}, not {priv!r}")
    for key in ("auth_passphrase", "priv_passphrase"):
        if len(values.get(key, "")) < 8:   # never echo the value
            raise UsageError(f"{source}: {key}: at least 8 characters (net-snmp refuses shorter ones)")
    return Credentials(user, auth.lower(), values["auth_passphrase"], priv.lower(), values["priv_passphrase"],
                       source)


def read_credentials_file(path: Path) -> Credentials:
    try:
        info = path.stat()
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read the credentials file {path}: {exc.strerror}") from None
    if info.st_uid not in (0, os.geteuid()) or stat.S_IMODE(info.st_mode) & 0o077:
        raise UsageError(f"{path}: credentials must be owned by root (or you) and mode 0600 or 0400, "
                         f"not {stat.S_IMODE(info.st_mode):04o}")
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or key not in CREDENTIAL_KEYS:
            raise UsageError(f"{path} line {number}: expected `key = value` with a key among "
                             f"{', '.join(CREDENTIAL_KEYS)}")
        value = value.strip()
        if key.endswith("_protocol"):
            value = value.split("#", 1)[0].strip()   # a comment after a protocol, not in a passphrase
        values[key] = value
    return validate_credentials(values, str(path))


def load_credentials(path: str | None, environ: Mapping[str, str]) -> Credentials:
    if path:
        return read_credentials_file(Path(path))
    if environ.get("TSSR_SNMP_USER"):
        return validate_credentials({key: environ.get(f"TSSR_SNMP_{key.upper()}", "")
                                     for key in CREDENTIAL_KEYS}, "the environment (TSSR_SNMP_*)")
    if DEFAULT_CREDENTIALS.exists():
        return read_credentials_file(DEFAULT_CREDENTIALS)
    raise UsageError(f"no credentials: give --credentials FILE, set TSSR_SNMP_USER and the passphrases, "
                     f"or write {DEFAULT_CREDENTIALS}")


# --------------------------------------------------------------------------------------- polling
@dataclass
class AgentResult:
    agent: str
    state: str = "UNKNOWN"
    message: str = ""
    sys_name: str | None = None
    uptime_seconds: int | None = None
    load: list[float] | None = None
    disks: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class Thresholds:
    load_warning: Range | None = None
    load_critical: Range | None = None
    disk_warning: Range | None = None
    disk_critical: Range | None = None


def _state(value: float, warning: Range | None, critical: Range | None) -> int:
    if critical is not None and critical.alerts(value):
        return CRITICAL
    if warning is not None and warning.alerts(value):
        return WARNING
    return OK


def evaluate(result: AgentResult, limits: Thresholds) -> AgentResult:
    """The state of an agent that answered, from its load and disks."""
    state, notes = OK, []
    if result.load:
        load_state = _state(result.load[0], limits.load_warning, limits.load_critical)
        if load_state:
            notes.append(f"load {result.load[0]:.2f}")
        state = max(state, load_state)
    for path, percent in result.disks.items():
        disk_state = _state(percent, limits.disk_warning, limits.disk_critical)
        if disk_state:
            notes.append(f"{path} {percent:g}% used")
        state = max(state, disk_state)
    if result.load is None:
        notes.append("no laTable (no `load` line in snmpd.conf?)")
    if not result.disks:
        notes.append("no disk in dskTable nor hrStorageTable")
    result.state = STATES[state]
    result.message = "; ".join(notes) or "all within thresholds"
    return result


class SnmpFailure(Exception):
    def __init__(self, state: int, message: str):
        super().__init__(message)
        self.state = state


def _failure(error_indication: object, timeout: float, retries: int) -> SnmpFailure:
    from pysnmp.proto import errind

    if isinstance(error_indication, errind.RequestTimedOut):
        tries = retries + 1
        tries_text = f"{tries} {'try' if tries == 1 else 'tries'}"
        return SnmpFailure(CRITICAL, f"no answer in {timeout:g}s ({tries_text}; a wrong priv passphrase "
                                     "looks like this too: net-snmp stays silent)")
    kind = {errind.WrongDigest: "authentication refused (wrong auth passphrase or protocol?)",
            errind.UnknownUserName: "unknown user on the agent",
            errind.DecryptionError: "decryption failed (wrong priv passphrase or protocol?)",
            errind.UnsupportedSecurityLevel: "the agent refuses authPriv for this user",
            errind.NotInTimeWindow: "not in the agent's time window"}
    for cls, text in kind.items():
        if isinstance(error_indication, cls):
            return SnmpFailure(UNKNOWN, f"{text}: {error_indication}")
    return SnmpFailure(UNKNOWN, f"SNMP error: {error_indication}")


class Poller:
    """One pysnmp engine shared by every poll (pysnmp's asyncio API: pysnmp.hlapi.v3arch.asyncio)."""

    def __init__(self, credentials: Credentials, timeout: float, retries: int):
        from pysnmp.hlapi.v3arch import asyncio as snmp

        self.snmp = snmp
        self.engine = snmp.SnmpEngine()
        auth = {"sha256": snmp.usmHMAC192SHA256AuthProtocol, "sha512": snmp.usmHMAC384SHA512AuthProtocol}
        priv = {"aes128": snmp.usmAesCfb128Protocol, "aes256": snmp.usmAesBlumenthalCfb256Protocol,
                "aes256c": snmp.usmAesCfb256Protocol}
        self.auth = snmp.UsmUserData(credentials.user, credentials.auth_passphrase,
                                     credentials.priv_passphrase,
                                     authProtocol=auth[credentials.auth_protocol],
                                     privProtocol=priv[credentials.priv_protocol])
        self.timeout, self.retries = timeout, retries

    def close(self) -> None:
        self.engine.close_dispatcher()

    async def _target(self, agent: Agent):
        try:
            return await self.snmp.UdpTransportTarget.create((agent.host, agent.port), timeout=self.timeout,
                                                             retries=self.retries)
        except Exception as exc:   # pysnmp wraps the resolver's errors in its own PySnmpError
            reason = str(exc).split(" caused by ")[0]
            raise SnmpFailure(UNKNOWN, f"cannot resolve {agent.host}: {reason}") from None

    async def _get(self, target, oids: Sequence[str]) -> dict[str, object]:
        snmp = self.snmp
        error_indication, error_status, error_index, var_binds = await snmp.get_cmd(
            self.engine, self.auth, target, snmp.ContextData(),
            *(snmp.ObjectType(snmp.ObjectIdentity(oid)) for oid in oids))
        if error_indication:
            raise _failure(error_indication, self.timeout, self.retries)
        if error_status:
            raise SnmpFailure(UNKNOWN, f"the agent answered {error_status.prettyPrint()} at {error_index}")
        return {str(oid): value for oid, value in var_binds}

    async def _walk(self, target, column: str) -> dict[str, object]:
        """One table column: {row index: value}."""
        snmp = self.snmp
        rows: dict[str, object] = {}
        async for error_indication, error_status, _, var_binds in snmp.bulk_walk_cmd(
                self.engine, self.auth, target, snmp.ContextData(), 0, 25,
                snmp.ObjectType(snmp.ObjectIdentity(column)), lexicographicMode=False):
            if error_indication:
                raise _failure(error_indication, self.timeout, self.retries)
            if error_status:
                raise SnmpFailure(UNKNOWN, f"the agent answered {error_status.prettyPrint()}")
            for oid, value in var_binds:
                text = str(oid)
                if text.startswith(column + "."):
                    rows[text[len(column) + 1:]] = value
        return rows

    async def poll(self, agent: Agent, limits: Thresholds) -> AgentResult:
        started = time.monotonic()
        result = AgentResult(str(agent))
        try:
            target = await self._target(agent)
            values = await self._get(target, [SYS_NAME, SYS_UPTIME] + [f"{LA_LOAD}.{i}" for i in (1, 2, 3)])
            result.sys_name = _text(values.get(SYS_NAME))
            uptime = _number(values.get(SYS_UPTIME))
            result.uptime_seconds = None if uptime is None else int(uptime) // 100
            loads = [_number(values.get(f"{LA_LOAD}.{i}")) for i in (1, 2, 3)]
            result.load = None if None in loads else [float(x) for x in loads if x is not None]
            result.disks = await self._disks(target)
            evaluate(result, limits)
        except SnmpFailure as exc:
            result.state, result.message = STATES[exc.state], str(exc)
        result.seconds = round(time.monotonic() - started, 3)
        log.info("%s: %s (%s) in %.3fs", agent, result.state, printable(result.message), result.seconds)
        return result

    async def _disks(self, target) -> dict[str, float]:
        paths = await self._walk(target, DSK_PATH)
        if paths:
            percents = await self._walk(target, DSK_PERCENT)
            return {str(paths[i]): float(_number(percents[i]) or 0) for i in paths
                    if _number(percents.get(i)) is not None}
        kinds = await self._walk(target, HR_STORAGE_TYPE)
        fixed = [i for i, kind in kinds.items() if str(kind) == HR_FIXED_DISK]
        if not fixed:
            return {}
        descr = await self._walk(target, HR_STORAGE_DESCR)
        size = await self._walk(target, HR_STORAGE_SIZE)
        used = await self._walk(target, HR_STORAGE_USED)
        disks = {}
        for i in fixed:
            total, taken = _number(size.get(i)), _number(used.get(i))
            if str(descr.get(i, "")) in CONTAINER_FILE_MOUNTS:
                continue
            if total and taken is not None:
                disks[str(descr.get(i, i))] = round(100.0 * taken / total, 1)
        return disks


def _text(value: object) -> str | None:
    if value is None or type(value).__name__ in ("NoSuchObject", "NoSuchInstance", "EndOfMibView", "Null"):
        return None
    return value.prettyPrint() if hasattr(value, "prettyPrint") else str(value)


def _number(value: object) -> float | None:
    text = _text(value)
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


async def poll_all(agents: Sequence[Agent], credentials: Credentials, limits: Thresholds, timeout: float,
                   retries: int, concurrency: int, sequential: bool) -> list[AgentResult]:
    poller = Poller(credentials, timeout, retries)
    deadline = 4 * timeout * (retries + 1)

    async def guarded(agent: Agent) -> AgentResult:
        started = time.monotonic()
        try:
            return await asyncio.wait_for(poller.poll(agent, limits), deadline)
        except asyncio.TimeoutError:
            return AgentResult(str(agent), "CRITICAL", f"the poll took more than {deadline:g}s",
                               seconds=round(time.monotonic() - started, 3))
        except Exception as exc:   # whatever pysnmp raises: one agent's row, never the whole run
            log.debug("%s", agent, exc_info=True)
            return AgentResult(str(agent), "UNKNOWN", f"poll failed: {type(exc).__name__}: {exc}",
                               seconds=round(time.monotonic() - started, 3))

    try:
        if sequential:
            return [await guarded(agent) for agent in agents]
        gate = asyncio.Semaphore(concurrency)

        async def bounded(agent: Agent) -> AgentResult:
            async with gate:
                return await guarded(agent)

        return list(await asyncio.gather(*(bounded(agent) for agent in agents)))
    finally:
        poller.close()


# --------------------------------------------------------------------------------------- output
def human_uptime(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    days, rest = divmod(seconds, 86400)
    return f"{days}d{rest // 3600:02d}h{rest % 3600 // 60:02d}m"


def summary(results: Sequence[AgentResult], elapsed: float, mode: str) -> dict:
    counts = {name.lower(): sum(r.state == name for r in results) for name in STATES}
    return {"script": SCRIPT, "status": "ok" if counts["ok"] == len(results) else "failed", "changed": 0,
            "agents": len(results), **counts, "mode": mode, "elapsed_seconds": round(elapsed, 3)}


def render_table(results: Sequence[AgentResult]) -> str:
    rows = [("AGENT", "STATE", "SYSNAME", "UPTIME", "LOAD(1,5,15)", "DISK(worst)", "MESSAGE")]
    for r in results:
        load = ",".join(f"{x:.2f}" for x in r.load) if r.load else "-"
        worst = max(r.disks.items(), key=lambda item: item[1]) if r.disks else None
        disk = f"{worst[0]} {worst[1]:g}%" if worst else "-"
        # What the agent said (sysName, disk paths, in the message too) is shown, never obeyed.
        rows.append((printable(r.agent), r.state, printable(r.sys_name or "-"),
                     human_uptime(r.uptime_seconds), load, printable(disk), printable(r.message)))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row[:6], widths)) + "  " + row[6]
                     for row in rows)


def render_nagios(results: Sequence[AgentResult], limits: Thresholds) -> tuple[str, int]:
    worst = max((STATES.index(r.state) for r in results), default=UNKNOWN)
    counts = {name: [r for r in results if r.state == name] for name in STATES}
    text = f"{len(counts['OK'])} of {len(results)} agents OK"
    for name in ("CRITICAL", "WARNING", "UNKNOWN"):
        if counts[name]:
            text += f", {name}: " + ", ".join(f"{r.agent} ({r.message})" for r in counts[name])
    # Every string an agent sent (sysName, disk paths, in the messages) goes through plugin_text /
    # perf_label: a hostile agent can neither start a line of its own, nor add perfdata with a "|",
    # nor send terminal controls.
    text = plugin_text(text)
    perf = [f"{name.lower()}={len(counts[name])};;;0;{len(results)}" for name in STATES]
    for r in results:
        if r.load:
            perf.append(f"{perf_label(f'{r.agent} load1')}={r.load[0]:g};{limits.load_warning or ''};"
                        f"{limits.load_critical or ''};0")
        for path, percent in r.disks.items():
            perf.append(f"{perf_label(f'{r.agent} {path}')}={percent:g}%;{limits.disk_warning or ''};"
                        f"{limits.disk_critical or ''};0;100")
    lines = [f"SNMP {STATES[worst]} - {text} | {' '.join(perf)}"]
    lines += [plugin_text(f"{r.agent}: {r.state} - {r.sys_name or '?'} - {r.message}") for r in results]
    return "\n".join(lines), worst


# --------------------------------------------------------------------------------------- main
def _range(text: str) -> Range:
    try:
        return Range.parse(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(kind: type, low: float, high: float):
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected a number from {low:g} to {high:g}, got {text!r}")
        return value
    return convert


def build_parser() -> Parser:
    parser = Parser(prog=SCRIPT, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", action="append", default=[], metavar="HOST[:PORT]")
    parser.add_argument("--agents-file", metavar="FILE")
    parser.add_argument("--credentials", metavar="FILE")
    parser.add_argument("--format", choices=("table", "json", "nagios"), default="table")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--concurrency", type=_positive(int, 1, 256), default=10, metavar="N")
    mode.add_argument("--sequential", action="store_true")
    parser.add_argument("--timeout", type=_positive(float, 0.1, 60), default=2.0, metavar="SECONDS")
    parser.add_argument("--retries", type=_positive(int, 0, 5), default=1, metavar="N")
    parser.add_argument("--load-warning", type=_range, metavar="RANGE")
    parser.add_argument("--load-critical", type=_range, metavar="RANGE")
    parser.add_argument("--disk-warning", type=_range, default=Range.parse("80"), metavar="RANGE")
    parser.add_argument("--disk-critical", type=_range, default=Range.parse("90"), metavar="RANGE")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{SCRIPT}: %(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.WARNING)
    argv = list(sys.argv[1:] if argv is None else argv)
    nagios = "nagios" in argv   # a usage error in plugin mode must still be a plugin answer (3)
    try:
        args = build_parser().parse_args(argv)
        nagios = args.format == "nagios"
        if args.verbose:
            log.setLevel(logging.INFO)
        agents = [parse_agent(text) for text in args.agent]
        if args.agents_file:
            agents += read_agents_file(Path(args.agents_file))
        if not agents:
            raise UsageError("no agent: give --agent HOST[:PORT] or --agents-file FILE")
        credentials = load_credentials(args.credentials, os.environ)
    except UsageError as exc:
        if nagios:
            print(f"SNMP UNKNOWN - usage: {exc} (see {SCRIPT} --help)")
            return UNKNOWN
        log.error("%s (see --help)", exc)
        return 2
    limits = Thresholds(args.load_warning, args.load_critical, args.disk_warning, args.disk_critical)
    mode = "sequential" if args.sequential else f"concurrent ({args.concurrency} at a time)"
    log.info("polling %d agent(s) as %s (%s/%s, from %s), %s", len(agents), credentials.user,
             credentials.auth_protocol, credentials.priv_protocol, credentials.source, mode)
    started = time.monotonic()
    results = asyncio.run(poll_all(agents, credentials, limits, args.timeout, args.retries,
                                   args.concurrency, args.sequential))
    elapsed = time.monotonic() - started
    result_line = summary(results, elapsed, "sequential" if args.sequential else "concurrent")
    log.info("%d agent(s) in %.3fs: %s", len(results), elapsed,
             ", ".join(f"{result_line[s.lower()]} {s}" for s in STATES))
    if args.format == "nagios":
        output, worst = render_nagios(results, limits)
        print(output)
        return worst
    if args.format == "json":
        print(json.dumps({**result_line, "results": [asdict(r) for r in results]}))
    else:
        print(render_table(results))
        print(json.dumps(result_line))
    return 0 if result_line["status"] == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
