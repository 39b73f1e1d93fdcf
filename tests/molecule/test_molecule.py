"""Every Molecule scenario on every platform: `molecule test -s SCENARIO --platform-name PLATFORM`.

One test per scenario folder in molecule/ and per platform of its configuration (ids like
`users-debian12`): the shared base config, .config/molecule/config.yml, with the scenario's molecule.yml
merged on top, as Molecule reads them (the base is given with --base-config, so that the run does not
depend on Molecule finding the repository's root). Run from the repository root with the repository's
collections. Each run keeps
its state in a folder of its own (.tssr/molecule/SCENARIO/PLATFORM, through MOLECULE_EPHEMERAL_DIRECTORY)
and its container is named after its platform, so the platforms of a scenario can run at the same time
on different pytest-xdist workers.
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
import rolelib  # the one reader of the scenarios' configuration (base + molecule.yml)

from tssrkit import pkgcache
from tssrkit.paths import REPO

BIN = Path(sys.executable).parent
TIMEOUT = int(os.environ.get("TSSR_MOLECULE_TIMEOUT", "1800"))  # seconds for one scenario on one platform
# `${NAME}` or `${NAME:-default}` in a platform's image: Molecule fills it from the environment.
IMAGE_VARIABLE = re.compile(r"\$\{(\w+)")


def platforms() -> list:
    """(scenario, platform name, image as written) for every platform of every scenario."""
    found = []
    for scenario in rolelib.scenarios():
        for platform in rolelib.scenario_config(scenario).get("platforms", []):
            name = platform["name"]
            test_id = name if name.startswith(f"{scenario}-") else f"{scenario}-{name}"
            found.append(pytest.param(scenario, name, str(platform.get("image", "")), id=test_id))
    return found


def state_dir(scenario: str, platform: str) -> Path:
    """Where Molecule keeps the state (inventory, instance list) of one platform of one scenario."""
    return REPO / ".tssr" / "molecule" / scenario / platform


def molecule_env(scenario: str, platform: str) -> dict[str, str]:
    """The environment of a run: this venv's tools first, the repository's collections, no colours,
    the run's own state folder."""
    env = dict(os.environ)
    env["MOLECULE_EPHEMERAL_DIRECTORY"] = str(state_dir(scenario, platform))
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


def remove_containers(platform: str) -> None:
    """The platform's container and its peers: a scenario that needs a second container (the SNMP
    monitor, the central log server) creates it in prepare.yml as `<platform>-<role>`, on a network
    `<platform>-net`."""
    found = subprocess.run(["docker", "ps", "--all", "--quiet", "--filter", f"name=^/{platform}-"],
                           capture_output=True, text=True, timeout=60).stdout.split()
    subprocess.run(["docker", "rm", "--force", platform, *found], capture_output=True, timeout=300)
    # And the network such a pair shares (`<platform>-net`), once no container uses it.
    networks = subprocess.run(["docker", "network", "ls", "--quiet", "--filter", f"name=^{platform}-"],
                              capture_output=True, text=True, timeout=60).stdout.split()
    for network in networks:
        pkgcache.remove_network(network)


def remove_leftovers(scenario: str, platform: str) -> None:
    """What a run leaves (Molecule's destroy is not run: --destroy never) or an interrupted one may
    have left: its containers (named after the platform) and its state (which would make `create`
    believe the container exists). The scenarios' sequences start at `create`, without Molecule's first
    `destroy` (about 13 s a run)."""
    remove_containers(platform)
    shutil.rmtree(state_dir(scenario, platform), ignore_errors=True)


@pytest.mark.molecule
@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "platform", "image"), platforms())
def test_molecule_scenario_passes_on_platform(scenario, platform, image, request):
    require_image(image)
    # One run of a platform at a time (two pytest sessions would share its container name and state).
    lock_path = state_dir(scenario, platform).with_suffix(".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    # --destroy never: Molecule's last step, destroy (about 11 s a run), is skipped; `finally` below
    # removes the platform's containers, network and state, as it does after a failure.
    argv = [molecule(), "--base-config", str(rolelib.MOLECULE_BASE), "test", "--scenario-name", scenario,
            "--platform-name", platform, "--destroy", "never"]
    env = molecule_env(scenario, platform)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        remove_leftovers(scenario, platform)
        started = time.monotonic()
        # The platform's network made here, with the package cache on it (tssrkit/pkgcache.py), so that
        # the platform and its peers download through the cache. Molecule's create keeps a network that
        # exists, and its destroy removes only the networks it made: remove_containers removes this one.
        pkgcache.create_network(f"{platform}-net")
        try:
            proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True,
                                  timeout=TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            # `molecule test` was killed half way: `finally` removes its containers (named after the
            # platform; `molecule destroy` has no --platform-name and would take the other platforms' too).
            output = b"".join(part if isinstance(part, bytes) else (part or "").encode()
                              for part in (exc.stdout, exc.stderr))
            command = " ".join(argv[1:])
            pytest.fail(f"`{command}` took more than {TIMEOUT} s\n{output.decode(errors='replace')}")
        finally:
            # The platform's container, its peers, its network and its state: Molecule's destroy is not
            # run (--destroy never), and a failed prepare leaves a peer container.
            remove_leftovers(scenario, platform)
            # Printed in the "molecule timings" section (tests/conftest.py), with or without xdist.
            seconds = time.monotonic() - started
            request.node.user_properties.append(("molecule_seconds", round(seconds, 1)))
    print(proc.stdout, proc.stderr, sep="\n")  # shown with `pytest -rP` (passed) or on failure
    assert proc.returncode == 0, (
        f"`{' '.join(argv[1:])}` exited with {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")
