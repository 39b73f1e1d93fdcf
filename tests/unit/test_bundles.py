"""scripts/bundles.yml read by tssrkit.bundles: what travels with each kit script (the rule `inv` and
Ansible share). Read against the real scripts/ tree: a script that moves or gains a file is seen here."""

from __future__ import annotations

import pytest

from tssrkit import bundles
from tssrkit.paths import SCRIPTS

BASH_SCRIPTS = sorted(SCRIPTS.glob("bash/*/*.sh"))


def lib_files() -> dict[str, object]:
    return {f"lib/{p.relative_to(bundles.BASH_LIB)}": p for p in bundles.BASH_LIB.rglob("*") if p.is_file()}


@pytest.mark.parametrize("script", BASH_SCRIPTS, ids=lambda p: p.name)
def test_a_bash_script_travels_with_its_folder_and_the_shared_lib(script):
    bundle = bundles.files(script)
    folder = {str(p.relative_to(script.parent)): p for p in script.parent.rglob("*")
              if p.is_file() and p != script}
    extras = bundles.extras().get(script.name, ())
    assert {k: v for k, v in bundle.items() if not k.startswith("lib/") and v not in extras} == folder
    assert {k: v for k, v in bundle.items() if k.startswith("lib/")} == lib_files()
    assert script.name not in bundle, "the runner uploads the script itself"


def test_provision_users_travels_with_lib_like_every_bash_script():
    assert "lib/common.sh" in bundles.files(SCRIPTS / "bash" / "users" / "provision-users.sh")


@pytest.mark.parametrize("script", sorted(SCRIPTS.glob("python/*.py")), ids=lambda p: p.name)
def test_a_python_script_travels_alone(script):
    assert bundles.files(script) == {}


def test_the_extra_files_listed_go_beside_the_script_under_their_own_name():
    backup = bundles.files(SCRIPTS / "bash" / "backup" / "backup.sh")
    assert backup["backup_retention.py"] == SCRIPTS / "python" / "backup_retention.py"
    assert backup["restore.sh"] == SCRIPTS / "bash" / "backup" / "restore.sh", "its folder's other script"
    assert "templates/tssr-backup@.timer.tmpl" in backup
    assert bundles.files(SCRIPTS / "bash" / "snmp" / "setup-snmp.sh")["tssr_check.py"] == (
        SCRIPTS / "python" / "tssr_check.py")


def test_every_file_bundles_yml_lists_exists_and_names_a_script_that_exists():
    scripts = {p.name for p in SCRIPTS.rglob("*") if p.suffix in (".sh", ".py")}
    for name, paths in bundles.extras().items():
        assert name in scripts, f"bundles.yml names {name}, which is not a script of scripts/"
        assert all(path.is_file() for path in paths), paths


def test_with_script_adds_the_script_under_its_own_name():
    backup = SCRIPTS / "bash" / "backup" / "backup.sh"
    assert bundles.with_script(backup) == {"backup.sh": backup, **bundles.files(backup)}
