"""roles/backup without a host: its links to the scripts, its documented variables, the script's
options and exit codes it relies on, its playbook and its Molecule scenario.

The role runs scripts/bash/backup/backup.sh with the shared scripts/bash/lib and
scripts/python/backup_retention.py (one source); its variables are documented three times
(defaults/main.yml for readers, meta/argument_specs.yml for Ansible's validation, the README's table),
which must agree.
"""

from __future__ import annotations

import pytest
import rolelib
from rolelib import REPO, load

ROLE = REPO / "roles" / "backup"
SCRIPT = REPO / "scripts" / "bash" / "backup" / "backup.sh"
SCENARIO = REPO / "molecule" / "backup"


def argument_options() -> dict:
    return rolelib.argument_options(ROLE)


@pytest.mark.parametrize(("link", "target", "files"), [
    ("backup", "scripts/bash/backup", ["backup.sh", "restore.sh", "templates/tssr-backup@.service.tmpl",
                                       "templates/tssr-backup@.timer.tmpl"]),
    ("lib", "scripts/bash/lib", ["common.sh"]),
    ("backup_retention.py", "scripts/python/backup_retention.py", []),
])
def test_the_role_ships_the_scripts_through_relative_links(link, target, files):
    rolelib.assert_relative_link(ROLE, link, target, files)


def test_the_scripts_are_packed_as_backup_sh_expects_them():
    # backup.sh looks lib/ and backup_retention.py up beside itself.
    rolelib.assert_packed_with_lib(ROLE, "backup", "__backup_tar_create", beside=("backup_retention.py",))


def test_every_default_is_validated_with_the_same_value():
    rolelib.assert_every_default_is_validated(ROLE)


def test_every_validated_option_has_a_default_and_the_role_prefix():
    rolelib.assert_every_option_is_prefixed_and_defaulted(ROLE, "backup_")


def test_the_spec_variables_are_all_there():
    expected = {"backup_job", "backup_sources", "backup_excludes", "backup_mysql", "backup_mysql_databases",
                "backup_postgres", "backup_postgres_databases", "backup_dest", "backup_ssh_host_key",
                "backup_keep_daily", "backup_keep_weekly", "backup_keep_monthly", "backup_encrypt_key_src",
                "backup_on_calendar", "backup_run_now"}
    assert expected <= set(argument_options())


def test_the_readme_documents_every_variable():
    rolelib.assert_readme_documents_every_variable(ROLE)


def test_the_role_passes_only_options_the_script_knows():
    passed = rolelib.role_passed_options(ROLE)
    assert {"--install-timer", "--encrypt-key", "--on-calendar", "--keep-daily"} <= passed, passed
    rolelib.assert_passes_only_options_the_script_knows(passed, SCRIPT)


def test_the_exit_codes_the_role_explains_are_the_scripts():
    meanings = rolelib.assert_exit_meanings_are_the_scripts(ROLE, SCRIPT, "__backup_exit_meanings")
    assert "/run/tssr-kit/backup-JOB.lock" in meanings[3]


def test_the_playbook_backs_up_etc():
    play = load(REPO / "playbooks" / "backup.yml")[0]
    assert play["become"] is True
    role = play["roles"][0]
    assert role["role"] == "backup"
    assert role["vars"]["backup_sources"] == ["/etc"]


def test_the_scenario_verifies_what_converge_installed():
    config = load(SCENARIO / "molecule.yml")
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
