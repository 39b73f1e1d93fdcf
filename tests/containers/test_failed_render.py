"""A template that fails to render never becomes an empty file, and the failure is never hidden.

The scripts write their configuration files with `render TEMPLATE … | put_file PATH …` (and
`| put_file_apache`, `| put_setting`). When render dies (its template missing, or a placeholder left
unfilled) it prints nothing; put_file used to install that empty text — an empty vhost even passes
`apachectl -t` — and `|| true` or an `if` hid the failure. Now (scripts/bash/lib/common.sh) put_file
refuses an empty content and, with lastpipe, runs in the script's own shell: the run stops there, exit
1, a failed result line naming the file, the file not written.

The call sites are the scripts' own, unmodified: only a template is removed or broken in a copy of the
scripts inside the container. Per platform (Debian 12, Debian 13; RedHat with TSSR_REDHAT_IMAGE, else
*skipped, not run: no image*), one systemd container:

- backup.sh --install-timer (a real run): the timer's or the service's template missing;
- deploy-lamp.sh --dry-run (the dry run reaches MariaDB's and PHP's settings without installing
  anything): their templates missing or broken — the dry run used to say all would be well.
"""

from __future__ import annotations

import time
import uuid
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
    script_result,
    start_systemd_node,
    stop_node,
)

pytestmark = [pytest.mark.containers]

COPIES = kit_copies("scripts/bash", "scripts/python", "examples/lamp/parc-v1")
UNIT_DIR = "/etc/systemd/system"
SNAPSHOT = host_state_script(("/etc/mysql", "/etc/php", "/etc/apache2", "/etc/nftables.conf", "/etc/tssr-kit",
                              "/var/lib/tssr-kit", "/srv"))


@pytest.fixture(scope="module", params=[pytest.param(p, id=p.name) for p in PLATFORMS.values()])
def node(request: pytest.FixtureRequest) -> Iterator[Node]:
    platform: Platform = request.param
    started = start_systemd_node(platform, COPIES, "tssr-test-render")
    try:
        yield started
    finally:
        stop_node(started)


def scripts_with(node: Node, change: str) -> str:
    """A private copy of the scripts in the container, with ``change`` (a shell snippet run in its
    root) applied; returns the copy's root."""
    root = f"/root/case-{uuid.uuid4().hex[:8]}"
    node.sh(f"cp -r {SCRIPT_DIR}/scripts {root} && cd {root} && {change}")
    return root


def run(node: Node, *argv: str) -> ScriptRun:
    start = time.monotonic()
    return ScriptRun.of(node.exec(*argv, timeout=600), argv, start)


def assert_stopped_at(run_: ScriptRun, script: str, path: str) -> None:
    assert run_.exit == 1, run_
    result = script_result(run_, script)
    assert result["status"] == "failed", run_
    assert f"({path}) came out empty" in result["error"], run_


@pytest.mark.parametrize(("template", "unit", "later"), [
    ("tssr-backup@.timer.tmpl", "tssr-backup@.timer", ()),
    ("tssr-backup@.service.tmpl", "tssr-backup@.service", ("tssr-backup@.timer",)),
], ids=["timer-template-missing", "service-template-missing"])
def test_backup_install_timer_stops_and_writes_no_empty_unit(node: Node, template: str, unit: str,
                                                             later: tuple[str, ...]) -> None:
    node.sh(f"rm -f {UNIT_DIR}/tssr-backup@.service {UNIT_DIR}/tssr-backup@.timer")
    root = scripts_with(node, f"rm bash/backup/templates/{template}")
    outcome = run(node, "bash", f"{root}/bash/backup/backup.sh", "--install-timer", "--job", "rendercase",
                  "--source", "/etc/hostname")
    assert_stopped_at(outcome, "backup.sh", f"{UNIT_DIR}/{unit}")
    assert f"template {template} not found" in outcome.stderr, outcome
    for name in (unit, *later):
        assert not node.exists(f"{UNIT_DIR}/{name}"), f"{name} was written{outcome!r}"


@pytest.mark.parametrize(("change", "path"), [
    ("rm bash/lamp/templates/mariadb.cnf.tmpl", "/etc/mysql/mariadb.conf.d/99-tssr-kit.cnf"),
    ("printf 'max_connections = {{NOT_FILLED}}\\n' >> bash/lamp/templates/mariadb.cnf.tmpl",
     "/etc/mysql/mariadb.conf.d/99-tssr-kit.cnf"),
], ids=["template-missing", "placeholder-left"])
def test_deploy_lamp_dry_run_fails_when_a_template_cannot_render(node: Node, change: str, path: str) -> None:
    root = scripts_with(node, change)
    before = parse_snapshot(node.sh(SNAPSHOT))
    outcome = run(node, "bash", f"{root}/bash/lamp/deploy-lamp.sh", "--dry-run", "--app",
                  f"{SCRIPT_DIR}/examples/lamp/parc-v1")
    after = parse_snapshot(node.sh(SNAPSHOT))
    assert_stopped_at(outcome, "deploy-lamp", path)
    assert_nothing_changed(before, after, outcome)
