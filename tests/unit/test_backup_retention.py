"""Unit tests of scripts/python/backup_retention.py, the backup job's retention planner.

The expected sets are written out by hand from the calendar (the weekdays and ISO weeks quoted in the
comments were checked with ``datetime.date.isocalendar()``), never computed by a second copy of the
algorithm. Pure: nothing on the machine running the tests is read or changed.
"""

import datetime
import importlib.util
import json
import subprocess
import sys

import pytest

from tssrkit.paths import SCRIPTS

SCRIPT = SCRIPTS / "python" / "backup_retention.py"
UTC = datetime.UTC


def _load():
    spec = importlib.util.spec_from_file_location("backup_retention", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


br = _load()


def name(day: str, time: str = "021500", job: str = "web") -> str:
    """``name("2025-12-31")`` -> ``web-20251231T021500Z``."""
    return f"{job}-{day.replace('-', '')}T{time}Z"


def days(*isodates: str) -> list[str]:
    return [name(d) for d in isodates]


def every_day_of(year: int) -> list[str]:
    """One backup a day at 02:15Z, 1 January to 31 December (just a list of dates, no policy in it)."""
    day, out = datetime.date(year, 1, 1), []
    while day.year == year:
        out.append(name(day.isoformat()))
        day += datetime.timedelta(days=1)
    return out


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], input=stdin, capture_output=True,
                          text=True, timeout=30)


# ---- a year of daily backups ----------------------------------------------------------------------
# 2025 starts and ends on a Wednesday. Its last ISO weeks: Mon 8 - Sun 14 Dec (W50), 15-21 (W51),
# 22-28 (W52), and Mon 29 Dec 2025 - Sun 4 Jan 2026, which is 2026-W01 (it holds Thursday 1 Jan 2026).
YEAR_2025_DAILY_7_WEEKLY_4_MONTHLY_12 = days(
    "2025-12-31", "2025-12-30", "2025-12-29",  # daily (the 31st is also weekly 2026-W01 and monthly)
    "2025-12-28",                              # daily, and the newest of W52 (a Sunday)
    "2025-12-27", "2025-12-26", "2025-12-25",  # daily: 7 days, 31 down to 25
    "2025-12-21", "2025-12-14",                # weekly: the Sundays ending W51 and W50 (4 weeks in all)
    "2025-11-30", "2025-10-31", "2025-09-30",  # monthly: the last day of each month, 12 months in all
    "2025-08-31", "2025-07-31", "2025-06-30",
    "2025-05-31", "2025-04-30", "2025-03-31",
    "2025-02-28", "2025-01-31",
)


def test_a_year_of_daily_backups_keeps_7_days_4_weeks_and_12_month_ends():
    the_plan = br.plan(every_day_of(2025), keep_daily=7, keep_weekly=4, keep_monthly=12)
    assert the_plan.keep == YEAR_2025_DAILY_7_WEEKLY_4_MONTHLY_12
    assert len(the_plan.keep) == 20
    assert len(the_plan.remove) == 365 - 20
    assert set(the_plan.keep).isdisjoint(the_plan.remove)


def test_a_year_of_daily_backups_says_why_each_set_is_kept():
    reasons = br.plan(every_day_of(2025), keep_daily=7, keep_weekly=4, keep_monthly=12).reasons
    assert reasons[name("2025-12-31")] == ["last", "daily", "weekly", "monthly"]
    assert reasons[name("2025-12-30")] == ["daily"]
    assert reasons[name("2025-12-28")] == ["daily", "weekly"]
    assert reasons[name("2025-12-21")] == ["weekly"]
    assert reasons[name("2025-11-30")] == ["monthly"]
    assert reasons[name("2025-01-31")] == ["monthly"]
    assert name("2025-01-01") not in reasons  # the oldest set is not kept "just in case" (restic 0.16 is)


def test_the_backup_scripts_default_policy_on_a_year_keeps_14_sets():
    # backup.sh defaults: keep-last 1, daily 7, weekly 4, monthly 6.
    the_plan = br.plan(every_day_of(2025), keep_last=1, keep_daily=7, keep_weekly=4, keep_monthly=6)
    assert the_plan.keep == days(
        "2025-12-31", "2025-12-30", "2025-12-29", "2025-12-28", "2025-12-27", "2025-12-26", "2025-12-25",
        "2025-12-21", "2025-12-14",
        "2025-11-30", "2025-10-31", "2025-09-30", "2025-08-31", "2025-07-31",
    )


# ---- calendar rules --------------------------------------------------------------------------------
def test_missed_days_do_not_use_up_the_daily_count():
    # Backups ran 1-3 January, then nothing until 10-12 January.
    sets = days("2026-01-01", "2026-01-02", "2026-01-03", "2026-01-10", "2026-01-11", "2026-01-12")
    the_plan = br.plan(sets, keep_last=0, keep_daily=5)
    assert the_plan.keep == days("2026-01-12", "2026-01-11", "2026-01-10", "2026-01-03", "2026-01-02")
    assert the_plan.remove == days("2026-01-01")


def test_of_several_backups_in_one_day_the_newest_is_the_daily_one():
    sets = [name("2026-03-05", "021500"), name("2026-03-05", "120000"), name("2026-03-05", "235959"),
            name("2026-03-04", "021500")]
    the_plan = br.plan(sets, keep_last=0, keep_daily=2)
    assert the_plan.keep == [name("2026-03-05", "235959"), name("2026-03-04", "021500")]
    assert the_plan.remove == [name("2026-03-05", "120000"), name("2026-03-05", "021500")]


def test_midnight_utc_is_the_day_boundary():
    sets = [name("2026-03-04", "235959"), name("2026-03-05", "000000")]
    the_plan = br.plan(sets, keep_last=0, keep_daily=2)
    assert the_plan.keep == [name("2026-03-05", "000000"), name("2026-03-04", "235959")]


def test_keep_last_keeps_the_n_newest_whatever_their_dates():
    sets = [name("2026-03-05", "120000"), name("2026-03-05", "130000"), name("2026-03-05", "140000"),
            name("2026-02-01"), name("2025-06-01")]
    the_plan = br.plan(sets, keep_last=3)
    assert the_plan.keep == [name("2026-03-05", "140000"), name("2026-03-05", "130000"),
                             name("2026-03-05", "120000")]
    assert the_plan.remove == [name("2026-02-01"), name("2025-06-01")]
    assert all(reasons == ["last"] for reasons in the_plan.reasons.values())


def test_keep_last_and_keep_daily_add_up():
    # Three backups today and one yesterday: the two newest by "last", yesterday's by "daily".
    sets = [name("2026-03-05", "080000"), name("2026-03-05", "120000"), name("2026-03-05", "160000"),
            name("2026-03-04", "160000")]
    the_plan = br.plan(sets, keep_last=2, keep_daily=2)
    assert the_plan.keep == [name("2026-03-05", "160000"), name("2026-03-05", "120000"),
                             name("2026-03-04", "160000")]
    assert the_plan.reasons[name("2026-03-05", "160000")] == ["last", "daily"]
    assert the_plan.reasons[name("2026-03-04", "160000")] == ["daily"]


def test_the_newest_set_is_kept_even_when_every_keep_is_zero():
    sets = days("2026-01-01", "2026-01-02", "2026-01-03")
    the_plan = br.plan(sets, keep_last=0, keep_daily=0, keep_weekly=0, keep_monthly=0)
    assert the_plan.keep == days("2026-01-03")
    assert the_plan.reasons == {name("2026-01-03"): ["newest"]}
    assert the_plan.remove == days("2026-01-02", "2026-01-01")


def test_one_set_is_kept_and_no_set_plans_nothing():
    assert br.plan(days("2026-01-01"), keep_last=0).keep == days("2026-01-01")
    empty = br.plan([], keep_daily=7)
    assert (empty.keep, empty.remove, empty.reasons) == ([], [], {})


def test_an_iso_week_spans_the_year_boundary():
    # 2026 starts on a Thursday, so it has 53 ISO weeks: Mon 28 Dec 2026 - Sun 3 Jan 2027 is 2026-W53.
    assert datetime.date(2026, 12, 27).isocalendar()[:2] == (2026, 52)
    assert datetime.date(2026, 12, 31).isocalendar()[:2] == (2026, 53)
    assert datetime.date(2027, 1, 1).isocalendar()[:2] == (2026, 53)
    sets = days("2026-12-27", "2026-12-31", "2027-01-01")
    the_plan = br.plan(sets, keep_last=0, keep_weekly=2)
    assert the_plan.keep == days("2027-01-01", "2026-12-27")  # one per week: W53, then W52
    assert the_plan.remove == days("2026-12-31")               # same week as 1 January 2027


def test_the_monday_after_starts_the_next_iso_week():
    sets = days("2027-01-01", "2027-01-03", "2027-01-04")  # Fri and Sun of 2026-W53, Mon of 2027-W01
    the_plan = br.plan(sets, keep_last=0, keep_weekly=2)
    assert the_plan.keep == days("2027-01-04", "2027-01-03")
    assert the_plan.remove == days("2027-01-01")


def test_a_month_boundary_inside_one_week_still_splits_the_months():
    the_plan = br.plan(days("2026-12-30", "2026-12-31", "2027-01-01"), keep_last=0, keep_monthly=2)
    assert the_plan.keep == days("2027-01-01", "2026-12-31")
    assert the_plan.remove == days("2026-12-30")


def test_the_order_of_the_input_does_not_matter():
    in_order = every_day_of(2025)
    sets = in_order[1::2] + in_order[::-2]  # odd days oldest first, then even days newest first
    the_plan = br.plan(sets, keep_daily=7, keep_weekly=4, keep_monthly=12)
    assert the_plan.keep == YEAR_2025_DAILY_7_WEEKLY_4_MONTHLY_12


def test_datetimes_are_planned_in_utc_and_returned_as_given():
    paris_summer = datetime.timezone(datetime.timedelta(hours=2))
    march_first_in_paris = datetime.datetime(2026, 3, 1, 0, 30, tzinfo=paris_summer)  # 28 Feb 22:30Z
    feb_27 = datetime.datetime(2026, 2, 27, 12, 0, tzinfo=UTC)
    jan_15 = datetime.datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    the_plan = br.plan([jan_15, march_first_in_paris, feb_27], keep_last=0, keep_monthly=2)
    assert the_plan.keep == [march_first_in_paris, jan_15]  # February's newest, then January's
    assert the_plan.remove == [feb_27]


# ---- what plan() refuses ----------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["web-2026-01-01", "web-20261301T021500Z", ".web-20260101T021500Z.partial"])
def test_plan_refuses_a_malformed_name(bad):
    with pytest.raises(ValueError, match="web-"):
        br.plan([name("2026-01-01"), bad])


def test_plan_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="time zone"):
        br.plan([datetime.datetime(2026, 1, 1, 2, 15)])


def test_plan_refuses_names_of_several_jobs():
    with pytest.raises(ValueError, match="several jobs"):
        br.plan([name("2026-01-01", job="web"), name("2026-01-02", job="db")])


def test_plan_refuses_the_same_set_twice():
    with pytest.raises(ValueError, match="same time"):
        br.plan(days("2026-01-01", "2026-01-01"))


def test_plan_refuses_a_negative_count():
    with pytest.raises(ValueError, match="keep_daily"):
        br.plan(days("2026-01-01"), keep_daily=-1)


def test_a_job_name_with_dashes_is_split_at_the_time_stamp():
    job, when = br.parse_name("web-front_2-20261129T021500Z")
    assert job == "web-front_2"
    assert when == datetime.datetime(2026, 11, 29, 2, 15, tzinfo=UTC)


# ---- the command line ------------------------------------------------------------------------------
def test_cli_prints_the_kept_sets_with_reasons_then_the_removed_ones():
    stdin = "\n".join(days("2026-11-27", "2026-11-28", "2026-11-29")) + "\n"
    proc = run_cli("--keep-last", "1", "--keep-daily", "2", stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "keep web-20261129T021500Z (last, daily)",
        "keep web-20261128T021500Z (daily)",
        "remove web-20261127T021500Z",
    ]
    assert "keep 2, remove 1" in proc.stderr  # narration on stderr only


def test_cli_json_is_one_object_with_the_plan_and_the_policy():
    stdin = "\n".join(days("2026-11-27", "2026-11-28", "2026-11-29")) + "\n"
    proc = run_cli("--keep-daily", "2", "--json", stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result == {
        "script": "backup_retention.py", "status": "ok", "changed": 0,
        "policy": {"keep_last": 1, "keep_daily": 2, "keep_weekly": 0, "keep_monthly": 0},
        "keep": ["web-20261129T021500Z", "web-20261128T021500Z"],
        "remove": ["web-20261127T021500Z"],
        "reasons": {"web-20261129T021500Z": ["last", "daily"], "web-20261128T021500Z": ["daily"]},
    }


@pytest.mark.parametrize("bad", [
    "web-2026-11-28",                   # a date, not a time stamp
    "web-20261128T021500",              # no Z: not UTC
    "web-20261332T021500Z",             # month 13
    "web-20261128T241500Z",             # hour 24
    "Web-20261128T021500Z",             # job names are lower case
    ".web-20261128T021500Z.partial",    # a run in progress is not a set
    "web-20261128T021500Z extra",
])
def test_cli_rejects_a_malformed_name_with_exit_2_naming_the_line(bad):
    proc = run_cli("--keep-daily", "7", stdin=f"web-20261129T021500Z\n{bad}\n")
    assert proc.returncode == 2
    assert "line 2" in proc.stderr
    assert repr(bad) in proc.stderr
    assert proc.stdout == ""


def test_cli_rejects_a_name_given_twice():
    proc = run_cli(stdin="web-20261129T021500Z\nweb-20261128T021500Z\nweb-20261129T021500Z\n")
    assert proc.returncode == 2
    assert "line 3" in proc.stderr and "line 1" in proc.stderr


def test_cli_rejects_names_of_several_jobs():
    proc = run_cli(stdin="web-20261129T021500Z\ndb-20261129T021500Z\n")
    assert proc.returncode == 2
    assert "several jobs" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("args", [["--keep-daily", "-1"], ["--keep-weekly", "two"], ["--keep-last"]])
def test_cli_rejects_bad_options_with_exit_2(args):
    proc = run_cli(*args, stdin="web-20261129T021500Z\n")
    assert proc.returncode == 2
    assert proc.stdout == ""


def test_cli_skips_blank_lines_and_surrounding_spaces():
    proc = run_cli("--keep-last", "1", stdin="\n  web-20261129T021500Z  \n\nweb-20261128T021500Z\r\n\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["keep web-20261129T021500Z (last)", "remove web-20261128T021500Z"]


def test_cli_with_no_names_prints_no_plan_and_succeeds():
    proc = run_cli("--keep-daily", "7")
    assert proc.returncode == 0
    assert proc.stdout == ""
    json_proc = run_cli("--json")
    assert json.loads(json_proc.stdout)["keep"] == []


def test_main_can_be_called_with_an_argv_list(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", iter(["web-20261129T021500Z\n", "web-20261128T021500Z\n"]))
    assert br.main(["--keep-last", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["keep"] == ["web-20261129T021500Z", "web-20261128T021500Z"]
