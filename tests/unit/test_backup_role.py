"""roles/backup without a host: its links to the scripts, its documented variables, the script's
options and exit codes it relies on, its playbook and its Molecule scenario.

The role runs scripts/bash/backup/backup.sh with the shared scripts/bash/lib and
scripts/python/backup_retention.py (one source); its variables are documented three times
(defaults/main.yml for readers, meta/argument_specs.yml for Ansible's validation, the README's table),
which must agree.
"""

from __future__ import annotations

import re

import pytest
import rolelib
from rolelib import REPO, load

ROLE = REPO / "roles" / "backup"
SCRIPT = REPO / "scripts" / "bash" / "backup" / "backup.sh"
SCENARIO = REPO / "molecule" / "backup"


def argument_options() -> dict:
    return rolelib.argument_options(ROLE)


def script_header() -> str:
    return rolelib.script_header(SCRIPT)


@pytest.mark.parametrize(("link", "target", "files"), [
    ("backup", "scripts/bash/backup", ["backup.sh", "restore.sh", "templates/tssr-backup@.service.tmpl",
                                       "templates/tssr-backup@.timer.tmpl"]),
    ("lib", "scripts/bash/lib", ["common.sh"]),
    ("backup_retention.py", "scripts/python/backup_retention.py", []),
])
def test_the_role_ships_the_scripts_through_relative_links(link, target, files):
    rolelib.assert_relative_link(ROLE, link, target, files)


def test_the_scripts_are_packed_as_backup_sh_expects_them():
    tasks = (ROLE / "tasks" / "main.yml").read_text(encoding="utf-8")
    # backup.sh looks lib/ and backup_retention.py up beside itself.
    assert "'--directory', role_path ~ '/files/backup/', '.'" in tasks
    assert "'--directory', role_path ~ '/files', 'lib', 'backup_retention.py'" in tasks
    assert "--dereference" in load(ROLE / "vars" / "main.yml")["__backup_tar_create"]


def test_every_default_is_validated_with_the_same_value():
    defaults = load(ROLE / "defaults" / "main.yml")
    options = argument_options()
    for name, value in defaults.items():
        assert name in options, f"{name} has no entry in meta/argument_specs.yml"
        assert options[name].get("default") == value, f"{name}: {value!r} vs {options[name].get('default')!r}"


def test_every_validated_option_has_a_default_and_the_role_prefix():
    defaults = load(ROLE / "defaults" / "main.yml")
    for name in argument_options():
        assert name.startswith("backup_"), f"{name}: role variables are prefixed with backup_"
        assert name in defaults, f"{name}: not in defaults/main.yml"


def test_the_spec_variables_are_all_there():
    expected = {"backup_job", "backup_sources", "backup_excludes", "backup_mysql", "backup_mysql_databases",
                "backup_postgres", "backup_postgres_databases", "backup_dest", "backup_keep_daily",
                "backup_keep_weekly", "backup_keep_monthly", "backup_encrypt_key_src", "backup_on_calendar",
                "backup_run_now"}
    assert expected <= set(argument_options())


def test_the_readme_documents_every_variable():
    readme = (ROLE / "README.md").read_text(encoding="utf-8")
    missing = [name for name in argument_options() if f"`{name}`" not in readme]
    assert missing == [], f"not in the README's table: {missing}"


def test_the_role_passes_only_options_the_script_knows():
    text = (ROLE / "tasks" / "main.yml").read_text(encoding="utf-8")
    text += (ROLE / "vars" / "main.yml").read_text(encoding="utf-8")
    passed = set(re.findall(r"'(--[a-z-]+)'", text)) - {"--directory", "--file"}
    # The script's `case` labels: `--job)`, `-n | --dry-run)`, `--source | --exclude)`.
    labels = re.compile(r"^\s+((?:-\w \| )?--[a-z-]+(?: \| --[a-z-]+)*)\)", re.MULTILINE)
    known = {option for label in labels.findall(SCRIPT.read_text(encoding="utf-8"))
             for option in re.findall(r"--[a-z-]+", label)}
    assert {"--install-timer", "--encrypt-key", "--on-calendar", "--keep-daily"} <= passed, passed
    assert passed - known == set(), f"options the script does not parse: {sorted(passed - known)}"


def test_the_exit_codes_the_role_explains_are_the_scripts():
    header = script_header()
    section = header.split("Exit codes:", 1)[1].split("\n\n", 1)[0]
    documented = {int(code) for code in re.findall(r"^\s+(\d)\s", section, re.MULTILINE)}
    meanings = load(ROLE / "vars" / "main.yml")["__backup_exit_meanings"]
    assert set(meanings) == documented - {0}
    assert "/run/lock/tssr-kit-backup-JOB.lock" in meanings[3]


def test_the_playbook_backs_up_etc():
    play = load(REPO / "playbooks" / "backup.yml")[0]
    assert play["become"] is True
    role = play["roles"][0]
    assert role["role"] == "backup"
    assert role["vars"]["backup_sources"] == ["/etc"]


def test_the_scenario_verifies_what_converge_installed():
    config = load(SCENARIO / "molecule.yml")
    names = [p["name"] for p in config["platforms"]]
    assert names == ["backup-debian12", "backup-debian13", "backup-redhat9"]
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
