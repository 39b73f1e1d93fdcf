"""The systemd container options are spelled twice (Python for the lab and tests, YAML for Molecule):
this keeps the two in agreement."""

from __future__ import annotations

import pytest
import rolelib

from tssrkit.containers import SYSTEMD_RUN_ARGS


def expected() -> dict[str, set[str]]:
    pairs = list(zip(SYSTEMD_RUN_ARGS[::2], SYSTEMD_RUN_ARGS[1::2], strict=True))
    return {
        "capabilities": {v for k, v in pairs if k == "--cap-add"},
        "volumes": {v for k, v in pairs if k == "--volume"},
        "tmpfs": {v for k, v in pairs if k == "--tmpfs"},
    }


def molecule_platforms() -> list:
    """Every platform of every scenario, as Molecule reads it (the shared base config under the
    scenario's molecule.yml)."""
    found = []
    for scenario in rolelib.scenarios():
        for platform in rolelib.scenario_config(scenario)["platforms"]:
            found.append(pytest.param(platform, id=f"{scenario}/{platform['name']}"))
    return found


def test_there_are_molecule_platforms():
    assert molecule_platforms()


@pytest.mark.parametrize("platform", molecule_platforms())
def test_molecule_platform_runs_systemd_like_the_lab(platform):
    want = expected()
    for key, values in want.items():
        assert values <= set(platform.get(key, [])), f"{key}: {sorted(values - set(platform.get(key, [])))}"
    assert not platform.get("privileged"), "--privileged fails here and is more power than systemd needs"
    assert platform.get("stop_signal") == "SIGRTMIN+3"
    assert "systemd" in platform.get("command", "") or "init" in platform.get("command", "")
