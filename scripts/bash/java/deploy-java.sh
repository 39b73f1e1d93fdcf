#!/usr/bin/env bash
#
# deploy-java.sh - run a Java application in production: an executable jar as a hardened systemd
# service, or a WAR on the distribution's Tomcat; Apache in front over HTTPS; checked, rolled back.
#
# Usage:
#   deploy-java.sh [options] --jar FILE
#   deploy-java.sh [options] --war FILE
#   deploy-java.sh [options] --rollback --name NAME
#
#       --jar FILE        an executable jar (Main-Class in its manifest), run by the service app-NAME
#       --war FILE        a web archive, run by Tomcat (Debian: tomcat10; the RedHat family has none)
#                         (either: no entry with an absolute name or .., no link, device or setuid)
#       --name NAME       the application's name: its service app-NAME, user app-NAME, folder
#                         /opt/NAME, vhost; ^[a-z][a-z0-9-]{0,30}$, not ending in -
#                         (default: from the file name: hello-service-1.0.0.jar -> hello-service);
#                         never an account, unit, folder or vhost someone else made
#       --version V       the release's name, /opt/NAME/releases/V (default: the manifest's
#                         Implementation-Version, else the first 12 hex digits of the file's SHA-256)
#       --domain NAME     the site's name, ServerName of the vhost (default: hostname -f)
#       --cert FILE       PEM certificate for the domain, with --key; default: a self-signed one,
#       --key FILE        generated once and kept
#       --context PATH    WAR: the context path it is served at (default /NAME)
#       --port N          jar: the port the app listens on, on 127.0.0.1 only, given to it as PORT
#                         (default 8080; Tomcat always uses 8080)
#       --java N          the Java feature release to run on (default: the distribution's, see below)
#       --heap SIZE       the JVM's largest heap, -Xmx (default 256m; m or g)
#       --java-opts OPTS  jar: more JVM options, e.g. "-XX:+UseSerialGC -Dfile.encoding=UTF-8"
#       --env-file FILE   jar: KEY=VALUE lines added to the app's environment (kept root-only, never
#                         shown; the place for the app's secrets)
#       --health PATH     path that must answer HTTP 200 over HTTPS after a change (default /health,
#                         WAR: CONTEXT/health)
#       --health-timeout S  seconds the application has to answer after a (re)start (default 90)
#       --keep N          releases kept, the current one included (default 5, at least 2)
#       --rollback        switch back to the release before the current one, and check it
#       --templates DIR   where the templates are (default: templates/ beside this script)
#   -n, --dry-run         validate everything, print the plan, change nothing
#   -q, --quiet           narrate only changes and errors
#   -h, --help            print this help
#
# Java by default: Debian 12 -> 17, Debian 13 -> 21, RedHat family 9 -> 17, 10 -> 21; another Debian
# family release -> its default-jre-headless. A --java that the distribution does not package is
# refused (exit 2). Everything is checked before the first change. Full reference:
# docs/reference/deploy-java.md.
#
# Examples:
#   sudo ./deploy-java.sh --dry-run --jar hello-service-1.0.0.jar --domain hello.example.org
#   sudo ./deploy-java.sh --jar hello-service-1.0.0.jar --domain hello.example.org --heap 512m \
#        --env-file /root/hello.env
#   sudo ./deploy-java.sh --war hello-war-1.0.0.war --context /hello --domain intranet.example.org
#   sudo ./deploy-java.sh --rollback --name hello-service
#
# Exit codes:
#   0  success (changes made, or nothing to do)
#   1  runtime failure: a command failed, the Apache check failed (the previous configuration is
#      back), or the application did not start or answer (the previous release, settings, vhost and
#      certificate are back)
#   2  usage or validation error: nothing was changed
#   3  another run holds the lock /run/tssr-kit/deploy-java.lock
#
# Output: narration on stderr; the last line on stdout is one JSON object, for example
#   {"script": "deploy-java", "status": "changed", "changed": 12, "mode": "jar", "url": "https://…/", …}
#
# What it changes on the system: installs the Java runtime (headless), Apache with mod_ssl, the
# firewall (nftables or firewalld), openssl and curl, and Tomcat for a WAR; jar: the system user
# app-NAME, the unit /etc/systemd/system/app-NAME.service, its environment
# /etc/tssr-kit/java/NAME/env, data and logs in /var/lib/tssr-java/NAME and /var/log/tssr-java/NAME;
# WAR: Tomcat's server.xml (127.0.0.1 only), a context descriptor, a drop-in and
# /etc/tssr-kit/java/tomcat.env, and the default, example and manager apps removed; both: /opt/NAME
# (releases, current), the vhost, a server-wide hardening conf, the firewall rules, the certificate
# in /etc/ssl/tssr-kit, root-only state in /var/lib/tssr-kit/java/NAME; one syslog entry per change
# (tag tssr-deploy-java).
#
# Supported OS families: debian (Debian 12, 13; Ubuntu) and redhat (RHEL, Rocky, AlmaLinux 9, 10).
# Needs: bash 4.4+, GNU coreutils and findutils, util-linux (flock, logger), python3 (reads the
# archive's manifest; without it only the zip signature is checked), systemd, root.

# -E: the ERR trap also fires inside functions; -e: stop at the first failing command; -u: an unset
# variable is a bug; pipefail: `sha256sum … | cut` fails when sha256sum cannot read the file.
set -Eeuo pipefail
export LC_ALL=C

# The kit's library (common.sh; the web front and the firewall it shares with deploy-lamp.sh): lib/
# beside this script (as uploaded by inv and the role) or ../lib (the repository).
TSSR_LIB="$(dirname -- "${BASH_SOURCE[0]}")/lib"
[[ -d "${TSSR_LIB}" ]] || TSSR_LIB="${TSSR_LIB%/lib}/../lib"
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TSSR_LIB}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/firewall.sh
. "${TSSR_LIB}/firewall.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/web.sh
. "${TSSR_LIB}/web.sh"

#######################################
# Constants
#######################################
readonly SCRIPT_NAME=deploy-java
readonly LOCK_FILE=/run/tssr-kit/deploy-java.lock
readonly SYSLOG_TAG=tssr-deploy-java
readonly APPS_ROOT=/opt
readonly CONFIG_ROOT=/etc/tssr-kit/java
readonly STATE_ROOT=/var/lib/tssr-kit/java
readonly DATA_ROOT=/var/lib/tssr-java
readonly TLS_DIR=/etc/ssl/tssr-kit
readonly MARKER=.tssr-kit-java            # in /opt/NAME: this folder is ours
readonly NAME_RE='^[a-z]([a-z0-9-]{0,29}[a-z0-9])?$'
readonly VERSION_RE='^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$'
readonly CONTEXT_RE='^/([A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*)?$'
readonly HEALTH_RE='^/[A-Za-z0-9._~/?=&%+-]*$'
readonly HEAP_RE='^[1-9][0-9]{0,5}[mMgG]$'
readonly JAVA_OPT_RE='^-[A-Za-z0-9:._=+,/%@-]+$'
readonly ENV_KEY_RE='^[A-Za-z_][A-Za-z0-9_]*$'
readonly RESERVED_ENV=(JAVA_OPTS PORT BIND_ADDRESS DATA_DIR LOG_DIR)
readonly TOMCAT_PORT=8080
readonly HEALTH_TRIES=3                  # health_ok (lib), when nothing was restarted
readonly HEALTH_DELAY=1

# The names that differ between the families and releases: one table, read by load_family.
# Java feature release by "family:major release".
readonly -A JAVA_DEFAULT=(["debian:12"]=17 ["debian:13"]=21 ["redhat:9"]=17 ["redhat:10"]=21)
readonly DEBIAN_PACKAGES=(apache2 nftables openssl curl)
readonly REDHAT_PACKAGES=(httpd mod_ssl firewalld openssl curl policycoreutils-python-utils)
readonly DEBIAN_TOMCAT=tomcat10            # Jakarta EE 10 (Tomcat 10.1) on Debian 12 and 13
readonly DEBIAN_TOMCAT_EXTRAS=(tomcat10-admin tomcat10-examples tomcat10-docs)  # never wanted
readonly APACHE_MODULES=(ssl headers proxy proxy_http)

#######################################
# Settings (from the command line)
#######################################
JAR_SRC=""
WAR_SRC=""
NAME=""
VERSION=""
DOMAIN=""
CERT_SRC=""
KEY_SRC=""
CONTEXT=""
PORT=""
JAVA_VERSION=""
HEAP=256m
JAVA_OPTS_EXTRA=""
ENV_SRC=""
HEALTH_PATH=""
HEALTH_TIMEOUT=90
KEEP=5
ROLLBACK=false
TEMPLATES=""
DRY_RUN=false
QUIET=false

#######################################
# Run state
#######################################
CHANGES=0
ERRORS=()
TMP_DIR=""
MODE=""                  # jar or war
SOURCE=""                # the jar or war given
OS_FAMILY=""
OS_VERSION=""
DOMAIN_GIVEN=false
HEALTH_GIVEN=false
APACHE_BACKUP=""         # a tar of the Apache configuration while a change is being checked
TLS_BACKUP=""            # the certificate and key being replaced, until Apache's check passes
RELEASE=""
PREVIOUS=""
NEW_RELEASE_DIR=""       # a release folder made by this run (removed if the run fails)
ROLLED_BACK=false
FAILED_RELEASE=""
PENDING=false            # settings or release switched, not yet checked: undo on failure
RESTART=false            # the service must be (re)started
DAEMON_RELOAD=false
HEALTH_CHECKED=false

#######################################
# Narration, errors, result
#######################################
on_interrupt() {
  trap - INT TERM
  [[ "${PENDING}" == false ]] || undo_pending "interrupted"
  die 1 "interrupted${ROLLBACK_NOTE:+; ${ROLLBACK_NOTE}}"
}

# common.sh's on_error, plus: settings or a release not yet checked are put back first, so that the
# result line says where the application is.
on_error() {
  local code=$? line="$1" command="$2"
  trap - ERR
  [[ "${PENDING}" == false ]] || undo_pending "line ${line}: '${command}' failed"
  die 1 "line ${line}: '${command}' failed (exit ${code})${ROLLBACK_NOTE:+; ${ROLLBACK_NOTE}}"
}

cleanup() {
  if [[ "${PENDING}" == true ]]; then
    undo_pending "stopped before the new settings were checked"
  fi
  # A run that stopped before its commit (web_commit): what it changed in the web front and in the
  # service's settings goes back.
  web_cleanup
  if settings_put_back; then
    systemctl daemon-reload || true
  fi
  if [[ -n "${TMP_DIR}" && -d "${TMP_DIR}" ]]; then
    rm -rf -- "${TMP_DIR}"
  fi
}

#######################################
# Print the result line on stdout.
# Arguments: status (ok|changed|failed), error message (optional)
#######################################
emit_result() {
  local status="$1" error="${2:-}" url="" service=""
  [[ -z "${DOMAIN}" ]] || url="https://${DOMAIN}$(site_path)"
  if [[ "${MODE}" == jar && -n "${NAME}" ]]; then service="app-${NAME}.service"; fi
  if [[ "${MODE}" == war ]]; then service="${TOMCAT_SERVICE:-tomcat}.service"; fi
  result_line "${status}" name opt "${NAME}" mode opt "${MODE}" domain opt "${DOMAIN}" url opt "${url}" \
    release opt "${RELEASE}" previous opt "${PREVIOUS}" rolled_back bool "${ROLLED_BACK}" \
    service opt "${service}" java opt "${JAVA_VERSION}" os_family opt "${OS_FAMILY}" \
    failed_release some "${FAILED_RELEASE}" error some "${error}"
}

# Where the app is on the site: / for a jar, CONTEXT/ for a WAR.
site_path() {
  if [[ "${MODE}" == war && -n "${CONTEXT}" && "${CONTEXT}" != / ]]; then
    printf '%s/' "${CONTEXT}"
  else
    printf '/'
  fi
}

#######################################
# Command line
#######################################
parse_args() {
  while (($#)); do
    case "$1" in
      --jar) need_value "$1" $#; JAR_SRC="$2"; shift 2 ;;
      --war) need_value "$1" $#; WAR_SRC="$2"; shift 2 ;;
      --name) need_value "$1" $#; NAME="$2"; shift 2 ;;
      --version) need_value "$1" $#; VERSION="$2"; shift 2 ;;
      --domain) need_value "$1" $#; DOMAIN="$2"; shift 2 ;;
      --cert) need_value "$1" $#; CERT_SRC="$2"; shift 2 ;;
      --key) need_value "$1" $#; KEY_SRC="$2"; shift 2 ;;
      --context) need_value "$1" $#; CONTEXT="$2"; shift 2 ;;
      --port) need_value "$1" $#; PORT="$2"; shift 2 ;;
      --java) need_value "$1" $#; JAVA_VERSION="$2"; shift 2 ;;
      --heap) need_value "$1" $#; HEAP="$2"; shift 2 ;;
      --java-opts) need_value "$1" $#; JAVA_OPTS_EXTRA="$2"; shift 2 ;;
      --env-file) need_value "$1" $#; ENV_SRC="$2"; shift 2 ;;
      --health) need_value "$1" $#; HEALTH_PATH="$2"; HEALTH_GIVEN=true; shift 2 ;;
      --health-timeout) need_value "$1" $#; HEALTH_TIMEOUT="$2"; shift 2 ;;
      --keep) need_value "$1" $#; KEEP="$2"; shift 2 ;;
      --templates) need_value "$1" $#; TEMPLATES="$2"; shift 2 ;;
      --rollback) ROLLBACK=true; shift ;;
      --) shift; (($# == 0)) || usage_error "unexpected argument: $1" ;;
      *) common_option "$1" || usage_error "unexpected argument: $1 (the application is given with --jar or --war)"; shift ;;
    esac
  done
  TEMPLATES="${TEMPLATES:-${SCRIPT_DIR}/templates}"
}

#######################################
# Validation of the command line (before anything is read from the host)
#######################################
validate_mode() {
  if [[ -n "${JAR_SRC}" && -n "${WAR_SRC}" ]]; then
    add_error "--jar and --war: give one of them"
  elif [[ -n "${JAR_SRC}" ]]; then
    MODE=jar
    SOURCE="${JAR_SRC}"
  elif [[ -n "${WAR_SRC}" ]]; then
    MODE=war
    SOURCE="${WAR_SRC}"
  elif [[ "${ROLLBACK}" == false ]]; then
    add_error "--jar or --war: missing (the application to deploy)"
  fi
  if [[ "${ROLLBACK}" == true && -n "${SOURCE}" ]]; then
    add_error "--rollback goes back to a release already on the host: give --name, not --jar or --war"
  fi
}

validate_name() {
  if [[ -z "${NAME}" ]]; then
    if [[ -n "${SOURCE}" ]]; then
      NAME="$(derive_name "${SOURCE}" -)"
      NAME="${NAME%%-}"
      if [[ ! "${NAME}" =~ ${NAME_RE} ]]; then
        add_error "--name: cannot make an application name from '${SOURCE}' (got '${NAME}'): give --name"
        NAME=""
      fi
    elif [[ "${ROLLBACK}" == true ]]; then
      add_error "--name: needed with --rollback"
    fi
  elif [[ ! "${NAME}" =~ ${NAME_RE} ]]; then
    add_error "--name: '${NAME}' is not a valid name: 1 to 31 characters, a lower-case letter then lower-case letters, digits or - (not at the end)"
    NAME=""
  fi
}

is_number_between() {
  [[ "$1" =~ ^[0-9]{1,6}$ ]] && ((10#$1 >= $2 && 10#$1 <= $3))
}

validate_options() {
  if ! is_number_between "${KEEP}" 2 100; then
    add_error "--keep: '${KEEP}' is not a number from 2 to 100 (the current release and at least one to go back to)"
  fi
  if ! is_number_between "${HEALTH_TIMEOUT}" 5 3600; then
    add_error "--health-timeout: '${HEALTH_TIMEOUT}' is not a number of seconds from 5 to 3600"
  fi
  if [[ -n "${HEALTH_PATH}" && ! "${HEALTH_PATH}" =~ ${HEALTH_RE} ]]; then
    add_error "--health: '${HEALTH_PATH}' must be a URL path starting with / (letters, digits and ._~/?=&%+-)"
  fi
  if [[ -n "${VERSION}" && ! "${VERSION}" =~ ${VERSION_RE} ]]; then
    add_error "--version: '${VERSION}' must be 1 to 64 letters, digits and ._+- (starting with a letter or digit)"
  fi
  if [[ -n "${JAVA_VERSION}" && ! "${JAVA_VERSION}" =~ ^[1-9][0-9]?$ ]]; then
    add_error "--java: '${JAVA_VERSION}' is not a Java feature release number (such as 17 or 21)"
  fi
  if [[ ! "${HEAP}" =~ ${HEAP_RE} ]]; then
    add_error "--heap: '${HEAP}' is not a size such as 256m or 2g"
  fi
  validate_web_options
  local opt
  for opt in ${JAVA_OPTS_EXTRA}; do
    [[ "${opt}" =~ ${JAVA_OPT_RE} ]] \
      || add_error "--java-opts: '${opt}' is not a JVM option (each starts with -, then letters, digits and :._=+,/%@-)"
  done
  if [[ "${MODE}" == war ]]; then
    local option
    for option in "--port:${PORT}" "--java-opts:${JAVA_OPTS_EXTRA}" "--env-file:${ENV_SRC}"; do
      [[ -z "${option#*:}" ]] \
        || add_error "${option%%:*}: applies to --jar only (a WAR runs in Tomcat, shared by every WAR of the host)"
    done
    if [[ -z "${CONTEXT}" ]]; then
      [[ -z "${NAME}" ]] || CONTEXT="/${NAME}"
    elif [[ "${CONTEXT}" != / && ! "${CONTEXT}" =~ ${CONTEXT_RE} ]] || [[ "${CONTEXT}" == */ && "${CONTEXT}" != / ]]; then
      add_error "--context: '${CONTEXT}' must be / or a path such as /hello or /intranet/hello (letters, digits, ._-; no .., no trailing /)"
    fi
  else
    [[ -z "${CONTEXT}" ]] || add_error "--context: applies to --war only"
    if [[ "${ROLLBACK}" == false ]]; then
      PORT="${PORT:-8080}"
      if ! is_number_between "${PORT}" 1024 65535; then
        add_error "--port: '${PORT}' is not a port from 1024 to 65535 (the app runs without privileges)"
      elif ((10#${PORT} == 8009 || 10#${PORT} == 8005)); then
        add_error "--port: ${PORT} is one of Tomcat's: choose another"
      fi
    fi
  fi
  [[ "${ROLLBACK}" == true ]] || [[ -n "${HEALTH_PATH}" ]] || HEALTH_PATH="$(site_path)health"
}

# The environment file: KEY=VALUE lines (comments and blank lines allowed), values on one line and
# without the characters that systemd's parser would read (\ " ' $ `).
validate_env_file() {
  [[ -n "${ENV_SRC}" ]] || return 0
  if [[ ! -f "${ENV_SRC}" || ! -r "${ENV_SRC}" ]]; then
    add_error "--env-file: '${ENV_SRC}' is not a readable file"
    return 0
  fi
  local line number=0 key value reserved
  while IFS= read -r line || [[ -n "${line}" ]]; do
    number=$((number + 1))
    line="${line%$'\r'}"
    [[ -n "${line//[[:space:]]/}" && "${line}" != \#* ]] || continue
    key="${line%%=*}"
    value="${line#*=}"
    # Never the value in a message: it may be a secret.
    if [[ "${line}" != *=* || ! "${key}" =~ ${ENV_KEY_RE} ]]; then
      add_error "--env-file: line ${number}: expected KEY=VALUE with KEY of letters, digits and _ (not starting with a digit)"
    elif [[ "${value}" == *[\\\"\'\$\`]* || "${value}" =~ [[:cntrl:]] ]]; then
      add_error "--env-file: line ${number} (${key}): the value holds \\ \" ' \$ \` or a control character, which systemd would read: not accepted"
    else
      for reserved in "${RESERVED_ENV[@]}"; do
        [[ "${key}" != "${reserved}" ]] \
          || add_error "--env-file: line ${number}: ${key} is set by the deploy (--port, --heap, --java-opts): not accepted here"
      done
    fi
  done <"${ENV_SRC}"
}

#######################################
# The archive: a zip (jar and war are zips); with python3, its manifest and its entries are read too.
# Nothing of it is ever unpacked here (the JVM and Tomcat read it in place: unpackWAR is off), but an
# entry that would land outside a folder it were unpacked into (an absolute name, a `..`), a link, a
# device or a setuid/setgid entry has no business in an application: the archive is refused.
# Sets PROBE_MAIN (Main-Class), PROBE_VERSION (Implementation-Version), PROBE_WEBINF (yes/no),
# PROBE_HOSTILE (what is wrong with the first such entry, empty when none).
#######################################
PROBE_MAIN=""
PROBE_VERSION=""
PROBE_WEBINF=""
PROBE_HOSTILE=""

probe_archive() {
  local file="$1" kind line
  if command -v python3 >/dev/null; then
    line="$(python3 - "${file}" <<'PY' || true
import sys
import zipfile

try:
    archive = zipfile.ZipFile(sys.argv[1])
    names = archive.namelist()
    archive.testzip()
except Exception:
    print("bad")
    sys.exit(0)
fields = {}
if "META-INF/MANIFEST.MF" in names:
    logical = []
    for raw in archive.read("META-INF/MANIFEST.MF").decode("utf-8", "replace").splitlines():
        if raw.startswith(" ") and logical:
            logical[-1] += raw[1:]
        else:
            logical.append(raw)
    for entry in logical:
        key, sep, value = entry.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
clean = lambda s: "".join(c for c in s if c.isprintable() and c != "\t")
webinf = "yes" if any(n.startswith("WEB-INF/") for n in names) else "no"
hostile = ""
for info in archive.infolist():
    name = info.filename
    parts = name.replace("\\", "/").split("/")
    mode = info.external_attr >> 16 if info.create_system == 3 else 0
    kind_bits = mode & 0o170000
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[0].isalpha() and name[1] == ":"):
        hostile = f"the entry '{clean(name)}' has an absolute name"
    elif ".." in parts:
        hostile = f"the entry '{clean(name)}' climbs out with '..' (zip slip)"
    elif kind_bits == 0o120000:
        hostile = f"the entry '{clean(name)}' is a symbolic link"
    elif kind_bits not in (0, 0o100000, 0o040000):
        hostile = f"the entry '{clean(name)}' is a device, a pipe or a socket"
    elif mode & 0o6000:
        hostile = f"the entry '{clean(name)}' is setuid or setgid"
    if hostile:
        break
print("zip", clean(fields.get("Main-Class", "")) or "-", clean(fields.get("Implementation-Version", "")) or "-",
      webinf, hostile or "-", sep="\t")
PY
)"
    IFS=$'\t' read -r kind PROBE_MAIN PROBE_VERSION PROBE_WEBINF PROBE_HOSTILE <<<"${line}"
    [[ "${kind}" == zip ]] || return 1
    [[ "${PROBE_MAIN}" != - ]] || PROBE_MAIN=""
    [[ "${PROBE_VERSION}" != - ]] || PROBE_VERSION=""
    [[ "${PROBE_HOSTILE}" != - ]] || PROBE_HOSTILE=""
  else
    # Without python3: only the zip signature (PK\3\4).
    [[ "$(head -c 4 -- "${file}" | od -An -tx1 | tr -d ' \n')" == 504b0304 ]] || return 1
    PROBE_MAIN=unknown
    PROBE_WEBINF=unknown
  fi
}

validate_source() {
  [[ -n "${SOURCE}" ]] || return 0
  local option="--${MODE}"
  if [[ ! -f "${SOURCE}" || ! -r "${SOURCE}" ]]; then
    add_error "${option}: '${SOURCE}' is not a readable file"
    return 0
  fi
  if ! probe_archive "${SOURCE}"; then
    add_error "${option}: '${SOURCE}' is not a ${MODE} (not a readable zip archive)"
    return 0
  fi
  if [[ -n "${PROBE_HOSTILE}" ]]; then
    add_error "${option}: '${SOURCE}': ${PROBE_HOSTILE}: not accepted in an application archive"
  fi
  if [[ "${MODE}" == jar && -z "${PROBE_MAIN}" ]]; then
    add_error "--jar: '${SOURCE}' is not executable: its manifest has no Main-Class (for a web archive, use --war)"
  fi
  if [[ "${MODE}" == war && "${PROBE_WEBINF}" == no ]]; then
    add_error "--war: '${SOURCE}' has no WEB-INF/ folder: not a web application"
  fi
  if [[ -z "${VERSION}" ]]; then
    if [[ -n "${PROBE_VERSION}" && "${PROBE_VERSION}" =~ ${VERSION_RE} ]]; then
      VERSION="${PROBE_VERSION}"
    else
      VERSION="$(sha256sum -- "${SOURCE}" | cut -c1-12)"
    fi
  fi
}

#######################################
# The host
#######################################
# Paths and names of the family and release (the second half of the table above).
load_family() {
  local arch=""
  if [[ -z "${JAVA_VERSION}" ]]; then
    JAVA_VERSION="${JAVA_DEFAULT["${OS_FAMILY}:${OS_VERSION}"]:-}"
  fi
  if [[ "${OS_FAMILY}" == debian ]]; then
    if [[ -z "${JAVA_VERSION}" ]]; then
      JAVA_VERSION="$(apt-cache policy default-jre-headless 2>/dev/null \
        | sed -nE '/^ *Candidate:/{s/^ *Candidate: ([0-9]+:)?1\.([0-9]+).*/\2/p;q;}' || true)"
      JAVA_VERSION="${JAVA_VERSION:-17}"
    fi
    arch="$(dpkg --print-architecture)"
    JAVA_PACKAGE="openjdk-${JAVA_VERSION}-jre-headless"
    JAVA_HOME_DIR="/usr/lib/jvm/java-${JAVA_VERSION}-openjdk-${arch}"
    PACKAGES=("${DEBIAN_PACKAGES[@]}" "${JAVA_PACKAGE}")
    NOLOGIN=/usr/sbin/nologin
    TOMCAT_SERVICE="${DEBIAN_TOMCAT}"
    TOMCAT_CONF="/etc/${DEBIAN_TOMCAT}"
    TOMCAT_WEBAPPS="/var/lib/${DEBIAN_TOMCAT}/webapps"
    TOMCAT_WORK="/var/cache/${DEBIAN_TOMCAT}/Catalina/localhost"
    [[ "${MODE}" != war ]] || PACKAGES+=("${DEBIAN_TOMCAT}")
  else
    JAVA_VERSION="${JAVA_VERSION:-17}"
    JAVA_PACKAGE="java-${JAVA_VERSION}-openjdk-headless"
    JAVA_HOME_DIR="/usr/lib/jvm/jre-${JAVA_VERSION}-openjdk"
    PACKAGES=("${REDHAT_PACKAGES[@]}" "${JAVA_PACKAGE}")
    NOLOGIN=/sbin/nologin
    TOMCAT_SERVICE=""
  fi
  apache_family
  JAVA_BIN="${JAVA_HOME_DIR}/bin/java"
  APP_DIR="${APPS_ROOT}/${NAME}"
  APP_USER="app-${NAME}"
  UNIT_NAME="app-${NAME}.service"
  UNIT_FILE="/etc/systemd/system/${UNIT_NAME}"
  ENV_FILE="${CONFIG_ROOT}/${NAME}/env"
  STATE_DIR="${STATE_ROOT}/${NAME}"
  TOMCAT_ENV="${CONFIG_ROOT}/tomcat.env"
  # One certificate per domain: a deploy that changes the domain and fails leaves the old pair intact.
  CERT_FILE="${TLS_DIR}/${DOMAIN}.crt"
  KEY_FILE="${TLS_DIR}/private/${DOMAIN}.key"
  if [[ "${MODE}" == war && -n "${TOMCAT_SERVICE}" ]]; then
    CONTEXT_NAME="${CONTEXT#/}"
    CONTEXT_NAME="${CONTEXT_NAME//\//#}"
    CONTEXT_NAME="${CONTEXT_NAME:-ROOT}"
    CONTEXT_FILE="${TOMCAT_CONF}/Catalina/localhost/${CONTEXT_NAME}.xml"
  fi
}

# Is a package installable here (or installed)?
package_available() {
  if [[ "${OS_FAMILY}" == debian ]]; then
    local policy
    policy="$(apt-cache policy "$1" 2>/dev/null || true)"
    [[ "${policy}" =~ Candidate:\ [^\(] ]]
  else
    rpm -q "$1" >/dev/null 2>&1 || dnf -q list --available "$1" >/dev/null 2>&1
  fi
}

# What the host must allow before anything changes: the Java release and Tomcat exist here, the
# names are free or already ours, the port is free or already the app's, the version is new or the
# same content.
validate_host() {
  [[ "${OS_FAMILY}" != debian ]] || apt_refresh_lists
  if [[ "${MODE}" == war && -z "${TOMCAT_SERVICE}" ]]; then
    add_error "--war: the RedHat family has no Tomcat package (RHEL 9 and its rebuilds dropped it from AppStream): deploy an executable jar with an embedded server (--jar) instead"
  fi
  if ! package_available "${JAVA_PACKAGE}"; then
    add_error "--java: Java ${JAVA_VERSION} is not available on this ${OS_FAMILY} ${OS_VERSION} system (no package ${JAVA_PACKAGE}); $(available_javas)"
  fi
  if [[ "${MODE}" == war && -n "${TOMCAT_SERVICE}" ]] && ! package_available "${TOMCAT_SERVICE}"; then
    add_error "--war: this system has no ${TOMCAT_SERVICE} package"
  fi
  if [[ -e "${APP_DIR}" || -L "${APP_DIR}" ]] && [[ ! -f "${APP_DIR}/${MARKER}" || -L "${APP_DIR}" ]]; then
    add_error "--name: ${APP_DIR} exists and was not made by deploy-java.sh: choose another name"
  elif [[ -f "${APP_DIR}/${MARKER}" && -n "${MODE}" ]] && ! grep -qx "mode=${MODE}" "${APP_DIR}/${MARKER}"; then
    add_error "--name: ${NAME} is deployed here as a $(sed -n 's/^mode=//p' "${APP_DIR}/${MARKER}"): remove it first to deploy it as a ${MODE}"
  fi
  if [[ "${MODE}" == jar ]]; then
    validate_app_account "${APP_USER}" "tssr-kit Java app ${NAME}" "${STATE_DIR}/account"
    validate_unit_owner
    validate_port "${PORT}" "${APP_USER}"
  elif [[ "${MODE}" == war && -n "${TOMCAT_SERVICE}" ]]; then
    validate_port "${TOMCAT_PORT}" tomcat
    if [[ -e "${CONTEXT_FILE}" || -L "${CONTEXT_FILE}" ]] \
      && { [[ -L "${CONTEXT_FILE}" ]] || ! grep -qF "docBase=\"${APP_DIR}/current/app.war\"" "${CONTEXT_FILE}"; }; then
      add_error "--context: ${CONTEXT} is already another application's on this Tomcat (${CONTEXT_FILE})"
    fi
  fi
  if [[ -n "${VERSION}" && -d "${APP_DIR}/releases/${VERSION}" ]] \
    && ! cmp -s -- "${SOURCE}" "${APP_DIR}/releases/${VERSION}/app.${MODE}"; then
    add_error "--version: the release ${VERSION} of ${NAME} exists with another content: give the new build another --version"
  fi
}

# jar: the unit app-NAME.service is free, or the one this script wrote (a unit of that name shipped by
# a package, or written by someone else, is never replaced nor overridden).
validate_unit_owner() {
  local fragment first=""
  fragment="$(systemctl show -P FragmentPath "${UNIT_NAME}" 2>/dev/null || true)"
  if [[ -n "${fragment}" && "${fragment}" != "${UNIT_FILE}" ]]; then
    add_error "--name: the unit ${UNIT_NAME} exists on this host (${fragment}) and is not deploy-java.sh's: choose another name"
    return 0
  fi
  local dir
  for dir in /usr/lib/systemd/system /lib/systemd/system /run/systemd/system; do
    if [[ -e "${dir}/${UNIT_NAME}" || -L "${dir}/${UNIT_NAME}" ]]; then
      add_error "--name: the unit ${UNIT_NAME} exists on this host (${dir}/${UNIT_NAME}, not deploy-java.sh's): choose another name"
      return 0
    fi
  done
  [[ -e "${UNIT_FILE}" || -L "${UNIT_FILE}" ]] || return 0
  [[ -L "${UNIT_FILE}" || ! -f "${UNIT_FILE}" ]] || IFS= read -r first <"${UNIT_FILE}" || true
  if [[ "${first}" != "# ${UNIT_NAME}: written by deploy-java.sh (tssr-kit) "* ]]; then
    add_error "--name: ${UNIT_FILE} exists and was not written by deploy-java.sh: choose another name"
  fi
}

available_javas() {
  local found
  if [[ "${OS_FAMILY}" == debian ]]; then
    found="$(apt-cache pkgnames openjdk- 2>/dev/null | sed -nE 's/^openjdk-([0-9]+)-jre-headless$/\1/p' | sort -n | paste -sd' ' - || true)"
  else
    found="$(dnf -q list --available 'java-*-openjdk-headless' 2>/dev/null \
      | sed -nE 's/^java-(1\.8\.0|[0-9]+)-openjdk-headless.*/\1/p' | sort -un | paste -sd' ' - || true)"
  fi
  printf 'available here: %s' "${found:-none found}"
}

# A port is free, or held by the given account (the app's, or Tomcat's): the owner of a listening
# socket is read from `ss -e` (uid:N), which needs no access to other processes' file descriptors.
validate_port() {
  local port="$1" account="$2" listeners uid owner
  command -v ss >/dev/null || return 0
  listeners="$(ss -Hltne "sport = :${port}" 2>/dev/null || true)"
  [[ -n "${listeners}" ]] || return 0
  uid="$(id -u "${account}" 2>/dev/null || true)"
  owner="$(grep -o 'uid:[0-9]*' <<<"${listeners}" | head -n 1 | cut -d: -f2 || true)"
  if [[ -n "${uid}" && "${owner}" == "${uid}" ]]; then
    return 0
  fi
  add_error "--port: ${port} is already in use on this host by another program (uid ${owner:-?}: see ss -ltnp 'sport = :${port}')"
}

# A rollback: the state of the last deploy, and the release before the current one.
validate_rollback_target() {
  if [[ ! -f "${APP_DIR}/${MARKER}" || ! -L "${APP_DIR}/current" ]]; then
    die 1 "--rollback: ${NAME} has no current release on this host (${APP_DIR}/current)"
  fi
  MODE="$(sed -n 's/^mode=//p' "${APP_DIR}/${MARKER}")"
  local key file
  for key in domain health context port java heap; do
    file="${STATE_DIR}/${key}"
    [[ -f "${file}" ]] || continue
    case "${key}" in
      domain) [[ "${DOMAIN_GIVEN}" == true ]] || DOMAIN="$(<"${file}")" ;;
      health) [[ "${HEALTH_GIVEN}" == true ]] || HEALTH_PATH="$(<"${file}")" ;;
      context) CONTEXT="$(<"${file}")" ;;
      port) PORT="$(<"${file}")" ;;
      java) JAVA_VERSION="$(<"${file}")" ;;
    esac
  done
  HEALTH_PATH="${HEALTH_PATH:-$(site_path)health}"
  # Read back from files: checked as if they had been typed (they reach a URL, a path, a config).
  if ! is_valid_domain "${DOMAIN}" || [[ ! "${HEALTH_PATH}" =~ ${HEALTH_RE} ]] \
    || [[ -n "${CONTEXT}" && "${CONTEXT}" != / && ! "${CONTEXT}" =~ ${CONTEXT_RE} ]] \
    || [[ -n "${PORT}" && ! "${PORT}" =~ ^[0-9]{1,5}$ ]] || [[ ! "${JAVA_VERSION}" =~ ^[1-9][0-9]?$ ]] \
    || [[ "${MODE}" != jar && "${MODE}" != war ]]; then
    die 1 "--rollback: the state of ${NAME} in ${STATE_DIR} or ${APP_DIR}/${MARKER} is not what deploy-java.sh writes: deploy with --jar or --war instead"
  fi
  PREVIOUS="$(current_link_target "${APP_DIR}")"
  RELEASE="$(releases_newest_first | awk -v cur="${PREVIOUS}" 'seen {print; exit} $0 == cur {seen = 1}')"
  if [[ -z "${RELEASE}" ]]; then
    die 1 "--rollback: no release of ${NAME} older than ${PREVIOUS} is left to go back to"
  fi
}

# The releases, newest first (by the time they were deployed: the folder's modification time).
releases_newest_first() {
  find "${APP_DIR}/releases" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%T@ %f\n' 2>/dev/null \
    | sort -rn | cut -d' ' -f2- || true
}

#######################################
# Steps
#######################################
step_packages() {
  install_packages || true
}

step_app_user() {
  [[ "${MODE}" == jar ]] || return 0
  getent passwd "${APP_USER}" >/dev/null && return 0
  changed "create the system user ${APP_USER} (no login, no home) that runs ${NAME}"
  run useradd --system --user-group --home-dir /nonexistent --no-create-home \
    --shell "${NOLOGIN}" --comment "tssr-kit Java app ${NAME}" "${APP_USER}"
}

step_app_folders() {
  ensure_dir "${APP_DIR}" root root 0755
  ensure_dir "${APP_DIR}/releases" root root 0755
  if [[ ! -f "${APP_DIR}/${MARKER}" ]]; then
    changed "mark ${APP_DIR} as deploy-java's (${MARKER})"
    [[ "${DRY_RUN}" == true ]] || printf 'mode=%s\n' "${MODE}" >"${APP_DIR}/${MARKER}"
  fi
  ensure_dir /etc/tssr-kit root root 0755
  ensure_dir "${CONFIG_ROOT}" root root 0755
  ensure_dir /var/lib/tssr-kit root root 0755
  ensure_dir "${STATE_ROOT}" root root 0700
  ensure_dir "${STATE_DIR}" root root 0700
  [[ "${MODE}" == jar ]] && ensure_dir "${CONFIG_ROOT}/${NAME}" root root 0700
  if command -v selinuxenabled >/dev/null && selinuxenabled; then
    # RedHat with SELinux: Apache may connect to the application's port (a reverse proxy).
    if [[ "$(getsebool httpd_can_network_connect 2>/dev/null)" != *"--> on" ]]; then
      changed "SELinux: let Apache connect to the application (httpd_can_network_connect)"
      run setsebool -P httpd_can_network_connect on
    fi
  fi
  return 0
}

# The vhost: the shared frame around this script's site block (the reverse proxy).
render_vhost() {
  local site="${TMP_DIR}/vhost-site.conf" port="${PORT}" proxy_path redirect=""
  proxy_path="$(site_path)"
  if [[ "${MODE}" == war ]]; then
    port="${TOMCAT_PORT}"
    if [[ "${proxy_path}" != / ]]; then
      redirect="    # The site's root leads to the application."$'\n'"    RedirectMatch 302 ^/\$ ${proxy_path}"
    fi
  fi
  render vhost-site.conf.tmpl "PROXY_PATH=${proxy_path}" "PORT=${port}" "ROOT_REDIRECT=${redirect}" >"${site}"
  render_vhost_frame "${site}" "SCRIPT=${SCRIPT_NAME}" "SITE_TEMPLATE=java/templates/vhost-site.conf.tmpl" \
    "NAME=${NAME}" "DOMAIN=${DOMAIN}" "CERT_FILE=${CERT_FILE}" "KEY_FILE=${KEY_FILE}" "LOG_DIR=${LOG_DIR}"
}

# Write a settings file of the service (its previous content kept for undo: settings_keep); a
# change means a restart. Arguments and return: put_file's
put_setting() {
  put_setting_file "$@" || return 1
  [[ "${DRY_RUN}" == true ]] || PENDING=true
  RESTART=true
}

# The JVM's options: the heap, then --java-opts.
jvm_options() {
  printf '%s' "-Xmx${HEAP} -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true${JAVA_OPTS_EXTRA:+ ${JAVA_OPTS_EXTRA}}"
}

# jar: the unit and its root-only environment file.
step_service_settings() {
  [[ "${MODE}" == jar ]] || return 0
  {
    printf '# %s: environment of %s, written by deploy-java.sh (root only; never logged).\n' \
      "${ENV_FILE}" "${UNIT_NAME}"
    printf 'JAVA_OPTS=%s\n' "$(jvm_options)"
    printf 'PORT=%s\nBIND_ADDRESS=127.0.0.1\n' "$((10#${PORT}))"
    printf 'DATA_DIR=%s/%s\nLOG_DIR=/var/log/tssr-java/%s\n' "${DATA_ROOT}" "${NAME}" "${NAME}"
    if [[ -n "${ENV_SRC}" ]]; then
      printf '# From --env-file:\n'
      grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' -- "${ENV_SRC}" | tr -d '\r' || true
    fi
  } | put_setting "${ENV_FILE}" root root 0600 "${NAME}'s environment and JVM options" || true
  if render java-app.service.tmpl "NAME=${NAME}" "JAVA=${JAVA_BIN}" "ENV_FILE=${ENV_FILE}" \
    | put_setting "${UNIT_FILE}" root root 0644 "the service ${UNIT_NAME}"; then
    DAEMON_RELOAD=true
  fi
}

# WAR: Tomcat listening on 127.0.0.1 only, without its default apps; the context of this app.
step_tomcat() {
  [[ "${MODE}" == war ]] || return 0
  local extra
  for extra in "${DEBIAN_TOMCAT_EXTRAS[@]}"; do
    if dpkg-query -W -f '${db:Status-Status}' "${extra}" 2>/dev/null | grep -qx installed; then
      changed "remove ${extra} (Tomcat's manager, examples or docs: never on a production server)"
      run env DEBIAN_FRONTEND=noninteractive apt-get -q -y purge "${extra}" >>"${TMP_DIR}/apt.log" 2>&1
    fi
  done
  if [[ -d "${TOMCAT_WEBAPPS}/ROOT" ]]; then
    changed "remove Tomcat's default ROOT application (${TOMCAT_WEBAPPS}/ROOT)"
    run rm -rf -- "${TOMCAT_WEBAPPS:?}/ROOT"
    RESTART=true
  fi
  if [[ -f "${TOMCAT_CONF}/server.xml" && ! -f "${TOMCAT_CONF}/server.xml.tssr-kit-orig" ]] \
    && ! grep -q 'deploy-java.sh' "${TOMCAT_CONF}/server.xml"; then
    changed "keep the distribution's server.xml as ${TOMCAT_CONF}/server.xml.tssr-kit-orig"
    run cp -p -- "${TOMCAT_CONF}/server.xml" "${TOMCAT_CONF}/server.xml.tssr-kit-orig"
  fi
  local group=root
  [[ "${DRY_RUN}" == true ]] && ! getent group tomcat >/dev/null || group=tomcat
  render tomcat-server.xml.tmpl "PORT=${TOMCAT_PORT}" \
    | put_setting "${TOMCAT_CONF}/server.xml" root "${group}" 0640 "Tomcat's server.xml (127.0.0.1:${TOMCAT_PORT} only)" || true
  printf '# Written by deploy-java.sh: the Java runtime and JVM options of %s.\nJAVA_HOME=%s\nJAVA_OPTS=%s\n' \
    "${TOMCAT_SERVICE}" "${JAVA_HOME_DIR}" "$(jvm_options)" \
    | put_setting "${TOMCAT_ENV}" root root 0644 "Tomcat's Java runtime and JVM options" || true
  if render tomcat-override.conf.tmpl "SERVICE=${TOMCAT_SERVICE}" "ENV_FILE=${TOMCAT_ENV}" \
    | put_setting "/etc/systemd/system/${TOMCAT_SERVICE}.service.d/tssr-kit.conf" root root 0644 \
      "the drop-in of ${TOMCAT_SERVICE}.service"; then
    DAEMON_RELOAD=true
  fi
  render tomcat-context.xml.tmpl "NAME=${NAME}" "CONTEXT=${CONTEXT}" \
    | put_setting "${CONTEXT_FILE}" root "${group}" 0644 "the context ${CONTEXT} of ${NAME}" || true
}

# The release: the archive copied to /opt/NAME/releases/VERSION (new), then `current` switched.
step_release() {
  local current
  current="$(current_link_target "${APP_DIR}")"
  RELEASE="${VERSION}"
  if [[ "${current}" == "${VERSION}" && -f "${APP_DIR}/releases/${VERSION}/app.${MODE}" ]]; then
    info "release ${VERSION} is already the current one"
    return 0
  fi
  PREVIOUS="${current}"
  if [[ -d "${APP_DIR}/releases/${VERSION}" ]]; then
    changed "switch ${NAME} to its release ${VERSION} (already on the host)${current:+ from ${current}}"
  else
    changed "release ${VERSION}: copy the ${MODE} to ${APP_DIR}/releases/${VERSION}, switch current to it${current:+ (from ${current})}"
  fi
  [[ "${DRY_RUN}" == false ]] || return 0
  if [[ ! -d "${APP_DIR}/releases/${VERSION}" ]]; then
    local incoming="${APP_DIR}/releases/.incoming-${VERSION}"
    rm -rf -- "${incoming}"
    mkdir -m 0755 -- "${incoming}"
    install -o root -g root -m 0644 -- "${SOURCE}" "${incoming}/app.${MODE}"
    mv -T -- "${incoming}" "${APP_DIR}/releases/${VERSION}"
    NEW_RELEASE_DIR="${APP_DIR}/releases/${VERSION}"
  fi
  touch -- "${APP_DIR}/releases/${VERSION}"       # newest: what a rollback goes back from
  PENDING=true
  switch_link "${APP_DIR}" "${VERSION}"
  RESTART=true
}

# The unit that runs the application.
service_unit() {
  if [[ "${MODE}" == jar ]]; then printf '%s' "${UNIT_NAME}"; else printf '%s.service' "${TOMCAT_SERVICE}"; fi
}

# (Re)start the service when something changed, then check: started, not crashing, answering 200.
step_start() {
  local unit
  unit="$(service_unit)"
  if [[ "${DAEMON_RELOAD}" == true ]]; then
    run systemctl daemon-reload
  fi
  if [[ "$(systemctl is-enabled "${unit}" 2>/dev/null)" != enabled ]]; then
    changed "enable ${unit} at boot"
    run systemctl enable --quiet "${unit}"
  fi
  if [[ "${RESTART}" == false ]] && systemctl is-active --quiet "${unit}"; then
    return 0
  fi
  if [[ "${RESTART}" == true ]] && systemctl is-active --quiet "${unit}"; then
    changed "restart ${unit}"
  else
    changed "start ${unit}"
  fi
  [[ "${DRY_RUN}" == false ]] || return 0
  restart_service "${unit}"
  HEALTH_CHECKED=true
  if ! wait_healthy "${unit}"; then
    local reason="${HEALTH_FAILURE}"
    undo_pending "${reason}"
    die 1 "${reason}; ${ROLLBACK_NOTE}"
  fi
  PENDING=false
  NEW_RELEASE_DIR=""
  web_commit
}

# Arguments: the unit. Sets RESTARTS_BEFORE (the unit's automatic restarts so far).
RESTARTS_BEFORE=0
restart_service() {
  local unit="$1" active sub status
  systemctl reset-failed "${unit}" 2>/dev/null || true
  read -r active sub RESTARTS_BEFORE status < <(unit_state "${unit}")
  # Tomcat compiles the JSPs of a context into its work folder: a new release starts from scratch.
  if [[ "${MODE}" == war && -n "${CONTEXT_NAME:-}" ]]; then
    rm -rf -- "${TOMCAT_WORK:?}/${CONTEXT_NAME:?}"
  fi
  systemctl restart "${unit}" || true
}

# The unit's state as "ActiveState SubState NRestarts ExecMainStatus".
unit_state() {
  systemctl show -p ActiveState -p SubState -p NRestarts -p ExecMainStatus "$1" 2>/dev/null \
    | awk -F= '{v[$1] = $2} END {print v["ActiveState"], v["SubState"], v["NRestarts"] + 0, v["ExecMainStatus"] + 0}'
}

#######################################
# Wait until HEALTH_PATH answers 200 through Apache, at most HEALTH_TIMEOUT seconds; fail at once
# when the service exits (a jar that crashes at start). Sets HEALTH_FAILURE on failure.
#######################################
HEALTH_FAILURE=""
wait_healthy() {
  local unit="$1" deadline code="" active sub restarts status
  deadline=$((SECONDS + HEALTH_TIMEOUT))
  while ((SECONDS < deadline)); do
    read -r active sub restarts status < <(unit_state "${unit}")
    if [[ "${active}" == failed || "${sub}" == auto-restart || "${active}" == inactive ]] || ((restarts > RESTARTS_BEFORE)); then
      HEALTH_FAILURE="${unit} did not stay up: it exited with status ${status} (${active}/${sub}); see journalctl -u ${unit}"
      journalctl -u "${unit}" -n 8 --no-pager -o cat 2>/dev/null | sed 's/^/  journal: /' >&2 || true
      return 1
    fi
    if [[ "${active}" == active ]]; then
      code="$(health_code)"
      if [[ "${code}" == 200 ]]; then
        info "health check: https://${DOMAIN}${HEALTH_PATH} answered 200"
        return 0
      fi
    fi
    sleep 1
  done
  HEALTH_FAILURE="the health check of https://${DOMAIN}${HEALTH_PATH} answered ${code:-nothing} (200 expected) for ${HEALTH_TIMEOUT} s"
  return 1
}

#######################################
# Undo what this run changed in the service's settings, the web front (vhost, certificate) and the
# release, restart what was there, and say where that left the application. Sets ROLLED_BACK,
# FAILED_RELEASE, RELEASE, ROLLBACK_NOTE.
#######################################
ROLLBACK_NOTE=""
undo_pending() {
  local reason="$1" unit
  PENDING=false
  unit="$(service_unit)"
  warn "${reason}: putting back the previous release and settings"
  settings_put_back || true
  # The vhost too (a new --port or --domain): Apache must lead to the release that runs again.
  web_undo
  if [[ "${RELEASE}" != "${PREVIOUS}" || -n "${NEW_RELEASE_DIR}" ]]; then
    switch_link "${APP_DIR}" "${PREVIOUS}"
    FAILED_RELEASE="${RELEASE}"
    RELEASE="${PREVIOUS}"
    PREVIOUS=""
  fi
  if [[ -n "${NEW_RELEASE_DIR}" ]]; then
    rm -rf -- "${NEW_RELEASE_DIR}"
    NEW_RELEASE_DIR=""
  fi
  ROLLED_BACK=true
  systemctl daemon-reload || true
  if [[ -z "${RELEASE}" ]]; then
    # The first deploy failed: nothing of it runs.
    if [[ "${MODE}" == jar ]]; then
      systemctl disable --now --quiet "${unit}" 2>/dev/null || true
      systemctl reset-failed "${unit}" 2>/dev/null || true
    else
      restart_service "${unit}"
    fi
    ROLLBACK_NOTE="this was the first release of ${NAME}: nothing of it is left running"
    return 0
  fi
  restart_service "${unit}"
  if with_remembered_site wait_healthy "${unit}"; then
    ROLLBACK_NOTE="back on ${RELEASE}, which answers"
  else
    ROLLBACK_NOTE="back on ${RELEASE}, which does not answer either (${HEALTH_FAILURE})"
  fi
}

step_rollback() {
  changed "roll back ${NAME}: current from ${PREVIOUS} to ${RELEASE}"
  [[ "${DRY_RUN}" == false ]] || return 0
  local unit from="${PREVIOUS}" to="${RELEASE}"
  unit="$(service_unit)"
  switch_link "${APP_DIR}" "${to}"
  restart_service "${unit}"
  HEALTH_CHECKED=true
  if ! wait_healthy "${unit}"; then
    local reason="${HEALTH_FAILURE}"
    switch_link "${APP_DIR}" "${from}"
    restart_service "${unit}"
    ROLLED_BACK=true
    FAILED_RELEASE="${to}"
    RELEASE="${from}"
    PREVIOUS=""
    die 1 "the rollback to ${to} failed (${reason}): back on ${from}"
  fi
}

step_prune() {
  local -a releases
  mapfile -t releases < <(releases_newest_first)
  prune_releases "${APP_DIR}" "${KEEP}" "${RELEASE}" "${releases[@]}"
}

# What a rollback needs later, and the uid of the account the kit made (not a change of the system's
# behaviour, so not counted).
step_remember() {
  [[ "${DRY_RUN}" == false ]] || return 0
  [[ "${MODE}" != jar ]] || remember_app_account "${APP_USER}" "${STATE_DIR}/account"
  remember domain "${DOMAIN}"
  remember health "${HEALTH_PATH}"
  remember context "${CONTEXT}"
  remember port "${PORT}"
  remember java "${JAVA_VERSION}"
}

#######################################
# Main
#######################################
main() {
  trap cleanup EXIT
  trap 'on_error "${LINENO}" "${BASH_COMMAND}"' ERR
  trap on_interrupt INT TERM
  parse_args "$@"
  require_root
  detect_os_family
  validate_mode
  validate_name
  validate_options
  validate_domain
  validate_env_file
  validate_source
  report_errors
  TMP_DIR="$(mktemp -d /tmp/tssr-deploy-java.XXXXXXXX)"
  load_family
  take_lock
  if [[ "${ROLLBACK}" == true ]]; then
    validate_rollback_target
    load_family
    step_rollback
    step_prune
  else
    validate_tls
    validate_vhost_domain
    validate_vhost_owner
    validate_host
    report_errors
    info "deploying ${NAME} (${MODE}, Java ${JAVA_VERSION}) to https://${DOMAIN}$(site_path) (${OS_FAMILY} family)$([[ "${DRY_RUN}" == true ]] && printf ', dry run')"
    step_packages
    step_firewall
    step_app_user
    step_app_folders
    step_tls
    step_apache "${NAME}"
    step_tomcat
    step_service_settings
    step_release
    step_start
    step_prune
    step_remember
    if [[ "${DRY_RUN}" == false && "${HEALTH_CHECKED}" == false ]] && ! health_ok; then
      die 1 "the application was not restarted, and https://${DOMAIN}${HEALTH_PATH} does not answer 200 (what this run changed in Apache goes back)"
    fi
    web_commit
  fi
  ((CHANGES == 0)) || info "$([[ "${DRY_RUN}" == true ]] && printf 'planned' || printf 'made') ${CHANGES} change(s)"
  finish "nothing to change: ${NAME} is up to date"
}

main "$@"
