#!/usr/bin/env bash
#
# restore.sh - restore files or a database from a backup set made by backup.sh, after verifying it.
#
# Usage:
#   restore.sh --dest DEST --job JOB [--set NAME|latest] --files --target DIR [--path PATH ...] [--in-place]
#   restore.sh --dest DEST --job JOB [--set NAME|latest] --mysql-db NAME [--into NEWNAME] [--replace]
#   restore.sh --dest DEST --job JOB [--set NAME|latest] --postgres-db NAME [--into NEWNAME] [--replace]
#   restore.sh --dest DEST --job JOB --list
#
#       --dest DEST         the repository's parent folder (default /var/backups/tssr-kit), or
#                           ssh://[user@]host[:port]/path (the set is fetched with rsync first)
#       --job NAME          the job (default: default)
#       --set NAME          the set to restore from (default: latest, the newest complete set)
#       --files             restore files from the set's archive ...
#       --target DIR        ... into DIR (absolute), which must not exist or be empty ...
#       --in-place          ... unless this says so: restore over live data (a non-empty DIR, or /)
#       --path PATH         only this member (relative to /, e.g. srv/data; repeatable)
#       --mysql-db NAME     restore this MariaDB/MySQL database ...
#       --postgres-db NAME  restore this PostgreSQL database ...
#       --into NEWNAME      ... under this name (default: its own name)
#       --replace           ... dropping the database of that name first when it has tables
#       --encrypt-key FILE  the passphrase file of an encrypted set (root's, mode 0400 or 0600)
#       --ssh-key FILE      the private key for a remote --dest
#       --list              the complete sets of the job (backup.sh list)
#   -n, --dry-run           validate and verify the set, print the plan, change nothing
#   -q, --quiet             narrate only changes and errors
#   -h, --help              print this help
#
# The set is verified first (SHA256SUMS, each archive read to its end, decrypted with the key):
# nothing is restored from a set that fails. Owners, modes and times of files are kept.
# Full reference: docs/reference/backup.md.
#
# Examples:
#   sudo ./restore.sh --job web --list
#   sudo ./restore.sh --job web --files --target /root/restore --path srv/www
#   sudo ./restore.sh --job web --set web-20261129T021500Z --files --target / --path etc/nginx --in-place
#   sudo ./restore.sh --job web --mysql-db shop --into shop_copy
#   sudo ./restore.sh --job web --dest ssh://backup@nas/srv/backups --ssh-key /root/.ssh/backup \
#        --postgres-db app --replace --encrypt-key /root/backup.pass
#
# Exit codes:
#   0  success
#   1  runtime failure (extracting or loading failed: what was restored so far stays)
#   2  usage or validation error: nothing was changed (a non-empty target without --in-place, a
#      database that exists with tables without --replace, a set without what was asked for)
#   5  the repository cannot be read (missing, unreachable)
#   6  the set failed verification: nothing was restored
#
# Output: narration on stderr and in syslog (tag tssr-restore); the last line on stdout is one JSON
# object, for example
#   {"script": "restore.sh", "status": "changed", "changed": 1, "set": "web-20261129T021500Z", "restored": "mysql:shop", ...}
#
# What it changes on the system: the files under --target (created when missing), or the database
# --into (created; dropped first with --replace); installs zstd or gnupg when the set needs them;
# a temporary copy of a remote set in /var/tmp/tssr-backup (removed at the end).
#
# Supported OS families: debian (Debian 12, 13; Ubuntu) and redhat (RHEL, Rocky, AlmaLinux 9).
# Needs: bash 4.4+, GNU coreutils and tar, util-linux (runuser, logger), backup.sh beside it, root.

# -E: the ERR trap also fires inside functions; -e: stop at the first failing command; -u: an unset
# variable is a bug; pipefail: `zstd -d | mariadb` fails when zstd fails.
set -Eeuo pipefail
export LC_ALL=C
umask 077

# lib/ beside this script (installed), or ../lib (the repository).
# (dirname, not ${BASH_SOURCE[0]%/*}: run as `bash backup.sh`, the path has no slash.)
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

#######################################
# Constants
#######################################
readonly SCRIPT_NAME=restore
readonly SYSLOG_TAG=tssr-restore
readonly JOB_RE='^[a-z0-9][a-z0-9_-]{0,39}$'
readonly DB_RE='^[A-Za-z0-9_][A-Za-z0-9_$-]{0,63}$'
readonly MEMBER_RE='^[A-Za-z0-9._@+-][A-Za-z0-9._/@+ -]*$'
readonly REMOTE_RE='^ssh://(([a-z_][a-z0-9_.-]*)@)?([A-Za-z0-9][A-Za-z0-9.-]*)(:([0-9]{1,5}))?(/[A-Za-z0-9._/@+-]*)$'
readonly SPOOL=/var/tmp/tssr-backup
SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
readonly BACKUP_SH="${SCRIPT_DIR}/backup.sh"

# The names that differ between the two families: one table.
declare -rA DEBIAN_PACKAGE=([zstd]=zstd [gpg]=gnupg [rsync]=rsync)
declare -rA REDHAT_PACKAGE=([zstd]=zstd [gpg]=gnupg2 [rsync]=rsync)

#######################################
# Settings
#######################################
DEST=/var/backups/tssr-kit
JOB=default
SET=latest
WHAT=""                 # files | mysql | postgres | list
TARGET=""
IN_PLACE=false
MEMBERS=()
DB=""
INTO=""
REPLACE=false
ENCRYPT_KEY=""
SSH_KEY=""
DRY_RUN=false
QUIET=false

#######################################
# Run state
#######################################
NAME=""
CHANGES=0
ERRORS=()
TMP_DIR=""
FETCHED=""              # the local copy of a remote set (removed by cleanup)
SET_DIR=""              # the set's folder, here
OS_FAMILY=""
PACKAGES=()
RESTORED=""

usage() {
  sed -n '3,/^# Needs:/{s/^# \{0,1\}//;p}' "$0"
}

on_interrupt() {
  trap - INT TERM HUP
  die 1 "interrupted: what was restored so far stays"
}

cleanup() {
  [[ -z "${FETCHED}" || ! -d "${FETCHED}" ]] || rm -rf -- "${FETCHED}"
  if [[ -n "${TMP_DIR}" && -d "${TMP_DIR}" ]]; then
    [[ ! -d "${TMP_DIR}/gnupg" ]] || gpgconf --homedir "${TMP_DIR}/gnupg" --kill gpg-agent >/dev/null 2>&1 || true
    rm -rf -- "${TMP_DIR}"
  fi
}

emit_result() {
  local status="$1" error="${2:-}" set_name=""
  [[ "${SET}" == latest ]] || set_name="${SET}"
  if [[ "${status}" == failed && "${DRY_RUN}" == false ]]; then
    logger -p user.err -t "${SYSLOG_TAG}" -- "${JOB}: failed: ${error}" 2>/dev/null || true
  fi
  printf '{"script": "restore.sh", "status": "%s", "changed": %d, "dry_run": %s, "job": %s, "set": %s, ' \
    "${status}" "${CHANGES}" "${DRY_RUN}" "$(json_quote "${JOB}")" "$(json_or_null "${set_name}")"
  printf '"restored": %s, "target": %s' "$(json_or_null "${RESTORED}")" "$(json_or_null "$(target_name)")"
  [[ -z "${error}" ]] || printf ', "error": %s' "$(json_quote "${error}")"
  printf '}\n'
}

target_name() {
  case "${WHAT}" in
    files) printf '%s' "${TARGET}" ;;
    mysql | postgres) printf '%s' "${INTO:-${DB}}" ;;
  esac
}

what_is() {
  [[ -z "${WHAT}" || "${WHAT}" == "$1" ]] || usage_error "give one of --files, --mysql-db, --postgres-db, --list"
  WHAT="$1"
}

parse_args() {
  while (($#)); do
    case "$1" in
      --dest) need_value "$1" $#; DEST="$2"; shift 2 ;;
      --job) need_value "$1" $#; JOB="$2"; shift 2 ;;
      --set) need_value "$1" $#; SET="$2"; shift 2 ;;
      --files) what_is files; shift ;;
      --target) need_value "$1" $#; TARGET="$2"; shift 2 ;;
      --in-place) IN_PLACE=true; shift ;;
      --path) need_value "$1" $#; MEMBERS+=("$2"); shift 2 ;;
      --mysql-db) need_value "$1" $#; what_is mysql; DB="$2"; shift 2 ;;
      --postgres-db) need_value "$1" $#; what_is postgres; DB="$2"; shift 2 ;;
      --into) need_value "$1" $#; INTO="$2"; shift 2 ;;
      --replace) REPLACE=true; shift ;;
      --encrypt-key) need_value "$1" $#; ENCRYPT_KEY="$2"; shift 2 ;;
      --ssh-key) need_value "$1" $#; SSH_KEY="$2"; shift 2 ;;
      --list) what_is list; shift ;;
      -n | --dry-run) DRY_RUN=true; shift ;;
      -q | --quiet) QUIET=true; shift ;;
      -h | --help) usage; exit 0 ;;
      -*) usage_error "unknown option: $1" ;;
      *) usage_error "unexpected argument: $1" ;;
    esac
  done
  NAME="${JOB}"
}

#######################################
# Validation (exit 2, nothing changed)
#######################################
validate() {
  [[ "${JOB}" =~ ${JOB_RE} ]] || add_error "--job: '${JOB}' is not a valid job name (1 to 40 of a-z 0-9 _ -)"
  if [[ "${SET}" != latest && ! "${SET}" =~ ^${JOB}-[0-9]{8}T[0-9]{6}Z$ ]]; then
    add_error "--set: '${SET}' is not latest or a set name of the job (${JOB}-YYYYmmddTHHMMSSZ)"
  fi
  [[ "${DEST}" != ssh://* || "${DEST}" =~ ${REMOTE_RE} ]] || add_error "--dest: '${DEST}' is not ssh://[user@]host[:port]/path"
  [[ "${DEST}" == ssh://* || "${DEST}" == /* ]] || add_error "--dest: '${DEST}' is not an absolute folder"
  [[ -z "${ENCRYPT_KEY}" ]] || validate_secret_file --encrypt-key "${ENCRYPT_KEY}"
  [[ -z "${SSH_KEY}" ]] || validate_secret_file --ssh-key "${SSH_KEY}"
  case "${WHAT}" in
    '') add_error "what to restore: give --files, --mysql-db NAME, --postgres-db NAME (or --list)" ;;
    files) validate_files ;;
    mysql | postgres) validate_database ;;
  esac
  if [[ "${WHAT}" != files ]] && { [[ -n "${TARGET}" ]] || ((${#MEMBERS[@]} > 0)) || [[ "${IN_PLACE}" == true ]]; }; then
    add_error "--target, --path and --in-place go with --files"
  fi
  if [[ "${WHAT}" != mysql && "${WHAT}" != postgres ]] && { [[ -n "${INTO}" || "${REPLACE}" == true ]]; }; then
    add_error "--into and --replace go with --mysql-db or --postgres-db"
  fi
}

validate_secret_file() {
  local option="$1" file="$2" owner_mode
  if [[ "${file}" != /* || ! -f "${file}" || -L "${file}" ]]; then
    add_error "${option}: '${file}' is not a regular file given by its absolute path"
    return 0
  fi
  owner_mode="$(stat -c '%u %a' -- "${file}")"
  if [[ "${owner_mode}" != "0 400" && "${owner_mode}" != "0 600" ]]; then
    add_error "${option}: '${file}' must belong to root with mode 0400 or 0600"
  fi
}

validate_files() {
  local member
  if [[ -z "${TARGET}" ]]; then
    add_error "--target: where to restore the files (an absolute folder; / only with --in-place)"
  elif [[ "${TARGET}" != /* || "${TARGET}" =~ (^|/)\.\.?(/|$) || "${TARGET}" == *$'\n'* ]]; then
    add_error "--target: '${TARGET}' must be an absolute path without . or .."
  elif [[ -e "${TARGET}" && ! -d "${TARGET}" ]]; then
    add_error "--target: '${TARGET}' exists and is not a folder"
  elif [[ "${IN_PLACE}" == false ]] && { [[ "${TARGET}" == / ]] \
    || [[ -d "${TARGET}" && -n "$(find "${TARGET}" -mindepth 1 -maxdepth 1 -print -quit)" ]]; }; then
    add_error "--target: '${TARGET}' is not empty: restoring over live data needs --in-place (or restore into a new folder and compare)"
  fi
  for member in "${MEMBERS[@]}"; do
    member="${member#/}"
    if [[ ! "${member}" =~ ${MEMBER_RE} || "${member}" =~ (^|/)\.\.?(/|$) ]]; then
      add_error "--path: '${member}' must be a path relative to / (e.g. srv/data), without . or .."
    fi
  done
}

validate_database() {
  INTO="${INTO:-${DB}}"
  [[ "${DB}" =~ ${DB_RE} ]] || add_error "--${WHAT}-db: '${DB}' is not a valid database name"
  [[ "${INTO}" =~ ${DB_RE} ]] || add_error "--into: '${INTO}' is not a valid database name"
  ((${#ERRORS[@]} == 0)) || return 0
  local tables
  if [[ "${WHAT}" == mysql ]]; then
    command -v mariadb >/dev/null || command -v mysql >/dev/null \
      || { add_error "--mysql-db: no MariaDB/MySQL client here"; return 0; }
    tables="$(sql <<<"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${INTO}'" 2>/dev/null)" \
      || { add_error "--mysql-db: the MariaDB/MySQL server does not answer root on its unix socket"; return 0; }
  else
    command -v pg_restore >/dev/null || { add_error "--postgres-db: no PostgreSQL client here"; return 0; }
    pg_sql postgres 'SELECT 1' >/dev/null 2>&1 \
      || { add_error "--postgres-db: the PostgreSQL server does not answer the postgres user"; return 0; }
    tables=0
    if [[ "$(pg_sql postgres "SELECT 1 FROM pg_database WHERE datname = '${INTO}'")" == 1 ]]; then
      tables="$(pg_sql "${INTO}" "SELECT COUNT(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")"
    fi
  fi
  if ((tables > 0)) && [[ "${REPLACE}" == false ]]; then
    add_error "--into: the database '${INTO}' exists and has ${tables} table(s): give --replace to drop it first, or --into another name"
  fi
}

#######################################
# Databases
#######################################
mysql_client() {
  if command -v mariadb >/dev/null; then mariadb "$@"; else mysql "$@"; fi
}

sql() {
  mysql_client --protocol=socket --user=root --batch --skip-column-names "$@"
}

as_postgres() {
  (cd / && runuser -u postgres -- "$@")
}

# One value from PostgreSQL. Arguments: database, query
pg_sql() {
  as_postgres psql -X -A -t -d "$1" -c "$2"
}

#######################################
# The set: found, fetched (remote), verified by backup.sh
#######################################
backup_sh() {
  local -a args=(--dest "${DEST}" --job "${JOB}")
  [[ -z "${SSH_KEY}" ]] || args+=(--ssh-key "${SSH_KEY}")
  bash "${BACKUP_SH}" "$1" "${args[@]}" "${@:2}"
}

# The newest complete set, from backup.sh status.
resolve_set() {
  local out code=0
  out="$(backup_sh status --quiet 2>"${TMP_DIR}/status.err" | tail -n 1)" || code=$?
  if ((code != 0)); then
    die "$( ((code == 2)) && printf 2 || printf 5)" "the repository cannot be read: $(tail -n 2 "${TMP_DIR}/status.err" | tr '\n' ' ')"
  fi
  if [[ "${SET}" == latest ]]; then
    SET="$(sed -n 's/.*"last_good": "\([^"]*\)".*/\1/p' <<<"${out}")"
    [[ -n "${SET}" ]] || { SET=latest; die 2 "--set latest: the job ${JOB} has no complete set in ${DEST}"; }
    info "latest set: ${SET}"
  fi
}

# A remote set is fetched into the spool; a local one is read where it is.
locate_set() {
  if [[ "${DEST}" != ssh://* ]]; then
    SET_DIR="${DEST%/}/${JOB}/${SET}"
    [[ -d "${SET_DIR}" ]] || die 2 "--set: no set ${SET} in ${DEST%/}/${JOB}"
    return 0
  fi
  [[ "${DEST}" =~ ${REMOTE_RE} ]]
  local host="${BASH_REMATCH[1]}${BASH_REMATCH[3]}" port="${BASH_REMATCH[5]}" path="${BASH_REMATCH[6]%/}" rsh
  local -a ssh=(ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o ConnectTimeout=10 -o LogLevel=ERROR)
  [[ -z "${port}" ]] || ssh+=(-p "${port}")
  [[ -z "${SSH_KEY}" ]] || ssh+=(-i "${SSH_KEY}" -o IdentitiesOnly=yes)
  rsh="$(printf '%q ' "${ssh[@]}")"
  mkdir -p -- "${SPOOL}"
  chmod 0700 -- "${SPOOL}"
  FETCHED="$(mktemp -d "${SPOOL}/restore.XXXXXXXX")"
  mkdir -p -- "${FETCHED}/${JOB}"
  info "fetching ${SET} from ${host}"
  rsync -a -e "${rsh}" -- "${host}:${path}/${JOB}/${SET}/" "${FETCHED}/${JOB}/${SET}/" 2>"${TMP_DIR}/rsync.err" \
    || die 5 "fetching ${SET} from ${host} failed: $(tail -n 2 "${TMP_DIR}/rsync.err" | tr '\n' ' ')"
  SET_DIR="${FETCHED}/${JOB}/${SET}"
}

verify_set() {
  local -a args=(--set "${SET}" --quiet)
  [[ -z "${ENCRYPT_KEY}" ]] || args+=(--encrypt-key "${ENCRYPT_KEY}")
  local dest="${DEST}" code=0
  [[ -z "${FETCHED}" ]] || dest="${FETCHED}"
  bash "${BACKUP_SH}" verify --dest "${dest}" --job "${JOB}" "${args[@]}" >"${TMP_DIR}/verify.out" 2>"${TMP_DIR}/verify.err" || code=$?
  if ((code != 0)); then
    cat -- "${TMP_DIR}/verify.err" >&2
    die 6 "the set ${SET} failed verification: nothing was restored"
  fi
  info "set ${SET} verified"
}

# The one file of the set holding what is asked for. Outputs: its path.
set_file() {
  local pattern="$1" found
  found="$(find "${SET_DIR}" -path "${SET_DIR}/${pattern}" -type f -print -quit)"
  [[ -n "${found}" ]] || return 1
  printf '%s' "${found}"
}

# gpg reads the passphrase from the key file itself: never on a command line, never in a variable.
decode() {
  local name="$1"
  if [[ "${name}" == *.gpg ]]; then
    [[ -n "${ENCRYPT_KEY}" ]] || die 2 "${name##*/} is encrypted: give --encrypt-key"
    [[ -d "${TMP_DIR}/gnupg" ]] || mkdir -m 0700 -- "${TMP_DIR}/gnupg"
    gpg --batch --quiet --homedir "${TMP_DIR}/gnupg" --pinentry-mode loopback --no-symkey-cache \
      --passphrase-file "${ENCRYPT_KEY}" --decrypt | decode "${name%.gpg}"
    return
  fi
  case "${name}" in
    *.zst) zstd -q -d -c ;;
    *.gz) gzip -d -c ;;
    *) cat ;;
  esac
}

# An encrypted file needs the key: said before anything is changed.
need_key() {
  [[ "$1" != *.gpg || -n "${ENCRYPT_KEY}" ]] || die 2 "${1##*/} is encrypted: give --encrypt-key FILE"
}

# The content of a file of the set, decrypted and decompressed.
read_decoded() {
  local name="${1##*/}"
  decode "${name}" <"$1"
}

# zstd or gnupg, when the set needs them and they are missing.
package() {
  if [[ "${OS_FAMILY}" == debian ]]; then
    printf '%s' "${DEBIAN_PACKAGE[$1]}"
  else
    printf '%s' "${REDHAT_PACKAGE[$1]}"
  fi
}

step_packages() {
  PACKAGES=()
  if find "${SET_DIR}" -name '*.zst*' -print -quit | grep -q .; then PACKAGES+=("$(package zstd)"); fi
  if find "${SET_DIR}" -name '*.gpg' -print -quit | grep -q .; then PACKAGES+=("$(package gpg)"); fi
  ((${#PACKAGES[@]} == 0)) || install_packages || true
}

#######################################
# The restores
#######################################
restore_files() {
  local archive
  local -a members=()
  archive="$(set_file 'files.tar*')" || die 2 "--files: the set ${SET} holds no files archive"
  need_key "${archive}"
  local member
  for member in "${MEMBERS[@]}"; do members+=("${member#/}"); done
  RESTORED=files
  changed "restore ${MEMBERS[*]:-every file} of ${SET} into ${TARGET}"
  [[ "${DRY_RUN}" == false ]] || return 0
  mkdir -p -- "${TARGET}"
  # As root tar keeps owners and modes (--same-owner --preserve-permissions) and times.
  if ! read_decoded "${archive}" | tar -x -f - -C "${TARGET}" --same-owner --preserve-permissions \
    --acls --xattrs -- "${members[@]}" 2>"${TMP_DIR}/tar.err"; then
    die 1 "extracting into ${TARGET} failed: $(grep -v 'Removing leading' "${TMP_DIR}/tar.err" | tail -n 3 | tr '\n' ' ')"
  fi
}

restore_mysql() {
  local dump exists
  dump="$(set_file "mysql/${DB}.sql*")" || die 2 "--mysql-db: the set ${SET} holds no dump of '${DB}'"
  need_key "${dump}"
  RESTORED="mysql:${INTO}"
  exists="$(sql <<<"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${INTO}'")"
  if [[ "${REPLACE}" == true && "${exists}" != 0 ]]; then
    changed "drop the MariaDB database ${INTO} (--replace)"
    run sql <<<"DROP DATABASE \`${INTO}\`;"
  fi
  changed "load ${DB} of ${SET} into the MariaDB database ${INTO}"
  [[ "${DRY_RUN}" == false ]] || return 0
  sql <<<"CREATE DATABASE IF NOT EXISTS \`${INTO}\`;"
  # The dump names no database (backup.sh dumps without --databases): it loads into any name.
  read_decoded "${dump}" | sql --database="${INTO}" || die 1 "loading ${DB} into ${INTO} failed"
}

restore_postgres() {
  local dump owner exists
  dump="$(set_file "postgres/${DB}.dump*")" || die 2 "--postgres-db: the set ${SET} holds no dump of '${DB}'"
  need_key "${dump}"
  RESTORED="postgres:${INTO}"
  # The database's owner when the set recorded one and that role exists here; else postgres.
  owner="$(sed -n "s/.*\"postgres_owners\": {.*\"${DB}\": \"\([^\"]*\)\".*/\1/p" "${SET_DIR}/backup.json")"
  if [[ -z "${owner}" || "$(pg_sql postgres "SELECT 1 FROM pg_roles WHERE rolname = '${owner//\'/}'")" != 1 ]]; then
    owner=postgres
  fi
  exists="$(pg_sql postgres "SELECT COUNT(*) FROM pg_database WHERE datname = '${INTO}'")"
  if [[ "${REPLACE}" == true && "${exists}" != 0 ]]; then
    changed "drop the PostgreSQL database ${INTO} (--replace)"
    run as_postgres dropdb -- "${INTO}"
    exists=0
  fi
  changed "load ${DB} of ${SET} into the PostgreSQL database ${INTO} (owner ${owner})"
  [[ "${DRY_RUN}" == false ]] || return 0
  [[ "${exists}" != 0 ]] || as_postgres createdb -O "${owner}" -- "${INTO}"
  # Objects keep their owners when those roles exist (restore globals.sql first on a new server).
  read_decoded "${dump}" | as_postgres pg_restore --exit-on-error --dbname="${INTO}" 2>"${TMP_DIR}/pg.err" \
    || die 1 "loading ${DB} into ${INTO} failed: $(tail -n 3 "${TMP_DIR}/pg.err" | tr '\n' ' ')"
}

#######################################
# Main
#######################################
main() {
  trap cleanup EXIT
  trap 'on_error "${LINENO}" "${BASH_COMMAND}"' ERR
  trap on_interrupt INT TERM HUP
  parse_args "$@"
  require_root
  if [[ "${WHAT}" == list ]]; then
    backup_sh list
    exit
  fi
  detect_os_family
  validate
  report_errors
  [[ -f "${BACKUP_SH}" ]] || die 1 "backup.sh is not beside restore.sh (${BACKUP_SH})"
  TMP_DIR="$(mktemp -d /tmp/tssr-restore.XXXXXXXX)"
  resolve_set
  locate_set
  step_packages
  verify_set
  case "${WHAT}" in
    files) restore_files ;;
    mysql) restore_mysql ;;
    postgres) restore_postgres ;;
  esac
  if [[ "${DRY_RUN}" == false ]]; then
    logger -t "${SYSLOG_TAG}" -- "${JOB}: restored ${RESTORED} from ${SET} into $(target_name)" 2>/dev/null || true
  fi
  info "$([[ "${DRY_RUN}" == true ]] && printf 'would restore' || printf 'restored') ${RESTORED} from ${SET}"
  emit_result changed
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
