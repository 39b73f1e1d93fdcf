"""deploy-lamp.sh run for real in systemd containers, against docs/reference/deploy-lamp.md.

Per platform (Debian 12, Debian 13, RedHat when ``TSSR_REDHAT_IMAGE`` names an image — otherwise
*skipped, not run: no image*), whatever ``TSSR_TEST_BOOT`` says (Apache, PHP-FPM and MariaDB need
systemd), two containers:

- the *site*: one container that the sample app ``examples/lamp/parc-v1`` is deployed to once (the
  install takes ~40 s on an idle machine, 2-3 min on a busy one; it runs in the background while the
  fresh host is tested), then taken through the story test by test, in the order of this file:
  second run, dry run, refused input, hostile apps, hostile schemas, names the kit did not create,
  deploy-java beside it, least privilege, firewall, update to ``parc-v2`` and rollback, failing
  health checks (settings put back too), a broken Apache configuration, the data folder (PHP never
  runs there), tarballs, ``--keep``, and last the secrets (by then every run's output and the
  journal can be searched);
- the *fresh host*: a container never deployed to, for the dry run and the refused input on a
  bare host (replaced as soon as a run changed it).

The tests of one platform form one ``xdist_group``: ``pytest -n 2 --dist loadgroup`` runs each
platform's story on one worker, in order.

"Nothing changed" is :data:`SNAPSHOT` equal before and after: the files under ``/etc/apache2``,
``/etc/php``, ``/etc/mysql``, ``/etc/nftables.conf`` (RedHat: their counterparts), ``/srv/lamp``
(link targets included), ``/etc/tssr-kit``, ``/var/lib/tssr-kit``, ``/etc/ssl/tssr-kit``, the
accounts, the installed packages, the loaded firewall, MariaDB's users, grants, databases, columns
and table checksums, and no ``/tmp/pwned`` (what the injection payloads try to create).

The script and its templates are copied to ``/opt/tssr-test/lamp/`` (the shared ``lib/`` to
``/opt/tssr-test/lib/``, deploy-java.sh to ``/opt/tssr-test/java/``), the sample apps to
``/opt/tssr-test/apps/``; the test's own variants (copies, tarballs, certificates) are made in
``/root/work``, the hostile applications by :data:`HOSTILE_INPUTS` in ``/root/work/hostile``.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shlex
import socket
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

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
    require,
    snapshot_diff,
    start_systemd_node,
    stop_node,
    subset,
    tar_of_data,
)

from tssrkit import containers
from tssrkit.paths import REPO

pytestmark = [pytest.mark.containers, pytest.mark.slow]


LAMP = f"{SCRIPT_DIR}/lamp"
SCRIPT = f"{LAMP}/deploy-lamp.sh"
APPS = f"{SCRIPT_DIR}/apps"
# deploy-lamp.sh and templates/, the shared lib/ beside them (../lib, as in the repository),
# deploy-java.sh (it must leave this site alone), the sample apps parc-v1 and parc-v2.
COPIES = kit_copies(("lamp", "scripts/bash/lamp"), ("lib", "scripts/bash/lib"), ("java", "scripts/bash/java"),
                    *((f"apps/{app}", f"examples/lamp/{app}") for app in ("parc-v1", "parc-v2")))
V1 = f"{APPS}/parc-v1"
V2 = f"{APPS}/parc-v2"
V1_SCHEMA = f"{V1}/schema.sql"
V2_SCHEMA = f"{V2}/schema.sql"
NAME = "parc"                           # what `parc-v1` and `parc-v2` are named by default
DOMAIN = "parc.lab.test"
OTHER_DOMAIN = "autre.lab.test"
DATA_DIR = "uploads"
APP_ROOT = f"/srv/lamp/{NAME}"
RELEASES = f"{APP_ROOT}/releases"
CURRENT = f"{APP_ROOT}/current"
DB_INI = f"/etc/tssr-kit/lamp/{NAME}/database.ini"
DB_PASSWORD = f"/var/lib/tssr-kit/lamp/{NAME}/db-password"
RELEASE_NAME = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{12}$")
DEPLOY_TIMEOUT = 600                    # seconds: a first deploy installs Apache, PHP and MariaDB

# What the refused-input cases point at, made in every container by PREPARE.
SCHEMA_DIR = f"{WORKDIR}/schema-dir"            # a directory given as --schema
CERT_A = f"{WORKDIR}/a.crt"                     # a certificate for DOMAIN and its key
KEY_A = f"{WORKDIR}/a.key"
KEY_B = f"{WORKDIR}/b.key"                      # another key: not CERT_A's
TAR_DOTDOT = f"{WORKDIR}/evil-dotdot.tar.gz"    # parc-1.0/… plus a member `../evil`
TAR_ABSOLUTE = f"{WORKDIR}/evil-absolute.tar.gz"  # parc-1.0/… plus a member `/etc/evil`
HOSTILE = f"{WORKDIR}/hostile"                  # the hostile applications (HOSTILE_INPUTS)
EVIL_EDITOR = f"{WORKDIR}/evil-editor"          # an EDITOR that creates /tmp/pwned, were it ever run
MAKERS = "/root/.tssr-test-makers"              # EVIL_TARBALLS and HOSTILE_INPUTS, run from there

# Builds the two hostile tarballs from parc-v1 (argv: the app, the two tarball paths).
EVIL_TARBALLS = r"""
import io, sys, tarfile
app, dotdot, absolute = sys.argv[1:4]
for path, evil in ((dotdot, "../evil"), (absolute, "/etc/evil")):
    with tarfile.open(path, "w:gz") as tar:
        tar.add(app, arcname="parc-1.0")
        member = tarfile.TarInfo(evil)          # written as is: tarfile keeps `..` and the leading /
        member.size = 5
        tar.addfile(member, io.BytesIO(b"evil\n"))
"""

# Builds the hostile applications from parc-v1 (argv: the app, the output folder), as root in the
# container: tarballs (parc-1.0/… and the hostile members, written as they are) and folders.
HOSTILE_INPUTS = r"""
import io, os, shutil, stat, subprocess, sys, tarfile
app, out = sys.argv[1:3]
os.makedirs(out, exist_ok=True)

def tarball(name, members, without_public=False):
    def keep(info):
        return None if without_public and info.name.startswith("parc-1.0/public") else info
    with tarfile.open(f"{out}/{name}.tar.gz", "w:gz") as tar:
        tar.add(app, arcname="parc-1.0", filter=keep)
        for kind, member, value, *mode in members:
            info = tarfile.TarInfo(f"parc-1.0/{member}")
            info.mode = mode[0] if mode else 0o644
            data = b""
            if kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, value
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, value
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            elif kind == "device":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            else:
                data = value.encode()
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

def folder(name, make):
    path = f"{out}/{name}"
    shutil.copytree(app, path, symlinks=True)
    make(path)

tarball("link-to-tmp-written-through", [("link", "evil", "/tmp"), ("file", "evil/pwned", "x")])
tarball("link-to-etc-written-through", [("link", "etc", "/etc"), ("file", "etc/evil", "x")])
tarball("dotdot-link-written-through", [("link", "evil", "../../../../../../../../tmp"),
                                        ("file", "evil/pwned", "x")])
tarball("chain-makes-the-docroot-the-root", [("dir", "d", ""), ("link", "d/up", ".."),
                                             ("link", "public", "d/up/../../../../../../../..")],
        without_public=True)
tarball("chain-written-through", [("dir", "d", ""), ("link", "d/up", ".."),
                                  ("link", "e", "d/up/../../../../../../../../tmp"),
                                  ("file", "e/pwned", "x")])
tarball("absolute-link", [("link", "public/shadow.txt", "/etc/shadow")])
tarball("dotdot-link", [("link", "public/up", "../..")])
tarball("link-to-a-link", [("link", "public/a", "index.php"), ("link", "public/b", "a")])
tarball("public-is-a-link-outside", [("link", "public", "../../../../../../etc")], without_public=True)
tarball("hard-link-to-an-absolute-path", [("hard", "public/shadow.txt", "/etc/shadow")])
tarball("hard-link-climbing-out", [("hard", "public/shadow.txt", "../../../../../../../../etc/shadow")])
tarball("setuid-file", [("file", "public/tool", "#!/bin/sh\n", 0o4755)])
tarball("setgid-file", [("file", "public/tool", "#!/bin/sh\n", 0o2755)])
tarball("fifo", [("fifo", "public/pipe", "")])
tarball("device", [("device", "public/null", "")])
tarball("link-into-a-data-folder", [("link", "public/up", "../uploads/x")])
tarball("data-folder-is-a-link", [("link", "uploads", "public")])
tarball("data-folder-through-a-link", [("link", "web", "public")])
for name, target in (("top-folder-is-a-link", "/etc"), ("top-folder-is-a-link-climbing-out", "../../..")):
    with tarfile.open(f"{out}/{name}.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("parc-1.0")
        info.type, info.linkname = tarfile.SYMTYPE, target
        tar.addfile(info)
folder("folder-with-a-fifo", lambda p: os.mkfifo(f"{p}/public/pipe"))
folder("folder-with-a-device", lambda p: os.mknod(f"{p}/public/null", stat.S_IFCHR | 0o644, os.makedev(1, 3)))
folder("folder-with-a-setuid-file", lambda p: os.chmod(shutil.copy("/bin/true", f"{p}/public/tool"), 0o4755))
folder("folder-with-a-hard-link-to-shadow", lambda p: os.link("/etc/shadow", f"{p}/public/shadow.txt"))
folder("folder-with-an-absolute-link", lambda p: os.symlink("/etc/shadow", f"{p}/public/shadow.txt"))
folder("folder-with-a-chain", lambda p: (os.mkdir(f"{p}/d"), os.symlink("..", f"{p}/d/up"),
                                         os.symlink("d/up/../../../../../../..", f"{p}/public/root")))
# A folder of the app's author (not root) holding a file only root may read (a hard link or a swap
# made behind the operator's back): root must never copy it for them.
subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "author"], check=True)
shutil.copytree(app, "/home/author/app", symlinks=True)
shutil.chown("/home/author", "author", "author")
for folder_, _, files in os.walk("/home/author/app"):
    for name in [folder_, *(os.path.join(folder_, f) for f in files)]:
        shutil.chown(name, "author", "author")
with open("/home/author/app/public/secret.txt", "w") as secret:
    secret.write("root only\n")
os.chmod("/home/author/app/public/secret.txt", 0o600)
"""

# Packs a folder as a tarball with one top folder (argv: folder, tarball, top folder name).
MAKE_TARBALL = r"""
import sys, tarfile
folder, path, top = sys.argv[1:4]
mode = "w:gz" if path.endswith((".tar.gz", ".tgz")) else "w"
with tarfile.open(path, mode) as tar:
    tar.add(folder, arcname=top)
"""

# Records every distinct /proc/*/cmdline until /tmp/.cmdline-stop appears (argv: output file).
CMDLINE_SAMPLER = r"""
import os, sys, time
seen = set()
while not os.path.exists("/tmp/.cmdline-stop"):
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    seen.add(f.read().replace(b"\0", b" "))
            except OSError:
                pass
    time.sleep(0.002)
with open(sys.argv[1] + ".part", "wb") as out:
    out.write(b"\n".join(sorted(seen)) + b"\n")
os.rename(sys.argv[1] + ".part", sys.argv[1])
"""
CMDLINES = "/tmp/.cmdlines"

# "Nothing changed": these are the same before and after a run that must change nothing.
SNAPSHOT = host_state_script((  # noqa: S608 — fixed SQL, no test value in it
    "/etc/apache2", "/etc/httpd", "/etc/php", "/etc/php.d", "/etc/php-fpm.d", "/etc/php-fpm.conf",
    "/etc/php.ini", "/etc/nftables.conf", "/etc/firewalld", "/etc/mysql", "/etc/my.cnf", "/etc/my.cnf.d",
    "/etc/ssl/tssr-kit", "/srv/lamp", "/var/lib/tssr-kit", "/etc/tssr-kit", "/etc/passwd", "/etc/group",
)) + r"""if command -v firewall-cmd >/dev/null 2>&1; then firewall-cmd --list-all-zones 2>&1; fi
printf '=== database\n'
if command -v mariadb >/dev/null 2>&1 && mariadb -N -B -e 'SELECT 1' >/dev/null 2>&1; then
    mariadb -N -B -e "
        SELECT user, host, priv FROM mysql.global_priv ORDER BY user, host;
        SELECT host, db, user FROM mysql.db ORDER BY host, db, user;
        SHOW DATABASES;
        SELECT table_schema, table_name, column_name, column_type FROM information_schema.columns
          WHERE table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
          ORDER BY table_schema, table_name, ordinal_position;"
    mariadb -N -B -e "
        SELECT CONCAT('CHECKSUM TABLE \`', table_schema, '\`.\`', table_name, '\`;')
          FROM information_schema.tables WHERE table_type = 'BASE TABLE'
          AND table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
          ORDER BY table_schema, table_name" | mariadb -N -B
else
    echo 'no server'
fi
printf '=== shadow\n'; stat -c '%a %U:%G' /etc/shadow
printf '=== pwned\n'; ls -d /tmp/pwned /etc/evil /evil /srv/evil /srv/lamp/evil 2>/dev/null || true
"""


# --------------------------------------------------------------------------------------------------
# What differs between the OS families


@dataclass(frozen=True)
class Family:
    vhost: str              # the app's vhost file
    conf_dir: str           # a folder whose *.conf Apache reads (where the broken file goes)
    web_user: str
    apachectl: str = "apachectl"


FAMILIES = {
    "debian": Family(f"/etc/apache2/sites-available/tssr-{NAME}.conf", "/etc/apache2/conf-enabled",
                     "www-data"),
    "redhat": Family(f"/etc/httpd/conf.d/tssr-{NAME}.conf", "/etc/httpd/conf.d", "apache"),
}


# --------------------------------------------------------------------------------------------------
# Running the script


class Run(ScriptRun):
    """One run of deploy-lamp.sh; its result line must be deploy-lamp's."""

    @property
    def result(self) -> dict:
        value = super().result
        assert value.get("script") == "deploy-lamp", f"`script` is not deploy-lamp{self!r}"
        return value


def deploy(node: Node, *args: str, timeout: float = DEPLOY_TIMEOUT, env: dict[str, str] | None = None) -> Run:
    """``bash deploy-lamp.sh ARGS`` as root in the container (no shell: the values reach it as is),
    with ``env`` added to its environment."""
    argv = ("env", *(f"{k}={v}" for k, v in (env or {}).items()), "bash", SCRIPT, *args)
    start = time.monotonic()
    proc = node.exec(*argv, workdir=WORKDIR, timeout=timeout)
    return Run(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"),
               argv, time.monotonic() - start)


def app_args(app: str = V1, schema: str | None = V1_SCHEMA, domain: str = DOMAIN) -> tuple[str, ...]:
    """The arguments of a deploy: the app, its schema, the domain, the data folder."""
    schema_args = ("--schema", schema) if schema else ()
    return ("--app", app, *schema_args, "--domain", domain, "--data-dir", DATA_DIR)


# --------------------------------------------------------------------------------------------------
# Reading the host


def assert_nothing_changed(before: dict[str, str], after: dict[str, str], run: Run) -> None:
    assert not after.get("pwned"), f"an injected command or a tarball member escaped: {after['pwned']}{run!r}"
    diff = snapshot_diff(before, after)
    assert not diff, f"the run changed the host:\n{diff}{run!r}"


def https(node: Node, path: str = "/", domain: str = DOMAIN) -> tuple[int, str]:
    """GET https://DOMAIN/PATH inside the container (DOMAIN resolved to 127.0.0.1): status, body."""
    proc = node.exec("curl", "-sk", "--max-time", "10", "--resolve", f"{domain}:443:127.0.0.1",
                     "-w", "\n%{http_code}", f"https://{domain}{path}")
    body, _, code = proc.stdout.decode(errors="replace").rpartition("\n")
    return int(code or 0), body


def https_each(node: Node, paths: list[str], domain: str = DOMAIN) -> list[tuple[int, str]]:
    """``https`` for each path in turn, in one ``docker exec``: the answers, in the same order."""
    script = ('d=$1; shift; for p; do curl -sk --max-time 10 --resolve "$d:443:127.0.0.1"'
              ' -w "\\n%{http_code}" "https://$d$p" | base64 -w0; echo; done')
    lines = node.sh(script, args=(domain, *paths)).splitlines()
    assert len(lines) == len(paths), lines
    answers = []
    for line in lines:
        body, _, code = base64.b64decode(line).decode(errors="replace").rpartition("\n")
        answers.append((int(code or 0), body))
    return answers


def app_version(body: str) -> str | None:
    """The content of ``<meta name="app-version" content="…">``."""
    match = re.search(r'<meta name="app-version" content="([^"]*)"', body)
    return match[1] if match else None


def assert_serves(node: Node, version: str, *texts: str) -> str:
    """HTTPS answers 200 with ``version N`` (text and meta) and each of ``texts``; returns the body."""
    code, body = https(node)
    assert code == 200, f"https://{DOMAIN}/ answered {code}:\n{body[:2000]}"
    assert f"version {version}" in body and app_version(body) == version, (
        f"not version {version} (meta: {app_version(body)}):\n{body[:2000]}")
    for text in texts:
        assert text in body, f"{text!r} is not on the page:\n{body[:3000]}"
    return body


def releases(node: Node) -> list[str]:
    return sorted(node.sh(f"ls -1 {RELEASES} 2>/dev/null || true").split())


def current_release(node: Node) -> str:
    """The release ``current`` points to (the folder's name; '' when there is no ``current``)."""
    return node.sh(f"readlink {CURRENT} || true").strip().rstrip("/").rsplit("/", 1)[-1]


def release_state(node: Node) -> tuple[str, list[str]]:
    """``current_release`` and ``releases``, read in one ``docker exec``."""
    out = node.sh(f"readlink {CURRENT} || true; echo '---'; ls -1 {RELEASES} 2>/dev/null || true")
    current, _, listing = out.partition("---\n")
    return current.strip().rstrip("/").rsplit("/", 1)[-1], sorted(listing.split())


def copy_app(node: Node, folder: str, files: dict[str, str], source: str = V1) -> str:
    """A copy of ``source`` at ``folder`` (replaced), with ``files`` (relative path → text) written in it
    (mode 0644, owned by root): one ``docker exec``."""
    proc = node.exec("sh", "-c", 'rm -rf "$2" && cp -a "$1" "$2" && tar -x -C "$2"', "sh", source, folder,
                     stdin=tar_of_data(dict(files)))
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return folder


def start_lamp_node(platform: Platform, certs: dict[str, bytes]) -> Node:
    """A systemd container (whatever TSSR_TEST_BOOT says) with the script, the apps and the test inputs."""
    node = start_systemd_node(platform, COPIES)
    try:
        # All in one `docker exec`: the folders, the certificates, the editor, then the two makers.
        files: dict[str, bytes | str | tuple[bytes | str, str]] = {
            **{f"{WORKDIR}/{file}": (data, "0600") for file, data in certs.items()},
            EVIL_EDITOR: ("#!/bin/sh\ntouch /tmp/pwned\n", "0755"),
            f"{MAKERS}/evil_tarballs.py": EVIL_TARBALLS, f"{MAKERS}/hostile_inputs.py": HOSTILE_INPUTS}
        node.write_files(files, f"mkdir -p {WORKDIR} {SCHEMA_DIR}"
                         f" && python3 {MAKERS}/evil_tarballs.py {V1} {TAR_DOTDOT} {TAR_ABSOLUTE}"
                         f" && python3 {MAKERS}/hostile_inputs.py {V1} {HOSTILE}")
    except BaseException:
        stop_node(node)
        raise
    return node


# --------------------------------------------------------------------------------------------------
# Fixtures


PLATFORM_PARAMS = [
    pytest.param(p, id=p.name, marks=pytest.mark.xdist_group(f"lamp-{p.name}")) for p in PLATFORMS.values()
]


@pytest.fixture(scope="module", params=PLATFORM_PARAMS)
def lamp_platform(request: pytest.FixtureRequest) -> Platform:
    """A platform (RedHat: skipped, not run, when no image is supplied); the script must exist."""
    chosen: Platform = request.param
    chosen.image()
    require(*COPIES.values(), REPO / "scripts" / "bash" / "lamp" / "deploy-lamp.sh")
    return chosen


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A self-signed certificate for DOMAIN with its key (a.crt, a.key), and an unrelated key (b.key)."""
    folder = tmp_path_factory.mktemp("certs")
    for key in ("a.key", "b.key"):
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-out", str(folder / key)], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-x509", "-key", str(folder / "a.key"), "-days", "30",
                    "-subj", f"/CN={DOMAIN}", "-addext", f"subjectAltName=DNS:{DOMAIN}",
                    "-out", str(folder / "a.crt")], check=True, capture_output=True)
    return {name: (folder / name).read_bytes() for name in ("a.crt", "a.key", "b.key")}


@dataclass
class Site:
    """The container parc-v1 was deployed to, and every run made there (for the secret checks)."""

    node: Node
    family: Family
    first: Run
    runs: list[Run] = field(default_factory=list, repr=False)
    cmdlines: str = field(default="", repr=False)  # every command line seen during the first deploy

    def deploy(self, *args: str, env: dict[str, str] | None = None) -> Run:
        if self.first.exit != 0:
            pytest.fail(f"the first deploy failed, the story cannot go on{self.first!r}")
        run = deploy(self.node, *args, env=env)
        self.runs.append(run)
        return run

    @property
    def first_release(self) -> str:
        return str(self.first.result.get("release"))


@dataclass
class Launch:
    """The site's container, its first deploy running in the background (``docker exec`` client)."""

    node: Node
    proc: subprocess.Popen[bytes]
    argv: tuple[str, ...]
    start: float
    out: IO[bytes]          # files, not pipes: nobody reads while the fresh host is tested
    err: IO[bytes]

    def wait(self) -> Run:
        try:
            self.proc.wait(timeout=DEPLOY_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        seconds = time.monotonic() - self.start
        self.out.seek(0)
        self.err.seek(0)
        return Run(self.proc.returncode, self.out.read().decode(errors="replace"),
                   self.err.read().decode(errors="replace"), self.argv, seconds)


@pytest.fixture(scope="module")
def launched(lamp_platform: Platform, certs: dict[str, bytes]) -> Iterator[Launch]:
    """A new container with parc-v1's first deploy started, the command lines watched meanwhile.

    Started as soon as a test of the platform needs it (the fresh host's tests do, when the site's
    tests are selected too), so the ~40 s install runs while the fresh host is tested.
    """
    node = start_lamp_node(lamp_platform, certs)
    proc: subprocess.Popen[bytes] | None = None
    try:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            node.exec("rm", "-f", "/tmp/.cmdline-stop", CMDLINES)
            containers.docker("exec", "--detach", node.name, "python3", "-c", CMDLINE_SAMPLER, CMDLINES)
            argv = ("bash", SCRIPT, *app_args())
            start = time.monotonic()
            # Its own wall time, measured in the container: the test waits for it only later.
            timed = ("sh", "-c", 'date +%s.%N > /tmp/.first-start; "$@"; rc=$?;'
                     ' date +%s.%N > /tmp/.first-end; exit $rc', "sh", *argv)
            proc = subprocess.Popen(["docker", "exec", "--workdir", WORKDIR, node.name, *timed],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            yield Launch(node, proc, argv, start, out, err)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        containers.remove(node.name)


@pytest.fixture(scope="module")
def site(lamp_platform: Platform, launched: Launch) -> Site:
    """parc-v1 with its schema deployed once (the first deploy waited for), and the command lines seen."""
    node = launched.node
    first = launched.wait()
    times = node.sh("cat /tmp/.first-start /tmp/.first-end", check=False).split()
    if len(times) == 2:
        first.seconds = float(times[1]) - float(times[0])
    # The sampler stopped, and its file waited for (10 s at most), in one `docker exec`.
    cmdlines = node.sh(f"touch /tmp/.cmdline-stop; i=0; while [ ! -e {CMDLINES} ] && [ $i -lt 100 ]; do"
                       f" sleep 0.1; i=$((i + 1)); done; cat {CMDLINES}", check=False)
    print(f"\n{lamp_platform.name}: first deploy took {first.seconds:.1f} s")
    return Site(node, FAMILIES[lamp_platform.family], first, [first], cmdlines)


class FreshHost:
    """A container never deployed to; replaced when a test found it changed."""

    def __init__(self, platform: Platform, certs: dict[str, bytes]) -> None:
        self.platform = platform
        self.certs = certs
        self.node: Node | None = None
        self.dirty = False

    def get(self) -> Node:
        if self.node is not None and self.dirty:
            self.close()
        if self.node is None:
            self.node = start_lamp_node(self.platform, self.certs)
            self.dirty = False
        return self.node

    def close(self) -> None:
        if self.node is not None:
            containers.remove(self.node.name)
            self.node = None


@pytest.fixture(scope="module")
def fresh_host(request: pytest.FixtureRequest, lamp_platform: Platform, certs: dict[str, bytes]
               ) -> Iterator[FreshHost]:
    """The platform's fresh host; starts the site's first deploy first when the site's tests will run."""
    if any("site" in getattr(item, "fixturenames", ())
           and getattr(getattr(item, "callspec", None), "params", {}).get("lamp_platform") is lamp_platform
           for item in request.session.items):
        request.getfixturevalue("launched")
    holder = FreshHost(lamp_platform, certs)
    yield holder
    holder.close()


def run_unchanged(holder: FreshHost | Site, *args: str, env: dict[str, str] | None = None,
                  write: tuple[str, str] | None = None) -> tuple[Run, dict[str, str], dict[str, str]]:
    """Run the script on the fresh host or the site, with a snapshot before and after, the file
    ``write`` = (path, text) written after the first: one ``docker exec`` (``Node.run_between``)."""
    if isinstance(holder, Site) and holder.first.exit != 0:
        pytest.fail(f"the first deploy failed, the story cannot go on{holder.first!r}")
    node = holder.get() if isinstance(holder, FreshHost) else holder.node
    argv = ("env", *(f"{k}={v}" for k, v in (env or {}).items()), "bash", SCRIPT, *args)
    before, run, after = node.run_between(*argv, workdir=WORKDIR, before=SNAPSHOT, after=SNAPSHOT,
                                          write=write, timeout=DEPLOY_TIMEOUT, kind=Run)
    assert before is not None and after is not None
    if isinstance(holder, FreshHost):
        holder.dirty = before != after
    else:
        holder.runs.append(run)
    return run, before, after


# ==================================================================================================
# The fresh host: a dry run and refused input change nothing, not even the packages


def test_dry_run_on_a_fresh_host_plans_the_install_and_installs_nothing(fresh_host: FreshHost) -> None:
    run, before, after = run_unchanged(fresh_host, *app_args(), "--dry-run")
    assert run.exit == 0, run
    result = run.result
    assert result.get("dry_run") is True, run
    assert isinstance(result.get("changed"), int) and result["changed"] > 0, f"no planned change{run!r}"
    assert_nothing_changed(before, after, run)


# Refused input: (id, the arguments, words of which one must be in the message).
HOSTILE_DOMAINS = {
    "space": "exa mple.com",
    "leading-hyphen": "-bad.example",
    "empty-label": "a..b",
    "semicolon": "x;touch /tmp/pwned",
    "command-substitution": "$(touch /tmp/pwned)",
    "300-characters": ".".join(["a" * 59] * 5),
    "upper-case-accent": "ÉCOLE.fr",
}
HOSTILE_NAMES = {
    "upper-case": "Parc",
    "leading-digit": "1app",
    "semicolon": "x;id",
    "dot-dot": "../etc",
    "quote": "a'b",
    "17-characters": "abcdefghijklmnopq",
}
# Names of MariaDB's own databases and accounts, PHP-FPM's default pool and the like: never an app's.
RESERVED_NAMES = ("mysql", "sys", "root", "test", "information_schema", "performance_schema", "phpmyadmin",
                  "www")
REFUSED: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    *((f"domain-{case}", app_args(domain=value), ("domain",)) for case, value in HOSTILE_DOMAINS.items()),
    ("app-missing", app_args(app=f"{WORKDIR}/no-such-app"), ("app", "no-such-app")),
    ("schema-is-a-directory", app_args(schema=SCHEMA_DIR), ("schema",)),
    ("schema-missing", app_args(schema=f"{WORKDIR}/no-such.sql"), ("schema", "no-such.sql")),
    *((f"name-{case}", app_args() + ("--name", value), ("name",))
      for case, value in HOSTILE_NAMES.items()),
    ("cert-without-key", app_args() + ("--cert", CERT_A), ("key",)),
    ("key-without-cert", app_args() + ("--key", KEY_A), ("cert",)),
    ("cert-and-key-not-a-pair", app_args() + ("--cert", CERT_A, "--key", KEY_B), ("cert", "key", "pair")),
    ("tarball-dotdot-member", app_args(app=TAR_DOTDOT), ("..",)),
    ("tarball-absolute-member", app_args(app=TAR_ABSOLUTE), ("/etc/evil", "absolute")),
    ("keep-1", app_args() + ("--keep", "1"), ("keep",)),
    ("data-dir-dotdot", ("--app", V1, "--schema", V1_SCHEMA, "--domain", DOMAIN, "--data-dir", "../x"),
     ("data",)),
    ("health-without-slash", app_args() + ("--health", "health.php"), ("health",)),
    *((f"name-reserved-{name}", app_args() + ("--name", name),
       ("system database, account or pool",) if len(name) <= 16 else ("not a valid name",))
      for name in RESERVED_NAMES),
    ("data-dir-inside-another", app_args() + ("--data-dir", "public", "--data-dir", "public/files"),
     ("inside the data folder 'public'",)),
]
REFUSED_PARAMS = [pytest.param(args, words, id=case) for case, args, words in REFUSED]


def assert_refused(run: Run, words: tuple[str, ...]) -> None:
    """Exit 2, a failed result line that changed nothing, a message naming the bad input."""
    assert run.exit == 2, run
    assert subset(run.result, {"status": "failed", "changed": 0}) == {"status": "failed", "changed": 0}, run
    assert any(word.lower() in run.stderr.lower() for word in words), (
        f"stderr names none of {words}{run!r}")


@pytest.mark.parametrize(("args", "words"), REFUSED_PARAMS)
def test_bad_input_on_a_fresh_host_exits_2_and_changes_nothing(fresh_host: FreshHost, args: tuple[str, ...],
                                                               words: tuple[str, ...]) -> None:
    run, before, after = run_unchanged(fresh_host, *args)
    assert_refused(run, words)
    assert_nothing_changed(before, after, run)


# ==================================================================================================
# The site: parc-v1 deployed once, then the story, in this order


def test_fresh_deploy_installs_the_stack_and_reports_the_url(site: Site) -> None:
    run = site.first
    assert run.exit == 0, run
    expected = {"status": "changed", "dry_run": False, "name": NAME, "domain": DOMAIN,
                "url": f"https://{DOMAIN}/", "rolled_back": False, "previous": None}
    assert subset(run.result, expected) == expected, run
    assert run.result.get("changed", 0) > 0, run
    assert RELEASE_NAME.match(site.first_release), run
    assert current_release(site.node) == site.first_release
    assert site.node.sh(f"readlink -f {CURRENT}").strip() == f"{RELEASES}/{site.first_release}"


def test_https_serves_version_1_with_data_from_mariadb(site: Site) -> None:
    assert site.first.exit == 0, site.first
    assert_serves(site.node, "1", "PC-0001", "SW-0001", "PRN-0001")
    code, body = https(site.node, "/health.php")
    assert code == 200 and json.loads(body).get("status") == "ok", body


def test_http_answers_301_to_https(site: Site) -> None:
    assert site.first.exit == 0, site.first
    out = site.node.sh(f"curl -s -o /dev/null --max-time 10 --resolve {DOMAIN}:80:127.0.0.1 "
                       f"-w '%{{http_code}} %{{redirect_url}}' http://{DOMAIN}/")
    assert out == f"301 https://{DOMAIN}/", out


def test_second_run_changes_nothing(site: Site) -> None:
    run, before, after = run_unchanged(site, *app_args())
    print(f"\n{site.node.platform.name}: second run took {run.seconds:.1f} s "
          f"(first: {site.first.seconds:.1f} s)")
    assert run.exit == 0, run
    expected = {"status": "ok", "changed": 0, "dry_run": False, "release": site.first_release,
                "rolled_back": False}
    assert subset(run.result, expected) == expected, run
    assert_nothing_changed(before, after, run)


def test_dry_run_of_version_2_plans_changes_and_changes_nothing(site: Site) -> None:
    run, before, after = run_unchanged(site, *app_args(V2, V2_SCHEMA), "--dry-run")
    assert run.exit == 0, run
    assert run.result.get("dry_run") is True, run
    changed = run.result.get("changed")
    assert isinstance(changed, int) and changed > 0, f"no planned change{run!r}"
    assert_nothing_changed(before, after, run)
    assert_serves(site.node, "1")


@pytest.mark.parametrize(("args", "words"), REFUSED_PARAMS)
def test_bad_input_on_a_deployed_host_exits_2_and_changes_nothing(site: Site, args: tuple[str, ...],
                                                                  words: tuple[str, ...]) -> None:
    run, before, after = run_unchanged(site, *args)
    assert_refused(run, words)
    assert_nothing_changed(before, after, run)


# --------------------------------------------------------------------------------------------------
# Hostile applications: (id, the app in HOSTILE, more arguments, words of which one is in the message).
# Each is refused (exit 2) with nothing changed: no file outside the release, /etc/shadow untouched,
# the site still serving version 1.
UNPACKED = ("could not be unpacked",)
HOSTILE_APPS: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]] = [
    # A tarball that makes a link, then writes through it: GNU tar never does (its own guard).
    ("tarball-link-to-tmp-written-through", "link-to-tmp-written-through.tar.gz", (), UNPACKED),
    ("tarball-link-to-etc-written-through", "link-to-etc-written-through.tar.gz", (), UNPACKED),
    ("tarball-dotdot-link-written-through", "dotdot-link-written-through.tar.gz", (), UNPACKED),
    ("tarball-chain-written-through", "chain-written-through.tar.gz", (), UNPACKED),
    # Links resolved on disk.
    ("tarball-chain-makes-the-docroot-the-root", "chain-makes-the-docroot-the-root.tar.gz", (),
     ("through another link",)),
    ("tarball-absolute-link", "absolute-link.tar.gz", (), ("absolute path",)),
    ("tarball-dotdot-link", "dotdot-link.tar.gz", (), ("leads outside the app",)),
    ("tarball-link-to-a-link", "link-to-a-link.tar.gz", (), ("through another link",)),
    ("tarball-public-is-a-link-outside", "public-is-a-link-outside.tar.gz", (), ("leads outside the app",)),
    ("tarball-link-into-a-data-folder", "link-into-a-data-folder.tar.gz", (), ("data folder 'uploads'",)),
    ("tarball-data-folder-is-a-link", "data-folder-is-a-link.tar.gz", (), ("is a link in the app",)),
    ("tarball-data-folder-through-a-link", "data-folder-through-a-link.tar.gz", ("--data-dir", "web/files"),
     ("'web' is a link in the app",)),
    ("data-folder-is-a-file", V1, ("--data-dir", "public/index.php/x"),
     ("'public/index.php' is a file in the app",)),
    ("tarball-top-folder-is-a-link", "top-folder-is-a-link.tar.gz", (), ("absolute path",)),
    ("tarball-top-folder-is-a-link-climbing-out", "top-folder-is-a-link-climbing-out.tar.gz", (),
     ("leads outside the app",)),
    # Hard links: GNU tar strips / and ../ from their targets (nothing outside can be named).
    ("tarball-hard-link-to-an-absolute-path", "hard-link-to-an-absolute-path.tar.gz", (), UNPACKED),
    ("tarball-hard-link-climbing-out", "hard-link-climbing-out.tar.gz", (), UNPACKED),
    # Special files and privileges, refused from the listing before anything is unpacked.
    ("tarball-setuid-file", "setuid-file.tar.gz", (), ("setuid or setgid",)),
    ("tarball-setgid-file", "setgid-file.tar.gz", (), ("setuid or setgid",)),
    ("tarball-fifo", "fifo.tar.gz", (), ("special file",)),
    ("tarball-device", "device.tar.gz", (), ("special file",)),
    # A folder: the same, checked before the copy and again on the copy.
    ("folder-with-a-fifo", "folder-with-a-fifo", (), ("a device, a pipe or a socket",)),
    ("folder-with-a-device", "folder-with-a-device", (), ("a device, a pipe or a socket",)),
    ("folder-with-a-setuid-file", "folder-with-a-setuid-file", (), ("setuid or setgid",)),
    ("folder-with-a-hard-link-to-shadow", "folder-with-a-hard-link-to-shadow", (), ("hard link",)),
    ("folder-with-an-absolute-link", "folder-with-an-absolute-link", (), ("absolute path",)),
    ("folder-with-a-chain", "folder-with-a-chain", (), ("through another link", "data folder")),
    ("folder-of-the-author-with-a-root-only-file", "/home/author/app", (),
     ("cannot be read whole by its owner",)),
]
HOSTILE_APP_PARAMS = [pytest.param(app, more, words, id=case) for case, app, more, words in HOSTILE_APPS]


@pytest.mark.parametrize(("app", "more", "words"), HOSTILE_APP_PARAMS)
def test_a_hostile_application_is_refused_and_changes_nothing(site: Site, app: str, more: tuple[str, ...],
                                                              words: tuple[str, ...]) -> None:
    path = app if app.startswith("/") else f"{HOSTILE}/{app}"
    if "hard-link-to-shadow" in app:
        # Made now: every useradd replaces /etc/shadow, and an older link names the old file.
        site.node.sh(f"ln -f /etc/shadow {path}/public/shadow.txt")
    run, before, after = run_unchanged(site, *app_args(path), "--name", NAME, *more)
    assert_refused(run, words)
    assert_nothing_changed(before, after, run)
    assert after["shadow"].split()[0] == "640", f"/etc/shadow changed: {after['shadow']}"
    assert_serves(site.node, "1")


# Hostile schemas: (id, SQL). Each fails (exit 1), is not recorded as applied, and changes nothing else:
# no file, no account, no grant, no other database, not even a table of the app's database. The
# deploy runs with EDITOR and VISUAL set to a program that would create /tmp/pwned.
SCHEMA_ATTACKS = {
    "shell-escape": "\\! touch /tmp/pwned\n",
    "system-command-after-a-statement": "SELECT 1;\nsystem touch /tmp/pwned\n",
    "tee-to-a-file": "tee /tmp/pwned\nSELECT 1;\n",
    "source-a-root-only-file": "source /etc/shadow\n",
    "editor-from-the-environment": "\\e\nCREATE DATABASE other;\n",
    "grant-all-on-everything": "GRANT ALL ON *.* TO 'parc-migrate'@'localhost' WITH GRANT OPTION;\n",
    "grant-to-the-app-user": "GRANT ALL PRIVILEGES ON parc.* TO 'parc'@'localhost';\n",
    "create-user": "CREATE USER 'evil'@'%' IDENTIFIED BY 'evil';\n",
    "write-the-mysql-schema": "USE mysql;\nUPDATE global_priv SET Priv = '{}' WHERE User = 'root';\n",
    "select-into-outfile": "SELECT 'pwned' INTO OUTFILE '/tmp/pwned';\n",
    "load-data-infile": "LOAD DATA INFILE '/etc/shadow' INTO TABLE equipment;\n",
    "load-data-local-infile": "LOAD DATA LOCAL INFILE '/etc/shadow' INTO TABLE equipment;\n",
    "create-another-database": "CREATE DATABASE other;\n",
    "definer-root": "CREATE DEFINER = 'root'@'localhost' PROCEDURE p() SELECT 1;\n",
    "set-a-global": "SET GLOBAL general_log_file = '/tmp/pwned';\n",
}


@pytest.mark.parametrize("sql", [pytest.param(sql, id=case) for case, sql in SCHEMA_ATTACKS.items()])
def test_a_hostile_schema_fails_changes_nothing_else_and_is_not_recorded(site: Site, sql: str) -> None:
    schema = f"{WORKDIR}/attack.sql"
    run, before, after = run_unchanged(site, *app_args(schema=schema), write=(schema, sql),
                                       env={"EDITOR": EVIL_EDITOR, "VISUAL": EVIL_EDITOR})
    assert run.exit == 1, run
    assert "not recorded as applied" in str(run.result.get("error")), run
    assert_nothing_changed(before, after, run)
    assert_serves(site.node, "1")


def test_a_schema_that_sets_its_own_password_leaves_its_author_nothing(site: Site) -> None:
    node = site.node
    query = ("mariadb -N -B -e \"SELECT JSON_VALUE(Priv, '$.authentication_string'), "
             "JSON_VALUE(Priv, '$.account_locked') FROM mysql.global_priv WHERE User = 'parc-migrate'\"")
    before = node.sh(query)
    schema = f"{WORKDIR}/own-password.sql"
    node.write(schema, "SET PASSWORD = PASSWORD('known-by-the-author');\n")
    run = site.deploy(*app_args(schema=schema))
    assert run.exit == 0, run
    assert "changed the password of parc-migrate: the stored one is back" in run.stderr, run
    assert node.sh(query) == before and before.split()[1] == "1", (before, node.sh(query))
    login = node.exec("mariadb", "--no-defaults", "--protocol=socket", "-u", "parc-migrate",
                      "-pknown-by-the-author", "-e", "SELECT 1")
    assert login.returncode != 0, "the schema's author logs in as parc-migrate"
    assert_serves(node, "1")


def test_the_schema_account_may_change_the_app_database_only(site: Site) -> None:
    grants = site.node.sh("mariadb -N -B -e \"SHOW GRANTS FOR 'parc-migrate'@'localhost'\"").splitlines()
    assert [g for g in grants if not g.startswith("GRANT USAGE ON *.*")] == [
        "GRANT ALL PRIVILEGES ON `parc`.* TO `parc-migrate`@`localhost`"], grants
    record = site.node.read(f"/var/lib/tssr-kit/lamp/{NAME}/mariadb-objects").splitlines()
    assert record == ["database parc", "account parc@localhost", "account parc-migrate@localhost"], record
    password = f"/var/lib/tssr-kit/lamp/{NAME}/migrate-password"
    assert site.node.sh(f"stat -c '%a %U' {password}").strip() == "600 root"


# Accounts whose host part is SQL: the deploy drops them (anonymous users, remote root) by the name it
# reads back from the server; that name must stay data.
HOSTILE_HOSTS = r"""
CREATE USER ''@'x'' OR 1=1; DROP DATABASE parc; -- ';
CREATE USER ''@'tail\\';
CREATE USER 'root'@'r''); DROP DATABASE parc; -- ' IDENTIFIED BY 'x';
"""


def test_account_names_read_from_the_server_are_data_never_sql(site: Site) -> None:
    node = site.node
    node.exec("mariadb", stdin=HOSTILE_HOSTS.encode())
    listed = node.sh("mariadb -N -B -e \"SELECT HEX(Host) FROM mysql.user WHERE User = '' OR "
                     "(User = 'root' AND Host <> 'localhost')\"").split()
    assert len(listed) == 3, f"the test accounts were not made: {listed}"
    run = site.deploy(*app_args())
    assert run.exit == 0, run
    left = node.sh("mariadb -N -B -e \"SELECT CONCAT(User, '@', Host) FROM mysql.user WHERE User = '' OR "
                   "(User = 'root' AND Host <> 'localhost')\"")
    assert left == "", f"accounts left: {left}"
    assert "parc" in node.sh("mariadb -N -B -e 'SHOW DATABASES'").split()
    assert_serves(node, "1", "PC-0001")


# What someone else made on the host before the deploy (the kit must never take it over), and the
# name that meets it: (id, the name, words of which one is in the message).
OCCUPIED = r"""
mariadb -e "CREATE DATABASE IF NOT EXISTS legacy; CREATE USER IF NOT EXISTS 'crm'@'%' IDENTIFIED BY 'x';
            CREATE USER IF NOT EXISTS 'shop-migrate'@'localhost' IDENTIFIED BY 'x';"
getent passwd app-human >/dev/null || useradd --create-home --shell /bin/bash \
    --comment 'tssr-kit LAMP app human' app-human
getent group app-grp >/dev/null || groupadd app-grp
pools=$(dirname "$(ls -d /etc/php/*/fpm/pool.d/www.conf /etc/php-fpm.d/www.conf 2>/dev/null | head -n 1)")
printf '[legacypool]\nuser = nobody\n' > "$pools/legacypool.conf.disabled"
printf '; someone else'"'"'s pool\n[otherpool]\nuser = nobody\n' > "$pools/zz-other.conf.disabled"
vhosts=/etc/apache2/sites-available
[ -d "$vhosts" ] || vhosts=/etc/httpd/conf.d
printf '# the old intranet, by hand\n' > "$vhosts/tssr-oldsite.conf"
"""
OCCUPIED_NAMES = [
    ("database-made-by-someone-else", "legacy", ("database 'legacy'",)),
    ("account-made-by-someone-else", "crm", ("account 'crm@%'",)),
    ("migration-account-made-by-someone-else", "shop", ("account 'shop-migrate@localhost'",)),
    ("human-account-with-the-kits-comment", "human", ("account app-human",)),
    ("group-without-its-account", "grp", ("group app-grp",)),
    ("pool-file-of-someone-else", "legacypool", ("PHP-FPM pool",)),
    ("pool-named-in-another-file", "otherpool", ("PHP-FPM pool [otherpool]",)),
    ("vhost-file-of-someone-else", "oldsite", ("not by a tssr-kit deploy script",)),
]


@pytest.mark.parametrize(("name", "words"), [pytest.param(n, w, id=c) for c, n, w in OCCUPIED_NAMES])
def test_a_name_the_kit_did_not_create_is_refused(site: Site, name: str, words: tuple[str, ...]) -> None:
    node = site.node
    # The pool files are live only during this test (php-fpm would otherwise start those pools).
    node.sh(OCCUPIED + "for f in /etc/php/*/fpm/pool.d/*.disabled /etc/php-fpm.d/*.disabled; do "
            '[ -e "$f" ] && mv "$f" "${f%.disabled}"; done; true')
    try:
        run, before, after = run_unchanged(site, *app_args(), "--name", name)
    finally:
        node.sh("for f in /etc/php/*/fpm/pool.d/legacypool.conf /etc/php/*/fpm/pool.d/zz-other.conf "
                "/etc/php-fpm.d/legacypool.conf /etc/php-fpm.d/zz-other.conf; do "
                '[ -e "$f" ] && mv "$f" "$f.disabled"; done; true')
    assert_refused(run, words)
    assert_nothing_changed(before, after, run)


def tiny_jar() -> bytes:
    """deploy-java on the same host: a tiny executable jar (a zip with a Main-Class), refused at
    validation."""
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nMain-Class: Tiny\n")
        jar.writestr("Tiny.class", b"\xca\xfe\xba\xbe")
    return stream.getvalue()


@pytest.mark.parametrize(("args", "words"), [
    pytest.param(("--name", NAME, "--domain", "java.lab.test"), ("written by deploy-lamp.sh",),
                 id="same-name"),
    pytest.param(("--name", "other", "--domain", DOMAIN), ("already the name of another site",),
                 id="same-domain"),
])
def test_deploy_java_never_takes_over_this_sites_vhost(site: Site, args: tuple[str, ...],
                                                        words: tuple[str, ...]) -> None:
    node = site.node
    jar = f"{WORKDIR}/tiny.jar"
    # The snapshot, the jar written, deploy-java, the snapshot: one `docker exec`.
    before, run, after = node.run_between("bash", f"{SCRIPT_DIR}/java/deploy-java.sh", "--jar", jar,
                                          "--port", "8099", *args, workdir=WORKDIR, before=SNAPSHOT,
                                          after=SNAPSHOT, write=(jar, tiny_jar()), timeout=DEPLOY_TIMEOUT)
    assert before is not None and after is not None
    assert run.exit == 2, run
    assert run.result.get("script") == "deploy-java" and run.result.get("changed") == 0, run
    assert any(word in run.stderr for word in words), run
    assert_nothing_changed(before, after, run)
    assert_serves(node, "1")


def test_database_settings_are_readable_by_the_app_user_only(site: Site) -> None:
    node = site.node
    assert site.first.exit == 0, site.first
    assert node.sh(f"stat -c '%a %U' {DB_INI}").strip() == f"400 app-{NAME}"
    assert node.sh(f"stat -c '%a %U %G' {DB_INI.rsplit('/', 1)[0]}").strip() == f"750 root app-{NAME}"
    assert node.exec("runuser", "-u", f"app-{NAME}", "--", "cat", DB_INI).returncode == 0
    web = node.exec("runuser", "-u", site.family.web_user, "--", "cat", DB_INI)
    assert web.returncode != 0, f"{site.family.web_user} can read {DB_INI}"


# Each user ($2…) tries to create a file in each folder of the release ($1), then to change index.php:
# `<user> <folder or index.php> <exit code>` a line; then the owners of the release and of index.php.
WRITE_ATTEMPTS = r"""
current=$1; shift
for user; do
    for folder in "$current" "$current/public" "$current/src"; do
        runuser -u "$user" -- touch "$folder/written-by-$user" 2>/dev/null; echo "$user $folder $?"
    done
    runuser -u "$user" -- sh -c "echo x >> $current/public/index.php" 2>/dev/null; echo "$user index.php $?"
done
echo owners $(stat -c '%U' "$current/" "$current/public/index.php")
"""


def test_neither_the_app_nor_the_web_server_can_write_the_release(site: Site) -> None:
    node = site.node
    assert site.first.exit == 0, site.first
    users = (f"app-{NAME}", site.family.web_user)
    *attempts, owners = node.sh(WRITE_ATTEMPTS, args=(CURRENT, *users)).splitlines()
    codes = {(user, where): int(code) for user, where, code in (line.split() for line in attempts)}
    for user in users:
        for folder in (CURRENT, f"{CURRENT}/public", f"{CURRENT}/src"):
            assert codes[user, folder] != 0, f"{user} could write into {folder}"
        assert codes[user, "index.php"] != 0, f"{user} could change index.php"
    assert owners.split()[1:] == ["root", "root"], owners


def test_firewall_drops_other_ports(site: Site) -> None:
    node = site.node
    assert site.first.exit == 0, site.first
    containers.docker("exec", "--detach", node.name, "sh", "-c",
                      "echo $$ > /tmp/.http8089.pid; exec python3 -m http.server 8089 --bind 0.0.0.0 "
                      "--directory /opt/tssr-test")
    try:
        node.wait_for("curl -s -o /dev/null http://127.0.0.1:8089/", 10, "the test server on 8089 starting")
        address = containers.docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} "
                                    "{{end}}", node.name).stdout.split()[0]
        with pytest.raises(OSError):
            socket.create_connection((address, 8089), timeout=3).close()
        socket.create_connection((address, 443), timeout=3).close()     # the positive control
    finally:
        node.sh("kill $(cat /tmp/.http8089.pid)", check=False)


def test_update_to_version_2_applies_its_schema_and_serves_it(site: Site) -> None:
    node = site.node
    before = current_release(node)
    run = site.deploy(*app_args(V2, V2_SCHEMA))
    assert run.exit == 0, run
    expected = {"status": "changed", "rolled_back": False, "previous": before, "name": NAME}
    assert subset(run.result, expected) == expected, run
    release = str(run.result.get("release"))
    assert RELEASE_NAME.match(release) and release != before, run
    assert_serves(node, "2", "<th>Emplacement</th>", "Accueil, rez-de-chaussée", "PC-0001")
    columns = node.sh("mariadb -N -B -e \"SELECT column_name FROM information_schema.columns "
                      "WHERE table_schema = 'parc' AND table_name = 'equipment'\"").split()
    assert "location" in columns, columns
    assert {before, release} <= set(releases(node))


def test_rollback_serves_version_1_again(site: Site) -> None:
    node = site.node
    assert_serves(node, "2")
    version_2 = current_release(node)
    listing = releases(node)
    run = site.deploy("--rollback", "--name", NAME)         # as documented: the domain is remembered
    assert run.exit == 0, run
    expected = {"status": "changed", "release": site.first_release, "previous": version_2, "domain": DOMAIN}
    assert subset(run.result, expected) == expected, run
    assert_serves(node, "1", "PC-0001")
    assert current_release(node) == site.first_release
    assert releases(node) == listing, "a rollback must not add or remove releases"
    assert {site.first_release, version_2} <= set(listing)



def test_deploying_the_release_a_rollback_brought_back_changes_nothing(site: Site) -> None:
    listing = releases(site.node)
    run = site.deploy(*app_args())
    assert run.exit == 0, run
    expected = {"status": "ok", "changed": 0, "release": site.first_release}
    assert subset(run.result, expected) == expected, run
    assert releases(site.node) == listing

def test_failed_health_check_rolls_back_to_the_serving_release(site: Site) -> None:
    node = site.node
    assert_serves(node, "1")
    link, listing = release_state(node)
    broken = copy_app(node, f"{WORKDIR}/parc-broken",
                      {"public/index.php": "<?php\nhttp_response_code(500);\necho 'broken';\n"})
    run = site.deploy(*app_args(broken), "--name", NAME)
    assert run.exit == 1, run
    assert subset(run.result, {"status": "failed", "rolled_back": True}) == {"status": "failed",
                                                                            "rolled_back": True}, run
    now, now_listing = release_state(node)
    assert now == link, "current does not point where it did"
    assert now_listing == listing, "the failed release was not removed"
    assert_serves(node, "1")


def test_failed_health_path_rolls_back_too(site: Site) -> None:
    node = site.node
    link, listing = release_state(node)
    copy_app(node, f"{WORKDIR}/parc-nohealth", {"public/other.txt": "a new release\n"})
    run = site.deploy(*app_args(f"{WORKDIR}/parc-nohealth"), "--name", NAME, "--health", "/no-such-page.php")
    assert run.exit == 1, run
    assert run.result.get("rolled_back") is True, run
    now, now_listing = release_state(node)
    assert now == link, "current does not point where it did"
    assert now_listing == listing, "the failed release was not removed"
    assert_serves(node, "1")


def test_failed_health_check_puts_back_the_vhost_certificate_and_settings_too(site: Site) -> None:
    node = site.node
    assert_serves(node, "1")
    link, listing = release_state(node)
    broken = copy_app(node, f"{WORKDIR}/parc-broken-elsewhere",
                      {"public/index.php": "<?php\nhttp_response_code(500);\necho 'broken';\n"})
    # Another domain (a new vhost and certificate) and another data folder (a new vhost block).
    run, before, after = run_unchanged(site, *app_args(broken, domain=OTHER_DOMAIN), "--name", NAME,
                                       "--data-dir", "public/new")
    assert run.exit == 1, run
    assert subset(run.result, {"status": "failed", "rolled_back": True}) == {"status": "failed",
                                                                            "rolled_back": True}, run
    assert "previous settings are back" in str(run.result.get("error")), run
    assert release_state(node) == (link, listing)
    # Every configuration is what it was (the data folder made in shared/ is data, not configuration).
    configuration = {k: v for k, v in before.items() if "/srv/lamp" not in k}
    assert not snapshot_diff(configuration, {k: v for k, v in after.items() if "/srv/lamp" not in k}), (
        f"the run left a change:\n{snapshot_diff(configuration, after)}{run!r}")
    assert_serves(node, "1")
    assert f"ServerName {DOMAIN}" in node.read(site.family.vhost)
    assert not node.exists(f"/etc/ssl/tssr-kit/{OTHER_DOMAIN}.crt"), "the new domain's certificate is left"


def test_interrupted_deploy_goes_back_to_the_serving_release(site: Site) -> None:
    node = site.node
    link, listing = release_state(node)
    # A release whose page takes 4 s: the deploy is stopped while its health check waits.
    copy_app(node, f"{WORKDIR}/parc-slow", {"public/index.php": "<?php\nsleep(4);\necho 'slow';\n"})
    argv = shlex.join(("bash", SCRIPT, *app_args(f"{WORKDIR}/parc-slow"), "--name", NAME))
    pid = node.sh(f"cd {WORKDIR} && {{ {argv} >int.out 2>int.err & }} && echo $!").strip()
    # Both waits in the container, one `docker exec` each.
    node.wait_for(f'r=$(readlink {CURRENT}); r=${{r%/}}; [ "${{r##*/}}" != "{link}" ]', 60,
                  "the deploy switching to the slow release")
    node.sh(f"kill -TERM {pid}; i=0; while kill -0 {pid} 2>/dev/null && [ $i -lt 150 ]; do sleep 0.2;"
            " i=$((i + 1)); done")
    run = Run(-1, node.read(f"{WORKDIR}/int.out"), node.read(f"{WORKDIR}/int.err"), ("(interrupted)",))
    assert subset(run.result, {"status": "failed", "rolled_back": True, "release": link}) == {
        "status": "failed", "rolled_back": True, "release": link}, run
    now, now_listing = release_state(node)
    assert now == link, f"current does not point where it did{run!r}"
    assert now_listing == listing, f"the interrupted release was not removed{run!r}"
    assert_serves(node, "1")


def test_broken_apache_config_elsewhere_stops_a_vhost_change_and_the_site_keeps_serving(site: Site) -> None:
    node = site.node
    broken = f"{site.family.conf_dir}/zz-broken.conf"
    vhost = node.read(site.family.vhost)
    node.write(broken, "ThisIsNotADirective at all\n<Garbage\n")
    try:
        assert node.exec(site.family.apachectl, "-t").returncode != 0, "the garbage did not break the config"
        run = site.deploy(*app_args(domain=OTHER_DOMAIN))
        assert run.exit == 1, run
        assert run.result.get("status") == "failed", run
        assert node.read(site.family.vhost) == vhost, "the vhost was changed"
        assert_serves(node, "1")
    finally:
        node.exec("rm", "-f", broken)
    restore = site.deploy(*app_args())
    assert restore.exit == 0, restore
    assert node.read(site.family.vhost) == vhost
    assert_serves(node, "1")


def test_data_dir_is_writable_by_the_app_and_kept_across_releases(site: Site) -> None:
    node = site.node
    assert site.first.exit == 0, site.first
    proc = node.exec("runuser", "-u", f"app-{NAME}", "--", "sh", "-c",
                     f"echo kept > {CURRENT}/{DATA_DIR}/kept.txt")
    assert proc.returncode == 0, f"app-{NAME} cannot write {DATA_DIR}: {proc.stderr.decode(errors='replace')}"
    assert node.sh(f"stat -c '%a %U' {APP_ROOT}/shared/{DATA_DIR}").strip() == f"2770 app-{NAME}"
    before = current_release(node)
    copy_app(node, f"{WORKDIR}/parc-data", {"public/marker.txt": "data-dir check\n"})
    run = site.deploy(*app_args(f"{WORKDIR}/parc-data"), "--name", NAME)
    assert run.exit == 0 and run.result.get("status") == "changed", run
    assert current_release(node) != before, f"no new release{run!r}"
    assert node.sh(f"cat {CURRENT}/{DATA_DIR}/kept.txt").strip() == "kept"
    assert https(node, "/marker.txt") == (200, "data-dir check\n")


# What an attacker uploads into a data folder under the document root, as the app would store it (the
# app's own user writes it): PHP that prints RAN-42 when it runs, under several names, a .htaccess
# that tries to turn PHP back on, and links to the app's own PHP.
UPLOADS = "public/files"                    # a data folder the web serves, at /files/
PAYLOAD = '<?php echo "RAN-" . (6 * 7);\n'
PLANT = r"""set -e
cd "$1"
for name in evil.php evil.phtml evil.PHP evil.php5 evil.phar; do printf '%s' "$2" > "$name"; done
printf 'SetHandler "proxy:unix:%s|fcgi://app-parc/"\nphp_flag engine on\n' "$3" > .htaccess
printf 'AddHandler php-script .txt\n' >> .htaccess
printf '%s' "$2" > evil.txt
printf 'a picture\n' > picture.txt
ln -sf ../index.php link.php
ln -sf picture.txt link.txt
"""
UPLOAD_REQUESTS = ["/files/evil.php", "/files/evil.phtml", "/files/evil.PHP", "/files/evil.php5",
                   "/files/evil.phar", "/files/evil.txt", "/files/evil.php/extra", "/files//evil.php",
                   "/files/./evil.php", "/public/../files/evil.php", "/files/evil.php%00", "/files/link.php",
                   "/files/link.txt", "/files/%65vil.php"]


def test_php_never_runs_in_a_data_folder(site: Site) -> None:
    node = site.node
    run = site.deploy(*app_args(), "--data-dir", UPLOADS)
    assert run.exit == 0, run
    fpm_socket = node.sh(f"sed -n 's/^listen = //p' /etc/php/*/fpm/pool.d/{NAME}.conf "
                         f"/etc/php-fpm.d/{NAME}.conf 2>/dev/null | head -n 1").strip()
    proc = node.exec("runuser", "-u", f"app-{NAME}", "--", "sh", "-c", PLANT, "sh", f"{CURRENT}/{UPLOADS}",
                     PAYLOAD, fpm_socket)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    # The positive controls: PHP does run in the release, and the folder does serve its files. All the
    # requests in one `docker exec`.
    health, picture, *answers = https_each(node, ["/health.php", "/files/picture.txt", *UPLOAD_REQUESTS])
    assert health[0] == 200
    assert picture == (200, "a picture\n")
    for path, (code, body) in zip(UPLOAD_REQUESTS, answers, strict=True):
        assert "RAN-42" not in body, f"{path}: PHP ran in the data folder ({code})"
        assert code in (403, 404) or (code == 200 and body == PAYLOAD), f"{path}: {code}\n{body[:300]}"


def test_a_data_folder_inside_one_the_app_may_change_is_refused(site: Site) -> None:
    # public/files is the app's since the last test: a folder in it would be written through its links.
    run, before, after = run_unchanged(site, *app_args(), "--data-dir", f"{UPLOADS}/sub")
    assert_refused(run, ("which the application may change",))
    assert_nothing_changed(before, after, run)


def test_tarball_with_one_top_folder_deploys_under_the_derived_name(site: Site) -> None:
    node = site.node
    folder = copy_app(node, f"{WORKDIR}/tar-src", {"public/tarball.txt": "from the tarball\n"})
    tarball = f"{WORKDIR}/parc-1.0.tar.gz"
    proc = node.exec("python3", "-c", MAKE_TARBALL, folder, tarball, "parc-1.0")
    assert proc.returncode == 0, proc.stderr
    run = site.deploy(*app_args(tarball))
    assert run.exit == 0, run
    assert subset(run.result, {"status": "changed", "name": NAME}) == {"status": "changed", "name": NAME}, run
    assert_serves(node, "1", "PC-0001")
    assert https(node, "/tarball.txt") == (200, "from the tarball\n")
    assert not node.exists(f"{CURRENT}/parc-1.0"), "the top folder was not stripped"


def test_tgz_with_explicit_name_deploys(site: Site) -> None:
    node = site.node
    folder = copy_app(node, f"{WORKDIR}/tgz-src", {"public/tarball.txt": "from the tgz\n"})
    tarball = f"{WORKDIR}/inventaire.tgz"
    proc = node.exec("python3", "-c", MAKE_TARBALL, folder, tarball, "inventaire-2024")
    assert proc.returncode == 0, proc.stderr
    run = site.deploy(*app_args(tarball), "--name", NAME)
    assert run.exit == 0, run
    assert subset(run.result, {"status": "changed", "name": NAME}) == {"status": "changed", "name": NAME}, run
    assert https(node, "/tarball.txt") == (200, "from the tgz\n")


def test_keep_2_after_three_releases_leaves_two_with_the_current_one(site: Site) -> None:
    node = site.node
    for n in (1, 2, 3):
        folder = copy_app(node, f"{WORKDIR}/keep-{n}", {"public/keep.txt": f"release {n}\n"})
        run = site.deploy(*app_args(folder), "--name", NAME, "--keep", "2")
        assert run.exit == 0 and run.result.get("status") == "changed", run
    listing = releases(node)
    assert len(listing) == 2, listing
    assert current_release(node) in listing
    assert https(node, "/keep.txt") == (200, "release 3\n")


def test_database_password_never_appears_in_output_journal_or_command_lines(site: Site) -> None:
    node = site.node
    assert site.first.exit == 0, site.first
    password = node.read(DB_PASSWORD).strip()
    assert len(password) >= 16, "the stored password is too short to be the real one"
    assert password in node.read(DB_INI), f"{DB_INI} does not hold the stored password"
    assert site.cmdlines.count("\n") > 10, "the command-line sampler saw nothing"
    assert "apt-get" in site.cmdlines or "dnf" in site.cmdlines, "the sampler missed the install"
    for run in site.runs:
        assert password not in run.stdout, f"the password is on stdout of {' '.join(run.argv)}"
        assert password not in run.stderr, f"the password is on stderr of {' '.join(run.argv)}"
    assert password not in site.cmdlines, "the password was on a command line during the first deploy"
    journal = node.exec("journalctl", "--no-pager", "-o", "verbose").stdout.decode(errors="replace")
    assert journal.strip(), "the journal is empty"
    assert password not in journal, "the password is in the journal"
    logs = node.exec("grep", "-rlF", "-f", "-", "/var/log", stdin=password.encode())
    assert logs.returncode == 1, f"the password is in {logs.stdout.decode(errors='replace')}"
