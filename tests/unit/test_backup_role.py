"""roles/backup without a host: the script it runs, the arguments it gives it (rendered by Ansible's own
templating), the script's options and exit codes it relies on, its documented variables, its playbook
and its Molecule scenario.

The role runs scripts/bash/backup/backup.sh with the shared scripts/bash/lib and
scripts/python/backup_retention.py (one source) through roles/tssr_script; its variables are documented
once (meta/argument_specs.yml, Ansible's validation), with their defaults in defaults/main.yml and the
README's table generated from the spec: they must agree.
"""

from __future__ import annotations

import pytest
import rolelib
from rolelib import load

from tssrkit.paths import REPO, SCRIPTS

ROLE = REPO / "roles" / "backup"
SCRIPT = SCRIPTS / "bash" / "backup" / "backup.sh"
SCENARIO = REPO / "molecule" / "backup"


def argument_options() -> dict:
    return rolelib.argument_options(ROLE)


CALLS = rolelib.tssr_script_calls(ROLE)


def calls(check_mode: bool = False, **variables) -> list[dict]:
    """The role's three calls of tssr_script (install, status, first backup), rendered. The passphrase's
    copy is registered even when skipped (no passphrase), as in a play."""
    variables = {"__backup_key_copy": {"changed": False, "skipped": True}, **variables}
    return [rolelib.rendered_call(ROLE, call, ansible_check_mode=check_mode, **variables) for call in CALLS]


@pytest.mark.parametrize(("folder", "files"), [
    ("bash/backup", ["backup.sh", "restore.sh", "templates/tssr-backup@.service.tmpl",
                     "templates/tssr-backup@.timer.tmpl"]),
    ("bash/lib", ["common.sh"]),
    ("python", ["backup_retention.py"]),
])
def test_the_role_ships_the_scripts_through_relative_links(folder, files):
    # The scripts come from scripts/ through tssr_script's one relative link.
    assert {call["tssr_script_file"] for call in calls()} == {"bash/backup/backup.sh"}
    for name in files:
        assert (rolelib.SHARED / "files" / "scripts" / folder / name).is_file(), name


def test_the_scripts_are_packed_as_backup_sh_expects_them():
    # backup.sh looks lib/ and backup_retention.py up beside itself, restore.sh and templates/ too:
    # scripts/bundles.yml says so for inv and Ansible (tssr_script packs what it says).
    assert load(SCRIPTS / "bundles.yml")["backup.sh"] == ["python/backup_retention.py"]
    assert (SCRIPTS / "bash" / "backup" / "restore.sh").is_file()


def test_the_spec_variables_are_all_there():
    expected = {"backup_job", "backup_sources", "backup_excludes", "backup_mysql", "backup_mysql_databases",
                "backup_postgres", "backup_postgres_databases", "backup_dest", "backup_ssh_host_key",
                "backup_keep_daily", "backup_keep_weekly", "backup_keep_monthly", "backup_encrypt_key_src",
                "backup_on_calendar", "backup_run_now"}
    assert expected <= set(argument_options())


def test_the_job_is_installed_then_its_status_read_then_its_first_backup_made():
    install, status, run = calls(backup_sources=["/etc"], backup_mysql=True, backup_keep_daily=3)
    options = ["--quiet", "--job", "default", "--dest", "/var/backups/tssr-kit", "--source", "/etc",
               "--mysql",
               "--keep-last", "1", "--keep-daily", "3", "--keep-weekly", "4", "--keep-monthly", "6"]
    assert install["tssr_script_args"] == ["--install-timer", *options, "--on-calendar", "daily"]
    assert status["tssr_script_args"] == ["status", *options]
    # The first backup is the timer's own command: the job's config.
    assert run["tssr_script_args"] == ["run", "--quiet", "--config", "/etc/tssr-kit/backup/default.conf"]
    assert run["tssr_script_ok_codes"] == [0, 1], "exit 1 is a complete set with warnings"
    assert [c.get("when") for c in CALLS] == [None, "backup_run_now",
                                               ["backup_run_now", "tssr_script_result.last_good is none"]]


def test_in_a_dry_run_the_first_backup_takes_the_options_themselves():
    run = calls(check_mode=True, backup_sources=["/etc"])[2]
    assert run["tssr_script_args"][:4] == ["run", "--quiet", "--job", "default"]
    assert "--config" not in run["tssr_script_args"]


def test_the_passphrase_is_where_the_config_points_except_in_a_dry_run_that_would_change_it():
    kept = calls(backup_encrypt_key_src="pass", __backup_key_copy={"changed": False})
    assert all(c["tssr_script_files"] == [] for c in kept)
    assert kept[0]["tssr_script_args"][-4:-2] == ["--encrypt-key", "/etc/tssr-kit/backup/default.passphrase"]
    dry = calls(check_mode=True, backup_encrypt_key_src="pass", __backup_key_copy={"changed": True})
    assert dry[0]["tssr_script_files"] == [{"name": "passphrase", "src": "pass", "secret": True,
                                            "origin": "backup_encrypt_key_src"}]
    assert dry[0]["tssr_script_args"][-4:-2] == ["--encrypt-key", "/in/passphrase"]
    copy = next(t for t in load(ROLE / "tasks" / "main.yml") if "ansible.builtin.copy" in t)
    assert copy["no_log"] is True and copy["diff"] is False and copy["ansible.builtin.copy"]["mode"] == "0600"


def test_the_role_passes_only_options_the_script_knows():
    passed = set()
    for check_mode in (False, True):
        for call in calls(check_mode, backup_sources=["/etc"], backup_excludes=["*.tmp"],
                          backup_mysql_databases=["a"], backup_postgres=True, backup_postgres_databases=["b"],
                          backup_ssh_key="/root/k", backup_ssh_host_key="ssh-ed25519 AAAA",
                          backup_compress="zstd", backup_encrypt_key_src="p",
                          __backup_key_copy={"changed": False}):
            passed |= rolelib.options_in(call["tssr_script_args"])
    assert {"--install-timer", "--encrypt-key", "--on-calendar", "--keep-daily", "--config"} <= passed, passed
    rolelib.assert_passes_only_options_the_script_knows(passed, SCRIPT)


def test_the_exit_codes_the_role_explains_are_the_scripts():
    assert "/run/tssr-kit/backup-JOB.lock" in rolelib.exit_meaning("bash/backup/backup.sh", 3)
    assert rolelib.exit_meaning("bash/backup/backup.sh", 1).startswith("warning: the set is complete")


def test_the_playbook_backs_up_etc():
    play = load(REPO / "playbooks" / "backup.yml")[0]
    assert play["become"] is True
    role = play["roles"][0]
    assert role["role"] == "backup"
    assert role["vars"]["backup_sources"] == ["/etc"]


def test_the_scenario_verifies_what_converge_installed():
    config = rolelib.scenario_config("backup")
    rolelib.assert_scenario_platforms(config, "backup")
    assert "check" in config["scenario"]["test_sequence"]
    verifier = config["verifier"]
    assert verifier["options"] == {"k": "test_backup.py"}
    role_vars = load(SCENARIO / "converge.yml")[0]["roles"][0]["vars"]
    assert verifier["env"]["TSSR_BACKUP_JOB"] == role_vars["backup_job"]
    assert (SCENARIO / role_vars["backup_encrypt_key_src"]).is_file()
    # Two sets (converge's, the service's) must survive the retention of one day.
    assert role_vars["backup_keep_last"] >= int(verifier["env"]["TSSR_BACKUP_MIN_SETS"])
    side_effect = (SCENARIO / "side_effect.yml").read_text(encoding="utf-8")
    assert f"tssr-backup@{role_vars['backup_job']}.service" in side_effect
