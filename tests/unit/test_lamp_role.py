"""roles/lamp without a host: its link to the script, its documented variables, its playbook.

The role runs scripts/bash/lamp/deploy-lamp.sh (one source); its variables are documented twice
(defaults/main.yml for readers, meta/argument_specs.yml for Ansible's validation), which must agree.
"""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import jinja2
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "lamp"


def argument_options() -> dict:
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    return specs["argument_specs"]["main"]["options"]


def test_the_role_ships_the_script_folder_through_a_relative_link():
    link = ROLE / "files" / "lamp"
    assert link.is_symlink()
    assert not Path(link.readlink()).is_absolute(), "an absolute link breaks in another checkout"
    assert link.resolve() == (REPO / "scripts" / "bash" / "lamp").resolve()
    assert (link / "deploy-lamp.sh").is_file()
    assert (link / "templates").is_dir()


def test_every_default_is_validated_with_the_same_value():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text(encoding="utf-8"))
    options = argument_options()
    for name, value in defaults.items():
        assert name in options, f"{name} has no entry in meta/argument_specs.yml"
        assert options[name].get("default") == value, f"{name}: {value!r} vs {options[name].get('default')!r}"


def test_every_validated_option_has_a_default_or_is_required():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text(encoding="utf-8"))
    for name, spec in argument_options().items():
        assert name.startswith("lamp_"), f"{name}: role variables are prefixed with lamp_"
        assert spec.get("required") or name in defaults, f"{name}: neither required nor in defaults/main.yml"


def test_the_name_is_required_and_never_derived_by_the_role():
    assert argument_options()["lamp_name"].get("required") is True


def test_the_playbook_deploys_the_sample_app_relative_to_its_folder():
    play = yaml.safe_load((REPO / "playbooks" / "lamp.yml").read_text(encoding="utf-8"))[0]
    role_vars = play["roles"][0]["vars"]
    app = (REPO / "playbooks" / role_vars["lamp_app_src"]).resolve()
    assert app == (REPO / "examples" / "lamp" / "parc-v1").resolve()
    assert (app / "schema.sql").is_file()
    assert role_vars["lamp_schema_src"] == "{{ lamp_app_src }}/schema.sql"


def test_the_app_folder_is_packed_with_its_links_as_links(tmp_path):
    # The role's own command (vars/main.yml), run here: a link the app's author wrote must reach the
    # script as a link (refused when it leaves the app), never as the controller file it points to.
    variables = yaml.safe_load((ROLE / "vars" / "main.yml").read_text(encoding="utf-8"))
    template = jinja2.Environment().from_string(variables["__lamp_tar_create_app"])  # noqa: S701 — a command, not HTML
    argv = yaml.safe_load(template.render(__lamp_tar_create=variables["__lamp_tar_create"]))
    app = tmp_path / "app"
    (app / "public").mkdir(parents=True)
    (app / "public" / "index.php").write_text("<?php\n")
    secret = tmp_path / "controller-key"
    secret.write_text("the operator's private key\n")
    (app / "public" / "key.txt").symlink_to(secret)
    tarball = tmp_path / "app.tar"
    subprocess.run([*argv, str(tarball), "--directory", str(app), "."], check=True)
    with tarfile.open(tarball) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["./public/key.txt"].issym() and members["./public/key.txt"].linkname == str(secret)
    assert "--dereference" in variables["__lamp_tar_create"], "the script folder is packed through its links"
