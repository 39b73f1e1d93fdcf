"""roles/logging without a host: its links to the script, its documented variables, the script's options
and exit codes it relies on, its playbook and its Molecule scenario.

The role runs scripts/bash/logging/setup-logging.sh with the shared scripts/bash/lib (one source); its
variables are documented three times (defaults/main.yml for readers, meta/argument_specs.yml for
Ansible's validation, the README's table), which must agree. The options the role builds are checked
by rendering vars/main.yml's expression with Jinja2, as Ansible would.
"""

from __future__ import annotations

import jinja2
import pytest
import rolelib
import yaml
from rolelib import REPO, load

ROLE = REPO / "roles" / "logging"
SCRIPT = REPO / "scripts" / "bash" / "logging" / "setup-logging.sh"
SCENARIO = REPO / "molecule" / "logging"


def render_options(**overrides) -> list[str]:
    """vars/main.yml's __logging_options for the defaults plus ``overrides``, rendered like Ansible."""
    values = {**load(ROLE / "defaults" / "main.yml"), **overrides}
    # Rendering a YAML list, not HTML: nothing to escape.
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701
    env.filters["product"] = lambda a, b: [[x, y] for x in a for y in b]
    env.filters["flatten"] = lambda seq, levels=1: [item for sub in seq for item in sub]
    expression = load(ROLE / "vars" / "main.yml")["__logging_options"]
    return yaml.safe_load(env.from_string(expression).render(**values))


@pytest.mark.parametrize(("link", "target", "files"), [
    ("logging", "scripts/bash/logging", ["setup-logging.sh", "templates/forward.conf.tmpl",
                                       "templates/server.conf.tmpl", "templates/logrotate.tmpl"]),
    ("lib", "scripts/bash/lib", ["common.sh", "firewall.sh"]),
])
def test_the_role_ships_the_script_through_relative_links(link, target, files):
    rolelib.assert_relative_link(ROLE, link, target, files)


def test_the_script_is_packed_with_lib_beside_it():
    rolelib.assert_packed_with_lib(ROLE, "logging", "__logging_tar_create")


def test_every_default_is_validated_with_the_same_value():
    rolelib.assert_every_default_is_validated(ROLE)


def test_every_validated_option_has_a_default_and_the_role_prefix():
    rolelib.assert_every_option_is_prefixed_and_defaulted(ROLE, "logging_")


def test_the_readme_documents_every_variable():
    rolelib.assert_readme_documents_every_variable(ROLE)


def test_the_role_passes_only_options_the_script_knows():
    passed = rolelib.role_passed_options(ROLE)
    assert {"--server", "--allow", "--tls", "--ca", "--key", "--dry-run", "--quiet"} <= passed, passed
    rolelib.assert_passes_only_options_the_script_knows(passed, SCRIPT)


def test_client_options_are_the_scripts_client_command_line():
    assert render_options(logging_server="logs.lan") == [
        "client", "--server", "logs.lan", "--queue-size", "1024"]
    assert render_options(logging_server="10.0.0.5", logging_tls=True, logging_server_name="logs.lan") == [
        "client", "--server", "10.0.0.5", "--queue-size", "1024", "--server-name", "logs.lan", "--tls"]


def test_server_options_are_the_scripts_server_command_line():
    assert render_options(logging_mode="server", logging_allow=["10.0.0.0/24", "fd00::/64"]) == [
        "server", "--allow", "10.0.0.0/24", "--allow", "fd00::/64", "--dir", "/var/log/remote",
        "--keep-days", "30"]
    assert render_options(logging_mode="server", logging_allow=["10.0.0.0/24"], logging_port=1514,
                          logging_listen="10.0.0.1", logging_tls=True) == [
        "server", "--allow", "10.0.0.0/24", "--listen", "10.0.0.1", "--port", "1514",
        "--dir", "/var/log/remote", "--keep-days", "30", "--tls"]


def test_the_private_key_is_never_logged():
    tasks = (ROLE / "tasks" / "main.yml").read_text(encoding="utf-8")
    assert "no_log: \"{{ item.option == '--key' }}\"" in tasks


def test_the_exit_codes_the_role_explains_are_the_scripts():
    meanings = rolelib.assert_exit_meanings_are_the_scripts(ROLE, SCRIPT, "__logging_exit_meanings")
    assert "/run/tssr-kit/setup-logging.lock" in meanings[3]


def test_the_playbook_sets_up_the_central_then_the_clients():
    server_play, client_play = load(REPO / "playbooks" / "logging.yml")
    assert server_play["hosts"] == "log_servers" and server_play["become"] is True
    assert server_play["roles"][0]["vars"]["logging_mode"] == "server"
    assert client_play["hosts"] == "all:!log_servers"
    assert client_play["roles"][0]["vars"] == {"logging_mode": "client",
                                               "logging_server": "{{ groups['log_servers'][0] }}"}


def test_the_scenario_checks_an_outage_on_each_platform_with_its_central():
    config = load(SCENARIO / "molecule.yml")
    rolelib.assert_scenario_platforms(config, "logging", own_networks=True)
    sequence = config["scenario"]["test_sequence"]
    assert sequence.index("cleanup") == sequence.index("destroy") - 1
    assert {"idempotence", "side_effect", "verify"} <= set(sequence)
    assert config["verifier"]["options"] == {"k": "test_logging.py"}
    assert config["verifier"]["env"]["TSSR_LOGGING_OUTAGE"] == "1"
    side_effect = (SCENARIO / "side_effect.yml").read_text(encoding="utf-8")
    assert "/root/tssr-logging-outage.txt" in side_effect and "state: stopped" in side_effect
    assert "-central" in (SCENARIO / "cleanup.yml").read_text(encoding="utf-8")
