"""roles/lamp without a host: the script it runs, the arguments and files it gives it (rendered by
Ansible's own templating), its documented variables, its playbook.

The role runs scripts/bash/lamp/deploy-lamp.sh (one source) through roles/tssr_script; its variables are
documented once (meta/argument_specs.yml, Ansible's validation), with their defaults in
defaults/main.yml and the README's table generated from the spec: they must agree.
"""

from __future__ import annotations

import subprocess
import tarfile

import pytest
import rolelib
from rolelib import load

from tssrkit.paths import REPO, SCRIPTS

ROLE = REPO / "roles" / "lamp"
SCRIPT = SCRIPTS / "bash" / "lamp" / "deploy-lamp.sh"


def argument_options() -> dict:
    return rolelib.argument_options(ROLE)


def call(**variables) -> dict:
    return rolelib.rendered_call(ROLE, lamp_name="parc", **variables)


def test_the_role_ships_the_script_folder_through_a_relative_link():
    # The script comes from scripts/ through tssr_script's one relative link, with its templates.
    assert call()["tssr_script_file"] == "bash/lamp/deploy-lamp.sh"
    shipped = rolelib.SHARED / "files" / "scripts" / "bash" / "lamp" / "deploy-lamp.sh"
    assert shipped.resolve() == SCRIPT.resolve()
    assert (SCRIPT.parent / "templates").is_dir()


def test_the_name_is_required_and_never_derived_by_the_role():
    assert argument_options()["lamp_name"].get("required") is True
    assert call(lamp_app_src="/apps/parc-v1")["tssr_script_args"][:3] == ["--quiet", "--name", "parc"]


def test_the_playbook_deploys_the_sample_app_relative_to_its_folder():
    play = load(REPO / "playbooks" / "lamp.yml")[0]
    role_vars = play["roles"][0]["vars"]
    app = (REPO / "playbooks" / role_vars["lamp_app_src"]).resolve()
    assert app == (REPO / "examples" / "lamp" / "parc-v1").resolve()
    assert (app / "schema.sql").is_file()
    assert role_vars["lamp_schema_src"] == "{{ lamp_app_src }}/schema.sql"


def test_a_deployment_gives_the_script_the_app_and_its_inputs_as_files():
    app = str(REPO / "examples" / "lamp" / "parc-v1")
    deployed = call(lamp_app_src=app, lamp_schema_src=f"{app}/schema.sql", lamp_cert_src="c.pem",
                    lamp_key_src="k.pem", lamp_domain="parc.example.org", lamp_data_dirs=["public/uploads"])
    assert deployed["tssr_script_args"] == [
        "--quiet", "--name", "parc", "--app", "/in/app.tar", "--schema", "/in/schema.sql",
        "--cert", "/in/cert.pem", "--key", "/in/key.pem", "--domain", "parc.example.org",
        "--health", "/", "--keep", "5", "--data-dir", "public/uploads"]
    files = {file["name"]: file for file in deployed["tssr_script_files"]}
    assert files["app.tar"]["src"] == app, "a folder goes as app.tar, packed by tssr_script"
    assert files["schema.sql"]["src"] == f"{app}/schema.sql"
    assert files["key.pem"]["secret"] is True and not files["cert.pem"].get("secret")


@pytest.mark.parametrize(("src", "name"), [("parc-2.1.tar.gz", "app.tar.gz"), ("parc.tgz", "app.tgz"),
                                           ("parc.tar", "app.tar"), ("parc.zip", "app")])
def test_a_tarball_keeps_its_extension_which_the_script_reads(src, name):
    deployed = call(lamp_app_src=src)
    assert deployed["tssr_script_files"][0]["name"] == name
    assert deployed["tssr_script_args"][3:5] == ["--app", f"/in/{name}"]


def test_a_rollback_gives_the_name_and_no_file():
    rolled = call(lamp_rollback=True, lamp_app_src="parc-v1", lamp_schema_src="s.sql", lamp_key_src="k.pem")
    assert rolled["tssr_script_args"] == ["--quiet", "--name", "parc", "--rollback", "--health", "/",
                                          "--keep", "5"]
    assert all(file["src"] == "" for file in rolled["tssr_script_files"]), "empty: left out by tssr_script"


def test_the_role_passes_only_options_the_script_knows():
    deployed = call(lamp_app_src="a.tar", lamp_schema_src="s", lamp_cert_src="c", lamp_key_src="k",
                    lamp_domain="d", lamp_data_dirs=["x"])
    passed = rolelib.options_in(deployed["tssr_script_args"])
    passed |= rolelib.options_in(call(lamp_rollback=True)["tssr_script_args"])
    assert {"--app", "--rollback", "--data-dir", "--key"} <= passed, passed
    rolelib.assert_passes_only_options_the_script_knows(passed, SCRIPT)


def test_the_exit_codes_the_role_explains_are_the_scripts():
    assert "/run/tssr-kit/deploy-lamp.lock" in rolelib.exit_meaning("bash/lamp/deploy-lamp.sh", 3)


def test_the_app_folder_is_packed_with_its_links_as_links(tmp_path):
    # tssr_script's own command for a folder of the role's files (the app), run here: a link the app's
    # author wrote must reach the script as a link (refused when it leaves the app), never as the
    # controller file it points to.
    app = tmp_path / "app"
    (app / "public").mkdir(parents=True)
    (app / "public" / "index.php").write_text("<?php\n")
    secret = tmp_path / "controller-key"
    secret.write_text("the operator's private key\n")
    (app / "public" / "key.txt").symlink_to(secret)
    files = call(lamp_app_src=str(app))["tssr_script_files"]
    item = next(file for file in files if file["name"] == "app.tar")
    tasks = load(rolelib.SHARED / "tasks" / "main.yml")
    block = next(task for task in tasks if "block" in task)["block"]
    pack = next(task for task in block if task["name"].startswith("Put each file or folder of the role's"))
    variables = rolelib.shared_variables("bash/lamp/deploy-lamp.sh", item=item,
                                         __tssr_script_pack={"path": str(tmp_path)})
    argv = rolelib.render(pack["ansible.builtin.command"]["argv"], variables)
    subprocess.run(argv, check=True)
    with tarfile.open(tmp_path / "app.tar") as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["./public/key.txt"].issym() and members["./public/key.txt"].linkname == str(secret)
    assert members["./public/index.php"].isfile()
    assert "--dereference" not in argv, "only the kit's own files are packed through links"
