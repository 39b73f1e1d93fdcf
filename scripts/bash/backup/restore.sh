#!/usr/bin/env bash
#
# restore.sh - restore files, a database or the PostgreSQL roles from a backup set made by backup.sh,
# after verifying (and, with its key, authenticating) it.
#
# Usage:
#   restore.sh --dest DEST --job JOB [--set NAME|latest] --files --target DIR [--path PATH ...] [--in-place]
#   restore.sh --dest DEST --job JOB [--set NAME|latest] --mysql-db NAME [--into NEWNAME] [--replace]
#   restore.sh --dest DEST --job JOB [--set NAME|latest] --postgres-db NAME [--into NEWNAME] [--replace]
#   restore.sh --dest DEST --job JOB [--set NAME|latest] --postgres-globals
#   restore.sh --dest DEST --job JOB --list
#
#       --dest DEST         the repository's parent folder (default /var/backups/tssr-kit), or
#                           ssh://[user@]host[:port]/path (the set is fetched with rsync first)
#       --job NAME          the job (default: default)
#       --set NAME          the set to restore from (default: latest, the newest complete set)
#       --files             restore files from the set's archive ...
#       --target DIR        ... into DIR (absolute, root's: every folder of its path root's and
#                           writable by root only, or sticky), which must not exist or be empty ...
#       --in-place          ... unless this says so: restore over live data (a non-empty DIR, or /)
#       --path PATH         only this member (relative to /, e.g. srv/data; repeatable)
#       --keep-setuid       keep the setuid/setgid bits of restored files in a --target other than /
#                           (by default they are removed there; they are listed in the result either way)
#       --mysql-db NAME     restore this MariaDB/MySQL database (its name as the server had it: any
#                           characters; backup.json says which file holds it) ...
#       --postgres-db NAME  restore this PostgreSQL database ...
#       --into NEWNAME      ... under this name (default: its own name)
#       --replace           ... dropping the database of that name first when it has tables
#       --postgres-globals  load the set's PostgreSQL roles (globals.sql) on this server: missing
#                           roles made, every role given the attributes and password the set records
#       --encrypt-key FILE  the passphrase file of an encrypted set (root's, mode 0400 or 0600): the
#                           set must then carry a manifest that this key authenticates
#       --allow-unauthenticated   restore a set nothing authenticates (see below): only when you
#                           trust whoever holds the storage
#       --ssh-key FILE      the private key for a remote --dest
#       --host-key LINE     the remote's SSH host key ("TYPE BASE64"), or
#       --known-hosts FILE  a known_hosts file holding it (default: the key backup.sh --install-timer
#                           recorded in /etc/tssr-kit/backup/JOB.known_hosts, else root's known_hosts;
#                           an unknown or changed key is refused)
#       --list              the complete sets of the job (backup.sh list)
#   -n, --dry-run           validate and verify the set, print the plan, change nothing
#   -q, --quiet             narrate only changes and errors
#   -h, --help              print this help
#
# The set is verified first (SHA256SUMS, each archive read to its end, decrypted with the key):
# nothing is restored from a set that fails. A set is trusted only when authenticated: with
# --encrypt-key, by its MANIFEST.gpg (a file swapped, added or removed, a plain file or manifest in
# an encrypted set, a set made before set version 2: refused); without a key, only when it is read
# from a local repository that only root can change. A set from a remote destination or from a
# folder someone else can change is copied into a private folder of /var/spool/tssr-kit first, and
# without a key is refused unless --allow-unauthenticated. SQL is loaded with the client unable to
# run commands of its own (mariadb --sandbox --binary-mode; psql in \restrict mode for globals.sql;
# pg_restore never runs client commands). Owners, modes and times of files are kept, but setuid and
# setgid bits only in / (or with --keep-setuid): the files that had them are listed in the result.
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
#   1  runtime failure (extracting or loading failed: files extracted so far stay; a database this
#      run created is dropped again; one dropped by --replace stays half-loaded)
#   2  usage or validation error: nothing was changed (a non-empty target without --in-place, a
#      target someone else can change, a database that exists with tables without --replace, a set
#      without what was asked for)
#   5  the repository cannot be read (missing, unreachable, unknown or changed host key)
#   6  the set failed verification or authentication: nothing was restored
#
# Output: narration on stderr and in syslog (tag tssr-restore); the last line on stdout is one JSON
# object, for example
#   {"script": "restore.sh", "status": "changed", "changed": 1, "set": "web-20261129T021500Z", "restored": "mysql:shop", ...}
#
# What it changes on the system: the files under --target (created when missing), or the database
# --into (created; dropped first with --replace), or the roles of globals.sql; installs zstd or
# gnupg when the set needs them; a private copy of a remote (or not root-only) set in
# /var/spool/tssr-kit (removed at the end).
#
# Supported OS families: debian (Debian 12, 13; Ubuntu) and redhat (RHEL, Rocky, AlmaLinux 9).
# Needs: bash 4.4+, GNU coreutils, tar and findutils, util-linux (runuser, logger), backup.sh beside
# it, root.

# -E: the ERR trap also fires inside functions; -e: stop at the first failing command; -u: an unset
# variable is a bug; pipefail: `zstd -d | mariadb` fails when zstd fails.
set -Eeuo pipefail
export LC_ALL=C
umask 077

# The kit's library, as backup.sh uses it: lib/ beside this script (installed) or ../lib (the repository).
TSSR_LIB="$(dirname -- "${BASH_SOURCE[0]}")/lib"
[[ -d "${TSSR_LIB}" ]] || TSSR_LIB="${TSSR_LIB%/lib}/../lib"
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TSSR_LIB}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/db.sh
. "${TSSR_LIB}/db.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/sets.sh
. "${TSSR_LIB}/sets.sh"

#######################################
# Constants
#######################################
readonly SCRIPT_NAME=restore
readonly SYSLOG_TAG=tssr-restore
readonly RESULT_SCRIPT=restore.sh
readonly MEMBER_RE='^[A-Za-z0-9._@+-][A-Za-z0-9._/@+ -]*$'
# One dump of backup.json (set version 2): its kind, its file in the set, its database's name (and
# owner) as the hex of their bytes.
readonly DUMP_LINE_RE='^    \{"kind": "(mysql|postgres)", "file": "((mysql|postgres)/(@[0-9]{1,5}|[A-Za-z0-9_][A-Za-z0-9_$-]{0,63})\.(sql\.(zst|gz)|dump)(\.gpg)?)", "name_hex": "([0-9a-f]*)"(, "owner_hex": "([0-9a-f]*)")?\},?$'
readonly BACKUP_SH="${SCRIPT_DIR}/backup.sh"

#######################################
# Settings
#######################################
DEST=/var/backups/tssr-kit
JOB=default
SET=latest
WHAT=""                 # files | mysql | postgres | globals | list
TARGET=""
IN_PLACE=false
KEEP_SETUID=false
MEMBERS=()
DB=""
INTO=""
REPLACE=false
ENCRYPT_KEY=""
ALLOW_UNAUTHENTICATED=false
SSH_KEY=""
HOST_KEY=""
KNOWN_HOSTS=""
DRY_RUN=false
QUIET=false

#######################################
# Run state
#######################################
NAME=""
CHANGES=0
ERRORS=()
TMP_DIR=""
FETCHED=""              # the private copy of a remote or not root-only set (removed by cleanup)
SET_DIR=""              # the set's folder, here (a place only root can change)
VERIFY_DEST=""          # the --dest that names SET_DIR's repository for backup.sh verify
UNTRUSTED_FROM=""       # where the set came from, when someone else than root could have changed it
OS_FAMILY=""
PACKAGES=()
RESTORED=""
SETUID_FILES=()         # files restored with a setuid or setgid bit (relative to the target)
SETUID_STRIPPED=false
TARGET_MODE=""          # the target's mode, put back after the extraction
DUMP_PATH=""            # the dump asked for, and its database's owner (PostgreSQL): read_dump's answer
DUMP_OWNER=""

on_interrupt() {
  trap - INT TERM HUP
  die 1 "interrupted: what was restored so far stays"
}

cleanup() {
  [[ -z "${FETCHED}" || ! -d "${FETCHED}" ]] || rm -rf -- "${FETCHED}"
  if [[ -n "${TARGET_MODE}" && -d "${TARGET}" && ! -L "${TARGET}" ]]; then
    chmod "${TARGET_MODE}" -- "${TARGET}" 2>/dev/null || true
  fi
  if [[ -n "${TMP_DIR}" && -d "${TMP_DIR}" ]]; then
    [[ ! -d "${TMP_DIR}/gnupg" ]] || gpgconf --homedir "${TMP_DIR}/gnupg" --kill gpg-agent >/dev/null 2>&1 || true
    rm -rf -- "${TMP_DIR}"
  fi
}

emit_result() {
  local status="$1" error="${2:-}" set_name=""
  [[ "${SET}" == latest ]] || set_name="${SET}"
  local -a files=()
  [[ "${status}" != failed ]] || syslog_failure "${JOB}: failed: ${error}"
  [[ "${WHAT}" != files ]] || files=(setuid list SETUID_FILES setuid_stripped bool "${SETUID_STRIPPED}")
  result_line "${status}" job str "${JOB}" set opt "${set_name}" restored opt "${RESTORED}" \
    target opt "$(target_name)" "${files[@]}" error some "${error}"
}

target_name() {
  case "${WHAT}" in
    files) printf '%s' "${TARGET}" ;;
    mysql | postgres) printf '%s' "${INTO:-${DB}}" ;;
    globals) printf 'roles' ;;
  esac
}

#######################################
# Command line
#######################################
what_is() {
  [[ -z "${WHAT}" || "${WHAT}" == "$1" ]] || usage_error "give one of --files, --mysql-db, --postgres-db, --postgres-globals, --list"
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
      --keep-setuid) KEEP_SETUID=true; shift ;;
      --path) need_value "$1" $#; MEMBERS+=("$2"); shift 2 ;;
      --mysql-db) need_value "$1" $#; what_is mysql; DB="$2"; shift 2 ;;
      --postgres-db) need_value "$1" $#; what_is postgres; DB="$2"; shift 2 ;;
      --postgres-globals) what_is globals; shift ;;
      --into) need_value "$1" $#; INTO="$2"; shift 2 ;;
      --replace) REPLACE=true; shift ;;
      --encrypt-key) need_value "$1" $#; ENCRYPT_KEY="$2"; shift 2 ;;
      --allow-unauthenticated) ALLOW_UNAUTHENTICATED=true; shift ;;
      --ssh-key) need_value "$1" $#; SSH_KEY="$2"; shift 2 ;;
      --host-key) need_value "$1" $#; HOST_KEY="$2"; shift 2 ;;
      --known-hosts) need_value "$1" $#; KNOWN_HOSTS="$2"; shift 2 ;;
      --list) what_is list; shift ;;
      *) common_option "$1" || usage_error "unexpected argument: $1"; shift ;;
    esac
  done
  NAME="${JOB}"
}

#######################################
# Validation (exit 2, nothing changed)
#######################################
validate() {
  [[ "${JOB}" =~ ${JOB_RE} ]] || add_error "--job: '$(shown "${JOB}")' is not a valid job name (1 to 40 of a-z 0-9 _ -)"
  if [[ "${SET}" != latest && ! "${SET}" =~ ^${JOB}-[0-9]{8}T[0-9]{6}Z$ ]]; then
    add_error "--set: '$(shown "${SET}")' is not latest or a set name of the job (${JOB}-YYYYmmddTHHMMSSZ)"
  fi
  [[ "${DEST}" != ssh://* ]] || parse_remote "${DEST}" || add_error "--dest: '${DEST}' is not ssh://[user@]host[:port]/path"
  [[ "${DEST}" == ssh://* || "${DEST}" =~ ${PLAIN_PATH_RE} ]] \
    || add_error "--dest: '$(shown "${DEST}")' is not an absolute folder (letters, digits and ._/@+-)"
  [[ ! "${DEST}" =~ (^|/)\.\.?(/|$) ]] || add_error "--dest: '${DEST}' holds . or .."
  [[ -z "${ENCRYPT_KEY}" ]] || validate_secret_file --encrypt-key "${ENCRYPT_KEY}" plain || true
  [[ -z "${SSH_KEY}" ]] || validate_secret_file --ssh-key "${SSH_KEY}" plain || true
  validate_host_key
  case "${WHAT}" in
    '') add_error "what to restore: give --files, --mysql-db NAME, --postgres-db NAME, --postgres-globals (or --list)" ;;
    files) validate_files ;;
    mysql | postgres) validate_database ;;
    globals) validate_globals ;;
  esac
  if [[ "${WHAT}" != files ]] && { [[ -n "${TARGET}" ]] || ((${#MEMBERS[@]} > 0)) || [[ "${IN_PLACE}" == true || "${KEEP_SETUID}" == true ]]; }; then
    add_error "--target, --path, --in-place and --keep-setuid go with --files"
  fi
  if [[ "${WHAT}" != mysql && "${WHAT}" != postgres ]] && { [[ -n "${INTO}" || "${REPLACE}" == true ]]; }; then
    add_error "--into and --replace go with --mysql-db or --postgres-db"
  fi
}

validate_files() {
  local member why
  if [[ -z "${TARGET}" ]]; then
    add_error "--target: where to restore the files (an absolute folder; / only with --in-place)"
  elif [[ "${TARGET}" != /* || "${TARGET}" =~ (^|/)\.\.?(/|$) || "${TARGET}" =~ [[:cntrl:]] ]]; then
    add_error "--target: '$(shown "${TARGET}")' must be an absolute path without . or .. (nor control characters)"
  elif [[ -e "${TARGET}" && ! -d "${TARGET}" ]] || [[ "${TARGET}" != / && -L "${TARGET%/}" ]]; then
    add_error "--target: '${TARGET}' exists and is not a folder (or is a link)"
  elif why="$(untrusted_in_path "${TARGET}")" && [[ -n "${why}" ]]; then
    add_error "--target: '${TARGET}' is not root's alone: ${why} (someone else could swap a folder of it for a link, or read what is restored)"
  elif [[ "${IN_PLACE}" == false ]] && { [[ "${TARGET}" == / ]] \
    || [[ -d "${TARGET}" && -n "$(find "${TARGET}" -mindepth 1 -maxdepth 1 -print -quit)" ]]; }; then
    add_error "--target: '${TARGET}' is not empty: restoring over live data needs --in-place (or restore into a new folder and compare)"
  fi
  for member in "${MEMBERS[@]}"; do
    member="${member#/}"
    if [[ ! "${member}" =~ ${MEMBER_RE} || "${member}" =~ (^|/)\.\.?(/|$) ]]; then
      add_error "--path: '$(shown "${member}")' must be a path relative to / (e.g. srv/data), without . or .."
    fi
  done
}

# A database's name is any name the server had (backup.json maps it to its dump): not empty, within
# the server's limit (MariaDB 64 characters, PostgreSQL 63 bytes).
validate_name() {
  local option="$1" value="$2" max=192
  [[ "${WHAT}" == mysql ]] || max=63
  if [[ -z "${value}" ]] || ((${#value} > max)); then
    add_error "${option}: $(shown "${value}") is not a database name (1 to ${max} bytes)"
    return 1
  fi
}

validate_database() {
  INTO="${INTO:-${DB}}"
  validate_name "--${WHAT}-db" "${DB}" || true
  validate_name --into "${INTO}" || true
  ((${#ERRORS[@]} == 0)) || return 0
  local tables
  if [[ "${WHAT}" == mysql ]]; then
    command -v mariadb >/dev/null || command -v mysql >/dev/null \
      || { add_error "--mysql-db: no MariaDB/MySQL client here"; return 0; }
    tables="$(sql <<<"SELECT COUNT(*) FROM information_schema.TABLES WHERE HEX(TABLE_SCHEMA) = '$(my_hex "${INTO}")'" 2>/dev/null)" \
      || { add_error "--mysql-db: the MariaDB/MySQL server does not answer root on its unix socket"; return 0; }
  else
    command -v pg_restore >/dev/null || { add_error "--postgres-db: no PostgreSQL client here"; return 0; }
    pg_query postgres <<<'SELECT 1' >/dev/null 2>&1 \
      || { add_error "--postgres-db: the PostgreSQL server does not answer the postgres user"; return 0; }
    tables=0
    if [[ "$(pg_query postgres -v "db=${INTO}" <<<"SELECT COUNT(*) FROM pg_database WHERE datname = :'db'")" == 1 ]]; then
      tables="$(pg_query "${INTO}" <<<"SELECT COUNT(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")"
    fi
  fi
  if ((tables > 0)) && [[ "${REPLACE}" == false ]]; then
    add_error "--into: the database $(shown "${INTO}") exists and has ${tables} table(s): give --replace to drop it first, or --into another name"
  fi
}

validate_globals() {
  command -v psql >/dev/null || { add_error "--postgres-globals: no PostgreSQL client here"; return 0; }
  pg_query postgres <<<'SELECT 1' >/dev/null 2>&1 \
    || { add_error "--postgres-globals: the PostgreSQL server does not answer the postgres user"; return 0; }
  # \restrict (PostgreSQL 13.22, 14.19, 15.14, 16.10, 17.6 and later) is what stops psql from running
  # a client command (\!, \o |cmd, \copy ... program) written in the file.
  if ! printf '\\restrict tssrcheck\n\\unrestrict tssrcheck\n' | as_postgres psql -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null 2>&1; then
    add_error "--postgres-globals: this psql cannot be kept from running client commands (no \\restrict: PostgreSQL 15.14, 16.10, 17.6 or later needed): load globals.sql another way"
  fi
}

# The SQL on stdin, as root over the unix socket, in utf8mb4 (a name built from hex keeps its bytes).
sql() {
  mysql_root --default-character-set=utf8mb4
}

# The name's hex as MariaDB's HEX() writes it (upper case).
my_hex() {
  local hex
  hex="$(hex_of "$1")"
  printf '%s' "${hex^^}"
}

# A name as a MariaDB string expression built from its hex: the SQL text holds hex digits only.
my_name() {
  printf "CONVERT(UNHEX('%s') USING utf8mb4)" "$(hex_of "$1")"
}

my_exists() {
  sql <<<"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE HEX(SCHEMA_NAME) = '$(my_hex "$1")'"
}

# CREATE or DROP DATABASE of any name: the statement is built on the server (backticks doubled)
# from the hex, never pasted into the SQL the client reads.
my_database() {
  sql <<<"SET @tssr_name = $(my_name "$2");
SET @tssr_sql = CONCAT('$1 DATABASE \`', REPLACE(@tssr_name, '\`', '\`\`'), '\`');
PREPARE tssr_statement FROM @tssr_sql; EXECUTE tssr_statement; DEALLOCATE PREPARE tssr_statement;"
}

# Load a dump (stdin) into the database NAME with the client's own commands disabled: --sandbox
# refuses \! system, \T tee, \o, source...; --binary-mode stops it parsing client commands at all
# (MariaDB clients older than --sandbox still have it). The name reaches the client as one argument.
my_load() {
  local -a safe=(--binary-mode)
  ! mysql_sandbox || safe+=(--sandbox)
  # utf8mb4: the name is sent as its bytes (the dump sets its own character set).
  mysql_client --protocol=socket --user=root --batch --default-character-set=utf8mb4 "${safe[@]}" --database="$1"
}

# psql as postgres in DATABASE, the SQL on stdin, names given as psql variables (-v name=value,
# used as :'name' or :"name"): psql quotes them; the SQL text holds no name.
# Arguments: database, psql options (-v ...)
pg_query() {
  local db="$1"
  shift
  as_postgres psql -X -A -t -q -v ON_ERROR_STOP=1 "$@" -d "$(conninfo "${db}")"
}

#######################################
# The set: found, copied where only root can change it, verified (and authenticated) by backup.sh
#######################################
backup_sh() {
  local -a args=(--dest "${DEST}" --job "${JOB}")
  [[ -z "${SSH_KEY}" ]] || args+=(--ssh-key "${SSH_KEY}")
  [[ -z "${HOST_KEY}" ]] || args+=(--host-key "${HOST_KEY}")
  [[ -z "${KNOWN_HOSTS}" ]] || args+=(--known-hosts "${KNOWN_HOSTS}")
  bash "${BACKUP_SH}" "$1" "${args[@]}" "${@:2}"
}

# The newest complete set, from backup.sh status.
resolve_set() {
  local out code=0
  out="$(backup_sh status --quiet 2>"${TMP_DIR}/status.err" | tail -n 1)" || code=$?
  if ((code != 0)); then
    die "$( ((code == 2)) && printf 2 || printf 5)" "the repository cannot be read: $(sed -n 's/^error: //p' "${TMP_DIR}/status.err" | tail -n 2 | tr '\n' ' ')"
  fi
  if [[ "${SET}" == latest ]]; then
    SET="$(sed -n 's/.*"last_good": "\([^"]*\)".*/\1/p' <<<"${out}")"
    [[ "${SET}" =~ ^${JOB}-[0-9]{8}T[0-9]{6}Z$ ]] || { SET=latest; die 2 "--set latest: the job ${JOB} has no complete set in ${DEST}"; }
    info "latest set: ${SET}"
  fi
}

# A private folder for a copy of the set (lib/sets.sh, spool_folder), with the job's folder in it.
make_fetch_dir() {
  spool_folder restore FETCHED
  mkdir -m 0700 -- "${FETCHED}/${JOB}"
}

# Where the set is read from. A local set in a repository only root can change is read where it is
# (by its resolved path: a link someone else could re-point is not followed twice). Any other set —
# remote, or in a folder someone else can change — is copied first into a private folder (regular
# files only: links, devices and fifos are not copied), and is then not trusted without its key.
locate_set() {
  if [[ "${DEST}" != ssh://* ]]; then
    local dir="${DEST%/}/${JOB}/${SET}" why real
    [[ -d "${dir}" ]] || die 2 "--set: no set ${SET} in ${DEST%/}/${JOB}"
    why="$(untrusted_in_path "${dir}")"
    [[ -n "${why}" ]] || why="$(find "${dir}" -mindepth 1 \( ! -user 0 -o -perm /022 -o ! -type f ! -type d \) \
      -printf '%P is not a file of root that only root can write\n' -quit)"
    real="$(realpath -e -- "${dir}")"
    if [[ -z "${why}" && "${real}" =~ ${PLAIN_PATH_RE} && "${real}" == */"${JOB}/${SET}" ]]; then
      SET_DIR="${real}"
      VERIFY_DEST="${real%/*/*}"
      return 0
    fi
    if [[ -n "${why}" ]]; then
      UNTRUSTED_FROM="${dir}, which someone else than root can change (${why})"
    fi
    make_fetch_dir
    info "copying ${SET} into ${FETCHED}"
    copy_set "${dir}" "${FETCHED}/${JOB}/${SET}"
  else
    local rsh
    local -a ssh=()
    remote_ssh ssh           # (lib/sets.sh: REMOTE... were set by parse_remote when validated)
    rsh="$(printf '%q ' "${ssh[@]}")"
    make_fetch_dir
    UNTRUSTED_FROM="${DEST}, held by whoever runs ${REMOTE_HOST}"
    info "fetching ${SET} from ${REMOTE}"
    # -rt: files and folders, their times; no links, devices, owners or modes from the remote.
    rsync -rt -e "${rsh}" -- "${REMOTE}:${REMOTE_PATH%/}/${JOB}/${SET}/" "${FETCHED}/${JOB}/${SET}/" \
      2>"${TMP_DIR}/rsync.err" || die 5 "fetching ${SET} from ${REMOTE} failed: $(tail -n 2 "${TMP_DIR}/rsync.err" | tr '\n' ' ')"
  fi
  SET_DIR="${FETCHED}/${JOB}/${SET}"
  VERIFY_DEST="${FETCHED}"
}

# Copy the regular files and folders of a set (a folder someone else may change) into a private one.
copy_set() {
  local from="$1" to="$2" kind path
  mkdir -m 0700 -- "${to}"
  while IFS= read -r -d '' kind && IFS= read -r -d '' path; do
    [[ "${path}" =~ ^[A-Za-z0-9_@$.-]+(/[A-Za-z0-9_@$.-]+)?$ && ! "${path}" =~ (^|/)\.\.?(/|$) ]] || continue
    if [[ "${kind}" == d ]]; then
      mkdir -m 0700 -- "${to}/${path}"
    else
      cp -P --preserve=timestamps -- "${from}/${path}" "${to}/${path}"
    fi
  done < <(find "${from}" -mindepth 1 -maxdepth 2 \( -type d -printf 'd\0%P\0' -o -type f -printf 'f\0%P\0' \))
}

verify_set() {
  local -a args=(--set "${SET}" --quiet)
  [[ -z "${ENCRYPT_KEY}" ]] || args+=(--encrypt-key "${ENCRYPT_KEY}")
  [[ "${ALLOW_UNAUTHENTICATED}" == false ]] || args+=(--allow-unauthenticated)
  local code=0
  bash "${BACKUP_SH}" verify --dest "${VERIFY_DEST}" --job "${JOB}" "${args[@]}" >"${TMP_DIR}/verify.out" 2>"${TMP_DIR}/verify.err" || code=$?
  if ((code != 0)); then
    cat -- "${TMP_DIR}/verify.err" >&2
    die 6 "the set ${SET} failed verification: nothing was restored ($(sed -n 's/^error: verify failed: //p' "${TMP_DIR}/verify.err" | head -n 1))"
  fi
  grep '^warning: ' -- "${TMP_DIR}/verify.err" >&2 || true
  info "set ${SET} verified$([[ -n "${ENCRYPT_KEY}" ]] && printf ' and authenticated with the key')"
}

# Without its key a set is trusted only when read from a repository only root can change: refused
# otherwise (exit 6), unless --allow-unauthenticated. Called before any change.
require_trust() {
  [[ -z "${ENCRYPT_KEY}" && -n "${UNTRUSTED_FROM}" ]] || return 0
  if [[ "${ALLOW_UNAUTHENTICATED}" == true ]]; then
    warn "the set ${SET} is not authenticated (no --encrypt-key) and comes from ${UNTRUSTED_FROM}: restored anyway (--allow-unauthenticated)"
    return 0
  fi
  die 6 "the set ${SET} is not authenticated (no --encrypt-key) and comes from ${UNTRUSTED_FROM}: whoever holds it could have changed any file. Nothing was restored. Use encrypted sets (--encrypt-key authenticates them), or give --allow-unauthenticated if you trust whoever holds the storage"
}

# The first of these files the set holds (regular files, names given here). Outputs: its path.
set_file() {
  local name
  for name in "$@"; do
    if [[ -f "${SET_DIR}/${name}" && ! -L "${SET_DIR}/${name}" ]]; then
      printf '%s' "${SET_DIR}/${name}"
      return 0
    fi
  done
  return 1
}

#######################################
# The dump of the database DB (WHAT: mysql or postgres) from backup.json: set version 2 maps each
# file to its database's name (hex); older sets named the file after the database (plain names only).
# Sets DUMP_PATH and DUMP_OWNER (the recorded owner, PostgreSQL).
#######################################
read_dump() {
  local meta="${SET_DIR}/backup.json" line want version
  version="$(sed -n 's/^  "version": \([0-9]*\),$/\1/p' "${meta}" | head -n 1)"
  DUMP_PATH=""
  DUMP_OWNER=""
  if ((${version:-1} >= 2)); then
    want="$(hex_of "${DB}")"
    while IFS= read -r line; do
      [[ "${line}" =~ ${DUMP_LINE_RE} ]] || continue
      [[ "${BASH_REMATCH[1]}" == "${WHAT}" && "${BASH_REMATCH[8]}" == "${want}" ]] || continue
      [[ "${BASH_REMATCH[3]}" == "${WHAT}" ]] || continue
      DUMP_PATH="$(set_file "${BASH_REMATCH[2]}")" || DUMP_PATH=""
      [[ -z "${BASH_REMATCH[10]}" ]] || from_hex "${BASH_REMATCH[10]}" DUMP_OWNER || DUMP_OWNER=""
      break
    done <"${meta}"
  elif [[ "${DB}" =~ ${PLAIN_NAME_RE} ]]; then
    if [[ "${WHAT}" == mysql ]]; then
      DUMP_PATH="$(set_file "mysql/${DB}.sql.zst" "mysql/${DB}.sql.gz" "mysql/${DB}.sql.zst.gpg" "mysql/${DB}.sql.gz.gpg")" || DUMP_PATH=""
    else
      DUMP_PATH="$(set_file "postgres/${DB}.dump" "postgres/${DB}.dump.gpg")" || DUMP_PATH=""
      line="$(grep -m 1 '^  "postgres_owners": ' "${meta}" || true)"
      local pattern="\"${DB}\": \"" rest
      rest="${line#*"${pattern}"}"
      [[ "${rest}" == "${line}" ]] || DUMP_OWNER="${rest%%\"*}"
    fi
  fi
  [[ -n "${DUMP_PATH}" ]] || die 2 "--${WHAT}-db: the set ${SET} holds no dump of the database $(shown "${DB}")"
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
step_packages() {
  PACKAGES=()
  if find "${SET_DIR}" -name '*.zst*' -print -quit | grep -q .; then PACKAGES+=("$(package_of zstd)"); fi
  if find "${SET_DIR}" -name '*.gpg' -print -quit | grep -q .; then PACKAGES+=("$(package_of gpg)"); fi
  ((${#PACKAGES[@]} == 0)) || install_packages || true
}

#######################################
# The restores
#######################################
# The target made (its missing folders, 0700 root, one by one: never through someone else's link),
# then checked again right before the extraction: a folder of root's, not a link, under a path only
# root can change. Besides /, it is kept 0700 while the files (and setuid ones) are put in it.
prepare_target() {
  local current="" part why
  local -a parts
  IFS=/ read -r -a parts <<<"${TARGET#/}"
  for part in "${parts[@]}"; do
    [[ -n "${part}" ]] || continue
    current="${current}/${part}"
    if [[ ! -e "${current}" && ! -L "${current}" ]]; then
      mkdir -m 0700 -- "${current}" || die 1 "cannot create ${current}"
    fi
  done
  why="$(untrusted_in_path "${TARGET}")"
  if [[ -n "${why}" || ! -d "${TARGET}" ]] || [[ "${TARGET}" != / && -L "${TARGET%/}" ]]; then
    die 1 "the target ${TARGET} is not a folder of root's under a path only root can change${why:+ (${why})}: nothing extracted"
  fi
  if [[ "${TARGET}" != / ]]; then
    TARGET_MODE="$(stat -c '%a' -- "${TARGET}")"
    chmod 0700 -- "${TARGET}"
  fi
}

restore_files() {
  local archive reference
  local -a members=() roots=() find_opts=()
  archive="$(set_file files.tar.zst files.tar.gz files.tar.zst.gpg files.tar.gz.gpg)" \
    || die 2 "--files: the set ${SET} holds no files archive"
  need_key "${archive}"
  require_trust
  local member
  for member in "${MEMBERS[@]}"; do members+=("${member#/}"); done
  RESTORED=files
  changed "restore ${MEMBERS[*]:-every file} of ${SET} into ${TARGET}"
  [[ "${DRY_RUN}" == false ]] || return 0
  prepare_target
  # Files whose inode changes from now on are the ones tar writes (its ctime is always now).
  reference="${TMP_DIR}/extract.start"
  touch -d "@$(($(date +%s) - 1))" -- "${reference}"
  # As root tar keeps owners and modes (--same-owner --preserve-permissions) and times.
  if ! read_decoded "${archive}" | tar -x -f - -C "${TARGET}" --same-owner --preserve-permissions \
    --acls --xattrs -- "${members[@]}" 2>"${TMP_DIR}/tar.err"; then
    die 1 "extracting into ${TARGET} failed: $(grep -v 'Removing leading' "${TMP_DIR}/tar.err" | tail -n 3 | tr '\n' ' ')"
  fi
  for member in "${members[@]}"; do
    [[ ! -e "${TARGET%/}/${member}" ]] || roots+=("${TARGET%/}/${member}")
  done
  ((${#members[@]} > 0)) || roots=("${TARGET}")
  [[ "${TARGET}" != / || ${#members[@]} -gt 0 ]] || find_opts=(-xdev)
  setuid_files "${reference}" "${roots[@]}" -- "${find_opts[@]}"
  if [[ -n "${TARGET_MODE}" ]]; then
    chmod "${TARGET_MODE}" -- "${TARGET}"
    TARGET_MODE=""
  fi
}

# The restored files with a setuid or setgid bit: listed, and the bits removed unless the target is
# / or --keep-setuid says to keep them (a copy of /usr/bin/passwd in /srv/restore is a root shell
# for whoever can reach it).
# Arguments: the reference file (older than the extraction), roots..., --, find options...
setuid_files() {
  local reference="$1" path
  shift
  local -a roots=() options=()
  while (($#)) && [[ "$1" != -- ]]; do roots+=("$1"); shift; done
  (($# == 0)) || shift
  options=("$@")
  local strip=true
  [[ "${TARGET}" != / && "${KEEP_SETUID}" == false ]] || strip=false
  ((${#roots[@]} > 0)) || return 0
  while IFS= read -r -d '' path; do
    SETUID_FILES+=("${path#"${TARGET%/}"/}")
    if [[ "${strip}" == true ]]; then
      chmod ug-s -- "${path}"
      SETUID_STRIPPED=true
    fi
  done < <(find "${roots[@]}" "${options[@]}" ! -type d -perm /6000 -newercm "${reference}" -print0 2>/dev/null)
  if ((${#SETUID_FILES[@]} > 0)); then
    if [[ "${strip}" == true ]]; then
      warn "${#SETUID_FILES[@]} restored file(s) had a setuid or setgid bit, removed (not restoring into /; --keep-setuid keeps them): $(shown "${SETUID_FILES[0]}")$( ((${#SETUID_FILES[@]} > 1)) && printf ' ...')"
    else
      warn "${#SETUID_FILES[@]} restored file(s) keep a setuid or setgid bit: $(shown "${SETUID_FILES[0]}")$( ((${#SETUID_FILES[@]} > 1)) && printf ' ...')"
    fi
  fi
}

restore_mysql() {
  local exists created=false
  read_dump
  need_key "${DUMP_PATH}"
  require_trust
  RESTORED="mysql:${INTO}"
  exists="$(my_exists "${INTO}")"
  if [[ "${REPLACE}" == true && "${exists}" != 0 ]]; then
    changed "drop the MariaDB database $(shown "${INTO}") (--replace)"
    run my_database DROP "${INTO}"
  fi
  changed "load $(shown "${DB}") of ${SET} into the MariaDB database $(shown "${INTO}")"
  [[ "${DRY_RUN}" == false ]] || return 0
  if [[ "${exists}" == 0 || "${REPLACE}" == true ]]; then
    my_database CREATE "${INTO}"
    [[ "${exists}" != 0 ]] || created=true
  fi
  # The dump names no database (backup.sh dumps without --databases): it loads into any name.
  if ! read_decoded "${DUMP_PATH}" | my_load "${INTO}" 2>"${TMP_DIR}/load.err"; then
    if [[ "${created}" == true ]]; then
      my_database DROP "${INTO}" || true
      die 1 "loading $(shown "${DB}") into $(shown "${INTO}") failed, and the database made for it was dropped again: $(tail -n 3 "${TMP_DIR}/load.err" | tr '\n' ' ')"
    fi
    die 1 "loading $(shown "${DB}") into $(shown "${INTO}") failed: $(tail -n 3 "${TMP_DIR}/load.err" | tr '\n' ' ')"
  fi
}

#######################################
# PostgreSQL: the dump goes into a new database of a random name (tssr_restore_...), owned by the
# recorded owner when that role exists here, else postgres; renamed INTO only once pg_restore
# succeeded (with --replace, INTO is dropped then). A failed load drops the new database: nothing
# changed. An existing empty INTO (no --replace) is loaded in place, as before.
#######################################
restore_postgres() {
  local owner exists scratch
  read_dump
  need_key "${DUMP_PATH}"
  require_trust
  RESTORED="postgres:${INTO}"
  owner="${DUMP_OWNER}"
  if [[ -z "${owner}" || "$(pg_query postgres -v "owner=${owner}" <<<"SELECT 1 FROM pg_roles WHERE rolname = :'owner'")" != 1 ]]; then
    owner=postgres
  fi
  exists="$(pg_query postgres -v "db=${INTO}" <<<"SELECT COUNT(*) FROM pg_database WHERE datname = :'db'")"
  if [[ "${REPLACE}" == true && "${exists}" != 0 ]]; then
    changed "drop the PostgreSQL database $(shown "${INTO}") (--replace), once the set's copy is loaded"
  fi
  changed "load $(shown "${DB}") of ${SET} into the PostgreSQL database $(shown "${INTO}") (owner $(shown "${owner}"))"
  [[ "${DRY_RUN}" == false ]] || return 0
  if [[ "${exists}" != 0 && "${REPLACE}" == false ]]; then
    pg_load "${INTO}" || die 1 "loading $(shown "${DB}") into $(shown "${INTO}") failed: $(tail -n 3 "${TMP_DIR}/pg.err" | tr '\n' ' ')"
    return 0
  fi
  scratch="tssr_restore_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  pg_query postgres -v "db=${scratch}" -v "owner=${owner}" <<<'CREATE DATABASE :"db" OWNER :"owner"' >/dev/null
  if ! pg_load "${scratch}"; then
    pg_query postgres -v "db=${scratch}" <<<'DROP DATABASE :"db"' >/dev/null || true
    die 1 "loading $(shown "${DB}") failed (nothing changed: the database it was loaded into is dropped): $(tail -n 3 "${TMP_DIR}/pg.err" | tr '\n' ' ')"
  fi
  if [[ "${exists}" != 0 ]]; then
    if ! pg_query postgres -v "db=${INTO}" <<<'DROP DATABASE :"db"' >/dev/null 2>"${TMP_DIR}/drop.err"; then
      pg_query postgres -v "db=${scratch}" <<<'DROP DATABASE :"db"' >/dev/null || true
      die 1 "dropping $(shown "${INTO}") failed (is it in use?), it is as it was: $(tail -n 2 "${TMP_DIR}/drop.err" | tr '\n' ' ')"
    fi
  fi
  pg_query postgres -v "db=${scratch}" -v "into=${INTO}" <<<'ALTER DATABASE :"db" RENAME TO :"into"' >/dev/null
}

# pg_restore of the dump into DATABASE (named in a quoted connection string). pg_restore talks to
# the server directly: no psql, no client commands.
pg_load() {
  read_decoded "${DUMP_PATH}" | as_postgres pg_restore --exit-on-error --dbname="$(conninfo "$1")" 2>"${TMP_DIR}/pg.err"
}

#######################################
# The roles (globals.sql) loaded by psql in restricted mode: the first line is \restrict with a key
# made here, at random; the file's own \restrict and \unrestrict lines are left out. psql then runs
# no client command (\!, \o |cmd, \copy ... program, \connect...) whatever the file says: it cannot
# know the key. A role that exists is not made again (its CREATE fails, as pg_dumpall intends) but
# takes the attributes and password the set records (its ALTER ROLE runs); any other error fails the
# restore (exit 1).
#######################################
restore_globals() {
  local globals key errors
  globals="$(set_file postgres/globals.sql.zst postgres/globals.sql.gz postgres/globals.sql.zst.gpg postgres/globals.sql.gz.gpg)" \
    || die 2 "--postgres-globals: the set ${SET} holds no PostgreSQL globals (postgres/globals.sql)"
  need_key "${globals}"
  require_trust
  RESTORED="postgres:globals"
  changed "load the PostgreSQL roles of ${SET} (globals.sql: roles made or altered as the set records them)"
  [[ "${DRY_RUN}" == false ]] || return 0
  key="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
  { printf '\\restrict %s\n' "${key}"; read_decoded "${globals}" | sed -E '/^\\(un)?restrict [A-Za-z0-9]+[[:space:]]*$/d'; } \
    | as_postgres psql -X -q -v VERBOSITY=sqlstate -f - -d postgres >/dev/null 2>"${TMP_DIR}/globals.err" || true
  # Every message is an error (a refused client command included) but notices and "the role exists"
  # (server messages as their SQLSTATE alone: a role's name may span lines; 42710: duplicate object).
  errors="$(grep -vE '(^|: )(ERROR: +42710|NOTICE: +[0-9A-Z]{5}|WARNING: +[0-9A-Z]{5})$' -- "${TMP_DIR}/globals.err" || true)"
  if [[ -n "${errors}" ]]; then
    die 1 "loading the roles failed (what loaded before the error stays): $(head -n 3 <<<"${errors}" | tr '\n' ' ')"
  fi
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
    globals) restore_globals ;;
  esac
  if [[ "${DRY_RUN}" == false ]]; then
    logger -t "${SYSLOG_TAG}" -- "${JOB}: restored $(shown "${RESTORED}") from ${SET} into $(shown "$(target_name)")" 2>/dev/null || true
  fi
  info "$([[ "${DRY_RUN}" == true ]] && printf 'would restore' || printf 'restored') $(shown "${RESTORED}") from ${SET}"
  emit_result changed
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
