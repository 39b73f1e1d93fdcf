"""Unit tests of scripts/python/tssr_check.py, the checks in monitoring-plugins form.

The disk, memory and load checks read THIS machine and are compared with what `df`, /proc/meminfo and
/proc/loadavg say (read here independently). The HTTP check talks to a real local HTTPS server whose
certificate the `openssl` CLI makes in a temporary folder. The backup check runs the real backup.sh
`status` against a repository made in a temporary folder (as root, which backup.sh requires). The
service check needs systemd as PID 1: it is tested in booted containers (tests/containers/test_checks.py);
here only its input validation, and that without systemd it answers UNKNOWN rather than crashing.
"""

from __future__ import annotations

import datetime
import http.server
import importlib.util
import math
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tssrkit.paths import REPO

SCRIPT = REPO / "scripts" / "python" / "tssr_check.py"
BACKUP = REPO / "scripts" / "bash" / "backup" / "backup.sh"
PERF_ITEM = re.compile(r"^('([^']|'')+'|[^\s'=]+)=-?[\d.]+(s|%|B|KB|MB|TB|c)?(;[^;\s]*){0,4}$")


def _load():
    spec = importlib.util.spec_from_file_location("tssr_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tc = _load()


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          env=env, check=False)


def assert_plugin_line(out: str, name: str) -> tuple[str, str, list[str]]:
    """ONE line, `NAME STATE - text | perfdata`, every perfdata item in the guidelines' form."""
    lines = out.splitlines()
    assert len(lines) == 1, f"one status line expected, got {out!r}"
    match = re.match(rf"^{name} (OK|WARNING|CRITICAL|UNKNOWN) - ([^|]+?)(?: \| (.*))?$", lines[0])
    assert match, lines[0]
    perfdata = re.findall(r"'(?:[^']|'')+'=\S+|\S+", match[3] or "")
    for item in perfdata:
        assert PERF_ITEM.match(item), f"perfdata item {item!r} is not label=value[UOM];warn;crit;min;max"
    return match[1], match[2], perfdata


# --------------------------------------------------------------------------------------------------
# ranges


@pytest.mark.parametrize(("spec", "alerting", "quiet"), [
    ("10", [-0.1, 10.1, 11], [0, 5, 10]),
    ("10:", [9.99, -1], [10, 11, 1e9]),
    ("~:10", [10.01, 50], [-1e9, -1, 10]),
    ("10:20", [9, 21], [10, 15, 20]),
    ("@10:20", [10, 15, 20], [9, 21]),
    ("@10", [0, 10], [-1, 11]),
    ("-5:-1", [0, -6], [-5, -1]),
    ("0.5", [0.51], [0, 0.5]),
])
def test_a_range_alerts_outside_its_ends_or_inside_with_an_at_sign(spec, alerting, quiet):
    r = tc.Range.parse(spec)
    assert [v for v in alerting if not r.alerts(v)] == []
    assert [v for v in quiet if r.alerts(v)] == []


def test_the_ends_of_a_range_are_what_the_guidelines_say():
    assert tc.Range.parse("10") == tc.Range(0, 10, False, "10")
    assert tc.Range.parse("10:").end == math.inf
    assert tc.Range.parse("~:10").start == -math.inf
    assert tc.Range.parse("@~:3").inside


@pytest.mark.parametrize("spec", ["", "abc", "@", ":", "10:5", "1:2:3", "10%", "~", "--1", "1e3"])
def test_a_malformed_range_is_refused(spec):
    with pytest.raises(tc.UsageError):
        tc.Range.parse(spec)


def test_critical_wins_over_warning():
    assert tc.state_of(95, tc.Range.parse("80"), tc.Range.parse("90")) == tc.CRITICAL
    assert tc.state_of(85, tc.Range.parse("80"), tc.Range.parse("90")) == tc.WARNING
    assert tc.state_of(80, tc.Range.parse("80"), tc.Range.parse("90")) == tc.OK, "the ends are inclusive"
    assert tc.state_of(80, None, None) == tc.OK


def test_hours_become_seconds_in_the_perfdata_thresholds():
    assert str(tc.Range.parse("26").scaled(3600)) == "93600"
    assert str(tc.Range.parse("2:").scaled(3600)) == "7200:"
    assert str(tc.Range.parse("@1:2").scaled(3600)) == "@3600:7200"


# --------------------------------------------------------------------------------------------------
# perfdata and the status line


def test_perfdata_drops_trailing_empty_fields_and_keeps_inner_ones():
    assert str(tc.Perf("time", 0.0123, "s", None, None, 0)) == "time=0.012s;;;0"
    assert str(tc.Perf("/", 41.2, "%", tc.Range.parse("80"), tc.Range.parse("90"), 0, 100)) == \
        "/=41.2%;80;90;0;100"
    assert str(tc.Perf("sets", 3)) == "sets=3"


def test_a_label_with_spaces_or_quotes_is_quoted():
    assert str(tc.Perf("C:\\ Label", 1)) == "'C:\\ Label'=1"
    assert str(tc.Perf("it's", 1)) == "'it''s'=1"


def test_a_pipe_in_the_text_cannot_start_the_perfdata():
    line = tc.Result("HTTP", tc.OK, "a|b", [tc.Perf("x", 1)]).line()
    assert line == "HTTP OK - a/b | x=1"


# --------------------------------------------------------------------------------------------------
# disk, memory, load: this machine


def test_disk_of_root_matches_df():
    result = run("disk", "--path", "/")
    state, text, perfdata = assert_plugin_line(result.stdout, "DISK")
    percent = float(re.search(r"/ ([\d.]+)% used", text)[1])
    df = subprocess.run(["df", "--output=pcent", "/"], capture_output=True, text=True, check=True)
    df_percent = int(df.stdout.split()[-1].rstrip("%"))   # df rounds up
    assert df_percent - 1 <= percent <= df_percent
    expected = tc.OK if percent <= 80 else tc.WARNING if percent <= 90 else tc.CRITICAL
    assert result.returncode == expected and state == tc.STATE_NAMES[expected]
    assert perfdata[0].startswith("/=") and perfdata[0].endswith("%;80;90;0;100")


def test_disk_thresholds_decide_the_exit_code():
    assert run("disk", "-w", "@0:100").returncode == 1, "a used percentage is always within 0..100"
    assert run("disk", "-w", "@0:100", "-c", "@0:100").returncode == 2
    assert run("disk", "-w", "100", "-c", "100").returncode == 0


def test_disk_of_a_missing_path_is_unknown():
    result = run("disk", "--path", "/no/such/path")
    assert result.returncode == 3
    assert assert_plugin_line(result.stdout, "DISK")[0] == "UNKNOWN"


def test_memory_matches_proc_meminfo():
    result = run("memory", "-w", "100", "-c", "100")
    assert result.returncode == 0
    _, text, perfdata = assert_plugin_line(result.stdout, "MEMORY")
    info = {line.split(":")[0]: int(line.split()[1]) * 1024
            for line in Path("/proc/meminfo").read_text().splitlines()}
    total = int(re.search(r"used_bytes=\d+B;;;0;(\d+)", " ".join(perfdata))[1])
    assert total == info["MemTotal"]
    used_percent = float(re.search(r"^([\d.]+)% of memory used", text)[1])
    expected = 100 * (info["MemTotal"] - info["MemAvailable"]) / info["MemTotal"]
    assert abs(used_percent - expected) < 2, "MemAvailable moves a little between the two reads"


def test_memory_from_a_meminfo_without_memavailable_is_unknown(tmp_path):
    old = tmp_path / "meminfo"
    old.write_text("MemTotal:        1000 kB\nMemFree:          500 kB\n")
    with pytest.raises(tc.CheckError, match="MemAvailable"):
        tc.check_memory(None, None, old)


def test_load_matches_proc_loadavg():
    result = run("load", "-w", "1000", "-c", "1000")
    assert result.returncode == 0
    _, _, perfdata = assert_plugin_line(result.stdout, "LOAD")
    ours = [float(p.split("=")[1].split(";")[0]) for p in perfdata]
    proc = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    assert [p.split("=")[0] for p in perfdata] == ["load1", "load5", "load15"]
    assert all(abs(a - b) < 1.0 for a, b in zip(ours, proc, strict=True)), (ours, proc)


def test_load_takes_one_range_or_three():
    result = tc.check_load(tc.parse_triple("4,3,2"), tc.parse_triple("6,5,4"), loads=(4.5, 1, 1), cpus=2)
    assert result.state == tc.WARNING
    assert [str(p) for p in result.perfdata] == ["load1=4.5;4;6;0", "load5=1;3;5;0", "load15=1;2;4;0"]
    per_cpu = tc.check_load(tc.parse_triple("1"), tc.parse_triple("2"), True, loads=(4.5, 1, 1), cpus=2)
    assert per_cpu.state == tc.CRITICAL and "per CPU (2 CPUs) 2.25" in per_cpu.text
    with pytest.raises(tc.UsageError):
        tc.parse_triple("1,2")


# --------------------------------------------------------------------------------------------------
# service


def test_a_bad_unit_name_is_a_usage_error():
    result = run("service", "a unit; rm -rf /")
    assert result.returncode == 3 and "not a systemd unit name" in result.stdout


@pytest.mark.skipif(Path("/run/systemd/system").is_dir(), reason="systemd runs here: the real answer varies")
def test_without_systemd_the_service_check_is_unknown_not_a_crash():
    if not shutil.which("systemctl"):
        pytest.skip("no systemctl here")
    result = run("service", "cron.service")
    assert result.returncode == 3
    assert assert_plugin_line(result.stdout, "SERVICE")[0] == "UNKNOWN"


# --------------------------------------------------------------------------------------------------
# http: a real local server, a certificate made by openssl


def make_cert(folder: Path, days: int) -> tuple[Path, Path]:
    key, cert = folder / f"key{days}.pem", folder / f"cert{days}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", str(days), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return key, cert


CA_CONFIG = """[ca]
default_ca = tssr
[tssr]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
copy_extensions = copy
[any]
commonName = supplied
"""


def make_expired_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate valid in January 2020 only: `openssl ca -selfsign` takes start and end dates."""
    ca = folder / "expired"
    ca.mkdir()
    (ca / "ca.cnf").write_text(CA_CONFIG)
    (ca / "index.txt").write_text("")
    (ca / "serial").write_text("01\n")
    key, cert = ca / "key.pem", ca / "cert.pem"
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(ca / "req.csr"), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    subprocess.run(["openssl", "ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile", str(key),
                    "-in", "req.csr", "-out", str(cert), "-notext",
                    "-startdate", "20200101000000Z", "-enddate", "20200201000000Z"],
                   check=True, capture_output=True, cwd=ca)
    return key, cert


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the name http.server calls
        code = 404 if self.path == "/missing" else 200
        body = b"hello\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def https_servers(tmp_path_factory):
    """HTTPS servers on 127.0.0.1 with certificates valid 400 days, 20 days, expired; and plain HTTP."""
    if not shutil.which("openssl"):
        pytest.skip("the openssl CLI is needed to make the test certificate")
    folder = tmp_path_factory.mktemp("certs")
    servers, urls = [], {}
    for days in (400, 20, "expired", None):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if days:
            key, cert = make_expired_cert(folder) if days == "expired" else make_cert(folder, days)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            server.socket = context.wrap_socket(server.socket, server_side=True)
            urls[days] = (f"https://127.0.0.1:{server.server_address[1]}", cert)
        else:
            urls["http"] = (f"http://127.0.0.1:{server.server_address[1]}", None)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield urls
    for server in servers:
        server.shutdown()
        server.server_close()


def test_https_with_a_trusted_certificate_reports_status_time_and_days_left(https_servers):
    url, cert = https_servers[400]
    result = run("http", url + "/", "--cafile", str(cert), "-w", "5", "-c", "10")
    assert result.returncode == 0, result.stdout
    _, text, perfdata = assert_plugin_line(result.stdout, "HTTP")
    assert text.startswith("200 OK in ")
    assert "certificate expires in 399 days" in text or "certificate expires in 400 days" in text
    assert perfdata[0].startswith("time=") and perfdata[0].endswith("s;5;10;0")
    assert perfdata[1] == "size=6B;;;0"
    assert re.fullmatch(r"cert_days=(399|400);30:;14:", perfdata[2])


def test_a_certificate_close_to_its_end_warns(https_servers):
    url, cert = https_servers[20]
    result = run("http", url, "--cafile", str(cert))
    assert result.returncode == 1, result.stdout
    assert run("http", url, "--cafile", str(cert), "--cert-critical", "25").returncode == 2


def test_an_expired_certificate_is_critical(https_servers):
    url, cert = https_servers["expired"]
    result = run("http", url, "--cafile", str(cert))
    assert result.returncode == 2
    assert "certificate not trusted: certificate has expired" in result.stdout


def test_an_untrusted_certificate_is_critical_and_insecure_skips_the_check(https_servers):
    url, _ = https_servers[400]
    result = run("http", url)
    assert result.returncode == 2 and "certificate not trusted" in result.stdout
    insecure = run("http", url, "--insecure")
    assert insecure.returncode == 0 and "cert_days" not in insecure.stdout


def test_an_unexpected_status_is_critical_unless_expected(https_servers):
    url, _ = https_servers["http"]
    assert run("http", url + "/missing").returncode == 2
    assert run("http", url + "/missing", "--expect", "404").returncode == 0
    assert run("http", url + "/", "--expect", "301").returncode == 2


def test_a_slow_answer_trips_the_time_thresholds(https_servers):
    url, _ = https_servers["http"]
    assert run("http", url, "-w", "0.000001").returncode == 1
    assert run("http", url, "-w", "0.000001", "-c", "0.000001").returncode == 2


def test_a_server_that_never_answers_times_out_as_critical():
    with socket.socket() as silent:   # the kernel accepts the connection, nobody ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        result = run("http", f"http://127.0.0.1:{silent.getsockname()[1]}/", "-t", "1")
    assert result.returncode == 2 and "no answer in 1s" in result.stdout


def test_a_closed_port_is_critical():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run("http", f"http://127.0.0.1:{port}/")
    assert result.returncode == 2 and "refused" in result.stdout


@pytest.mark.parametrize("url", ["ftp://host/", "not a url", "http://", "http://host:99999/"])
def test_a_bad_url_is_a_usage_error(url):
    assert run("http", url).returncode == 3


# --------------------------------------------------------------------------------------------------
# backup: the real backup.sh status


def make_set(repo: Path, job: str, hours_ago: float) -> str:
    when = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=hours_ago)
    name = f"{job}-{when:%Y%m%dT%H%M%SZ}"
    folder = repo / job / name
    folder.mkdir(parents=True)
    (folder / "backup.json").write_text("{}\n")
    (folder / "SHA256SUMS").write_text("")
    return name


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="backup.sh status runs as root only")


@needs_root
def test_a_fresh_backup_is_ok_and_the_age_comes_from_backup_sh(tmp_path):
    name = make_set(tmp_path, "web", hours_ago=2)
    result = run("backup", "--job", "web", "--dest", str(tmp_path), "--backup-script", str(BACKUP))
    assert result.returncode == 0, result.stdout + result.stderr
    _, text, perfdata = assert_plugin_line(result.stdout, "BACKUP")
    assert text.startswith(f"last good backup {name} is 2h")
    assert re.fullmatch(r"age=72\d\ds;93600;180000;0", perfdata[0])
    assert perfdata[1] == "sets=1;;;0"


@needs_root
def test_an_old_backup_warns_then_goes_critical(tmp_path):
    make_set(tmp_path, "web", hours_ago=30)
    args = ["backup", "--job", "web", "--dest", str(tmp_path)]
    assert run(*args).returncode == 1, "backup.sh is found in ../bash/backup/ of the repository"
    assert run(*args, "-c", "29").returncode == 2


@needs_root
def test_a_job_without_a_set_is_critical(tmp_path):
    (tmp_path / "web").mkdir()
    result = run("backup", "--job", "web", "--dest", str(tmp_path))
    assert result.returncode == 2 and "no complete backup set" in result.stdout


def test_a_saved_status_line_is_read_instead_of_running_backup_sh(tmp_path):
    saved = tmp_path / "status.json"
    saved.write_text('narration\n{"script": "backup.sh", "status": "ok", "changed": 0, "command": "status", '
                     '"job": "web", "dest": "/var/backups/tssr-kit", "last_good": "web-20261129T021500Z", '
                     '"last_good_time": "2026-11-29T02:15:00Z", "age_seconds": 190000, "sets": 4}\n')
    result = run("backup", "--status-file", str(saved))
    assert result.returncode == 2
    assert result.stdout.startswith("BACKUP CRITICAL - last good backup web-20261129T021500Z is 52h46m old")


def test_a_status_file_that_is_not_backup_status_is_unknown(tmp_path):
    saved = tmp_path / "status.json"
    saved.write_text('{"script": "backup.sh", "command": "run"}\n')
    assert run("backup", "--status-file", str(saved)).returncode == 3
    saved.write_text("garbage\n")
    assert run("backup", "--status-file", str(saved)).returncode == 3


def test_a_missing_backup_script_is_unknown(tmp_path):
    result = run("backup", "--backup-script", str(tmp_path / "nope.sh"))
    assert result.returncode == 3 and "backup.sh not found" in result.stdout


# --------------------------------------------------------------------------------------------------
# usage


@pytest.mark.parametrize("args", [[], ["nonsense"], ["disk", "--bogus"], ["disk", "-w", "x"],
                                  ["load", "-w", "1,2"], ["http", "http://h/", "--expect", "700"],
                                  ["disk", "-t", "0"]])
def test_bad_input_is_unknown_never_critical(args):
    result = run(*args)
    assert result.returncode == 3
    assert "UNKNOWN - usage:" in result.stdout and len(result.stdout.splitlines()) == 1


def test_help_prints_the_module_docstring():
    result = run("--help")
    assert result.returncode == 0
    assert "Why Python and not Bash" in result.stdout and "@N:M" in result.stdout
