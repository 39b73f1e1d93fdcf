"""Host-state tests of lesson 3's exercises (docs/lessons/03-deploy-java.md, graded by
`inv exercise check 3.M` as docs/lessons/exercises/03.yml says): what tests/hoststate/test_java.py, which
the graders run too, cannot check on its own — the secret the trainee was given, which releases are on
the server and which one runs.

They read the host's state only (files, links, the service's processes), never the trainee's commands.
Collected only when TSSR_EXERCISE is set (the grader sets it; tests/conftest.py).
"""

from __future__ import annotations

from hostlib import check, run

NAME = "hello-service"
APP = f"/opt/{NAME}"
ENV_FILE = f"/etc/tssr-kit/java/{NAME}/env"
SECRET = ("API_TOKEN", "exercice-3-1")


def current(host) -> str:
    link = f"{APP}/current"
    assert host.file(link).is_symlink, f"{link} does not exist: {NAME} is not deployed"
    return check(host, "readlink", "-f", link).strip()


# ---- 3.1 ----------------------------------------------------------------------------------------------
def test_3_1_the_secret_is_in_the_root_only_environment_file(host):
    current(host)
    key, value = SECRET
    env = host.file(ENV_FILE)
    assert env.is_file, f"{ENV_FILE} does not exist"
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600), \
        f"{ENV_FILE}: {env.user}:{env.group} {oct(env.mode)}, root:root 0600 expected"
    lines = check(host, "cat", ENV_FILE).splitlines()
    assert f"{key}={value}" in lines, f"{ENV_FILE} has no line {key}={value}"


def test_3_1_the_secret_is_not_on_a_command_line(host):
    current(host)
    processes = run(host, "ps", "-eo", "args").stdout
    assert SECRET[1] not in processes, f"the value of {SECRET[0]} is on a process's command line"


# ---- 3.2 ----------------------------------------------------------------------------------------------
def test_3_2_release_2_0_0_was_published_and_1_0_0_runs_again(host):
    release = current(host)
    assert host.file(f"{APP}/releases/2.0.0/app.jar").is_file, \
        f"{APP}/releases/2.0.0 is not there: version 2.0.0 was never deployed"
    assert release == f"{APP}/releases/1.0.0", f"{APP}/current is {release}, {APP}/releases/1.0.0 expected"
