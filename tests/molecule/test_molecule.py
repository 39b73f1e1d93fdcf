"""Every Molecule scenario on every platform: `molecule test -s SCENARIO --platform-name PLATFORM`.

One test per scenario folder in molecule/ and per platform of its molecule.yml (ids like
`users-debian12`), run from the repository root with the repository's collections, one at a time.
A platform whose image comes from an environment variable that is not set (the RedHat family:
TSSR_REDHAT_IMAGE) is skipped, "not run", never passed. The local Debian images missing is a
failure: build them with `inv images`.

    pytest -m molecule tests/molecule                  # all of them
    pytest -m molecule tests/molecule -k users-debian12
    TSSR_REDHAT_IMAGE=my/el9-systemd pytest -m molecule tests/molecule -k redhat

Each run's duration is printed in a "molecule timings" section at the end of the session; `-rP` shows
the Molecule output of the runs that passed too.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MOLECULE_DIR = REPO / "molecule"
BIN = Path(sys.executable).parent
TIMEOUT = int(os.environ.get("TSSR_MOLECULE_TIMEOUT", "1800"))  # seconds for one scenario on one platform
# `${NAME}` or `${NAME:-default}` in a platform's image: Molecule fills it from the environment.
IMAGE_VARIABLE = re.compile(r"\$\{(\w+)")


def platforms() -> list:
    """(scenario, platform name, image as written) for every platform of every scenario."""
    found = []
    for molecule_yml in sorted(MOLECULE_DIR.glob("*/molecule.yml")):
        config = yaml.safe_load(molecule_yml.read_text(encoding="utf-8"))
        for platform in config.get("platforms", []):
            scenario = molecule_yml.parent.name
            name = platform["name"]
            test_id = name if name.startswith(f"{scenario}-") else f"{scenario}-{name}"
            # One xdist worker runs every platform of a scenario, one after the other (see the lock
            # below): a second worker would only wait for it.
            found.append(pytest.param(scenario, name, str(platform.get("image", "")), id=test_id,
                                      marks=pytest.mark.xdist_group(f"molecule-{scenario}")))
    return found


def molecule_env() -> dict[str, str]:
    """The environment of a run: this venv's tools first, the repository's collections, no colours."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO / ".tssr" / "collections")
    env["ANSIBLE_ROLES_PATH"] = str(REPO / "roles")
    env.update({"NO_COLOR": "1", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0"})
    return env


def molecule() -> str:
    path = BIN / "molecule"
    found = str(path) if path.exists() else shutil.which("molecule")
    assert found, "molecule is not installed: run ./setup"
    return found


def require_image(image: str) -> None:
    """Skip when the image comes from an unset variable; fail when a named local image is missing."""
    unset = [name for name in IMAGE_VARIABLE.findall(image) if not os.environ.get(name)]
    if unset:
        pytest.skip(f"not run: no image (set {unset[0]})")
    if "$" not in image:
        probe = subprocess.run(["docker", "image", "inspect", image], capture_output=True, text=True)
        assert probe.returncode == 0, f"image {image} is missing: build it with `inv images`"


@pytest.mark.molecule
@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "platform", "image"), platforms())
def test_molecule_scenario_passes_on_platform(scenario, platform, image, request, molecule_timings):
    require_image(image)
    # One run of a scenario at a time: Molecule keeps one state folder per scenario, whatever the
    # platform, so two runs of one scenario (pytest -n, or two sessions) would trample each other.
    lock_path = REPO / ".tssr" / f"molecule-{scenario}.lock"
    lock_path.parent.mkdir(exist_ok=True)
    argv = [molecule(), "test", "--scenario-name", scenario, "--platform-name", platform]
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        started = time.monotonic()
        try:
            proc = subprocess.run(argv, cwd=REPO, env=molecule_env(), capture_output=True, text=True,
                                  timeout=TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            # `molecule test` was killed half way: remove what it made (this scenario's containers).
            subprocess.run([molecule(), "destroy", "--scenario-name", scenario], cwd=REPO,
                           env=molecule_env(), capture_output=True, timeout=300)
            output = b"".join(part if isinstance(part, bytes) else (part or "").encode()
                              for part in (exc.stdout, exc.stderr))
            command = " ".join(argv[1:])
            pytest.fail(f"`{command}` took more than {TIMEOUT} s\n{output.decode(errors='replace')}")
        finally:
            seconds = time.monotonic() - started
            molecule_timings[request.node.callspec.id] = seconds
            request.node.user_properties.append(("molecule_seconds", round(seconds, 1)))
    print(proc.stdout, proc.stderr, sep="\n")  # shown with `pytest -rP` (passed) or on failure
    assert proc.returncode == 0, (
        f"`{' '.join(argv[1:])}` exited with {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")
