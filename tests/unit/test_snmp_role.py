"""roles/snmp without a host: the script it runs, the arguments and the credentials file it gives it
(rendered by Ansible's own templating), the script's options and exit codes it relies on, its documented
variables, its playbook and its Molecule scenario (agent + monitor).

The role runs scripts/bash/snmp/setup-snmp.sh with the shared scripts/bash/lib and
scripts/python/tssr_check.py (one source) through roles/tssr_script; its variables are documented once
(meta/argument_specs.yml, Ansible's validation), with their defaults in defaults/main.yml and the
README's table generated from the spec: they must agree.
"""

from __future__ import annotations

import ast
import re

import pytest
import rolelib
from rolelib import load

from tssrkit.paths import REPO, SCRIPTS

ROLE = REPO / "roles" / "snmp"
SCRIPT = SCRIPTS / "bash" / "snmp" / "setup-snmp.sh"
SECRETS = {"snmp_auth_passphrase": "auth-secret-1", "snmp_priv_passphrase": "priv-secret-1",
           "snmp_v2c_community": "community-secret-1"}
SCENARIO = REPO / "molecule" / "snmp"


def argument_options() -> dict:
    return rolelib.argument_options(ROLE)


def call(**variables) -> dict:
    values = {"snmp_monitors": ["192.0.2.10"], **SECRETS, "snmp_v2c_source": "192.0.2.0/28", **variables}
    return rolelib.rendered_call(ROLE, **values)


@pytest.mark.parametrize(("folder", "files"), [
    ("bash/snmp", ["setup-snmp.sh"]),
    ("bash/lib", ["common.sh", "firewall.sh"]),
    ("python", ["tssr_check.py"]),
])
def test_the_role_ships_the_scripts_through_relative_links(folder, files):
    # The scripts come from scripts/ through tssr_script's one relative link.
    assert call()["tssr_script_file"] == "bash/snmp/setup-snmp.sh"
    for name in files:
        assert (rolelib.SHARED / "files" / "scripts" / folder / name).is_file(), name


def test_the_scripts_are_packed_as_setup_snmp_expects_them():
    # setup-snmp.sh looks lib/ and tssr_check.py up beside itself: scripts/bundles.yml says so for inv
    # and Ansible (tssr_script packs what it says).
    assert load(SCRIPTS / "bundles.yml")["setup-snmp.sh"] == ["python/tssr_check.py"]


def test_every_task_that_touches_a_secret_has_no_log():
    files = {file["name"]: file for file in call()["tssr_script_files"]}
    assert set(files) == {"credentials.conf", "community"}
    for file in files.values():
        assert file["secret"] is True, file["name"]
        assert not file.get("src"), "written from the variables, never a file left on the controller"
    # tssr_script writes a secret item root-only, without log or diff.
    block = next(t for t in load(rolelib.SHARED / "tasks" / "main.yml") if "block" in t)["block"]
    copy = next(t for t in block if "ansible.builtin.copy" in t)
    assert copy["no_log"] == "{{ item.secret | default(false) }}" and copy["diff"] is False
    assert copy["ansible.builtin.copy"]["mode"] == "0600"
    for name in ("snmp_auth_passphrase", "snmp_priv_passphrase", "snmp_v2c_community"):
        assert argument_options()[name].get("no_log") is True, name


def test_no_passphrase_reaches_the_scripts_command_line():
    rendered = call(snmp_location="rack", snmp_procs=["sshd"])
    argv = rendered["tssr_script_args"]
    for secret in SECRETS.values():
        assert not any(secret in arg for arg in argv), secret
    assert argv[:3] == ["--quiet", "--credentials", "/in/credentials.conf"]
    assert argv[-4:] == ["--v2c-community-file", "/in/community", "--v2c-source", "192.0.2.0/28"]
    files = {file["name"]: file["content"] for file in rendered["tssr_script_files"]}
    assert files["community"] == "community-secret-1\n"
    always = next(t for t in load(rolelib.SHARED / "tasks" / "main.yml") if "block" in t)["always"]
    names = [t["name"] for t in always]
    assert "Remove the temporary folder on the host, the role's files included." in names


def test_no_community_file_unless_one_is_asked_for():
    rendered = call(snmp_v2c_community="", snmp_v2c_source="")
    assert [file["name"] for file in rendered["tssr_script_files"]] == ["credentials.conf"]
    assert "--v2c-community-file" not in rendered["tssr_script_args"]
    # A source without its community still reaches the script, which refuses it (both or neither).
    assert "--v2c-community-file" in call(snmp_v2c_community="")["tssr_script_args"]


def test_the_role_passes_only_options_the_script_knows():
    passed = rolelib.options_in(call(snmp_listen=["127.0.0.1"], snmp_sys_name="n", snmp_location="l",
                                     snmp_contact="c", snmp_views=["ip"], snmp_load="4,3,2",
                                     snmp_procs=["sshd"],
                                     snmp_backup_job="data")["tssr_script_args"])
    expected = {"--credentials", "--monitor", "--v2c-community-file", "--backup-job", "--listen"}
    assert expected <= passed, passed
    rolelib.assert_passes_only_options_the_script_knows(passed | {"--dry-run"}, SCRIPT)


def test_the_credentials_file_has_the_pollers_keys_and_protocols():
    files = {file["name"]: file for file in call()["tssr_script_files"]}
    content = files["credentials.conf"]["content"]
    lines = [line.split("=", 1) for line in content.splitlines()]
    assert [key.strip() for key, _ in lines] == ["user", "auth_protocol", "auth_passphrase", "priv_protocol",
                                                "priv_passphrase"]
    assert [value.strip() for _, value in lines] == ["monitor", "sha512", "auth-secret-1", "aes128",
                                                     "priv-secret-1"]
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
    assert "/run/tssr-kit/snmp.lock" in rolelib.exit_meaning("bash/snmp/setup-snmp.sh", 3)


def test_the_playbook_runs_the_role_as_root_for_the_given_monitor():
    play = load(REPO / "playbooks" / "snmp.yml")[0]
    assert play["become"] is True
    role = play["roles"][0]
    assert role["role"] == "snmp"
    assert role["vars"]["snmp_monitors"] == ["{{ snmp_monitor }}"]


def test_the_scenario_verifies_the_re_key_from_the_monitor():
    config = rolelib.scenario_config("snmp")
    rolelib.assert_scenario_platforms(config, "snmp")
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
