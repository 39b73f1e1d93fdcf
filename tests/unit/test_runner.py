"""The runner's own logic: result lines, validate-everywhere-first, summary and exit code.

The SSH side is exercised for real against lab containers in tests/lab/; here a small in-memory
host stands in for SSH so that the runner's decisions can be checked one by one.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fakehost import FakeHost

from tssrkit import runner
from tssrkit.hosts import Target


def test_result_is_read_from_the_last_non_empty_line():
    out = 'narration\n{"script": "x", "status": "ok", "changed": 0}\n\n'
    assert runner.parse_result(out) == {"script": "x", "status": "ok", "changed": 0}


def test_missing_or_broken_result_line_gives_none():
    assert runner.parse_result("") is None
    assert runner.parse_result("done\n") is None
    assert runner.parse_result('["not", "an", "object"]') is None


def test_job_argv_puts_dry_run_first_and_fills_the_remote_folder(tmp_path):
    job = runner.Job("demo", tmp_path / "demo.sh", args=["{dir}/in.csv"], interpreter=("bash",))
    assert job.argv("/tmp/x", dry_run=True) == ["bash", "/tmp/x/demo.sh", "--dry-run", "/tmp/x/in.csv"]


def script(accepts: bool):
    """A script that accepts its input (2 changes, planned on a dry run) or refuses it (exit 2)."""
    def reply(command: str) -> tuple[dict, str, int]:
        if not accepts:
            return {"status": "failed", "changed": 0, "error": "bad input"}, "in.csv:3:login: bad\n", 2
        return {"status": "changed", "changed": 2, "dry_run": "--dry-run" in command}, "", 0
    return reply


def run_fleet(accepting: dict[str, bool], dry_run=False):
    fakes = {name: FakeHost(script(ok)) for name, ok in accepting.items()}
    targets = [Target(name=n, host=n) for n in accepting]
    job = runner.Job("demo", Path(__file__), args=["{dir}/in.csv"])
    results = runner.run_job(job, targets, parallel=2, dry_run=dry_run,
                             progress=runner.Progress(io.StringIO()), connector=lambda t: fakes[t.name])
    return results, fakes


def test_a_host_that_rejects_the_input_stops_every_host_before_any_change():
    results, fakes = run_fleet({"a": True, "b": False, "c": True})
    assert [r.status for r in results] == ["not run", "failed", "not run"]
    for fake in fakes.values():
        runs = [c for c in fake.script_runs() if "test_runner.py" in c]
        assert runs and all("--dry-run" in c for c in runs)
    assert runner.exit_code(results) == 2


def test_when_every_host_accepts_the_job_runs_for_real_with_sudo():
    results, fakes = run_fleet({"a": True, "b": True})
    assert [r.status for r in results] == ["changed", "changed"]
    last = fakes["a"].script_runs()[-1]
    assert last.startswith("sudo -n -- bash /tmp/tssr-kit.abc/test_runner.py") and "--dry-run" not in last
    assert runner.exit_code(results) == 0


def test_dry_run_runs_once_and_only_as_dry_run():
    results, fakes = run_fleet({"a": True, "b": True}, dry_run=True)
    assert all(len(f.script_runs()) == 1 and "--dry-run" in f.script_runs()[0] for f in fakes.values())
    assert all(r.result["dry_run"] for r in results)


def run_two_jobs(server_accepts: bool, clients: dict[str, bool]):
    """A log server's job on one host and its clients' job on others, as `inv setup-logging lab` runs."""
    fakes = {"central": FakeHost(script(server_accepts)),
             **{name: FakeHost(script(ok)) for name, ok in clients.items()}}
    server, client = (runner.Job(name, Path(__file__)) for name in ("server", "client"))
    runs = [(server, [Target("central", "central")]), (client, [Target(n, n) for n in clients])]
    results = runner.run_jobs(runs, progress=runner.Progress(io.StringIO()),
                              connector=lambda t: fakes[t.name])
    return results, fakes


def test_when_one_hosts_input_is_refused_no_job_of_the_run_changes_any_host():
    results, fakes = run_two_jobs(True, {"web1": False})
    assert [(r.target.name, r.status) for r in results] == [("central", "not run"), ("web1", "failed")]
    assert all("--dry-run" in c for f in fakes.values() for c in f.script_runs()), "only dry runs"
    assert runner.exit_code(results) == 2


def test_several_jobs_run_for_real_one_after_the_other_once_every_host_accepted():
    results, fakes = run_two_jobs(True, {"web1": True, "web2": True})
    assert [r.target.name for r in results] == ["central", "web1", "web2"]
    assert [r.status for r in results] == ["changed"] * 3
    for fake in fakes.values():
        assert ["--dry-run" in c for c in fake.script_runs()] == [True, False], "checked once, then run"


def test_remote_folder_is_removed_even_when_the_script_fails():
    _, fakes = run_fleet({"a": False})
    assert fakes["a"].commands[-1].startswith("rm -rf -- /tmp/tssr-kit.abc")


def test_unreachable_host_is_reported_not_raised():
    def refuse(target):
        raise OSError("connection refused")
    target = Target(name="down", host="down")
    result = runner.run_on_host(runner.Job("demo", Path("demo.sh")), target, False,
                                runner.Progress(io.StringIO()), connector=refuse)
    assert result.status == "unreachable" and "connection refused" in result.note
    assert runner.exit_code([result]) == 1


def test_missing_local_script_is_an_error_before_any_host_is_touched(tmp_path):
    job = runner.Job("demo", tmp_path / "missing.sh")
    try:
        runner.run_job(job, [Target("a", "a")], connector=lambda t: pytest.fail("connected"))
    except FileNotFoundError as exc:
        assert "missing.sh" in str(exc)
    else:
        pytest.fail("no error")


def test_summary_lists_every_host_and_counts_failures():
    ok = runner.HostResult(Target("a", "a"), status="changed", changed=3, seconds=1.25)
    bad = runner.HostResult(Target("b", "b"), status="failed", note="exit 1")
    table = runner.summary([ok, bad])
    assert "a" in table and "changed" in table and "1.2" in table
    assert table.splitlines()[-1] == "2 host(s): 1 succeeded, 1 failed"


def test_files_with_a_sub_folder_get_one_quoted_mkdir_per_folder_before_their_upload(tmp_path):
    local = tmp_path / "x.tmpl"
    local.write_text("x")
    files = {"templates/vhost.conf.tmpl": local, "templates/pool.conf.tmpl": local, "in.csv": local,
             "deep/er/c.txt": local}
    fake = FakeHost(remote_dir="/tmp/tssr kit.abc")
    job = runner.Job("demo", Path(__file__), files=files)
    runner.run_on_host(job, Target("a", "a"), False, runner.Progress(io.StringIO()), connector=lambda t: fake)
    mkdirs = [c for c in fake.commands if c.startswith("mkdir")]
    assert mkdirs == ["mkdir -p -- '/tmp/tssr kit.abc/deep/er'", "mkdir -p -- '/tmp/tssr kit.abc/templates'"]
    assert fake.uploads["/tmp/tssr kit.abc/templates/vhost.conf.tmpl"] == "x.tmpl"
    assert fake.uploads["/tmp/tssr kit.abc/deep/er/c.txt"] == "x.tmpl"
    in_sub_folders = [f"put /tmp/tssr kit.abc/{name}" for name in files if "/" in name]
    first_sub_folder_put = min(fake.commands.index(put) for put in in_sub_folders)
    assert all(fake.commands.index(m) < first_sub_folder_put for m in mkdirs)


def test_files_without_a_sub_folder_need_no_mkdir(tmp_path):
    results, fakes = run_fleet({"a": True})
    assert not [c for c in fakes["a"].commands if c.startswith("mkdir")]


@pytest.mark.parametrize("remote_name", ["../escape.txt", "/etc/passwd", "a/../../b", "templates/", "./x"])
def test_a_remote_name_outside_the_private_folder_is_refused_before_any_host(tmp_path, remote_name):
    local = tmp_path / "f"
    local.write_text("x")
    job = runner.Job("demo", Path(__file__), files={remote_name: local})
    with pytest.raises(ValueError, match="plain relative path"):
        runner.run_job(job, [Target("a", "a")], connector=lambda t: pytest.fail("connected"))


def test_the_note_is_the_first_result_field_set_or_the_jobs_format(tmp_path):
    job = runner.Job("demo", tmp_path / "demo.sh")
    assert job.note({"url": "https://a/", "password_file": "/root/p"}) == "https://a/"
    assert job.note({"error": "bad", "url": "https://a/"}) == "bad"
    assert job.note({}) == ""
    job = runner.Job("demo", tmp_path / "demo.sh", note_keys=("error", "x"), note_format="{x} into {y}")
    assert job.note({"x": 1, "y": "/t"}) == "1 into /t"
    assert job.note({"x": 1}) == "1", "a field the format needs is missing: the first field set"
    assert job.note({"x": 1, "y": "/t", "error": "bad"}) == "bad"
