"""roles/tssr_script without a host: the one way every role runs a kit script (what travels with the
script, the files it gets, check mode, the result line, the meaning of an exit code, the clean-up), and
what every capability role is left with (its variables, its argument list, that one call).

The roles' expressions are rendered by Ansible's own templating (rolelib.render), and the tar commands
they build are run for real on this machine, as the controller runs them.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
import rolelib
from rolelib import SHARED, load

from tssrkit.paths import ROLES, SCRIPTS

TASKS = load(SHARED / "tasks" / "main.yml")
BLOCK = next(task for task in TASKS if "block" in task)
STEPS = {task["name"]: task for task in TASKS + BLOCK["block"] + BLOCK["always"]}
RUN = STEPS["Run the script (a dry run in check mode)."]
CONTENT = STEPS["Write each content of the role's files in the pack folder on the controller, root-only."]
STAGE = STEPS["Put each file or folder of the role's in the pack folder on the controller."]
ADD = STEPS["Add the role's files to the archive, as input/NAME, root-only (0600)."]
READ = STEPS["Read the archive on the controller."]
BUNDLES = load(SCRIPTS / "bundles.yml")

# Every script a role runs, as the roles name them (users: both implementations).
ROLE_SCRIPTS = sorted({
    rolelib.rendered_call(ROLES / role, call, users_implementation=implementation)["tssr_script_file"]
    for role in rolelib.CAPABILITIES
    for call in rolelib.tssr_script_calls(ROLES / role)
    for implementation in ("bash", "python")
})


def expected_bundle(script: str) -> set[str]:
    """What scripts/bundles.yml says travels with SCRIPT, as paths of the unpacked folder."""
    path = SCRIPTS / script
    if path.suffix == ".sh":
        found = {f"./{p.relative_to(path.parent)}" for p in path.parent.rglob("*") if p.is_file()}
        lib = SCRIPTS / "bash" / "lib"
        found |= {f"lib/{p.relative_to(lib)}" for p in lib.rglob("*") if p.is_file()}
    else:
        found = {path.name}
    return found | {Path(extra).name for extra in BUNDLES.get(path.name, [])}


def packed(argv: list[str], tmp_path: Path) -> dict[str, tarfile.TarInfo]:
    """Run a tar command of the role for real; the members of the archive it wrote."""
    subprocess.run(argv, check=True, capture_output=True)
    archive = argv[argv.index("--file") + 1]
    with tarfile.open(archive) as tar:
        return {member.name: member for member in tar.getmembers()}


def test_the_role_reaches_the_scripts_of_the_repository_through_one_relative_link():
    link = SHARED / "files" / "scripts"
    assert link.is_symlink(), "files/scripts is a copy, not a link to scripts/"
    assert not Path(link.readlink()).is_absolute(), "an absolute link breaks in another checkout"
    assert link.resolve() == SCRIPTS.resolve()
    assert [p.name for p in (SHARED / "files").iterdir()] == ["scripts"]


def test_the_roles_run_scripts_of_the_repository():
    assert "bash/lamp/deploy-lamp.sh" in ROLE_SCRIPTS and "python/provision_users.py" in ROLE_SCRIPTS
    for script in ROLE_SCRIPTS:
        assert (SCRIPTS / script).is_file(), script


@pytest.mark.parametrize("script", ROLE_SCRIPTS)
def test_each_script_travels_with_exactly_what_bundles_yml_says(script, tmp_path):
    variables = rolelib.shared_variables(script, __tssr_script_pack={"path": str(tmp_path)})
    argv = rolelib.render(STEPS["Pack the script and what travels with it on the controller."]
                          ["ansible.builtin.command"]["argv"], variables)
    members = packed(argv, tmp_path)
    files = {name for name, member in members.items() if member.isfile()}
    assert files == expected_bundle(script)
    # The script runs from the folder's top, with lib/ and the extras beside it, as it looks them up.
    assert f"./{Path(script).name}" in files or Path(script).name in files
    assert all(m.uid == 0 and m.gid == 0 and not m.mode & 0o022 for m in members.values())
    assert not any(m.issym() for m in members.values()), "the kit's files are packed through links"


def test_the_extras_of_bundles_yml_are_read_not_repeated():
    text = (SHARED / "vars" / "main.yml").read_text(encoding="utf-8")
    assert "bundles.yml" in text
    for extras in BUNDLES.values():
        for extra in extras:
            assert Path(extra).name not in text, f"{extra} is named in the role: read it from bundles.yml"


@pytest.mark.parametrize("script", ROLE_SCRIPTS)
def test_the_meaning_of_an_exit_code_is_the_scripts_own_header(script):
    documented = rolelib.documented_exit_codes(SCRIPTS / script)
    assert {0, 2} <= set(documented), documented
    for code, text in documented.items():
        assert rolelib.exit_meaning(script, code) == text
    assert rolelib.exit_meaning(script, 9) == "unexpected exit code"


def run_argv(check_mode: bool) -> list[str]:
    variables = rolelib.shared_variables("bash/snmp/setup-snmp.sh", ansible_check_mode=check_mode,
                                         tssr_script_args=["--quiet", "--monitor", "192.0.2.10"],
                                         __tssr_script_tmp={"path": "/tmp/tssr-setup-snmp-x"})
    return rolelib.render(RUN["ansible.builtin.command"]["argv"], variables)


def test_the_script_runs_from_the_private_folder_and_dry_runs_in_check_mode():
    runner = rolelib.render("{{ __tssr_script_runner }}", rolelib.shared_variables("bash/snmp/setup-snmp.sh"))
    # bash -c RUNNER NAME FOLDER, then the script's own command line (argv, no shell).
    assert run_argv(False) == ["/bin/bash", "-c", runner, "tssr_script", "/tmp/tssr-setup-snmp-x",
                               "/bin/bash", "/tmp/tssr-setup-snmp-x/setup-snmp.sh", "--quiet", "--monitor",
                               "192.0.2.10"]
    assert run_argv(True) == [*run_argv(False), "--dry-run"]
    assert RUN["check_mode"] is False, "the script's own --dry-run is the check mode"
    # The archive (the role's files, secrets included) comes on stdin, never on a command line.
    assert RUN["ansible.builtin.command"]["stdin"] == "{{ __tssr_script_packed.content }}"


@pytest.mark.parametrize("script", ROLE_SCRIPTS)
def test_every_script_a_role_runs_has_the_dry_run_the_role_adds(script):
    rolelib.assert_passes_only_options_the_script_knows({"--dry-run"}, SCRIPTS / script)


@pytest.mark.parametrize(("rc", "stdout", "ok_codes", "changed"), [
    (0, ['{"script": "x", "status": "changed", "changed": 2}'], [0], True),
    (0, ["narration", '{"script": "x", "status": "ok", "changed": 0}'], [0], False),
    (1, ['{"script": "x", "status": "changed", "changed": 1}'], [0, 1], True),
    (2, ['{"script": "x", "status": "failed", "changed": 0}'], [0], False),
    (2, [], [0], False),
])
def test_the_task_is_changed_only_when_the_result_line_counts_a_change(rc, stdout, ok_codes, changed):
    variables = {"__tssr_script_run": {"rc": rc, "stdout_lines": stdout}, "tssr_script_ok_codes": ok_codes}
    assert rolelib.render("{{ " + RUN["changed_when"] + " }}", variables) is changed
    assert RUN["failed_when"] is False and STEPS[
        "Fail with the meaning of the exit code and the script's messages."]["when"] == (
        "__tssr_script_run.rc not in tssr_script_ok_codes")


def test_a_failure_says_the_meaning_the_messages_the_result_and_where_the_files_came_from():
    result = '{"script": "deploy-lamp", "status": "failed", "changed": 0, "error": "--keep: not a number"}'
    variables = rolelib.shared_variables(
        "bash/lamp/deploy-lamp.sh",
        __tssr_script_run={"rc": 2, "stdout_lines": ["plan", result], "stderr": "deploy-lamp: bad input",
                           "stderr_lines": ["deploy-lamp: bad input"]},
        tssr_script_files=[{"name": "app.tar", "src": "parc", "origin": "lamp_app_src"},
                           {"name": "key.pem", "src": "", "origin": "lamp_key_src", "secret": True}])
    assert rolelib.render("{{ __tssr_script_failure }}", variables) == [
        "deploy-lamp.sh exited with code 2 (usage or validation error: nothing was changed):",
        "deploy-lamp: bad input",
        "error: --keep: not a number",
        f"result: {result}",
        "input/app.tar is lamp_app_src",
    ]
    # An error the script already printed is not said twice.
    variables["__tssr_script_run"]["stderr"] = "deploy-lamp: error: --keep: not a number"
    assert "error: --keep: not a number" not in rolelib.render("{{ __tssr_script_failure }}", variables)


def test_the_files_of_a_run_are_root_only_and_a_secret_is_never_shown():
    content = CONTENT["ansible.builtin.copy"]
    assert content["mode"] == "0600" and CONTENT["delegate_to"] == "localhost"
    assert CONTENT["no_log"] == "{{ item.secret | default(false) }}" and CONTENT["diff"] is False
    # The archive read on the controller and given to the host holds the secrets: neither shows it.
    assert READ["no_log"] == RUN["no_log"] == "{{ __tssr_script_secret }}"
    text, key = {"name": "a", "content": "x"}, {"name": "k", "src": "k"}
    for files, secret in [([text], False), ([{**text, "secret": False}, key], False),
                          ([text, {**key, "secret": True}], True),
                          ([{"name": "k", "src": "", "secret": True}], False)]:
        assert rolelib.render("{{ __tssr_script_secret }}", rolelib.shared_variables(
            "bash/lamp/deploy-lamp.sh", tssr_script_files=files)) is secret, files
    spec = rolelib.argument_options(SHARED)["tssr_script_files"]["options"]
    assert spec["content"].get("no_log") is True


def pack_for_the_host(tmp_path: Path, files: list[dict]) -> Path:
    """The controller's side of a run of deploy-lamp.sh, for real: the script's archive, FILES put in the
    pack folder as the role does (a folder packed, a file linked, a content written 0600), added under
    input/. The archive's path."""
    pack = tmp_path / "pack"
    pack.mkdir(mode=0o700)
    variables = rolelib.shared_variables("bash/lamp/deploy-lamp.sh", __tssr_script_pack={"path": str(pack)},
                                         tssr_script_files=files)
    subprocess.run(rolelib.render(STEPS["Pack the script and what travels with it on the controller."]
                                  ["ansible.builtin.command"]["argv"], variables), check=True)
    for item in rolelib.render("{{ __tssr_script_uploads }}", variables):
        if "src" in item:
            argv = rolelib.render(STAGE["ansible.builtin.command"]["argv"], {**variables, "item": item})
            subprocess.run(argv, check=True)
        else:  # what the copy task writes
            (pack / item["name"]).write_text(item["content"])
            (pack / item["name"]).chmod(0o600)
    subprocess.run(rolelib.render(ADD["ansible.builtin.command"]["argv"], variables), check=True)
    return pack / "script.tar"


def test_the_role_files_travel_in_the_scripts_archive_root_only(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "index.php").write_text("<?php\n")
    (app / "index.php").chmod(0o644)
    schema = tmp_path / "schema.sql"
    schema.write_text("CREATE TABLE t (id INT);\n")
    schema.chmod(0o755)
    archive = pack_for_the_host(tmp_path, [{"name": "app.tar", "src": str(app)},
                                           {"name": "schema.sql", "src": str(schema)},
                                           {"name": "key.pem", "content": "KEY\n", "secret": True}])
    with tarfile.open(archive) as tar:
        members = {member.name: member for member in tar.getmembers()}
        inputs = {name: member for name, member in members.items() if name.startswith("input/")}
        assert set(inputs) == {"input/app.tar", "input/schema.sql", "input/key.pem"}
        assert all(m.isfile() and m.mode == 0o600 and m.uid == 0 and m.gid == 0 for m in inputs.values())
        assert tar.extractfile("input/schema.sql").read() == schema.read_bytes(), "a file's link followed"
        assert tar.extractfile("input/key.pem").read() == b"KEY\n"
        # input/ itself is made 0700 on the host, never taken from the archive.
        assert "input" not in members and "./deploy-lamp.sh" in members


def run_on_host(tmp_path: Path, archive: bytes, *command: str) -> tuple[subprocess.CompletedProcess, Path]:
    """The host's side of a run, here: the runner in a fresh private folder, ARCHIVE (base64) on stdin.
    COMMAND stands for the script's command line ({folder}: the private folder)."""
    folder = Path(tempfile.mkdtemp(prefix="tssr-test-", dir=tmp_path))
    variables = rolelib.shared_variables("bash/lamp/deploy-lamp.sh", __tssr_script_tmp={"path": str(folder)})
    runner = rolelib.render("{{ __tssr_script_runner }}", variables)
    command = tuple(arg.format(folder=folder) for arg in command)
    proc = subprocess.run(["/bin/bash", "-c", runner, "tssr_script", str(folder), *command],
                          input=base64.b64encode(archive).decode() + "\n", capture_output=True, text=True)
    return proc, folder


def test_the_host_unpacks_runs_from_a_private_folder_and_removes_it_whatever_happens(tmp_path):
    key = {"name": "key.pem", "content": "KEY\n", "secret": True}
    archive = pack_for_the_host(tmp_path, [key]).read_bytes()
    seen = "stat --format='%a %n' $0 $0/input $0/input/key.pem && test -f $0/deploy-lamp.sh && test -d $0/lib"
    proc, folder = run_on_host(tmp_path, archive, "/bin/sh", "-c", seen + " && echo '{{\"changed\": 0}}'",
                               "{folder}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"700 {folder}", f"700 {folder}/input", f"600 {folder}/input/key.pem",
                                        '{"changed": 0}']
    assert not folder.exists()
    # The script's exit code is the run's; the folder goes all the same.
    proc, folder = run_on_host(tmp_path, archive, "/bin/sh", "-c", "echo oops >&2; exit 3")
    assert (proc.returncode, proc.stderr, folder.exists()) == (3, "oops\n", False)
    # An archive that does not unpack: nothing runs, exit 125, the folder goes.
    proc, folder = run_on_host(tmp_path, b"not a tar archive", "touch", str(tmp_path / "ran"))
    assert proc.returncode == 125 and "cannot unpack" in proc.stderr
    assert not folder.exists() and not (tmp_path / "ran").exists()


def test_an_empty_src_is_left_out_and_a_content_is_kept():
    files = [{"name": "a", "src": ""}, {"name": "b", "src": "x"}, {"name": "c", "content": "text"}]
    uploads = rolelib.render("{{ __tssr_script_uploads }}", rolelib.shared_variables(
        "bash/lamp/deploy-lamp.sh", tssr_script_files=files))
    assert sorted(item["name"] for item in uploads) == ["b", "c"]


def test_both_temporary_folders_are_always_removed():
    always = {task["name"]: task for task in BLOCK["always"]}
    host = always["Remove the temporary folder on the host, the role's files included."]
    controller = always["Remove the temporary folder on the controller."]
    assert host["ansible.builtin.file"] == {"path": "{{ __tssr_script_tmp.path }}", "state": "absent"}
    assert controller["ansible.builtin.file"] == {"path": "{{ __tssr_script_pack.path }}", "state": "absent"}
    assert controller["delegate_to"] == "localhost"
    made = [task for task in BLOCK["block"] if "ansible.builtin.tempfile" in task]
    assert {task["register"] for task in made} == {"__tssr_script_tmp", "__tssr_script_pack"}
    # The run removes the host's folder itself (its EXIT trap: test above); the task removes it when
    # this call's run never ended, whatever a previous call of the play registered.
    def ran(folder):
        return {"__tssr_script_run": {"rc": 0, "cmd": ["/bin/bash", "-c", "x", "tssr_script", folder]}}

    cases = [({}, True), (ran("/tmp/t-1"), False), (ran("/tmp/t-0"), True),
             ({"__tssr_script_run": {"failed": True, "msg": "connection lost"}}, True)]
    for extra, removed in cases:
        variables = {"__tssr_script_tmp": {"path": "/tmp/t-1"}, **extra}
        conditions = [rolelib.render("{{ " + condition + " }}", variables) for condition in host["when"]]
        assert all(conditions) is removed, extra


def test_the_result_line_is_the_fact_tssr_script_result():
    step = STEPS["Read the script's result line."]
    assert step["ansible.builtin.set_fact"] == {"tssr_script_result": "{{ __tssr_script_line | from_json }}"}
    line = rolelib.render("{{ __tssr_script_line }}", {**load(SHARED / "vars" / "main.yml"),
                                                      "__tssr_script_run": {"stdout_lines": ["a", "{}"]}})
    assert line == "{}"


def test_only_the_missing_packages_are_installed():
    install = STEPS["Install the packages the script needs that are missing."]
    found = {"stdout_lines": ["passwd installed", "util-linux installed", "gawk not-installed"]}
    variables = rolelib.shared_variables("bash/users/provision-users.sh",
                                         ansible_facts={"os_family": "RedHat"},
                                         tssr_script_packages={"RedHat": ["passwd", "util-linux", "gawk"]},
                                         __tssr_script_packages_found=found)
    assert rolelib.render(install["vars"]["__tssr_script_missing"], variables) == ["gawk"]


def test_the_role_validates_what_it_is_given():
    rolelib.assert_every_default_is_validated(SHARED)
    rolelib.assert_every_option_is_prefixed_and_defaulted(SHARED, "tssr_script_", required_ok=True)
    assert rolelib.argument_options(SHARED)["tssr_script_file"].get("required") is True


# ---- what a capability role is left with --------------------------------------------------------
ALLOWED_MODULES = {"ansible.builtin.include_role", "ansible.builtin.set_fact", "ansible.builtin.debug",
                   "ansible.builtin.assert"}


@pytest.mark.parametrize("role", rolelib.CAPABILITIES)
def test_a_capability_role_runs_its_script_through_tssr_script_only(role):
    tasks = load(ROLES / role / "tasks" / "main.yml")
    calls = rolelib.tssr_script_calls(ROLES / role)
    assert calls, f"{role} never calls tssr_script"
    modules = {key for task in tasks for key in task if key.startswith("ansible.")}
    extra = modules - ALLOWED_MODULES
    # backup keeps the passphrase where the job's config points (the timer's runs read it there).
    assert extra == ({"ansible.builtin.file", "ansible.builtin.copy"} if role == "backup" else set()), extra
    assert sorted(p.name for p in (ROLES / role / "tasks").iterdir()) == ["main.yml"]
    assert not (ROLES / role / "files").exists(), "the scripts come through tssr_script, never a copy"


@pytest.mark.parametrize("role", rolelib.CAPABILITIES)
def test_a_capability_role_is_its_variables_its_arguments_and_that_call(role):
    files = sorted(str(p.relative_to(ROLES / role)) for p in (ROLES / role).rglob("*") if p.is_file())
    expected = ["README.md", "defaults/main.yml", "meta/argument_specs.yml", "meta/main.yml",
                "tasks/main.yml", "vars/main.yml"]
    assert files == sorted(expected + (["templates/users.csv.j2"] if role == "users" else []))


@pytest.mark.parametrize("role", rolelib.CAPABILITIES)
def test_every_variable_of_a_capability_role_is_validated_prefixed_and_defaulted(role):
    # defaults/main.yml and meta/argument_specs.yml agree; every variable starts with the role's name
    # and has a default, unless the spec requires it.
    rolelib.assert_every_default_is_validated(ROLES / role)
    rolelib.assert_every_option_is_prefixed_and_defaulted(ROLES / role, f"{role}_", required_ok=True)


def test_the_roles_tasks_stay_short():
    lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in ROLES.glob("*/tasks/*.yml"))
    assert lines <= 600, f"the roles' tasks hold {lines} lines"


@pytest.mark.parametrize("role", ["tssr_script", *rolelib.CAPABILITIES])
def test_the_readme_table_is_generated_from_the_argument_specs(role):
    assert rolelib.readme_table(ROLES / role) == rolelib.variables_table(ROLES / role), (
        f"roles/{role}/README.md's table differs from meta/argument_specs.yml: "
        "run `python tests/rolelib.py`")


def test_a_spec_changed_without_its_readme_is_caught(tmp_path):
    role = tmp_path / "lamp"
    shutil.copytree(ROLES / "lamp", role)
    spec = role / "meta" / "argument_specs.yml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("default: 5", "default: 6"), encoding="utf-8")
    assert rolelib.readme_table(role) != rolelib.variables_table(role)
    assert rolelib.write_readme_table(role) is True
    assert rolelib.readme_table(role) == rolelib.variables_table(role)
    assert "| `lamp_keep` | int | `6` |" in (role / "README.md").read_text(encoding="utf-8")


def test_the_readme_table_says_what_the_spec_says():
    table = rolelib.variables_table(ROLES / "users")
    assert "| `users_accounts[].login` | str | **required** |" in table
    assert "| `users_implementation` | str | `bash` |" in table
    assert "`users_csv_file`" in table.split("| `users_accounts` |")[1], "O(…) becomes `…`"
    assert rolelib.markdown("C(a|b) V(x) O(y) I(z)") == "`a\\|b` `x` `y` *z*"

