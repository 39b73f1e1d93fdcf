"""`inv deploy-lamp`'s job, without a host: which files go up, under which names, with which arguments.

The script itself is tested in containers (tests/containers/test_lamp.py) and on the lab
(tests/lab/test_lab_lamp.py, which also proves that what the script refuses changes no host); here
only what tssrkit.jobs.lamp decides before connecting.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from fakehost import FakeHost

from tssrkit import bundles, jobs, runner
from tssrkit.hosts import Target
from tssrkit.lab import LabHost


@pytest.fixture
def templates(tmp_path, monkeypatch) -> Path:
    """A stand-in templates folder beside a stand-in script (the real ones may be changing)."""
    folder = tmp_path / "lamp" / "templates"
    folder.mkdir(parents=True)
    for name in ("vhost.conf.tmpl", "pool.conf.tmpl", "security.conf.tmpl"):
        (folder / name).write_text(f"# {name}\n")
    (folder / "sub").mkdir()  # not a file: not uploaded
    script = tmp_path / "lamp" / "deploy-lamp.sh"
    script.write_text("#!/usr/bin/env bash\n")
    monkeypatch.setattr(jobs.lamp, "SCRIPT", script)
    return folder


@pytest.fixture
def app(tmp_path) -> Path:
    """A small app folder named like the sample: parc-v1/{public,src}, a .git to leave out."""
    root = tmp_path / "src" / "parc-v1"
    (root / "public").mkdir(parents=True)
    (root / "src").mkdir()
    (root / ".git" / "objects").mkdir(parents=True)
    (root / "public" / "index.php").write_text("<?php echo 'version 1';\n")
    (root / "src" / "db.php").write_text("<?php\n")
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "schema.sql").write_text("CREATE TABLE IF NOT EXISTS asset (tag VARCHAR(16));\n")
    tool = root / "bin-tool.sh"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    return root


def out(tmp_path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir(exist_ok=True)
    return folder


def test_an_app_folder_is_packed_under_its_own_name_with_root_owned_sorted_members(tmp_path, templates, app):
    job = jobs.lamp.deploy(app, out_dir=out(tmp_path))
    tarball = job.files["parc-v1.tar.gz"]
    assert tarball.parent == out(tmp_path)
    assert job.args[:2] == ["--app", "{dir}/parc-v1.tar.gz"]
    with tarfile.open(tarball, "r:gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == ["parc-v1", "parc-v1/bin-tool.sh", "parc-v1/public", "parc-v1/public/index.php",
                     "parc-v1/schema.sql", "parc-v1/src", "parc-v1/src/db.php"]
    assert all((m.uid, m.gid, m.uname, m.gname) == (0, 0, "root", "root") for m in members)
    assert {m.name: m.mode for m in members}["parc-v1/bin-tool.sh"] & 0o111


def test_a_link_in_the_app_is_packed_as_a_link_never_as_what_it_points_to(tmp_path, templates, app):
    # Followed, a link written by the app's author would pack a file of the controller (a key) and
    # publish it on the server; kept, it reaches the script, which refuses a link that leaves the app.
    secret = tmp_path / "controller-secret"
    secret.write_text("the operator's private key\n")
    (app / "public" / "key.txt").symlink_to(secret)
    (app / "public" / "home.php").symlink_to("index.php")
    job = jobs.lamp.deploy(app, out_dir=out(tmp_path))
    with tarfile.open(job.files["parc-v1.tar.gz"], "r:gz") as tar:
        links = {m.name: m.linkname for m in tar.getmembers() if m.issym()}
        contents = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())
    assert links == {"parc-v1/public/key.txt": str(secret), "parc-v1/public/home.php": "index.php"}
    assert b"private key" not in contents


def test_the_packed_name_lets_the_script_derive_the_app_name_from_a_trailing_slash_too(tmp_path, templates,
                                                                                       app):
    job = jobs.lamp.deploy(Path(f"{app}/"), out_dir=out(tmp_path))
    assert "parc-v1.tar.gz" in job.files


def test_a_tarball_is_uploaded_as_it_is(tmp_path, templates):
    tarball = tmp_path / "parc-v2.tgz"
    tarball.write_bytes(b"not checked here: the script lists it")
    job = jobs.lamp.deploy(tarball, out_dir=out(tmp_path))
    assert job.files["parc-v2.tgz"] == tarball
    assert job.args == ["--app", "{dir}/parc-v2.tgz"]
    assert not list(out(tmp_path).iterdir())


def test_every_template_goes_up_under_templates_beside_the_script(tmp_path, templates, app):
    job = jobs.lamp.deploy(app, out_dir=out(tmp_path))
    uploaded = {name: path for name, path in job.files.items() if name.startswith("templates/")}
    assert uploaded == {f"templates/{p.name}": p for p in templates.iterdir() if p.is_file()}
    assert job.script == templates.parent / "deploy-lamp.sh"
    assert job.remote_folders() == ["lib", "lib/templates", "templates"]


def test_the_shared_building_blocks_go_up_under_lib_beside_the_script(tmp_path, templates, app):
    job = jobs.lamp.deploy(app, out_dir=out(tmp_path))
    uploaded = {name: path for name, path in job.files.items() if name.startswith("lib/")}
    lib = bundles.BASH_LIB
    expected = {f"lib/{p.relative_to(lib)}": p for p in lib.rglob("*") if p.is_file()}
    assert uploaded == expected
    assert {"lib/common.sh", "lib/web.sh", "lib/templates/vhost.conf.tmpl"} <= set(uploaded)


def test_every_option_becomes_an_argument_with_uploaded_files_in_the_private_folder(tmp_path, templates, app):
    certs = tmp_path / "certs"
    certs.mkdir()
    cert, key = certs / "parc.example.org.crt", certs / "parc.example.org.key"
    cert.write_text("CERT")
    key.write_text("KEY")
    job = jobs.lamp.deploy(app, schema=app / "schema.sql", domain="parc.example.org", cert=cert, key=key,
                           name="parc", health="/health.php", out_dir=out(tmp_path))
    assert job.args == ["--app", "{dir}/parc-v1.tar.gz", "--schema", "{dir}/schema.sql",
                        "--cert", "{dir}/parc.example.org.crt", "--key", "{dir}/parc.example.org.key",
                        "--name", "parc", "--domain", "parc.example.org", "--health", "/health.php"]
    assert job.files["schema.sql"] == app / "schema.sql"
    assert job.files["parc.example.org.crt"] == cert and job.files["parc.example.org.key"] == key
    assert job.validate_first
    argv = job.argv("/tmp/d", dry_run=True)
    assert argv[:3] == ["bash", "/tmp/d/deploy-lamp.sh", "--dry-run"]
    assert "/tmp/d/parc.example.org.key" in argv


def test_files_with_the_same_name_do_not_overwrite_each_other(tmp_path, templates, app):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cert, key = tmp_path / "a" / "server.pem", tmp_path / "b" / "server.pem"
    cert.write_text("CERT")
    key.write_text("KEY")
    job = jobs.lamp.deploy(app, cert=cert, key=key, out_dir=out(tmp_path))
    assert job.files["server.pem"] == cert and job.files["key/server.pem"] == key
    assert job.args[-4:] == ["--cert", "{dir}/server.pem", "--key", "{dir}/key/server.pem"]


def test_rollback_by_name_needs_no_app(tmp_path, templates):
    job = jobs.lamp.deploy(None, name="parc", rollback=True, out_dir=out(tmp_path))
    assert job.args == ["--name", "parc", "--rollback"]
    assert all(name.startswith(("templates/", "lib/")) for name in job.files)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"app": Path("/nonexistent/parc-v1")}, "--app /nonexistent/parc-v1: no such folder or file"),
    ({"schema": Path("/nonexistent.sql")}, "--schema /nonexistent.sql: no such file"),
    ({"cert": Path("/nonexistent.crt"), "key": Path("/nonexistent.key")}, "--cert /nonexistent.crt"),
    ({"cert": "CERT", "key": Path("/nonexistent.key")}, "--key /nonexistent.key: no such file"),
])
def test_a_local_file_that_is_not_there_is_refused_before_any_host(tmp_path, templates, app, kwargs, message):
    pem = tmp_path / "x.pem"
    pem.write_text("PEM")
    kwargs = {k: (pem if v in ("CERT", "KEY") else v) for k, v in kwargs.items()}
    kwargs.setdefault("app", app)
    with pytest.raises(ValueError, match=message):
        jobs.lamp.deploy(out_dir=out(tmp_path), **kwargs)


def test_what_only_the_script_can_judge_goes_to_it_as_given(tmp_path, templates):
    """No app, a rollback without a name, a certificate without its key, a zip: deploy-lamp.sh refuses
    them on every host before any change (tests/lab/test_lab_refusals.py proves it through `inv`)."""
    zipped = tmp_path / "parc.zip"
    zipped.write_bytes(b"PK")
    assert jobs.lamp.deploy(None, out_dir=out(tmp_path)).args == []
    assert jobs.lamp.deploy(None, rollback=True, out_dir=out(tmp_path)).args == ["--rollback"]
    assert jobs.lamp.deploy(zipped, cert=zipped, out_dir=out(tmp_path)).args == [
        "--app", "{dir}/parc.zip", "--cert", "{dir}/cert/parc.zip"]


def test_a_folder_given_as_schema_is_refused(tmp_path, templates, app):
    with pytest.raises(ValueError, match="--schema"):
        jobs.lamp.deploy(app, schema=app / "src", out_dir=out(tmp_path))


def test_the_sample_schema_is_the_default_only_for_the_sample_app(tmp_path, app):
    assert jobs.lamp.default_schema(jobs.lamp.DEFAULT_APP) == jobs.lamp.DEFAULT_APP / "schema.sql"
    assert jobs.lamp.default_schema(jobs.lamp.DEFAULT_APP, rollback=True) is None
    assert jobs.lamp.default_schema(app) is None


def host_result(target: Target, result: dict, status: str = "changed") -> runner.HostResult:
    return runner.HostResult(target, status=status, result=result)


def test_lab_hosts_are_shown_at_their_published_https_port_with_the_self_signed_hint():
    lab = Target("tssr-lab1", "tssr-lab1", lab=True)
    remote = Target("admin@srv1", "srv1")
    failed = Target("srv2", "srv2")
    results = [host_result(lab, {"domain": "tssr-lab1.localdomain", "url": "https://tssr-lab1.localdomain/"}),
               host_result(remote, {"domain": "parc.example.org", "url": "https://parc.example.org/"}),
               host_result(failed, {"url": "https://srv2/"}, status="failed")]
    hosts = [LabHost("tssr-lab1", "running", "debian12", {"ssh": 2201, "http": 8001, "https": 8443})]
    lines = jobs.web.site_urls(results, hosts, self_signed=True)
    assert len(lines) == 2
    assert lines[0].startswith("tssr-lab1: https://127.0.0.1:8443/")
    assert "tssr-lab1.localdomain" in lines[0] and "curl -k https://127.0.0.1:8443/" in lines[0]
    assert lines[1].startswith("admin@srv1: https://parc.example.org/")


def test_with_a_given_certificate_there_is_no_self_signed_hint():
    lab = Target("tssr-lab1", "tssr-lab1", lab=True)
    hosts = [LabHost("tssr-lab1", "running", "debian12", {"https": 8443})]
    lines = jobs.web.site_urls([host_result(lab, {"domain": "d.example"})], hosts, self_signed=False)
    assert lines == ["tssr-lab1: https://127.0.0.1:8443/  (vhost d.example)"]


def test_the_job_runs_through_the_runner_with_its_templates_folder(tmp_path, templates, app):
    """End to end without SSH: the fake host sees `mkdir -p …/templates` and the packed app go up."""
    host = FakeHost(user="root", remote_dir="/tmp/tssr-kit.q")
    job = jobs.lamp.deploy(app, out_dir=out(tmp_path))
    [result] = runner.run_job(job, [Target("h", "h")], progress=runner.Progress(io.StringIO()),
                              connector=lambda t: host)
    assert result.status == "ok"
    assert "mkdir -p -- /tmp/tssr-kit.q/templates" in host.commands
    assert "put /tmp/tssr-kit.q/templates/vhost.conf.tmpl" in host.commands
    assert "put /tmp/tssr-kit.q/parc-v1.tar.gz" in host.commands
    assert host.script_runs()[0].startswith(
        "bash /tmp/tssr-kit.q/deploy-lamp.sh --app /tmp/tssr-kit.q/parc-v1.tar.gz")
