"""Every script's result line stays one valid JSON object, whatever bytes its input held.

A value that reaches a result line (an error quoting the option it refuses, a name, a path) may hold
anything: terminal escapes, a carriage return, bytes that are not UTF-8, C1 controls. Every Bash script
builds its line with lib/common.sh's result_line, which quotes every string with json_quote
(provision-users.sh too, since issue 15), every Python script with json.dumps. Here each script is run,
in a container of each platform, with one option set to such a value (read from a file inside the
container: docker's exec API would mend invalid UTF-8 on the way): the run must refuse it (exit 2,
nothing changed), and its last stdout line must be valid UTF-8, parse as one JSON object, carry no raw
control character, and still hold the value, escaped, as data.

RedHat: *skipped, not run: no image* unless TSSR_REDHAT_IMAGE names one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from containerlib import (
    PLATFORMS,
    SCRIPT_DIR,
    Node,
    Platform,
    ScriptRun,
    assert_nothing_changed,
    host_state_script,
    kit_copies,
    parse_snapshot,
    start_systemd_node,
    stop_node,
)

pytestmark = [pytest.mark.containers]

COPIES = kit_copies("scripts", "examples/lamp/parc-v1")
# ESC sequences (clear the screen, set the clipboard), BEL, CR, bytes that are not UTF-8, a C1 CSI.
HOSTILE = b"\x1b[2J\x1b]52;c;eA==\x07\r\xff\xfe\xc2\x9bend"
VALUE_FILE = "/root/hostile-value"
S = f"{SCRIPT_DIR}/scripts"
SNMP_ENV = "TSSR_SNMP_USER=monitor TSSR_SNMP_AUTH_PASSPHRASE=abcdefghij TSSR_SNMP_PRIV_PASSPHRASE=abcdefghij"
SNAPSHOT = host_state_script(("/etc/tssr-kit", "/var/lib/tssr-kit", "/etc/rsyslog.d", "/etc/snmp",
                              "/etc/nftables.conf", "/var/backups", "/srv", "/etc/passwd", "/etc/group"))

# script name in its result line -> the command, "$v" standing for the hostile value.
CASES = {
    "setup-logging.sh": f'bash {S}/bash/logging/setup-logging.sh client --server "$v"',
    "setup-snmp.sh": f'env {SNMP_ENV} bash {S}/bash/snmp/setup-snmp.sh --monitor "$v"',
    "backup.sh": f'bash {S}/bash/backup/backup.sh --job "$v" --source /etc/hostname',
    "restore.sh": f'bash {S}/bash/backup/restore.sh --job "$v"',
    "deploy-lamp": f'bash {S}/bash/lamp/deploy-lamp.sh --app {SCRIPT_DIR}/examples/lamp/parc-v1'
                   ' --domain "$v"',
    "deploy-java": f'bash {S}/bash/java/deploy-java.sh --jar "$v"',
    "provision-users (bash)": f'bash {S}/bash/users/provision-users.sh "$v"',
    "provision-users (python)": f'python3 {S}/python/provision_users.py "$v"',
}


@pytest.fixture(scope="module", params=[pytest.param(p, id=p.name) for p in PLATFORMS.values()])
def node(request: pytest.FixtureRequest) -> Iterator[Node]:
    platform: Platform = request.param
    started = start_systemd_node(platform, COPIES, "tssr-test-json")
    try:
        started.write(VALUE_FILE, HOSTILE, "0600")
        yield started
    finally:
        stop_node(started)


def strings(value: object) -> list[str]:
    """Every string in a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def raw_controls(text: str) -> list[str]:
    return [c for c in text if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0]


@pytest.mark.parametrize("command", list(CASES.values()), ids=list(CASES))
def test_a_hostile_value_leaves_the_result_line_valid_json_and_changes_nothing(node: Node, command: str
                                                                              ) -> None:
    before = parse_snapshot(node.sh(SNAPSHOT))
    argv = ("bash", "-c", f'v="$(cat {VALUE_FILE})"; cd /root && {command}')
    proc = node.exec(*argv, timeout=300)
    after = parse_snapshot(node.sh(SNAPSHOT))
    run = ScriptRun(proc.returncode, repr(proc.stdout), proc.stderr.decode(errors="replace"), argv)
    assert proc.returncode == 2, run
    last = proc.stdout.rstrip(b"\n").split(b"\n")[-1]
    text = last.decode("utf-8")                                  # strict: valid UTF-8
    assert not raw_controls(text), f"raw controls {raw_controls(text)!r} in {text!r}"
    result = json.loads(text)
    assert isinstance(result, dict) and result["status"] == "failed", run
    assert any("\x1b[2J" in value for value in strings(result)), f"the value is not in the result: {text}"
    assert not node.exists("/tmp/pwned")
    assert_nothing_changed(before, after, run)

