"""roles/syslog without a host: its links to the script, its documented variables, the script's options
and exit codes it relies on, its playbook and its Molecule scenario.

The role runs scripts/bash/syslog/setup-logging.sh with the shared scripts/bash/lib (one source); its
variables are documented three times (defaults/main.yml for readers, meta/argument_specs.yml for
Ansible's validation, the README's table), which must agree. The options the role builds are checked
by rendering vars/main.yml's expression with Jinja2, as Ansible would.
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "syslog"
SCRIPT = REPO / "scripts" / "bash" / "syslog" / "setup-logging.sh"
SCENARIO = REPO / "molecule" / "syslog"


def load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def argument_options() -> dict:
    return load(ROLE / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]


def script_header() -> str:
    lines = []
    for line in SCRIPT.read_text(encoding="utf-8").splitlines()[1:]:
        if not line.startswith("#"):
            break
        lines.append(line[2:])
    return "\n".join(lines)


def script_options() -> set[str]:
    """The options the script's parser knows (its `case` labels: `--server)`, `-n | --dry-run)`)."""
    labels = re.compile(r"^\s+((?:-\w \| )?--[a-z-]+(?: \| --[a-z-]+)*)\)", re.MULTILINE)
    return {option for label in labels.findall(SCRIPT.read_text(encoding="utf-8"))
            for option in re.findall(r"--[a-z-]+", label)}


def render_options(**overrides) -> list[str]:
    """vars/main.yml's __syslog_options for the defaults plus ``overrides``, rendered like Ansible."""
    values = {**load(ROLE / "defaults" / "main.yml"), **overrides}
    # Rendering a YAML list, not HTML: nothing to escape.
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701
    env.filters["product"] = lambda a, b: [[x, y] for x in a for y in b]
    env.filters["flatten"] = lambda seq, levels=1: [item for sub in seq for item in sub]
    expression = load(ROLE / "vars" / "main.yml")["__syslog_options"]
    return yaml.safe_load(env.from_string(expression).render(**values))


@pytest.mark.parametrize(("link", "target", "files"), [
    ("syslog", "scripts/bash/syslog", ["setup-logging.sh", "templates/forward.conf.tmpl",
                                       "templates/server.conf.tmpl", "templates/logrotate.tmpl"]),
    ("lib", "scripts/bash/lib", ["common.sh", "firewall.sh"]),
])
def test_the_role_ships_the_script_through_relative_links(link, target, files):
    path = ROLE / "files" / link
    assert path.is_symlink(), f"files/{link} is a copy, not a link to {target}"
    assert not Path(path.readlink()).is_absolute(), "an absolute link breaks in another checkout"
    assert path.resolve() == (REPO / target).resolve()
    for name in files:
        assert (path / name).is_file(), f"files/{link}/{name} is missing"


def test_the_script_is_packed_with_lib_beside_it():
    tasks = (ROLE / "tasks" / "main.yml").read_text(encoding="utf-8")
    assert "'--directory', role_path ~ '/files/syslog/', '.'" in tasks
    assert "'--directory', role_path ~ '/files', 'lib'" in tasks
    assert "--dereference" in load(ROLE / "vars" / "main.yml")["__syslog_tar_create"]


def test_every_default_is_validated_with_the_same_value():
    defaults = load(ROLE / "defaults" / "main.yml")
    options = argument_options()
    for name, value in defaults.items():
        assert name in options, f"{name} has no entry in meta/argument_specs.yml"
        assert options[name].get("default") == value, f"{name}: {value!r} vs {options[name].get('default')!r}"


def test_every_validated_option_has_a_default_and_the_role_prefix():
    defaults = load(ROLE / "defaults" / "main.yml")
    for name in argument_options():
        assert name.startswith("syslog_"), f"{name}: role variables are prefixed with syslog_"
        assert name in defaults, f"{name}: not in defaults/main.yml"


def test_the_readme_documents_every_variable():
    readme = (ROLE / "README.md").read_text(encoding="utf-8")
    missing = [name for name in argument_options() if f"`{name}`" not in readme]
    assert missing == [], f"not in the README's table: {missing}"


def test_the_role_passes_only_options_the_script_knows():
    text = (ROLE / "tasks" / "main.yml").read_text(encoding="utf-8")
    text += (ROLE / "vars" / "main.yml").read_text(encoding="utf-8")
    passed = set(re.findall(r"'(--[a-z-]+)'", text)) - {"--directory", "--file"}
    assert {"--server", "--allow", "--tls", "--ca", "--key", "--dry-run", "--quiet"} <= passed, passed
    unknown = passed - script_options()
    assert unknown == set(), f"options the script does not parse: {sorted(unknown)}"


def test_client_options_are_the_scripts_client_command_line():
    assert render_options(syslog_server="logs.lan") == [
        "client", "--server", "logs.lan", "--queue-size", "1024"]
    assert render_options(syslog_server="10.0.0.5", syslog_tls=True, syslog_server_name="logs.lan") == [
        "client", "--server", "10.0.0.5", "--queue-size", "1024", "--server-name", "logs.lan", "--tls"]


def test_server_options_are_the_scripts_server_command_line():
    assert render_options(syslog_mode="server", syslog_allow=["10.0.0.0/24", "fd00::/64"]) == [
        "server", "--allow", "10.0.0.0/24", "--allow", "fd00::/64", "--dir", "/var/log/remote",
        "--keep-days", "30"]
    assert render_options(syslog_mode="server", syslog_allow=["10.0.0.0/24"], syslog_port=1514,
                          syslog_listen="10.0.0.1", syslog_tls=True) == [
        "server", "--allow", "10.0.0.0/24", "--listen", "10.0.0.1", "--port", "1514",
        "--dir", "/var/log/remote", "--keep-days", "30", "--tls"]


def test_the_private_key_is_never_logged():
    tasks = (ROLE / "tasks" / "main.yml").read_text(encoding="utf-8")
    assert "no_log: \"{{ item.option == '--key' }}\"" in tasks


def test_the_exit_codes_the_role_explains_are_the_scripts():
    section = script_header().split("Exit codes:", 1)[1].split("\n\n", 1)[0]
    documented = {int(code) for code in re.findall(r"^\s+(\d)\s", section, re.MULTILINE)}
    meanings = load(ROLE / "vars" / "main.yml")["__syslog_exit_meanings"]
    assert set(meanings) == documented - {0}
    assert "/run/lock/tssr-kit-setup-logging.lock" in meanings[3]


def test_the_playbook_sets_up_the_central_then_the_clients():
    server_play, client_play = load(REPO / "playbooks" / "logging.yml")
    assert server_play["hosts"] == "log_servers" and server_play["become"] is True
    assert server_play["roles"][0]["vars"]["syslog_mode"] == "server"
    assert client_play["hosts"] == "all:!log_servers"
    assert client_play["roles"][0]["vars"] == {"syslog_mode": "client",
                                               "syslog_server": "{{ groups['log_servers'][0] }}"}


def test_the_scenario_checks_an_outage_on_each_platform_with_its_central():
    config = load(SCENARIO / "molecule.yml")
    names = [p["name"] for p in config["platforms"]]
    assert names == ["syslog-debian12", "syslog-debian13", "syslog-redhat9"]
    for platform in config["platforms"]:
        assert platform["networks"] == [{"name": f"{platform['name']}-net"}]
    sequence = config["scenario"]["test_sequence"]
    assert sequence.index("cleanup") == sequence.index("destroy") - 1
    assert {"idempotence", "side_effect", "verify"} <= set(sequence)
    assert config["verifier"]["options"] == {"k": "test_logging.py"}
    assert config["verifier"]["env"]["TSSR_LOGGING_OUTAGE"] == "1"
    side_effect = (SCENARIO / "side_effect.yml").read_text(encoding="utf-8")
    assert "/root/tssr-logging-outage.txt" in side_effect and "state: stopped" in side_effect
    assert "-central" in (SCENARIO / "cleanup.yml").read_text(encoding="utf-8")
