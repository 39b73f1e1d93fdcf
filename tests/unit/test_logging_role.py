"""roles/logging without a host: the script it runs, the arguments and files it gives it, the script's
options and exit codes it relies on, its documented variables, its playbook and its Molecule scenario.

The role runs scripts/bash/logging/setup-logging.sh with the shared scripts/bash/lib (one source) through
roles/tssr_script; its variables are documented once (meta/argument_specs.yml, Ansible's validation),
with their defaults in defaults/main.yml and the README's table generated from the spec: they must
agree. The arguments the role builds are rendered by Ansible's own templating.
"""

from __future__ import annotations

import pytest
import rolelib
from rolelib import load

from tssrkit.paths import REPO, SCRIPTS

ROLE = REPO / "roles" / "logging"
SCRIPT = SCRIPTS / "bash" / "logging" / "setup-logging.sh"
SCENARIO = REPO / "molecule" / "logging"


def render_options(**overrides) -> list[str]:
    """The arguments the role gives setup-logging.sh for the defaults plus ``overrides`` (the files of
    the run are in /in)."""
    return rolelib.rendered_call(ROLE, **overrides)["tssr_script_args"]


@pytest.mark.parametrize(("folder", "files"), [
    ("logging", ["setup-logging.sh", "templates/forward.conf.tmpl", "templates/server.conf.tmpl",
                 "templates/logrotate.tmpl"]),
    ("lib", ["common.sh", "firewall.sh"]),
])
def test_the_role_ships_the_script_through_relative_links(folder, files):
    # The script comes from scripts/ through tssr_script's one relative link, with its folder and lib/.
    assert rolelib.rendered_call(ROLE)["tssr_script_file"] == "bash/logging/setup-logging.sh"
    for name in files:
        assert (rolelib.SHARED / "files" / "scripts" / "bash" / folder / name).is_file(), name


def test_the_script_is_packed_with_lib_beside_it():
    # A Bash script travels with lib/ beside it (scripts/bundles.yml); nothing else for this one.
    assert "setup-logging.sh" not in load(SCRIPTS / "bundles.yml")


def test_the_role_passes_only_options_the_script_knows():
    passed = rolelib.options_in(render_options(logging_server="l", logging_tls=True, logging_server_name="n",
                                               logging_ca_src="ca", logging_cert_src="c",
                                               logging_key_src="k"))
    passed |= rolelib.options_in(render_options(logging_mode="server", logging_allow=["10.0.0.0/24"],
                                                logging_listen="10.0.0.1", logging_port=1514))
    expected = {"--server", "--allow", "--tls", "--ca", "--key", "--quiet", "--server-name", "--port"}
    assert expected <= passed, passed
    rolelib.assert_passes_only_options_the_script_knows(passed | {"--dry-run"}, SCRIPT)


def test_client_options_are_the_scripts_client_command_line():
    assert render_options(logging_server="logs.lan") == [
        "client", "--server", "logs.lan", "--queue-size", "1024", "--quiet"]
    assert render_options(logging_server="10.0.0.5", logging_tls=True, logging_server_name="logs.lan",
                          logging_ca_src="ca.pem") == [
        "client", "--server", "10.0.0.5", "--queue-size", "1024", "--server-name", "logs.lan", "--tls",
        "--ca", "/in/ca.pem", "--quiet"]


def test_server_options_are_the_scripts_server_command_line():
    assert render_options(logging_mode="server", logging_allow=["10.0.0.0/24", "fd00::/64"]) == [
        "server", "--allow", "10.0.0.0/24", "--allow", "fd00::/64", "--dir", "/var/log/remote",
        "--keep-days", "30", "--quiet"]
    assert render_options(logging_mode="server", logging_allow=["10.0.0.0/24"], logging_port=1514,
                          logging_listen="10.0.0.1", logging_tls=True, logging_ca_src="ca.pem",
                          logging_cert_src="logs.pem", logging_key_src="logs.key") == [
        "server", "--allow", "10.0.0.0/24", "--listen", "10.0.0.1", "--port", "1514",
        "--dir", "/var/log/remote", "--keep-days", "30", "--tls",
        "--ca", "/in/ca.pem", "--cert", "/in/cert.pem", "--key", "/in/key.pem", "--quiet"]


def test_the_private_key_is_never_logged():
    rendered = rolelib.rendered_call(ROLE, logging_ca_src="ca.pem", logging_cert_src="c.pem",
                                     logging_key_src="k.pem")
    files = {file["name"]: file for file in rendered["tssr_script_files"]}
    assert {name: file["src"] for name, file in files.items()} == {
        "ca.pem": "ca.pem", "cert.pem": "c.pem", "key.pem": "k.pem"}
    assert files["key.pem"]["secret"] is True
    assert not files["ca.pem"].get("secret") and not files["cert.pem"].get("secret")


def test_the_exit_codes_the_role_explains_are_the_scripts():
    assert "/run/tssr-kit/setup-logging.lock" in rolelib.exit_meaning("bash/logging/setup-logging.sh", 3)


def test_the_playbook_sets_up_the_central_then_the_clients():
    server_play, client_play = load(REPO / "playbooks" / "logging.yml")
    assert server_play["hosts"] == "log_servers" and server_play["become"] is True
    assert server_play["roles"][0]["vars"]["logging_mode"] == "server"
    assert client_play["hosts"] == "all:!log_servers"
    assert client_play["roles"][0]["vars"] == {"logging_mode": "client",
                                               "logging_server": "{{ groups['log_servers'][0] }}"}


def test_the_scenario_checks_an_outage_on_each_platform_with_its_central():
    config = rolelib.scenario_config("logging")
    rolelib.assert_scenario_platforms(config, "logging")
    assert all(p["sysctls"] == {"net.unix.max_dgram_qlen": "512"} for p in config["platforms"])
    sequence = config["scenario"]["test_sequence"]
    assert sequence.index("cleanup") == sequence.index("destroy") - 1
    assert {"idempotence", "side_effect", "verify"} <= set(sequence)
    assert config["verifier"]["options"] == {"k": "test_logging.py"}
    assert config["verifier"]["env"]["TSSR_LOGGING_OUTAGE"] == "1"
    side_effect = (SCENARIO / "side_effect.yml").read_text(encoding="utf-8")
    assert "/root/tssr-logging-outage.txt" in side_effect and "state: stopped" in side_effect
    assert "-central" in (SCENARIO / "cleanup.yml").read_text(encoding="utf-8")
