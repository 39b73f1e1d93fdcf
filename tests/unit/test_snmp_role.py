"""roles/snmp without a host: its links to the scripts, its documented variables, the script's options
and exit codes it relies on, its playbook and its Molecule scenario (agent + monitor).

The role runs scripts/bash/snmp/setup-snmp.sh with the shared scripts/bash/lib and
scripts/python/tssr_check.py (one source); its variables are documented three times (defaults/main.yml
for readers, meta/argument_specs.yml for Ansible's validation, the README's table), which must agree.
"""

from __future__ import annotations

import ast
import re

import pytest
import rolelib
from rolelib import REPO, load

ROLE = REPO / "roles" / "snmp"
SCRIPT = REPO / "scripts" / "bash" / "snmp" / "setup-snmp.sh"
SCENARIO = REPO / "molecule" / "snmp"


def argument_options() -> dict:
    return rolelib.argument_options(ROLE)


@pytest.mark.parametrize(
    ("link", "target", "files"),
    [
        ("snmp", "scripts/bash/snmp", ["setup-snmp.sh"]),
        ("lib", "scripts/bash/lib", ["common.sh", "firewall.sh"]),
        ("tssr_check.py", "scripts/python/tssr_check.py", []),
    ],
)
def test_the_role_ships_the_scripts_through_relative_links(link, target, files):
    rolelib.assert_relative_link(ROLE, link, target, files)


def test_the_scripts_are_packed_as_setup_snmp_expects_them():
    # setup-snmp.sh looks lib/ and tssr_check.py up beside itself.
    rolelib.assert_packed_with_lib(ROLE, "snmp", "__snmp_tar_create", beside=("tssr_check.py",))


def test_every_task_that_touches_a_secret_has_no_log():
    tasks = load(ROLE / "tasks" / "main.yml")
    flat = []
    for task in tasks:
        flat += task.get("block", []) + task.get("always", []) + [task]
    secret_tasks = [
        t for t in flat if re.search(r"passphrase|community", str(t.get("ansible.builtin.copy", "")))
    ]
    assert len(secret_tasks) == 2, secret_tasks
    for task in secret_tasks:
        assert task.get("no_log") is True and task.get("diff") is False, task["name"]
        assert task["ansible.builtin.copy"]["mode"] == "0600"
    for name in ("snmp_auth_passphrase", "snmp_priv_passphrase", "snmp_v2c_community"):
        assert argument_options()[name].get("no_log") is True, name


def test_no_passphrase_reaches_the_scripts_command_line():
    text = (ROLE / "tasks" / "main.yml").read_text(encoding="utf-8")
    command = next(
        t
        for t in load(ROLE / "tasks" / "main.yml")[3]["block"]
        if "ansible.builtin.command" in t and t.get("register") == "__snmp_run"
    )
    argv = command["ansible.builtin.command"]["argv"]
    assert "passphrase" not in argv and "snmp_v2c_community }}" not in argv, argv
    assert "'--credentials', __snmp_tmp_dir.path ~ '/credentials.conf'" in argv
    options = load(ROLE / "vars" / "main.yml")["__snmp_options"]
    assert "passphrase" not in options and "community" not in options
    assert "Remove the temporary folder on the host, credentials included." in text


def test_every_default_is_validated_with_the_same_value():
    rolelib.assert_every_default_is_validated(ROLE)


def test_every_validated_option_has_a_default_and_the_role_prefix():
    rolelib.assert_every_option_is_prefixed_and_defaulted(ROLE, "snmp_")


def test_the_readme_documents_every_variable():
    rolelib.assert_readme_documents_every_variable(ROLE)


def test_the_role_passes_only_options_the_script_knows():
    passed = rolelib.role_passed_options(ROLE)
    assert {"--credentials", "--monitor", "--dry-run", "--v2c-community-file", "--backup-job"} <= passed, (
        passed
    )
    rolelib.assert_passes_only_options_the_script_knows(passed, SCRIPT)


def test_the_credentials_file_has_the_pollers_keys_and_protocols():
    copy = next(
        t
        for t in load(ROLE / "tasks" / "main.yml")[3]["block"]
        if "credentials.conf" in str(t.get("ansible.builtin.copy", {}).get("dest", ""))
    )
    keys = [line.split("=")[0].strip() for line in copy["ansible.builtin.copy"]["content"].splitlines()]
    assert keys == ["user", "auth_protocol", "auth_passphrase", "priv_protocol", "priv_passphrase"]
    poller = (REPO / "scripts" / "python" / "snmp_poll.py").read_text(encoding="utf-8")
    options = argument_options()
    for constant, option in (
        ("AUTH_PROTOCOLS", "snmp_auth_protocol"),
        ("PRIV_PROTOCOLS", "snmp_priv_protocol"),
    ):
        found = re.search(rf"^{constant} = (\(.*\))$", poller, re.MULTILINE)
        assert found, f"{constant} is no longer in snmp_poll.py"
        assert list(ast.literal_eval(found.group(1))) == options[option]["choices"], option


def test_the_exit_codes_the_role_explains_are_the_scripts():
    meanings = rolelib.assert_exit_meanings_are_the_scripts(ROLE, SCRIPT, "__snmp_exit_meanings")
    assert "/run/tssr-kit/snmp.lock" in meanings[3]


def test_the_playbook_runs_the_role_as_root_for_the_given_monitor():
    play = load(REPO / "playbooks" / "snmp.yml")[0]
    assert play["become"] is True
    role = play["roles"][0]
    assert role["role"] == "snmp"
    assert role["vars"]["snmp_monitors"] == ["{{ snmp_monitor }}"]


def test_the_scenario_verifies_the_re_key_from_the_monitor():
    config = load(SCENARIO / "molecule.yml")
    rolelib.assert_scenario_platforms(config, "snmp", own_networks=True)
    sequence = config["scenario"]["test_sequence"]
    assert sequence.index("cleanup") == sequence.index("destroy") - 1, "cleanup (the monitor) before destroy"
    assert {"converge", "idempotence", "side_effect", "verify"} <= set(sequence)
    verifier = config["verifier"]
    assert verifier["options"] == {"k": "test_snmp.py"}
    env = verifier["env"]
    first = load(SCENARIO / "vars" / "agent.yml")
    side = load(SCENARIO / "side_effect.yml")[0]["roles"][0]["vars"]
    assert env["TSSR_SNMP_USER"] == first["snmp_user"]
    assert env["TSSR_SNMP_AUTH_PROTOCOL"] == first["snmp_auth_protocol"]
    assert env["TSSR_SNMP_PRIV_PROTOCOL"] == first["snmp_priv_protocol"]
    assert env["TSSR_SNMP_OLD_AUTH_PASSPHRASE"] == first["snmp_auth_passphrase"]
    assert env["TSSR_SNMP_OLD_PRIV_PASSPHRASE"] == first["snmp_priv_passphrase"]
    assert env["TSSR_SNMP_AUTH_PASSPHRASE"] == side["snmp_auth_passphrase"] != first["snmp_auth_passphrase"]
    assert env["TSSR_SNMP_PRIV_PASSPHRASE"] == side["snmp_priv_passphrase"] != first["snmp_priv_passphrase"]
    assert env["TSSR_SNMP_LOCATION"] == first["snmp_location"]
    cleanup = (SCENARIO / "cleanup.yml").read_text(encoding="utf-8")
    prepare = (SCENARIO / "prepare.yml").read_text(encoding="utf-8")
    assert '"{{ inventory_hostname }}-monitor"' in cleanup and '"{{ inventory_hostname }}-monitor"' in prepare
