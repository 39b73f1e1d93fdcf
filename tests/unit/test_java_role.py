"""roles/java without a host: its links to the script, its documented variables, the script's
options and exit codes it relies on, its playbook and its Molecule scenario.

The role runs scripts/bash/java/deploy-java.sh with the shared scripts/bash/lib (one source); its
variables are documented three times (defaults/main.yml for readers, meta/argument_specs.yml for
Ansible's validation, the README's table), which must agree.
"""

from __future__ import annotations

import re

import pytest
import rolelib
from rolelib import REPO, load

ROLE = REPO / "roles" / "java"
SCRIPT = REPO / "scripts" / "bash" / "java" / "deploy-java.sh"
SCENARIO = REPO / "molecule" / "java"


def argument_options() -> dict:
    return rolelib.argument_options(ROLE)


@pytest.mark.parametrize(("link", "target", "files"), [
    ("java", "scripts/bash/java", ["deploy-java.sh", "templates/java-app.service.tmpl"]),
    ("lib", "scripts/bash/lib", ["common.sh", "web.sh", "templates/vhost.conf.tmpl"]),
])
def test_the_role_ships_the_script_folders_through_relative_links(link, target, files):
    rolelib.assert_relative_link(ROLE, link, target, files)


def test_every_default_is_validated_with_the_same_value():
    rolelib.assert_every_default_is_validated(ROLE)


def test_every_validated_option_has_a_default_or_is_required():
    rolelib.assert_every_option_is_prefixed_and_defaulted(ROLE, "java_", required_ok=True)


def test_the_name_is_required_and_never_derived_by_the_role():
    assert argument_options()["java_name"].get("required") is True


def test_the_readme_documents_every_variable():
    rolelib.assert_readme_documents_every_variable(ROLE)


def test_the_role_passes_only_options_the_script_knows():
    tasks = (ROLE / "tasks" / "main.yml").read_text(encoding="utf-8")
    # The task that runs the script, up to the next task (the others pass options to tar).
    run_task = re.search(r"- name: Run the deploy script.*?(?=\n\s*- name: )", tasks, re.DOTALL)
    assert run_task, "the task that runs the script was not found"
    passed = set(re.findall(r"'(--[a-z-]+)'", run_task.group(0)))
    passed |= {f"--{mode}" for mode in ("jar", "war")}  # built as '--' ~ mode
    assert "--keep" in passed and "--rollback" in passed, "the role's argv was not found"
    rolelib.assert_passes_only_options_the_script_knows(passed, SCRIPT)


def test_the_exit_codes_the_role_explains_are_the_scripts():
    meanings = rolelib.assert_exit_meanings_are_the_scripts(ROLE, SCRIPT, "__java_exit_meanings")
    lock = re.search(r"^readonly LOCK_FILE=(\S+)$", SCRIPT.read_text(encoding="utf-8"), re.MULTILINE).group(1)
    assert lock in meanings[3], f"exit 3's meaning does not name the lock {lock}"


def test_the_playbook_builds_and_deploys_the_sample_service():
    play = load(REPO / "playbooks" / "java.yml")[0]
    assert play["become"] is True
    assert [role["role"] for role in play["roles"]] == ["java"]
    assert play["vars"]["java_name"] == "hello-service"
    build = play["pre_tasks"][0]
    assert build["delegate_to"] == "localhost" and build["run_once"] is True
    argv = build["ansible.builtin.command"]["argv"]
    assert argv[0] == "{{ playbook_dir }}/../examples/java/build.sh" and argv[1] == "samples"
    assert (REPO / "examples" / "java" / "build.sh").is_file()
    # The jar the role gets is the one the build writes (`build.sh samples V DIR` -> DIR/NAME-V.jar).
    built = build["ansible.builtin.command"]["creates"].replace("{{ playbook_dir }}/", "")
    assert built == play["vars"]["java_jar_src"]


def test_the_scenario_verifies_what_converge_deployed():
    config = load(SCENARIO / "molecule.yml")
    rolelib.assert_scenario_platforms(config, "java")
    verifier = config["verifier"]
    assert verifier["options"] == {"k": "test_java.py"}
    env = verifier["env"]
    converge = load(SCENARIO / "converge.yml")[0]["tasks"]
    deploys = {t["vars"]["java_name"]: t for t in converge if "ansible.builtin.include_role" in t}
    assert set(deploys) == {env["TSSR_JAVA_NAME"], env["TSSR_JAVA_WAR_NAME"]}
    jar, war = deploys[env["TSSR_JAVA_NAME"]], deploys[env["TSSR_JAVA_WAR_NAME"]]
    assert jar["vars"]["java_domain"] == env["TSSR_JAVA_DOMAIN"]
    assert war["vars"]["java_domain"] == env["TSSR_JAVA_WAR_DOMAIN"]
    assert env["TSSR_JAVA_WAR_CONTEXT"] == f"/{env['TSSR_JAVA_WAR_NAME']}"  # the script's default context
    assert war["when"] == "ansible_facts['os_family'] != 'RedHat'", "the WAR must be skipped on RedHat only"


SCENARIOS = sorted(p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml"))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_scenario_verifies_its_own_hoststate_module_only(scenario):
    verifier = load(REPO / "molecule" / scenario / "molecule.yml")["verifier"]
    assert verifier["directory"] == "../../tests/hoststate"
    keyword = verifier["options"]["k"]
    modules = sorted(p.name for p in (REPO / "tests" / "hoststate").glob("test_*.py"))
    # pytest -k matches a substring of the names: exactly one module of the folder must hold it.
    assert [name for name in modules if keyword in name] == [keyword], f"-k {keyword} selects {modules}"
