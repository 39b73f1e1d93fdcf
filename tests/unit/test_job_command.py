"""tssrkit.jobs.command: the one argv builder every job module uses (None left out, True a flag, a
list repeated, a local path uploaded under its name) and what it decides before any host."""

from __future__ import annotations

from pathlib import Path

import pytest

from tssrkit.jobs.command import Upload, interpreter, script_job, words
from tssrkit.paths import SCRIPTS

SCRIPT = SCRIPTS / "bash" / "logging" / "setup-logging.sh"


def a_file(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("x")
    return folder / name


def test_none_false_and_empty_are_left_out_true_is_a_flag_and_a_list_repeats():
    assert words({"--a": None, "--b": False, "--c": "", "--d": True, "--e": ["1", "2"], "--f": 0,
                  "--g": (), "--h": 7}) == ["--d", "--e", "1", "--e", "2", "--f", "0", "--h", "7"]


def test_a_positional_value_is_written_alone():
    assert words({None: ["status"], "--job": "web"}) == ["status", "--job", "web"]


def test_without_an_uploader_a_path_is_written_as_it_is(tmp_path):
    assert words({"--credentials": tmp_path / "c.conf"}) == ["--credentials", str(tmp_path / "c.conf")]


def test_a_local_file_goes_up_under_its_own_name_and_the_script_gets_its_path_there(tmp_path):
    ca = a_file(tmp_path, "my-ca.pem")
    job = script_job(SCRIPT, {"--ca": ca, "--tls": True}, first=["client"])
    assert job.args == ["client", "--ca", "{dir}/my-ca.pem", "--tls"]
    assert job.files["my-ca.pem"] == ca and not job.root_only
    assert job.name == "setup-logging" and tuple(job.interpreter) == ("bash",)


def test_a_name_already_taken_beside_the_script_goes_into_the_options_folder(tmp_path):
    first, second = a_file(tmp_path / "a", "server.pem"), a_file(tmp_path / "b", "server.pem")
    templates = a_file(tmp_path / "c", "templates")
    script_named = a_file(tmp_path / "d", SCRIPT.name)
    job = script_job(SCRIPT, {"--cert": first, "--key": second, "--ca": templates, "--x": script_named})
    assert job.args == ["--cert", "{dir}/server.pem", "--key", "{dir}/key/server.pem",
                        "--ca", "{dir}/ca/templates", "--x", "{dir}/x/setup-logging.sh"]
    job.remote_folders()  # every name is a plain relative path


def test_an_option_folder_that_a_file_already_uses_gets_another_name(tmp_path):
    named_key = a_file(tmp_path / "a", "key")
    again = a_file(tmp_path / "b", "key")
    job = script_job(SCRIPT, {"--cert": named_key, "--key": again})
    assert job.args == ["--cert", "{dir}/key", "--key", "{dir}/key2/key"]


def test_an_upload_can_have_a_fixed_name_and_be_made_root_only(tmp_path):
    key = a_file(tmp_path, "my key.pem")
    job = script_job(SCRIPT, {"--key": Upload(key, "tls/key.pem", secret=True), "--ca": Upload(None)})
    assert job.args == ["--key", "{dir}/tls/key.pem"]
    assert job.files["tls/key.pem"] == key and list(job.root_only) == ["tls/key.pem"]


@pytest.mark.parametrize("option", ["--ca", None])
def test_a_local_file_that_is_not_there_is_the_one_error_before_any_host(tmp_path, option):
    with pytest.raises(ValueError, match=f"^{option + ' ' if option else ''}{tmp_path}/nope: no such file$"):
        script_job(SCRIPT, {option: tmp_path / "nope"})
    with pytest.raises(ValueError, match="no such file"):
        script_job(SCRIPT, {option: tmp_path})   # a folder is not a file


def test_the_script_travels_with_its_bundle_and_python_scripts_run_with_python3():
    job = script_job(SCRIPT)
    assert "lib/common.sh" in job.files and "templates/server.conf.tmpl" in job.files
    assert interpreter(SCRIPTS / "python" / "tssr_check.py") == ("python3",)
    assert interpreter(SCRIPT) == ("bash",)
