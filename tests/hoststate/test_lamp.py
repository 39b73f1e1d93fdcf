"""Host-state tests of the LAMP job: is the application that deploy-lamp.sh put into production served,
hardened and walled off the way docs/reference/deploy-lamp.md says?

They look at the host through Testinfra's `host` fixture, so they run unchanged wherever Testinfra
reaches:

    # under Molecule (molecule/lamp/molecule.yml points its verifier here):
    molecule test -s lamp --platform-name lamp-debian12
    # against a host of the local lab, after `inv deploy-lamp`:
    pytest --hosts=ssh://tssr-lab1 --ssh-config=.tssr/lab/ssh_config --sudo tests/hoststate/test_lamp.py
    # against a real server:
    TSSR_LAMP_NAME=parc pytest --hosts=ssh://admin@server --sudo tests/hoststate/test_lamp.py

Which application: the deployed ones are the folders /srv/lamp/NAME/ that have a `current` link;
$TSSR_LAMP_NAME names one (needed when there are several; no application at all is a failure). Its
domain is the ServerName of its vhost. $TSSR_LAMP_EXPECT is a text the home page shows only when it
read its database: by default PC-0001, an asset the sample application (examples/lamp) seeds.
Most checks need root on the host (database.ini, MariaDB's root socket, nft, runuser): connect as
root or pass --sudo.

This folder is left out of a plain `pytest` run (it needs a host): tests/conftest.py collects it only
with --hosts=… or TSSR_HOSTSTATE=1 (Molecule's verifier sets it).

What is checked, each from the host unless said otherwise:
- the web server, MariaDB, the app's PHP-FPM and the firewall services are active and enabled;
  80 and 443 are listening;
- HTTP answers 301 to https://DOMAIN/…; HTTPS answers 200 with the data page; TLS 1.0 and 1.1 are
  refused by the server (a client willing to speak them is used) while TLS 1.2 is accepted;
- the Server header is bare `Apache`, there is no X-Powered-By, the security headers are there, and a
  folder without an index is not listed (a probe folder, removed afterwards: the only write to the
  release);
- MariaDB: no anonymous user, no test database, root only on localhost and refused over TCP, the
  server listens on loopback only; the app's user reaches its database and nothing else (its
  password is read on the host into a 0600 temporary file, never put on a command line); the
  schema's account NAME-migrate (once a schema was applied) may change NAME.* and nothing else;
- database.ini belongs to app-NAME with mode 0400; neither the web server's user nor app-NAME can
  write anything in the release;
- the firewall: the ruleset (nftables table inet tssr_kit, or firewalld's zone) lets in only SSH, 80
  and 443; and, from the machine running pytest, a port the host listens on (a short-lived listener
  started for the test) cannot be reached while 443 can, on the same address of the host.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import socket
import ssl
import time
from dataclasses import dataclass, field

import hostlib
import pytest
from hostlib import check, run

APPS = "/srv/lamp"
EXPECT = os.environ.get("TSSR_LAMP_EXPECT") or "PC-0001"
TIMEOUT = 3.0  # seconds for a connection from the machine running the tests
LOOPBACK = {"127.0.0.1", "[::1]"}  # as `ss` shows them


@dataclass(frozen=True)
class Family:
    """What differs between the OS families (docs/reference/deploy-lamp.md, "What it builds")."""

    name: str
    web_service: str
    web_user: str
    firewall_service: str
    vhost_dir: str


FAMILIES = {
    "debian": Family("debian", "apache2", "www-data", "nftables", "/etc/apache2/sites-available"),
    "redhat": Family("redhat", "httpd", "apache", "firewalld", "/etc/httpd/conf.d"),
}


@dataclass(frozen=True)
class App:
    """The deployed application under test, as the host shows it."""

    name: str
    family: Family
    domain: str
    release: str  # the release folder `current` points to
    docroot: str  # its public/ folder, or the release itself
    certificate: str  # the vhost's SSLCertificateFile
    units: dict[str, str] = field(default_factory=dict)  # component -> systemd unit

    @property
    def user(self) -> str:
        return f"app-{self.name}"


def os_family(host) -> Family:
    """The OS family's names, the family read from /etc/os-release as the script reads it."""
    return FAMILIES[hostlib.os_family(host)]


@pytest.fixture(scope="module")
def app(host) -> App:
    """The application under test: $TSSR_LAMP_NAME, else the only one deployed on the host."""
    family = os_family(host)
    found = run(host, "find", APPS, "-mindepth", "2", "-maxdepth", "2", "-name", "current", "-type", "l")
    names = sorted(line.split("/")[-2] for line in found.stdout.split())
    wanted = os.environ.get("TSSR_LAMP_NAME")
    if wanted:
        assert wanted in names, f"{APPS}/{wanted}/current does not exist (deployed here: {names or 'none'})"
        name = wanted
    else:
        assert names, f"no application is deployed here: no {APPS}/NAME/current link"
        assert len(names) == 1, f"several applications are deployed ({', '.join(names)}): set TSSR_LAMP_NAME"
        name = names[0]

    vhost = host.file(f"{family.vhost_dir}/tssr-{name}.conf")
    assert vhost.is_file, f"{vhost.path} does not exist"
    server_names = re.findall(r"^\s*ServerName\s+(\S+)", vhost.content_string, re.MULTILINE)
    assert server_names, f"{vhost.path} has no ServerName"
    certificates = re.findall(r"^\s*SSLCertificateFile\s+(\S+)", vhost.content_string, re.MULTILINE)
    assert certificates, f"{vhost.path} has no SSLCertificateFile"

    release = check(host, "readlink", "-f", f"{APPS}/{name}/current").strip()
    docroot = f"{release}/public" if host.file(f"{release}/public").is_directory else release

    if family.name == "debian":
        # The pool of the app says which PHP version serves it: /etc/php/X.Y/fpm/pool.d/NAME.conf.
        pools = run(host, "sh", "-c", 'ls -d /etc/php/*/fpm/pool.d/"$1".conf', "sh", name).stdout.split()
        assert len(pools) == 1, f"expected one PHP-FPM pool named {name}.conf, found {pools}"
        php_fpm = f"php{pools[0].split('/')[3]}-fpm"
    else:
        php_fpm = "php-fpm"
    units = {"web-server": family.web_service, "database": "mariadb", "php-fpm": php_fpm,
             "firewall": family.firewall_service}
    return App(name, family, server_names[0], release, docroot, certificates[0], units)


# ---- HTTP, fetched on the host with curl ------------------------------------------------------------
@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, list[str]]  # lower-case name -> values
    body: str

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[-1] if values else None


def fetch(host, app: App, path: str = "/", scheme: str = "https") -> Response:
    """GET scheme://DOMAIN/path on the host, the name resolved to 127.0.0.1; no redirect followed."""
    port = 443 if scheme == "https" else 80
    out = check(host, "curl", "--silent", "--show-error", "--insecure", "--include", "--max-time", "10",
                "--resolve", f"{app.domain}:{port}:127.0.0.1", f"{scheme}://{app.domain}{path}")
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    status_line, *header_lines = head.split("\n")
    headers: dict[str, list[str]] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return Response(int(status_line.split()[1]), headers, body)


@pytest.fixture(scope="module")
def home(host, app) -> Response:
    return fetch(host, app)


# ---- MariaDB ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mariadb(host, app) -> str:
    """The MariaDB client: `mariadb`, or `mysql` where the older name is the only one.

    It asks for `app` like every test here: with no application deployed, nothing is checked.
    """
    found = run(host, "sh", "-c", "command -v mariadb || command -v mysql").stdout.strip()
    assert found, "no MariaDB client (mariadb or mysql) on the host"
    return found


def sql_as_root(host, mariadb: str, query: str) -> list[str]:
    """Rows of a query run by MariaDB's root through the unix socket (tab-separated, no header)."""
    return check(host, mariadb, "--batch", "--skip-column-names", "-e", query).splitlines()


@pytest.fixture(scope="module")
def as_app_user(host, app, mariadb):
    """Run SQL as the app's database user, with the credentials of its database.ini.

    The user, password and socket lines are copied, on the host, into a 0600 temporary option file
    (MariaDB reads the quoted values as they are): the password never crosses a command line.
    """
    ini = f"/etc/tssr-kit/lamp/{app.name}/database.ini"
    assert host.file(ini).is_file, f"{ini} does not exist"
    defaults = check(host, "sh", "-c", "umask 077 && mktemp /tmp/tssr-lamp-test.XXXXXXXX").strip()
    try:
        keys = "^[[:space:]]*(user|password|socket)[[:space:]]*="
        check(host, "sh", "-c", "{ echo '[client]'; grep -E \"$1\" \"$2\"; } > \"$3\"",
              "sh", keys, ini, defaults)

        def query(sql: str):
            return run(host, mariadb, f"--defaults-file={defaults}", "--batch", "--skip-column-names",
                       "-e", sql)

        yield query
    finally:
        run(host, "rm", "-f", defaults)


# ---- services and ports -----------------------------------------------------------------------------
@pytest.mark.parametrize("component", ["web-server", "database", "php-fpm", "firewall"])
def test_the_service_is_active_and_enabled(host, app, component):
    unit = app.units[component]
    service = host.service(unit)
    assert service.is_running, f"{unit} is not active"
    assert service.is_enabled, f"{unit} is not enabled at boot"


def listening_addresses(host, port: int) -> set[str]:
    """The local addresses a TCP port listens on, as `ss` shows them (`*`, `0.0.0.0`, `[::1]`…)."""
    found = set()
    for line in check(host, "ss", "-Hltn").splitlines():
        address, _, listened = line.split()[3].rpartition(":")
        if listened == str(port):
            found.add(address.split("%")[0])
    return found


@pytest.mark.parametrize("port", [80, 443])
def test_the_web_port_is_listening_beyond_loopback(host, app, port):
    addresses = listening_addresses(host, port)
    assert addresses, f"nothing listens on TCP port {port}"
    assert addresses - LOOPBACK, f"port {port} listens on loopback only: {sorted(addresses)}"


# ---- HTTP and TLS -----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/some/page?x=1"])
def test_http_answers_301_to_the_same_path_over_https(host, app, path):
    response = fetch(host, app, path, scheme="http")
    assert response.status == 301
    assert response.header("Location") == f"https://{app.domain}{path}"


def test_https_answers_200_with_data_read_from_the_database(home):
    assert home.status == 200
    assert EXPECT in home.body, f"the page does not show {EXPECT!r} (TSSR_LAMP_EXPECT): {home.body[:500]}"


def tls_handshake(host, app: App, version_flag: str):
    """openssl s_client to 127.0.0.1:443 offering one protocol version, with every cipher allowed."""
    return run(host, "sh", "-c",
               'openssl s_client -connect 127.0.0.1:443 -servername "$1" "$2" '
               "-cipher 'DEFAULT:@SECLEVEL=0' </dev/null 2>&1",
               "sh", app.domain, version_flag)


@pytest.mark.parametrize(("flag", "version"), [("-tls1", "TLSv1"), ("-tls1_1", "TLSv1.1")])
def test_the_server_refuses_old_tls_versions(host, app, flag, version):
    result = tls_handshake(host, app, flag)
    output = result.stdout
    # The client must have offered the version: else it is the client, not the server, that refused.
    assert "no protocols available" not in output, (
        f"the host's openssl client would not offer {version} (build or system policy): the test proves"
        f" nothing here\n{output}")
    assert result.rc != 0, f"a {version} handshake succeeded:\n{output}"
    assert "alert protocol version" in output, f"{version} failed, not for its version:\n{output}"


@pytest.mark.parametrize(("flag", "version"), [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_the_server_accepts_tls_1_2_and_1_3(host, app, flag, version):
    result = tls_handshake(host, app, flag)
    assert result.rc == 0, f"a {version} handshake failed:\n{result.stdout}"
    negotiated = rf"(New, {re.escape(version)}, Cipher|Protocol\s*:\s*{re.escape(version)}\b)"
    assert re.search(negotiated, result.stdout), f"{version} was not negotiated:\n{result.stdout}"


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_the_server_header_names_no_version(host, app, scheme):
    server = fetch(host, app, "/", scheme).header("Server")
    assert server == "Apache", f"Server: {server} (ServerTokens Prod gives a bare `Apache`)"


def test_no_x_powered_by_header(home):
    assert home.header("X-Powered-By") is None, f"X-Powered-By: {home.header('X-Powered-By')}"


@pytest.mark.parametrize(("name", "pattern"), [
    ("Strict-Transport-Security", r"^max-age=\d+"),
    ("X-Content-Type-Options", r"^nosniff$"),
    ("X-Frame-Options", r"^(DENY|SAMEORIGIN)$"),
])
def test_the_security_header_is_sent(home, name, pattern):
    value = home.header(name)
    assert value is not None, f"no {name} header"
    assert re.search(pattern, value, re.IGNORECASE), f"{name}: {value}"


def test_a_folder_without_index_is_not_listed(host, app):
    probe = f"tssr-probe-{secrets.token_hex(4)}"
    folder = f"{app.docroot}/{probe}"
    check(host, "mkdir", "-m", "0755", folder)
    try:
        check(host, "sh", "-c", 'echo probe > "$1/file.txt" && chmod 0644 "$1/file.txt"', "sh", folder)
        # Control: the folder is served (else a 404 below would prove nothing).
        served = fetch(host, app, f"/{probe}/file.txt")
        assert served.status == 200 and served.body.strip() == "probe", f"{probe}/file.txt: {served.status}"
        listing = fetch(host, app, f"/{probe}/")
        assert listing.status in (403, 404), f"/{probe}/ answered {listing.status}"
        assert "Index of" not in listing.body
    finally:
        run(host, "rm", "-rf", folder)


# ---- MariaDB ----------------------------------------------------------------------------------------
def test_mariadb_has_no_anonymous_user(host, mariadb):
    assert sql_as_root(host, mariadb, "SELECT COUNT(*) FROM mysql.user WHERE user = ''") == ["0"]


def test_mariadb_has_no_test_database(host, mariadb):
    assert sql_as_root(host, mariadb, "SHOW DATABASES LIKE 'test'") == []
    grants = sql_as_root(host, mariadb,
                         r"SELECT COUNT(*) FROM mysql.db WHERE Db = 'test' OR Db LIKE 'test\_%'")
    assert grants == ["0"], "grants on the test databases are left"


def test_mariadb_root_exists_only_on_localhost(host, mariadb):
    hosts = set(sql_as_root(host, mariadb, "SELECT DISTINCT Host FROM mysql.user WHERE User = 'root'"))
    assert hosts == {"localhost"}


@pytest.mark.parametrize("password", [None, ""], ids=["no-password", "empty-password"])
def test_mariadb_root_cannot_log_in_over_tcp(host, mariadb, password):
    argv = [mariadb, "--no-defaults", "--protocol=TCP", "-h", "127.0.0.1", "-u", "root"]
    if password is not None:
        argv.append(f"--password={password}")
    result = run(host, *argv, "-e", "SELECT 1")
    assert result.rc != 0, "root logged in over TCP"
    # Refused by the server, not unreachable: an "Access denied" proves the server was asked.
    assert re.search(r"ERROR (1045|1698)", result.stderr), result.stderr


def test_mariadb_listens_on_loopback_only(host, mariadb):
    port = int(sql_as_root(host, mariadb, "SELECT @@port")[0])
    addresses = listening_addresses(host, port)
    assert addresses, f"MariaDB does not listen on TCP port {port}"
    assert addresses <= LOOPBACK, f"MariaDB listens on {sorted(addresses)}"


def test_the_app_user_reaches_its_database(app, as_app_user):
    result = as_app_user("SELECT 1")
    assert result.rc == 0, result.stderr
    assert result.stdout.split() == ["1"]
    tables = as_app_user(f"SHOW TABLES FROM `{app.name}`")
    assert tables.rc == 0, tables.stderr
    assert tables.stdout.split(), f"the app user sees no table in {app.name}"


def test_the_app_user_sees_no_other_database(app, as_app_user):
    result = as_app_user("SHOW DATABASES")
    assert result.rc == 0, result.stderr
    assert set(result.stdout.split()) == {app.name, "information_schema"}


def test_the_app_user_cannot_read_the_mysql_schema(as_app_user):
    result = as_app_user("SELECT User, Host FROM mysql.user")
    assert result.rc != 0, f"the app user read mysql.user: {result.stdout}"
    assert "denied" in result.stderr, result.stderr


def test_the_schema_account_may_change_the_app_database_only(host, app, mariadb):
    """A schema is applied as NAME-migrate, which exists once one was: ALL on NAME.* (the name
    escaped: _ would match any character), nothing else; no other account of the app's names."""
    applied = run(host, "test", "-s", f"/var/lib/tssr-kit/lamp/{app.name}/schema-applied").rc == 0
    every = sql_as_root(host, mariadb, "SELECT CONCAT(User, '@', Host) FROM mysql.user ORDER BY 1")
    accounts = [a for a in every if a.rsplit("@", 1)[0] in (app.name, f"{app.name}-migrate")]
    expected = [f"{app.name}@localhost"]
    if applied:
        expected.insert(0, f"{app.name}-migrate@localhost")
    assert accounts == expected
    if applied:
        grants = sql_as_root(host, mariadb, f"SHOW GRANTS FOR '{app.name}-migrate'@'localhost'")
        pattern = app.name.replace("_", "\\_")
        assert [g for g in grants if not g.startswith("GRANT USAGE ON *.*")] == [
            f"GRANT ALL PRIVILEGES ON `{pattern}`.* TO `{app.name}-migrate`@`localhost`"], grants


# ---- files ------------------------------------------------------------------------------------------
def test_database_ini_is_readable_by_the_app_user_only(host, app):
    ini = host.file(f"/etc/tssr-kit/lamp/{app.name}/database.ini")
    assert ini.is_file and not ini.is_symlink
    assert (ini.user, ini.mode) == (app.user, 0o400)
    folder = host.file(f"/etc/tssr-kit/lamp/{app.name}")
    assert (folder.user, folder.group, folder.mode) == ("root", app.user, 0o750)


@pytest.mark.parametrize("who", ["web-server", "app"])
def test_the_release_is_not_writable(host, app, who):
    user = app.family.web_user if who == "web-server" else app.user
    # Every file and folder of the release, as that user sees it (access(2)); the data folders are
    # symbolic links to shared/, writable on purpose, and are left out.
    writable = run(host, "runuser", "-u", user, "--", "find", f"{app.release}/", "!", "-type", "l",
                   "-writable", "-print")
    assert writable.stdout.split() == [], f"{user} can write: {writable.stdout.split()[:10]}"
    # And for real: creating a file in the document root must fail.
    probe = f"{app.docroot}/tssr-probe-{secrets.token_hex(4)}"
    touched = run(host, "runuser", "-u", user, "--", "touch", probe)
    if touched.rc == 0:
        run(host, "rm", "-f", probe)
    assert touched.rc != 0, f"{user} created {probe}"


# ---- firewall: the ruleset --------------------------------------------------------------------------
def sshd_ports(host) -> set[int]:
    """The ports sshd listens on, from its effective configuration (as the script reads them)."""
    out = check(host, "sshd", "-T")
    return {int(line.split()[1]) for line in out.splitlines() if line.startswith("port ")}


def nft_accepted_ports(table: dict) -> tuple[set[int], list]:
    """TCP ports the input chain of a `nft -j list table` accepts, and the accept rules not understood.

    Understood: loopback, established/related, ICMP and ICMPv6, and `tcp dport` (a port, a set, a
    named set). Anything else that accepts is returned, to be shown.
    """
    items = table["nftables"]
    sets = {i["set"]["name"]: i["set"].get("elem", []) for i in items if "set" in i}
    rules = [i["rule"] for i in items if "rule" in i]
    input_chains = {i["chain"]["name"] for i in items if "chain" in i and i["chain"].get("hook") == "input"}
    # And the chains they jump or go to, which decide for them.
    while True:
        targets = {e[verdict]["target"] for r in rules if r["chain"] in input_chains
                   for e in r["expr"] for verdict in ("jump", "goto") if verdict in e}
        if targets <= input_chains:
            break
        input_chains |= targets
    ports: set[int] = set()
    unknown = []

    def is_icmp(match) -> bool:
        """`meta l4proto { 1, 58 }` (or by name), `ip protocol icmp`, `icmp type …`, `icmpv6 type …`."""
        left, right = match["left"], match["right"]
        values = right["set"] if isinstance(right, dict) and "set" in right else [right]
        if left.get("meta", {}).get("key") == "l4proto" or left.get("payload", {}).get("field") in (
                "protocol", "nexthdr"):
            return all(v in (1, 58, "icmp", "icmpv6", "ipv6-icmp") for v in values)
        return left.get("payload", {}).get("protocol") in ("icmp", "icmpv6")

    def port_values(right) -> set[int]:
        if isinstance(right, int):
            return {right}
        if isinstance(right, str) and right.startswith("@"):
            return set().union(*(port_values(e) for e in sets.get(right[1:], [])))
        if isinstance(right, dict) and "set" in right:
            return set().union(*(port_values(e) for e in right["set"]))
        if isinstance(right, dict) and "range" in right:
            low, high = right["range"]
            return set(range(low, high + 1))
        raise ValueError(right)

    for rule in rules:
        if rule["chain"] not in input_chains:
            continue
        exprs = rule["expr"]
        if not any("accept" in e for e in exprs):
            continue
        matches = [e["match"] for e in exprs if "match" in e]
        text = json.dumps(matches)
        if not matches:  # a bare accept lets everything in
            unknown.append(exprs)
            continue
        if any(m["left"].get("meta", {}).get("key") in ("iif", "iifname") and m["right"] == "lo"
               for m in matches):
            continue
        if any(m["left"].get("ct", {}).get("key") == "state" for m in matches) and "new" not in text:
            continue
        if all(is_icmp(m) for m in matches):
            continue
        dports = [m for m in matches if m.get("op", "==") in ("==", "in")
                  and m["left"].get("payload", {}).get("field") == "dport"
                  and m["left"]["payload"].get("protocol") in ("tcp", "th")]
        if dports and "udp" not in text:
            try:
                ports |= port_values(dports[0]["right"])
                continue
            except ValueError:
                pass
        unknown.append(matches)
    return ports, unknown


def test_the_firewall_ruleset_lets_in_only_ssh_and_the_web(host, app):
    allowed = {80, 443} | sshd_ports(host)
    if app.family.name == "debian":
        table = json.loads(check(host, "nft", "-j", "list", "table", "inet", "tssr_kit"))
        chains = [i["chain"] for i in table["nftables"] if "chain" in i and i["chain"].get("hook") == "input"]
        assert chains, "table inet tssr_kit has no input chain"
        policies = [c.get("policy") for c in chains]
        assert set(policies) == {"drop"}, f"input policy: {policies}"
        ports, unknown = nft_accepted_ports(table)
        assert not unknown, f"input rules that accept something else: {unknown}"
        assert ports == allowed, f"TCP ports let in: {sorted(ports)}, expected {sorted(allowed)}"
    else:
        device = check(host, "ip", "-o", "route", "show", "default").split("dev ")[1].split()[0]
        zone = run(host, "firewall-cmd", f"--get-zone-of-interface={device}").stdout.strip()
        zone = zone or check(host, "firewall-cmd", "--get-default-zone").strip()
        services = check(host, "firewall-cmd", f"--zone={zone}", "--list-services").split()
        assert set(services) == {"ssh", "http", "https"}, f"zone {zone}: services {services}"
        # sshd on another port than 22 gets that port opened, and nothing else is.
        ports = set(check(host, "firewall-cmd", f"--zone={zone}", "--list-ports").split())
        ssh_extra = {f"{port}/tcp" for port in allowed - {22, 80, 443}}
        assert ports == ssh_extra, f"zone {zone}: ports {sorted(ports)}, expected {sorted(ssh_extra)}"
        assert check(host, "firewall-cmd", f"--zone={zone}", "--list-rich-rules").strip() == ""


# ---- firewall: from the machine running the tests ---------------------------------------------------
def served_certificate(address: str, server_name: str) -> bytes:
    """The certificate (DER) that address:443 presents, fetched from this machine."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a self-signed certificate is compared below, not trusted
    with socket.create_connection((address, 443), timeout=TIMEOUT) as raw, \
            context.wrap_socket(raw, server_hostname=server_name) as tls:
        return tls.getpeercert(binary_form=True)


def is_local_address(address: str) -> bool:
    """True when the address belongs to this machine (a connection to it would never leave it)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def outside_address(host, app) -> str:
    """One of the host's own addresses that this machine reaches directly, proven on port 443.

    Only the host's own interface addresses are tried: an address that is forwarded (a published
    port, NAT) would let 443 through and refuse any other port whatever the firewall says. The
    proof that an address reaches this host is its certificate: the one 443 presents there must be
    the one of the app's vhost (its SSLCertificateFile).
    """
    pem = host.file(app.certificate).content_string
    first = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.DOTALL)
    assert first, f"{app.certificate} holds no certificate"
    expected = hashlib.sha256(ssl.PEM_cert_to_DER_cert(first.group(0))).hexdigest()

    interfaces = json.loads(check(host, "ip", "-j", "address", "show", "scope", "global"))
    addresses = [a["local"] for i in interfaces for a in i.get("addr_info", [])
                 if a.get("scope") == "global" and i.get("ifname") != "lo"]
    addresses.sort(key=lambda a: ":" in a)  # IPv4 first
    assert addresses, "the host has no global address"
    local = [a for a in addresses if is_local_address(a)]
    if len(local) == len(addresses):
        pytest.skip(f"the tests run on the host itself ({', '.join(local)}): a connection to its own "
                    "address goes through the loopback interface, which the firewall lets in by design")
    tried = []
    for address in (a for a in addresses if a not in local):
        try:
            seen = hashlib.sha256(served_certificate(address, app.domain)).hexdigest()
        except OSError as exc:
            tried.append(f"{address}: {exc}")
            continue
        if seen == expected:
            return address
        tried.append(f"{address}: 443 presents another certificate ({seen[:16]}…)")
    pytest.fail("none of the host's addresses reaches its HTTPS from this machine, so the firewall cannot "
                "be tested from outside; run the tests from a machine on the host's network.\n"
                + "\n".join(tried))


def free_port(host) -> int:
    """A TCP port nothing listens on, on the host."""
    listening = {int(line.split()[3].rpartition(":")[2]) for line in check(host, "ss", "-Hltn").splitlines()}
    return next(p for p in range(18080, 18180) if p not in listening)


def test_a_port_the_firewall_does_not_open_cannot_be_reached_from_outside(host, app, outside_address):
    port = free_port(host)
    unit = f"tssr-test-listener-{port}"
    folder = check(host, "mktemp", "-d", "/tmp/tssr-lamp-test.XXXXXXXX").strip()
    # A listener on every address, run by systemd and stopped by it after 2 minutes at most.
    check(host, "systemd-run", f"--unit={unit}", "--collect", "--property=RuntimeMaxSec=120",
          "python3", "-m", "http.server", str(port), "--bind", "0.0.0.0",  # noqa: S104 -- on purpose
          "--directory", folder)
    try:
        # Control: the listener answers on the host itself (so a refusal below is the firewall's).
        for _ in range(50):
            answer = run(host, "curl", "--silent", "--output", "/dev/null", "--write-out", "%{http_code}",
                         f"http://127.0.0.1:{port}/")
            if answer.stdout == "200":
                break
            time.sleep(0.1)
        assert answer.stdout == "200", f"the test listener on port {port} did not start"

        # Positive control from here, on the same address: 443 connects.
        with socket.create_connection((outside_address, 443), timeout=TIMEOUT):
            pass
        try:
            with socket.create_connection((outside_address, port), timeout=TIMEOUT):
                reached = True
        except OSError:
            reached = False
        assert not reached, f"{outside_address}:{port} was reached from this machine: the firewall let it in"
    finally:
        run(host, "systemctl", "stop", unit)
        run(host, "rm", "-rf", folder)
