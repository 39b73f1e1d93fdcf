"""deploy-java.sh run for real in systemd containers, against docs/reference/deploy-java.md.

Per platform (Debian 12, Debian 13, RedHat when ``TSSR_REDHAT_IMAGE`` names an image — otherwise
*skipped, not run: no image*), whatever ``TSSR_TEST_BOOT`` says (the services need systemd), ONE
container for the whole module, taken through the story test by test, in the order of this file:

1. the fresh host: refused input (exit 2, a message naming the field, nothing changed) — hostile
   archives (zip slip, links, setuid entries) and names someone else owns (an account, a group, a
   package's unit, a folder of /opt) among them — and a dry run (changes planned, nothing changed);
2. the jar: the sample ``hello-service`` 1.0.0 deployed (port 8081: Tomcat takes 8080), served over
   HTTPS only, as a hardened service; a second run changes nothing; a port already taken is
   refused; a killed JVM comes back; update to 2.0.0 and rollback; an unhealthy release and one
   that crashes at start are rolled back, with the vhost and certificate of a new port or domain
   put back too; deploy-lamp.sh never takes over a Java app's vhost or domain;
3. the WAR (Debian; refused on the RedHat family): ``hello-war`` 1.0.0 on Tomcat beside the jar,
   under its own domain;
4. last, the secret of the ``--env-file`` given to every jar deploy: in the root-only env file and
   the app's environment, in no output of any run and not in the journal.

The tests of one platform form one ``xdist_group``: run them with ``pytest -n 2 --dist loadgroup``
(as ``inv test`` does), each platform's story on one worker, in order. Another ``--dist`` would split
a story between workers: the module refuses it at once, with that advice.

The jars and WARs are built once per session (``examples/java/build.sh``) and copied in with the
script to ``/opt/tssr-test/{java,lib,apps}``; the test's own inputs are in ``/root/work``.

"Nothing changed" is :data:`SNAPSHOT` equal before and after: the files (modes, owners, link targets,
contents) under ``/opt``, ``/etc/systemd/system``, ``/etc/tssr-kit``, ``/var/lib/tssr-kit``, Apache's,
Tomcat's and the firewall's configuration, ``/etc/ssl/tssr-kit``, the accounts, the installed
packages, the loaded firewall, the state of the units involved, and no file named ``*pwned*``
(what the injection payloads try to create).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import subprocess
import time
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from containerlib import (
    PLATFORMS,
    SCRIPT_DIR,
    WORKDIR,
    Node,
    Platform,
    ScriptRun,
    host_state_script,
    kit_copies,
    parse_snapshot,
    require,
    snapshot_diff,
    start_systemd_node,
    stop_node,
    subset,
)

from tssrkit.containers import docker
from tssrkit.jobs.java import BUILD as JAVA_BUILD
from tssrkit.paths import REPO

pytestmark = [pytest.mark.containers, pytest.mark.slow]

# deploy-java.sh and templates/, the shared lib/ beside them (../lib, as in the repository), and
# deploy-lamp.sh with the sample PHP app: it must leave the Java apps alone.
COPIES = kit_copies(("java", "scripts/bash/java"), ("lib", "scripts/bash/lib"), ("lamp", "scripts/bash/lamp"),
                    ("lamp-app", "examples/lamp/parc-v1"))
FIXTURES = REPO / "tests" / "fixtures" / "java"          # crash/src, unhealthy/src
SAMPLE_SOURCE = REPO / "examples" / "java" / "hello-service" / "src"

SCRIPT = f"{SCRIPT_DIR}/java/deploy-java.sh"
APPS = f"{SCRIPT_DIR}/apps"
V1 = f"{APPS}/hello-service-1.0.0.jar"
V2 = f"{APPS}/hello-service-2.0.0.jar"
WAR = f"{APPS}/hello-war-1.0.0.war"
UNHEALTHY = f"{APPS}/unhealthy-3.0.0.jar"      # serves, but /health answers 503
CRASH = f"{APPS}/crash-4.0.0.jar"              # exits 1 at start
NO_MAIN = f"{APPS}/nomain.jar"                 # a zip with a manifest, without Main-Class
NOT_ZIP = f"{APPS}/notzip.jar"                 # text
# Hostile archives (executable, else valid): an entry that would land outside a folder it were
# unpacked into, a link, a setuid entry. (id -> the entry's name, its Unix mode)
HOSTILE_ENTRIES = {
    "zip-slip-dotdot": ("../../../../tmp/pwned", 0o100644),
    "zip-slip-inside-a-folder": ("org/../../../tmp/pwned", 0o100644),
    "zip-slip-backslash": ("..\\..\\tmp\\pwned", 0o100644),
    "absolute-entry": ("/etc/cron.d/pwned", 0o100644),
    "symbolic-link-entry": ("org/shadow", 0o120777),
    "setuid-entry": ("bin/tool", 0o104755),
    "fifo-entry": ("bin/pipe", 0o010644),
}

NAME = "hello-service"
DOMAIN = "hello.lab.test"
PORT = "8081"                                  # Tomcat always takes 8080
APP_DIR = f"/opt/{NAME}"
UNIT = f"app-{NAME}.service"
APP_USER = f"app-{NAME}"
UNIT_FILE = f"/etc/systemd/system/{UNIT}"
ENV_FILE = f"/etc/tssr-kit/java/{NAME}/env"
DATA_DIR = f"/var/lib/tssr-java/{NAME}"
LOG_DIR = f"/var/log/tssr-java/{NAME}"
WAR_NAME = "hello-war"
WAR_DOMAIN = "war.lab.test"
CONTEXT = f"/{WAR_NAME}"
TOMCAT = "tomcat10"
DEPLOY_TIMEOUT = 600                           # seconds: a first deploy installs Java and Apache

# The app's secret, given in the --env-file of every jar deploy: it must never be shown.
SECRET = f"tssr-secret-{uuid.uuid4().hex}"
ENV_INPUT = f"{WORKDIR}/hello.env"
# Bad env files; MARKER is in each of them and must not be echoed either.
MARKER = "tssr-marker-do-not-echo"
ENV_BAD = {
    "no-equals": f"{WORKDIR}/no-equals.env",
    "reserved-key": f"{WORKDIR}/reserved.env",
    "dollar-paren": f"{WORKDIR}/dollar.env",
}
ENV_FILES = {
    ENV_INPUT: f"# the app's settings\nGREETING=hello\nAPP_SECRET={SECRET}\n",
    ENV_BAD["no-equals"]: f"GREETING=hello\nthis line has no equals sign {MARKER}\n",
    ENV_BAD["reserved-key"]: f"# the port is the deploy's\nPORT=9000\nNOTE={MARKER}\n",
    ENV_BAD["dollar-paren"]: f"NOTE={MARKER}\nTOKEN=$(touch /tmp/pwned){MARKER}\n",
}

# Java feature releases that no supported platform packages, with the default one (listed as available).
JAVA_NOT_PACKAGED = {"debian12": ("11", "17"), "debian13": ("11", "21"), "redhat": ("12", "")}

# "Nothing changed": these are the same before and after a run that must change nothing.
SNAPSHOT = host_state_script((
    "/opt", "/etc/systemd/system", "/etc/tssr-kit", "/var/lib/tssr-kit", "/etc/apache2", "/etc/httpd",
    "/etc/ssl/tssr-kit", "/etc/tomcat10", "/var/lib/tomcat10/webapps", "/etc/nftables.conf", "/etc/firewalld",
    "/etc/passwd", "/etc/group", "/etc/shadow")) + r"""
printf '=== units\n'
systemctl list-units --all --no-legend --plain 'app-*' 'tomcat*' 'apache2*' 'httpd*' 'nftables*' \
    | awk '{print $1, $3, $4}'
systemctl list-unit-files --no-legend 'app-*' 'tomcat*' 'apache2*' 'httpd*' 'nftables*' | awk '{print $1, $2}'
printf '=== pwned\n'
ls -d /pwned /tmp/pwned 2>/dev/null
find /tmp /root /opt /etc /srv /run /var/lib /var/tmp -name '*pwned*' ! -path /tmp/pwned 2>/dev/null
true
"""


# --------------------------------------------------------------------------------------------------
# Building the jars and the WAR (once per session)


def build(*args: str) -> None:
    proc = subprocess.run(["bash", str(JAVA_BUILD), *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"build.sh {' '.join(args)} failed:\n{proc.stderr}"


def write_hostile_jar(path: Path, entry: str, mode: int) -> None:
    """An executable jar (a Main-Class; a WAR's WEB-INF/ too) holding one hostile entry, as it is."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nMain-Class: Hello\n")
        archive.writestr("Hello.class", b"\xca\xfe\xba\xbe")
        if path.suffix == ".war":
            archive.writestr("WEB-INF/web.xml", "<web-app/>\n")
        info = zipfile.ZipInfo(entry)
        info.create_system = 3                      # Unix: the mode is read from external_attr
        info.external_attr = mode << 16
        archive.writestr(info, "/etc/shadow" if mode & 0o170000 == 0o120000 else "x\n")


def write_zip_without_main_class(path: Path) -> None:
    """A jar-shaped zip whose manifest has no Main-Class (a library, not an application)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nImplementation-Version: 1.0.0\n")
        archive.writestr("org/example/Library.txt", "a library has no main class\n")


class Artifacts:
    """Everything the story deploys: the samples 1.0.0 and 2.0.0, the failing fixtures, a zip
    without Main-Class and a text file named .jar. Built in the background from the first request on
    (the first container boots meanwhile), once per run: the first xdist worker builds, the other
    waits for it (a lock beside the folder) and finds them built."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.done = self.pool.submit(self.build_once)

    def build_once(self) -> None:
        built = self.folder.with_name(f"{self.folder.name}.built")
        with self.folder.with_name(f"{self.folder.name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if built.exists():
                return
            self.folder.mkdir(exist_ok=True)
            out = self.folder
            with ThreadPoolExecutor(max_workers=4) as pool:
                builds = [pool.submit(build, *args) for args in (
                    ("samples", "1.0.0", str(out)),
                    ("jar", str(SAMPLE_SOURCE), "2.0.0", str(out / "hello-service-2.0.0.jar")),
                    ("jar", str(FIXTURES / "unhealthy" / "src"), "3.0.0", str(out / "unhealthy-3.0.0.jar")),
                    ("jar", str(FIXTURES / "crash" / "src"), "4.0.0", str(out / "crash-4.0.0.jar")),
                )]
                for done in builds:
                    done.result()
            write_zip_without_main_class(self.folder / "nomain.jar")
            for case, (entry, mode) in HOSTILE_ENTRIES.items():
                write_hostile_jar(self.folder / f"{case}.jar", entry, mode)
            write_hostile_jar(self.folder / "zip-slip.war", "WEB-INF/../../../../tmp/pwned", 0o100644)
            (self.folder / "notzip.jar").write_text("not a zip: plain text named .jar\n")
            built.touch()

    def ready(self) -> Path:
        """The folder, once built (a failed build fails the test here)."""
        self.done.result()
        return self.folder


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Artifacts]:
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base is a folder of this run's own: its parent is shared by the workers.
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    built = Artifacts(shared / "java-apps")
    yield built
    built.pool.shutdown()


# --------------------------------------------------------------------------------------------------
# The host and the runs made there


@dataclass
class JavaHost:
    """The platform's one container, and every run of the script made there (for the secret check)."""

    node: Node
    platform: Platform
    runs: list[ScriptRun] = field(default_factory=list, repr=False)
    known: dict[str, str] | None = None     # fresh host: the snapshot after the last refused run
    first: dict[str, ScriptRun] = field(default_factory=dict)   # "jar"/"war" -> the first deploy

    def deploy(self, *args: str, timeout: float = DEPLOY_TIMEOUT) -> ScriptRun:
        """``bash deploy-java.sh ARGS`` as root in the container (no shell: the values reach it as is)."""
        self.known = None
        argv = ("bash", SCRIPT, *args)
        start = time.monotonic()
        proc = self.node.exec(*argv, workdir=WORKDIR, timeout=timeout)
        return self.record(proc, argv, time.monotonic() - start)

    def deploy_stamped(self, *args: str) -> tuple[ScriptRun, list[tuple[float, str]]]:
        """``deploy``, with the time each line of stderr was written (seconds, in the container)."""
        self.known = None
        argv = ("bash", SCRIPT, *args)
        start = time.monotonic()
        proc = self.node.exec("bash", "-c", STAMP_STDERR, "bash", *argv, workdir=WORKDIR,
                              timeout=DEPLOY_TIMEOUT)
        stamped = [(float(stamp), line) for stamp, _, line in
                   (raw.partition(" ") for raw in proc.stderr.decode(errors="replace").splitlines())]
        proc.stderr = "".join(f"{line}\n" for _, line in stamped).encode()
        return self.record(proc, argv, time.monotonic() - start), stamped

    def deploy_unchanged(self, *args: str) -> tuple[ScriptRun, dict[str, str], dict[str, str]]:
        """Run the script with a snapshot before and after (the run and the second snapshot in one
        ``docker exec``). On the fresh host, where only these runs happen, the snapshot before is the
        one taken after the last of them."""
        before = self.known if self.known is not None and not self.first else snapshot(self.node)
        argv = ("bash", SCRIPT, *args)
        start = time.monotonic()
        proc, after = self.node.write_exec_snapshot(f"{WORKDIR}/.last-run", shlex.join(argv) + "\n", *argv,
                                                    workdir=WORKDIR, snapshot=SNAPSHOT,
                                                    timeout=DEPLOY_TIMEOUT)
        run = self.record(proc, argv, time.monotonic() - start)
        self.known = after
        return run, before, after

    def record(self, proc: subprocess.CompletedProcess[bytes], argv: tuple[str, ...], seconds: float
               ) -> ScriptRun:
        run = ScriptRun(proc.returncode, proc.stdout.decode(errors="replace"),
                        proc.stderr.decode(errors="replace"), argv, seconds)
        self.runs.append(run)
        return run

    @property
    def family(self) -> str:
        return self.platform.family


# Runs "$@" with each line of its stderr prefixed by the time it was written; its own exit status.
STAMP_STDERR = r"""set -o pipefail
{ "$@" 2>&1 1>&3 3>&- | while IFS= read -r line; do
    printf '%s %s\n' "$(date +%s.%N)" "$line" >&2
done; } 3>&1
"""


def snapshot(node: Node) -> dict[str, str]:
    return parse_snapshot(node.sh(SNAPSHOT))


def jar_args(jar: str = V1, *more: str) -> tuple[str, ...]:
    """A jar deploy of hello-service as the story makes it: its domain, port 8081, the env file."""
    return ("--jar", jar, "--domain", DOMAIN, "--port", PORT, "--env-file", ENV_INPUT, *more)


def war_args() -> tuple[str, ...]:
    return ("--war", WAR, "--domain", WAR_DOMAIN)


def result_of(run: ScriptRun) -> dict:
    """The result line, which must be deploy-java's."""
    value = run.result
    assert value.get("script") == "deploy-java", f"`script` is not deploy-java{run!r}"
    return value


def assert_nothing_changed(before: dict[str, str], after: dict[str, str], run: ScriptRun) -> None:
    assert not after.get("pwned"), f"an injected command ran: {after['pwned']}{run!r}"
    diff = snapshot_diff(before, after)
    assert not diff, f"the run changed the host:\n{diff}{run!r}"


def curl(node: Node, url: str, domain: str, *options: str) -> tuple[int, str, str]:
    """GET ``url`` in the container, ``domain`` resolved to 127.0.0.1 on the URL's port: status,
    redirect target, body."""
    port = "443" if url.startswith("https:") else "80"
    proc = node.exec("curl", "-sk", "--max-time", "10", "--resolve", f"{domain}:{port}:127.0.0.1", *options,
                     "-w", "\n%{http_code} %{redirect_url}", url)
    body, _, tail = proc.stdout.decode(errors="replace").rpartition("\n")
    code, _, redirect = tail.partition(" ")
    return int(code or 0), redirect, body


def https(node: Node, path: str = "/", domain: str = DOMAIN) -> tuple[int, str]:
    code, _, body = curl(node, f"https://{domain}{path}", domain)
    return code, body


def assert_serves(node: Node, version: str) -> str:
    """hello-service answers ``hello-service VERSION`` over HTTPS; returns the body."""
    code, body = https(node)
    assert code == 200 and body.startswith(f"{NAME} {version}\n"), (
        f"https://{DOMAIN}/ answered {code}:\n{body}")
    return body


def unit_properties(node: Node, unit: str, *names: str) -> dict[str, str]:
    out = node.sh(f"systemctl show {unit} " + " ".join(f"-p {n}" for n in names))
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def main_pid(node: Node, unit: str = UNIT) -> str:
    pid = unit_properties(node, unit, "MainPID")["MainPID"]
    assert pid not in ("", "0"), f"{unit} has no main process"
    return pid


def listening(node: Node, user: str) -> list[str]:
    """The TCP addresses that ``user``'s processes listen on (from the socket's owner, ``ss -e``: the
    container's root may not read the file descriptors of another user's process)."""
    uid = node.sh(f"id -u {user}").strip()
    lines = node.sh("ss -Hltne").splitlines()
    # An IPv4 address on a Java (dual-stack) socket would be shown as [::ffff:127.0.0.1]:PORT.
    return sorted(line.split()[3].replace("[::ffff:", "").replace("]:", ":")
                  for line in lines if f" uid:{uid} " in f"{line} ")


def read_only_in_the_view_of(node: Node, pid: str, *paths: str) -> dict[str, bool]:
    """Whether each path is on a read-only mount in the mount namespace of the process ``pid``."""
    mounts: dict[str, list[str]] = {}
    for line in node.read(f"/proc/{pid}/mountinfo").splitlines():
        fields = line.split()
        mounts[fields[4]] = fields[5].split(",")          # a later mount hides an earlier one
    views = {}
    for path in paths:
        point = max((m for m in mounts if path == m or path.startswith(m.rstrip("/") + "/")), key=len)
        views[path] = "ro" in mounts[point]
    return views


def current_release(node: Node, app_dir: str = APP_DIR) -> str:
    return node.sh(f"readlink {app_dir}/current || true").strip().rsplit("/", 1)[-1]


def sha256(node: Node, path: str) -> str:
    return hashlib.sha256(node.read(path).encode()).hexdigest()


def wait_until(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not after {seconds:.0f} s"
        time.sleep(0.5)


# --------------------------------------------------------------------------------------------------
# Fixtures


PLATFORM_PARAMS = [
    pytest.param(p, id=p.name, marks=pytest.mark.xdist_group(f"java-{p.name}")) for p in PLATFORMS.values()
]


@pytest.fixture(scope="module", params=PLATFORM_PARAMS)
def java_platform(request: pytest.FixtureRequest) -> Platform:
    """A platform (RedHat: skipped, not run, when no image is supplied); the script must exist."""
    # On an xdist worker, --dist reads "no": what the controller chose is in the worker's input.
    worker = getattr(request.config, "workerinput", None)
    if worker and int(worker.get("workercount", 1)) > 1 and not request.config.getoption("loadgroup", False) \
            and not any(mode in " ".join(worker.get("mainargv", ())) for mode in ("loadscope", "loadfile")):
        pytest.fail("this --dist would split a platform's story between workers: run these tests with "
                    "--dist loadgroup (as `inv test` does)")
    chosen: Platform = request.param
    chosen.image()
    require(*COPIES.values(), REPO / "scripts" / "bash" / "java" / "deploy-java.sh", JAVA_BUILD)
    return chosen


@pytest.fixture(scope="module")
def host(java_platform: Platform, artifacts: Artifacts) -> Iterator[JavaHost]:
    """The platform's container: the script, its lib, the apps and the test's inputs in it."""
    start = time.monotonic()
    node = start_systemd_node(java_platform, COPIES, prefix="tssr-test-java")
    try:
        docker("cp", str(artifacts.ready()), f"{node.name}:{APPS}")
        for path, text in ENV_FILES.items():
            node.write(path, text, "0600")
        node.sh(OCCUPIED)
        yield JavaHost(node, java_platform)
    finally:
        stop_node(node)
        print(f"\n{java_platform.name}: the story took {time.monotonic() - start:.0f} s")


@pytest.fixture
def fresh(host: JavaHost) -> JavaHost:
    """The container before anything was deployed to it."""
    if host.first:
        pytest.fail("the host is no longer fresh: the fresh-host tests run first, in file order")
    return host


def deploy_once(host: JavaHost, mode: str, args: tuple[str, ...]) -> None:
    """The first deploy of a jar or a WAR, made by the first test that needs it; later ones fail at
    once when it failed (the story cannot go on)."""
    if mode not in host.first:
        host.first[mode] = host.deploy(*args)
        print(f"\n{host.platform.name}: the first {mode} deploy took {host.first[mode].seconds:.1f} s")
    if host.first[mode].exit != 0:
        pytest.fail(f"the first {mode} deploy failed, the story cannot go on{host.first[mode]!r}")


@pytest.fixture
def jar_site(host: JavaHost) -> JavaHost:
    """hello-service 1.0.0 deployed, on port 8081, with the env file."""
    deploy_once(host, "jar", jar_args())
    return host


@pytest.fixture
def war_site(jar_site: JavaHost) -> JavaHost:
    """hello-war 1.0.0 deployed beside the jar (Debian: the RedHat family has no Tomcat)."""
    host = jar_site
    if host.family == "redhat":
        pytest.skip("not run: the RedHat family has no Tomcat, --war is refused there "
                    "(test_war_is_refused_on_the_redhat_family)")
    deploy_once(host, "war", war_args())
    return host


# ==================================================================================================
# 1. The fresh host: refused input and a dry run change nothing, not even the packages

# What someone else made on the host (the kit must never take it over): a human account that took
# the kit's comment, a group alone, a package's unit, a folder of /opt.
OCCUPIED = r"""
useradd --create-home --shell /bin/bash --comment 'tssr-kit Java app human' app-human
groupadd app-grp
printf '[Unit]\nDescription=a package unit\n[Service]\nExecStart=/bin/true\n' \
    > /lib/systemd/system/app-pkgunit.service
systemctl daemon-reload
mkdir -p /opt/vendor
"""

HOSTILE_NAMES = {
    "dot-dot": "../etc",
    "command-substitution": "$(touch /tmp/pwned)",
    "semicolon": "a;b",
    "upper-case": "Upper",
    "40-characters": "a" * 40,
    "leading-hyphen": "-x",
    "trailing-hyphen": "ab-",
}
# (id, the arguments, words that must all be in the message)
REFUSED: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    *((f"name-{case}", jar_args(V1, "--name", value), ("--name", "not a valid name"))
      for case, value in HOSTILE_NAMES.items()),
    ("jar-missing", jar_args(f"{WORKDIR}/no-such-app.jar"),
     ("--jar", "no-such-app.jar", "not a readable file")),
    ("jar-not-a-zip", jar_args(NOT_ZIP), ("--jar", "not a readable zip")),
    ("jar-without-main-class", jar_args(NO_MAIN), ("--jar", "no Main-Class")),
    ("jar-and-war", jar_args(V1, "--war", WAR), ("--jar and --war",)),
    ("version-dot-dot", jar_args(V1, "--version", "../x"), ("--version", "../x")),
    ("version-with-space", jar_args(V1, "--version", "1 0"), ("--version", "1 0")),
    ("heap-lots", jar_args(V1, "--heap", "lots"), ("--heap", "lots")),
    ("java-opts-semicolon", jar_args(V1, "--java-opts", "-Xss1m;rm"), ("--java-opts", "-Xss1m;rm")),
    ("port-80", jar_args(V1, "--port", "80"), ("--port", "'80'")),
    ("port-99999", jar_args(V1, "--port", "99999"), ("--port", "99999")),
    ("port-x", jar_args(V1, "--port", "x"), ("--port", "'x'")),
    ("env-file-line-without-equals", jar_args(V1, "--env-file", ENV_BAD["no-equals"]),
     ("--env-file", "line 2", "KEY=VALUE")),
    ("env-file-reserved-key", jar_args(V1, "--env-file", ENV_BAD["reserved-key"]),
     ("--env-file", "line 2", "PORT")),
    ("env-file-dollar-paren", jar_args(V1, "--env-file", ENV_BAD["dollar-paren"]),
     ("--env-file", "line 2", "TOKEN")),
    *((f"jar-{case}", jar_args(f"{APPS}/{case}.jar", "--name", "hostile"), ("--jar", "not accepted"))
      for case in HOSTILE_ENTRIES),
    ("war-zip-slip", ("--war", f"{APPS}/zip-slip.war", "--name", "hostile", "--domain", WAR_DOMAIN),
     ("--war", "zip slip")),
    ("name-of-a-human-account", jar_args(V1, "--name", "human"), ("--name", "the account app-human exists")),
    ("name-of-a-group-alone", jar_args(V1, "--name", "grp"), ("--name", "the group app-grp exists")),
    ("name-of-a-package-unit", jar_args(V1, "--name", "pkgunit"), ("--name", "the unit app-pkgunit.service")),
    ("name-of-a-folder-of-opt", jar_args(V1, "--name", "vendor"), ("--name", "/opt/vendor exists")),
]
REFUSED_PARAMS = [pytest.param(args, words, id=case) for case, args, words in REFUSED]


def assert_refused(run: ScriptRun, words: tuple[str, ...]) -> None:
    """Exit 2, a failed result line that changed nothing, a message naming the bad input."""
    assert run.exit == 2, run
    expected = {"status": "failed", "changed": 0}
    assert subset(result_of(run), expected) == expected, run
    for word in words:
        assert word in run.stderr, f"the message does not say {word!r}{run!r}"
    assert "nothing was changed" in run.stderr, run
    assert MARKER not in run.stderr + run.stdout, f"a value of the env file was shown{run!r}"


@pytest.mark.parametrize(("args", "words"), REFUSED_PARAMS)
def test_bad_input_on_a_fresh_host_exits_2_and_changes_nothing(fresh: JavaHost, args: tuple[str, ...],
                                                               words: tuple[str, ...]) -> None:
    run, before, after = fresh.deploy_unchanged(*args)
    assert_refused(run, words)
    assert_nothing_changed(before, after, run)


def test_a_java_the_distribution_does_not_package_is_refused_with_the_ones_it_has(fresh: JavaHost) -> None:
    version, default = JAVA_NOT_PACKAGED[fresh.platform.name]
    run, before, after = fresh.deploy_unchanged(*jar_args(V1, "--java", version))
    assert_refused(run, ("--java", f"Java {version} is not available", "available here:"))
    available = run.stderr.split("available here:", 1)[1].splitlines()[0].split()
    assert available and available != ["none", "found"], f"no Java listed{run!r}"
    if default:
        assert default in available, f"Java {default} (the default here) is not listed{run!r}"
    assert_nothing_changed(before, after, run)


def test_dry_run_on_a_fresh_host_plans_the_install_and_changes_nothing(fresh: JavaHost) -> None:
    run, before, after = fresh.deploy_unchanged(*jar_args(), "--dry-run")
    assert run.exit == 0, run
    result = result_of(run)
    expected = {"status": "changed", "dry_run": True, "name": NAME, "mode": "jar", "release": "1.0.0"}
    assert subset(result, expected) == expected, run
    assert isinstance(result.get("changed"), int) and result["changed"] > 0, f"no planned change{run!r}"
    assert "would: install the packages" in run.stderr, run
    assert_nothing_changed(before, after, run)


# ==================================================================================================
# 2. The jar: hello-service 1.0.0, then the story


def test_fresh_jar_deploy_serves_version_1_over_https_and_reports_the_url(jar_site: JavaHost) -> None:
    run = jar_site.first["jar"]
    assert run.exit == 0, run
    expected = {"status": "changed", "dry_run": False, "name": NAME, "mode": "jar", "domain": DOMAIN,
                "url": f"https://{DOMAIN}/", "release": "1.0.0", "previous": None, "rolled_back": False,
                "service": UNIT, "os_family": jar_site.family}
    assert subset(result_of(run), expected) == expected, run
    assert current_release(jar_site.node) == "1.0.0"
    assert_serves(jar_site.node, "1.0.0")


def test_http_answers_301_to_https(jar_site: JavaHost) -> None:
    code, redirect, _ = curl(jar_site.node, f"http://{DOMAIN}/", DOMAIN)
    assert (code, redirect) == (301, f"https://{DOMAIN}/")


def test_tls_1_0_and_1_1_are_refused_while_1_2_works(jar_site: JavaHost) -> None:
    node = jar_site.node
    # SECLEVEL=0: the client itself would refuse TLS 1.0 and 1.1 otherwise (OpenSSL 3's defaults).
    client = ("openssl", "s_client", "-servername", DOMAIN, "-cipher", "DEFAULT@SECLEVEL=0")
    # The control: the same client does speak TLS 1.0 and 1.1 to a server that allows them.
    node.sh(f"(timeout 60 openssl s_server -quiet -naccept 2 -accept 127.0.0.1:4433 "
            f"-min_protocol TLSv1 -max_protocol TLSv1.1 "
            f"-cipher DEFAULT@SECLEVEL=0 -cert /etc/ssl/tssr-kit/{DOMAIN}.crt "
            f"-key /etc/ssl/tssr-kit/private/{DOMAIN}.key >/dev/null 2>&1 &)")
    wait_until(lambda: ":4433" in node.sh("ss -Hltn"), 15, "the control TLS server")
    for version in ("-tls1", "-tls1_1"):
        control = node.exec(*client, "-connect", "127.0.0.1:4433", version, stdin=b"")
        assert control.returncode == 0, f"the client cannot speak {version} at all: {control.stderr!r}"
        proc = node.exec(*client, "-connect", "127.0.0.1:443", version, stdin=b"")
        assert proc.returncode != 0, (
            f"Apache accepted {version}: {proc.stdout.decode(errors='replace')[-600:]}")
    code, _, body = curl(node, f"https://{DOMAIN}/", DOMAIN, "--tlsv1.2", "--tls-max", "1.2")
    assert code == 200 and body.startswith(NAME), (code, body)


def test_the_service_is_enabled_and_runs_as_its_own_user(jar_site: JavaHost) -> None:
    node = jar_site.node
    props = unit_properties(node, UNIT, "ActiveState", "UnitFileState", "User")
    assert props == {"ActiveState": "active", "UnitFileState": "enabled", "User": APP_USER}
    assert node.sh(f"ps -o user:40= -p {main_pid(node)}").strip() == APP_USER
    account = node.sh(f"getent passwd {APP_USER}").strip().split(":")
    assert account[4] == f"tssr-kit Java app {NAME}" and account[6].endswith("nologin"), account


def test_the_unit_is_hardened_and_restarts_on_failure(jar_site: JavaHost) -> None:
    expected = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
                "ProtectHome": "yes", "Restart": "on-failure", "CapabilityBoundingSet": ""}
    props = unit_properties(jar_site.node, UNIT, *expected, "ReadWritePaths")
    assert subset(props, expected) == expected, props
    assert sorted(props["ReadWritePaths"].split()) == [DATA_DIR, LOG_DIR], props


def test_the_app_listens_on_127_0_0_1_only(jar_site: JavaHost) -> None:
    node = jar_site.node
    assert listening(node, APP_USER) == [f"127.0.0.1:{PORT}"]
    addresses = [line.split()[3] for line in node.sh("ss -Hltn").splitlines()]
    assert [a for a in addresses if a.endswith(f":{PORT}")] == [f"127.0.0.1:{PORT}"], addresses


def test_the_env_file_is_root_only(jar_site: JavaHost) -> None:
    node = jar_site.node
    assert node.sh(f"stat -c '%a %U %G' {ENV_FILE} {ENV_FILE.rsplit('/', 1)[0]}").split("\n")[:2] == [
        "600 root root", "700 root root"]
    env = node.read(ENV_FILE)
    for line in (f"PORT={PORT}", "BIND_ADDRESS=127.0.0.1", f"DATA_DIR={DATA_DIR}", f"LOG_DIR={LOG_DIR}"):
        assert line in env.splitlines(), f"{line!r} is not in {ENV_FILE}"
    assert any(line.startswith("JAVA_OPTS=-Xmx256m") for line in env.splitlines()), env


def test_the_app_writes_its_data_folder_and_cannot_write_its_release(jar_site: JavaHost) -> None:
    node = jar_site.node
    code, body = https(node)
    assert code == 200 and "visits: " in body, f"the app did not count the visit in {DATA_DIR}:\n{body}"
    assert node.sh(f"stat -c '%U' {DATA_DIR}/visits").strip() == APP_USER
    # The service's own view of the file system (its mount namespace): read-only but for its folders.
    view = read_only_in_the_view_of(node, main_pid(node), APP_DIR, "/etc", "/var/lib", DATA_DIR, LOG_DIR)
    assert view == {APP_DIR: True, "/etc": True, "/var/lib": True, DATA_DIR: False, LOG_DIR: False}
    # And the release is root's anyway.
    assert node.exec("runuser", "-u", APP_USER, "--", "touch", f"{APP_DIR}/current/x").returncode != 0


def test_second_run_changes_nothing(jar_site: JavaHost) -> None:
    run, before, after = jar_site.deploy_unchanged(*jar_args())
    print(f"\n{jar_site.platform.name}: second run took {run.seconds:.1f} s")
    assert run.exit == 0, run
    expected = {"status": "ok", "changed": 0, "release": "1.0.0", "rolled_back": False}
    assert subset(result_of(run), expected) == expected, run
    assert "nothing to change" in run.stderr, run
    assert_nothing_changed(before, after, run)


def test_a_second_app_on_the_first_apps_port_is_refused_and_changes_nothing(jar_site: JavaHost) -> None:
    run, before, after = jar_site.deploy_unchanged("--jar", V1, "--name", "other-app",
                                                   "--domain", "other.lab.test", "--port", PORT)
    assert_refused(run, ("--port", f"{PORT} is already in use"))
    assert_nothing_changed(before, after, run)


def test_a_killed_jvm_is_restarted_and_answers_again(jar_site: JavaHost) -> None:
    node = jar_site.node
    before = unit_properties(node, UNIT, "NRestarts", "MainPID")
    node.sh(f"kill -9 {before['MainPID']}")

    def back() -> bool:
        now = unit_properties(node, UNIT, "NRestarts", "MainPID", "ActiveState")
        return (now["ActiveState"] == "active" and now["MainPID"] not in ("0", before["MainPID"])
                and https(node, "/health")[0] == 200)

    wait_until(back, 60, "the service answering again after kill -9")
    after = unit_properties(node, UNIT, "NRestarts")
    assert int(after["NRestarts"]) > int(before["NRestarts"]), (before, after)
    assert_serves(node, "1.0.0")


def test_update_to_version_2_serves_it(jar_site: JavaHost) -> None:
    run = jar_site.deploy(*jar_args(V2))
    assert run.exit == 0, run
    expected = {"status": "changed", "release": "2.0.0", "previous": "1.0.0", "rolled_back": False}
    assert subset(result_of(run), expected) == expected, run
    assert_serves(jar_site.node, "2.0.0")
    assert https(jar_site.node, "/version") == (200, "2.0.0\n")


def test_rollback_serves_version_1_again(jar_site: JavaHost) -> None:
    node = jar_site.node
    run = jar_site.deploy("--rollback", "--name", NAME)
    assert run.exit == 0, run
    expected = {"status": "changed", "release": "1.0.0", "previous": "2.0.0", "domain": DOMAIN, "mode": "jar"}
    assert subset(result_of(run), expected) == expected, run
    assert_serves(node, "1.0.0")
    assert current_release(node) == "1.0.0"
    assert node.sh(f"ls {APP_DIR}/releases").split() == ["1.0.0", "2.0.0"]



def test_deploying_the_release_a_rollback_brought_back_changes_nothing(jar_site: JavaHost) -> None:
    run = jar_site.deploy(*jar_args())
    assert run.exit == 0, run
    expected = {"status": "ok", "changed": 0, "release": "1.0.0"}
    assert subset(result_of(run), expected) == expected, run
    assert current_release(jar_site.node) == "1.0.0"

def test_an_unhealthy_release_is_rolled_back_with_its_settings(jar_site: JavaHost) -> None:
    node = jar_site.node
    settings = {path: sha256(node, path) for path in (UNIT_FILE, ENV_FILE)}
    # --heap: the new release comes with a new env file, which must be put back too.
    run = jar_site.deploy(*jar_args(UNHEALTHY, "--name", NAME, "--version", "3.0.0", "--health-timeout", "10",
                                    "--heap", "300m"))
    assert run.exit == 1, run
    expected = {"status": "failed", "rolled_back": True, "failed_release": "3.0.0", "release": "1.0.0"}
    assert subset(result_of(run), expected) == expected, run
    assert f"changed: write {NAME}'s environment" in run.stderr, f"the env file was not rewritten{run!r}"
    assert not node.exists(f"{APP_DIR}/releases/3.0.0"), "the failed release is still there"
    assert current_release(node) == "1.0.0"
    assert {path: sha256(node, path) for path in settings} == settings, "unit or env file changed"
    assert_serves(node, "1.0.0")


def test_a_jar_that_crashes_at_start_is_caught_at_once_and_rolled_back(jar_site: JavaHost) -> None:
    node = jar_site.node
    run, stamped = jar_site.deploy_stamped(*jar_args(CRASH, "--name", NAME, "--version", "4.0.0",
                                                     "--health-timeout", "60"))
    assert run.exit == 1, run
    result = result_of(run)
    expected = {"status": "failed", "rolled_back": True, "failed_release": "4.0.0", "release": "1.0.0"}
    assert subset(result, expected) == expected, run
    assert "did not stay up" in str(result.get("error")), run
    # From the restart onto the crashing release to the failure seen (the script's own narration).
    restarted = [t for t, line in stamped if line in (f"changed: restart {UNIT}", f"changed: start {UNIT}")]
    caught = [t for t, line in stamped if line.startswith("warning: ") and "did not stay up" in line]
    assert restarted and caught, run
    seconds = caught[0] - restarted[0]
    print(f"\n{jar_site.platform.name}: the crash was caught {seconds:.1f} s after the restart "
          f"(the whole run, put back included: {run.seconds:.1f} s)")
    assert seconds < 20, f"caught {seconds:.1f} s after the restart (health timeout 60 s){run!r}"
    assert run.seconds < 60, f"the run took the health timeout or more{run!r}"
    assert not node.exists(f"{APP_DIR}/releases/4.0.0"), "the failed release is still there"
    assert_serves(node, "1.0.0")


def test_a_release_that_crashes_on_a_new_port_puts_the_vhost_back_too(jar_site: JavaHost) -> None:
    node = jar_site.node
    vhost = node.sh(f"ls /etc/apache2/sites-available/tssr-{NAME}.conf /etc/httpd/conf.d/tssr-{NAME}.conf "
                    "2>/dev/null", check=False).split()[0]
    assert f"127.0.0.1:{PORT}/" in node.read(vhost)
    # The vhost is rewritten for 8082 and Apache reloaded before the service fails its check.
    run, before, after = jar_site.deploy_unchanged(*jar_args(CRASH, "--name", NAME, "--version", "4.0.1",
                                                             "--port", "8082", "--health-timeout", "30"))
    assert run.exit == 1, run
    expected = {"status": "failed", "rolled_back": True, "failed_release": "4.0.1", "release": "1.0.0"}
    assert subset(result_of(run), expected) == expected, run
    assert "changed: write the vhost" in run.stderr, f"the vhost was not rewritten{run!r}"
    assert f"127.0.0.1:{PORT}/" in node.read(vhost) and ":8082" not in node.read(vhost)
    assert_nothing_changed(before, after, run)
    assert_serves(node, "1.0.0")


def test_an_unhealthy_release_under_a_new_domain_puts_the_vhost_and_certificate_back(jar_site: JavaHost
                                                                                     ) -> None:
    node = jar_site.node
    run, before, after = jar_site.deploy_unchanged(*jar_args(UNHEALTHY, "--name", NAME, "--version", "3.0.1",
                                                             "--health-timeout", "10"),
                                                   "--domain", "new.lab.test", "--port", "8084")
    assert run.exit == 1, run
    expected = {"status": "failed", "rolled_back": True, "failed_release": "3.0.1", "release": "1.0.0"}
    assert subset(result_of(run), expected) == expected, run
    assert "back on 1.0.0, which answers" in str(result_of(run).get("error")), run
    assert not node.exists("/etc/ssl/tssr-kit/new.lab.test.crt"), "the new domain's certificate is left"
    assert_nothing_changed(before, after, run)
    assert_serves(node, "1.0.0")


def test_deploy_lamp_never_takes_over_a_javas_vhost_or_domain(jar_site: JavaHost) -> None:
    node = jar_site.node
    # A Java app whose name is a valid PHP app name too.
    first = jar_site.deploy("--jar", V1, "--name", "hellojava", "--domain", "hellojava.lab.test",
                            "--port", "8083", "--version", "1.0.0")
    assert first.exit == 0, first
    for args, words in ((("--name", "hellojava", "--domain", "php.lab.test"), "written by deploy-java.sh"),
                        (("--name", "php", "--domain", DOMAIN), "already the name of another site")):
        before = snapshot(node)
        argv = ("bash", f"{SCRIPT_DIR}/lamp/deploy-lamp.sh", "--app", f"{SCRIPT_DIR}/lamp-app", *args)
        start = time.monotonic()
        run = jar_site.record(node.exec(*argv, workdir=WORKDIR, timeout=DEPLOY_TIMEOUT), argv,
                              time.monotonic() - start)
        after = snapshot(node)
        assert run.exit == 2 and run.result.get("script") == "deploy-lamp", run
        assert run.result.get("changed") == 0 and words in run.stderr, run
        assert_nothing_changed(before, after, run)
    assert https(node, "/", "hellojava.lab.test")[1].startswith("hello-service 1.0.0"), "the Java app stopped"
    assert_serves(node, "1.0.0")


# ==================================================================================================
# 3. The WAR: hello-war on Tomcat beside the jar (Debian); refused on the RedHat family


def test_war_deploy_serves_hello_war_at_its_context(war_site: JavaHost) -> None:
    run = war_site.first["war"]
    expected = {"status": "changed", "name": WAR_NAME, "mode": "war", "domain": WAR_DOMAIN,
                "url": f"https://{WAR_DOMAIN}{CONTEXT}/", "release": "1.0.0", "service": f"{TOMCAT}.service"}
    assert subset(result_of(run), expected) == expected, run
    code, body = https(war_site.node, f"{CONTEXT}/", WAR_DOMAIN)
    assert code == 200 and body.startswith(f"{WAR_NAME} 1.0.0"), (code, body)
    assert_serves(war_site.node, "1.0.0")          # the jar still answers beside it


def test_war_site_root_redirects_to_the_context(war_site: JavaHost) -> None:
    code, redirect, _ = curl(war_site.node, f"https://{WAR_DOMAIN}/", WAR_DOMAIN)
    assert (code, redirect) == (302, f"https://{WAR_DOMAIN}{CONTEXT}/")


@pytest.mark.parametrize("path", ["/manager/html", "/examples/", "/docs/", "/"])
def test_tomcats_default_apps_are_not_served(war_site: JavaHost, path: str) -> None:
    node = war_site.node
    if path != "/":
        assert https(node, path, WAR_DOMAIN)[0] == 404
    # Tomcat itself, behind Apache: none of its own apps, no ROOT.
    code = node.sh(f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 10 http://127.0.0.1:8080{path}")
    assert code == "404", f"Tomcat answers {code} for {path}"


def test_tomcats_root_app_is_removed(war_site: JavaHost) -> None:
    assert not war_site.node.exists(f"/var/lib/{TOMCAT}/webapps/ROOT")


def test_tomcat_listens_on_127_0_0_1_8080_only(war_site: JavaHost) -> None:
    node = war_site.node
    assert main_pid(node, f"{TOMCAT}.service")
    assert listening(node, "tomcat") == ["127.0.0.1:8080"]


def test_second_war_run_changes_nothing(war_site: JavaHost) -> None:
    run, before, after = war_site.deploy_unchanged(*war_args())
    assert run.exit == 0, run
    expected = {"status": "ok", "changed": 0, "release": "1.0.0"}
    assert subset(result_of(run), expected) == expected, run
    assert "nothing to change" in run.stderr, run
    assert_nothing_changed(before, after, run)


def test_war_is_refused_on_the_redhat_family(jar_site: JavaHost) -> None:
    if jar_site.family != "redhat":
        pytest.skip(f"not run: {jar_site.platform.name} has Tomcat (the WAR tests above run there)")
    run, before, after = jar_site.deploy_unchanged(*war_args())
    assert_refused(run, ("--war", "RedHat family has no Tomcat"))
    assert_nothing_changed(before, after, run)


# ==================================================================================================
# 4. The secret of the env file, now that every run can be searched


def test_env_file_secret_reaches_the_app_and_is_shown_nowhere(jar_site: JavaHost) -> None:
    node = jar_site.node
    assert f"APP_SECRET={SECRET}" in node.read(ENV_FILE).splitlines()
    assert node.sh(f"stat -c '%a %U' {ENV_FILE}").strip() == "600 root"
    environ = node.exec("cat", f"/proc/{main_pid(node)}/environ").stdout.split(b"\0")
    assert f"APP_SECRET={SECRET}".encode() in environ, "the secret is not in the app's environment"
    with_env = [run for run in jar_site.runs if ENV_INPUT in run.argv]
    assert len(with_env) >= 5, f"only {len(with_env)} runs had the env file"
    for run in jar_site.runs:
        assert SECRET not in run.stdout + run.stderr, f"the secret was shown{run!r}"
    journal = node.exec("journalctl", "--no-pager", "-o", "verbose").stdout.decode(errors="replace")
    assert "tssr-deploy-java" in journal, "the deploy's journal entries are missing"
    assert SECRET not in journal, "the secret is in the journal"
    logs = node.exec("grep", "-rlF", "-e", SECRET, "/var/log")
    assert logs.returncode == 1, f"the secret is in {logs.stdout.decode(errors='replace')}"

