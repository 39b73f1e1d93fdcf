"""`inv setup-snmp`, `inv setup-logging`, `inv check` and `inv poll` without a host: which files go up,
which arguments the scripts get (never a passphrase), what only this machine can refuse before any
host is contacted (local files, a check's command line), and how check results become rows and an
exit code.

The scripts themselves are tested in containers (tests/containers/test_snmp.py, test_logging.py) and
the tasks end to end on the lab (tests/lab/test_lab_monitoring.py; tests/lab/test_lab_refusals.py
proves that what the scripts refuse changes no host). Here, besides tssrkit.jobs' decisions, three
things run for real: tssrkit/run_checks.py (the wrapper `inv check` uploads) against the real
tssr_check.py on this machine, snmp_poll.py's own refusals, and the runner's root-only handling of
uploaded secrets.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import invlib
import pytest
from fakehost import FakeHost

from tssrkit import bundles, jobs, runner
from tssrkit.hosts import Target
from tssrkit.lab import LabHost

AUTH = "auth-passphrase-Zq81"
PRIV = "priv-passphrase-Xw72"


def write_credentials(folder: Path, mode: int = 0o600, **values: str) -> Path:
    body = {"user": "monitor", "auth_protocol": "sha512", "auth_passphrase": AUTH,
            "priv_protocol": "aes128", "priv_passphrase": PRIV, **values}
    path = folder / "creds.conf"
    path.write_text("# test\n" + "".join(f"{k} = {v}\n" for k, v in body.items() if v is not None))
    path.chmod(mode)
    return path


@pytest.fixture
def creds(tmp_path) -> Path:
    return write_credentials(tmp_path)


def whole_argv(job: runner.Job) -> str:
    """Everything that would appear in `ps` on the host, dry run and real run."""
    return " ".join(job.argv("/tmp/tssr-kit.x", dry_run=True) + job.argv("/tmp/tssr-kit.x", dry_run=False))


# --------------------------------------------------------------------------------------------------
# setup-snmp


def test_setup_snmp_passes_the_credentials_as_an_uploaded_root_only_file(creds):
    job = jobs.snmp.setup(credentials=creds, monitors=["172.19.0.1"])
    assert job.script == jobs.snmp.SCRIPT and job.validate_first
    assert job.files[jobs.snmp.CREDENTIALS_NAME] == creds
    assert list(job.root_only) == [jobs.snmp.CREDENTIALS_NAME]
    assert job.args[:2] == ["--credentials", "{dir}/snmp-credentials.conf"]
    argv = whole_argv(job)
    assert AUTH not in argv and PRIV not in argv, "a passphrase must never be in an argv"
    assert "--monitor 172.19.0.1" in argv


def test_setup_snmp_ships_the_shared_library_and_the_check_script(creds):
    job = jobs.snmp.setup(credentials=creds, monitors=["10.0.0.0/24"])
    assert job.files["lib/common.sh"] == bundles.BASH_LIB / "common.sh"
    assert job.files["lib/firewall.sh"] == bundles.BASH_LIB / "firewall.sh"
    assert job.files["tssr_check.py"] == jobs.checks.CHECK_SCRIPT, "the tssr-backup extend runs tssr_check.py"
    assert jobs.snmp.SCRIPT.name not in job.files, "the runner uploads the script itself"
    job.remote_folders()  # every remote name is a plain relative path


def test_setup_snmp_every_option_becomes_an_argument(tmp_path, creds):
    community = tmp_path / "community"
    community.write_text("s3cret-community\n")
    job = jobs.snmp.setup(credentials=creds, monitors=["192.0.2.10", "2001:db8::/64"], listen=["192.0.2.5"],
                          sys_name="web1", location="Room 12", contact="ops@example.org",
                          views=["ipMIB", "1.3.6.1.2.1.4"], disks=["/:10%", "/var:15%"], load="8,6,4",
                          procs=["sshd:5:1", "cron"], backup_job="web", v2c_community_file=community,
                          v2c_source="192.0.2.0/24")
    assert job.args == [
        "--credentials", "{dir}/snmp-credentials.conf", "--monitor", "192.0.2.10",
        "--monitor", "2001:db8::/64", "--listen", "192.0.2.5", "--sys-name", "web1", "--location", "Room 12",
        "--contact", "ops@example.org",
        "--load", "8,6,4", "--backup-job", "web", "--view", "ipMIB", "--view", "1.3.6.1.2.1.4",
        "--disk", "/:10%", "--disk", "/var:15%", "--proc", "sshd:5:1", "--proc", "cron",
        "--v2c-community-file", "{dir}/snmp-community", "--v2c-source", "192.0.2.0/24"]
    assert set(job.root_only) == {"snmp-credentials.conf", "snmp-community"}
    assert "s3cret-community" not in whole_argv(job)


def test_setup_snmp_leaves_addresses_and_option_pairs_to_the_script(creds):
    """No monitor, a name as monitor, a network to listen on, a v2c source without its community file:
    setup-snmp.sh refuses them on every host before any change (tests/lab/test_lab_refusals.py)."""
    job = jobs.snmp.setup(credentials=creds, listen=["10.0.0.0/24"], v2c_source="10.0.0.0/24",
                          backup_job="Web Site")
    assert job.args == ["--credentials", "{dir}/snmp-credentials.conf", "--listen", "10.0.0.0/24",
                        "--backup-job", "Web Site", "--v2c-source", "10.0.0.0/24"]


def test_a_community_file_that_is_not_there_is_refused_before_any_host(creds):
    with pytest.raises(ValueError, match="--v2c-community-file /nope: no such file"):
        jobs.snmp.setup(credentials=creds, monitors=["10.0.0.1"], v2c_community_file=Path("/nope"))


@pytest.mark.parametrize(("mode", "values", "message"), [
    (0o644, {}, "owned by root \\(or you\\) and mode 0600 or 0400, not 0644"),
    (0o600, {"auth_passphrase": "short"}, "auth_passphrase: at least 8 characters"),
    (0o600, {"user": None}, "user: expected 1-32 letters"),
    (0o600, {"auth_protocol": "md5"}, "auth_protocol: one of sha256, sha512, not 'md5'"),
    (0o600, {"priv_protocol": "des"}, "priv_protocol: one of aes128"),
])
def test_a_bad_credentials_file_is_refused_with_the_pollers_own_reader(tmp_path, mode, values, message):
    """The file is read here, as `inv poll` reads it: only this machine sees who may read it. (A
    passphrase longer than setup-snmp.sh's 64 characters is the script's to refuse, on every host.)"""
    path = write_credentials(tmp_path, mode, **values)
    with pytest.raises(ValueError, match=message):
        jobs.snmp.setup(credentials=path, monitors=["10.0.0.1"])


def test_an_unknown_key_in_the_credentials_file_names_its_line(tmp_path):
    path = write_credentials(tmp_path)
    path.write_text(path.read_text() + "community = public\n")
    with pytest.raises(ValueError, match=r"creds.conf line 7: expected `key = value` with a key among user"):
        jobs.snmp.read_credentials(path)


def test_the_lab_credentials_are_generated_once_root_only_and_valid(tmp_path):
    path = jobs.snmp.ensure_lab_credentials(tmp_path / "lab" / "snmp-credentials.conf")
    assert path.stat().st_mode & 0o777 == 0o600
    values = jobs.snmp.read_credentials(path)
    assert values["user"] == jobs.snmp.LAB_USER
    assert (values["auth_protocol"], values["priv_protocol"]) == ("sha512", "aes128")
    assert values["auth_passphrase"] != values["priv_passphrase"]
    first = path.read_text()
    assert jobs.snmp.ensure_lab_credentials(path).read_text() == first, "kept: the agents were keyed with it"


# --------------------------------------------------------------------------------------------------
# setup-logging


def test_a_logging_client_forwards_to_its_server():
    job = jobs.logging.setup("client", server="central:6514", queue_size=200)
    assert job.script == jobs.logging.SCRIPT and job.validate_first
    assert job.args == ["client", "--server", "central:6514", "--queue-size", "200"]
    assert "lib/common.sh" in job.files and "lib/firewall.sh" in job.files


def test_a_logging_server_takes_its_clients_networks_port_and_folder():
    job = jobs.logging.setup("server", allow=["172.19.0.0/16", "2001:db8::/64"], port=1514,
                             log_dir="/srv/logs", keep_days=90, listen="172.19.0.3")
    assert job.args == ["server", "--allow", "172.19.0.0/16", "--allow", "2001:db8::/64", "--listen",
                        "172.19.0.3", "--port", "1514", "--dir", "/srv/logs", "--keep-days", "90"]


def test_tls_files_go_up_and_the_private_key_is_made_root_only(tmp_path):
    ca, cert, key = (tmp_path / n for n in ("ca.pem", "server.pem", "server.key"))
    for path in (ca, cert, key):
        path.write_text("-----BEGIN-----\n")
    job = jobs.logging.setup("server", allow=["10.0.0.0/8"], tls=True, ca=ca, cert=cert, key=key)
    assert job.args[-7:] == ["--tls", "--ca", "{dir}/tls/ca.pem", "--cert", "{dir}/tls/cert.pem", "--key",
                             "{dir}/tls/key.pem"]
    assert (job.files["tls/ca.pem"], job.files["tls/cert.pem"], job.files["tls/key.pem"]) == (ca, cert, key)
    assert list(job.root_only) == ["tls/key.pem"]
    assert "tls" in job.remote_folders()


@pytest.mark.parametrize("option", ["ca", "cert", "key"])
def test_a_tls_file_that_is_not_there_is_refused_before_any_host(option):
    with pytest.raises(ValueError, match=f"--{option} /nope.pem: no such file"):
        jobs.logging.setup("client", server="central", tls=True, **{option: Path("/nope.pem")})


def test_setup_logging_leaves_the_modes_options_and_values_to_the_script():
    """A server option in client mode, a port of 0, a relative --dir, --tls without --ca: setup-logging.sh
    refuses them on every host before any change (tests/lab/test_lab_refusals.py)."""
    job = jobs.logging.setup("client", allow=["10.0.0.0/40"], port=0, log_dir="logs", tls=True)
    assert job.args == ["client", "--allow", "10.0.0.0/40", "--port", "0", "--dir", "logs", "--tls"]


# --------------------------------------------------------------------------------------------------
# check


def test_check_runs_the_wrapper_with_one_argument_per_check():
    job = jobs.checks.check(["disk --path /var -w 85", "service ssh.service", "load"])
    assert job.script == jobs.checks.RUNNER and tuple(job.interpreter) == ("python3",)
    assert job.files == {"tssr_check.py": jobs.checks.CHECK_SCRIPT}
    assert job.args == ["--script", "{dir}/tssr_check.py", "disk --path /var -w 85", "service ssh.service",
                        "load"]
    assert not job.validate_first, "checks change nothing"


def test_the_backup_check_gets_backup_sh_where_tssr_check_looks_for_it():
    job = jobs.checks.check(["backup --job web"])
    assert job.files["backup.sh"] == jobs.backup.BACKUP_SCRIPT and "lib/common.sh" in job.files
    assert job.files["backup_retention.py"].name == "backup_retention.py", "backup.sh's whole bundle"


@pytest.mark.parametrize(("spec", "message"), [
    ("nope", "invalid choice: 'nope'"),
    ("service", "required: unit"),
    ("http", "required: url"),
    ("disk --path '/var", "No closing quotation"),
    ("disk -w x", "not a threshold range"),
    ("disk --help", "not a check"),
    ("", "required: CHECK"),
])
def test_an_unknown_or_incomplete_check_is_refused_by_tssr_checks_own_parser(spec, message):
    with pytest.raises(ValueError, match=f"--check {re.escape(repr(spec))}: .*{re.escape(message)}"):
        jobs.checks.check([spec])


def run_wrapper_here(job: runner.Job, tmp_path: Path) -> dict:
    """Lay the job out as the runner does on a host, and run it with this machine's python3."""
    shutil.copy(job.script, tmp_path / job.script.name)
    for name, local in job.files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(local, tmp_path / name)
    argv = job.argv(str(tmp_path), dry_run=False)
    argv[0] = sys.executable
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = runner.parse_result(proc.stdout)
    assert result is not None, proc.stdout
    return result


def test_the_wrapper_runs_the_real_checks_and_reports_their_states(tmp_path):
    job = jobs.checks.check(["disk --path / -w 100 -c 100", "disk --path / -w @0:100",
                             "disk --path / -c @0:100", "memory", "disk --path /no/such/folder"])
    result = run_wrapper_here(job, tmp_path)
    assert (result["script"], result["status"], result["changed"]) == ("run_checks.py", "ok", 0)
    states = [(c["check"], c["code"], c["state"]) for c in result["checks"]]
    assert states[:3] == [("disk --path / -w 100 -c 100", 0, "OK"), ("disk --path / -w @0:100", 1, "WARNING"),
                          ("disk --path / -c @0:100", 2, "CRITICAL")]
    assert states[3][2] in ("OK", "WARNING", "CRITICAL")
    assert states[4] == ("disk --path /no/such/folder", 3, "UNKNOWN")
    assert result["checks"][0]["line"].startswith("DISK OK - / ")
    assert "|" in result["checks"][0]["line"], "the status line keeps its perfdata"


def test_the_wrapper_reports_a_check_that_cannot_run_as_unknown(tmp_path):
    job = jobs.checks.check(["load"])
    result = run_wrapper_here(job, tmp_path)
    assert result["checks"][0]["state"] in ("OK", "WARNING", "CRITICAL")
    (tmp_path / "tssr_check.py").write_text("raise SystemExit(7)\n")
    proc = subprocess.run([sys.executable, str(tmp_path / "run_checks.py"), "--script",
                           str(tmp_path / "tssr_check.py"), "load"], capture_output=True, text=True)
    broken = runner.parse_result(proc.stdout)["checks"][0]
    assert (broken["code"], broken["state"], broken["line"]) == (3, "UNKNOWN", "exit 7, no output")


def host_result(name: str, status: str = "ok", checks: list[dict] | None = None, note: str = ""):
    result = {"script": "run_checks.py", "status": status, "changed": 0, "checks": checks or []}
    return runner.HostResult(Target(name, name), status=status, result=result if status == "ok" else {},
                             note=note)


def test_rows_are_one_per_host_and_check_and_the_exit_code_is_the_worst_state():
    results = [
        host_result("web1", checks=[{"check": "disk", "state": "OK", "line": "DISK OK - / 41%"},
                                    {"check": "load", "state": "WARNING", "line": "LOAD WARNING - 4.2"}]),
        host_result("web2", checks=[{"check": "disk", "state": "OK", "line": "DISK OK - / 12%"}]),
    ]
    rows = jobs.checks.rows(results)
    assert rows == [("web1", "disk", "OK", "DISK OK - / 41%"),
                    ("web1", "load", "WARNING", "LOAD WARNING - 4.2"),
                    ("web2", "disk", "OK", "DISK OK - / 12%")]
    assert jobs.checks.exit_code(rows) == 1
    table = jobs.checks.table(rows)
    assert table.splitlines()[0].split() == ["host", "check", "state", "status", "line"]
    assert table.splitlines()[-1] == "3 check(s): 2 OK, 1 WARNING"


def test_an_unreachable_host_is_critical_and_a_host_without_result_unknown():
    rows = jobs.checks.rows([host_result("db1", status="unreachable", note="TimeoutError: timed out"),
                            host_result("db2", status="failed", note="exit 127, no result line")])
    assert rows == [("db1", "-", "CRITICAL", "unreachable: TimeoutError: timed out"),
                    ("db2", "-", "UNKNOWN", "failed: exit 127, no result line")]
    assert jobs.checks.exit_code(rows) == 3
    assert jobs.checks.exit_code(rows[:1]) == 2
    assert jobs.checks.exit_code([]) == 3, "no row at all is not OK"


# --------------------------------------------------------------------------------------------------
# poll


def test_poll_argv_runs_the_poller_here_with_a_credentials_file(creds):
    argv = jobs.poll.argv(["127.0.0.1:32768", "web1"], credentials=creds, fmt="json", timeout=1.5,
                          thresholds={"disk-warning": "70", "load-critical": None})
    assert argv == [sys.executable, str(jobs.poll.POLL_SCRIPT), "--agent", "127.0.0.1:32768",
                    "--agent", "web1", "--format", "json", "--credentials", str(creds), "--timeout", "1.5",
                    "--disk-warning", "70"]
    assert AUTH not in " ".join(argv) and PRIV not in " ".join(argv)


def test_poll_argv_sequential_or_bounded_concurrency():
    assert "--sequential" in jobs.poll.argv(["a"], sequential=True)
    assert jobs.poll.argv(["a"], concurrency=20)[-2:] == ["--concurrency", "20"]


@pytest.mark.parametrize(("kwargs", "code", "message"), [
    ({"agents": []}, 2, "no agent: give --agent"),
    ({"agents": ["a"], "fmt": "xml"}, 2, "argument --format: invalid choice: 'xml'"),
    ({"agents": ["a"], "sequential": True, "concurrency": 5}, 2, "not allowed with argument"),
    ({"agents": ["a"], "concurrency": "many"}, 2, "expected a number from 1 to 256, got 'many'"),
    ({"agents": ["a"], "thresholds": {"disk-warning": "lots"}}, 2, "not a threshold range"),
    ({"agents": ["a"], "fmt": "nagios", "timeout": "0"}, 3, "SNMP UNKNOWN - usage:"),
])
def test_the_poller_refuses_its_bad_command_lines_itself(creds, kwargs, code, message):
    """Nothing is checked in tssrkit.jobs.poll: snmp_poll.py refuses, with its own exit code."""
    proc = subprocess.run(jobs.poll.argv(credentials=creds, **kwargs), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert message in proc.stdout + proc.stderr


def test_the_lab_agents_are_the_published_snmp_ports_on_localhost():
    hosts = [LabHost("tssr-lab1", "running", "debian12", {"ssh": 32770, "snmp": 32768}),
             LabHost("tssr-lab2", "running", "debian12", {"ssh": 32773, "snmp": 32769}),
             LabHost("tssr-lab3", "exited", "debian12", {})]
    assert jobs.poll.lab_agents(hosts) == ["127.0.0.1:32768", "127.0.0.1:32769"]


def test_a_lab_host_of_an_older_lab_without_161_udp_is_named_with_the_fix():
    hosts = [LabHost("tssr-lab1", "running", "debian12", {"ssh": 32770})]
    with pytest.raises(ValueError, match=r"tssr-lab1 does not publish 161/udp.*inv lab.down && inv lab.up"):
        jobs.poll.lab_agents(hosts)
    with pytest.raises(ValueError, match="no lab host is running"):
        jobs.poll.lab_agents([])


def test_the_poller_really_refuses_the_credentials_file_when_others_can_read_it(tmp_path):
    """The file `inv poll` passes is read by snmp_poll.py itself: the same mode rule there."""
    path = write_credentials(tmp_path)
    argv = jobs.poll.argv(["127.0.0.1:9"], credentials=path, fmt="json", timeout=0.2, retries=0)
    path.chmod(0o644)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert AUTH not in proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------------------
# the runner: root-only secrets


@pytest.mark.parametrize(("user", "sudo"), [("tssr", "sudo -n "), ("root", "")])
def test_the_runner_makes_secret_files_root_only_before_the_script_runs(tmp_path, creds, user, sudo):
    stand_in = tmp_path / "setup-snmp.sh"    # the runner checks that the script exists: any file will do
    stand_in.write_text("#!/bin/bash\n")
    job = dataclasses.replace(jobs.snmp.setup(credentials=creds, monitors=["10.0.0.1"]), script=stand_in)
    host = FakeHost(user=user)
    [result] = runner.run_job(job, [Target("h", "h")], progress=runner.Progress(io.StringIO()),
                              connector=lambda t: host)
    assert result.status == "ok", result
    secret = "/tmp/tssr-kit.abc/snmp-credentials.conf"
    chown = f"{sudo}chown 0:0 -- {secret} && {sudo}chmod 0600 -- {secret}"
    order = host.commands
    assert chown in order
    assert order.index(f"put {secret}") < order.index(chown)
    script = next(i for i, c in enumerate(order) if "setup-snmp.sh" in c and not c.startswith("put"))
    assert order.index(chown) < script
    assert order[-1].startswith("rm -rf"), "the private folder, secret included, is removed"


def test_a_root_only_name_that_is_not_uploaded_is_a_bug_caught_before_any_host(tmp_path):
    job = runner.Job("demo", Path(__file__), root_only=["secret.conf"])
    with pytest.raises(ValueError, match="root-only 'secret.conf'"):
        runner.run_job(job, [Target("h", "h")], progress=runner.Progress(io.StringIO()),
                       connector=lambda t: pytest.fail("no host may be contacted"))



# --------------------------------------------------------------------------------------------------
# the tasks themselves (`inv …` as typed): bad input stops before any host; `inv poll` runs the poller

def inv(*args: str) -> subprocess.CompletedProcess:
    """`inv` with a lab name no lab has: a task that would start one is a bug of the test."""
    return invlib.inv(*args, timeout=120, TSSR_LAB="tssr-unit-none")


@pytest.mark.parametrize(("args", "code", "message"), [
    (("setup-snmp", "--hosts", "web1.invalid"), 2, "--credentials FILE is required"),
    (("setup-snmp", "--hosts", "web1.invalid", "--credentials", "{creds}.missing"), 2, "cannot read"),
    (("setup-snmp", "--hosts", "web1.invalid", "--credentials", "{creds}", "--v2c-community-file", "/nope",
      "--v2c-source", "10.0.0.0/8"), 2, "--v2c-community-file /nope: no such file"),
    (("setup-logging", "relay", "--hosts", "web1.invalid"), 2, "expected client, server or lab"),
    (("setup-logging", "lab", "--hosts", "web1.invalid"), 2, "mode lab is the lab's default"),
    (("setup-logging", "server", "--hosts", "web1.invalid", "--allow", "10.0.0.0/8", "--tls", "--ca",
      "/nope.pem"), 2, "--ca /nope.pem: no such file"),
    (("check", "--hosts", "web1.invalid", "--check", "uptime"), 3, "--check 'uptime'"),
    (("check", "--hosts", "bad host"), 3, "bad host 'bad host'"),
    (("poll", "--agent", "127.0.0.1:9", "--format", "xml"), 2, "invalid choice: 'xml'"),
])
def test_a_task_refuses_bad_input_before_contacting_any_host(creds, args, code, message):
    proc = inv(*(a.replace("{creds}", str(creds)) for a in args))
    assert (proc.returncode, proc.stdout) == (code, ""), proc.stderr
    assert message in proc.stderr
    assert "started" not in proc.stderr and "checking" not in proc.stderr, "no host may be contacted"
    assert "starting the local lab" not in proc.stderr, "nor a lab started for input that is refused"


def test_inv_poll_answers_a_bad_command_line_as_a_plugin_in_nagios_format(creds):
    proc = inv("poll", "--agent", "127.0.0.1:9", "--format", "nagios", "--sequential", "--concurrency", "2")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert proc.stdout.startswith("SNMP UNKNOWN - usage: argument --concurrency: not allowed with argument")


def test_inv_poll_runs_the_poller_and_exits_with_its_code(creds):
    """A port where nothing answers: the agent is CRITICAL, as a row and as the plugin's exit code."""
    table = inv("poll", "--agent", "127.0.0.1:9", "--credentials", str(creds), "--timeout", "0.3",
                "--retries", "0")
    assert table.returncode == 1, table.stdout + table.stderr
    assert re.search(r"^127\.0\.0\.1:9\s+CRITICAL\s", table.stdout, re.MULTILINE), table.stdout
    nagios = inv("poll", "--agent", "127.0.0.1:9", "--credentials", str(creds), "--timeout", "0.3",
                 "--retries", "0", "--format", "nagios")
    assert nagios.returncode == 2 and nagios.stdout.startswith("SNMP CRITICAL - "), nagios.stdout
    assert AUTH not in table.stdout + table.stderr + nagios.stdout + nagios.stderr


def test_inv_poll_without_a_lab_says_how_to_get_one():
    proc = inv("poll")
    assert proc.returncode == 2
    assert "no lab host is running: `inv lab.up`, then `inv setup-snmp`" in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="not run: backup.sh status runs as root only")
def test_the_backup_check_reads_backup_sh_status_run_with_bash(tmp_path):
    """tssr_check.py runs `bash backup.sh status` (the upload folder may be noexec) with the backup.sh
    uploaded beside it: an empty repository is CRITICAL, a bad --dest is backup.sh's own usage error."""
    box = tmp_path / "box"
    box.mkdir()
    job = jobs.checks.check([f"backup --job web --dest {tmp_path / 'repo'}",
                             "backup --job web --dest relative"])
    result = run_wrapper_here(job, box)
    empty, bad = result["checks"]
    expected = f"BACKUP CRITICAL - no complete backup set of job web in {tmp_path / 'repo'} | sets=0;;;0"
    assert (empty["state"], empty["line"]) == ("CRITICAL", expected)
    assert bad["state"] == "UNKNOWN"
    assert bad["line"].startswith("BACKUP UNKNOWN - backup.sh status failed (exit 2)"), bad
