"""The declarations of scripts/bash/lib/firewall.sh, the kit's one firewall owner: what firewall_open accepts,
and the files an opening is written as (nft_opening_files), before nft ever reads them.

nft itself, the kernel and real clients are in tests/containers/test_firewall.py (the baseline, the web
opening, the migration of an older host, and deploy-lamp + setup-snmp + setup-logging on one host) and in
test_snmp.py and test_logging.py.
"""

from __future__ import annotations

from pathlib import Path

import bashlib
import pytest
from test_ssh_ports import fake_sshd


def opening_files(tmp_path: Path, *args: str) -> dict[str, str]:
    """The files nft_opening_files writes for an opening (name, proto, ports, from), by name."""
    proc = bashlib.bash('nft_opening_files "$@"', str(tmp_path), *args)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return {p.name: p.read_text() for p in sorted(tmp_path.iterdir())}


def test_an_opening_to_anyone_is_one_accept_rule_for_the_baseline_and_no_table(tmp_path: Path) -> None:
    files = opening_files(tmp_path, "web", "tcp", "80,443", "any")
    assert list(files) == ["web.rules"]
    rules = [line for line in files["web.rules"].splitlines() if not line.startswith("#")]
    assert rules == ["tcp dport { 80, 443 } accept"]
    assert "unit-test" not in files["web.rules"], "the file must not name the script: two scripts write it"


def test_an_opening_to_a_few_sources_has_its_rules_and_a_table_that_drops_the_others(tmp_path: Path) -> None:
    files = opening_files(tmp_path, "snmp", "udp", "161", "192.0.2.10,2001:db8::/64,198.51.100.0/24")
    assert list(files) == ["snmp.nft", "snmp.rules"]
    accept = ["ip saddr { 192.0.2.10, 198.51.100.0/24 } udp dport 161 accept",
              "ip6 saddr { 2001:db8::/64 } udp dport 161 accept"]
    assert [line for line in files["snmp.rules"].splitlines() if not line.startswith("#")] == accept
    table = files["snmp.nft"]
    assert "table inet tssr_snmp {" in table and "policy accept;" in table
    body = [line.strip() for line in table.splitlines()]
    assert body.index(accept[0]) < body.index("udp dport 161 drop")
    assert body.index(accept[1]) < body.index("udp dport 161 drop")


@pytest.mark.parametrize("args", [
    ("Web", "tcp", "80", "any"),                # a name nft and the files would not take as it is
    ("web", "icmp", "80", "any"),
    ("web", "tcp", "80;443", "any"),
    ("web", "tcp", "0", "any"),
    ("web", "tcp", "70000", "any"),
    ("web", "tcp", "80", "any", "192.0.2.1"),   # anyone and a few at once
    ("snmp", "udp", "161", "192.0.2.1; flush ruleset"),
    ("snmp", "udp", "161", "01.2.3.4"),
    ("snmp", "udp", "161"),                     # from nobody
])
def test_firewall_open_refuses_what_a_script_should_never_declare(args: tuple[str, ...]) -> None:
    proc = bashlib.bash('firewall_open "$@"; echo "declared: ${FIREWALL_OPENINGS[*]}"', *args)
    assert proc.returncode == 1, proc
    assert b"a bug in unit-test" in proc.stderr, proc.stderr
    assert b"declared:" not in proc.stdout


def test_firewall_open_never_restricts_a_port_ssh_logins_use(tmp_path: Path) -> None:
    env = fake_sshd(tmp_path, "port 22\nport 2222\nlistenaddress 0.0.0.0:2222\n")
    proc = bashlib.bash('firewall_open syslog tcp 2222 10.0.0.0/24; echo declared', env=env)
    assert proc.returncode == 1 and b"declared" not in proc.stdout, proc
    assert b"tcp/2222 is a port SSH logins use" in proc.stderr, proc.stderr
    # Open to anyone, an SSH port is harmless: the baseline lets it in anyway.
    proc = bashlib.bash('firewall_open sshalso tcp 2222 any; echo "${FIREWALL_OPENINGS[*]}"', env=env)
    assert proc.returncode == 0 and proc.stdout == b"sshalso tcp 2222 any\n", proc


def test_firewall_open_stops_when_the_ssh_ports_cannot_be_told(tmp_path: Path) -> None:
    env = fake_sshd(tmp_path, "/etc/ssh/sshd_config line 3: Bad configuration option: Bogus\n", 255)
    proc = bashlib.bash('firewall_open syslog tcp 514 10.0.0.0/24; echo declared', env=env)
    assert proc.returncode == 1 and b"declared" not in proc.stdout, proc
    assert b"nothing of the firewall was changed" in proc.stderr, proc.stderr


def test_declarations_are_kept_in_order_for_firewall_apply() -> None:
    proc = bashlib.bash('firewall_baseline; firewall_open web tcp 80,443 any; '
                        'firewall_open snmp udp 161 192.0.2.10 2001:db8::1; '
                        'printf "%s\\n" "$FIREWALL_BASELINE" "${FIREWALL_OPENINGS[@]}"')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().splitlines() == ["true", "web tcp 80,443 any",
                                                 "snmp udp 161 192.0.2.10,2001:db8::1"]
