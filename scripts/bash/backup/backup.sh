#!/usr/bin/env bash
#
# backup.sh - back up folders and databases into a verified, checksummed set; list, verify, check.
#
# Usage:
#   backup.sh [run] [options]                     make a new set, verify it, then apply retention
#   backup.sh verify [--set NAME | --all] [options]   checksums and archive integrity of sets
#   backup.sh list [--json] [options]             the complete sets, newest first
#   backup.sh status [options]                    one JSON line: last good set, its age, how many
#   backup.sh check --warning HOURS --critical HOURS [options]   a monitoring plugin (Nagios form)
#   backup.sh --install-timer [options]           a systemd timer that runs this job (default daily)
#   backup.sh --remove-timer --job NAME           remove the job's timer and config (not its sets)
#
#       --config FILE       lines "key = value", key = an option without "--" (source = /etc);
#                           read, never sourced; the command line adds to it or overrides it
#       --job NAME          the job's name, ^[a-z0-9][a-z0-9_-]{0,39}$ (default: default)
#       --dest DIR          the repository's parent folder (default /var/backups/tssr-kit; root's:
#                           each folder of its path owned by root, writable by root only or sticky), or
#       --dest ssh://[user@]host[:port]/path   a remote one (the set is built and verified in a
#                           private folder of /var/spool/tssr-kit first, then copied with rsync over ssh)
#       --ssh-key FILE      the private key for a remote --dest
#       --host-key LINE     the remote's SSH host key, "TYPE BASE64" (its /etc/ssh/ssh_host_*_key.pub);
#       --known-hosts FILE  or a known_hosts file holding it. Neither: the key recorded by
#                           --install-timer in /etc/tssr-kit/backup/JOB.known_hosts, else root's
#                           known_hosts. An unknown or changed key is refused (exit 5), never accepted
#                           (--install-timer records the key on first contact and shows it)
#       --source PATH       a folder or file to archive (absolute, must exist; repeatable)
#       --exclude PATTERN   a tar --exclude pattern (repeatable)
#       --mysql             dump every MariaDB/MySQL database (not the *_schema ones, nor sys)
#       --mysql-db NAME     dump this database (repeatable; no control character, no space at an end)
#       --postgres          dump every PostgreSQL database, and the roles (globals)
#       --postgres-db NAME  dump this database (repeatable)
#       --encrypt-key FILE  encrypt every file of the set with GnuPG (AES-256) using the passphrase
#                           in FILE (owned by root, mode 0400 or 0600)
#       --keep-last N       sets kept: the N newest (default 1, at least 1) ...
#       --keep-daily N      ... and the newest of each of the last N days that have one (default 7)
#       --keep-weekly N     ... of the last N ISO weeks (default 4)
#       --keep-monthly N    ... of the last N months (default 6)
#       --compress ALGO     zstd or gzip (default: zstd when installed, else gzip)
#       --set NAME          verify: this set (default: the newest)
#       --all               verify: every complete set
#       --allow-unauthenticated   verify with --encrypt-key: accept an encrypted set that has no
#                           authenticated manifest (made before tssr-kit's set version 2)
#       --json              list: the sets in the result line instead of a table
#       --warning HOURS     check: WARNING when the last good set is older
#       --critical HOURS    check: CRITICAL when it is older (or when there is no set)
#       --on-calendar SPEC  --install-timer: when the timer fires (default daily; systemd.time)
#   -n, --dry-run           validate everything, print the plan, change nothing
#   -q, --quiet             narrate only changes and errors
#   -h, --help              print this help
#
# A backup is a point in time: every run makes a new set, even when nothing changed since the last.
# A set is a folder DEST/JOB/JOB-YYYYmmddTHHMMSSZ (UTC) holding files.tar.zst, mysql/*.sql.zst,
# postgres/*.dump, backup.json and SHA256SUMS (and MANIFEST.gpg when encrypted: the list of the set's
# files and checksums, encrypted with the passphrase, so that nobody without it can swap a file). It is
# built under a hidden .partial name and gets its real name only once written and verified: a folder
# with the real name is a complete set. Database names read from the servers are data: a dump's file
# is named after its database only when the name is plain (letters, digits, _ $ -), else @N, and
# backup.json maps each file to its database.
# Full reference: docs/reference/backup.md.
#
# Examples:
#   sudo ./backup.sh --dry-run --job web --source /etc --source /srv/www --mysql
#   sudo ./backup.sh --job web --source /etc --source /srv/www --exclude '*.tmp' --mysql
#   sudo ./backup.sh --job web --dest ssh://backup@nas/srv/backups --ssh-key /root/.ssh/backup \
#        --source /srv/www --encrypt-key /root/backup.pass
#   sudo ./backup.sh check --job web --warning 26 --critical 50
#   sudo ./backup.sh verify --job web --all
#   sudo ./backup.sh --install-timer --job web --source /srv/www --mysql --on-calendar '*-*-* 02:15'
#
# Exit codes:
#   0  success
#   1  warning: the set is complete, but something was odd (a file changed or vanished while it was
#      read); the warnings are in backup.json and the result line
#   2  usage or validation error: nothing was changed
#   3  another run of the job holds the lock /run/tssr-kit/backup-JOB.lock
#   4  the backup failed (a source or a dump failed, or the run was interrupted): no set kept,
#      older sets intact
#   5  destination error (unwritable, full, unreachable, unknown or changed host key): the partial
#      set removed, older sets intact
#   6  verify failed: a set is corrupt or not authenticated (the message names the file)
#   check only: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad input included: a plugin never says 2
#   for a usage error)
#
# Output: narration on stderr and in syslog (tag tssr-backup); the last line on stdout is one JSON
# object, for example
#   {"script": "backup.sh", "status": "changed", "changed": 1, "job": "web", "set": "web-20261129T021500Z", ...}
# check prints one plugin line instead:
#   BACKUP OK - last good backup web-20261129T021500Z is 2h05m old | age=7500s;93600;172800;0 ...
#
# What it changes on the system: installs zstd, gnupg, rsync and the ssh client when the options
# need them and they are missing; creates DEST/JOB (0700 root) and the sets in it, removes the sets
# that retention lets go and the partial sets of runs that died; /var/spool/tssr-kit (0700 root, a
# private folder per run of a remote destination). --install-timer: /etc/tssr-kit/backup/JOB.conf
# (0600), JOB.known_hosts (a remote's host key), /usr/local/lib/tssr-kit/backup,
# /etc/systemd/system/tssr-backup@.service, tssr-backup@.timer and tssr-backup@JOB.timer.d/, and
# enables the timer. list, status and check change nothing; verify only installs what it needs to
# read the sets (zstd, gnupg).
#
# Supported OS families: debian (Debian 12, 13; Ubuntu) and redhat (RHEL, Rocky, AlmaLinux 9).
# Needs: bash 4.4+, GNU coreutils, tar and findutils, util-linux (flock, logger, runuser), python3
# (the retention planner backup_retention.py), root.

# -E: the ERR trap also fires inside functions; -e: stop at the first failing command; -u: an unset
# variable is a bug; pipefail: `tar | zstd` fails when tar fails, not only when zstd does.
# shellcheck disable=SC2016  # the sh snippets given to repo_sh expand "$1" where they run
set -Eeuo pipefail
export LC_ALL=C
umask 077     # everything a backup writes is root's alone

# The kit's library (common.sh, the database clients, the sets' tools): lib/ beside this script (as
# installed by --install-timer, inv and the role) or ../lib (the repository); scripts/bundles.yml.
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
readonly SCRIPT_NAME=backup
readonly SYSLOG_TAG=tssr-backup
readonly RESULT_SCRIPT=backup.sh
# The files a set may hold (SHA256SUMS lists them; MANIFEST.gpg authenticates that list).
readonly SET_FILE_RE='^(backup\.json|files\.tar\.(zst|gz)(\.gpg)?|(mysql|postgres)/[A-Za-z0-9_@$][A-Za-z0-9_$.-]{0,80})$'
readonly STAMP_RE='[0-9]{8}T[0-9]{6}Z'
readonly SET_VERSION=2
readonly MANIFEST_HEADER='tssr-kit backup manifest 2'
readonly DEFAULT_DEST=/var/backups/tssr-kit
readonly INSTALL_DIR=/usr/local/lib/tssr-kit/backup
readonly UNIT_DIR=/etc/systemd/system
readonly MYSQL_SKIP=(information_schema performance_schema sys)
readonly CONFIG_KEYS=" job dest ssh-key host-key known-hosts source exclude mysql mysql-db postgres postgres-db encrypt-key keep-last keep-daily keep-weekly keep-monthly compress on-calendar "

#######################################
# Settings (config file, then command line)
#######################################
COMMAND=run
JOB=default
DEST="${DEFAULT_DEST}"
SSH_KEY=""
HOST_KEY=""
KNOWN_HOSTS=""
SOURCES=()
EXCLUDES=()
MYSQL_ALL=false
MYSQL_DBS=()
PG_ALL=false
PG_DBS=()
ENCRYPT_KEY=""
KEEP_LAST=1
KEEP_DAILY=7
KEEP_WEEKLY=4
KEEP_MONTHLY=6
COMPRESSION=""
VERIFY_SET=""
VERIFY_ALL=false
ALLOW_UNAUTHENTICATED=false
LIST_JSON=false
WARNING_HOURS=""
CRITICAL_HOURS=""
ON_CALENDAR=daily
CONFIG_FILE=""
DRY_RUN=false
QUIET=false

#######################################
# Run state
#######################################
NAME=""                  # common.sh's changed() logs "NAME: what" (here: the job)
CHANGES=0
ERRORS=()
WARNINGS=()
REMOVED=()
TMP_DIR=""
TEMPLATES="${SCRIPT_DIR}/templates"
OS_FAMILY=""
PACKAGES=()
LOCK_FILE=""
REPO=""                  # DEST/JOB, local or on the remote host (REMOTE...: lib/sets.sh)
HOST_KEYS_RECORDED=()    # --install-timer: the fingerprints of the host key it recorded
SSH=()                   # the ssh command (options, no host)
SET_NAME=""
PARTIAL=""               # the local folder being built: removed by cleanup unless renamed
RUN_SPOOL=""             # this run's private folder in SPOOL (remote destinations): removed by cleanup
REMOTE_PARTIAL=""        # the remote .partial being copied: removed by cleanup
FILES_COUNT=""
SET_BYTES=""
STARTED_EPOCH=""
FAIL_CODE=1              # what an unexpected failure exits with (4 during a run)
COMPRESSION_GIVEN=""     # --compress as given (the default is decided later): for --install-timer
MYSQL_DONE=()            # the databases dumped, for backup.json
PG_DONE=()
PG_OWNERS=()             # the owner of each of PG_DONE
DUMP_LINES=()            # backup.json's "dumps": one entry per dump file
DUMP_INDEX=0             # the last @N given to a database whose name is not plain
VERIFY_ERROR=""          # what verify_folder found wrong
VERIFIED_AUTH=no         # whether verify_folder authenticated the set (MANIFEST.gpg and the key)
DUMP_FILE=""             # dump_file's answer
RESULT_FIELDS=()         # the command's own members of the result line (json_object's triples)

#######################################
# Narration and errors
#######################################
# Narration that also goes to syslog: what a run did, for the journal.
say() {
  info "$*"
  [[ "${DRY_RUN}" == true ]] || logger -t "${SYSLOG_TAG}" -- "${JOB}: $*" 2>/dev/null || true
}

on_interrupt() {
  trap - INT TERM HUP
  stop_children
  die 4 "interrupted: the partial set is removed, older sets are intact"
}

# Stop what this run started (tar, zstd, gpg, a dump, rsync), children first, and wait for them,
# so that nothing writes into the partial folder while cleanup removes it.
stop_children() {
  local pid
  for pid in $(jobs -p); do
    stop_tree "${pid}"
  done
  wait 2>/dev/null || true
}

stop_tree() {
  local child
  for child in $(pgrep -P "$1" 2>/dev/null); do
    stop_tree "${child}"
  done
  kill -TERM "$1" 2>/dev/null || true
}

cleanup() {
  if [[ -n "${PARTIAL}" && -e "${PARTIAL}" ]]; then
    rm -rf -- "${PARTIAL}"
  fi
  if [[ -n "${REMOTE_PARTIAL}" ]]; then
    repo_sh 'rm -rf -- "$1"' "${REMOTE_PARTIAL}" >/dev/null 2>&1 || true
  fi
  if [[ -n "${RUN_SPOOL}" && -d "${RUN_SPOOL}" ]]; then
    rm -rf -- "${RUN_SPOOL}"
  fi
  if [[ -n "${TMP_DIR}" && -d "${TMP_DIR}" ]]; then
    if [[ -d "${TMP_DIR}/gnupg" ]]; then
      gpgconf --homedir "${TMP_DIR}/gnupg" --kill gpg-agent >/dev/null 2>&1 || true
    fi
    rm -rf -- "${TMP_DIR}"
  fi
}

#######################################
# Print the result line on stdout (check: the plugin line, exit 3, when something went wrong).
# Arguments: status (ok|changed|failed), error message (optional)
#######################################
emit_result() {
  local status="$1" error="${2:-}"
  if [[ "${COMMAND}" == check ]]; then
    printf 'BACKUP UNKNOWN - %s\n' "${error:-unknown state}"
    exit 3
  fi
  [[ "${status}" != failed ]] || syslog_failure "${JOB}: failed: ${error}"
  local -a per_run=()
  if [[ "${COMMAND}" == run ]]; then
    per_run=(set opt "${SET_NAME}" archive opt "$(set_location)" files int "${FILES_COUNT:-}"
      bytes int "${SET_BYTES:-}" duration_seconds int "$(($(date +%s) - ${STARTED_EPOCH:-$(date +%s)}))"
      removed list REMOVED warnings list WARNINGS)
  fi
  result_line "${status}" command str "${COMMAND}" job str "${JOB}" "${RESULT_FIELDS[@]}" "${per_run[@]}" \
    error some "${error}"
}

# Where the set is (or would be): a folder, or ssh://host/folder.
set_location() {
  [[ -n "${SET_NAME}" ]] || return 0
  if [[ -n "${REMOTE}" ]]; then
    printf '%s/%s' "${DEST%/}/${JOB}" "${SET_NAME}"
  else
    printf '%s/%s' "${REPO}" "${SET_NAME}"
  fi
}

#######################################
# Command line and config file
#######################################
parse_args() {
  local -a config_args=()
  # The command: the first word, when it is not an option.
  case "${1:-}" in
    run | verify | list | status | check) COMMAND="$1"; shift ;;
  esac
  # --config first, wherever it is: the command line then adds to it and overrides it.
  local -a rest=("$@")
  local i
  for ((i = 0; i < ${#rest[@]}; i++)); do
    if [[ "${rest[i]}" == --config ]]; then
      ((i + 1 < ${#rest[@]})) || usage_error "--config needs a value"
      CONFIG_FILE="${rest[i + 1]}"
    fi
  done
  if [[ -n "${CONFIG_FILE}" ]]; then
    read_config "${CONFIG_FILE}" config_args
  fi
  parse_options "${config_args[@]}" "$@"
}

parse_options() {
  while (($#)); do
    case "$1" in
      --config) need_value "$1" $#; shift 2 ;;
      --job) need_value "$1" $#; JOB="$2"; shift 2 ;;
      --dest) need_value "$1" $#; DEST="$2"; shift 2 ;;
      --ssh-key) need_value "$1" $#; SSH_KEY="$2"; shift 2 ;;
      --host-key) need_value "$1" $#; HOST_KEY="$2"; shift 2 ;;
      --known-hosts) need_value "$1" $#; KNOWN_HOSTS="$2"; shift 2 ;;
      --source) need_value "$1" $#; SOURCES+=("$2"); shift 2 ;;
      --exclude) need_value "$1" $#; EXCLUDES+=("$2"); shift 2 ;;
      --mysql) MYSQL_ALL=true; shift ;;
      --mysql-db) need_value "$1" $#; MYSQL_DBS+=("$2"); shift 2 ;;
      --postgres) PG_ALL=true; shift ;;
      --postgres-db) need_value "$1" $#; PG_DBS+=("$2"); shift 2 ;;
      --encrypt-key) need_value "$1" $#; ENCRYPT_KEY="$2"; shift 2 ;;
      --keep-last) need_value "$1" $#; KEEP_LAST="$2"; shift 2 ;;
      --keep-daily) need_value "$1" $#; KEEP_DAILY="$2"; shift 2 ;;
      --keep-weekly) need_value "$1" $#; KEEP_WEEKLY="$2"; shift 2 ;;
      --keep-monthly) need_value "$1" $#; KEEP_MONTHLY="$2"; shift 2 ;;
      --compress) need_value "$1" $#; COMPRESSION="$2"; shift 2 ;;
      --set) need_value "$1" $#; VERIFY_SET="$2"; shift 2 ;;
      --all) VERIFY_ALL=true; shift ;;
      --allow-unauthenticated) ALLOW_UNAUTHENTICATED=true; shift ;;
      --json) LIST_JSON=true; shift ;;
      --warning) need_value "$1" $#; WARNING_HOURS="$2"; shift 2 ;;
      --critical) need_value "$1" $#; CRITICAL_HOURS="$2"; shift 2 ;;
      --on-calendar) need_value "$1" $#; ON_CALENDAR="$2"; shift 2 ;;
      --install-timer) COMMAND=install-timer; shift ;;
      --remove-timer) COMMAND=remove-timer; shift ;;
      --mysql=* | --postgres=*) flag_value "$1"; shift ;;
      *) common_option "$1" || usage_error "unexpected argument: $1 (commands: run, verify, list, status, check; they come first)"; shift ;;
    esac
  done
  NAME="${JOB}"
}

# "mysql = no" in a config file: a flag with a value.
flag_value() {
  local key="${1%%=*}" value="${1#*=}" on
  case "${value}" in
    yes | true | 1 | on) on=true ;;
    no | false | 0 | off) on=false ;;
    *) usage_error "${key}: '${value}' is not yes or no" ;;
  esac
  if [[ "${key}" == --mysql ]]; then MYSQL_ALL="${on}"; else PG_ALL="${on}"; fi
}

#######################################
# Read a config file into options: "key = value" lines, # comments, blank lines. Never sourced:
# a value is only ever a value.
# Arguments: file, name of the array to fill
#######################################
read_config() {
  local file="$1" line key value number=0
  local -n into="$2"
  [[ -f "${file}" && -r "${file}" ]] || usage_error "--config: '${file}' is not a readable file"
  while IFS= read -r line || [[ -n "${line}" ]]; do
    number=$((number + 1))
    line="${line%$'\r'}"
    [[ "${line}" =~ ^[[:space:]]*(#.*)?$ ]] && continue
    if [[ ! "${line}" =~ ^[[:space:]]*([a-z-]+)[[:space:]]*=[[:space:]]*(.*[^[:space:]])?[[:space:]]*$ ]]; then
      usage_error "--config ${file} line ${number}: not a 'key = value' line"
    fi
    key="${BASH_REMATCH[1]}"
    value="${BASH_REMATCH[2]}"
    [[ "${CONFIG_KEYS}" == *" ${key} "* ]] \
      || usage_error "--config ${file} line ${number}: unknown key '${key}'"
    case "${key}" in
      mysql | postgres) into+=("--${key}=${value}") ;;
      *) into+=("--${key}" "${value}") ;;
    esac
  done <"${file}"
}

#######################################
# Validation: every problem collected, then reported together (exit 2, nothing changed).
#######################################
validate_common() {
  [[ "${JOB}" =~ ${JOB_RE} ]] \
    || add_error "--job: '${JOB}' is not a valid job name: 1 to 40 characters, a-z 0-9 _ -, starting with a letter or digit"
  validate_dest
  if [[ -n "${ENCRYPT_KEY}" ]]; then
    validate_secret_file --encrypt-key "${ENCRYPT_KEY}" plain || true
  fi
  if [[ -n "${SSH_KEY}" ]]; then
    if [[ -z "${REMOTE}" ]]; then
      add_error "--ssh-key: only for a remote --dest ssh://..."
    fi
    validate_secret_file --ssh-key "${SSH_KEY}" plain || true
  fi
  validate_host_key
}

validate_dest() {
  if [[ "${DEST}" == ssh://* ]]; then
    if ! parse_remote "${DEST}" || [[ "${REMOTE_PATH}" == / || "${REMOTE_PATH}" =~ (^|/)\.\.?(/|$) ]]; then
      REMOTE=""
      add_error "--dest: '${DEST}' is not ssh://[user@]host[:port]/absolute/path (letters, digits and ._/@+- in the path, no ..)"
      return 0
    fi
    REPO="${REMOTE_PATH%/}/${JOB}"
  elif [[ ! "${DEST}" =~ ${PLAIN_PATH_RE} || "${DEST}" =~ (^|/)\.\.?(/|$) || "${DEST}" == / ]]; then
    add_error "--dest: '${DEST}' must be an absolute folder (not /; letters, digits and ._/@+-, no ..) or ssh://[user@]host[:port]/path"
  elif [[ -e "${DEST}" && ! -d "${DEST}" ]]; then
    add_error "--dest: '${DEST}' exists and is not a folder"
  else
    REPO="${DEST%/}/${JOB}"
  fi
}

number_option() {
  local option="$1" value="$2" min="$3"
  if [[ ! "${value}" =~ ^[0-9]{1,4}$ ]] || ((10#${value} < min)); then
    add_error "${option}: '${value}' is not a whole number from ${min} to 9999"
    return 1
  fi
}

validate_run() {
  number_option --keep-last "${KEEP_LAST}" 1 || true
  number_option --keep-daily "${KEEP_DAILY}" 0 || true
  number_option --keep-weekly "${KEEP_WEEKLY}" 0 || true
  number_option --keep-monthly "${KEEP_MONTHLY}" 0 || true
  local source
  for source in "${SOURCES[@]}"; do
    if [[ "${source}" != /* ]]; then
      add_error "--source: '${source}' is not an absolute path"
    elif [[ "${source}" == *$'\n'* || "${source}" =~ (^|/)\.\.?(/|$) ]]; then
      add_error "--source: '${source}' holds a newline, . or .. (give the plain path)"
    elif [[ ! -e "${source}" && ! -L "${source}" ]]; then
      add_error "--source: '${source}' does not exist"
    fi
  done
  local pattern
  for pattern in "${EXCLUDES[@]}"; do
    [[ -n "${pattern}" && "${pattern}" != *$'\n'* ]] || add_error "--exclude: an empty pattern or one with a newline"
  done
  case "${COMPRESSION}" in
    '') if command -v zstd >/dev/null; then COMPRESSION=zstd; else COMPRESSION=gzip; fi ;;
    zstd | gzip) ;;
    *) add_error "--compress: '${COMPRESSION}' is not zstd or gzip" ;;
  esac
  if [[ -z "${REMOTE}" && -n "${REPO}" ]]; then
    local why
    why="$(untrusted_in_path "${REPO}")"
    [[ -z "${why}" ]] || add_error "--dest: '${DEST}' is not root's alone: ${why} (someone else could swap the repository for a link)"
  fi
  if ((${#SOURCES[@]} == 0 && ${#MYSQL_DBS[@]} == 0 && ${#PG_DBS[@]} == 0)) \
    && [[ "${MYSQL_ALL}" == false && "${PG_ALL}" == false ]]; then
    add_error "nothing to back up: give at least one --source, --mysql, --mysql-db, --postgres or --postgres-db"
  fi
  validate_databases
}

#######################################
# The databases asked for must be there now (a dump that fails later loses the whole set).
#######################################
validate_databases() {
  local db listed
  # Any name the server holds, but one a config file line can carry: no control character, no
  # space at either end (every database, whatever its name, is in --mysql and --postgres).
  for db in "${MYSQL_DBS[@]}" "${PG_DBS[@]}"; do
    if [[ -z "${db}" || "${db}" =~ [[:cntrl:]] || "${db}" =~ ^[[:space:]] || "${db}" =~ [[:space:]]$ ]] \
      || ((${#db} > 192)); then
      add_error "--mysql-db/--postgres-db: $(shown "${db}") is not a database name this option takes (no control character, no space at either end; --mysql and --postgres take every database)"
    fi
  done
  ((${#ERRORS[@]} == 0)) || return 0
  if [[ "${MYSQL_ALL}" == true || ${#MYSQL_DBS[@]} -gt 0 ]]; then
    if ! command -v mariadb-dump >/dev/null && ! command -v mysqldump >/dev/null; then
      add_error "--mysql: no MariaDB/MySQL client here (mariadb-dump or mysqldump)"
    elif ! listed="$(mysql_databases_hex 2>/dev/null)"; then
      add_error "--mysql: the MariaDB/MySQL server does not answer root on its unix socket"
    else
      for db in "${MYSQL_DBS[@]}"; do
        grep -qxF -- "$(hex_of "${db}")" <<<"${listed}" || add_error "--mysql-db: no database $(shown "${db}") on this server"
      done
    fi
  fi
  if [[ "${PG_ALL}" == true || ${#PG_DBS[@]} -gt 0 ]]; then
    if ! command -v pg_dump >/dev/null || ! id postgres >/dev/null 2>&1; then
      add_error "--postgres: no PostgreSQL here (pg_dump and the postgres user)"
    elif ! listed="$(pg_databases_hex 2>/dev/null)"; then
      add_error "--postgres: the PostgreSQL server does not answer the postgres user"
    else
      for db in "${PG_DBS[@]}"; do
        grep -q -- "^$(hex_of "${db}") " <<<"${listed}" || add_error "--postgres-db: no database $(shown "${db}") on this server"
      done
    fi
  fi
}

validate_check() {
  local option value
  for option in warning critical; do
    value="WARNING_HOURS"
    [[ "${option}" == warning ]] || value="CRITICAL_HOURS"
    [[ "${!value}" =~ ^[0-9]{1,5}$ ]] || add_error "--${option}: '${!value}' is not a number of hours"
  done
  if ((${#ERRORS[@]} == 0)) && ((10#${WARNING_HOURS} > 10#${CRITICAL_HOURS})); then
    add_error "--warning (${WARNING_HOURS} h) is more than --critical (${CRITICAL_HOURS} h)"
  fi
}

validate_verify() {
  if [[ -n "${VERIFY_SET}" && ! "${VERIFY_SET}" =~ ^${JOB}-${STAMP_RE}$ ]]; then
    add_error "--set: '${VERIFY_SET}' is not a set name of the job ${JOB} (${JOB}-YYYYmmddTHHMMSSZ)"
  fi
  if [[ -n "${VERIFY_SET}" && "${VERIFY_ALL}" == true ]]; then
    add_error "--set and --all: give one or the other"
  fi
}

validate_timer() {
  if ! systemd-analyze calendar -- "${ON_CALENDAR}" >/dev/null 2>&1; then
    add_error "--on-calendar: '${ON_CALENDAR}' is not a calendar spec systemd understands (see systemd.time, e.g. daily or '*-*-* 02:15')"
  fi
  [[ "${ON_CALENDAR}" != *$'\n'* ]] || add_error "--on-calendar: a newline"
  if [[ -n "${CONFIG_FILE}" && "${CONFIG_FILE}" != /* ]]; then
    add_error "--config: '${CONFIG_FILE}' must be an absolute path"
  fi
}

#######################################
# The repository: the same small sh snippets run here, or over ssh on a remote destination.
# Values passed to them are validated names and paths: ssh joins its arguments into one command
# line for the remote shell, so a value with a space, a quote or a $ is refused here, never sent.
#######################################
repo_sh() {
  local snippet="$1" value
  shift
  if [[ -n "${REMOTE}" ]]; then
    for value in "$@"; do
      [[ "${value}" =~ ^[A-Za-z0-9._/@+-]+$ ]] || { warn "not sent to ${REMOTE}: $(shown "${value}")"; return 2; }
    done
    "${SSH[@]}" "${REMOTE}" sh -s -- "$@" <<<"${snippet}"
  else
    sh -c "${snippet}" sh "$@"
  fi
}

# Can the remote be reached, with the key it shows pinned? Dies (exit 5) with the reason when not.
probe_remote() {
  [[ -n "${REMOTE}" ]] || return 0
  local code=0
  "${SSH[@]}" "${REMOTE}" true </dev/null 2>"${TMP_DIR}/probe.err" || code=$?
  ((code == 0)) || die 5 "$(ssh_failure "${TMP_DIR}/probe.err")"
}

# What an ssh failure means, from its messages (file).
ssh_failure() {
  if grep -qiE 'host key verification failed|host key is known|identification has changed|host key for .* has changed' -- "$1"; then
    printf 'the SSH host key of %s is unknown or has changed: refused, nothing was sent (pin it with --host-key or --known-hosts, or record it with --install-timer; a changed key needs checking with whoever runs %s)' \
      "${REMOTE_HOST}" "${REMOTE_HOST}"
  else
    printf 'cannot reach %s over ssh: %s' "${REMOTE}" "$(tail -n 3 -- "$1" | tr '\n\r' '  ')"
  fi
}

# Lines "NAME<TAB>BYTES<TAB>STATUS" of the complete sets (backup.json and SHA256SUMS present),
# newest first. Exit 3: no repository.
readonly LIST_SETS='cd "$1" 2>/dev/null || exit 3
for d in "$2"-*; do
  [ -d "$d" ] && [ -f "$d/backup.json" ] && [ -f "$d/SHA256SUMS" ] || continue
  printf "%s\t%s\t%s\n" "$d" "$(du -sb "$d" | cut -f1)" \
    "$(sed -n "s/^  \"status\": \"\([a-z]*\)\".*/\1/p" "$d/backup.json")"
done'

list_sets() {
  local out code=0
  out="$(repo_sh "${LIST_SETS}" "${REPO}" "${JOB}")" || code=$?
  ((code == 0)) || return "${code}"
  grep -E "^${JOB}-${STAMP_RE}"$'\t' <<<"${out}" | sort -r || true
}

set_names() {
  local sets
  sets="$(list_sets)" || return $?
  [[ -z "${sets}" ]] || cut -f1 <<<"${sets}"
}

# The epoch of a set from its name (the moment the run started, UTC).
set_epoch() {
  local stamp="${1##*-}"
  date -u -d "${stamp:0:4}-${stamp:4:2}-${stamp:6:2} ${stamp:9:2}:${stamp:11:2}:${stamp:13:2}" +%s
}

set_iso() {
  local stamp="${1##*-}"
  printf '%s-%s-%sT%s:%s:%sZ' "${stamp:0:4}" "${stamp:4:2}" "${stamp:6:2}" "${stamp:9:2}" "${stamp:11:2}" "${stamp:13:2}"
}

#######################################
# Tools: compression, encryption, databases
#######################################
compressor() {
  if [[ "${COMPRESSION}" == zstd ]]; then zstd -q -T0 -3 -c; else gzip -6 -c; fi
}

extension() {
  if [[ "${COMPRESSION}" == zstd ]]; then printf '.zst'; else printf '.gz'; fi
}

# stdin to FILE, encrypted when --encrypt-key was given. The SHA-256 of the bytes written goes to
# FILE's digest in TMP_DIR/digests: check_written later proves the disk holds exactly those bytes.
# (tee goes on to the digest when the disk fills, and fails: the caller sees the write failure.)
sink() {
  local digest
  digest="$(digest_path "$1")"
  if [[ -n "${ENCRYPT_KEY}" ]]; then
    gpg_batch --symmetric --cipher-algo AES256 --compress-algo none --output - \
      | tee -- "$1" | sha256_stream >"${digest}"
  else
    tee -- "$1" | sha256_stream >"${digest}"
  fi
}

# Where the digest of a file of the set being built is kept (its path in the set, / as %).
digest_path() {
  local relative="${1#"${PARTIAL}"/}"
  printf '%s/digests/%s' "${TMP_DIR}" "${relative//\//%}"
}

#######################################
# SHA-256: OpenSSL's when it is there (it uses the CPU's SHA instructions: several times faster than
# coreutils' sha256sum here), else sha256sum. The output is sha256sum's either way.
#######################################
sha256_stream() {
  if command -v openssl >/dev/null; then
    openssl dgst -sha256 -r | cut -d' ' -f1
  else
    sha256sum | cut -d' ' -f1
  fi
}

# `HEX  PATH` (sha256sum's format) for every file under DIR but SHA256SUMS and MANIFEST.gpg, by path
# (C order).
sha256_files() {
  (
    cd -- "$1" || exit 1
    find . -type f ! -path './SHA256SUMS*' ! -path ./MANIFEST.gpg -printf '%P\n' | LC_ALL=C sort | {
      if command -v openssl >/dev/null; then
        xargs -r -d '\n' openssl dgst -sha256 -r -- | sed 's/^\([0-9a-f]\{64\}\) \*/\1  /'
      else
        xargs -r -d '\n' sha256sum --
      fi
    }
  )
}

# The server's databases, one per line, each name as the hex of its bytes (a name may hold any
# character, a newline too: hex is one line whatever it holds, and is never read as SQL or a path).
mysql_databases_hex() {
  mysql_root -e 'SELECT LOWER(HEX(SCHEMA_NAME)) FROM information_schema.SCHEMATA ORDER BY 1'
}

# Lines "NAME_HEX OWNER_HEX": the databases that accept connections (not the templates), with the
# role that owns each, read in one query (no name is ever put into SQL).
pg_databases_hex() {
  as_postgres psql -X -A -t -q -v ON_ERROR_STOP=1 -c "SELECT encode(convert_to(datname, 'UTF8'), 'hex') \
|| ' ' || encode(convert_to(pg_get_userbyid(datdba), 'UTF8'), 'hex') FROM pg_database \
WHERE datallowconn AND NOT datistemplate ORDER BY 1"
}

#######################################
# Run a stream into a file of the set: PRODUCER | [compress] | sink FILE.
# Arguments: file, compress (yes|no), tolerant (yes: exit 1 of the producer is a warning, as tar's
#            "file changed as we read it"), producer command...
# Returns: 0 ok, 1 warning, 4 the producer failed, 5 writing failed (full, unwritable)
#######################################
write_stream() {
  local file="$1" squeeze="$2" tolerant="$3"
  shift 3
  local -a codes=(0 0 0)
  if [[ "${squeeze}" == yes ]]; then
    "$@" | compressor | sink "${file}" || codes=("${PIPESTATUS[@]}")
  else
    "$@" | sink "${file}" || { codes=("${PIPESTATUS[@]}"); codes=("${codes[0]}" 0 "${codes[1]}"); }
  fi
  # Writing failed first: a producer that then dies of the broken pipe is not the cause.
  if ((codes[1] != 0 || codes[2] != 0)); then return 5; fi
  if ((codes[0] == 0)); then return 0; fi
  if [[ "${tolerant}" == yes ]] && ((codes[0] == 1)); then return 1; fi
  return 4
}

#######################################
# Long work runs in the background while the script waits for it: bash runs a trap only between
# commands, so a TERM during a long tar would otherwise wait for the tar to end. The children do
# not get the lock's descriptor: a run killed with SIGKILL frees the lock at once.
# The command's stderr goes to a file: not the script's own stderr, which a trap may still need.
# Arguments: file for stderr, command...
# Returns: the command's status
#######################################
in_background() {
  local status=0 errors="$1"
  shift
  # In the subshell a failure is the command's status, for the caller to judge (not the ERR trap's).
  (trap - ERR; "$@") 9>&- 2>>"${errors}" &
  wait "$!" || status=$?
  return "${status}"
}

#######################################
# Packages: what the options need, by the family's names
#######################################
step_packages() {
  PACKAGES=()
  if [[ "${COMMAND}" == run ]]; then
    [[ "${COMPRESSION}" != zstd ]] || PACKAGES+=("$(package_of zstd)")
  fi
  [[ -z "${ENCRYPT_KEY}" ]] || PACKAGES+=("$(package_of gpg)")
  [[ -z "${REMOTE}" ]] || PACKAGES+=("$(package_of rsync)" "$(package_of ssh)")
  ((${#PACKAGES[@]} > 0)) || return 0
  install_packages || true
}

#######################################
# run: make a set
#######################################
cmd_run() {
  FAIL_CODE=4
  STARTED_EPOCH="$(date +%s)"
  take_lock
  step_packages
  probe_remote
  sweep_partials
  SET_NAME="${JOB}-$(date -u +%Y%m%dT%H%M%SZ)"
  say "backing up job ${JOB} into $(set_location)$([[ "${DRY_RUN}" == true ]] && printf ' (dry run)')"
  if [[ "${DRY_RUN}" == true ]]; then
    plan_run
    return 0
  fi
  make_repo
  build_set
  check_written || die 6 "the new set failed its own verification: ${VERIFY_ERROR}"
  publish_set
  changed "new set ${SET_NAME} (${FILES_COUNT:-0} files, ${SET_BYTES} bytes)"
  apply_retention
  say "set ${SET_NAME} complete: ${FILES_COUNT:-0} files, ${SET_BYTES} bytes, ${#REMOVED[@]} old set(s) removed"
}

# The dry run: what a run would do, and what retention would remove (read from the repository).
plan_run() {
  local parts=()
  ((${#SOURCES[@]} == 0)) || parts+=("${SOURCES[*]}")
  [[ "${MYSQL_ALL}" == false ]] || parts+=("every MariaDB database")
  ((${#MYSQL_DBS[@]} == 0)) || parts+=("MariaDB ${MYSQL_DBS[*]}")
  [[ "${PG_ALL}" == false ]] || parts+=("every PostgreSQL database")
  ((${#PG_DBS[@]} == 0)) || parts+=("PostgreSQL ${PG_DBS[*]}")
  changed "make the set ${SET_NAME} of ${parts[*]} (${COMPRESSION}$([[ -n "${ENCRYPT_KEY}" ]] && printf ', encrypted'))"
  local names
  names="$(set_names 2>/dev/null || true)"
  names="$(printf '%s\n%s' "${SET_NAME}" "${names}")"
  local name
  while IFS= read -r name; do
    [[ -z "${name}" ]] || changed "remove the old set ${name} (retention)"
  done < <(retention_plan "${names}")
}

# Partial folders of runs that died (ours hold the lock, so none of this job is running): only names
# a run gives them, whatever else the repository holds. For a remote destination, the private
# spool folders of the job's dead runs too.
sweep_partials() {
  local partial
  while IFS= read -r partial; do
    [[ "${partial}" =~ ^${REPO}/\.${JOB}-${STAMP_RE}\.partial$ ]] || continue
    changed "remove ${partial}, left by a run that did not finish"
    run repo_sh 'rm -rf -- "$1"' "${partial}"
  done < <(repo_sh 'for p in "$1"/."$2"-*.partial; do [ -e "$p" ] && printf "%s\n" "$p"; done; true' \
    "${REPO}" "${JOB}" 2>/dev/null || true)
  if [[ -n "${REMOTE}" ]] && spool_is_roots; then
    while IFS= read -r -d '' partial; do
      changed "remove ${partial}, left by a run that did not finish"
      run rm -rf -- "${partial}"
    done < <(find "${SPOOL}" -mindepth 1 -maxdepth 1 -type d -name "${JOB}.????????" -print0)
  fi
}

# DEST/JOB, root's only; on a remote host too. Here, the repository must be a folder of root's (made
# now when missing, never through a link) under a path only root can change: then chmod and every
# write land in it, not where someone else's link would point.
make_repo() {
  local code=0 why
  if [[ -n "${REMOTE}" ]]; then
    repo_sh 'mkdir -p -- "$1" && chmod 0700 -- "$1" && test -w "$1"' "${REPO}" 2>"${TMP_DIR}/repo.err" || code=$?
    if ((code == 255)); then
      die 5 "$(ssh_failure "${TMP_DIR}/repo.err")"
    elif ((code != 0)); then
      die 5 "cannot create or write ${REPO} on ${REMOTE}: $(tr '\n' ' ' <"${TMP_DIR}/repo.err")"
    fi
    return 0
  fi
  mkdir -p -- "${DEST}" 2>"${TMP_DIR}/repo.err" || die 5 "cannot create ${DEST}: $(tr '\n' ' ' <"${TMP_DIR}/repo.err")"
  [[ -e "${REPO}" || -L "${REPO}" ]] || mkdir -m 0700 -- "${REPO}" 2>"${TMP_DIR}/repo.err" \
    || die 5 "cannot create ${REPO}: $(tr '\n' ' ' <"${TMP_DIR}/repo.err")"
  why="$(untrusted_in_path "${REPO}")"
  [[ -z "${why}" && -d "${REPO}" ]] \
    || die 5 "${REPO} is not a folder of root's under a path only root can change${why:+: ${why}}: nothing written"
  [[ "$(stat -c '%a' -- "${REPO}")" == 700 ]] || chmod 0700 -- "${REPO}"
  [[ -w "${REPO}" ]] || die 5 "cannot write ${REPO}"
  while [[ -e "${REPO}/${SET_NAME}" ]]; do   # two runs within one second
    sleep 1
    SET_NAME="${JOB}-$(date -u +%Y%m%dT%H%M%SZ)"
  done
}

build_set() {
  if [[ -n "${REMOTE}" ]]; then
    spool_folder "${JOB}" RUN_SPOOL
    PARTIAL="${RUN_SPOOL}/.${SET_NAME}.partial"
  else
    PARTIAL="${REPO}/.${SET_NAME}.partial"
  fi
  mkdir -m 0700 -- "${PARTIAL}" 2>/dev/null || die 5 "cannot create ${PARTIAL}"
  mkdir -p -- "${TMP_DIR}/digests"
  local started
  started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  ((${#SOURCES[@]} == 0)) || archive_files
  dump_mysql
  dump_postgres
  write_metadata "${started}"
}

# stream_into FILE COMPRESS TOLERANT WHAT PRODUCER...: write_stream in the background, and the exit
# code the run must end with when it fails.
stream_into() {
  local file="$1" squeeze="$2" tolerant="$3" what="$4" status=0
  shift 4
  in_background "${TMP_DIR}/${what%% *}.err" write_stream "${file}" "${squeeze}" "${tolerant}" "$@" || status=$?
  case "${status}" in
    0) ;;
    1) ;;
    5) die 5 "${what}: writing ${file} failed (destination full or unwritable?): $(last_error "${what}")" ;;
    *) die 4 "${what} failed: $(last_error "${what}")" ;;
  esac
  return "${status}"
}

last_error() {
  tail -n 3 -- "${TMP_DIR}/${1%% *}.err" 2>/dev/null | tr '\n' ' '
}

archive_files() {
  local file status=0
  file="${PARTIAL}/files.tar$(extension)${ENCRYPT_KEY:+.gpg}"
  local -a members=() excludes=()
  local source pattern
  for source in "${SOURCES[@]}"; do
    source="${source#/}"
    members+=("${source:-.}")
  done
  for pattern in "${EXCLUDES[@]}"; do
    excludes+=("--exclude=${pattern}")
  done
  # The repository and the spool are never archived into themselves.
  [[ -n "${REMOTE}" ]] || excludes+=("--exclude=${REPO#/}")
  excludes+=("--exclude=${SPOOL#/}")
  info "archiving ${SOURCES[*]}"
  stream_into "${file}" yes yes "tar" tar --create --file=- --directory=/ --verbose --verbose \
    --index-file="${TMP_DIR}/index" --sparse --acls --xattrs --warning=no-file-ignored \
    "${excludes[@]}" -- "${members[@]}" || status=$?
  FILES_COUNT="$(grep -c '^-' "${TMP_DIR}/index" || true)"
  if ((status == 1)); then
    local line
    while IFS= read -r line; do
      WARNINGS+=("${line}")
      warn "${line}"
    # pipefail off in this subshell: grep ends on SIGPIPE when head has its 20 lines, which is no error.
    done < <(set +o pipefail; grep -v '^tar: Removing leading' "${TMP_DIR}/tar.err" | head -n 20)
    ((${#WARNINGS[@]} > 0)) || WARNINGS+=("tar reported a warning (exit 1)")
  fi
}

# The file of a database's dump in the set: named after the database when the name is plain
# (letters, digits, _ $ -), else @N (the next number): a name read from a server never becomes a
# path. backup.json says which database each file holds.
# Arguments: kind (mysql|postgres), name, suffix. Outputs: the path in the set (kind/file).
# (Not in a $(): DUMP_INDEX must count. The result is in DUMP_FILE.)
dump_file() {
  local kind="$1" name="$2" suffix="$3"
  if [[ "${name}" =~ ${PLAIN_NAME_RE} ]]; then
    DUMP_FILE="${kind}/${name}${suffix}"
  else
    DUMP_INDEX=$((DUMP_INDEX + 1))
    DUMP_FILE="${kind}/@${DUMP_INDEX}${suffix}"
  fi
}

dump_mysql() {
  local -a hexes=()
  local db hex skip="" name
  if [[ "${MYSQL_ALL}" == true ]]; then
    for name in "${MYSQL_SKIP[@]}"; do skip+="$(hex_of "${name}")"$'\n'; done
    mapfile -t hexes < <(mysql_databases_hex | grep -vxF -f <(printf '%s' "${skip}"))
  else
    for db in "${MYSQL_DBS[@]}"; do hexes+=("$(hex_of "${db}")"); done
  fi
  ((${#hexes[@]} > 0)) || return 0
  mkdir -m 0700 -- "${PARTIAL}/mysql"
  for hex in "${hexes[@]}"; do
    [[ -n "${hex}" ]] || continue
    from_hex "${hex}" db || die 4 "MariaDB listed a database name that is not hex: $(shown "${hex}")"
    dump_file mysql "${db}" ".sql$(extension)${ENCRYPT_KEY:+.gpg}"
    info "dumping the MariaDB database $(shown "${db}") into ${DUMP_FILE}"
    # No --databases: the dump holds no CREATE DATABASE/USE, so restore.sh can load it into any name.
    # The name is one argument after --: never an option, never SQL (mariadb-dump quotes it).
    stream_into "${PARTIAL}/${DUMP_FILE}" yes no "mysqldump $(shown "${db}")" \
      mysql_dump --protocol=socket --user=root --single-transaction --routines --events --triggers \
      --hex-blob -- "${db}"
    MYSQL_DONE+=("${db}")
    DUMP_LINES+=("{\"kind\": \"mysql\", \"file\": \"${DUMP_FILE}\", \"name_hex\": \"${hex}\"}")
  done
}

dump_postgres() {
  local -a lines=()
  local line hex owner_hex db owner wanted=""
  [[ "${PG_ALL}" == true || ${#PG_DBS[@]} -gt 0 ]] || return 0
  mapfile -t lines < <(pg_databases_hex)
  if [[ "${PG_ALL}" == false ]]; then
    for db in "${PG_DBS[@]}"; do wanted+="$(hex_of "${db}")"$'\n'; done
  fi
  mkdir -m 0700 -- "${PARTIAL}/postgres"
  info "dumping the PostgreSQL roles (globals)"
  stream_into "${PARTIAL}/postgres/globals.sql$(extension)${ENCRYPT_KEY:+.gpg}" yes no "pg_dumpall" \
    as_postgres pg_dumpall --globals-only
  for line in "${lines[@]}"; do
    read -r hex owner_hex <<<"${line}"
    [[ -n "${hex}" ]] || continue
    if [[ "${PG_ALL}" == false ]] && ! grep -qxF -- "${hex}" <<<"${wanted}"; then
      continue
    fi
    if ! from_hex "${hex}" db || ! from_hex "${owner_hex}" owner; then
      die 4 "PostgreSQL listed a name that is not hex: $(shown "${line}")"
    fi
    dump_file postgres "${db}" ".dump${ENCRYPT_KEY:+.gpg}"
    info "dumping the PostgreSQL database $(shown "${db}") into ${DUMP_FILE}"
    # The custom format is compressed already, and pg_restore can pick from it. The database is
    # named in a connection string with the name quoted: a name holding = or postgresql:// is a
    # name, not connection settings.
    stream_into "${PARTIAL}/${DUMP_FILE}" no no "pg_dump $(shown "${db}")" \
      as_postgres pg_dump --format=custom --dbname="$(conninfo "${db}")"
    PG_DONE+=("${db}")
    PG_OWNERS+=("${owner}")
    DUMP_LINES+=("{\"kind\": \"postgres\", \"file\": \"${DUMP_FILE}\", \"name_hex\": \"${hex}\", \"owner_hex\": \"${owner_hex}\"}")
  done
}

# backup.json (one key per line, one dump per line: simple to read with sed), then SHA256SUMS of
# every other file, then (encrypted sets) MANIFEST.gpg: SHA256SUMS and the set's name, encrypted with
# the passphrase. Only the passphrase's holder can make a manifest that decrypts and checks: it
# authenticates every file of the set, backup.json included, and the set's name.
write_metadata() {
  local started="$1" owners="" i sep="" dumps=""
  for i in "${!PG_DONE[@]}"; do
    owners+="${sep}$(json_quote "${PG_DONE[i]}"): $(json_quote "${PG_OWNERS[i]}")"
    sep=", "
  done
  sep=""
  for i in "${!DUMP_LINES[@]}"; do
    dumps+="${sep}"$'\n'"    ${DUMP_LINES[i]}"
    sep=","
  done
  [[ -z "${dumps}" ]] || dumps+=$'\n  '
  SET_BYTES="$(du -sb -- "${PARTIAL}" | cut -f1)"
  {
    printf '{\n  "version": %d,\n  "job": %s,\n  "host": %s,\n  "name": %s,\n' "${SET_VERSION}" \
      "$(json_quote "${JOB}")" "$(json_quote "$(hostname -f 2>/dev/null || hostname)")" "$(json_quote "${SET_NAME}")"
    printf '  "started": "%s",\n  "finished": "%s",\n' "${started}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf '  "status": "%s",\n  "warnings": %s,\n' "$( ((${#WARNINGS[@]} == 0)) && printf ok || printf warning)" \
      "$(json_array "${WARNINGS[@]}")"
    printf '  "files": %s,\n  "bytes": %s,\n' "$(json_number "${FILES_COUNT:-0}")" "$(json_number "${SET_BYTES}")"
    printf '  "sources": %s,\n  "excludes": %s,\n' "$(json_array "${SOURCES[@]}")" "$(json_array "${EXCLUDES[@]}")"
    printf '  "databases": {"mysql": %s, "postgres": %s},\n' "$(json_array "${MYSQL_DONE[@]}")" \
      "$(json_array "${PG_DONE[@]}")"
    printf '  "postgres_owners": {%s},\n' "${owners}"
    printf '  "dumps": [%s],\n' "${dumps}"
    printf '  "compression": "%s",\n  "encryption": "%s",\n  "authentication": "%s"\n}\n' "${COMPRESSION}" \
      "$([[ -n "${ENCRYPT_KEY}" ]] && printf gpg-aes256 || printf none)" \
      "$([[ -n "${ENCRYPT_KEY}" ]] && printf gpg-manifest || printf none)"
  } >"${PARTIAL}/backup.json" || die 5 "writing ${PARTIAL}/backup.json failed (destination full?)"
  if ! sha256_files "${PARTIAL}" >"${PARTIAL}/SHA256SUMS.tmp"; then
    die 5 "writing ${PARTIAL}/SHA256SUMS failed (destination full?)"
  fi
  mv -- "${PARTIAL}/SHA256SUMS.tmp" "${PARTIAL}/SHA256SUMS"
  [[ -n "${ENCRYPT_KEY}" ]] || return 0
  manifest_text "${SET_NAME}" "$(<"${PARTIAL}/SHA256SUMS")" \
    | gpg_batch --symmetric --cipher-algo AES256 --output "${PARTIAL}/MANIFEST.gpg" \
    || die 5 "writing ${PARTIAL}/MANIFEST.gpg failed (destination full?)"
}

# What MANIFEST.gpg holds. Arguments: the set's name, the text of its SHA256SUMS.
manifest_text() {
  printf '%s\nset %s\n%s\n' "${MANIFEST_HEADER}" "$1" "$2"
}

# MANIFEST.gpg (stdin) decrypted, on stdout: only when gpg decrypted it with the passphrase and checked
# its integrity (DECRYPTION_OKAY and GOODMDC). gpg --decrypt also prints a message that was never
# encrypted, and exits 0: without those two status lines anyone could write a "manifest".
open_manifest() {
  local status="${TMP_DIR}/manifest.status" text
  rm -f -- "${status}"
  text="$(gpg_batch --status-file "${status}" --decrypt 2>/dev/null)" || return 1
  grep -q '^\[GNUPG:\] DECRYPTION_OKAY' -- "${status}" && grep -q '^\[GNUPG:\] GOODMDC' -- "${status}" \
    || return 1
  printf '%s\n' "${text}"
}

#######################################
# The new set's own verification: each file, read back from the disk (SHA256SUMS), must have the
# digest of the bytes tar, the dumps, zstd and gpg wrote (sink), and those all ended well. So the set
# holds exactly what they made, without decompressing it again (that is `verify`'s full check, also
# run by restore.sh before it restores).
# Sets VERIFY_ERROR when a file differs.
#######################################
check_written() {
  local sum file written
  while IFS= read -r sum; do
    file="${sum#*  }"
    [[ "${file}" != backup.json ]] || continue
    written="$(cat -- "$(digest_path "${PARTIAL}/${file}")" 2>/dev/null)" || written="none"
    if [[ "${sum%%  *}" != "${written}" ]]; then
      VERIFY_ERROR="${file}: the bytes on the disk are not the bytes written"
      return 1
    fi
  done <"${PARTIAL}/SHA256SUMS"
  [[ -n "${ENCRYPT_KEY}" ]] || return 0
  if [[ "$(open_manifest <"${PARTIAL}/MANIFEST.gpg")" != "$(manifest_text "${SET_NAME}" "$(<"${PARTIAL}/SHA256SUMS")")" ]]; then
    VERIFY_ERROR="MANIFEST.gpg: it does not decrypt to the set's SHA256SUMS"
    return 1
  fi
}

# The verified set gets its real name (local), or is copied, renamed and checked again (remote).
publish_set() {
  if [[ -z "${REMOTE}" ]]; then
    mv -T -- "${PARTIAL}" "${REPO}/${SET_NAME}" || die 5 "renaming ${PARTIAL} failed"
    PARTIAL=""
    return 0
  fi
  local target="${REPO}/.${SET_NAME}.partial" rsh status=0
  rsh="$(printf '%q ' "${SSH[@]}")"
  REMOTE_PARTIAL="${target}"
  info "copying the set to ${REMOTE}:${REPO}"
  in_background "${TMP_DIR}/rsync.err" rsync -a --partial --no-inc-recursive -e "${rsh}" -- "${PARTIAL}/" \
    "${REMOTE}:${target}/" || status=$?
  ((status == 0)) || die 5 "copying the set to ${REMOTE} failed (rsync exit ${status}): $(tail -n 3 "${TMP_DIR}/rsync.err" | tr '\n' ' ')"
  repo_sh 'cd "$1" && sha256sum --quiet --strict -c SHA256SUMS >&2 && cd .. && mv -T -- "$1" "$2"' \
    "${target}" "${REPO}/${SET_NAME}" || die 5 "the copy on ${REMOTE} does not match its SHA256SUMS, or could not be renamed"
  REMOTE_PARTIAL=""
  rm -rf -- "${PARTIAL}"
  PARTIAL=""
}

#######################################
# Retention: what backup_retention.py says, never the newest complete set.
#######################################
# Arguments: the set names, one per line, newest first. Outputs: the names to remove.
retention_plan() {
  local names="$1" planner newest plan
  newest="$(head -n 1 <<<"${names}")"
  if ! planner="$(bundled_file python/backup_retention.py)"; then
    WARNINGS+=("retention skipped: backup_retention.py is not beside backup.sh")
    warn "${WARNINGS[-1]}"
    return 0
  fi
  if ! plan="$(python3 "${planner}" --keep-last "${KEEP_LAST}" --keep-daily "${KEEP_DAILY}" \
    --keep-weekly "${KEEP_WEEKLY}" --keep-monthly "${KEEP_MONTHLY}" <<<"${names}" 2>"${TMP_DIR}/retention.err")"; then
    WARNINGS+=("retention skipped: the planner failed: $(head -n 1 "${TMP_DIR}/retention.err")")
    warn "${WARNINGS[-1]}"
    return 0
  fi
  # Only names that are sets of this job, and never the newest, whatever the planner says.
  awk '$1 == "remove" {print $2}' <<<"${plan}" | grep -xE "${JOB}-${STAMP_RE}" | grep -vxF -- "${newest}" || true
}

apply_retention() {
  local names name
  names="$(set_names)" || return 0
  while IFS= read -r name; do
    [[ -n "${name}" ]] || continue
    changed "remove the old set ${name} (retention)"
    if repo_sh 'rm -rf -- "$1"' "${REPO}/${name}"; then
      REMOVED+=("${name}")
    else
      WARNINGS+=("retention: could not remove ${name}")
    fi
  done < <(retention_plan "${names}")
}

#######################################
# verify: checksums, then each archive read to its end (decrypted when encrypted).
#######################################
# Read FILE of a set (here, or over ssh) to stdout. The path is made of validated parts (the
# repository, a set's name, a name SET_FILE_RE allows, none holding a quote): single-quoted for the
# remote shell.
repo_cat() {
  if [[ -n "${REMOTE}" ]]; then
    [[ "$1" =~ ^[A-Za-z0-9._/@\$+-]+$ ]] || { warn "not sent to ${REMOTE}: $(shown "$1")"; return 2; }
    "${SSH[@]}" "${REMOTE}" "cat -- '$1'"
  else
    cat -- "$1"
  fi
}

# Decrypt (.gpg) and decompress (.zst, .gz) stdin as the file's name says.
#######################################
# One file of a set, read once: its SHA-256 is computed on the way (here, whatever holds the set),
# and its content decoded to the end (tar: to its last member; encrypted: with the key).
# Arguments: path, expected SHA-256
# Returns: 0 whole, 1 corrupt (cannot be read to its end), 2 its checksum differs
#######################################
check_file() {
  local path="$1" expected="$2" name="${1##*/}" digest="${TMP_DIR}/check.digest" fifo="${TMP_DIR}/check.fifo"
  local status=0 hasher
  rm -f -- "${digest}" "${fifo}"
  mkfifo -m 0600 -- "${fifo}"
  sha256_stream <"${fifo}" >"${digest}" &
  hasher=$!
  # tee -p: when the decoder stops early (corrupt data), the digest still gets the whole file.
  if [[ "${name}" == backup.json ]] || [[ "${name}" == *.gpg && -z "${ENCRYPT_KEY}" ]]; then
    repo_cat "${path}" | tee -p -- "${fifo}" >/dev/null || status=$?
  else
    case "${name%.gpg}" in
      *.tar.*) repo_cat "${path}" | tee -p -- "${fifo}" | decode "${name}" | tar -t -f - >/dev/null || status=$? ;;
      *) repo_cat "${path}" | tee -p -- "${fifo}" | decode "${name}" >/dev/null || status=$? ;;
    esac
  fi
  wait "${hasher}" || true
  rm -f -- "${fifo}"
  [[ "$(cat -- "${digest}" 2>/dev/null)" == "${expected}" ]] || return 2
  ((status == 0)) || return 1
}

#######################################
# Verify one set: its file list (SHA256SUMS: only names a set may hold, each there, nothing else),
# with --encrypt-key its authentication (MANIFEST.gpg decrypts with the key to exactly that list and
# the set's name; every file but backup.json encrypted), then each file read once (checksum, and
# content to its end).
# Arguments: the set's folder (local, or on the remote host). Sets VERIFY_ERROR when it fails,
# VERIFIED_AUTH (yes|no) when it passes.
#######################################
verify_folder() {
  local dir="$1" set="${1##*/}" sums listed actual line file code
  VERIFIED_AUTH=no
  if ! sums="$(repo_cat "${dir}/SHA256SUMS" 2>/dev/null)" || [[ -z "${sums}" ]]; then
    VERIFY_ERROR="${set}: SHA256SUMS is missing or unreadable"
    return 1
  fi
  while IFS= read -r line; do
    file="${line#*  }"
    if [[ ! "${line}" =~ ^[0-9a-f]{64}\ \ ${SET_FILE_RE#^} || "${file}" =~ (^|/)\.\.?(/|$) ]]; then
      VERIFY_ERROR="${set}: SHA256SUMS names a file a set never holds: $(shown "${file}")"
      return 1
    fi
    listed+="${file}"$'\n'
  done <<<"${sums}"
  verify_authentication "${dir}" "${set}" "${sums}" "${listed}" || return 1
  # Every file listed is there and nothing else: only regular files (and the two folders).
  actual="$(repo_sh 'cd "$1" && find . -mindepth 1 ! -path ./SHA256SUMS ! -path ./MANIFEST.gpg \
    \( -type f -printf "%P\n" -o ! -type d -printf "not a regular file: %P\n" \)' "${dir}")" \
    || { VERIFY_ERROR="${set}: its files cannot be listed"; return 1; }
  if [[ "$(LC_ALL=C sort <<<"${actual}")" != "$(LC_ALL=C sort <<<"${listed%$'\n'}")" ]]; then
    file="$(diff <(LC_ALL=C sort <<<"${listed%$'\n'}") <(LC_ALL=C sort <<<"${actual}") | sed -n 's/^[<>] //p' | head -n 1)"
    VERIFY_ERROR="${set}: $(shown "${file}") is $(grep -qxF -- "${file}" <<<"${listed}" && printf 'missing' || printf 'not in SHA256SUMS (added)')"
    return 1
  fi
  while IFS= read -r line; do
    file="${line#*  }"
    code=0
    check_file "${dir}/${file}" "${line%%  *}" 2>>"${TMP_DIR}/verify.err" || code=$?
    if ((code == 2)); then
      VERIFY_ERROR="${set}: ${file} does not match its checksum"
      return 1
    elif ((code != 0)); then
      VERIFY_ERROR="${set}: ${file} is corrupt (it cannot be read to its end$([[ "${file}" == *.gpg ]] && printf ' or decrypted with this key'))"
      return 1
    fi
  done <<<"${sums}"
  if [[ -z "${ENCRYPT_KEY}" ]] && grep -q '\.gpg$' <<<"${listed}"; then
    warn "${set}: encrypted files checked by their checksums only, and the set not authenticated (no --encrypt-key to open them)"
  fi
}

# With --encrypt-key: the set must carry MANIFEST.gpg, which decrypts with the key to exactly its
# SHA256SUMS and name, and every file but backup.json must be encrypted. Anyone who holds the storage
# but not the passphrase can neither make such a manifest nor change a file it lists.
verify_authentication() {
  local dir="$1" set="$2" sums="$3" listed="$4" opened file
  [[ -n "${ENCRYPT_KEY}" ]] || return 0
  if ! repo_sh 'test -f "$1/MANIFEST.gpg"' "${dir}" 2>/dev/null; then
    if [[ "${ALLOW_UNAUTHENTICATED}" == true ]]; then
      warn "${set}: no MANIFEST.gpg, the set is not authenticated (made before set version 2?): accepted (--allow-unauthenticated)"
      return 0
    fi
    VERIFY_ERROR="${set}: the set is not authenticated: it has no MANIFEST.gpg (sets made before set version 2 have none; anyone who holds the storage can also remove it). Refused: give --allow-unauthenticated only if you trust whoever holds the storage"
    return 1
  fi
  if ! opened="$(repo_cat "${dir}/MANIFEST.gpg" 2>/dev/null | open_manifest)"; then
    VERIFY_ERROR="${set}: MANIFEST.gpg does not decrypt with this key to an authenticated manifest: the set was not made with this passphrase, or was changed"
    return 1
  fi
  if [[ "${opened}" != "$(manifest_text "${set}" "${sums}")" ]]; then
    VERIFY_ERROR="${set}: SHA256SUMS or the set's name is not what MANIFEST.gpg authenticates (a file swapped, added or removed, or a set renamed)"
    return 1
  fi
  while IFS= read -r file; do
    [[ -z "${file}" || "${file}" == backup.json || "${file}" == *.gpg ]] && continue
    VERIFY_ERROR="${set}: ${file} is not encrypted, in a set authenticated with the key"
    return 1
  done <<<"${listed}"
  VERIFIED_AUTH=yes
}

cmd_verify() {
  local -a names=() verified=()
  local all
  all="$(set_names)" || die 6 "no repository ${REPO}$([[ -n "${REMOTE}" ]] && printf ' on %s' "${REMOTE}")"
  if [[ -n "${VERIFY_SET}" ]]; then
    grep -qxF -- "${VERIFY_SET}" <<<"${all}" || die 6 "no complete set ${VERIFY_SET} in ${REPO}"
    names=("${VERIFY_SET}")
  elif [[ "${VERIFY_ALL}" == true ]]; then
    mapfile -t names <<<"${all}"
  else
    names=("$(head -n 1 <<<"${all}")")
  fi
  [[ -n "${names[0]:-}" ]] || die 6 "no complete set to verify in ${REPO}"
  local name
  local -a authenticated=()
  for name in "${names[@]}"; do
    info "verifying ${name}"
    if ! verify_folder "${REPO}/${name}"; then
      RESULT_FIELDS=(verified json "$(json_array "${verified[@]}")"
        authenticated json "$(json_array "${authenticated[@]}")" corrupt str "${name}")
      die 6 "verify failed: ${VERIFY_ERROR}"
    fi
    verified+=("${name}")
    [[ "${VERIFIED_AUTH}" == no ]] || authenticated+=("${name}")
  done
  RESULT_FIELDS=(verified json "$(json_array "${verified[@]}")" authenticated json "$(json_array "${authenticated[@]}")")
  info "${#verified[@]} set(s) verified: checksums match, archives read to their end$( ((${#authenticated[@]} > 0)) \
    && printf ', %d authenticated with the key' "${#authenticated[@]}")"
}

#######################################
# list, status, check: read only
#######################################
cmd_list() {
  local sets code=0 name bytes status
  local -a entries=()
  sets="$(list_sets)" || code=$?
  ((code == 0 || code == 3)) || die 5 "cannot read ${REPO}$([[ -n "${REMOTE}" ]] && printf ' on %s' "${REMOTE}")"
  [[ "${LIST_JSON}" == true ]] || printf '%-52s %-21s %14s %s\n' SET DATE BYTES STATUS
  while IFS=$'\t' read -r name bytes status; do
    [[ -n "${name}" ]] || continue
    if [[ "${LIST_JSON}" == true ]]; then
      entries+=("$(json_object name str "${name}" date opt "$(set_iso "${name}")" bytes int "${bytes:-0}" \
        status opt "${status}")")
    else
      printf '%-52s %-21s %14s %s\n' "${name}" "$(set_iso "${name}")" "${bytes}" "${status:-?}"
    fi
  done <<<"${sets}"
  if [[ "${LIST_JSON}" == true ]]; then
    RESULT_FIELDS=(sets json "$(json_items "${entries[@]}")")
  else
    RESULT_FIELDS=(sets int "$(grep -c . <<<"${sets}" || true)")
  fi
}

cmd_status() {
  local names code=0 newest="" count=0 age="" when=""
  names="$(set_names)" || code=$?
  ((code == 0 || code == 3)) || die 5 "cannot read ${REPO}$([[ -n "${REMOTE}" ]] && printf ' on %s' "${REMOTE}")"
  if [[ -n "${names}" ]]; then
    newest="$(head -n 1 <<<"${names}")"
    count="$(grep -c . <<<"${names}")"
    age=$(($(date +%s) - $(set_epoch "${newest}")))
    when="$(set_iso "${newest}")"
  fi
  RESULT_FIELDS=(dest str "${DEST}" last_good opt "${newest}" last_good_time opt "${when}" age_seconds int "${age}"
    sets int "${count}")
}

# Seconds as 2h05m.
human_age() {
  printf '%dh%02dm' $(($1 / 3600)) $(($1 % 3600 / 60))
}

cmd_check() {
  local sets code=0 newest bytes count age warning critical state exit_code
  sets="$(list_sets)" || code=$?
  if ((code == 3)); then
    printf 'BACKUP UNKNOWN - no repository %s\n' "${REPO}"
    exit 3
  elif ((code != 0)); then
    printf 'BACKUP UNKNOWN - cannot read %s%s\n' "${REPO}" "$([[ -n "${REMOTE}" ]] && printf ' on %s' "${REMOTE}")"
    exit 3
  fi
  warning=$((10#${WARNING_HOURS} * 3600))
  critical=$((10#${CRITICAL_HOURS} * 3600))
  if [[ -z "${sets}" ]]; then
    printf 'BACKUP CRITICAL - no complete backup set of job %s in %s | sets=0\n' "${JOB}" "${REPO}"
    exit 2
  fi
  IFS=$'\t' read -r newest bytes _ <<<"${sets}"
  count="$(grep -c . <<<"${sets}")"
  age=$(($(date +%s) - $(set_epoch "${newest}")))
  ((age >= 0)) || age=0
  if ((age >= critical)); then state=CRITICAL; exit_code=2
  elif ((age >= warning)); then state=WARNING; exit_code=1
  else state=OK; exit_code=0
  fi
  printf 'BACKUP %s - last good backup %s is %s old | age=%ds;%d;%d;0 size=%sB sets=%d\n' "${state}" \
    "${newest}" "$(human_age "${age}")" "${age}" "${warning}" "${critical}" "${bytes}" "${count}"
  exit "${exit_code}"
}

#######################################
# --install-timer / --remove-timer
#######################################
# The job's options, as a config file the service reads (values only: never sourced).
job_config() {
  local item
  printf '# tssr-kit backup job %s: written by backup.sh --install-timer, read by tssr-backup@%s.service\n' "${JOB}" "${JOB}"
  printf 'job = %s\ndest = %s\n' "${JOB}" "${DEST}"
  [[ -z "${SSH_KEY}" ]] || printf 'ssh-key = %s\n' "${SSH_KEY}"
  for item in "${SOURCES[@]}"; do printf 'source = %s\n' "${item}"; done
  for item in "${EXCLUDES[@]}"; do printf 'exclude = %s\n' "${item}"; done
  [[ "${MYSQL_ALL}" == false ]] || printf 'mysql = yes\n'
  for item in "${MYSQL_DBS[@]}"; do printf 'mysql-db = %s\n' "${item}"; done
  [[ "${PG_ALL}" == false ]] || printf 'postgres = yes\n'
  for item in "${PG_DBS[@]}"; do printf 'postgres-db = %s\n' "${item}"; done
  [[ -z "${ENCRYPT_KEY}" ]] || printf 'encrypt-key = %s\n' "${ENCRYPT_KEY}"
  [[ -z "${REMOTE}" ]] || printf 'known-hosts = %s\n' "${CONF_DIR}/${JOB}.known_hosts"
  printf 'keep-last = %s\nkeep-daily = %s\nkeep-weekly = %s\nkeep-monthly = %s\n' \
    "${KEEP_LAST}" "${KEEP_DAILY}" "${KEEP_WEEKLY}" "${KEEP_MONTHLY}"
  [[ -z "${COMPRESSION_GIVEN}" ]] || printf 'compress = %s\n' "${COMPRESSION_GIVEN}"
}

#######################################
# A remote destination's host key, recorded in CONF_DIR/JOB.known_hosts (root, 0600): the job's runs
# accept that key and no other. Recorded from --host-key or --known-hosts when given; else kept when
# recorded before (a changed key is never taken on trust: give the new one with --host-key); else
# taken from root's known_hosts; else read from the host now, on first contact, and its fingerprint
# shown for the operator to compare with the server's (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub).
#######################################
record_host_key() {
  [[ -n "${REMOTE}" ]] || return 0
  local file="${CONF_DIR}/${JOB}.known_hosts" keys="" from root_known
  root_known="$(getent passwd root | cut -d: -f6)/.ssh/known_hosts"
  if [[ -n "${HOST_KEY}" ]]; then
    keys="${HOST_PATTERN} ${HOST_KEY}"
    from="--host-key"
  elif [[ -n "${KNOWN_HOSTS}" ]]; then
    keys="$(known_lines "${KNOWN_HOSTS}")"
    [[ -n "${keys}" ]] || die 2 "--known-hosts: ${KNOWN_HOSTS} holds no key of ${HOST_PATTERN}"
    from="${KNOWN_HOSTS}"
  elif [[ -f "${file}" && ! -L "${file}" && -n "$(known_lines "${file}")" ]]; then
    keys="$(<"${file}")"
    from="recorded before"
  elif keys="$(known_lines "${root_known}")" && [[ -n "${keys}" ]]; then
    from="${root_known}"
  else
    local -a scan=(ssh-keyscan -T 10)
    [[ -z "${REMOTE_PORT}" ]] || scan+=(-p "$((10#${REMOTE_PORT}))")
    keys="$("${scan[@]}" -- "${REMOTE_HOST}" 2>/dev/null | grep -v '^#' | LC_ALL=C sort)" || true
    [[ -n "${keys}" ]] || die 5 "cannot read the SSH host key of ${REMOTE_HOST} (unreachable?): give it with --host-key"
    from="first contact"
  fi
  mapfile -t HOST_KEYS_RECORDED < <(ssh-keygen -l -f <(printf '%s\n' "${keys}") 2>/dev/null | awk '{print $4 " " $2}')
  ((${#HOST_KEYS_RECORDED[@]} > 0)) || die 2 "--host-key: ssh-keygen cannot read the key given for ${HOST_PATTERN}"
  if printf '%s\n' "${keys}" | put_file "${file}" root root 0600 "the SSH host key of ${HOST_PATTERN}"; then
    if [[ "${from}" == "first contact" ]]; then
      warn "the SSH host key of ${REMOTE_HOST}, read on first contact, $([[ "${DRY_RUN}" == true ]] && printf "would be" || printf "is now") the only one the job accepts: ${HOST_KEYS_RECORDED[*]}; compare it with the server's (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub there)"
    else
      info "the SSH host key of ${REMOTE_HOST} (${from}): ${HOST_KEYS_RECORDED[*]}"
    fi
  fi
}

# The key lines of the remote in a known_hosts file (ssh-keygen -F finds hashed names too).
known_lines() {
  [[ -f "$1" ]] || return 0
  ssh-keygen -F "${HOST_PATTERN}" -f "$1" 2>/dev/null | grep -v '^#' || true
}

# Copy a file under INSTALL_DIR when it differs. Returns 0 when it changed.
install_copy() {
  local from="$1" to="$2" mode="$3"
  put_file "${INSTALL_DIR}/${to}" root root "${mode}" "${to} of the backup job" <"${from}"
}

cmd_install_timer() {
  local units_changed=false planner file
  ensure_dir /etc/tssr-kit root root 0755
  ensure_dir "${CONF_DIR}" root root 0700
  if [[ -n "${REMOTE}" ]]; then
    PACKAGES=("$(package_of ssh)")
    install_packages || true
    record_host_key
  fi
  job_config | put_file "${CONF_DIR}/${JOB}.conf" root root 0600 "the job's settings" || true
  ensure_dir /usr/local/lib/tssr-kit root root 0755
  ensure_dir "${INSTALL_DIR}" root root 0755
  ensure_dir "${INSTALL_DIR}/lib" root root 0755
  ensure_dir "${INSTALL_DIR}/templates" root root 0755
  install_copy "${SCRIPT_DIR}/backup.sh" backup.sh 0755 || true
  [[ ! -f "${SCRIPT_DIR}/restore.sh" ]] || install_copy "${SCRIPT_DIR}/restore.sh" restore.sh 0755 || true
  for file in "${TSSR_LIB}"/*.sh; do         # lib/ travels with the script (scripts/bundles.yml)
    install_copy "${file}" "lib/${file##*/}" 0644 || true
  done
  for file in "${TEMPLATES}"/*.tmpl; do
    install_copy "${file}" "templates/${file##*/}" 0644 || true
  done
  if planner="$(bundled_file python/backup_retention.py)"; then
    install_copy "${planner}" backup_retention.py 0644 || true
  else
    warn "backup_retention.py not found beside backup.sh: the timer's runs will skip retention"
  fi
  render tssr-backup@.service.tmpl "SCRIPT=${INSTALL_DIR}/backup.sh" "CONF_DIR=${CONF_DIR}" \
    | put_file "${UNIT_DIR}/tssr-backup@.service" root root 0644 "the backup service unit" && units_changed=true
  render tssr-backup@.timer.tmpl | put_file "${UNIT_DIR}/tssr-backup@.timer" root root 0644 "the backup timer unit" \
    && units_changed=true
  ensure_dir "${UNIT_DIR}/tssr-backup@${JOB}.timer.d" root root 0755
  printf '# When the backup job %s runs (backup.sh --install-timer --on-calendar)\n[Timer]\nOnCalendar=\nOnCalendar=%s\n' \
    "${JOB}" "${ON_CALENDAR}" \
    | put_file "${UNIT_DIR}/tssr-backup@${JOB}.timer.d/schedule.conf" root root 0644 "the schedule of ${JOB}" \
    && units_changed=true
  if [[ "${units_changed}" == true ]]; then
    run systemctl daemon-reload
    if systemctl is-active --quiet "tssr-backup@${JOB}.timer"; then
      changed "restart tssr-backup@${JOB}.timer for its new schedule"
      run systemctl restart "tssr-backup@${JOB}.timer"
    fi
  fi
  ensure_service "tssr-backup@${JOB}.timer"
  RESULT_FIELDS=(timer str "tssr-backup@${JOB}.timer" config str "${CONF_DIR}/${JOB}.conf" on_calendar str "${ON_CALENDAR}")
  [[ -z "${REMOTE}" ]] || RESULT_FIELDS+=(known_hosts str "${CONF_DIR}/${JOB}.known_hosts" host_keys list HOST_KEYS_RECORDED)
}

cmd_remove_timer() {
  local timer="tssr-backup@${JOB}.timer"
  if [[ "$(systemctl is-enabled "${timer}" 2>/dev/null)" == enabled ]] || systemctl is-active --quiet "${timer}"; then
    changed "stop and disable ${timer}"
    run systemctl disable --now --quiet "${timer}"
  fi
  if [[ -e "${UNIT_DIR}/${timer}.d" ]]; then
    changed "remove ${UNIT_DIR}/${timer}.d"
    run rm -rf -- "${UNIT_DIR:?}/${timer}.d"
    run systemctl daemon-reload
  fi
  if [[ -e "${CONF_DIR}/${JOB}.conf" ]]; then
    changed "remove ${CONF_DIR}/${JOB}.conf (the sets stay)"
    run rm -f -- "${CONF_DIR}/${JOB}.conf"
  fi
  if [[ -e "${CONF_DIR}/${JOB}.known_hosts" ]]; then
    changed "remove ${CONF_DIR}/${JOB}.known_hosts"
    run rm -f -- "${CONF_DIR}/${JOB}.known_hosts"
  fi
  RESULT_FIELDS=(timer str "${timer}")
}

#######################################
# Main
#######################################
main() {
  trap cleanup EXIT
  trap 'on_error "${LINENO}" "${BASH_COMMAND}"' ERR
  trap on_interrupt INT TERM HUP
  parse_args "$@"
  COMPRESSION_GIVEN="${COMPRESSION}"
  LOCK_FILE="/run/tssr-kit/backup-${JOB}.lock"
  require_root
  detect_os_family
  validate_common
  case "${COMMAND}" in
    run | install-timer) validate_run ;;
    check) validate_check ;;
    verify) validate_verify ;;
  esac
  [[ "${COMMAND}" != install-timer ]] || validate_timer
  report_errors
  [[ "${JOB}" =~ ${JOB_RE} ]] || usage_error "--job: invalid"    # belt and braces: it names paths
  TMP_DIR="$(mktemp -d /tmp/tssr-backup.XXXXXXXX)"
  [[ -z "${REMOTE}" ]] || remote_ssh SSH      # the ssh command, the host key pinned (lib/sets.sh)
  case "${COMMAND}" in
    run) cmd_run ;;
    verify) step_packages; probe_remote; cmd_verify ;;
    list) probe_remote; cmd_list ;;
    status) probe_remote; cmd_status ;;
    check) probe_remote; cmd_check ;;
    install-timer) cmd_install_timer ;;
    remove-timer) cmd_remove_timer ;;
  esac
  if ((${#WARNINGS[@]} > 0)); then
    emit_result changed
    exit 1
  elif ((CHANGES == 0)); then
    emit_result ok
  else
    emit_result changed
  fi
}

# Sourced (by a test, to call one function): define everything, run nothing.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
