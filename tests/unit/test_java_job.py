"""`inv deploy-java`'s job, without a host: which files go up, under which names, with which arguments;
the sample build it deploys by default; the URL it prints for a WAR.

The script itself is tested in containers (tests/containers/test_java.py) and on the lab
(tests/lab/test_lab_java.py; tests/lab/test_lab_refusals.py proves that what it refuses changes no
host); here only what tssrkit.jobs.java decides before connecting, and the sample build it runs
locally (the real JDK: `setup` installs one).
"""

from __future__ import annotations

import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tssrkit import bundles, jobs, runner
from tssrkit.hosts import Target
from tssrkit.lab import LabHost


@pytest.fixture
def jar(tmp_path) -> Path:
    path = tmp_path / "apps" / "hello-service-1.0.0.jar"
    path.parent.mkdir()
    path.write_bytes(b"PK\x03\x04 not checked here: the script reads the archive")
    return path


def a_file(folder: Path, name: str, text: str = "x") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------------------------------
# jobs.java.deploy


def test_a_jar_goes_up_under_its_own_name_so_the_script_derives_the_app_name(jar):
    job = jobs.java.deploy(jar)
    assert job.name == "deploy-java" and job.script == jobs.java.SCRIPT
    assert job.files["hello-service-1.0.0.jar"] == jar
    assert job.args == ["--jar", "{dir}/hello-service-1.0.0.jar"]
    assert job.validate_first, "the dry run must run everywhere before any host changes"


def test_a_war_is_given_as_war(tmp_path):
    war = a_file(tmp_path, "hello-war-1.0.0.war")
    job = jobs.java.deploy(war=war)
    assert job.args == ["--war", "{dir}/hello-war-1.0.0.war"]
    assert job.files["hello-war-1.0.0.war"] == war


def test_the_templates_and_the_shared_lib_go_up_beside_the_script(jar):
    job = jobs.java.deploy(jar)
    folder = jobs.java.SCRIPT.parent / "templates"
    templates = {f"templates/{p.name}": p for p in folder.iterdir() if p.is_file()}
    lib = {f"lib/{p.relative_to(bundles.BASH_LIB)}": p for p in bundles.BASH_LIB.rglob("*") if p.is_file()}
    assert {name: path for name, path in job.files.items() if name.startswith(("templates/", "lib/"))} == {
        **templates, **lib}
    assert "templates/java-app.service.tmpl" in job.files and "lib/common.sh" in job.files
    assert job.remote_folders() == ["lib", "lib/templates", "templates"]


def test_every_option_becomes_an_argument_with_uploaded_files_in_the_private_folder(tmp_path, jar):
    cert = a_file(tmp_path / "tls", "hello.example.org.crt", "CERT")
    key = a_file(tmp_path / "tls", "hello.example.org.key", "KEY")
    env = a_file(tmp_path / "secrets", "hello.env", "APP_SECRET=s3cret\n")
    job = jobs.java.deploy(jar, name="hello", version="1.0.1", domain="hello.example.org", cert=cert,
                           key=key, port=8081, java="21", heap="512m", env_file=env, health="/ready",
                           health_timeout=30)
    assert job.args == ["--jar", "{dir}/hello-service-1.0.0.jar",
                        "--cert", "{dir}/hello.example.org.crt", "--key", "{dir}/hello.example.org.key",
                        "--env-file", "{dir}/hello.env",
                        "--name", "hello", "--version", "1.0.1", "--domain", "hello.example.org",
                        "--port", "8081", "--java", "21", "--heap", "512m",
                        "--health", "/ready", "--health-timeout", "30"]
    uploaded = ("hello.example.org.crt", "hello.example.org.key", "hello.env")
    assert [job.files[name] for name in uploaded] == [cert, key, env]
    assert "s3cret" not in " ".join(job.args), "the env file's content must stay in the file"
    argv = job.argv("/tmp/d", dry_run=True)
    assert argv[:5] == ["bash", "/tmp/d/deploy-java.sh", "--dry-run",
                        "--jar", "/tmp/d/hello-service-1.0.0.jar"]
    assert "/tmp/d/hello.env" in argv


def test_a_war_context_is_passed_as_given(tmp_path):
    job = jobs.java.deploy(war=a_file(tmp_path, "intranet.war"), context="/intranet/hello")
    assert job.args[-2:] == ["--context", "/intranet/hello"]


def test_files_with_the_same_name_do_not_overwrite_each_other_nor_the_script(tmp_path):
    cert = a_file(tmp_path / "a", "server.pem", "CERT")
    key = a_file(tmp_path / "b", "server.pem", "KEY")
    archive = a_file(tmp_path / "c", "deploy-java.sh", "an archive unluckily named")
    env = a_file(tmp_path / "d", "templates", "A=1\n")
    job = jobs.java.deploy(archive, cert=cert, key=key, env_file=env)
    assert job.files["jar/deploy-java.sh"] == archive
    assert job.files["server.pem"] == cert and job.files["key/server.pem"] == key
    assert job.files["env-file/templates"] == env
    assert job.args == ["--jar", "{dir}/jar/deploy-java.sh", "--cert", "{dir}/server.pem",
                        "--key", "{dir}/key/server.pem", "--env-file", "{dir}/env-file/templates"]
    assert "deploy-java.sh" not in job.files, "the script itself is uploaded by the runner"


def test_rollback_by_name_uploads_no_archive():
    job = jobs.java.deploy(name="hello-service", rollback=True)
    assert job.args == ["--name", "hello-service", "--rollback"]
    assert all(name.startswith(("templates/", "lib/")) for name in job.files)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"jar": Path("/nonexistent/hello-service-1.0.0.jar")}, "--jar /nonexistent/hello-service-1.0.0.jar"),
    ({"war": Path("/nonexistent/hello-war.war")}, "--war /nonexistent/hello-war.war: no such file"),
    ({"jar": "JAR", "env_file": Path("/nonexistent.env")}, "--env-file /nonexistent.env: no such file"),
    ({"jar": "JAR", "cert": Path("/nonexistent.crt")}, "--cert /nonexistent.crt: no such file"),
])
def test_a_local_file_that_is_not_there_is_refused_before_any_host(jar, kwargs, message):
    kwargs = {k: (jar if v == "JAR" else v) for k, v in kwargs.items()}
    with pytest.raises(ValueError, match=message):
        jobs.java.deploy(**kwargs)


def test_which_options_go_together_is_the_scripts_to_judge(jar):
    """--jar with --war, a rollback with an archive or without --name, --cert without --key: passed as
    given; deploy-java.sh refuses them on every host before any change (tests/lab/test_lab_refusals.py)."""
    assert jobs.java.deploy(jar, war=jar).args == ["--jar", "{dir}/hello-service-1.0.0.jar",
                                                   "--war", "{dir}/war/hello-service-1.0.0.jar"]
    assert jobs.java.deploy(rollback=True).args == ["--rollback"]
    assert jobs.java.deploy(jar, cert=jar).args[-2:] == ["--cert", "{dir}/cert/hello-service-1.0.0.jar"]
    assert jobs.java.deploy(jar, port=0).args[-2:] == ["--port", "0"], "0 is the script's to refuse"


# --------------------------------------------------------------------------------------------------
# jobs.java.build_samples (the real JDK)


def manifest(archive: Path) -> dict[str, str]:
    with zipfile.ZipFile(archive) as z:
        text = z.read("META-INF/MANIFEST.MF").decode()
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


@pytest.fixture(scope="module")
def built_twice(tmp_path_factory) -> tuple[dict[str, Path], dict[str, Path]]:
    """The samples at 1.0.0, built twice into two folders (side by side: each build takes seconds)."""
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    with ThreadPoolExecutor(max_workers=2) as pool:
        builds = [pool.submit(jobs.java.build_samples, "1.0.0", folder) for folder in (first, second)]
        return builds[0].result(), builds[1].result()


@pytest.mark.slow  # two real JDK builds of the samples: about 10 s of CPU
def test_the_samples_build_an_executable_jar_and_a_war_at_the_version(built_twice):
    built, _ = built_twice
    assert set(built) == {"jar", "war"}
    assert built["jar"].name == "hello-service-1.0.0.jar" and built["war"].name == "hello-war-1.0.0.war"
    jar_manifest = manifest(built["jar"])
    assert jar_manifest["Main-Class"] == "org.tssrkit.hello.HelloService"
    assert jar_manifest["Implementation-Version"] == "1.0.0"
    assert jar_manifest["Implementation-Title"] == jobs.java.SAMPLE_NAME
    with zipfile.ZipFile(built["jar"]) as z:
        assert "org/tssrkit/hello/HelloService.class" in z.namelist()
    with zipfile.ZipFile(built["war"]) as z:
        assert {"WEB-INF/web.xml", "index.jsp", "health.jsp"} <= set(z.namelist())
    assert manifest(built["war"])["Implementation-Version"] == "1.0.0"
    assert "Main-Class" not in manifest(built["war"])


@pytest.mark.slow  # two real JDK builds of the samples: about 10 s of CPU
def test_a_rebuilt_sample_has_the_same_bytes_so_deploying_it_again_changes_nothing(built_twice):
    first, second = built_twice
    for kind in ("jar", "war"):
        assert first[kind].read_bytes() == second[kind].read_bytes(), f"the {kind} is not reproducible"


def test_a_bad_version_fails_the_build_with_build_shs_message(tmp_path):
    with pytest.raises(ValueError, match="invalid VERSION '../x'"):
        jobs.java.build_samples("../x", tmp_path)
    assert not list(tmp_path.iterdir()), "a refused build wrote something"


# --------------------------------------------------------------------------------------------------
# jobs.web.site_urls for a WAR (its context path is in the result line's url)


def war_result(target: Target, status: str = "changed") -> runner.HostResult:
    return runner.HostResult(target, status=status, result={
        "script": "deploy-java", "mode": "war", "domain": "intranet.example.org",
        "url": "https://intranet.example.org/hello-war/"})


def test_a_lab_host_shows_the_war_at_its_context_on_the_published_port():
    lab = Target("tssr-lab1", "tssr-lab1", lab=True)
    hosts = [LabHost("tssr-lab1", "running", "debian12", {"ssh": 2201, "http": 8001, "https": 8443})]
    lines = jobs.web.site_urls([war_result(lab)], hosts, self_signed=True)
    assert lines == ["tssr-lab1: https://127.0.0.1:8443/hello-war/  (vhost intranet.example.org)"
                     "  self-signed certificate: curl -k https://127.0.0.1:8443/hello-war/"]


def test_a_remote_host_shows_the_war_url_itself_and_a_failed_one_nothing():
    remote, failed = Target("admin@srv1", "srv1"), Target("srv2", "srv2")
    results = [war_result(remote, "ok"), war_result(failed, "failed")]
    lines = jobs.web.site_urls(results, [], self_signed=False)
    assert lines == ["admin@srv1: https://intranet.example.org/hello-war/"]
