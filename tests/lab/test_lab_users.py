"""The local lab and the fleet runner, end to end: `inv` drives real containers over SSH.

A separate lab (TSSR_LAB=tssr-t) is used so that the tests never touch the lab you practise on.
Everything goes through the same commands a technician types: `inv lab.up`, `inv provision-users`,
and the Testinfra host-state tests over SSH.
"""

from __future__ import annotations

import subprocess
import uuid

import pytest
from lablib import HOSTS, SAMPLE_CSV, SSH_CONFIG, host_state_tests, inv, on, summary_row

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("lab")]


def has_user(host: str, login: str) -> bool:
    return on(host, "getent", "passwd", login).returncode == 0


@pytest.fixture(scope="module")
def lab():
    proc = inv("lab.up", "--count", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield HOSTS
    inv("lab.down")


def test_lab_hosts_answer_over_ssh_and_sudo_works(lab):
    for host in lab:
        proc = subprocess.run(["ssh", "-F", str(SSH_CONFIG), host, "sudo", "-n", "id", "-u"],
                              capture_output=True, text=True, timeout=60)
        assert (proc.returncode, proc.stdout.strip()) == (0, "0"), proc.stderr


def test_lab_status_lists_ports_published_on_loopback_only(lab):
    proc = inv("lab.status")
    assert proc.returncode == 0
    for host in lab:
        row = summary_row(proc.stdout, host)
        assert row[1] == "running"
        assert all(cell.startswith("127.0.0.1:") for cell in row[3:6]) and len(row) == 6, row


def test_lab_hosts_boot_systemd_and_run_sshd(lab):
    for host in lab:
        assert on(host, "systemctl", "is-system-running").stdout.strip() in ("running", "degraded")
        assert on(host, "systemctl", "is-active", "ssh").stdout.strip() == "active"


def test_provisioning_two_hosts_changes_each_and_prints_a_summary(lab):
    proc = inv("provision-users", "--hosts", ",".join(lab), "--csv", str(SAMPLE_CSV))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for host in lab:
        assert summary_row(proc.stdout, host)[1] == "changed"
    assert "2 host(s): 2 succeeded, 0 failed" in proc.stdout


def test_host_state_matches_the_csv_on_every_lab_host(lab):
    """The Testinfra host-state tests, over SSH, exactly as against a real server."""
    proc = host_state_tests("test_users.py", lab, TSSR_USERS_CSV=str(SAMPLE_CSV))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout


def test_second_run_reports_no_change_on_any_host(lab):
    proc = inv("provision-users", "--hosts", ",".join(lab), "--csv", str(SAMPLE_CSV))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for host in lab:
        assert summary_row(proc.stdout, host)[1:3] == ["ok", "0"]


def test_python_implementation_finds_nothing_to_change_after_bash(lab):
    proc = inv("provision-users", "--hosts", ",".join(lab), "--csv", str(SAMPLE_CSV), "--impl", "python")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for host in lab:
        assert summary_row(proc.stdout, host)[1:3] == ["ok", "0"]


def test_without_hosts_the_running_lab_is_the_target(lab):
    proc = inv("provision-users", "--dry-run", "--csv", str(SAMPLE_CSV))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for host in lab:
        assert summary_row(proc.stdout, host)[1:3] == ["ok", "0"]


def test_inventory_file_serves_the_same_fleet(lab, tmp_path):
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[lab]\n" + "\n".join(lab) + "\n")
    proc = inv("provision-users", "--inventory", str(inventory), "--csv", str(SAMPLE_CSV), "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 host(s): 2 succeeded" in proc.stdout


def test_dry_run_reports_the_plan_and_creates_nobody(lab, tmp_path):
    login = f"dry{uuid.uuid4().hex[:6]}"
    csv = tmp_path / "new.csv"
    csv.write_text(f"login;first_name;last_name\n{login};Dry;Run\n")
    proc = inv("provision-users", "--hosts", lab[0], "--csv", str(csv), "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary_row(proc.stdout, lab[0])[1:3] == ["changed", "1"]
    assert not has_user(lab[0], login)


def test_input_rejected_by_one_host_changes_no_host(lab, tmp_path):
    """Host checks differ per host (here /etc/shells): validation runs everywhere before any change."""
    shell = "/usr/local/bin/tssr-only-on-one-host"
    assert on(lab[0], "sh", "-c", f"echo {shell} >> /etc/shells").returncode == 0
    login = f"val{uuid.uuid4().hex[:6]}"
    csv = tmp_path / "shell.csv"
    csv.write_text(f"login,first_name,last_name,shell\n{login},Val,Idation,{shell}\n")
    proc = inv("provision-users", "--hosts", ",".join(lab), "--csv", str(csv))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert summary_row(proc.stdout, lab[0])[1] == "not run"
    assert summary_row(proc.stdout, lab[1])[1] == "failed"
    assert ":2:shell:" in proc.stderr
    assert not any(has_user(h, login) for h in lab)


def test_bad_csv_is_refused_on_the_fleet_with_line_and_field(lab, tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("login;first_name;last_name\nok1;Ok;One\nBad$(id);Evil;Row\n")
    proc = inv("provision-users", "--hosts", ",".join(lab), "--csv", str(csv))
    assert proc.returncode == 2
    assert ":3:login:" in proc.stderr
    assert not any(has_user(h, "ok1") for h in lab)


def test_an_unreachable_host_fails_the_run_and_nothing_changes(lab, tmp_path):
    login = f"unr{uuid.uuid4().hex[:6]}"
    csv = tmp_path / "new.csv"
    csv.write_text(f"login;first_name;last_name\n{login};Un;Reachable\n")
    proc = inv("provision-users", "--hosts", f"{lab[0]},tssr@127.0.0.1:1", "--csv", str(csv))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert summary_row(proc.stdout, "tssr@127.0.0.1:1")[1] == "unreachable"
    assert not has_user(lab[0], login)


def test_accounts_from_yaml_go_through_the_roles_template(lab, tmp_path):
    login = f"yml{uuid.uuid4().hex[:6]}"
    accounts = tmp_path / "accounts.yml"
    accounts.write_text(f"users_accounts:\n  - {{login: {login}, first_name: Yann, last_name: Le Gall}}\n")
    proc = inv("provision-users", "--hosts", lab[0], "--accounts", str(accounts))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert on(lab[0], "getent", "passwd", login).stdout.split(":")[4] == "Yann Le Gall"


def test_missing_csv_is_a_usage_error(lab):
    proc = inv("provision-users", "--hosts", lab[0], "--csv", "/nonexistent.csv")
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_a_privileged_group_in_the_csv_is_refused_on_the_fleet_unless_allowed(lab, tmp_path):
    login = f"adm{uuid.uuid4().hex[:6]}"
    csv = tmp_path / "admins.csv"
    csv.write_text(f"login;first_name;last_name;groups\n{login};Ad;Min;sudo\n")
    proc = inv("provision-users", "--hosts", ",".join(lab), "--csv", str(csv))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert ":2:groups: 'sudo' is a privileged group" in proc.stderr
    assert not any(has_user(h, login) for h in lab)
    proc = inv("provision-users", "--hosts", lab[0], "--csv", str(csv), "--allow-group", "sudo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert login in on(lab[0], "getent", "group", "sudo").stdout


def test_a_lab_host_reached_by_its_address_is_an_unknown_host_and_refused(lab, tmp_path):
    """Outside the lab's own names, the operator's known_hosts applies: an empty one knows no host."""
    port = next(line.split()[1] for line in SSH_CONFIG.read_text().splitlines()
                if line.strip().startswith("Port"))
    (tmp_path / ".ssh").mkdir()
    proc = inv("check", "--hosts", f"tssr@127.0.0.1:{port}", HOME=str(tmp_path))
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "unknown host key" in proc.stdout + proc.stderr
    assert not (tmp_path / ".ssh" / "known_hosts").exists()
