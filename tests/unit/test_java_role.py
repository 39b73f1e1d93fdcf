"""roles/java without a host: the script it runs, the arguments and files it gives it (rendered by
Ansible's own templating), the script's options and exit codes it relies on, its documented variables,
its playbook and its Molecule scenario.

The role runs scripts/bash/java/deploy-java.sh with the shared scripts/bash/lib (one source) through
roles/tssr_script; its variables are documented once (meta/argument_specs.yml, Ansible's validation),
with their defaults in defaults/main.yml and the README's table generated from the spec: they must agree.
"""

from __future__ import annotations

import pytest
import rolelib
from rolelib import load

from tssrkit.paths import REPO, SCRIPTS

ROLE = REPO / "roles" / "java"
SCRIPT = SCRIPTS / "bash" / "java" / "deploy-java.sh"
SCENARIO = REPO / "molecule" / "java"


def argument_options() -> dict:
    return rolelib.argument_options(ROLE)


def call(**variables) -> dict:
    return rolelib.rendered_call(ROLE, java_name="hello-service", **variables)


@pytest.mark.parametrize(("folder", "files"), [
    ("java", ["deploy-java.sh", "templates/java-app.service.tmpl"]),
    ("lib", ["common.sh", "web.sh", "templates/vhost.conf.tmpl"]),
])
def test_the_role_ships_the_script_folders_through_relative_links(folder, files):
    # The script comes from scripts/ through tssr_script's one relative link; a Bash script travels
    # with its folder and lib/ (scripts/bundles.yml: tests/unit/test_tssr_script_role.py).
    assert call()["tssr_script_file"] == "bash/java/deploy-java.sh"
    for name in files:
        assert (rolelib.SHARED / "files" / "scripts" / "bash" / folder / name).is_file(), name


def test_the_name_is_required_and_never_derived_by_the_role():
    assert argument_options()["java_name"].get("required") is True


def test_a_jar_deployment_gives_the_script_the_archive_and_its_inputs_as_files():
    deployed = call(java_jar_src="hello.jar", java_cert_src="c.pem", java_key_src="k.pem",
                    java_env_src="app.env", java_version="2.0.0", java_release="21",
                    java_domain="h.example.org")
    assert deployed["tssr_script_args"] == [
        "--quiet", "--name", "hello-service", "--jar", "/in/app.jar", "--version", "2.0.0",
        "--cert", "/in/cert.pem", "--key", "/in/key.pem", "--port", "8080", "--java", "21",
        "--heap", "256m", "--env-file", "/in/env", "--domain", "h.example.org", "--keep", "5"]
    files = {file["name"]: file for file in deployed["tssr_script_files"] if file["src"]}
    assert {name: file["src"] for name, file in files.items()} == {
        "app.jar": "hello.jar", "cert.pem": "c.pem", "key.pem": "k.pem", "env": "app.env"}
    assert files["key.pem"]["secret"] is True and files["env"]["secret"] is True
    assert not files["app.jar"].get("secret") and not files["cert.pem"].get("secret")


def test_a_war_gets_its_context_and_no_port():
    deployed = call(java_war_src="hello.war", java_context="/hello", java_health="/hello/up")
    assert deployed["tssr_script_args"] == [
        "--quiet", "--name", "hello-service", "--war", "/in/app.war", "--context", "/hello",
        "--heap", "256m", "--health", "/hello/up", "--keep", "5"]


def test_a_rollback_gives_the_name_alone_and_no_file():
    rolled = call(java_rollback=True, java_jar_src="hello.jar", java_env_src="app.env")
    assert rolled["tssr_script_args"] == ["--quiet", "--name", "hello-service", "--rollback", "--keep", "5"]
    assert all(file["src"] == "" for file in rolled["tssr_script_files"])


def test_the_role_passes_only_options_the_script_knows():
    passed = set()
    for variables in ({"java_jar_src": "a.jar", "java_version": "1", "java_cert_src": "c",
                       "java_key_src": "k",
                       "java_release": "17", "java_env_src": "e", "java_domain": "d", "java_health": "/h"},
                      {"java_war_src": "a.war", "java_context": "/a"}, {"java_rollback": True}):
        passed |= rolelib.options_in(call(**variables)["tssr_script_args"])
    assert {"--keep", "--rollback", "--jar", "--war", "--env-file", "--context"} <= passed, passed
    rolelib.assert_passes_only_options_the_script_knows(passed, SCRIPT)


def test_the_exit_codes_the_role_explains_are_the_scripts():
    lock = next(line for line in SCRIPT.read_text(encoding="utf-8").splitlines()
                if line.startswith("readonly LOCK_FILE=")).split("=", 1)[1]
    script = "bash/java/deploy-java.sh"
    assert lock in rolelib.exit_meaning(script, 3), f"exit 3's meaning does not name {lock}"
    assert rolelib.exit_meaning(script, 2) == "usage or validation error: nothing was changed"


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
    config = rolelib.scenario_config("java")
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


@pytest.mark.parametrize("scenario", rolelib.scenarios())
def test_each_scenario_verifies_its_own_hoststate_module_only(scenario):
    verifier = rolelib.scenario_config(scenario)["verifier"]
    assert verifier["directory"] == "${MOLECULE_PROJECT_DIRECTORY}/tests/hoststate"
    assert verifier["env"]["TSSR_HOSTSTATE"] == "1"
    keyword = verifier["options"]["k"]
    modules = sorted(p.name for p in (REPO / "tests" / "hoststate").glob("test_*.py"))
    # pytest -k matches a substring of the names: exactly one module of the folder must hold it.
    assert [name for name in modules if keyword in name] == [keyword], f"-k {keyword} selects {modules}"
