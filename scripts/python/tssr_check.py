#!/usr/bin/env python3
"""Service checks in monitoring-plugins form: disk, memory, load, a systemd unit, an HTTP(S) URL, backups.

One script, one subcommand per check. Each prints ONE status line and exits with the plugin's code, so
Nagios, Icinga, Naemon, Centreon, Zabbix (as an external check) or the SNMP agent's `extend` run it as is:

  NAME STATE - text | label=value[UOM];warn;crit;min;max ...

Usage:
  tssr_check.py disk    [--path PATH ...] [-w RANGE] [-c RANGE]         percent of the space used
  tssr_check.py memory  [-w RANGE] [-c RANGE]                           percent of RAM used (not available)
  tssr_check.py load    [--per-cpu] [-w R1,R5,R15] [-c R1,R5,R15]       load averages (1, 5, 15 min)
  tssr_check.py service UNIT [--allow-disabled] [-w RANGE] [-c RANGE]   active + enabled; RANGEs on NRestarts
  tssr_check.py http    URL [--expect CODES] [-w SECONDS] [-c SECONDS] [--cert-warning DAYS]
                            [--cert-critical DAYS] [--cafile FILE] [--insecure]
  tssr_check.py backup  [--job NAME] [--dest DIR] [--status-file FILE] [-w HOURS] [-c HOURS]

  -w, --warning RANGE    WARNING when the value is outside RANGE (or inside, for @ ranges)
  -c, --critical RANGE   CRITICAL likewise; CRITICAL wins over WARNING
  -t, --timeout SECONDS  give up after SECONDS (UNKNOWN, or CRITICAL for http); default 10
  -v, --verbose          narrate on standard error

Thresholds (the monitoring-plugins range syntax, development guidelines section "Threshold and ranges"):
  N      alert when the value is < 0 or > N          (the range 0..N)
  N:     alert when the value is < N                   (N..infinity)
  ~:N    alert when the value is > N                   (-infinity..N)
  N:M    alert when the value is < N or > M
  @N:M   alert when the value is >= N and <= M         (inside; also @N, @N:, @~:N)
  The ends are inclusive; N and M may be decimals or negative. Every form above is accepted everywhere.

Defaults (what each check compares, and its default thresholds):
  disk     percent used of each --path (default /):        -w 80  -c 90
  memory   percent used = (MemTotal - MemAvailable) / MemTotal, from /proc/meminfo:   -w 80  -c 90
  load     1, 5 and 15 minute averages; with --per-cpu divided by the CPU count first:
           -w 4,3,2 -c 6,5,4 (one RANGE applies to all three)
  service  systemctl show UNIT: CRITICAL when not active (or not found), WARNING when active but not
           enabled (unless --allow-disabled); -w/-c apply to NRestarts (no default)
  http     CRITICAL when unreachable, when the TLS certificate does not verify, or when the status is not
           in --expect (default: any 2xx or 3xx; redirects are not followed); -w/-c on the response time
           in seconds (no default); HTTPS: --cert-warning 30 --cert-critical 14 (days left)
  backup   age in hours of the last good set, as `backup.sh status` reports it: -w 26 -c 50;
           CRITICAL when the job has no complete set

Output examples:
  DISK OK - / 41.2% used (11.9 GiB of 28.9 GiB) | /=41.2%;80;90;0;100 /_used=12775964672B;;;0;31043850240
  LOAD WARNING - load average 4.20, 2.10, 1.00 | load1=4.20;4;6;0 load5=2.10;3;5;0 load15=1.00;2;4;0
  HTTP OK - 200 OK in 0.012s, certificate expires in 364 days | time=0.012s;;;0 size=612B;;;0
      cert_days=364;30:;14:
  (one line: wrapped here)

Examples:
  # the root and /var file systems, warning at 85 % used, critical at 95 %
  tssr_check.py disk --path / --path /var -w 85 -c 95

  # a service must be running and enabled; WARNING after 1 restart, CRITICAL after 5
  tssr_check.py service apache2.service -w 0 -c 4

  # an HTTPS site: slow above 1 s, critical above 5 s; certificate warning below 21 days
  tssr_check.py http https://intranet.example.org/ -w 1 -c 5 --cert-warning 21

  # the backup job "web": warning after 26 hours, critical after 50 (reads `backup.sh status`)
  sudo tssr_check.py backup --job web -w 26 -c 50

Exit codes (the plugin codes):
  0 OK   1 WARNING   2 CRITICAL   3 UNKNOWN (the value could not be read, and bad input: a plugin's
  usage error must not page as CRITICAL, so an unknown option or a malformed RANGE exits 3, not 2)

What it changes on the system: nothing. It reads /proc, statvfs(), `systemctl show`, `backup.sh status`
and the URL; it writes one line on standard output. Since it changes nothing it has no --dry-run and no
JSON result line: its output IS the plugin line, which monitoring servers and `inv check` read.

Supported OS families: any Linux with python3 3.9 or later and its standard library: debian (Debian 12
and 13, Ubuntu) and redhat (RHEL, Rocky, AlmaLinux 9, Fedora). `service` needs systemd; `backup` needs
scripts/bash/backup/backup.sh (found beside this script, in ../bash/backup/, in
/usr/local/lib/tssr-kit/backup/, or given with --backup-script; run with bash).

Why Python and not Bash: the checks compare decimals (load 4.20 against a range 0..3.5, a response time of
0.012 s), parse the range syntax, time an HTTPS request and read the certificate's expiry date, and read
JSON from backup.sh. Bash has no decimals (it would call bc or awk for every comparison), no TLS (it would
parse `openssl s_client` and `date -d` output) and no JSON (jq is not installed everywhere). Python's
standard library does all of it, on every supported server, in one readable file. backup.sh stays Bash
(it drives tar, zstd and gpg); this check reuses its `status` output rather than reading the repository.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import math
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SCRIPT = "tssr_check.py"
log = logging.getLogger("tssr_check")

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATE_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_RANGE_RE = re.compile(rf"^(?P<inside>@)?(?:(?P<start>~|{_NUMBER})?:)?(?P<end>{_NUMBER})?$")


# Characters that drive a terminal instead of showing: C0 controls, DEL, C1 controls (U+009B is CSI),
# the line and paragraph separators, and the bidirectional overrides that reorder what is displayed.
# tssrkit's runner prints what hosts send through this same function (this script travels alone).
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_INVISIBLE = frozenset([*range(0x00, 0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F, 0x2028, 0x2029,
                        *range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def printable(text: object) -> str:
    """``str(text)`` with every character that could drive a terminal written visibly: \\n, \\r, \\t,
    \\x1b, \\u202e (also an unpaired surrogate, left by a byte that was not UTF-8). What a server,
    an agent or a file said (a unit's state, an HTTP reason, an SNMP string) is shown, never obeyed."""
    out = []
    for ch in str(text):
        code = ord(ch)
        if code in _INVISIBLE or 0xD800 <= code <= 0xDFFF:
            out.append(_SHORT_ESCAPES.get(ch) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"))
        else:
            out.append(ch)
    return "".join(out)


def plugin_text(text: str) -> str:
    """Text for a plugin line: printable, on one line, and without "|" (which starts the perfdata, so
    a value that held one could add performance data of its own)."""
    return printable(text).replace("|", "/")


def perf_label(label: str) -> str:
    """A perfdata label: plugin_text, without "=" (never allowed in a label) and quoted when it has a
    space or a quote (a quote doubled), as the monitoring-plugins guidelines say."""
    label = plugin_text(label).replace("=", "_")
    if re.search(r"[\s']", label):
        label = "'" + label.replace("'", "''") + "'"
    return label


class UsageError(Exception):
    """Bad input: exit 3 (UNKNOWN), the plugin convention."""


class CheckError(Exception):
    """The value could not be read: UNKNOWN, with this message."""


@dataclass(frozen=True)
class Range:
    """A monitoring-plugins threshold range; `alerts(value)` is True when the value should raise."""

    start: float = 0.0
    end: float = math.inf
    inside: bool = False
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> Range:
        """'10' -> 0..10, '10:' -> 10..inf, '~:10' -> -inf..10, '10:20', '@10:20' (alert inside)."""
        spec = text.strip()
        match = _RANGE_RE.match(spec)
        if not spec or not match or spec in ("@", ":", "@:") or (match["start"] is None and
                                                                  match["end"] is None):
            raise UsageError(f"not a threshold range: {text!r} (forms: N, N:, ~:N, N:M, @N:M)")
        start_text, end_text = match["start"], match["end"]
        if start_text is None:
            start = 0.0
        elif start_text == "~":
            start = -math.inf
        else:
            start = float(start_text)
        end = math.inf if end_text is None else float(end_text)
        if start > end:
            raise UsageError(f"threshold range {text!r}: the start {start:g} is above the end {end:g}")
        return cls(start, end, bool(match["inside"]), spec)

    def alerts(self, value: float) -> bool:
        within = self.start <= value <= self.end
        return within if self.inside else not within

    def scaled(self, factor: float) -> Range:
        """The same range in another unit (hours -> seconds for perfdata)."""
        def fmt(x: float) -> str:
            return f"{x:g}"
        start, end = self.start * factor, self.end * factor
        if start == -math.inf:
            text = f"~:{fmt(end)}"
        elif end == math.inf:
            text = f"{fmt(start)}:"
        elif start == 0:
            text = fmt(end)
        else:
            text = f"{fmt(start)}:{fmt(end)}"
        return Range(start, end, self.inside, ("@" if self.inside else "") + text)

    def __str__(self) -> str:
        return self.text


def state_of(value: float, warning: Range | None, critical: Range | None) -> int:
    """CRITICAL when the critical range alerts, else WARNING when the warning range does, else OK."""
    if critical is not None and critical.alerts(value):
        return CRITICAL
    if warning is not None and warning.alerts(value):
        return WARNING
    return OK


@dataclass
class Perf:
    """One perfdata item: label=value[UOM];warn;crit;min;max (empty fields kept, trailing ones dropped)."""

    label: str
    value: float
    uom: str = ""
    warning: Range | str | None = None
    critical: Range | str | None = None
    minimum: float | None = None
    maximum: float | None = None

    def __str__(self) -> str:
        label = perf_label(self.label)
        fields = [f"{_num(self.value)}{self.uom}",
                  "" if self.warning is None else str(self.warning),
                  "" if self.critical is None else str(self.critical),
                  "" if self.minimum is None else _num(self.minimum),
                  "" if self.maximum is None else _num(self.maximum)]
        while len(fields) > 1 and fields[-1] == "":
            fields.pop()
        return f"{label}=" + ";".join(fields)


def _num(x: float) -> str:
    """Integers without a decimal point, others with up to 3 decimals (no exponent)."""
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.3f}".rstrip("0").rstrip(".")


@dataclass
class Result:
    name: str
    state: int
    text: str
    perfdata: list[Perf] = field(default_factory=list)

    def line(self) -> str:
        out = f"{self.name} {STATE_NAMES[self.state]} - {plugin_text(self.text)}"
        if self.perfdata:
            out += " | " + " ".join(str(p) for p in self.perfdata)
        return out


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


# --------------------------------------------------------------------------------------------- disk
def check_disk(paths: Sequence[str], warning: Range | None, critical: Range | None) -> Result:
    """Percent of the space used, as df computes it: used / (used + available to unprivileged users)."""
    perfdata: list[Perf] = []
    parts: list[str] = []
    worst = OK
    for path in paths:
        try:
            st = os.statvfs(path)
        except OSError as exc:
            raise CheckError(f"cannot read the file system of {path}: {exc.strerror}") from None
        total = st.f_blocks * st.f_frsize
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        usable = used + st.f_bavail * st.f_frsize
        percent = 100.0 * used / usable if usable else 0.0
        state = state_of(percent, warning, critical)
        worst = max(worst, state)
        log.info("%s: %d bytes used of %d (%.1f%%): %s", path, used, total, percent, STATE_NAMES[state])
        parts.append(f"{path} {percent:.1f}% used ({human_bytes(used)} of {human_bytes(total)})")
        perfdata.append(Perf(path, round(percent, 1), "%", warning, critical, 0, 100))
        perfdata.append(Perf(f"{path}_used", used, "B", None, None, 0, total))
    return Result("DISK", worst, ", ".join(parts), perfdata)


# ------------------------------------------------------------------------------------------- memory
def read_meminfo(path: Path = Path("/proc/meminfo")) -> dict[str, int]:
    """/proc/meminfo as {key: bytes}."""
    values: dict[str, int] = {}
    try:
        text = path.read_text()
    except OSError as exc:
        raise CheckError(f"cannot read {path}: {exc.strerror}") from None
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            values[key.strip()] = int(fields[0]) * (1024 if fields[1:] == ["kB"] else 1)
    return values


def check_memory(warning: Range | None, critical: Range | None,
                 meminfo: Path = Path("/proc/meminfo")) -> Result:
    info = read_meminfo(meminfo)
    if "MemTotal" not in info or "MemAvailable" not in info:
        raise CheckError(f"{meminfo} has no MemTotal or MemAvailable (a kernel older than 3.14?)")
    total, available = info["MemTotal"], info["MemAvailable"]
    used = total - available
    percent = 100.0 * used / total if total else 0.0
    state = state_of(percent, warning, critical)
    text = (f"{percent:.1f}% of memory used ({human_bytes(used)} of {human_bytes(total)}, "
            f"{human_bytes(available)} available)")
    return Result("MEMORY", state, text, [
        Perf("used", round(percent, 1), "%", warning, critical, 0, 100),
        Perf("used_bytes", used, "B", None, None, 0, total),
        Perf("available", available, "B", None, None, 0, total)])


# --------------------------------------------------------------------------------------------- load
def parse_triple(text: str) -> list[Range]:
    """'4,3,2' -> three ranges (1, 5, 15 minutes); '4' -> the same range three times."""
    items = [item for item in text.split(",")]
    if len(items) == 1:
        items *= 3
    if len(items) != 3:
        raise UsageError(f"load thresholds: one RANGE or three (1,5,15 minutes), got {text!r}")
    return [Range.parse(item) for item in items]


def check_load(warnings: list[Range], criticals: list[Range], per_cpu: bool = False,
               loads: tuple[float, float, float] | None = None, cpus: int | None = None) -> Result:
    if loads is None:
        try:
            loads = os.getloadavg()
        except OSError:
            raise CheckError("the load average is not available on this system") from None
    cpus = cpus or os.cpu_count() or 1
    values = [x / cpus for x in loads] if per_cpu else list(loads)
    worst = OK
    perfdata = []
    for minutes, value, warning, critical in zip((1, 5, 15), values, warnings, criticals):
        worst = max(worst, state_of(value, warning, critical))
        perfdata.append(Perf(f"load{minutes}", round(value, 2), "", warning, critical, 0))
    what = f"load average per CPU ({cpus} CPUs)" if per_cpu else "load average"
    return Result("LOAD", worst, f"{what} {values[0]:.2f}, {values[1]:.2f}, {values[2]:.2f}", perfdata)


# ------------------------------------------------------------------------------------------ service
SERVICE_PROPERTIES = ("LoadState", "ActiveState", "SubState", "UnitFileState", "NRestarts")
_UNIT_RE = re.compile(r"^[A-Za-z0-9:_.@\\-]{1,256}$")


def check_service(unit: str, warning: Range | None, critical: Range | None, allow_disabled: bool,
                  timeout: float) -> Result:
    """`systemctl show UNIT`: CRITICAL unless active, WARNING unless enabled, ranges on NRestarts."""
    if not _UNIT_RE.match(unit) or unit.startswith("-"):
        raise UsageError(f"not a systemd unit name: {unit!r}")
    argv = ["systemctl", "show", unit, "--property=" + ",".join(SERVICE_PROPERTIES)]
    log.info("running %s", " ".join(argv))
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise CheckError("systemctl not found: this check needs systemd") from None
    except subprocess.TimeoutExpired:
        raise CheckError(f"systemctl show {unit} did not answer in {timeout:g}s") from None
    if done.returncode != 0:
        message = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise CheckError(f"systemctl show {unit}: {message}")
    props = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    load, active = props.get("LoadState", ""), props.get("ActiveState", "")
    sub, enabled = props.get("SubState", ""), props.get("UnitFileState", "")
    restarts_text = props.get("NRestarts", "")
    restarts = int(restarts_text) if restarts_text.isdigit() else None
    perfdata = [] if restarts is None else [Perf("restarts", restarts, "c", warning, critical, 0)]
    if load == "not-found":
        return Result("SERVICE", CRITICAL, f"{unit} is not installed (unit not found)", perfdata)
    text = f"{unit} is {active} ({sub}), {enabled or 'no unit file state'}"
    if restarts is not None:
        text += f", restarted {restarts} time(s)"
    if active != "active":
        return Result("SERVICE", CRITICAL, text, perfdata)
    state = OK if restarts is None else state_of(restarts, warning, critical)
    if not allow_disabled and enabled not in ("enabled", "enabled-runtime", "static", "alias",
                                              "indirect", "generated"):
        state = max(state, WARNING)
        text += " (it will not start at boot)"
    return Result("SERVICE", state, text, perfdata)


# --------------------------------------------------------------------------------------------- http
def parse_codes(text: str) -> set[int]:
    codes = set()
    for item in text.split(","):
        if not re.fullmatch(r"[1-5]\d\d", item.strip()):
            raise UsageError(f"--expect: not an HTTP status code: {item!r}")
        codes.add(int(item))
    return codes


def check_http(url: str, warning: Range | None, critical: Range | None, expect: set[int] | None,
               cert_warning: int, cert_critical: int, timeout: float, cafile: str | None = None,
               insecure: bool = False) -> Result:
    """One GET (no redirects followed): status, time to the full body, certificate days left."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"not an http(s) URL: {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"bad port in {url!r}") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=cafile)
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(parts.hostname, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
    started = time.monotonic()
    cert_days: int | None = None
    try:
        conn.request("GET", path, headers={"User-Agent": f"{SCRIPT} (tssr-kit)", "Connection": "close"})
        sock = conn.sock
        if isinstance(sock, ssl.SSLSocket):
            cert = sock.getpeercert()
            if cert and "notAfter" in cert:
                seconds_left = ssl.cert_time_to_seconds(str(cert["notAfter"])) - time.time()
                cert_days = math.floor(seconds_left / 86400)
        response = conn.getresponse()
        body = response.read()
    except ssl.SSLCertVerificationError as exc:
        return Result("HTTP", CRITICAL, f"{url}: certificate not trusted: {exc.verify_message}")
    except (OSError, http.client.HTTPException) as exc:   # refused, timeout, DNS, TLS, bad answer
        reason = f"no answer in {timeout:g}s" if isinstance(exc, TimeoutError) else str(exc) or repr(exc)
        return Result("HTTP", CRITICAL, f"{url}: {reason}")
    finally:
        conn.close()
    elapsed = time.monotonic() - started
    ok_status = response.status in expect if expect else 200 <= response.status < 400
    state = state_of(elapsed, warning, critical) if ok_status else CRITICAL
    text = f"{response.status} {response.reason} in {elapsed:.3f}s"
    if not ok_status:
        text += " (expected " + (",".join(map(str, sorted(expect))) if expect else "2xx or 3xx") + ")"
    perfdata = [Perf("time", round(elapsed, 3), "s", warning, critical, 0),
                Perf("size", len(body), "B", None, None, 0)]
    if cert_days is not None:
        cert_state = state_of(cert_days, Range(cert_warning, text=f"{cert_warning}:"),
                              Range(cert_critical, text=f"{cert_critical}:"))
        state = max(state, cert_state)
        text += (f", certificate expired {-cert_days} days ago" if cert_days < 0 else
                 f", certificate expires in {cert_days} days")
        perfdata.append(Perf("cert_days", cert_days, "", f"{cert_warning}:", f"{cert_critical}:"))
    return Result("HTTP", state, text, perfdata)


# ------------------------------------------------------------------------------------------- backup
def find_backup_script(explicit: str | None) -> Path:
    here = Path(__file__).resolve().parent
    candidates = [Path(explicit)] if explicit else [
        here / "backup.sh", here.parent / "bash" / "backup" / "backup.sh",
        Path("/usr/local/lib/tssr-kit/backup/backup.sh")]       # where `backup.sh --install-timer` puts it
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(map(str, candidates))
    raise CheckError(f"backup.sh not found (tried {tried}); use --backup-script")


def read_backup_status(job: str, dest: str | None, status_file: str | None, script: str | None,
                       timeout: float) -> dict:
    """The JSON line of `backup.sh status` (run now, or as saved in --status-file)."""
    if status_file:
        try:
            text = Path(status_file).read_text()
        except OSError as exc:
            raise CheckError(f"cannot read {status_file}: {exc.strerror}") from None
        source = status_file
    else:
        # Through bash: the script may sit on a noexec file system (/tmp, /var/tmp on hardened servers).
        argv = ["bash", str(find_backup_script(script)), "status", "--job", job, "--quiet"]
        argv += ["--dest", dest] if dest else []
        log.info("running %s", " ".join(argv))
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise CheckError(f"backup.sh status did not answer in {timeout:g}s") from None
        except OSError as exc:
            raise CheckError(f"cannot run {argv[1]}: {exc.strerror}") from None
        if done.returncode != 0:
            message = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            raise CheckError(f"backup.sh status failed (exit {done.returncode}): {message}")
        text, source = done.stdout, "backup.sh status"
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        status = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise CheckError(f"{source}: no JSON status line") from None
    if not isinstance(status, dict) or status.get("command") != "status":
        raise CheckError(f"{source}: not the result line of `backup.sh status`")
    return status


def _whole(status: dict, key: str) -> int | None:
    """A whole number of the status line (None when absent): anything else is an UNKNOWN, not a crash
    (the line describes sets read from the backup storage, which the check does not trust)."""
    value = status.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CheckError(f"backup.sh status: {key} is not a number: {value!r}")
    return int(value)


def check_backup(status: dict, warning: Range | None, critical: Range | None) -> Result:
    job, sets = status.get("job", "?"), _whole(status, "sets") or 0
    age = _whole(status, "age_seconds")
    if status.get("last_good") is None or age is None:
        return Result("BACKUP", CRITICAL, f"no complete backup set of job {job} in {status.get('dest')}",
                      [Perf("sets", sets, "", None, None, 0)])
    age = max(age, 0)
    hours = age / 3600
    state = state_of(hours, warning, critical)
    text = f"last good backup {status['last_good']} is {age // 3600}h{age % 3600 // 60:02d}m old"
    return Result("BACKUP", state, text, [
        Perf("age", age, "s", warning.scaled(3600) if warning else None,
             critical.scaled(3600) if critical else None, 0),
        Perf("sets", sets, "", None, None, 0)])


# ------------------------------------------------------------------------------------------ command line
class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _range(text: str) -> Range:
    try:
        return Range.parse(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _days(text: str) -> int:
    if not re.fullmatch(r"\d{1,5}", text):
        raise argparse.ArgumentTypeError(f"expected a number of days, got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"expected seconds between 0 and 3600, got {text!r}")
    return value


def build_parser() -> Parser:
    common = Parser(add_help=False)
    common.add_argument("-t", "--timeout", type=_seconds, default=10.0, help="seconds (default 10)")
    common.add_argument("-v", "--verbose", action="store_true", help="narrate on standard error")
    parser = Parser(prog=SCRIPT, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="check", metavar="CHECK", required=True, parser_class=Parser)

    def add(name: str, help_text: str, warning: str | None, critical: str | None,
            range_type=_range) -> Parser:
        p = sub.add_parser(name, help=help_text, parents=[common], description=help_text)
        p.add_argument("-w", "--warning", type=range_type, default=range_type(warning) if warning else None,
                       metavar="RANGE", help=f"WARNING range (default {warning or 'none'})")
        p.add_argument("-c", "--critical", type=range_type,
                       default=range_type(critical) if critical else None,
                       metavar="RANGE", help=f"CRITICAL range (default {critical or 'none'})")
        return p

    p = add("disk", "percent of the space used", "80", "90")
    p.add_argument("--path", action="append", help="a mount point or any path on it (repeatable; default /)")
    add("memory", "percent of the memory used (MemTotal - MemAvailable)", "80", "90")
    p = add("load", "load averages over 1, 5 and 15 minutes", "4,3,2", "6,5,4", range_type=_triple)
    p.add_argument("--per-cpu", action="store_true", help="divide the load by the number of CPUs")
    p = add("service", "a systemd unit is active and enabled; ranges on its restart count", None, None)
    p.add_argument("unit", help="the unit, e.g. apache2.service")
    p.add_argument("--allow-disabled", action="store_true", help="no WARNING when not enabled at boot")
    p = add("http", "an HTTP(S) URL: status, response time (ranges, seconds), certificate", None, None)
    p.add_argument("url")
    p.add_argument("--expect", type=_codes, help="accepted status codes, e.g. 200,301 (default 2xx, 3xx)")
    p.add_argument("--cert-warning", type=_days, default=30, metavar="DAYS", help="fewer days left: WARNING")
    p.add_argument("--cert-critical", type=_days, default=14, metavar="DAYS", help="fewer: CRITICAL")
    p.add_argument("--cafile", help="trust the certificates in this PEM file (a private CA, self-signed)")
    p.add_argument("--insecure", action="store_true", help="do not verify the certificate (no expiry then)")
    p = add("backup", "age (hours) of the last good set of a backup.sh job", "26", "50")
    p.add_argument("--job", default="default", help="the backup job (default: default)")
    p.add_argument("--dest", help="the repository's parent folder, as given to backup.sh")
    p.add_argument("--status-file", help="read a saved `backup.sh status` line instead of running it")
    p.add_argument("--backup-script", help="the path of backup.sh")
    return parser


def _triple(text: str) -> list[Range]:
    try:
        return parse_triple(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _codes(text: str) -> set[int]:
    try:
        return parse_codes(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


NAMES = {"disk": "DISK", "memory": "MEMORY", "load": "LOAD", "service": "SERVICE", "http": "HTTP",
         "backup": "BACKUP"}


def run_check(args: argparse.Namespace) -> Result:
    if args.check == "disk":
        return check_disk(args.path or ["/"], args.warning, args.critical)
    if args.check == "memory":
        return check_memory(args.warning, args.critical)
    if args.check == "load":
        return check_load(args.warning, args.critical, args.per_cpu)
    if args.check == "service":
        return check_service(args.unit, args.warning, args.critical, args.allow_disabled, args.timeout)
    if args.check == "http":
        return check_http(args.url, args.warning, args.critical, args.expect, args.cert_warning,
                          args.cert_critical, args.timeout, args.cafile, args.insecure)
    status = read_backup_status(args.job, args.dest, args.status_file, args.backup_script, args.timeout)
    return check_backup(status, args.warning, args.critical)


def main(argv: Sequence[str] | None = None) -> int:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{SCRIPT}: %(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.WARNING)
    argv = list(sys.argv[1:] if argv is None else argv)
    name = NAMES.get(argv[0], "CHECK") if argv else "CHECK"
    try:
        args = build_parser().parse_args(argv)
        if args.verbose:
            log.setLevel(logging.INFO)
        result = run_check(args)
    except UsageError as exc:
        result = Result(name, UNKNOWN, f"usage: {exc} (see {SCRIPT} --help)")
    except CheckError as exc:
        result = Result(name, UNKNOWN, str(exc))
    print(result.line())
    return result.state


if __name__ == "__main__":
    raise SystemExit(main())
