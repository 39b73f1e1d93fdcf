"""`render … | put_file …` never installs an empty file (scripts/bash/lib/common.sh).

When render dies (a template missing, a placeholder left unfilled) it prints nothing, in a subshell of
the pipeline: put_file used to install that empty stdin (an empty vhost even passes `apachectl -t`) and
the run went on. Now put_file refuses an empty content unless --allow-empty says so, and, because
common.sh sets lastpipe, it runs in the script's own shell: its refusal ends the run (exit 1, a failed
result line), whatever the call site looks like: plain, inside an `if`, or followed by `|| true`. The
file that was there stays as it was. The container tests run the scripts; these call the library as
the scripts do, with every shape of call site the scripts use.
"""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

import bashlib
import pytest

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = Path("/").group() if os.getuid() == 0 else OWNER


def run_with_templates(tmp_path: Path, body: str):
    templates = tmp_path / "templates"
    templates.mkdir(exist_ok=True)
    (templates / "site.conf.tmpl").write_text("ServerName {{DOMAIN}}\n")
    (tmp_path / "work").mkdir(exist_ok=True)
    setup = (f'TMP_DIR={tmp_path}/work TEMPLATES={templates} TEMPLATE_DIRS=({templates})\n'
             f'OWNER={OWNER} GROUP={os.getgid()}\n')
    return bashlib.bash(setup + body)


CALL_SITES = {
    "plain": 'render {tmpl} {pairs} | put_file "$1" $OWNER $GROUP 0644 "the vhost"\necho went-on',
    "in-an-if": 'if render {tmpl} {pairs} | put_file "$1" $OWNER $GROUP 0644 "the vhost"; then echo yes; fi\n'
                'echo went-on',
    "or-true": 'render {tmpl} {pairs} | put_file "$1" $OWNER $GROUP 0644 "the vhost" || true\necho went-on',
    "and-then": 'render {tmpl} {pairs} | put_file "$1" $OWNER $GROUP 0644 "the vhost" && echo yes\n'
                'echo went-on',
}
FAILED_RENDERS = {
    "missing-template": ("missing.conf.tmpl", ""),
    "placeholder-left": ("site.conf.tmpl", ""),           # DOMAIN not given
}


@pytest.mark.parametrize("site", list(CALL_SITES))
@pytest.mark.parametrize("failure", list(FAILED_RENDERS))
@pytest.mark.parametrize("existing", [None, "ServerName old.example\n"], ids=["new-file", "existing-file"])
def test_a_failed_render_piped_into_put_file_stops_the_run_and_installs_nothing(
        tmp_path: Path, site: str, failure: str, existing: str | None) -> None:
    target = tmp_path / "etc" / "site.conf"
    if existing is not None:
        target.parent.mkdir()
        target.write_text(existing)
    tmpl, pairs = FAILED_RENDERS[failure]
    body = CALL_SITES[site].format(tmpl=tmpl, pairs=pairs).replace('"$1"', str(target))
    proc = run_with_templates(tmp_path, body)
    out = proc.stdout.decode()
    assert proc.returncode == 1, (out, proc.stderr)
    assert "went-on" not in out and "yes" not in out
    result = json.loads(out.splitlines()[-1])
    assert result["status"] == "failed" and result["changed"] == 0, result
    assert "came out empty" in result["error"], result
    if existing is None:
        assert not target.exists()
    else:
        assert target.read_text() == existing
    assert not list(target.parent.glob(".tssr-kit.*")) if target.parent.exists() else True


def test_a_good_render_piped_into_put_file_installs_it_and_counts_one_change(tmp_path: Path) -> None:
    target = tmp_path / "etc" / "site.conf"
    proc = run_with_templates(tmp_path, f'render site.conf.tmpl DOMAIN=www.example | '
                                        f'put_file {target} $OWNER $GROUP 0644 "the vhost"\n'
                                        'echo "changes=$CHANGES"')
    assert proc.returncode == 0, proc.stderr
    assert target.read_text() == "ServerName www.example\n"
    assert proc.stdout.decode().strip() == "changes=1"       # lastpipe: the count stays in this shell


def test_put_file_refuses_empty_content_unless_allow_empty(tmp_path: Path) -> None:
    target = tmp_path / "empty.conf"
    refused = run_with_templates(tmp_path, f'printf "" | put_file {target} $OWNER $GROUP 0644 "a file"')
    assert refused.returncode == 1 and not target.exists(), refused.stderr
    allowed = run_with_templates(tmp_path, f'printf "" | put_file --allow-empty {target} $OWNER $GROUP 0644 '
                                           '"a file"; echo "changes=$CHANGES"')
    assert allowed.returncode == 0, allowed.stderr
    assert target.exists() and target.read_bytes() == b""
    assert allowed.stdout.decode().strip() == "changes=1"


def test_a_producer_that_dies_before_printing_stops_the_run_too(tmp_path: Path) -> None:
    target = tmp_path / "unit.service"
    body = (f'produce() {{ die 1 "cannot read the settings"; }}\n'
            f'produce | put_file {target} $OWNER $GROUP 0644 "the unit" || true\necho went-on')
    proc = run_with_templates(tmp_path, body)
    assert proc.returncode == 1 and b"went-on" not in proc.stdout and not target.exists()
    assert b"cannot read the settings" in proc.stderr
