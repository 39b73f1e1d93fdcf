"""is_ip_or_cidr (scripts/bash/lib/firewall.sh) against Python's ipaddress module, the reference.

setup-snmp.sh (--monitor, --listen, --v2c-source) and setup-logging.sh (--allow, --listen, --server)
check every address with it before nft, firewall-cmd, snmpd or rsyslog see one. It must accept what
``ipaddress.ip_interface`` accepts and refuse the rest, with three deliberate, documented differences
(stricter): no IPv6 zone (``fe80::1%eth0``: a firewall rule has no interface scope), no netmask after
the slash (``/255.255.255.0``), no leading zero in a prefix (``/08``). Leading zeros in an IPv4 octet
(``01.2.3.4``) are refused, as Python (3.9.5 and later) refuses them: some tools read them as octal.
"""

from __future__ import annotations

import ipaddress
import random
import re

import bashlib
import pytest

REFUSED = ["1:2:3", "::::", ":::", "1.2.3", "01.2.3.4", "1.2.3.04", "fe80::1%eth0", "fe80::1%1",
           "1.2.3.4/33", "::/129", "1.2.3.4/", "/24", "1.2.3.4/-1", "1.2.3.4/08", "1.2.3.4/255.255.255.0",
           "256.1.1.1", "1.2.3.4.5", "1..2.3", ".1.2.3", "1.2.3.", "1::2::3", "1:2:3:4:5:6:7:8:9",
           "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "12345::", "g::1", ":1::", "1::2:", "::1.2.3",
           "1:2:3:4:5:6:7:1.2.3.4", "::ffff:01.2.3.4", "::ffff:1.2.3.4:5", "1.2.3.4::", "", " ", "/",
           " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n", "1.2.3.4/24/8", "0x1.2.3.4", "1.2.3.4;id", "١.٢.٣.٤",
           "1.2.3.4/3\u0662", "::/0128", "10.0.0.0/24 ", "1,2,3,4"]
ACCEPTED = ["0.0.0.0/0", "10.0.0.5", "10.0.0.0/8", "192.0.2.10/32", "255.255.255.255", "10.0.0.5/24",
            "::", "::1", "::/0", "fd00::/64", "2001:db8::5", "2001:DB8:0:0:0:0:0:1/128", "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "::ffff:192.0.2.1", "64:ff9b::192.0.2.1/96",
            "1:2:3:4:5:6:1.2.3.4", "0000:0000::0001"]


def python_says(value: str) -> bool:
    """ipaddress.ip_interface, less what the kit refuses on purpose (see the module docstring)."""
    if "%" in value:
        return False
    if "/" in value and not re.fullmatch(r"0|[1-9][0-9]{0,2}", value.split("/", 1)[1]):
        return False
    try:
        ipaddress.ip_interface(value)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("value", REFUSED)
def test_is_ip_or_cidr_refuses_what_is_not_an_address(value: str) -> None:
    assert bashlib.each("is_ip_or_cidr", [value]) == [False]
    assert python_says(value) is False, "the reference disagrees: fix the list"


@pytest.mark.parametrize("value", ACCEPTED)
def test_is_ip_or_cidr_accepts_addresses_and_networks(value: str) -> None:
    assert bashlib.each("is_ip_or_cidr", [value]) == [True]
    assert python_says(value) is True, "the reference disagrees: fix the list"


def mutations(rng: random.Random) -> list[str]:
    """Valid addresses, then each cut, doubled, or with a character changed, added or removed."""
    seeds = ACCEPTED + [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(40)] + \
        [str(ipaddress.IPv6Address(rng.getrandbits(128))) for _ in range(40)] + \
        [ipaddress.IPv6Address(rng.getrandbits(128)).exploded for _ in range(20)]
    alphabet = "0123456789abcdefABCDEFg:./%-x "
    out = []
    for seed in seeds:
        out.append(seed)
        for _ in range(12):
            chars = list(seed)
            where = rng.randrange(len(chars) + 1)
            action = rng.randrange(4)
            if action == 0 and chars:
                del chars[min(where, len(chars) - 1)]
            elif action == 1:
                chars.insert(where, rng.choice(alphabet))
            elif action == 2 and chars:
                chars[min(where, len(chars) - 1)] = rng.choice(alphabet)
            else:
                chars += list(f"/{rng.choice(['0', '8', '24', '32', '33', '64', '128', '129', '08', ''])}")
            out.append("".join(chars))
    out += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 16))) for _ in range(800)]
    return out


def test_is_ip_or_cidr_agrees_with_python_on_thousands_of_near_misses() -> None:
    values = mutations(random.Random(1414))  # noqa: S311 - repeatable test data, not a secret
    answers = bashlib.each("is_ip_or_cidr", values)
    disagreements = [(v, a) for v, a in zip(values, answers, strict=True) if a != python_says(v)]
    assert not disagreements, f"{len(disagreements)} of {len(values)}: {disagreements[:20]}"
