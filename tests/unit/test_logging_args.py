"""setup-logging.sh's command line, read by the script's own parse_args (the script sourced by a real
bash): the mode comes first, except for the options every script takes, which `inv`'s runner puts in
front when it asks each host for a dry run (`setup-logging.sh --dry-run server …`)."""

from __future__ import annotations

import subprocess

import pytest

from tssrkit.paths import SCRIPTS

SCRIPT = SCRIPTS / "bash" / "logging" / "setup-logging.sh"


def parse(*args: str) -> subprocess.CompletedProcess[str]:
    body = f'source {SCRIPT}; parse_args "$@"; printf "%s %s %s\\n" "$MODE" "$DRY_RUN" "$QUIET"'
    return subprocess.run(["bash", "-c", body, "unit-test", *args], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("args", [
    ("--dry-run", "server", "--allow", "10.0.0.0/8"),
    ("server", "--allow", "10.0.0.0/8", "--dry-run"),
    ("-n", "-q", "server", "--allow", "10.0.0.0/8"),
])
def test_a_dry_run_asked_before_or_after_the_mode_is_a_dry_run_of_that_mode(args):
    proc = parse(*args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[:2] == ["server", "true"]


@pytest.mark.parametrize("args", [("--allow", "10.0.0.0/8", "server"), ("--dry-run", "--tls", "server")])
def test_any_other_option_before_the_mode_is_refused_with_exit_2(args):
    proc = parse(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "mode" in proc.stderr or "unknown option" in proc.stderr or "unexpected" in proc.stderr
