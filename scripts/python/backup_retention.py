#!/usr/bin/env python3
"""Plan which backup sets to keep and which to remove (tssr-kit backup job, retention planner).

Reads backup set names (JOB-YYYYmmddTHHMMSSZ, UTC), one per line on standard input, applies a
restic-style `forget` policy and prints the plan. It removes nothing itself: backup.sh runs it after a
new set is complete and verified, and removes the sets planned for removal. Because it only reads
standard input and writes a plan, the planner is its own dry run: there is no --dry-run option (and no
lock, no syslog: there is nothing on the system for it to change or to guard).

Usage:
  backup_retention.py [--keep-last N] [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--json]
                      < NAMES

  --keep-last N     keep the N newest sets (default 1)
  --keep-daily N    keep the newest set of each of the N most recent days that have a set (default 0)
  --keep-weekly N   the same per ISO week, Monday 00:00 to Sunday 23:59:59 UTC (default 0)
  --keep-monthly N  the same per calendar month (default 0)
  --json            print one JSON object instead of the keep/remove lines

Policy (the semantics of `restic forget --keep-last/--keep-daily/--keep-weekly/--keep-monthly`):
  - the sets are sorted newest first; times are the UTC time stamps of the names;
  - a period (a day, an ISO week, a month) counts only when it has at least one set, so missed days do
    not use up the count: --keep-daily 7 keeps 7 sets even when the backups ran on 7 days out of 20;
  - in each counted period the NEWEST set is kept;
  - a set kept by any rule is kept (the rules are ORed), so a set can be daily, weekly and monthly;
  - the newest set is always kept, even when every --keep-* is 0 (reason "newest").
  Differences from restic, on purpose: an empty policy keeps only the newest set (restic keeps
  everything); restic (0.16 and later) also keeps the oldest snapshot while a rule still has counts
  left, this planner does not (the interface of issue 5 says "newest of each period", nothing else);
  there is no hourly/yearly/within/tag rule, and no grouping: all the names must be of one job.

Examples:
  # What would go with 7 daily, 4 weekly and 6 monthly sets? (the order of the names does not matter)
  ls /var/backups/tssr-kit/web |
    backup_retention.py --keep-daily 7 --keep-weekly 4 --keep-monthly 6

  # The same plan as JSON, e.g. the names to remove, for a script:
  ls /var/backups/tssr-kit/web |
    python3 backup_retention.py --keep-daily 7 --json | jq -r '.remove[]'

  # Try a policy on made-up names:
  printf '%s\\n' web-20261128T021500Z web-20261129T021500Z | backup_retention.py --keep-last 1

  Output (text):            keep web-20261129T021500Z (last, daily, weekly, monthly)
                            remove web-20261101T021500Z
  Output (--json, one line): {"script": "backup_retention.py", "status": "ok", "changed": 0,
                            "policy": {"keep_last": 1, ...}, "keep": [NAME, ...] (newest first),
                            "remove": [NAME, ...] (newest first), "reasons": {NAME: ["daily", ...]}}

Exit codes:
  0  the plan is printed (even when it removes nothing)
  2  usage or validation error: an unknown option, a negative count, a malformed set name (the message
     names the line and the name), the same name twice, names of several jobs; nothing is printed on
     stdout but the error

What it changes:
  nothing on the system: it reads standard input and writes the plan to standard output, narration to
  standard error. backup.sh (scripts/bash/backup/backup.sh) is what removes the sets planned here.

Supported OS families:
  any system with python3 3.9 or later and its standard library: debian (Debian 12 and 13, Ubuntu) and
  redhat (RHEL, Rocky, AlmaLinux 9, Fedora), where backup.sh runs it. Nothing here depends on the family.

Importable parts (used by tests/unit/test_backup_retention.py):
  parse_name(name) -> (job, datetime)           a set name -> its job and UTC time, ValueError if malformed
  plan(names_or_times, keep_last=1, keep_daily=0, keep_weekly=0, keep_monthly=0) -> Plan
                                                Plan(keep, remove, reasons): newest first, items as given
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import re
import sys
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Union

SCRIPT = "backup_retention.py"
# A set name: JOB-YYYYmmddTHHMMSSZ; JOB as backup.sh validates it (^[a-z0-9][a-z0-9_-]{0,39}$).
NAME_RE = re.compile(r"([a-z0-9][a-z0-9_-]{0,39})-([0-9]{8}T[0-9]{6}Z)")
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
UTC = datetime.timezone.utc

log = logging.getLogger("backup_retention")

Item = Union[str, datetime.datetime]  # what plan() accepts: set names, or aware datetimes


@dataclass(frozen=True)
class Plan:
    """What to keep and what to remove, newest first; ``reasons[item]`` says why an item is kept."""

    keep: list[Item] = field(default_factory=list)
    remove: list[Item] = field(default_factory=list)
    reasons: dict[Item, list[str]] = field(default_factory=dict)


class UsageError(Exception):
    """Bad command line or input (exit 2)."""


def parse_name(name: str) -> tuple[str, datetime.datetime]:
    """``web-20261129T021500Z`` -> ``("web", 2026-11-29 02:15:00+00:00)``; ValueError when malformed."""
    found = NAME_RE.fullmatch(name)
    if not found:
        raise ValueError(f"not a set name JOB-YYYYmmddTHHMMSSZ: {name!r}")
    try:
        when = datetime.datetime.strptime(found.group(2), STAMP_FORMAT)
    except ValueError:
        raise ValueError(f"not a valid UTC date and time in {name!r}") from None
    return found.group(1), when.replace(tzinfo=UTC)


def _utc_time(item: Item) -> tuple[str | None, datetime.datetime]:
    """The job (None for a datetime) and the UTC time of one input item."""
    if isinstance(item, datetime.datetime):
        if item.tzinfo is None or item.utcoffset() is None:
            raise ValueError(f"naive datetime {item.isoformat()}: give it a time zone (e.g. UTC)")
        return None, item.astimezone(UTC)
    if isinstance(item, str):
        return parse_name(item)
    raise TypeError(f"expected a set name or a datetime, got {type(item).__name__}")


# The period of a UTC time for each calendar rule; two sets in the same period share the key.
def _day(t: datetime.datetime) -> Hashable:
    return t.date()


def _iso_week(t: datetime.datetime) -> Hashable:
    year, week, _ = t.isocalendar()  # ISO 8601: weeks start on Monday; 2027-01-01 is in 2026-W53
    return (year, week)


def _month(t: datetime.datetime) -> Hashable:
    return (t.year, t.month)


def plan(names_or_times: Iterable[Item], keep_last: int = 1, keep_daily: int = 0, keep_weekly: int = 0,
         keep_monthly: int = 0) -> Plan:
    """Apply the policy to the sets; pure: nothing is read or changed.

    ``names_or_times``: set names (``JOB-YYYYmmddTHHMMSSZ``, all of one job) and/or time-zone aware
    datetimes, in any order. Raises ValueError on a malformed name, a naive datetime, a duplicate,
    names of several jobs or a negative count. The returned lists hold the items as given, newest first.
    """
    counts = {"last": keep_last, "daily": keep_daily, "weekly": keep_weekly, "monthly": keep_monthly}
    for rule, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"keep_{rule} must be a whole number >= 0, got {count!r}")

    timed: list[tuple[datetime.datetime, Item]] = []
    jobs: set[str] = set()
    for item in names_or_times:
        job, when = _utc_time(item)
        if job is not None:
            jobs.add(job)
        timed.append((when, item))
    if len(jobs) > 1:
        raise ValueError(f"names of several jobs ({', '.join(sorted(jobs))}): plan one job at a time")
    seen: set[datetime.datetime] = set()
    for when, item in timed:
        if when in seen:
            raise ValueError(f"two sets with the same time: {item!r}")
        seen.add(when)
    timed.sort(key=lambda pair: pair[0], reverse=True)  # newest first

    # One bucket per rule: how many periods are left to fill, and the period of the last kept set.
    # Walking newest to oldest, the first set seen in a period is that period's newest set.
    rules: list[tuple[str, Callable[[datetime.datetime], Hashable] | None]] = [
        ("last", None), ("daily", _day), ("weekly", _iso_week), ("monthly", _month)]
    left = dict(counts)
    last_period: dict[str, Hashable] = {}
    result = Plan()
    for number, (when, item) in enumerate(timed):
        reasons: list[str] = []
        for rule, period_of in rules:
            if left[rule] == 0:
                continue
            period = number if period_of is None else period_of(when)  # "last": every set is its own
            if rule in last_period and last_period[rule] == period:
                continue
            last_period[rule] = period
            left[rule] -= 1
            reasons.append(rule)
        if number == 0 and not reasons:
            reasons.append("newest")  # the newest set is never removed, whatever the policy
        if reasons:
            result.keep.append(item)
            result.reasons[item] = reasons
        else:
            result.remove.append(item)
    return result


# ---- command line ----------------------------------------------------------------------------------
class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def count(text: str) -> int:
    """An argparse type: a whole number >= 0."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def build_parser() -> Parser:
    parser = Parser(prog=SCRIPT, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                    usage="%(prog)s [--keep-last N] [--keep-daily N] [--keep-weekly N] [--keep-monthly N]"
                          " [--json] < NAMES")
    parser.add_argument("--keep-last", type=count, default=1, metavar="N", help="the N newest sets")
    parser.add_argument("--keep-daily", type=count, default=0, metavar="N", help="N days, newest of each")
    parser.add_argument("--keep-weekly", type=count, default=0, metavar="N", help="N ISO weeks")
    parser.add_argument("--keep-monthly", type=count, default=0, metavar="N", help="N months")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the lines")
    return parser


def read_names(lines: Iterable[str]) -> list[str]:
    """The set names of the input lines (blank lines skipped); UsageError naming the first bad line."""
    names: list[str] = []
    first_line: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        name = raw.strip()
        if not name:
            continue
        try:
            parse_name(name)
        except ValueError as exc:
            raise UsageError(f"line {number}: {exc}") from None
        if name in first_line:
            raise UsageError(f"line {number}: {name!r} already given on line {first_line[name]}")
        first_line[name] = number
        names.append(name)
    return names


def render(the_plan: Plan, policy: dict[str, int], as_json: bool) -> str:
    """The plan as text lines (keep first, then remove; newest first) or as one JSON object."""
    if as_json:
        return json.dumps({
            "script": SCRIPT, "status": "ok", "changed": 0, "policy": policy,
            "keep": list(the_plan.keep), "remove": list(the_plan.remove),
            "reasons": {str(k): v for k, v in the_plan.reasons.items()},
        })
    lines = [f"keep {name} ({', '.join(the_plan.reasons[name])})" for name in the_plan.keep]
    lines += [f"remove {name}" for name in the_plan.remove]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{SCRIPT}: %(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        args = build_parser().parse_args(argv)
        names = read_names(sys.stdin)
        policy = {"keep_last": args.keep_last, "keep_daily": args.keep_daily,
                  "keep_weekly": args.keep_weekly, "keep_monthly": args.keep_monthly}
        try:
            the_plan = plan(names, **policy)
        except ValueError as exc:  # several jobs: the names are fine one by one
            raise UsageError(str(exc)) from None
    except UsageError as exc:
        log.error("%s (see --help)", exc)
        return 2
    log.info("%d set(s): keep %d, remove %d (last %d, daily %d, weekly %d, monthly %d)", len(names),
             len(the_plan.keep), len(the_plan.remove), *policy.values())
    output = render(the_plan, policy, args.json)
    if output:
        print(output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
