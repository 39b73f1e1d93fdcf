"""Host-state tests of the Java job: is the application that deploy-java.sh put into production
running, hardened and served the way docs/reference/deploy-java.md says?

They look at the host through Testinfra's `host` fixture, so they run unchanged wherever Testinfra
reaches:

    # under Molecule (molecule/java/molecule.yml points its verifier here):
    molecule test -s java --platform-name java-debian12
    # against a host of the local lab, after `inv deploy-java`:
    pytest --hosts=ssh://tssr-lab1 --ssh-config=.tssr/lab/ssh_config --sudo tests/hoststate/test_java.py
    # against a real server, with a WAR too:
    TSSR_JAVA_NAME=invoicing TSSR_JAVA_EXPECT=Invoicing TSSR_JAVA_WAR_NAME=intranet \\
        TSSR_JAVA_WAR_DOMAIN=intranet.example.org pytest --hosts=ssh://admin@server --sudo \\
        tests/hoststate/test_java.py

What is checked is said by environment variables, each with a default:
- TSSR_JAVA_NAME: the application deployed as a jar (default `hello-service`, the sample of
  examples/java); it must be there: /opt/NAME/current, deployed as a jar.
- TSSR_JAVA_DOMAIN: its domain; by default the ServerName of its vhost (when given, the vhost must
  have it).
- TSSR_JAVA_EXPECT: a text its home page shows (default `NAME RELEASE`, what the sample shows, with
  RELEASE the release `current` points at).
- TSSR_JAVA_WAR_DOMAIN: the domain of a WAR deployed on Tomcat. The WAR checks run only when it is
  set: they are skipped, with the reason, when it is not, and on the RedHat family (no Tomcat
  package: deploy-java.sh refuses a WAR there).
- TSSR_JAVA_WAR_NAME (default `hello-war`), TSSR_JAVA_WAR_CONTEXT (default `/NAME`) and
  TSSR_JAVA_WAR_EXPECT (default `NAME RELEASE`): the WAR's name, context path and page text.
Most checks need root on the host (the environment file is root-only): connect as root or pass
--sudo.

This folder is left out of a plain `pytest` run (it needs a host): tests/conftest.py collects it only
with --hosts=… or TSSR_HOSTSTATE=1 (Molecule's verifier sets it).

What is checked, from the host:
- jar: the service app-NAME is active and enabled, and its process runs as the user app-NAME; its
  unit is hardened (NoNewPrivileges, ProtectSystem=strict, PrivateTmp, …, no capability) and may
  write only its data and log folders; it restarts on failure: killed with SIGKILL, it is back and
  answering (the last test of the file: it changes the host's state, and leaves it as it found it);
- the app listens on 127.0.0.1 only, as its own user; its environment file is 0600 root:root;
- Apache: HTTPS answers 200 with the expected page; HTTP answers 301 to the same path over HTTPS;
  TLS 1.0 and 1.1 connections fail while TLS 1.2 and 1.3 succeed (curl on the host);
- WAR: Tomcat's default, manager, example and documentation applications are absent (not installed,
  no webapps/ROOT, 404 both through Apache and from Tomcat itself); Tomcat listens on 127.0.0.1:8080
  only and on no other port (no shutdown port, no AJP); the WAR's page shows the expected text, and
  the site's root leads to it.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

import pytest
from hostlib import Response, check, fetch, listeners, os_family, parse_response, run

APPS = "/opt"
MARKER = ".tssr-kit-java"  # /opt/NAME/MARKER: mode=jar or mode=war
CONFIG = "/etc/tssr-kit/java"
DATA = "/var/lib/tssr-java"
LOGS = "/var/log/tssr-java"
TOMCAT = {"service": "tomcat10", "port": 8080, "webapps": "/var/lib/tomcat10/webapps",
          "extras": ("tomcat10-admin", "tomcat10-examples", "tomcat10-docs")}
VHOST_DIRS = {"debian": "/etc/apache2/sites-available", "redhat": "/etc/httpd/conf.d"}
# 127.0.0.1 as `ss` shows it: an IPv4 socket, or an IPv6 one bound to the mapped address (Java's way).
LOOPBACK_V4 = {"127.0.0.1", "[::ffff:127.0.0.1]"}
RESTART_WAIT = 90  # seconds for a killed service to be back and answering
CURL_TLS_ERROR = 35  # curl: "SSL connect error", the handshake failed


@dataclass(frozen=True)
class App:
    """A deployed application under test, as the host shows it."""

    name: str
    family: str  # debian or redhat
    domain: str
    release: str  # the release `current` points at
    expect: str  # a text its page shows
    path: str = "/"  # where it is on the site: / for a jar, CONTEXT/ for a WAR

    @property
    def user(self) -> str:
        return f"app-{self.name}"

    @property
    def unit(self) -> str:
        return f"app-{self.name}.service"


def unit_properties(host, unit: str, *names: str) -> dict[str, str]:
    """`systemctl show -p NAME…` of a unit, as a dict."""
    out = check(host, "systemctl", "show", unit, *(f"--property={name}" for name in names))
    return dict(line.partition("=")[::2] for line in out.splitlines() if "=" in line)


def deployed(host, name: str, mode: str, domain: str | None, expect: str | None, family: str,
             path: str = "/") -> App:
    """The application NAME as deploy-java.sh left it: deployed as MODE, its domain and release."""
    marker = host.file(f"{APPS}/{name}/{MARKER}")
    assert marker.is_file, f"{marker.path} does not exist: {name} was not deployed by deploy-java.sh here"
    assert f"mode={mode}" in marker.content_string.split(), f"{name} is not deployed as a {mode}"
    current = f"{APPS}/{name}/current"
    assert host.file(current).is_symlink, f"{current} does not exist: {name} has no release in production"
    release = check(host, "readlink", "-f", current).strip().rsplit("/", 1)[-1]

    vhost = host.file(f"{VHOST_DIRS[family]}/tssr-{name}.conf")
    assert vhost.is_file, f"{vhost.path} does not exist"
    server_names = re.findall(r"^\s*ServerName\s+(\S+)", vhost.content_string, re.MULTILINE)
    assert server_names, f"{vhost.path} has no ServerName"
    if domain:
        assert domain in server_names, f"{vhost.path} serves {server_names}, not {domain}"
    return App(name, family, domain or server_names[0], release, expect or f"{name} {release}", path)


@pytest.fixture(scope="module")
def family(host) -> str:
    return os_family(host)


@pytest.fixture(scope="module")
def app(host, family) -> App:
    """The jar under test: $TSSR_JAVA_NAME (default hello-service)."""
    name = os.environ.get("TSSR_JAVA_NAME") or "hello-service"
    return deployed(host, name, "jar", os.environ.get("TSSR_JAVA_DOMAIN"), os.environ.get("TSSR_JAVA_EXPECT"),
                    family)


@pytest.fixture(scope="module")
def war(host, family) -> App:
    """The WAR under test, when $TSSR_JAVA_WAR_DOMAIN names one (and the family has Tomcat)."""
    if family == "redhat":
        pytest.skip("no WAR on the RedHat family: it has no Tomcat package, and deploy-java.sh refuses a "
                    "WAR there by design")
    domain = os.environ.get("TSSR_JAVA_WAR_DOMAIN")
    if not domain:
        pytest.skip("no WAR to check: set TSSR_JAVA_WAR_DOMAIN (and TSSR_JAVA_WAR_NAME, default hello-war) "
                    "to the WAR deployed on this host")
    name = os.environ.get("TSSR_JAVA_WAR_NAME") or "hello-war"
    context = os.environ.get("TSSR_JAVA_WAR_CONTEXT") or f"/{name}"
    path = "/" if context == "/" else f"{context}/"
    return deployed(host, name, "war", domain, os.environ.get("TSSR_JAVA_WAR_EXPECT"), family, path)


@pytest.fixture(scope="module")
def app_port(host, app) -> int:
    """The jar's port, from the PORT line of its environment file (root-only)."""
    env = host.file(f"{CONFIG}/{app.name}/env")
    assert env.is_file, f"{env.path} does not exist"
    ports = re.findall(r"^PORT=(\d+)$", env.content_string, re.MULTILINE)
    assert len(ports) == 1, f"{env.path} should set PORT once, sets it {len(ports)} times"
    return int(ports[0])


def fetch_local(host, url: str) -> Response:
    """GET a URL on the host as it is (a service's own port, without Apache)."""
    return parse_response(check(host, "curl", "--silent", "--show-error", "--include", "--max-time", "10",
                                url))


# ---- the jar's service ------------------------------------------------------------------------------
def test_the_service_is_active_and_enabled(host, app):
    service = host.service(app.unit)
    assert service.is_running, f"{app.unit} is not active"
    assert service.is_enabled, f"{app.unit} is not enabled at boot"


def test_the_service_runs_as_its_own_user(host, app):
    user = host.user(app.user)
    assert user.exists, f"there is no user {app.user}"
    assert user.uid != 0
    assert user.shell.endswith("nologin"), f"{app.user} has the login shell {user.shell}"
    pid = unit_properties(host, app.unit, "MainPID")["MainPID"]
    assert pid != "0", f"{app.unit} has no main process"
    uid, gid = (int(n) for n in check(host, "ps", "-o", "uid=,gid=", "-p", pid).split())
    assert (uid, gid) == (user.uid, user.gid), f"process {pid} runs as uid {uid}, gid {gid}, not {app.user}"


@pytest.mark.parametrize(("name", "expected"), [
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("CapabilityBoundingSet", ""),
    ("Restart", "on-failure"),
])
def test_the_unit_is_hardened(host, app, name, expected):
    value = unit_properties(host, app.unit, name).get(name)
    assert value == expected, f"{app.unit}: {name}={value}, expected {name}={expected}"


def test_the_service_may_write_only_its_data_and_log_folders(host, app):
    paths = unit_properties(host, app.unit, "ReadWritePaths")["ReadWritePaths"].split()
    assert sorted(paths) == sorted([f"{DATA}/{app.name}", f"{LOGS}/{app.name}"])


def test_the_app_listens_on_127_0_0_1_only_as_its_user(host, app, app_port):
    found = listeners(host, app_port)
    assert found, f"nothing listens on TCP port {app_port}"
    addresses = {address for address, _, _ in found}
    assert addresses <= LOOPBACK_V4, f"port {app_port} listens on {sorted(addresses)}, not on 127.0.0.1 only"
    uids = {uid for _, _, uid in found}
    assert uids == {host.user(app.user).uid}, f"port {app_port} is held by uid {sorted(uids)}, not {app.user}"


def test_the_environment_file_is_root_only(host, app):
    env = host.file(f"{CONFIG}/{app.name}/env")
    assert env.is_file and not env.is_symlink
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)


# ---- Apache in front: HTTP and TLS ------------------------------------------------------------------
def test_https_answers_with_the_expected_page(host, app):
    page = fetch(host, app.domain)
    assert page.status == 200, f"https://{app.domain}/ answered {page.status}"
    assert app.expect in page.body, (
        f"the page does not show {app.expect!r} (TSSR_JAVA_EXPECT): {page.body[:500]}")


@pytest.mark.parametrize("path", ["/", "/health?x=1"])
def test_http_answers_301_to_the_same_path_over_https(host, app, path):
    response = fetch(host, app.domain, path, scheme="http")
    assert response.status == 301
    assert response.header("Location") == f"https://{app.domain}{path}"


def tls_connect(host, app: App, version: str):
    """curl to https://DOMAIN/ on the host, with exactly one TLS version allowed.

    Every cipher is allowed (SECLEVEL=0), so that a client whose OpenSSL still can offer TLS 1.0 or
    1.1 does; one that cannot fails its handshake itself, which is the failure to connect asserted.
    """
    return run(host, "curl", "--silent", "--show-error", "--insecure", "--verbose", "--max-time", "10",
               "--output", "/dev/null", "--write-out", "%{http_code}",
               f"--tlsv{version}", "--tls-max", version, "--ciphers", "DEFAULT:@SECLEVEL=0",
               "--resolve", f"{app.domain}:443:127.0.0.1", f"https://{app.domain}/")


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_old_tls_versions_cannot_connect(host, app, version):
    # Control: the same request with TLS 1.2 connects (else any failure below would prove nothing).
    control = tls_connect(host, app, "1.2")
    assert control.rc == 0, f"the TLS 1.2 control request failed: {control.stderr[-500:]}"
    result = tls_connect(host, app, version)
    assert result.rc == CURL_TLS_ERROR, (
        f"TLS {version}: curl exited with {result.rc}, not {CURL_TLS_ERROR} (a failed handshake): "
        f"{result.stderr[-800:]}")
    assert result.stdout == "000", f"TLS {version}: the server answered HTTP {result.stdout}"


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_tls_1_2_and_1_3_connect(host, app, version):
    result = tls_connect(host, app, version)
    assert result.rc == 0, f"TLS {version} failed: {result.stderr[-800:]}"
    assert result.stdout == "200"
    assert re.search(rf"SSL connection using TLSv{re.escape(version)}\b", result.stderr), (
        f"TLS {version} was not negotiated: {result.stderr[-800:]}")


# ---- a WAR on Tomcat --------------------------------------------------------------------------------
def test_the_war_page_shows_the_expected_text(host, war):
    page = fetch(host, war.domain, war.path)
    assert page.status == 200, f"https://{war.domain}{war.path} answered {page.status}"
    assert war.expect in page.body, (
        f"the page does not show {war.expect!r} (TSSR_JAVA_WAR_EXPECT): {page.body[:500]}")


def test_the_site_root_leads_to_the_war(host, war):
    if war.path == "/":
        pytest.skip("the WAR is served at the site's root: there is no redirect to check")
    response = fetch(host, war.domain, "/")
    assert response.status == 302
    assert (response.header("Location") or "").endswith(war.path), response.header("Location")


def test_tomcat_extras_are_not_installed(host, war):
    installed = [name for name in TOMCAT["extras"] if host.package(name).is_installed]
    assert installed == [], f"installed: {installed}"


def test_tomcat_has_no_default_root_application(host, war):
    root = host.file(f"{TOMCAT['webapps']}/ROOT")
    assert not root.exists, f"{root.path} exists"


@pytest.mark.parametrize("path", ["/manager/html", "/examples/", "/docs/"])
def test_tomcat_default_applications_are_not_served(host, war, path):
    # Control: Tomcat itself answers the WAR (so a 404 below is Tomcat's, not a connection failure).
    served = fetch_local(host, f"http://127.0.0.1:{TOMCAT['port']}{war.path}")
    assert served.status == 200, f"Tomcat does not serve {war.path} on 127.0.0.1:{TOMCAT['port']}"
    assert fetch_local(host, f"http://127.0.0.1:{TOMCAT['port']}{path}").status == 404
    assert fetch(host, war.domain, path).status == 404


def test_tomcat_listens_on_127_0_0_1_8080_only(host, war):
    found = listeners(host, TOMCAT["port"])
    assert found, f"nothing listens on TCP port {TOMCAT['port']}"
    addresses = {address for address, _, _ in found}
    assert addresses <= LOOPBACK_V4, f"Tomcat listens on {sorted(addresses)}, not on 127.0.0.1 only"
    # And on no other port: no shutdown port (8005), no AJP (8009).
    uid = host.user("tomcat").uid
    ports = {port for _, port, owner in listeners(host) if owner == uid}
    assert ports == {TOMCAT["port"]}, f"Tomcat's user listens on {sorted(ports)}"


# ---- restart on failure (last: it kills the service, and waits until it is back) --------------------
def test_the_service_restarts_after_being_killed(host, app):
    before = unit_properties(host, app.unit, "MainPID", "NRestarts")
    assert before["MainPID"] != "0", f"{app.unit} has no main process"
    check(host, "kill", "-KILL", before["MainPID"])
    deadline = time.monotonic() + RESTART_WAIT
    state, page = before, None
    while time.monotonic() < deadline:
        time.sleep(1)
        state = unit_properties(host, app.unit, "ActiveState", "MainPID", "NRestarts")
        if state["ActiveState"] != "active" or state["MainPID"] in ("0", before["MainPID"]):
            continue
        page = fetch(host, app.domain)
        if page.status == 200 and app.expect in page.body:
            break
    assert int(state["NRestarts"]) > int(before["NRestarts"]), f"{app.unit} was not restarted: {state}"
    assert state["MainPID"] not in ("0", before["MainPID"]), f"{app.unit} has no new process: {state}"
    assert page is not None and page.status == 200 and app.expect in page.body, (
        f"{app.unit} did not answer again within {RESTART_WAIT} s: {state}, "
        f"{page.status if page else 'no answer'}")
