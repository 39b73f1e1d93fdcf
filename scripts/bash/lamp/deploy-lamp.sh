#!/usr/bin/env bash
#
# deploy-lamp.sh - put a PHP + MariaDB application into production with Apache, secured and checked.
#
# Usage:
#   deploy-lamp.sh [options] --app PATH
#   deploy-lamp.sh [options] --rollback --name NAME
#
#       --app PATH        the application: a directory or a tarball (.tar, .tar.gz, .tgz); a tarball
#                         holding one top folder is read from inside it
#       --name NAME       the application's name: its database, database user, runtime user app-NAME,
#                         PHP-FPM pool, vhost and folder /srv/lamp/NAME; ^[a-z][a-z0-9_]{0,15}$
#                         (default: from the app path: parc-v1.tar.gz -> parc)
#       --schema FILE     SQL applied to the app's database once per content (SHA-256 recorded)
#       --domain NAME     the site's name, ServerName of the vhost (default: hostname -f)
#       --cert FILE       PEM certificate for the domain, with --key; default: a self-signed one,
#       --key FILE        generated once and kept
#       --health PATH     path that must answer HTTP 200 over HTTPS after the switch (default /)
#       --keep N          releases kept, the current one included (default 5, at least 2)
#       --data-dir DIR    app folder the app may write, kept across releases (repeatable)
#       --rollback        switch back to the release before the current one, and check it
#       --templates DIR   where the templates are (default: templates/ beside this script)
#   -n, --dry-run         validate everything, print the plan, change nothing
#   -q, --quiet           narrate only changes and errors
#   -h, --help            print this help
#
# Everything is checked before the first change. Full reference: docs/reference/deploy-lamp.md.
#
# Examples:
#   sudo ./deploy-lamp.sh --dry-run --app parc-v1 --schema parc-v1/schema.sql --domain parc.example.org
#   sudo ./deploy-lamp.sh --app parc-v1 --schema parc-v1/schema.sql --domain parc.example.org
#   sudo ./deploy-lamp.sh --app parc-2.0.tar.gz --name parc --domain parc.example.org \
#        --cert /root/parc.crt --key /root/parc.key --health /health.php --data-dir public/uploads
#   sudo ./deploy-lamp.sh --rollback --name parc
#
# Exit codes:
#   0  success (changes made, or nothing to do)
#   1  runtime failure: a command failed, the Apache or PHP-FPM configuration check failed (the
#      previous configuration is back), or the health check failed (the previous release is back)
#   2  usage or validation error: nothing was changed
#   3  another run holds the lock /run/lock/tssr-kit-deploy-lamp.lock
#
# Output: narration on stderr; the last line on stdout is one JSON object, for example
#   {"script": "deploy-lamp", "status": "changed", "changed": 14, "url": "https://parc.example.org/", ...}
#
# What it changes on the system: installs Apache, MariaDB, PHP-FPM, the firewall (nftables or
# firewalld), openssl and curl; writes the vhost, a server-wide hardening conf, a PHP ini, the app's
# PHP-FPM pool, a MariaDB conf, the firewall rules; secures MariaDB (no anonymous user, no remote
# root, no test database, root by unix socket only) and creates the app's database and user;
# creates the system user app-NAME; /srv/lamp/NAME (releases, current, shared), the app's database
# settings /etc/tssr-kit/lamp/NAME/database.ini, root-only state in /var/lib/tssr-kit/lamp/NAME,
# the certificate in /etc/ssl/tssr-kit; one syslog entry per change (tag tssr-deploy-lamp).
#
# Supported OS families: debian (Debian 12, 13; Ubuntu) and redhat (RHEL, Rocky, AlmaLinux 9).
# Needs: bash 4.4+, GNU coreutils, findutils and tar, util-linux (flock, logger), root.

set -Eeuo pipefail
export LC_ALL=C
# Bash 5.2 would read "&" in the replacement of ${var//pattern/replacement} as the match: not here.
shopt -u patsub_replacement 2>/dev/null || true
# `render … | put_file …`: the last command of a pipeline runs in this shell, so its count stays.
shopt -s lastpipe

# The building blocks shared with the other deploy scripts: lib/ beside this script (as uploaded by
# inv and the role) or ../lib (as in the repository, scripts/bash/lib).
# (dirname, not ${BASH_SOURCE[0]%/*}: run as `bash deploy.sh`, the path has no slash.)
TSSR_HERE="$(dirname -- "${BASH_SOURCE[0]}")"
for TSSR_LIB in "${TSSR_HERE}/lib" "${TSSR_HERE}/../lib" ""; do
  [[ ! -f "${TSSR_LIB}/common.sh" ]] || break
done
[[ -n "${TSSR_LIB}" ]] || {
  printf 'error: lib/common.sh not found beside %s or in ../lib\n' "${BASH_SOURCE[0]}" >&2
  exit 1
}
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TSSR_LIB}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/web.sh
. "${TSSR_LIB}/web.sh"

#######################################
# Constants
#######################################
readonly SCRIPT_NAME=deploy-lamp
readonly LOCK_FILE=/run/lock/tssr-kit-deploy-lamp.lock
readonly SYSLOG_TAG=tssr-deploy-lamp
readonly APPS_ROOT=/srv/lamp
readonly CONFIG_ROOT=/etc/tssr-kit/lamp
readonly STATE_ROOT=/var/lib/tssr-kit/lamp
readonly TLS_DIR=/etc/ssl/tssr-kit
readonly NAME_RE='^[a-z][a-z0-9_]{0,15}$'
readonly DATA_DIR_RE='^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$'
readonly HEALTH_RE='^/[A-Za-z0-9._~/?=&%+-]*$'
readonly DB_PRIVILEGES='SELECT, INSERT, UPDATE, DELETE, CREATE TEMPORARY TABLES, LOCK TABLES'
readonly PASSWORD_LENGTH=32
readonly HEALTH_TRIES=10
readonly HEALTH_DELAY=0.5

# The names that differ between the two families: one table, read by load_family.
readonly DEBIAN_PACKAGES=(apache2 mariadb-server php-fpm php-mysql nftables openssl curl)
readonly REDHAT_PACKAGES=(httpd mod_ssl mariadb-server php-fpm php-mysqlnd firewalld openssl curl
  policycoreutils-python-utils)
readonly APACHE_MODULES=(ssl headers proxy_fcgi setenvif rewrite)

#######################################
# Settings (from the command line)
#######################################
APP_SRC=""
NAME=""
SCHEMA=""
DOMAIN=""
CERT_SRC=""
KEY_SRC=""
HEALTH_PATH="/"
HEALTH_GIVEN=false
KEEP=5
DATA_DIRS=()
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
STAGE=""                 # the release being prepared (in TMP_DIR)
INCOMING=""              # its copy under releases/ until it is renamed into place
APACHE_BACKUP=""         # a tar of the Apache configuration while a change is being checked
TLS_BACKUP=""            # the certificate and key being replaced, until Apache's check passes
FAILED_RELEASE=""        # a release whose health check failed (removed)
UNCHECKED_SWITCH=""      # "previous|new" while current points at a release not yet checked
OS_FAMILY=""
OS_VERSION=""
RELEASE=""
PREVIOUS=""
ROLLED_BACK=false
HEALTH_CHECKED=false
DOMAIN_GIVEN=false
PHP_VERSION=""
DB_STATE=""              # what mariadb_state found
DOCROOT_SUB=""           # "public" or "" (the release folder itself)

#######################################
# Narration and errors
#######################################
usage() {
  sed -n '3,/^# Needs:/{s/^# \{0,1\}//;p}' "$0"
}

on_interrupt() {
  trap - INT TERM
  undo_unchecked_switch
  die 1 "interrupted"
}

# Stopped between the switch and the end of its check: the previous release goes back.
undo_unchecked_switch() {
  [[ -n "${UNCHECKED_SWITCH}" ]] || return 0
  local previous="${UNCHECKED_SWITCH%%|*}" new="${UNCHECKED_SWITCH#*|}"
  UNCHECKED_SWITCH=""
  switch_to "${previous}" || true
  rm -rf -- "${APP_DIR:?}/releases/${new:?}"
  printf 'error: stopped before %s was checked: back on %s\n' "${new}" "${previous:-no release}" >&2
  ROLLED_BACK=true
  FAILED_RELEASE="${new}"
  RELEASE="${previous}"
  PREVIOUS=""
}

cleanup() {
  web_cleanup
  undo_unchecked_switch
  if [[ -n "${INCOMING}" && -e "${INCOMING}" ]]; then
    rm -rf -- "${INCOMING}"
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
  local status="$1" error="${2:-}" url=""
  [[ -n "${DOMAIN}" ]] && url="https://${DOMAIN}/"
  printf '{"script": "%s", "status": "%s", "changed": %d, "dry_run": %s, "name": %s, "domain": %s, ' \
    "${SCRIPT_NAME}" "${status}" "${CHANGES}" "${DRY_RUN}" "$(json_or_null "${NAME}")" \
    "$(json_or_null "${DOMAIN}")"
  printf '"url": %s, "release": %s, "previous": %s, "rolled_back": %s, "os_family": %s' \
    "$(json_or_null "${url}")" "$(json_or_null "${RELEASE}")" "$(json_or_null "${PREVIOUS}")" \
    "${ROLLED_BACK}" "$(json_or_null "${OS_FAMILY}")"
  if [[ -n "${FAILED_RELEASE}" ]]; then
    printf ', "failed_release": %s' "$(json_quote "${FAILED_RELEASE}")"
  fi
  if [[ -n "${error}" ]]; then
    printf ', "error": %s' "$(json_quote "${error}")"
  fi
  printf '}\n'
}

parse_args() {
  while (($#)); do
    case "$1" in
      --app) need_value "$1" $#; APP_SRC="$2"; shift 2 ;;
      --name) need_value "$1" $#; NAME="$2"; shift 2 ;;
      --schema) need_value "$1" $#; SCHEMA="$2"; shift 2 ;;
      --domain) need_value "$1" $#; DOMAIN="$2"; shift 2 ;;
      --cert) need_value "$1" $#; CERT_SRC="$2"; shift 2 ;;
      --key) need_value "$1" $#; KEY_SRC="$2"; shift 2 ;;
      --health) need_value "$1" $#; HEALTH_PATH="$2"; HEALTH_GIVEN=true; shift 2 ;;
      --keep) need_value "$1" $#; KEEP="$2"; shift 2 ;;
      --data-dir) need_value "$1" $#; DATA_DIRS+=("$2"); shift 2 ;;
      --templates) need_value "$1" $#; TEMPLATES="$2"; shift 2 ;;
      --rollback) ROLLBACK=true; shift ;;
      -n | --dry-run) DRY_RUN=true; shift ;;
      -q | --quiet) QUIET=true; shift ;;
      -h | --help) usage; exit 0 ;;
      --) shift; (($# == 0)) || usage_error "unexpected argument: $1" ;;
      -*) usage_error "unknown option: $1" ;;
      *) usage_error "unexpected argument: $1 (the app is given with --app)" ;;
    esac
  done
  if [[ -z "${TEMPLATES}" ]]; then
    TEMPLATES="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)/templates"
  fi
}

validate_name() {
  if [[ -z "${NAME}" ]]; then
    if [[ -n "${APP_SRC}" ]]; then
      NAME="$(derive_name "${APP_SRC}")"
      if [[ ! "${NAME}" =~ ${NAME_RE} ]]; then
        add_error "--name: cannot make an application name from '${APP_SRC}' (got '${NAME}'): give --name"
        NAME=""
      fi
    else
      add_error "--name: needed with --rollback when --app is not given"
    fi
  elif [[ ! "${NAME}" =~ ${NAME_RE} ]]; then
    add_error "--name: '${NAME}' is not a valid name: 1 to 16 characters, a lower-case letter then lower-case letters, digits or _"
    NAME=""
  fi
}

validate_options() {
  if [[ ! "${KEEP}" =~ ^[0-9]+$ ]] || ((10#${KEEP} < 2 || 10#${KEEP} > 100)); then
    add_error "--keep: '${KEEP}' is not a number from 2 to 100 (the current release and at least one to go back to)"
  else
    KEEP=$((10#${KEEP}))
  fi
  if [[ ! "${HEALTH_PATH}" =~ ${HEALTH_RE} ]]; then
    add_error "--health: '${HEALTH_PATH}' must be a URL path starting with / (letters, digits and ._~/?=&%+-)"
  fi
  local dir
  for dir in "${DATA_DIRS[@]}"; do
    if [[ ! "${dir}" =~ ${DATA_DIR_RE} ]]; then
      add_error "--data-dir: '${dir}' must be a relative folder of the app (letters, digits, ._-; no .., no leading /)"
    fi
  done
  if [[ -n "${CERT_SRC}" && -z "${KEY_SRC}" ]] || [[ -z "${CERT_SRC}" && -n "${KEY_SRC}" ]]; then
    add_error "--cert and --key go together: give both, or neither for a self-signed certificate"
  fi
  if [[ ! -d "${TEMPLATES}" ]]; then
    add_error "--templates: '${TEMPLATES}' is not a folder (the templates are shipped beside the script)"
  fi
  if [[ "${ROLLBACK}" == true ]]; then
    [[ -z "${SCHEMA}" ]] || add_error "--schema: a rollback applies no schema"
  elif [[ -z "${APP_SRC}" ]]; then
    add_error "--app: missing (the application's folder or tarball)"
  fi
}

validate_schema() {
  [[ -n "${SCHEMA}" ]] || return 0
  if [[ ! -f "${SCHEMA}" ]]; then
    add_error "--schema: '${SCHEMA}' is not a file"
  elif [[ ! -r "${SCHEMA}" ]]; then
    add_error "--schema: '${SCHEMA}' cannot be read"
  fi
}

# A symbolic link inside the app must stay inside the app: relative, and never above its folder.
link_stays_inside() {
  local link="$1" target="$2" depth part
  local -a parts
  [[ "${target}" != /* ]] || return 1
  depth="$(printf '%s' "${link}" | tr -cd '/' | wc -c)"   # folders above the link, from ./a/b/link
  depth=$((depth - 1))
  IFS=/ read -r -a parts <<<"${target}"
  for part in "${parts[@]}"; do
    case "${part}" in
      '' | .) ;;
      ..) depth=$((depth - 1)); ((depth >= 0)) || return 1 ;;
      *) depth=$((depth + 1)) ;;
    esac
  done
}

# Check the staged app tree: regular files, folders and links that stay inside, nothing else.
check_tree() {
  local root="$1" origin="$2" path target
  while IFS= read -r -d '' path; do
    add_error "--app: ${origin}: '${path#./}' is not a regular file, folder or link (devices, pipes and sockets are refused)"
  done < <(cd -- "${root}" && find . ! -type f ! -type d ! -type l -print0)
  while IFS= read -r -d '' path; do
    target="$(readlink -- "${root}/${path}")"
    link_stays_inside "${path}" "${target}" \
      || add_error "--app: ${origin}: the link '${path#./}' points outside the app ('${target}')"
  done < <(cd -- "${root}" && find . -type l -print0)
}

# Check a tarball's member names, then extract it into the stage.
unpack_tarball() {
  local tarball="$1" member
  local -a members
  if ! mapfile -t members < <(tar --quoting-style=escape -tf "${tarball}" 2>/dev/null) \
    || ! tar -tf "${tarball}" >/dev/null 2>&1; then
    add_error "--app: '${tarball}' is not a readable tar archive"
    return 0
  fi
  local bad=false
  for member in "${members[@]}"; do
    if [[ "${member}" == /* || "/${member}/" == */../* ]]; then
      add_error "--app: '${tarball}': the member '${member}' would land outside the app (absolute or ..)"
      bad=true
    fi
  done
  [[ "${bad}" == false ]] || return 0
  if ! tar --no-same-owner --no-same-permissions --delay-directory-restore \
    -xf "${tarball}" -C "${STAGE}" 2>"${TMP_DIR}/tar.err"; then
    add_error "--app: '${tarball}' could not be unpacked: $(head -n 1 "${TMP_DIR}/tar.err")"
    return 0
  fi
  # One top folder (parc-1.0/...): the app is what it holds.
  local -a top
  mapfile -t top < <(find "${STAGE}" -mindepth 1 -maxdepth 1)
  if ((${#top[@]} == 1)) && [[ -d "${top[0]}" && ! -L "${top[0]}" ]]; then
    local inner="${TMP_DIR}/inner"
    mv -- "${top[0]}" "${inner}"
    rmdir -- "${STAGE}"
    mv -- "${inner}" "${STAGE}"
  fi
}

#######################################
# Copy the app into TMP_DIR/release (the stage), owned by root, read-only for everyone else.
#######################################
stage_app() {
  STAGE="${TMP_DIR}/release"
  mkdir -m 0755 -- "${STAGE}"
  if [[ -d "${APP_SRC}" ]]; then
    if [[ ! -r "${APP_SRC}" || ! -x "${APP_SRC}" ]]; then
      add_error "--app: '${APP_SRC}' cannot be read"
      return 0
    fi
    cp -R --no-preserve=ownership -- "${APP_SRC}/." "${STAGE}/"
  elif [[ -f "${APP_SRC}" ]]; then
    case "${APP_SRC}" in
      *.tar | *.tar.gz | *.tgz) unpack_tarball "${APP_SRC}" ;;
      *) add_error "--app: '${APP_SRC}' is neither a folder nor a .tar, .tar.gz or .tgz file"; return 0 ;;
    esac
  else
    add_error "--app: '${APP_SRC}' does not exist"
    return 0
  fi
  ((${#ERRORS[@]} == 0)) || return 0
  check_tree "${STAGE}" "${APP_SRC}"
  if [[ -z "$(find "${STAGE}" -mindepth 1 -maxdepth 1 -print -quit)" ]]; then
    add_error "--app: '${APP_SRC}' is empty"
  fi
  ((${#ERRORS[@]} == 0)) || return 0
  local dir
  for dir in "${DATA_DIRS[@]}"; do
    if [[ -e "${STAGE}/${dir}" && ! -d "${STAGE}/${dir}" ]] || [[ -L "${STAGE}/${dir}" ]]; then
      add_error "--data-dir: '${dir}' is a file or a link in the app, not a folder"
    fi
  done
  ((${#ERRORS[@]} == 0)) || return 0
  for dir in "${DATA_DIRS[@]}"; do
    rm -rf -- "${STAGE:?}/${dir}"
    mkdir -p -- "$(dirname -- "${STAGE}/${dir}")"
    ln -s -- "${APPS_ROOT}/${NAME}/shared/${dir}" "${STAGE}/${dir}"
  done
  normalize_tree "${STAGE}"
  if [[ -d "${STAGE}/public" ]]; then DOCROOT_SUB=public; else DOCROOT_SUB=""; fi
}

normalize_tree() {
  chown -R -h 0:0 -- "$1"
  find "$1" -type d -exec chmod 0755 {} +
  find "$1" -type f -perm /111 -exec chmod 0755 {} +
  find "$1" -type f ! -perm /111 -exec chmod 0644 {} +
}

# The first 12 hex digits of the SHA-256 of a tree: names, types, modes, link targets, contents.
tree_hash() {
  (
    cd -- "$1"
    find . -printf '%y %m %p -> %l\n' | sort
    find . -type f -print0 | sort -z | xargs -0 -r sha256sum
  ) | sha256sum | cut -c1-12
}

validate_rollback_target() {
  local app_dir="${APPS_ROOT}/${NAME}" current
  if [[ ! -L "${app_dir}/current" ]]; then
    die 1 "--rollback: ${NAME} has no current release on this host (${app_dir}/current)"
  fi
  current="$(basename -- "$(readlink -- "${app_dir}/current")")"
  PREVIOUS="${current}"
  RELEASE="$(find "${app_dir}/releases" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%f\n' \
    | sort | awk -v cur="${current}" '$0 < cur' | tail -n 1)"
  if [[ -z "${RELEASE}" ]]; then
    die 1 "--rollback: no release of ${NAME} older than ${current} is left to go back to"
  fi
  local now_public=false then_public=false
  [[ -d "${app_dir}/releases/${current}/public" ]] && now_public=true
  [[ -d "${app_dir}/releases/${RELEASE}/public" ]] && then_public=true
  if [[ "${now_public}" != "${then_public}" ]]; then
    die 1 "--rollback: ${RELEASE} and ${current} have different document roots (public/ or not): deploy the old version with --app instead"
  fi
  if [[ "${DOMAIN_GIVEN}" == false && -f "${STATE_ROOT}/${NAME}/domain" ]]; then
    DOMAIN="$(<"${STATE_ROOT}/${NAME}/domain")"
  fi
  if [[ "${HEALTH_GIVEN}" == false && -f "${STATE_ROOT}/${NAME}/health" ]]; then
    HEALTH_PATH="$(<"${STATE_ROOT}/${NAME}/health")"
  fi
  return 0
}

# Paths and names of the family (the second half of the table above). PHP's version is known only
# once php-fpm is installed (Debian keeps one folder per version).
load_family() {
  if [[ "${OS_FAMILY}" == debian ]]; then
    PACKAGES=("${DEBIAN_PACKAGES[@]}")
    APACHE_SERVICE=apache2
    APACHE_CONF_DIR=/etc/apache2
    VHOST_FILE="/etc/apache2/sites-available/tssr-${NAME}.conf"
    SECURITY_CONF=/etc/apache2/conf-available/tssr-kit-security.conf
    LOG_DIR=/var/log/apache2
    WEB_USER=www-data
    WEB_GROUP=www-data
    DB_CONF=/etc/mysql/mariadb.conf.d/99-tssr-kit.cnf
    DB_SOCKET=/run/mysqld/mysqld.sock
    FPM_SOCKET="/run/php/app-${NAME}.sock"
    NOLOGIN=/usr/sbin/nologin
    PHP_VERSION="$(find /etc/php -mindepth 2 -maxdepth 2 -name fpm -printf '%h\n' 2>/dev/null \
      | xargs -r -n1 basename | sort -V | tail -n 1 || true)"
    local version="${PHP_VERSION:-X.Y}"
    FPM_SERVICE="php${version}-fpm"
    FPM_BINARY="php-fpm${version}"
    FPM_POOL="/etc/php/${version}/fpm/pool.d/${NAME}.conf"
    PHP_INI="/etc/php/${version}/fpm/conf.d/99-tssr-kit.ini"
  else
    PACKAGES=("${REDHAT_PACKAGES[@]}")
    APACHE_SERVICE=httpd
    APACHE_CONF_DIR=/etc/httpd
    VHOST_FILE="/etc/httpd/conf.d/tssr-${NAME}.conf"
    SECURITY_CONF=/etc/httpd/conf.d/tssr-kit-security.conf
    LOG_DIR=/var/log/httpd
    WEB_USER=apache
    WEB_GROUP=apache
    DB_CONF=/etc/my.cnf.d/99-tssr-kit.cnf
    DB_SOCKET=/var/lib/mysql/mysql.sock
    FPM_SOCKET="/run/php-fpm/app-${NAME}.sock"
    NOLOGIN=/sbin/nologin
    PHP_VERSION="$(php-fpm -v 2>/dev/null | awk 'NR == 1 {print $2}' || true)"
    FPM_SERVICE=php-fpm
    FPM_BINARY=php-fpm
    FPM_POOL="/etc/php-fpm.d/${NAME}.conf"
    PHP_INI=/etc/php.d/99-tssr-kit.ini
  fi
  APP_DIR="${APPS_ROOT}/${NAME}"
  DB_CONFIG="${CONFIG_ROOT}/${NAME}/database.ini"
  STATE_DIR="${STATE_ROOT}/${NAME}"
  # One certificate per domain: a deploy that changes the domain and fails leaves the old pair intact.
  CERT_FILE="${TLS_DIR}/${DOMAIN}.crt"
  KEY_FILE="${TLS_DIR}/private/${DOMAIN}.key"
  APP_USER="app-${NAME}"
}

#######################################
# Small idempotent building blocks
#######################################

step_packages() {
  install_packages || return 0
  [[ "${DRY_RUN}" == true ]] || load_family       # the PHP version is known now
}

# The vhost: the shared frame around this script's site block (DocumentRoot, PHP through the pool).
render_vhost() {
  local site="${TMP_DIR}/vhost-site.conf"
  render vhost-site.conf.tmpl "NAME=${NAME}" "DOCROOT=${APP_DIR}/current${DOCROOT_SUB:+/${DOCROOT_SUB}}" \
    "APP_ROOT=${APP_DIR}" "FPM_SOCKET=${FPM_SOCKET}" >"${site}"
  render_vhost_frame "${site}" "SCRIPT=${SCRIPT_NAME}" "SITE_TEMPLATE=lamp/templates/vhost-site.conf.tmpl" \
    "NAME=${NAME}" "DOMAIN=${DOMAIN}" "CERT_FILE=${CERT_FILE}" "KEY_FILE=${KEY_FILE}" "LOG_DIR=${LOG_DIR}"
}

#######################################
# MariaDB
#######################################
mariadb_client() {
  if command -v mariadb >/dev/null; then mariadb "$@"; else mysql "$@"; fi
}

# Root's SQL through the unix socket; statements on stdin, tab-separated rows on stdout.
sql() {
  mariadb_client --protocol=socket --user=root --batch --skip-column-names "$@"
}

sql_quote() {
  printf "'%s'" "${1//\'/\'\'}"
}

# MariaDB's mysql_native_password hash: '*' and the upper-case hex SHA-1 of the binary SHA-1.
# The password goes through a pipe, never on a command line.
password_hash() {
  printf '*%s' "$(printf '%s' "$1" | openssl dgst -sha1 -binary | openssl dgst -sha1 -r \
    | cut -d' ' -f1 | tr 'a-f' 'A-F')"
}

step_mariadb() {
  local conf_changed=false
  if render mariadb.cnf.tmpl | put_file "${DB_CONF}" root root 0644 "MariaDB's settings"; then
    conf_changed=true
  fi
  ensure_service mariadb
  if [[ "${conf_changed}" == true ]] && systemctl is-active --quiet mariadb; then
    changed "restart MariaDB for its new settings"
    run systemctl restart mariadb
  fi
  if [[ "${DRY_RUN}" == true ]] && ! systemctl is-active --quiet mariadb; then
    changed "secure MariaDB (anonymous users, remote root, test database) and create the database ${NAME} and its user"
    return 0
  fi
  DB_STATE="$(mariadb_state)"
  secure_mariadb
  ensure_app_database
}

# What MariaDB holds that the steps below care about, in one query: "kind<TAB>value" rows.
mariadb_state() {
  sql <<SQL
SELECT 'anonymous', Host FROM mysql.user WHERE User = ''
UNION ALL SELECT 'remote-root', Host FROM mysql.user WHERE User = 'root' AND Host <> 'localhost'
UNION ALL SELECT 'test-db', SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'test'
UNION ALL SELECT 'test-grant', Db FROM mysql.db WHERE Db IN ('test', 'test\\_%')
UNION ALL SELECT 'app-db', SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${NAME}'
UNION ALL SELECT 'app-user', Host FROM mysql.user WHERE User = '${NAME}' AND Host = 'localhost';
SQL
}

secure_mariadb() {
  local kind value test_grants=false
  while IFS=$'\t' read -r kind value; do
    case "${kind}" in
      anonymous)
        changed "MariaDB: drop the anonymous user ''@'${value}'"
        run sql <<<"DROP USER IF EXISTS ''@$(sql_quote "${value}");" ;;
      remote-root)
        changed "MariaDB: drop the remote root account root@'${value}'"
        run sql <<<"DROP USER IF EXISTS 'root'@$(sql_quote "${value}");" ;;
      test-db)
        changed "MariaDB: drop the test database"
        run sql <<<"DROP DATABASE test;" ;;
      test-grant) test_grants=true ;;
    esac
  done <<<"${DB_STATE}"
  if [[ "${test_grants}" == true ]]; then
    changed "MariaDB: drop the grants on the test databases"
    run sql <<<"DELETE FROM mysql.db WHERE Db IN ('test', 'test\\_%'); FLUSH PRIVILEGES;"
  fi
  local root_auth
  root_auth="$(sql <<<"SHOW CREATE USER 'root'@'localhost';" 2>/dev/null || true)"
  if [[ "${root_auth}" != *"IDENTIFIED VIA unix_socket"* && "${root_auth}" != *"USING 'invalid' OR unix_socket"* ]]; then
    changed "MariaDB: root logs in through the unix socket only"
    run sql <<<"ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket;"
  fi
}

# The app's password: kept root-only in STATE_DIR; generated the first time, never shown.
app_password() {
  if [[ -s "${STATE_DIR}/db-password" ]]; then
    cat -- "${STATE_DIR}/db-password"
  else
    tr -dc 'A-Za-z0-9' </dev/urandom | head -c "${PASSWORD_LENGTH}" || true
  fi
}

# Does the password open the app user's account? (a defaults file in the private temp folder)
password_works() {
  local defaults="${TMP_DIR}/app.cnf"
  (
    umask 077
    printf '[client]\nuser=%s\npassword=%s\nsocket=%s\n' "${NAME}" "$1" "${DB_SOCKET}" >"${defaults}"
  )
  local ok=0
  mariadb_client --defaults-extra-file="${defaults}" --protocol=socket -e 'SELECT 1' >/dev/null 2>&1 || ok=1
  rm -f -- "${defaults}"
  return "${ok}"
}

ensure_app_database() {
  local db user password expected expected_plain grants
  db="\`${NAME}\`"
  user="'${NAME}'@'localhost'"
  if ! grep -q '^app-db' <<<"${DB_STATE}"; then
    changed "MariaDB: create the database ${NAME}"
    run sql <<<"CREATE DATABASE ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
  fi
  password="$(app_password)"
  ensure_dir "${STATE_ROOT}" root root 0700
  ensure_dir "${STATE_DIR}" root root 0700
  if [[ ! -s "${STATE_DIR}/db-password" ]]; then
    printf '%s\n' "${password}" | put_file "${STATE_DIR}/db-password" root root 0600 \
      "the generated database password (root only)" || true
  fi
  if ! grep -q '^app-user' <<<"${DB_STATE}"; then
    changed "MariaDB: create the user ${NAME}@localhost"
    run sql <<<"CREATE USER ${user} IDENTIFIED BY PASSWORD '$(password_hash "${password}")';"
  elif ! password_works "${password}"; then
    changed "MariaDB: set the password of ${NAME}@localhost to the stored one"
    run sql <<<"ALTER USER ${user} IDENTIFIED BY PASSWORD '$(password_hash "${password}")';"
  fi
  expected="GRANT ${DB_PRIVILEGES} ON \`${NAME//_/\\_}\`.* TO \`${NAME}\`@\`localhost\`"
  expected_plain="GRANT ${DB_PRIVILEGES} ON \`${NAME}\`.* TO \`${NAME}\`@\`localhost\`"
  grants="$(sql <<<"SHOW GRANTS FOR ${user};" 2>/dev/null | grep -v '^GRANT USAGE ON \*\.\*' || true)"
  if [[ "${grants}" != "${expected_plain}" && "${grants}" != "${expected}" ]]; then
    changed "MariaDB: ${NAME}@localhost may ${DB_PRIVILEGES} on ${NAME}.* and nothing else"
    run sql <<<"REVOKE ALL PRIVILEGES, GRANT OPTION FROM ${user}; GRANT ${DB_PRIVILEGES} ON ${db}.* TO ${user};"
  fi
  DB_PASSWORD="${password}"
}

step_schema() {
  [[ -n "${SCHEMA}" ]] || return 0
  local sum
  sum="$(sha256sum <"${SCHEMA}" | cut -d' ' -f1)"
  if [[ -f "${STATE_DIR}/schema-applied" ]] && grep -q "^${sum} " "${STATE_DIR}/schema-applied"; then
    info "schema $(basename -- "${SCHEMA}") already applied (sha256 ${sum:0:12})"
    return 0
  fi
  changed "apply the schema $(basename -- "${SCHEMA}") to the database ${NAME}"
  [[ "${DRY_RUN}" == false ]] || return 0
  if ! sql --database="${NAME}" <"${SCHEMA}" >&2; then
    die 1 "the schema $(basename -- "${SCHEMA}") failed on the database ${NAME} (statements before the failing one stay applied)"
  fi
  printf '%s %s %s\n' "${sum}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(basename -- "${SCHEMA}")" \
    >>"${STATE_DIR}/schema-applied"
  chmod 0600 -- "${STATE_DIR}/schema-applied"
}

#######################################
# The app's user, folders and database settings
#######################################
step_app_user() {
  if getent passwd "${APP_USER}" >/dev/null; then
    return 0
  fi
  changed "create the system user ${APP_USER} (no login) that runs ${NAME}'s PHP"
  run useradd --system --user-group --home-dir "${APP_DIR}" --no-create-home \
    --shell "${NOLOGIN}" --comment "tssr-kit LAMP app ${NAME}" "${APP_USER}"
}

step_app_folders() {
  local owner_group dir
  ensure_dir "${APPS_ROOT}" root root 0755
  ensure_dir "${APP_DIR}" root root 0755
  ensure_dir "${APP_DIR}/releases" root root 0755
  ensure_dir "${APP_DIR}/shared" root root 0755
  owner_group="${APP_USER}"
  [[ "${DRY_RUN}" == false ]] || getent passwd "${APP_USER}" >/dev/null || owner_group=root
  ensure_dir "${APP_DIR}/sessions" "${owner_group}" "${owner_group}" 0700
  for dir in "${DATA_DIRS[@]}"; do
    ensure_dir "${APP_DIR}/shared/${dir}" "${owner_group}" "${WEB_GROUP}" 2770
  done
  ensure_dir /etc/tssr-kit root root 0755
  ensure_dir "${CONFIG_ROOT}" root root 0755
  ensure_dir "${CONFIG_ROOT}/${NAME}" root "${owner_group}" 0750
  if [[ -n "${DB_PASSWORD:-}" ]]; then
    render database.ini.tmpl "NAME=${NAME}" "DB_SOCKET=${DB_SOCKET}" "DB_PASSWORD=${DB_PASSWORD}" \
      | put_file "${DB_CONFIG}" "${owner_group}" "${owner_group}" 0400 "${NAME}'s database settings" || true
  else
    changed "write ${NAME}'s database settings (${DB_CONFIG})"
  fi
  if command -v selinuxenabled >/dev/null && selinuxenabled; then
    step_selinux
  fi
}

# RedHat with SELinux: the web server may read the releases and write only the data folders.
step_selinux() {
  if ! semanage fcontext -l | grep -q "^${APPS_ROOT}(/.\*)?"; then
    changed "SELinux: label ${APPS_ROOT} as web content"
    run semanage fcontext -a -t httpd_sys_content_t "${APPS_ROOT}(/.*)?"
  fi
  local dir
  for dir in "${DATA_DIRS[@]}"; do
    if ! semanage fcontext -l | grep -qF "${APP_DIR}/shared/${dir}(/.*)?"; then
      changed "SELinux: label ${APP_DIR}/shared/${dir} as writable web content"
      run semanage fcontext -a -t httpd_sys_rw_content_t "${APP_DIR}/shared/${dir}(/.*)?"
    fi
  done
  run restorecon -R "${APPS_ROOT}"
}

#######################################
# PHP-FPM: the app's pool, checked by php-fpm -t before the reload.
#######################################
step_php() {
  local owner_group="${APP_USER}" any=false
  [[ "${DRY_RUN}" == false ]] || getent passwd "${APP_USER}" >/dev/null || owner_group=root
  local backup="${TMP_DIR}/fpm-backup"
  mkdir -p -- "${backup}"
  [[ ! -f "${FPM_POOL}" ]] || cp -p -- "${FPM_POOL}" "${backup}/pool"
  [[ ! -f "${PHP_INI}" ]] || cp -p -- "${PHP_INI}" "${backup}/ini"
  if render php.ini.tmpl | put_file "${PHP_INI}" root root 0644 "PHP's settings"; then any=true; fi
  if render fpm-pool.conf.tmpl "NAME=${NAME}" "FPM_SOCKET=${FPM_SOCKET}" "WEB_USER=${WEB_USER}" \
    "WEB_GROUP=${WEB_GROUP}" "DB_CONFIG=${DB_CONFIG}" "SESSION_DIR=${APP_DIR}/sessions" \
    | put_file "${FPM_POOL}" root root 0644 "${NAME}'s PHP-FPM pool (runs as ${APP_USER})"; then
    any=true
  fi
  if [[ "${DRY_RUN}" == false && "${any}" == true ]] && ! "${FPM_BINARY}" -t >/dev/null 2>"${TMP_DIR}/fpm.err"; then
    if [[ -f "${backup}/pool" ]]; then cp -p -- "${backup}/pool" "${FPM_POOL}"; else rm -f -- "${FPM_POOL}"; fi
    if [[ -f "${backup}/ini" ]]; then cp -p -- "${backup}/ini" "${PHP_INI}"; else rm -f -- "${PHP_INI}"; fi
    die 1 "PHP-FPM's check failed, the previous settings are back: $(tail -n 3 "${TMP_DIR}/fpm.err" | tr '\n' ' ')"
  fi
  ensure_service "${FPM_SERVICE}"
  if [[ "${any}" == true ]] && { [[ "${DRY_RUN}" == true ]] || systemctl is-active --quiet "${FPM_SERVICE}"; }; then
    changed "reload ${FPM_SERVICE}"
    run systemctl reload "${FPM_SERVICE}"
  fi
}

#######################################
# Release: copy, switch, check, roll back on failure, prune.
#######################################
current_release() {
  current_link_target "${APP_DIR}"
}

# Point current at a release (or remove it when empty), then reload PHP-FPM.
switch_to() {
  switch_link "${APP_DIR}" "$1"
  # PHP-FPM caches resolved paths (realpath cache, opcache): a graceful reload forgets them.
  systemctl reload "${FPM_SERVICE}"
}

step_release() {
  local hash current
  hash="$(tree_hash "${STAGE}")"
  current="$(current_release)"
  PREVIOUS="${current}"
  if [[ -n "${current}" && "${current##*-}" == "${hash}" && -d "${APP_DIR}/releases/${current}" ]]; then
    RELEASE="${current}"
    PREVIOUS=""
    info "release ${current} already holds this content"
    return 0
  fi
  RELEASE="$(date -u +%Y%m%dT%H%M%SZ)-${hash}"
  changed "release ${RELEASE}: copy the app, switch current to it${current:+ (from ${current})}, check https://${DOMAIN}${HEALTH_PATH}"
  [[ "${DRY_RUN}" == false ]] || return 0
  if [[ ! -d "${APP_DIR}/releases/${RELEASE}" ]]; then
    INCOMING="${APP_DIR}/releases/.incoming-${RELEASE}"
    cp -a -- "${STAGE}" "${INCOMING}"
    mv -T -- "${INCOMING}" "${APP_DIR}/releases/${RELEASE}"
    INCOMING=""
  fi
  [[ -n "${current}" ]] || PREVIOUS=""
  UNCHECKED_SWITCH="${current}|${RELEASE}"
  switch_to "${RELEASE}"
  HEALTH_CHECKED=true
  if health_ok; then
    UNCHECKED_SWITCH=""
  else
    UNCHECKED_SWITCH=""
    switch_to "${current}"
    rm -rf -- "${APP_DIR:?}/releases/${RELEASE:?}"
    ROLLED_BACK=true
    FAILED_RELEASE="${RELEASE}"
    RELEASE="${current}"
    PREVIOUS=""
    die 1 "the health check of ${FAILED_RELEASE} failed: ${current:+back on }${current:-no release is live (this was the first)}; ${FAILED_RELEASE} was removed"
  fi
}

step_rollback() {
  changed "roll back ${NAME}: current from ${PREVIOUS} to ${RELEASE}"
  [[ "${DRY_RUN}" == false ]] || return 0
  switch_to "${RELEASE}"
  if ! health_ok; then
    switch_to "${PREVIOUS}"
    ROLLED_BACK=true
    FAILED_RELEASE="${RELEASE}"
    RELEASE="${PREVIOUS}"
    PREVIOUS=""
    die 1 "the health check of ${FAILED_RELEASE} failed: back on ${RELEASE}"
  fi
}

step_prune() {
  local -a releases
  mapfile -t releases < <(find "${APP_DIR}/releases" -mindepth 1 -maxdepth 1 -type d ! -name '.*' \
    -printf '%f\n' 2>/dev/null | sort -r || true)
  prune_releases "${APP_DIR}" "${KEEP}" "${RELEASE}" "${releases[@]}"
}

# What a rollback needs later: the domain and the health path of the last deploy (not a change
# of the system's behaviour, so not counted).
step_remember() {
  [[ "${DRY_RUN}" == false ]] || return 0
  local key value
  for key in domain health; do
    value="${DOMAIN}"
    [[ "${key}" == domain ]] || value="${HEALTH_PATH}"
    if [[ ! -f "${STATE_DIR}/${key}" || "$(<"${STATE_DIR}/${key}")" != "${value}" ]]; then
      printf '%s\n' "${value}" >"${STATE_DIR}/${key}"
      chmod 0600 -- "${STATE_DIR}/${key}"
    fi
  done
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
  validate_options
  validate_name
  validate_domain
  validate_schema
  report_errors
  TMP_DIR="$(mktemp -d /tmp/tssr-deploy-lamp.XXXXXXXX)"
  load_family
  take_lock
  if [[ "${ROLLBACK}" == true ]]; then
    validate_rollback_target
    step_rollback
    step_prune
  else
    stage_app
    validate_tls
    validate_vhost_domain
    report_errors
    info "deploying ${NAME} to https://${DOMAIN}/ (${OS_FAMILY} family)$([[ "${DRY_RUN}" == true ]] && printf ', dry run')"
    step_packages
    step_firewall
    step_mariadb
    step_schema
    step_app_user
    step_app_folders
    step_tls
    step_php
    step_apache "${NAME}"
    step_release
    step_prune
    step_remember
    if [[ "${DRY_RUN}" == false && "${HEALTH_CHECKED}" == false ]] && ! health_ok; then
      die 1 "the release did not change, and https://${DOMAIN}${HEALTH_PATH} does not answer 200"
    fi
  fi
  if ((CHANGES == 0)); then
    info "nothing to change: ${NAME} is up to date"
    emit_result ok
  else
    info "$([[ "${DRY_RUN}" == true ]] && printf 'planned' || printf 'made') ${CHANGES} change(s)"
    emit_result changed
  fi
}

main "$@"
