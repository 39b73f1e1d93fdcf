#!/usr/bin/env bash
#
# deploy-lamp.sh - put a PHP + MariaDB application into production with Apache, secured and checked.
#
# Usage:
#   deploy-lamp.sh [options] --app PATH
#   deploy-lamp.sh [options] --rollback --name NAME
#
#       --app PATH        the application: a directory or a tarball (.tar, .tar.gz, .tgz); a tarball
#                         holding one top folder is read from inside it. Untrusted: only files,
#                         folders and relative links that stay inside (no link to or through a link,
#                         none into a data folder), nothing setuid or setgid, no device or pipe
#       --name NAME       the application's name: its database, database user, runtime user app-NAME,
#                         PHP-FPM pool, vhost and folder /srv/lamp/NAME; ^[a-z][a-z0-9_]{0,15}$
#                         (default: from the app path: parc-v1.tar.gz -> parc); never a system name
#                         (mysql, sys, root, test, www...), nor a database, account, pool or vhost
#                         that exists and that this script did not create for the app
#       --schema FILE     SQL applied to the app's database once per content (SHA-256 recorded), as
#                         the account NAME-migrate (NAME.* only), by the client in --sandbox mode
#       --domain NAME     the site's name, ServerName of the vhost (default: hostname -f)
#       --cert FILE       PEM certificate for the domain, with --key; default: a self-signed one,
#       --key FILE        generated once and kept
#       --health PATH     path that must answer HTTP 200 over HTTPS after the switch (default /)
#       --keep N          releases kept, the current one included (default 5, at least 2)
#       --data-dir DIR    app folder the app may write, kept across releases (repeatable); data,
#                         never code: no PHP runs there
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
#   1  runtime failure: a command failed, the Apache or PHP-FPM configuration check failed, the
#      schema failed (not recorded), or the health check failed; the previous release and every
#      setting this run changed (vhost, certificate, pool, PHP and MariaDB settings) are back
#   2  usage or validation error: nothing was changed
#   3  another run holds the lock /run/tssr-kit/deploy-lamp.lock
#
# Output: narration on stderr; the last line on stdout is one JSON object, for example
#   {"script": "deploy-lamp", "status": "changed", "changed": 14, "url": "https://parc.example.org/", ...}
#
# What it changes on the system: installs Apache, MariaDB, PHP-FPM, the firewall (nftables or
# firewalld), openssl and curl; writes the vhost, a server-wide hardening conf, a PHP ini, the app's
# PHP-FPM pool, a MariaDB conf, the firewall rules; secures MariaDB (no anonymous user, no remote
# root, no test database, root by unix socket only) and creates the app's database, its user and
# (with --schema) its migration account NAME-migrate; creates the system user app-NAME;
# /srv/lamp/NAME (releases, current, shared), the app's database settings
# /etc/tssr-kit/lamp/NAME/database.ini, root-only state in /var/lib/tssr-kit/lamp/NAME (passwords,
# schemas applied, what the script created),
# the certificate in /etc/ssl/tssr-kit; one syslog entry per change (tag tssr-deploy-lamp).
#
# Supported OS families: debian (Debian 12, 13; Ubuntu) and redhat (RHEL, Rocky, AlmaLinux 9).
# Needs: bash 4.4+, GNU coreutils, findutils and tar, util-linux (flock, logger, setpriv), root; a
# MariaDB client with --sandbox (10.5.25, 10.6.18, 10.11.8, 11.0.6 or later) to apply a schema.

# -E: the ERR trap also fires inside functions; -e: stop at the first failing command; -u: an unset
# variable is a bug; pipefail: `sql | …` fails when the client does.
set -Eeuo pipefail
export LC_ALL=C

# The kit's library (common.sh; the web front, the firewall and the database clients it shares with
# deploy-java.sh and backup.sh): lib/ beside this script (as delivered) or ../lib (the repository).
TSSR_LIB="$(dirname -- "${BASH_SOURCE[0]}")/lib"
[[ -d "${TSSR_LIB}" ]] || TSSR_LIB="${TSSR_LIB%/lib}/../lib"
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TSSR_LIB}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/firewall.sh
. "${TSSR_LIB}/firewall.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/web.sh
. "${TSSR_LIB}/web.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/db.sh
. "${TSSR_LIB}/db.sh"

#######################################
# Constants
#######################################
readonly SCRIPT_NAME=deploy-lamp
readonly LOCK_FILE=/run/tssr-kit/deploy-lamp.lock
readonly SYSLOG_TAG=tssr-deploy-lamp
readonly APPS_ROOT=/srv/lamp
readonly CONFIG_ROOT=/etc/tssr-kit/lamp
readonly STATE_ROOT=/var/lib/tssr-kit/lamp
readonly TLS_DIR=/etc/ssl/tssr-kit
readonly NAME_RE='^[a-z][a-z0-9_]{0,15}$'
readonly DATA_DIR_RE='^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$'
readonly HEALTH_RE='^/[A-Za-z0-9._~/?=&%+-]*$'
readonly DB_PRIVILEGES='SELECT, INSERT, UPDATE, DELETE, CREATE TEMPORARY TABLES, LOCK TABLES'
# Names that are MariaDB's, another program's or a default pool's: never an application's (the kit
# also refuses any database or account that exists and that it did not create for the app).
readonly RESERVED_NAMES=(mysql sys root test information_schema performance_schema phpmyadmin mariadb
  public www)
readonly MIGRATE_SUFFIX=-migrate         # the schema's account: NAME-migrate, never a valid NAME
readonly DB_RECORD=mariadb-objects       # in STATE_DIR: the databases and accounts the kit created
readonly MYSQL_DATADIR=/var/lib/mysql
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
DB_CONF_CHANGED=false    # MariaDB was restarted for a new DB_CONF (undo restarts it again)
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
  lock_migrate_account
  undo_unchecked_switch
  # A run that stops before its commit (web_commit): the web front and the settings files it
  # changed go back.
  web_cleanup
  undo_settings
  if [[ -n "${INCOMING}" && -e "${INCOMING}" ]]; then
    rm -rf -- "${INCOMING}"
  fi
  if [[ -n "${TMP_DIR}" && -d "${TMP_DIR}" ]]; then
    rm -rf -- "${TMP_DIR}"
  fi
}

# The settings files this run wrote (PHP-FPM pool and ini, MariaDB conf, database settings) go back,
# and what reads them is reloaded.
undo_settings() {
  settings_put_back || return 0
  warn "putting back the settings files (PHP-FPM, MariaDB, database settings) as they were before this run"
  if [[ "${DB_CONF_CHANGED}" == true ]]; then
    DB_CONF_CHANGED=false
    systemctl restart mariadb || warn "MariaDB did not restart with its previous settings"
  fi
  if [[ -n "${FPM_SERVICE:-}" ]] && systemctl is-active --quiet "${FPM_SERVICE}"; then
    systemctl reload "${FPM_SERVICE}" || warn "${FPM_SERVICE} did not reload its previous settings"
  fi
}

#######################################
# Print the result line on stdout.
# Arguments: status (ok|changed|failed), error message (optional)
#######################################
emit_result() {
  local status="$1" error="${2:-}"
  result_line "${status}" name opt "${NAME}" domain opt "${DOMAIN}" url opt "${DOMAIN:+https://${DOMAIN}/}" \
    release opt "${RELEASE}" previous opt "${PREVIOUS}" rolled_back bool "${ROLLED_BACK}" \
    os_family opt "${OS_FAMILY}" failed_release some "${FAILED_RELEASE}" error some "${error}"
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
      --) shift; (($# == 0)) || usage_error "unexpected argument: $1" ;;
      *) common_option "$1" || usage_error "unexpected argument: $1 (the app is given with --app)"; shift ;;
    esac
  done
  TEMPLATES="${TEMPLATES:-${SCRIPT_DIR}/templates}"
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
  local reserved
  for reserved in "${RESERVED_NAMES[@]}"; do
    if [[ -n "${NAME}" && "${NAME}" == "${reserved}" ]]; then
      add_error "--name: '${NAME}' is the name of a system database, account or pool (MariaDB's, PHP-FPM's or another program's): choose another name"
      NAME=""
    fi
  done
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
  local dir other
  local -a unique=()
  for dir in "${DATA_DIRS[@]}"; do
    if [[ ! "${dir}" =~ ${DATA_DIR_RE} ]]; then
      add_error "--data-dir: '${dir}' must be a relative folder of the app (letters, digits, ._-; no .., no leading /)"
      continue
    fi
    [[ " ${unique[*]} " == *" ${dir} "* ]] || unique+=("${dir}")
  done
  DATA_DIRS=("${unique[@]}")
  # One inside another: the inner one would be written through the outer one's link, into a folder
  # the app may change.
  for dir in "${DATA_DIRS[@]}"; do
    for other in "${DATA_DIRS[@]}"; do
      if [[ "${dir}" == "${other}/"* ]]; then
        add_error "--data-dir: '${dir}' is inside the data folder '${other}': give only '${other}'"
      fi
    done
  done
  validate_web_options
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

#######################################
# The application is hostile until proven otherwise: whoever wrote it (or its tarball) is not trusted
# with anything outside its release. Before anything is installed, the app is staged in the private
# TMP_DIR and checked there, on disk:
#   - only regular files, folders and symbolic links (no device, pipe or socket), nothing setuid or
#     setgid; a file with several names has all of them in the app (no hard link to a file outside);
#   - every symbolic link is relative and is resolved on disk, component by component: it stays in
#     the app, never leads to or through another link, and never into (or above) a data folder;
#   - each component of each --data-dir is a real folder of the app, or absent.
# A tarball's members are checked before it is unpacked (no absolute name, no `..`, no special file,
# nothing setuid or setgid); GNU tar's own guards (it never writes through a link it made, never
# makes a hard link to a name outside) are the second line, the checks on disk the third.
#######################################

# Checks that add an error for one path of the app. Arguments: origin (--app), path in the app, why
refuse_path() {
  add_error "--app: ${1}: '${2}' ${3}"
}

# Special files and setuid/setgid files of a folder (the source folder before it is copied, and the
# stage). Arguments: the folder, the origin for messages
check_file_kinds() {
  local root="$1" origin="$2" path
  while IFS= read -r -d '' path; do
    refuse_path "${origin}" "${path}" "is a device, a pipe or a socket (only files, folders and links are accepted)"
  done < <(find "${root}" -mindepth 1 ! -type f ! -type d ! -type l -printf '%P\0')
  while IFS= read -r -d '' path; do
    refuse_path "${origin}" "${path}" "is setuid or setgid (an application never needs that)"
  done < <(find "${root}" -mindepth 1 -type f -perm /6000 -printf '%P\0')
}

# A file with several names (hard links) must have every name inside the folder: else one is a name
# of a file outside (which the copy or the permission fix-up would publish or change).
# Arguments: the folder, the origin for messages
check_hard_links() {
  local root="$1" origin="$2" inode links path
  local -A seen=() wanted=() named=()
  while IFS=' ' read -r -d '' inode links path; do
    seen["${inode}"]=$((${seen["${inode}"]:-0} + 1))
    wanted["${inode}"]="${links}"
    named["${inode}"]="${path}"
  done < <(find "${root}" -mindepth 1 -type f -links +1 -printf '%i %n %P\0')
  for inode in "${!wanted[@]}"; do
    if ((seen["${inode}"] != wanted["${inode}"])); then
      refuse_path "${origin}" "${named["${inode}"]}" "is a hard link to a file outside the app"
    fi
  done
}

# Is PATH (relative to the app) a data folder, inside one, or above one? Arguments: the path ('' is
# the app's own folder)
touches_data_dir() {
  local path="$1" dir
  for dir in "${DATA_DIRS[@]}"; do
    if [[ -z "${path}" || "${path}" == "${dir}" || "${path}" == "${dir}/"* || "${dir}" == "${path}/"* ]]; then
      printf '%s' "${dir}"
      return 0
    fi
  done
  return 1
}

#######################################
# One symbolic link of the app, resolved on disk one component at a time from the folder it is in.
# Arguments: the app's folder, the link's path in it, the origin for messages
#######################################
check_link() {
  local root="$1" path="$2" origin="$3" target part resolved real top dir
  local -a here=() parts=()
  # (readlink prints the target and a newline; the x keeps a target's own trailing newlines)
  target="$(readlink -- "${root}/${path}" && printf x)"
  target="${target%$'\n'x}"
  if [[ -z "${target}" || "${target}" == /* ]]; then
    refuse_path "${origin}" "${path}" "is a link to an absolute path ('${target}'): links must be relative and stay in the app"
    return 0
  fi
  if [[ "${path}" == */* ]]; then
    mapfile -d / -t here < <(printf '%s' "${path%/*}")
  fi
  mapfile -d / -t parts < <(printf '%s' "${target}")
  for part in "${parts[@]}"; do
    case "${part}" in
      '' | .) ;;
      ..)
        if ((${#here[@]} == 0)); then
          refuse_path "${origin}" "${path}" "is a link that leads outside the app ('${target}')"
          return 0
        fi
        unset 'here[-1]'
        ;;
      *)
        here+=("${part}")
        resolved="$(IFS=/ && printf '%s' "${here[*]}")"
        if [[ -L "${root}/${resolved}" ]]; then
          refuse_path "${origin}" "${path}" "is a link to or through another link ('${target}', through '${resolved}'): chains of links are refused"
          return 0
        fi
        ;;
    esac
  done
  resolved="$(IFS=/ && printf '%s' "${here[*]}")"
  # The kernel's own resolution must agree: inside the app.
  top="$(realpath -e -- "${root}")"
  real="$(realpath -m -- "${root}/${path}")"
  if [[ "${real}" != "${top}" && "${real}" != "${top}/"* ]]; then
    refuse_path "${origin}" "${path}" "is a link that leads outside the app ('${target}')"
    return 0
  fi
  # A link inside a data folder goes with it (the folder is replaced); elsewhere, a link may not lead
  # into, onto or above a data folder: the files there would be reached by a path where the vhost
  # does not know them as data.
  if ! touches_data_dir "${path}" >/dev/null && dir="$(touches_data_dir "${resolved}")"; then
    refuse_path "${origin}" "${path}" "is a link that leads into or above the data folder '${dir}' ('${target}'): give the link's own path as --data-dir instead"
  fi
}

# Every symbolic link of the staged app. Arguments: the app's folder, the origin for messages
check_links() {
  local root="$1" origin="$2" path
  while IFS= read -r -d '' path; do
    check_link "${root}" "${path}" "${origin}"
  done < <(find "${root}" -mindepth 1 -type l -printf '%P\0')
}

# Each component of each data folder is a real folder of the app (not a link, not a file), or absent.
check_data_dir_components() {
  local dir part prefix
  local -a parts
  for dir in "${DATA_DIRS[@]}"; do
    mapfile -d / -t parts < <(printf '%s' "${dir}")
    prefix=""
    for part in "${parts[@]}"; do
      prefix="${prefix:+${prefix}/}${part}"
      if [[ -L "${STAGE}/${prefix}" ]]; then
        add_error "--data-dir: '${dir}': '${prefix}' is a link in the app, not a folder"
        break
      elif [[ -e "${STAGE}/${prefix}" && ! -d "${STAGE}/${prefix}" ]]; then
        add_error "--data-dir: '${dir}': '${prefix}' is a file in the app, not a folder"
        break
      fi
    done
  done
}

# A tarball's members, from its listing (nothing unpacked yet): names, types, modes. Returns 1 when
# the tarball cannot be read or a member is refused.
check_tarball_members() {
  local tarball="$1" i member long bad=false
  local -a members longs
  if ! tar -tf "${tarball}" >/dev/null 2>&1 \
    || ! mapfile -t members < <(tar --quoting-style=escape -tf "${tarball}" 2>/dev/null) \
    || ! mapfile -t longs < <(tar --quoting-style=escape -tvf "${tarball}" 2>/dev/null) \
    || ((${#members[@]} != ${#longs[@]})); then
    add_error "--app: '${tarball}' is not a readable tar archive"
    return 1
  fi
  for i in "${!members[@]}"; do
    member="${members[i]}"
    long="${longs[i]}"             # "-rwxr-xr-x owner/group size date time name": type and mode first
    if [[ "${member}" == /* || "/${member}/" == */../* ]]; then
      add_error "--app: '${tarball}': the member '${member}' would land outside the app (absolute or ..)"
      bad=true
    fi
    case "${long:0:1}" in
      - | d | l | h) ;;
      *)
        add_error "--app: '${tarball}': the member '${member}' is a device, a pipe or another special file (only files, folders and links are accepted)"
        bad=true
        continue
        ;;
    esac
    if [[ "${long:0:1}" != d && ("${long:3:1}" == [sS] || "${long:6:1}" == [sS]) ]]; then
      add_error "--app: '${tarball}': the member '${member}' is setuid or setgid (an application never needs that)"
      bad=true
    fi
  done
  [[ "${bad}" == false ]]
}

# Check a tarball's members, then extract it into the stage (GNU tar, as root: no owners, no
# extended attributes, ACLs or SELinux labels from the archive; modes kept, so that the checks on
# disk see them). Arguments: the tarball, "keep-top" to keep a single top folder as it is
unpack_tarball() {
  local tarball="$1" top_rule="${2:-}"
  check_tarball_members "${tarball}" || return 0
  if ! tar --no-same-owner --same-permissions --no-xattrs --no-acls --no-selinux \
    --delay-directory-restore -xf "${tarball}" -C "${STAGE}" 2>"${TMP_DIR}/tar.err"; then
    add_error "--app: '${tarball}' could not be unpacked (nothing of it is used): $(grep -v -e '^tar: Exiting' -e '^tar: Removing leading' "${TMP_DIR}/tar.err" | head -n 1)"
    return 0
  fi
  # One top folder (parc-1.0/...): the app is what it holds.
  [[ "${top_rule}" != keep-top ]] || return 0
  local -a top
  mapfile -t top < <(find "${STAGE}" -mindepth 1 -maxdepth 1)
  if ((${#top[@]} == 1)) && [[ -d "${top[0]}" && ! -L "${top[0]}" ]]; then
    local inner="${TMP_DIR}/inner"
    mv -- "${top[0]}" "${inner}"
    rmdir -- "${STAGE}"
    mv -- "${inner}" "${STAGE}"
  fi
}

# A folder is packed (TMP_DIR/source.tar) with the rights of its owner, then checked and unpacked
# like a tarball: root never reads, for whoever owns the folder, a file that they could not read.
# Returns 1 when the folder cannot be packed.
pack_source_folder() {
  local src="$1" owner
  local -a as_owner=()
  owner="$(stat -c '%u:%g' -- "${src}")"
  if [[ "${owner}" != 0:0 ]]; then
    as_owner=(setpriv "--reuid=${owner%%:*}" "--regid=${owner#*:}" --clear-groups --no-new-privs)
  fi
  if ! "${as_owner[@]}" tar --create --format=gnu --file=- --directory="${src}" . \
    >"${TMP_DIR}/source.tar" 2>"${TMP_DIR}/tar.err"; then
    add_error "--app: '${src}' cannot be read whole by its owner (uid ${owner%%:*}), whose rights the copy uses: $(grep -v '^tar: Exiting' "${TMP_DIR}/tar.err" | head -n 1)"
    return 1
  fi
}

#######################################
# Copy the app into TMP_DIR/release (the stage), check it there, then make it owned by root and
# read-only for everyone else, with each data folder a link into shared/.
#######################################
stage_app() {
  STAGE="${TMP_DIR}/release"
  mkdir -m 0755 -- "${STAGE}"
  if [[ -d "${APP_SRC}" ]]; then
    if [[ ! -r "${APP_SRC}" || ! -x "${APP_SRC}" ]]; then
      add_error "--app: '${APP_SRC}' cannot be read"
      return 0
    fi
    # Refused before the copy: special files, setuid or setgid files, names of files outside.
    check_file_kinds "${APP_SRC}" "${APP_SRC}"
    check_hard_links "${APP_SRC}" "${APP_SRC}"
    ((${#ERRORS[@]} == 0)) || return 0
    pack_source_folder "${APP_SRC}" || return 0
    unpack_tarball "${TMP_DIR}/source.tar" keep-top
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
  check_file_kinds "${STAGE}" "${APP_SRC}"
  check_hard_links "${STAGE}" "${APP_SRC}"
  check_links "${STAGE}" "${APP_SRC}"
  check_data_dir_components
  if [[ -z "$(find "${STAGE}" -mindepth 1 -maxdepth 1 -print -quit)" ]]; then
    add_error "--app: '${APP_SRC}' is empty"
  fi
  ((${#ERRORS[@]} == 0)) || return 0
  local dir
  for dir in "${DATA_DIRS[@]}"; do
    rm -rf -- "${STAGE:?}/${dir}"
    mkdir -p -- "$(dirname -- "${STAGE}/${dir}")"
    ln -s -- "${APPS_ROOT}/${NAME}/shared/${dir}" "${STAGE}/${dir}"
  done
  normalize_tree "${STAGE}"
  if [[ -d "${STAGE}/public" ]]; then DOCROOT_SUB=public; else DOCROOT_SUB=""; fi
}

# Owned by root; folders 0755 (no setgid left: 00755), files 0755 when executable, else 0644.
normalize_tree() {
  chown -R -h 0:0 -- "$1"
  find "$1" -type d -exec chmod 00755 {} +
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
  # Read back from files: checked as if they had been typed (they reach a URL).
  if ! is_valid_domain "${DOMAIN}" || [[ ! "${HEALTH_PATH}" =~ ${HEALTH_RE} ]]; then
    die 1 "--rollback: the state of ${NAME} in ${STATE_ROOT}/${NAME} is not what deploy-lamp.sh writes: give --domain and --health"
  fi
  return 0
}

#######################################
# The names this app would take on the host are free, or already this app's (the kit's own): its
# databases and accounts in MariaDB, its system account, its PHP-FPM pool, its vhost, its folders in
# shared/. Called after load_family, before the first change.
#######################################
validate_host() {
  validate_app_account "${APP_USER}" "tssr-kit LAMP app ${NAME}" "${STATE_DIR}/account"
  validate_database_objects
  validate_fpm_pool
  validate_vhost_owner
  validate_shared_folders
}

# The pool file NAME.conf is this script's or absent, and no other pool file names a pool [NAME].
validate_fpm_pool() {
  local first="" pool_dir other
  if [[ -e "${FPM_POOL}" || -L "${FPM_POOL}" ]]; then
    [[ -L "${FPM_POOL}" || ! -f "${FPM_POOL}" ]] || IFS= read -r first <"${FPM_POOL}" || true
    if [[ "${first}" != "; ${NAME}: written by deploy-lamp.sh "* ]]; then
      add_error "--name: ${FPM_POOL} exists and was not written by deploy-lamp.sh (another PHP-FPM pool): choose another name"
      return 0
    fi
  fi
  pool_dir="$(dirname -- "${FPM_POOL}")"
  [[ -d "${pool_dir}" ]] || return 0
  other="$(grep -lxF -- "[${NAME}]" "${pool_dir}"/*.conf 2>/dev/null | grep -vxF -- "${FPM_POOL}" | head -n 1 || true)"
  if [[ -n "${other}" ]]; then
    add_error "--name: ${other} already defines a PHP-FPM pool [${NAME}]: choose another name"
  fi
}

# Each data folder's place in shared/: every folder above it is root's (not a link, not inside
# another data folder, which the app may change), and the folder itself is not a link.
validate_shared_folders() {
  local dir part prefix path
  local -a parts
  for dir in "${DATA_DIRS[@]}"; do
    mapfile -d / -t parts < <(printf '%s' "${dir}")
    prefix=""
    for part in "${parts[@]}"; do
      prefix="${prefix:+${prefix}/}${part}"
      path="${APP_DIR}/shared/${prefix}"
      if [[ -L "${path}" || (-e "${path}" && ! -d "${path}") ]]; then
        add_error "--data-dir: '${dir}': ${path} is a link or a file, not a folder made by deploy-lamp.sh"
        break
      fi
      if [[ "${prefix}" != "${dir}" && -d "${path}" && "$(stat -c %u -- "${path}")" != 0 ]]; then
        add_error "--data-dir: '${dir}' is inside ${path}, which the application may change (another data folder): choose a folder beside it"
        break
      fi
    done
  done
}

# Paths and names of the family (the second half of the table above). PHP's version is known only
# once php-fpm is installed (Debian keeps one folder per version).
load_family() {
  if [[ "${OS_FAMILY}" == debian ]]; then
    PACKAGES=("${DEBIAN_PACKAGES[@]}")
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
  apache_family
  APP_DIR="${APPS_ROOT}/${NAME}"
  DB_CONFIG="${CONFIG_ROOT}/${NAME}/database.ini"
  STATE_DIR="${STATE_ROOT}/${NAME}"
  # One certificate per domain: a deploy that changes the domain and fails leaves the old pair intact.
  CERT_FILE="${TLS_DIR}/${DOMAIN}.crt"
  KEY_FILE="${TLS_DIR}/private/${DOMAIN}.key"
  APP_USER="app-${NAME}"
  MIGRATE_USER="${NAME}${MIGRATE_SUFFIX}"
}

#######################################
# Small idempotent building blocks
#######################################

step_packages() {
  install_packages || return 0
  [[ "${DRY_RUN}" == true ]] || load_family       # the PHP version is known now
}

# The vhost: the shared frame around this script's site block (DocumentRoot, PHP through the pool).
# Each data folder is data, never code: the PHP handler skips it (a condition on the file's path), its
# PHP files are refused, no link in it is followed, and nothing there can change that (AllowOverride
# None: no .htaccess is read).
render_vhost() {
  local site="${TMP_DIR}/vhost-site.conf" condition="-f %{REQUEST_FILENAME}" blocks="" dir paths=""
  for dir in "${DATA_DIRS[@]}"; do
    paths+="${paths:+|}${dir//./\\.}"
    blocks+=$'\n\n'"    # The data folder ${dir} (--data-dir): what is stored there is data, never code."
    blocks+=$'\n'"    <Directory \"${APP_DIR}/current/${dir}\">"
    blocks+=$'\n'"        Options -Indexes -FollowSymLinks -SymLinksIfOwnerMatch -ExecCGI -Includes"
    blocks+=$'\n'"        AllowOverride None"
    blocks+=$'\n'"        <FilesMatch \"(?i)\\.(php[0-9]*|phtml|pht|phar|phps)\$\">"
    blocks+=$'\n'"            Require all denied"
    blocks+=$'\n'"        </FilesMatch>"
    blocks+=$'\n'"    </Directory>"
  done
  [[ -z "${paths}" ]] || condition+=" && %{REQUEST_FILENAME} !~ m#^${APP_DIR}/current/(${paths})/#"
  render vhost-site.conf.tmpl "NAME=${NAME}" "DOCROOT=${APP_DIR}/current${DOCROOT_SUB:+/${DOCROOT_SUB}}" \
    "APP_ROOT=${APP_DIR}" "FPM_SOCKET=${FPM_SOCKET}" "PHP_CONDITION=${condition}" "DATA_DIRS=${blocks}" >"${site}"
  render_vhost_frame "${site}" "SCRIPT=${SCRIPT_NAME}" "SITE_TEMPLATE=lamp/templates/vhost-site.conf.tmpl" \
    "NAME=${NAME}" "DOMAIN=${DOMAIN}" "CERT_FILE=${CERT_FILE}" "KEY_FILE=${KEY_FILE}" "LOG_DIR=${LOG_DIR}"
}

#######################################
# MariaDB
#
# Every value that reaches SQL is quoted by construction: sql_quote (a string literal: backslashes
# and quotes escaped, in a session whose sql_mode reads them so), sql_ident (an identifier, backticks
# doubled), sql_db_pattern (a database name in GRANT, where _ and % are wildcards: escaped). What is
# read back from the server comes as hexadecimal (HEX()), so no name can forge a row.
#######################################
# Root's SQL through the unix socket (lib/db.sh); statements on stdin, tab-separated rows on stdout.
# shellcheck disable=SC2119  # mysql_root's arguments are extra client options: none here
sql() {
  { printf '%s\n' "SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION';"; cat; } | mysql_root
}

# Does MariaDB answer root through its socket?
mariadb_answers() {
  command -v mariadb >/dev/null || command -v mysql >/dev/null || return 1
  sql <<<'SELECT 1;' >/dev/null 2>&1
}

sql_quote() {
  local s="${1//\\/\\\\}"
  s="${s//\'/\\\'}"
  printf "'%s'" "${s}"
}

sql_ident() {
  printf "\`%s\`" "${1//\`/\`\`}"
}

# A database name as GRANT reads it: _ and % would match any character, \ escapes them.
sql_db_pattern() {
  local s="${1//\\/\\\\}"
  s="${s//_/\\_}"
  s="${s//%/\\%}"
  sql_ident "${s}"
}

sql_account() {
  printf '%s@%s' "$(sql_quote "$1")" "$(sql_quote "$2")"
}

# MariaDB's mysql_native_password hash: '*' and the upper-case hex SHA-1 of the binary SHA-1.
# The password goes through a pipe, never on a command line.
password_hash() {
  printf '*%s' "$(printf '%s' "$1" | openssl dgst -sha1 -binary | openssl dgst -sha1 -r \
    | cut -d' ' -f1 | tr 'a-f' 'A-F')"
}

#######################################
# What the kit created in MariaDB for this app: the record DB_RECORD in the root-only STATE_DIR, one
# "database NAME" or "account USER@HOST" per line. A database or account of the app's names that is
# not in it was made by someone else, and is never taken over. (An app deployed before the kit kept
# the record has its root-only db-password: its database and account are the kit's.)
#######################################
db_record_has() {
  local entry="$1" record="${STATE_ROOT}/${NAME}/${DB_RECORD}"
  if [[ -f "${record}" ]]; then
    grep -qxF -- "${entry}" "${record}"
    return
  fi
  [[ -s "${STATE_ROOT}/${NAME}/db-password" ]] || return 1
  [[ "${entry}" == "database ${NAME}" || "${entry}" == "account ${NAME}@localhost" ]]
}

# Written before the object is created (a run stopped in between leaves a record of nothing, which
# the next run creates).
db_record_add() {
  local entry="$1" record="${STATE_DIR}/${DB_RECORD}"
  [[ "${DRY_RUN}" == false ]] || return 0
  [[ ! -f "${record}" ]] || ! grep -qxF -- "${entry}" "${record}" || return 0
  (
    umask 077
    if [[ ! -f "${record}" && -s "${STATE_DIR}/db-password" ]]; then
      printf 'database %s\naccount %s@localhost\n' "${NAME}" "${NAME}" >>"${record}"
    fi
    printf '%s\n' "${entry}" >>"${record}"
  )
}

# The app's database and accounts (NAME, NAME-migrate, on any host) exist only if the kit created
# them for this app. Adds an error for each that does not; when MariaDB does not answer, a
# database is a folder of its data directory.
validate_database_objects() {
  local rows kind hex value
  if ! mariadb_answers; then
    if [[ -d "${MYSQL_DATADIR}/${NAME}" ]] && ! db_record_has "database ${NAME}"; then
      add_error "--name: the MariaDB database ${NAME} exists on this host (${MYSQL_DATADIR}/${NAME}) and was not created by deploy-lamp.sh for this application: choose another name"
    fi
    return 0
  fi
  rows="$(sql <<SQL
SELECT 'database', HEX(SCHEMA_NAME) FROM information_schema.SCHEMATA
  WHERE SCHEMA_NAME = BINARY $(sql_quote "${NAME}")
UNION ALL SELECT 'account', HEX(CONCAT(User, '@', Host)) FROM mysql.user
  WHERE User IN ($(sql_quote "${NAME}"), $(sql_quote "${MIGRATE_USER}"));
SQL
)"
  while IFS=$'\t' read -r kind hex; do
    [[ -n "${kind}" ]] || continue
    from_hex "${hex}" value || value="?"
    if ! db_record_has "${kind} ${value}"; then
      add_error "--name: the MariaDB ${kind} '${value}' exists on this server and was not created by deploy-lamp.sh for this application: choose another name (the kit never takes over a database or an account it did not make)"
    fi
  done <<<"${rows}"
}

step_mariadb() {
  local conf_changed=false
  if render mariadb.cnf.tmpl | put_setting_file "${DB_CONF}" root root 0644 "MariaDB's settings"; then
    conf_changed=true
  fi
  ensure_service mariadb
  if [[ "${conf_changed}" == true ]] && systemctl is-active --quiet mariadb; then
    changed "restart MariaDB for its new settings"
    [[ "${DRY_RUN}" == true ]] || DB_CONF_CHANGED=true
    run systemctl restart mariadb
  fi
  if [[ "${DRY_RUN}" == true ]] && ! systemctl is-active --quiet mariadb; then
    changed "secure MariaDB (anonymous users, remote root, test database) and create the database ${NAME} and its user"
    return 0
  fi
  # MariaDB did not answer at validation (not installed, or stopped): its names are checked now.
  local before=${#ERRORS[@]}
  validate_database_objects
  if ((${#ERRORS[@]} > before)); then
    die 1 "${ERRORS[before]}"
  fi
  DB_STATE="$(mariadb_state)"
  secure_mariadb
  ensure_app_database
}

# What MariaDB holds that the steps below care about, in one query: "kind<TAB>HEX(value)" rows.
mariadb_state() {
  sql <<SQL
SELECT 'anonymous', HEX(Host) FROM mysql.user WHERE User = ''
UNION ALL SELECT 'remote-root', HEX(Host) FROM mysql.user WHERE User = 'root' AND Host <> 'localhost'
UNION ALL SELECT 'test-db', HEX(SCHEMA_NAME) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'test'
UNION ALL SELECT 'test-grant', HEX(Db) FROM mysql.db WHERE Db IN ('test', 'test\\_%')
UNION ALL SELECT 'app-db', HEX(SCHEMA_NAME) FROM information_schema.SCHEMATA
  WHERE SCHEMA_NAME = BINARY $(sql_quote "${NAME}")
UNION ALL SELECT 'app-user', HEX(Host) FROM mysql.user
  WHERE User = $(sql_quote "${NAME}") AND Host = 'localhost'
UNION ALL SELECT 'migrate-user', HEX(Host) FROM mysql.user
  WHERE User = $(sql_quote "${MIGRATE_USER}") AND Host = 'localhost';
SQL
}

secure_mariadb() {
  local kind hex value test_grants=false
  while IFS=$'\t' read -r kind hex; do
    [[ -n "${kind}" ]] || continue
    from_hex "${hex}" value || continue
    case "${kind}" in
      anonymous)
        changed "MariaDB: drop the anonymous user ''@'${value}'"
        run sql <<<"DROP USER IF EXISTS $(sql_account '' "${value}");" ;;
      remote-root)
        changed "MariaDB: drop the remote root account root@'${value}'"
        run sql <<<"DROP USER IF EXISTS $(sql_account root "${value}");" ;;
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

# A password kept root-only in STATE_DIR (FILE): read, or generated the first time; never shown.
# Arguments: the file's name in STATE_DIR
stored_password() {
  if [[ -s "${STATE_DIR}/$1" ]]; then
    cat -- "${STATE_DIR}/$1"
  else
    tr -dc 'A-Za-z0-9' </dev/urandom | head -c "${PASSWORD_LENGTH}" || true
  fi
}

# A client defaults file for an account, in the private TMP_DIR (0600): the password never reaches a
# command line. Arguments: the file, the user, the password
write_client_defaults() {
  (
    umask 077
    printf '[client]\nuser=%s\npassword=%s\nsocket=%s\n' "$2" "$3" "${DB_SOCKET}" >"$1"
  )
}

# Is the account's password hash (as root reads it) the one of the password? Arguments: the user,
# the password
password_is() {
  local stored
  stored="$(sql <<<"SELECT JSON_VALUE(Priv, '\$.authentication_string') FROM mysql.global_priv
  WHERE User = $(sql_quote "$1") AND Host = 'localhost';" 2>/dev/null || true)"
  [[ -n "${stored}" && "${stored}" == "$(password_hash "$2")" ]]
}

#######################################
# An account of the app (USER@localhost): created with the stored password (or given it back), and
# allowed PRIVILEGES on the app's database and nothing else. Uses DB_STATE.
# Arguments: the user, its DB_STATE kind (app-user, migrate-user), the password file in STATE_DIR,
# the privileges, what it is for (narration), "locked" to create it locked (ACCOUNT LOCK)
#######################################
ensure_account() {
  local user="$1" kind="$2" secret="$3" privileges="$4" what="$5" lock="" account password expected grants
  [[ "${6:-}" != locked ]] || lock=" ACCOUNT LOCK"
  account="$(sql_account "${user}" localhost)"
  password="$(stored_password "${secret}")"
  if [[ ! -s "${STATE_DIR}/${secret}" ]]; then
    printf '%s\n' "${password}" | put_file "${STATE_DIR}/${secret}" root root 0600 \
      "the generated password of ${user}@localhost (root only)" || true
  fi
  if ! grep -q "^${kind}"$'\t' <<<"${DB_STATE}"; then
    changed "MariaDB: create the account ${user}@localhost (${what})"
    db_record_add "account ${user}@localhost"
    run sql <<<"CREATE USER ${account} IDENTIFIED BY PASSWORD $(sql_quote "$(password_hash "${password}")")${lock};"
  elif ! password_is "${user}" "${password}"; then
    changed "MariaDB: set the password of ${user}@localhost to the stored one"
    run sql <<<"ALTER USER ${account} IDENTIFIED BY PASSWORD $(sql_quote "$(password_hash "${password}")");"
  fi
  # SHOW GRANTS writes the database as it was granted: escaped.
  expected="GRANT ${privileges} ON \`${NAME//_/\\_}\`.* TO \`${user}\`@\`localhost\`"
  grants="$(sql <<<"SHOW GRANTS FOR ${account};" 2>/dev/null | grep -v '^GRANT USAGE ON \*\.\*' || true)"
  if [[ "${grants}" != "${expected}" ]]; then
    changed "MariaDB: ${user}@localhost may ${privileges} on ${NAME}.* and nothing else"
    run sql <<<"REVOKE ALL PRIVILEGES, GRANT OPTION FROM ${account};
GRANT ${privileges} ON $(sql_db_pattern "${NAME}").* TO ${account};"
  fi
  [[ "${kind}" != app-user ]] || DB_PASSWORD="${password}"
}

ensure_app_database() {
  ensure_dir "${STATE_ROOT}" root root 0700
  ensure_dir "${STATE_DIR}" root root 0700
  if ! grep -q '^app-db' <<<"${DB_STATE}"; then
    changed "MariaDB: create the database ${NAME}"
    db_record_add "database ${NAME}"
    run sql <<<"CREATE DATABASE $(sql_ident "${NAME}") CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
  fi
  ensure_account "${NAME}" app-user db-password "${DB_PRIVILEGES}" "the application's"
}

#######################################
# The schema: applied once per content, as the migration account NAME-migrate (all privileges on
# the app's database, none elsewhere: no GRANT, no FILE, no other database, no account), never as
# root; by the client in --sandbox mode (no \! system, tee, source...), without LOAD DATA LOCAL, in
# a clean environment (an EDITOR the \e command would start is /bin/false), with a defaults file of
# its own (no ~/.my.cnf). Recorded (SHA-256) only when every statement succeeded. The account is
# locked (ACCOUNT LOCK) but while the client runs; a password the schema gave it is replaced by the
# stored one before it is locked again: nobody keeps it.
#######################################
MIGRATE_UNLOCKED=false

lock_migrate_account() {
  [[ "${MIGRATE_UNLOCKED}" == true ]] || return 0
  MIGRATE_UNLOCKED=false
  local account password
  account="$(sql_account "${MIGRATE_USER}" localhost)"
  password="$(<"${STATE_DIR}/migrate-password")"
  if ! password_is "${MIGRATE_USER}" "${password}"; then
    warn "the schema changed the password of ${MIGRATE_USER}: the stored one is back"
    sql <<<"ALTER USER ${account} IDENTIFIED BY PASSWORD $(sql_quote "$(password_hash "${password}")");" \
      || warn "could not give ${MIGRATE_USER} its stored password back"
  fi
  sql <<<"ALTER USER ${account} ACCOUNT LOCK;" || warn "could not lock ${MIGRATE_USER}"
}

step_schema() {
  [[ -n "${SCHEMA}" ]] || return 0
  local sum client defaults="${TMP_DIR}/migrate.cnf"
  sum="$(sha256sum <"${SCHEMA}" | cut -d' ' -f1)"
  if [[ -f "${STATE_DIR}/schema-applied" ]] && grep -q "^${sum} " "${STATE_DIR}/schema-applied"; then
    info "schema $(basename -- "${SCHEMA}") already applied (sha256 ${sum:0:12})"
    return 0
  fi
  changed "apply the schema $(basename -- "${SCHEMA}") to the database ${NAME}, as ${MIGRATE_USER} (nothing beyond ${NAME}.*)"
  [[ "${DRY_RUN}" == false ]] || return 0
  client="$(command -v mariadb || command -v mysql)"
  if ! mysql_sandbox; then
    die 1 "the MariaDB client here ($("${client}" --version 2>/dev/null | head -n 1)) has no --sandbox mode (MariaDB 10.5.25, 10.6.18, 10.11.8, 11.0.6 and later): a schema could run shell commands with it, so it is not applied; update mariadb-client"
  fi
  ensure_account "${MIGRATE_USER}" migrate-user migrate-password "ALL PRIVILEGES" \
    "it applies the schemas of ${NAME}, to ${NAME} only; locked between them" locked
  write_client_defaults "${defaults}" "${MIGRATE_USER}" "$(<"${STATE_DIR}/migrate-password")"
  MIGRATE_UNLOCKED=true
  sql <<<"ALTER USER $(sql_account "${MIGRATE_USER}" localhost) ACCOUNT UNLOCK;"
  local status=0
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/nonexistent LC_ALL=C EDITOR=/bin/false \
    VISUAL=/bin/false MYSQL_HISTFILE=/dev/null "${client}" --defaults-file="${defaults}" --sandbox \
    --local-infile=0 --batch --database="${NAME}" <"${SCHEMA}" >&2 || status=$?
  rm -f -- "${defaults}"
  lock_migrate_account
  if ((status != 0)); then
    die 1 "the schema $(basename -- "${SCHEMA}") failed on the database ${NAME} and is not recorded as applied (it runs as ${MIGRATE_USER}: only ${NAME} can change; the statements before the failing one stay applied)"
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
      | put_setting_file "${DB_CONFIG}" "${owner_group}" "${owner_group}" 0400 "${NAME}'s database settings" || true
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
# PHP-FPM: the app's pool, checked by php-fpm -t before the reload (a failed check stops the run, and
# cleanup puts the previous settings back).
#######################################
step_php() {
  local any=false
  if render php.ini.tmpl | put_setting_file "${PHP_INI}" root root 0644 "PHP's settings"; then any=true; fi
  if render fpm-pool.conf.tmpl "NAME=${NAME}" "FPM_SOCKET=${FPM_SOCKET}" "WEB_USER=${WEB_USER}" \
    "WEB_GROUP=${WEB_GROUP}" "DB_CONFIG=${DB_CONFIG}" "SESSION_DIR=${APP_DIR}/sessions" \
    | put_setting_file "${FPM_POOL}" root root 0644 "${NAME}'s PHP-FPM pool (runs as ${APP_USER})"; then
    any=true
  fi
  if [[ "${DRY_RUN}" == false && "${any}" == true ]] && ! "${FPM_BINARY}" -t >/dev/null 2>"${TMP_DIR}/fpm.err"; then
    die 1 "PHP-FPM's check failed, the previous settings are put back: $(tail -n 3 "${TMP_DIR}/fpm.err" | tr '\n' ' ')"
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
    web_commit
  else
    UNCHECKED_SWITCH=""
    switch_to "${current}"
    rm -rf -- "${APP_DIR:?}/releases/${RELEASE:?}"
    ROLLED_BACK=true
    FAILED_RELEASE="${RELEASE}"
    RELEASE="${current}"
    PREVIOUS=""
    # What this run changed in the settings and the web front (a new domain, data folder, pool...)
    # goes back with the release: Apache leads to the release that serves again.
    undo_settings
    web_undo
    local where="no release is live (this was the first)"
    if [[ -n "${current}" ]] && previous_release_answers; then
      where="back on ${current}, which answers"
    elif [[ -n "${current}" ]]; then
      where="back on ${current}, which does not answer either"
    fi
    die 1 "the health check of ${FAILED_RELEASE} failed: ${where}; ${FAILED_RELEASE} was removed and the previous settings are back"
  fi
}

# After an undo: does the release in use answer, at the domain and health path of the last deploy
# that succeeded?
previous_release_answers() {
  with_remembered_site health_ok >/dev/null 2>&1
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

# What a rollback needs later: the domain and the health path of the last deploy, and the uid of the
# account the kit made (not a change of the system's behaviour, so not counted).
step_remember() {
  [[ "${DRY_RUN}" == false ]] || return 0
  remember_app_account "${APP_USER}" "${STATE_DIR}/account"
  remember domain "${DOMAIN}"
  remember health "${HEALTH_PATH}"
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
    validate_host
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
      die 1 "the release did not change, and https://${DOMAIN}${HEALTH_PATH} does not answer 200 (what this run changed in the settings goes back)"
    fi
    web_commit
  fi
  ((CHANGES == 0)) || info "$([[ "${DRY_RUN}" == true ]] && printf 'planned' || printf 'made') ${CHANGES} change(s)"
  finish "nothing to change: ${NAME} is up to date"
}

main "$@"
