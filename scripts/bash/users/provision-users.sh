#!/usr/bin/env bash
#
# provision-users.sh - create, update and disable local Linux accounts from a CSV file.
#
# Usage:
#   provision-users.sh [--dry-run] [--password-file PATH] [--allow-group GROUP]... [--quiet] CSV_FILE
#
#   -n, --dry-run             validate everything (file and host), print the planned changes,
#                             change nothing
#       --password-file PATH  where the new passwords go (default:
#                             /var/lib/tssr-kit/users/passwords-<UTC YYYYmmddTHHMMSSZ>.csv);
#                             written only when a password is generated; folder 0700, file 0600
#       --allow-group GROUP   let the file name GROUP although it is privileged (sudo, adm, docker...),
#                             a system group (GID outside 1000-60000) or a group provision-users did
#                             not create; repeat the option for each group. root never is
#   -q, --quiet               narrate only changes and errors
#   -h, --help                print this help
#
# The CSV format (columns login, first_name, last_name, groups, shell, ssh_key, state) and every
# rule checked are in docs/reference/users-csv.md. The whole file and the host are checked before
# the first change; every problem is reported as <file>:<line>:<field>: <message>. A file grants no
# privilege by itself: privileged, system and foreign groups, and accounts that are members of a
# privileged group, are refused unless --allow-group names each group; an existing account it did
# not create and that sudo trusts (sudo -l -U) is refused.
#
# Examples:
#   sudo ./provision-users.sh --dry-run users.csv      # show what would change, change nothing
#   sudo ./provision-users.sh users.csv                # apply; passwords in /var/lib/tssr-kit/users/
#   sudo ./provision-users.sh -q --password-file /root/new-staff/passwords.csv users.csv
#   sudo ./provision-users.sh --allow-group sudo admins.csv   # these rows may make administrators
#
# Exit codes:
#   0  success (changes made, or nothing to do)
#   1  runtime failure (a system command failed)
#   2  usage or validation error: nothing was changed
#   3  another run holds the lock /run/tssr-kit/provision-users.lock
#
# Output: narration on stderr; the last line on stdout is one JSON object, for example
#   {"script": "provision-users", "status": "changed", "changed": 2, "dry_run": false, "impl": "bash", ...}
#
# What it changes on the system (only accounts with 1000 <= UID <= 60000 are ever touched):
#   /etc/passwd, /etc/shadow, /etc/group, /etc/gshadow (newusers, usermod, chage, chpasswd,
#   groupadd, gpasswd); new home directories, filled from /etc/skel; ~/.ssh/authorized_keys of
#   listed users (an existing user's is written as that user); the password file; the record of
#   the groups it created, /var/lib/tssr-kit/users/created-groups; one syslog entry per action
#   (tag tssr-provision-users).
#
# Supported OS families: debian (Debian, Ubuntu...) and redhat (RHEL, Rocky, AlmaLinux, Fedora...).
# Needs: bash 4.4+, shadow utils, util-linux (flock, setpriv), GNU coreutils, GNU grep with -P,
# awk (mawk is enough), the C.UTF-8 locale, lib/ beside it (the kit's library: common.sh; inv and
# the role deliver it so, scripts/bundles.yml). Must run as root, dry run included (it reads
# /etc/shadow).

# -E: the ERR trap also fires inside functions and subshells.
# -e: stop at the first command that fails instead of carrying on with a half-done job.
# -u: an unset variable is a bug, not an empty string.
# -o pipefail: `a | b` fails when a fails, not only when b does.
set -Eeuo pipefail

# Every text test below (letters of any script, character counts) needs a UTF-8 locale; C.UTF-8
# exists on every supported system and sorts and compares by code point, like Python does.
export LC_ALL=C.UTF-8

# The kit's library: lib/ beside this script (as delivered) or ../lib (the repository).
TSSR_LIB="$(dirname -- "${BASH_SOURCE[0]}")/lib"
[[ -d "${TSSR_LIB}" ]] || TSSR_LIB="${TSSR_LIB%/lib}/../lib"
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TSSR_LIB}/common.sh"

#######################################
# Constants
#######################################
readonly SCRIPT_NAME=provision-users
readonly IMPL=bash
readonly LOCK_FILE=/run/tssr-kit/provision-users.lock
readonly SYSLOG_TAG=tssr-provision-users
readonly LOG_PREFIX="${SCRIPT_NAME}: "     # common.sh: "provision-users: error: …", as it always said
readonly SHOW_COMMANDS=true                # common.sh: a dry run shows the commands it would run
readonly SHELLS_FILE=/etc/shells
readonly SKEL_DIR=/etc/skel
readonly HOME_BASE=/home
readonly PASSWORD_DIR=/var/lib/tssr-kit/users
# The groups this script created (name:gid lines): the only existing groups in the managed range a
# file may name without --allow-group. Root-only, in the root-only PASSWORD_DIR.
readonly GROUP_RECORD=${PASSWORD_DIR}/created-groups
readonly PASSWORD_LENGTH=20
readonly DEFAULT_SHELL=/bin/bash
readonly ID_MIN=1000 ID_MAX=60000          # the only UIDs (and GIDs of login groups) ever managed
readonly NAME_MAX=64                       # first_name, last_name: 1 to 64 characters
readonly KEY_COMMENT_MAX=100

# The rules, as the spec and the error messages state them. The checks themselves use the glob
# patterns of is_valid_name and is_valid_shell: bash compiles a regex again at every =~, which
# costs about 0.5 ms in a UTF-8 locale, 10 times a glob match (and there are 1,000 rows to check).
readonly LOGIN_RE='^[a-z_][a-z0-9_-]{0,31}$'   # also the rule for group names
readonly SHELL_RE='^/[A-Za-z0-9._/+-]+$'
readonly KEY_COMMENT_CHARS='A-Za-z0-9._@+=/ -'    # inside a [...] pattern
# first_name, last_name (grep -P patterns, see check_names): letters of any script (\p{L}: Unicode's
# letters, as Python's str.isalpha sees them; glibc's [[:alpha:]] would also take digits and
# numerals of other scripts, such as ٣ or Ⅻ), the combining accents U+0300-U+036F, space, period,
# apostrophes ' and ’ (U+2019), hyphen.
readonly NAME_BAD_CHAR_RE="[^\p{L}\x{0300}-\x{036F} .'\x{2019}-]"
readonly NAME_START_RE='^\p{L}'

# Groups that make an administrator or reach the system's secrets, refused whatever their GID and
# even before they exist (a package installed later may adopt a group of that name): sudo rights
# (sudo, wheel, admin), root-equivalent devices and daemons (disk, kmem, mem, docker, lxd, incus,
# libvirt, kvm, microk8s), logs and secrets (adm, systemd-journal, shadow, ssl-cert, _ssh, ssh,
# mail, crontab), other users' terminals, screens and keyboards (tty, video, input), /usr/local
# (staff), printing administration (lpadmin), packet capture (wireshark). Sorted: the first one an
# account belongs to is the one named. docs/reference/users-csv.md lists them with the reasons.
readonly -a PRIVILEGED_GROUPS=(_ssh adm admin crontab disk docker incus incus-admin input kmem kvm
  libvirt lpadmin lxd mail mem microk8s root shadow ssh ssl-cert staff sudo sys systemd-journal tty
  video wheel wireshark)
# System groups (GID below 1000) that grant nothing and that files may name: `users` (GID 100).
readonly -a ORDINARY_SYSTEM_GROUPS=(users)

readonly -a ALL_COLUMNS=(login first_name last_name groups shell ssh_key state)
readonly -a REQUIRED_COLUMNS=(login first_name last_name)
# The order of the problems of one line in the report (file-level fields first).
declare -rA FIELD_ORDER=([encoding]=0 [header]=0 [row]=0 [login]=1 [first_name]=2 [last_name]=3
  [state]=4 [groups]=5 [shell]=6 [ssh_key]=7)

# SSH public keys. The decoded key starts with the type name as an SSH string: 4 bytes of length,
# then the name. Instead of decoding every key (a process per key), we compare the base64 text with
# the base64 encoding of that prefix, computed once with e.g.
#   printf '\0\0\0\013ssh-ed25519' | base64          -> AAAAC3NzaC1lZDI1NTE5
# Each full 3-byte group of the prefix gives 4 exact characters. When the prefix length is not a
# multiple of 3, the last 1 or 2 bytes share a group with the key data: they fix 1 or 2 more
# characters exactly and the top bits of the next one, hence the final [...] ranges below.
declare -rA KEY_PREFIX=(
  [ssh-ed25519]='AAAAC3NzaC1lZDI1NTE5'
  [ecdsa-sha2-nistp256]='AAAAE2VjZHNhLXNoYTItbmlzdHAyNT[YZab]'
  [ecdsa-sha2-nistp384]='AAAAE2VjZHNhLXNoYTItbmlzdHAzOD[Q-T]'
  [ecdsa-sha2-nistp521]='AAAAE2VjZHNhLXNoYTItbmlzdHA1Mj[E-H]'
  [ssh-rsa]='AAAAB3NzaC1yc2[E-H]'
  [sk-ssh-ed25519@openssh.com]='AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t'
  [sk-ecdsa-sha2-nistp256@openssh.com]='AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb2[0-3]'
)
# Decoded sizes in bytes. ed25519: type + 32-byte key; ecdsa: type + curve + point; RSA: 279 is
# the size of a 2048-bit key with e=65537. The spec sets no size for the sk- (FIDO) types.
declare -rA KEY_EXACT_BYTES=(
  [ssh-ed25519]=51
  [ecdsa-sha2-nistp256]=104
  [ecdsa-sha2-nistp384]=136
  [ecdsa-sha2-nistp521]=172
)
declare -rA KEY_MIN_BYTES=([ssh-rsa]=279)

# Runs as the account's own user (see write_key_as_user): writes stdin to $1/authorized_keys through
# a temporary file in the same folder, then renames it into place, so the file is never half written.
# shellcheck disable=SC2016 # $1 and $tmp belong to this sh script, not to ours.
readonly KEY_WRITER_SH='umask 077
mkdir -p -- "$1"
chmod 700 -- "$1"
tmp=$(mktemp -- "$1/.provision-users.XXXXXX")
if cat > "$tmp" && mv -f -- "$tmp" "$1/authorized_keys"; then exit 0; fi
rm -f -- "$tmp"
exit 1'

# CSV splitter, run with LC_ALL=C so it works on bytes: the delimiters, quotes and spaces are
# ASCII, and UTF-8 never uses ASCII bytes inside a multibyte character. Works with mawk and gawk.
# For each non-empty line it prints either
#   "R <line> <count>" then <count> lines, one field each (no field can hold a newline), or
#   "E <line> <field number> <message>" when the line breaks a quoting rule,
# and a last line "." (the end mark: $(...) would drop trailing empty fields of the last row).
# shellcheck disable=SC2016 # an awk program: its $0 is awk's, not ours.
readonly CSV_AWK='
function fail(number, message) { printf "E %d %d %s\n", NR, number, message }

function split_line(line,    n, i, c, state, field, count, out) {
  # state: 0 = before a field, 1 = in an unquoted field, 2 = in a quoted field,
  #        3 = after the closing quote
  n = length(line); state = 0; field = ""; count = 0; out = ""
  for (i = 1; i <= n; i++) {
    c = substr(line, i, 1)
    if (state == 2) {
      if (c != "\"") field = field c
      else if (substr(line, i + 1, 1) == "\"") { field = field c; i++ }   # "" stands for "
      else state = 3
    } else if (c == delim) {
      if (state == 1) sub(/ +$/, "", field)
      out = out "\n" field; count++; field = ""; state = 0
    } else if (state == 0) {
      if (c == "\"") state = 2
      else if (c != " ") { field = c; state = 1 }
    } else if (state == 1) {
      if (c == "\"") { fail(count + 1, "quote inside unquoted field"); return }
      field = field c
    } else if (c != " ") {
      fail(count + 1, "text after closing quote"); return
    }
  }
  if (state == 2) { fail(count + 1, "unterminated quoted field"); return }
  if (state == 1) sub(/ +$/, "", field)
  printf "R %d %d%s\n%s\n", NR, count + 1, out, field
}

{
  line = $0
  if (NR == 1 && substr(line, 1, 3) == "\357\273\277") line = substr(line, 4)   # byte-order mark
  sub(/\r$/, "", line)                                                         # CRLF
  if (line ~ /^ *$/) next                                                      # empty line
  if (delim == "") delim = (index(line, ";") > 0) ? ";" : ","                  # from the header
  split_line(line)
}

END { print "." }'

#######################################
# Per-OS-family table: everything else is the same on both families.
#######################################
declare -rA NOLOGIN_SHELL=([debian]=/usr/sbin/nologin [redhat]=/sbin/nologin)

#######################################
# Global state
#######################################
DRY_RUN=false
QUIET=false
CHANGES=0                 # computed by emit_result from what was done
CSV_FILE=''
PASSWORD_FILE=''          # --password-file as given
PASSWORD_FILE_PATH=''     # the file this run writes, when it generates passwords
PASSWORD_FILE_WRITTEN=false
OS_FAMILY=''
NOLOGIN=''
TODAY=0                   # days since 1970-01-01, the unit of /etc/shadow

CSV_ERRORS=()             # "<line><TAB><column order><TAB><message>", sorted when printed
ERROR_COUNT=1             # the problems a failed result line counts
TMP_FILES=()
SYSLOG_LINES=()

# The host, read once: passwd, shadow and group entries, /etc/shells, the groups this script made.
declare -A PW_UID=() PW_GID=() PW_GECOS=() PW_HOME=() PW_SHELL=() SP_PASS=() SP_EXPIRE=()
declare -A GR_GID=() GR_MEMBERS=() IS_MEMBER=() SHELLS=() RECORDED=()
declare -A ALLOWED_GROUP=() IS_PRIVILEGED=() IS_ORDINARY=()
PRIVILEGED_CHECK=()       # existing groups whose members the file may not manage (load_host)
PRIVILEGED_OF=''          # output of privileged_group_of
SUDO_PROBLEM=''           # output of sudo_trusts

# The file, once valid: one entry per login, in file order.
HEADER=()
LOGINS=()
declare -A U_LINE=() U_STATE=() U_GECOS=() U_GROUPS=() U_SHELL=() U_KEY=()
declare -A BAD_LINE=()
KEY_CHECKS=()             # existing present users with a key: their ~/.ssh is inspected
NAME_LINES=() NAME_FIELDS=() NAME_VALUES=()   # names waiting for check_names
ROW_GROUPS=''             # output of check_groups

# The plan.
PLAN_GROUPS=() PLAN_CREATE=() PLAN_UPDATE=() PLAN_DISABLE=() PLAN_MEMBER_GROUPS=()
PASSWORD_ORDER=()
UNCHANGED=0
declare -A PLANNED_GROUP=() WANTS=() GROUP_WANTERS=() GROUP_DELTA=() IS_NEW=()
declare -A PLAN_MEMBERS=() MEMBER_CHANGES=() CREATE_DESC=() UPD_DESC=()
declare -A UPD_GECOS=() UPD_SHELL=() UPD_UNLOCK=() UPD_UNEXPIRE=() NEEDS_PASSWORD=()
declare -A KEY_WRITE=() PASSWORD=()

# What was done (in a dry run: what would be done). The result line is built from these.
declare -A DONE_CREATED=() DONE_UPDATED=() DONE_DISABLED=() DONE_GROUPS=()

#######################################
# Help, narration, errors
#######################################

# A planned change: always shown; sent to syslog when it is really made.
narrate() {
  if [[ "${DRY_RUN}" == true ]]; then
    printf 'would %s\n' "$1" >&2
  else
    printf '%s\n' "$1" >&2
    SYSLOG_LINES+=("$1")
  fi
}

cleanup() {
  # A home-filling job still running in the background (create_users) is let finish, so that no
  # home is left half handed over to its user.
  wait || true
  if (( ${#TMP_FILES[@]} )); then
    rm -f -- "${TMP_FILES[@]}"
  fi
}

#######################################
# Records one validation problem, formatted <file>:<line>:<field>: <message>.
# Arguments: line number, field (column name, header, row or encoding), message.
#######################################
csv_error() {
  CSV_ERRORS+=("$1"$'\t'"${FIELD_ORDER[$2]}"$'\t'"${CSV_FILE}:$1:$2: $3")
}

#######################################
# Prints a value of the file quoted for a message, its invisible characters escaped (\x1b, \u200b):
# a CSV value must never reach the operator's terminal as an escape sequence. (The form Python's twin
# prints, which common.sh's shell-quoting `shown` is not.)
#######################################
quoted() {
  local value=$1 char code escaped='' i
  if [[ "${value}" == *[![:print:]]* ]]; then
    for (( i = 0; i < ${#value}; i++ )); do
      char=${value:i:1}
      if [[ "${char}" != [[:print:]] ]]; then
        printf -v code '%d' "'${char}"
        if (( code < 256 )); then
          printf -v char '\\x%02x' "${code}"
        else
          printf -v char '\\u%04x' "${code}"
        fi
      fi
      escaped+=${char}
    done
    value=${escaped}
  fi
  printf "'%s'" "${value}"
}

#######################################
# Shows one character of user input in a message: 'c' for printable ASCII, with its code point
# for anything else, the bare code point for invisible characters.
#######################################
describe_char() {
  local char=$1 code
  printf -v code 'U+%04X' "'${char}"
  if [[ "${char}" == [\ -~] ]]; then
    printf "'%s'" "${char}"
  elif [[ "${char}" == [[:graph:]] ]]; then
    printf "'%s' (%s)" "${char}" "${code}"
  else
    printf '%s' "${code}"
  fi
}

# record KIND NAME: a change was made (in a dry run: would be made). KIND: created, updated,
# disabled, group.
record() {
  case $1 in
    created) DONE_CREATED[$2]=1 ;;
    updated) DONE_UPDATED[$2]=1 ;;
    disabled) DONE_DISABLED[$2]=1 ;;
    group) DONE_GROUPS[$2]=1 ;;
  esac
}

#######################################
# The result line (common.sh's result_line): the accounts created, updated and disabled, the groups
# created, each list sorted; for a failure the number of problems too.
# Arguments: status (ok, changed, failed), for failed: the reason.
#######################################
emit_result() {
  local status=$1 error=${2:-} password_file=''
  local -a created=() updated=() disabled=() groups=() failure=()
  sorted_keys created DONE_CREATED
  sorted_keys updated DONE_UPDATED
  sorted_keys disabled DONE_DISABLED
  sorted_keys groups DONE_GROUPS
  CHANGES=$(( ${#created[@]} + ${#updated[@]} + ${#disabled[@]} + ${#groups[@]} ))
  if [[ "${PASSWORD_FILE_WRITTEN}" == true ]]; then
    password_file=${PASSWORD_FILE_PATH}
  fi
  if [[ "${status}" == failed ]]; then
    failure=(error str "${error}" errors int "${ERROR_COUNT}")
    if (( ${#SYSLOG_LINES[@]} )); then
      SYSLOG_LINES+=("failed: ${error}")
      send_to_syslog
    fi
  fi
  result_line "${status}" impl str "${IMPL}" created list created updated list updated \
    disabled list disabled groups_created list groups unchanged int "${UNCHANGED}" \
    password_file opt "${password_file}" "${failure[@]}"
}

# Sets the array named $1 to the keys of the associative array named $2, sorted (C order).
# shellcheck disable=SC2034  # into is a nameref: this sets the caller's array
sorted_keys() {
  local -n into=$1 from=$2
  into=()
  if (( ${#from[@]} )); then
    mapfile -t into < <(printf '%s\n' "${!from[@]}" | LC_ALL=C sort)
  fi
}

#######################################
# Command line
#######################################
parse_args() {
  local -a positional=()
  local password_file_given=0
  while (( $# )); do
    case $1 in
      -h | --help)
        usage
        exit 0
        ;;
      -n | --dry-run) DRY_RUN=true ;;
      -q | --quiet) QUIET=true ;;
      --password-file)
        (( $# >= 2 )) || die 2 "--password-file needs a PATH (see --help)"
        PASSWORD_FILE=$2
        password_file_given=1
        shift
        ;;
      --password-file=*)
        PASSWORD_FILE=${1#*=}
        password_file_given=1
        ;;
      --allow-group)
        (( $# >= 2 )) || die 2 "--allow-group needs a GROUP (see --help)"
        allow_group "$2"
        shift
        ;;
      --allow-group=*) allow_group "${1#*=}" ;;
      --)
        shift
        positional+=("$@")
        break
        ;;
      -?*) die 2 "unknown option '$1' (see --help)" ;;
      *) positional+=("$1") ;;
    esac
    shift
  done

  (( ${#positional[@]} == 1 )) || die 2 "expected one CSV_FILE, got ${#positional[@]} (see --help)"
  CSV_FILE=${positional[0]}
  [[ -n "${CSV_FILE}" ]] || die 2 "CSV_FILE is empty (see --help)"
  if (( password_file_given )) && [[ -z "${PASSWORD_FILE}" || "${PASSWORD_FILE}" == */ ]]; then
    die 2 "--password-file needs the path of a file, got '${PASSWORD_FILE}' (see --help)"
  fi
}

# --allow-group GROUP: a group name, never root.
allow_group() {
  if ! is_valid_name "$1"; then
    die 2 "--allow-group $(quoted "$1") is not a group name (${LOGIN_RE}) (see --help)"
  elif [[ "$1" == root ]]; then
    die 2 "--allow-group root: root is never allowed (see --help)"
  fi
  ALLOWED_GROUP[$1]=1
}

#######################################
# Checks on the host before anything else (besides common.sh's require_root, detect_os_family and
# take_lock)
#######################################
# The name checks need the C.UTF-8 locale: there, é (2 bytes in UTF-8) is 1 character.
require_utf8_locale() {
  local probe=$'\xc3\xa9'
  (( ${#probe} == 1 )) || die 1 "the C.UTF-8 locale is missing on this host"
}

#######################################
# Reads passwd, shadow and group once (getent: also sees non-file NSS sources) and /etc/shells.
#######################################
load_host() {
  local passwd shadow group now
  local name pass uid gid gecos home shell expire members member rest
  local -a list=()
  passwd=$(getent passwd)
  shadow=$(getent shadow)
  group=$(getent group)

  # Entries whose UID or GID is not a number are skipped (Python's twin does the same): these
  # fields reach arithmetic below, which would run whatever a crafted field holds.
  while IFS=: read -r name pass uid gid gecos home shell; do
    [[ -n "${name}" && -z "${PW_UID[${name}]-}" ]] || continue   # the first entry wins, like NSS
    if ! is_number "${uid}" || ! is_number "${gid}"; then
      continue
    fi
    PW_UID[${name}]=${uid}
    PW_GID[${name}]=${gid}
    PW_GECOS[${name}]=${gecos}
    PW_HOME[${name}]=${home}
    PW_SHELL[${name}]=${shell}
  done <<< "${passwd}"

  # name:password:lastchg:min:max:warn:inactive:expire:reserved
  while IFS=: read -r name pass _ _ _ _ _ expire rest; do
    [[ -n "${name}" && -z "${SP_PASS[${name}]+set}" ]] || continue
    SP_PASS[${name}]=${pass}
    SP_EXPIRE[${name}]=${expire}
  done <<< "${shadow}"

  while IFS=: read -r name pass gid members; do
    [[ -n "${name}" && -z "${GR_GID[${name}]-}" ]] || continue
    is_number "${gid}" || continue
    GR_GID[${name}]=${gid}
    GR_MEMBERS[${name}]=${members}
    IFS=, read -r -a list <<< "${members}"
    for member in "${list[@]}"; do
      if [[ -n "${member}" ]]; then
        IS_MEMBER["${name} ${member}"]=1
      fi
    done
  done <<< "${group}"

  while read -r shell rest; do
    if [[ "${shell}" == /* ]]; then
      SHELLS[${shell}]=1
    fi
  done < "${SHELLS_FILE}"

  printf -v now '%(%s)T' -1
  TODAY=$(( now / 86400 ))

  for name in "${PRIVILEGED_GROUPS[@]}"; do
    IS_PRIVILEGED[${name}]=1
  done
  for name in "${ORDINARY_SYSTEM_GROUPS[@]}"; do
    IS_ORDINARY[${name}]=1
  done
  # The groups whose members the file may not manage: the privileged ones and any group with GID 0,
  # those that exist and that --allow-group does not name, sorted.
  list=()
  for name in "${!GR_GID[@]}"; do
    if [[ ( -n "${IS_PRIVILEGED[${name}]-}" || "${GR_GID[${name}]}" == 0 ) && -z "${ALLOWED_GROUP[${name}]-}" ]]; then
      list+=("${name}")
    fi
  done
  if (( ${#list[@]} )); then
    mapfile -t PRIVILEGED_CHECK < <(printf '%s\n' "${list[@]}" | LC_ALL=C sort)
  fi
  load_group_record
}

# 1 to 18 ASCII digits (what arithmetic can hold).
is_number() {
  [[ -n "$1" && ${#1} -le 18 && "$1" != *[!0-9]* ]]
}

# True when a file or folder is owned by root and nobody else may write it (or, with a third
# argument, nobody else may even read it: mode 0700).
owned_by_root() {
  local owner_mode mask=022
  owner_mode=$(stat -c '%u %a' -- "$1")
  if [[ -n "${2-}" ]]; then
    mask=077
  fi
  [[ "${owner_mode%% *}" == 0 ]] && (( (8#${owner_mode#* } & 8#${mask}) == 0 ))
}

#######################################
# Reads GROUP_RECORD into RECORDED (keys name:gid). It is trusted only when root alone can have
# written it: a root-owned file nobody else can write, not a symlink, in the root-only (0700)
# PASSWORD_DIR; otherwise the run stops (exit 2) rather than trust it.
#######################################
load_group_record() {
  local line
  [[ -e "${GROUP_RECORD}" || -L "${GROUP_RECORD}" ]] || return 0
  if [[ -L "${PASSWORD_DIR}" || ! -d "${PASSWORD_DIR}" || -L "${GROUP_RECORD}" || ! -f "${GROUP_RECORD}" ]] \
       || ! owned_by_root "${PASSWORD_DIR}" private || ! owned_by_root "${GROUP_RECORD}"; then
    die 2 "${GROUP_RECORD} cannot be trusted: it must be a file owned by root that nobody else can write, in a folder owned by root with mode 0700"
  fi
  while IFS= read -r line || [[ -n "${line}" ]]; do
    if is_valid_name "${line%%:*}" && is_number "${line#*:}"; then
      RECORDED[${line}]=1
    fi
  done < "${GROUP_RECORD}"
}

#######################################
# The users file: encoding, splitting, header, rows
#######################################

#######################################
# Reports lines holding a NUL byte or invalid UTF-8; fills BAD_LINE.
#######################################
check_encoding() {
  local file=$1 nul_lines bad_lines line
  # grep exits 1 when no line matches: the normal, good case here.
  nul_lines=$(LC_ALL=C grep -naoP '\x00' -- "${file}" | cut -d: -f1 | uniq) || (( $? == 1 ))
  # In a UTF-8 locale '.' matches only valid characters: lines that are not .* are invalid UTF-8.
  bad_lines=$(grep -naxv '.*' -- "${file}" | cut -d: -f1) || (( $? == 1 ))
  for line in ${nul_lines}; do
    csv_error "${line}" encoding "NUL byte"
    BAD_LINE[${line}]=1
  done
  for line in ${bad_lines}; do
    csv_error "${line}" encoding "invalid UTF-8"
    BAD_LINE[${line}]=1
  done
}

#######################################
# Splits, then validates the whole file. Fills LOGINS and the U_* tables; errors go to CSV_ERRORS.
#######################################
read_csv() {
  local file=$1 parsed kind line count detail header_seen=0 i=0 end errors_before
  local -a records=() fields=()

  check_encoding "${file}"
  # NUL bytes are already reported; removing them keeps awk on plain text lines.
  parsed=$(tr -d '\000' < "${file}" | LC_ALL=C awk "${CSV_AWK}")
  mapfile -t records <<< "${parsed}"
  [[ "${records[-1]}" == . ]] || die 1 "internal error: the CSV splitter stopped early"
  unset 'records[-1]'

  while (( i < ${#records[@]} )); do
    read -r kind line count detail <<< "${records[i]}"
    [[ "${kind}" == [RE] ]] || die 1 "internal error: unexpected CSV splitter output"
    fields=()
    i=$(( i + 1 ))
    if [[ "${kind}" == R ]]; then
      # One element at a time: bash walks its array from the start for a slice ${a[@]:i:n},
      # but remembers its place for a[i], a[i+1]...
      for (( end = i + count; i < end; i++ )); do
        fields+=("${records[i]}")
      done
    fi

    if (( ! header_seen )); then
      header_seen=1
      if [[ -n "${BAD_LINE[${line}]-}" ]]; then
        return 0                          # no usable header: its encoding error is reported
      elif [[ "${kind}" == E ]]; then
        csv_error "${line}" header "${detail}"
        return 0
      fi
      errors_before=${#CSV_ERRORS[@]}
      read_header "${line}" "${fields[@]}"
      # Rows cannot be read against a broken header: report the header problems alone.
      (( ${#CSV_ERRORS[@]} == errors_before )) || return 0
      continue
    fi

    if [[ -n "${BAD_LINE[${line}]-}" ]]; then
      continue
    elif [[ "${kind}" == E ]]; then
      csv_error "${line}" "$(column_name "${count}")" "${detail}"
    else
      validate_row "${line}" "${fields[@]}"
    fi
  done

  if (( ! header_seen )); then
    csv_error 1 header "no header line (the file is empty)"
  fi
}

# Prints the name of column number $1 (from 1), or "row" past the last column.
column_name() {
  if (( $1 <= ${#HEADER[@]} )); then
    printf '%s' "${HEADER[$1 - 1]}"
  else
    printf 'row'
  fi
}

#######################################
# Checks the column names; sets HEADER.
# Arguments: line number, the column names.
#######################################
read_header() {
  local line=$1 name known column
  local -A seen=()
  shift
  HEADER=("$@")
  for name in "$@"; do
    known=0
    for column in "${ALL_COLUMNS[@]}"; do
      if [[ "${name}" == "${column}" ]]; then
        known=1
      fi
    done
    if (( ! known )); then
      csv_error "${line}" header "unknown column $(quoted "${name}")"
    elif [[ -n "${seen[${name}]-}" ]]; then
      csv_error "${line}" header "repeated column $(quoted "${name}")"
    else
      seen[${name}]=1
    fi
  done
  for column in "${REQUIRED_COLUMNS[@]}"; do
    if [[ -z "${seen[${column}]-}" ]]; then
      csv_error "${line}" header "missing required column '${column}'"
    fi
  done
}

#######################################
# Validates one row, field by field, then against the host; keeps it if the login is usable.
# Arguments: line number, the fields.
#######################################
validate_row() {
  local line=$1
  shift
  if (( $# != ${#HEADER[@]} )); then
    csv_error "${line}" row "expected ${#HEADER[@]} fields, found $#"
    return 0
  fi

  local -A value=([groups]='' [shell]='' [ssh_key]='' [state]='')
  local field i=0
  for field in "$@"; do
    value[${HEADER[i]}]=${field}
    i=$(( i + 1 ))
  done
  local login=${value[login]} state=${value[state]:-present} shell=${value[shell]:-${DEFAULT_SHELL}}
  local errors_before=${#CSV_ERRORS[@]} login_ok=1

  check_login "${line}" "${login}"
  if (( ${#CSV_ERRORS[@]} > errors_before )); then
    login_ok=0
  fi
  check_name "${line}" first_name "${value[first_name]}"
  check_name "${line}" last_name "${value[last_name]}"     # both finished by check_names
  if [[ "${state}" != present && "${state}" != absent ]]; then
    csv_error "${line}" state "$(quoted "${state}") must be 'present' or 'absent'"
    state=present                           # check the rest as for a present row
  fi
  check_groups "${line}" "${value[groups]}"
  check_shell "${line}" "${shell}" "${state}"
  check_ssh_key "${line}" "${value[ssh_key]}"

  (( login_ok )) || return 0
  if [[ -n "${U_LINE[${login}]-}" ]]; then
    csv_error "${line}" login "'${login}' duplicates line ${U_LINE[${login}]}"
    return 0
  fi
  LOGINS+=("${login}")
  U_LINE[${login}]=${line}
  U_STATE[${login}]=${state}
  U_GECOS[${login}]="${value[first_name]} ${value[last_name]}"
  U_GROUPS[${login}]=${ROW_GROUPS}
  U_SHELL[${login}]=${shell}
  U_KEY[${login}]=${value[ssh_key]}
  check_account "${line}" "${login}" "${state}"
}

# The LOGIN_RE rule (logins and group names): 1 to 32 characters, [a-z_] then [a-z0-9_-].
is_valid_name() {
  [[ -n "$1" && ${#1} -le 32 && "${1:0:1}" == [a-z_] && "${1:1}" != *[!a-z0-9_-]* ]]
}

# The SHELL_RE rule: / then at least one of [A-Za-z0-9._/+-].
is_valid_shell() {
  [[ "$1" == /?* && "$1" != *[!A-Za-z0-9._/+-]* ]]
}

check_login() {
  local line=$1 login=$2
  if ! is_valid_name "${login}"; then
    csv_error "${line}" login "$(quoted "${login}") does not match ${LOGIN_RE}"
  elif [[ "${login}" == root ]]; then
    csv_error "${line}" login "'root' is not allowed"
  fi
}

#######################################
# first_name / last_name: must not be empty; the other rules are checked by check_names, for all
# the names of the file at once. Arguments: line number, field name, value.
#######################################
check_name() {
  if [[ -z "$3" ]]; then
    csv_error "$1" "$2" "must not be empty"
  else
    NAME_LINES+=("$1")
    NAME_FIELDS+=("$2")
    NAME_VALUES+=("$3")
  fi
}

#######################################
# The names queued by check_name: characters from NAME_BAD_CHAR_RE, a letter first, at most 64
# characters; one problem per name, in that order. Two grep -P calls for the whole file: PCRE knows
# Unicode's letter category (\p{L}), which no bash pattern does.
#######################################
check_names() {
  (( ${#NAME_VALUES[@]} )) || return 0
  local found match number char i
  local -A bad_char=() bad_start=()
  # -n -o: a match "<number>:<character>" for each character not allowed, <number> counting from 1.
  # grep exits 1 when it finds nothing: the good case.
  found=$(printf '%s\n' "${NAME_VALUES[@]}" | grep -noP -- "${NAME_BAD_CHAR_RE}") || (( $? == 1 ))
  while IFS= read -r match; do
    if [[ -n "${match}" && -z "${bad_char[${match%%:*}]-}" ]]; then
      bad_char[${match%%:*}]=${match#*:}                # the first one of each name
    fi
  done <<< "${found}"
  # -n -v: "<number>:<name>" for each name that does not start with a letter.
  found=$(printf '%s\n' "${NAME_VALUES[@]}" | grep -nvP -- "${NAME_START_RE}") || (( $? == 1 ))
  while IFS= read -r match; do
    if [[ -n "${match}" ]]; then
      bad_start[${match%%:*}]=1
    fi
  done <<< "${found}"

  for (( i = 0; i < ${#NAME_VALUES[@]}; i++ )); do
    number=$(( i + 1 ))
    if [[ -n "${bad_char[${number}]-}" ]]; then
      char=${bad_char[${number}]}
      csv_error "${NAME_LINES[i]}" "${NAME_FIELDS[i]}" "character $(describe_char "${char:0:1}") is not allowed"
    elif [[ -n "${bad_start[${number}]-}" ]]; then
      csv_error "${NAME_LINES[i]}" "${NAME_FIELDS[i]}" "must start with a letter"
    elif (( ${#NAME_VALUES[i]} > NAME_MAX )); then
      csv_error "${NAME_LINES[i]}" "${NAME_FIELDS[i]}" \
        "is ${#NAME_VALUES[i]} characters long, at most ${NAME_MAX} allowed"
    fi
  done
}

#######################################
# groups: space-separated names, repeats ignored. Sets ROW_GROUPS (space-separated, file order).
#######################################
check_groups() {
  local line=$1 group gid
  local -a list=()
  local -A seen=()
  ROW_GROUPS=''
  IFS=' ' read -r -a list <<< "$2"
  for group in "${list[@]}"; do
    if ! is_valid_name "${group}"; then
      csv_error "${line}" groups "$(quoted "${group}") does not match ${LOGIN_RE}"
      continue
    elif [[ "${group}" == root ]]; then
      csv_error "${line}" groups "'root' is not allowed"
      continue
    elif [[ -n "${seen[${group}]-}" ]]; then
      continue                                # a repeat: checked once
    fi
    seen[${group}]=1
    gid=${GR_GID[${group}]-}
    if [[ "${gid}" == 0 ]]; then
      csv_error "${line}" groups "group '${group}' has GID 0"
    elif [[ -n "${ALLOWED_GROUP[${group}]-}" ]]; then
      ROW_GROUPS+="${ROW_GROUPS:+ }${group}"
    elif [[ -n "${IS_PRIVILEGED[${group}]-}" ]]; then
      csv_error "${line}" groups "'${group}' is a privileged group: $(refused_unless "${group}")"
    elif [[ -z "${gid}" || -n "${IS_ORDINARY[${group}]-}" ]]; then
      ROW_GROUPS+="${ROW_GROUPS:+ }${group}"   # a new group, or `users`
    elif (( gid < ID_MIN || gid > ID_MAX )); then
      csv_error "${line}" groups "'${group}' is a system group (GID ${gid}): $(refused_unless "${group}")"
    elif [[ -z "${RECORDED[${group}:${gid}]-}" ]]; then
      csv_error "${line}" groups \
        "'${group}' (GID ${gid}) was not created by ${SCRIPT_NAME}: $(refused_unless "${group}")"
    else
      ROW_GROUPS+="${ROW_GROUPS:+ }${group}"
    fi
  done
}

# The end of every refusal that --allow-group lifts.
refused_unless() {
  printf 'refused unless allowed with --allow-group %s' "$1"
}

# shell: safe characters; for a present row, listed in /etc/shells.
check_shell() {
  local line=$1 shell=$2 state=$3
  if ! is_valid_shell "${shell}"; then
    csv_error "${line}" shell "$(quoted "${shell}") does not match ${SHELL_RE}"
  elif [[ "${state}" == present && -z "${SHELLS[${shell}]-}" ]]; then
    csv_error "${line}" shell "'${shell}' is not listed in ${SHELLS_FILE}"
  fi
}

#######################################
# ssh_key: TYPE BASE64 [COMMENT], checked without decoding (see KEY_PREFIX). Split with parameter
# expansion rather than a regex, for speed (see LOGIN_RE).
#######################################
check_ssh_key() {
  local line=$1 key=$2
  [[ -n "${key}" ]] || return 0
  local type=${key%% *}                        # up to the first space
  local rest=${key#"${type}"}
  rest=${rest#"${rest%%[! ]*}"}                # ${rest%%[! ]*} is its leading spaces
  local data=${rest%% *}
  local comment=${rest#"${data}"}
  comment=${comment#"${comment%%[! ]*}"}
  if [[ -z "${data}" ]]; then
    csv_error "${line}" ssh_key "expected 'TYPE BASE64 [COMMENT]'"
    return 0
  fi
  if [[ -z "${KEY_PREFIX[${type}]-}" ]]; then
    csv_error "${line}" ssh_key "unknown key type $(quoted "${type}")"
    return 0
  fi
  if ! is_base64 "${data}"; then
    csv_error "${line}" ssh_key "key data is not valid base64"
    return 0
  fi
  # Every 4 characters encode 3 bytes; each trailing '=' stands for one byte less.
  local padding=${data##*[!=]}
  local size=$(( ${#data} * 3 / 4 - ${#padding} ))
  local exact=${KEY_EXACT_BYTES[${type}]-} minimum=${KEY_MIN_BYTES[${type}]-}

  # shellcheck disable=SC2053 # the prefix is a pattern on purpose (see KEY_PREFIX).
  if [[ "${data}" != ${KEY_PREFIX[${type}]}* ]]; then
    csv_error "${line}" ssh_key "decoded key does not start with its type '${type}'"
  elif [[ -n "${exact}" ]] && (( size != exact )); then
    csv_error "${line}" ssh_key "decoded key is ${size} bytes, ${type} needs exactly ${exact}"
  elif [[ -n "${minimum}" ]] && (( size < minimum )); then
    csv_error "${line}" ssh_key \
      "decoded key is ${size} bytes, ${type} needs at least ${minimum} (2048 bits)"
  elif (( ${#comment} > KEY_COMMENT_MAX )); then
    csv_error "${line}" ssh_key "comment is longer than ${KEY_COMMENT_MAX} characters"
  elif [[ "${comment}" == *[!${KEY_COMMENT_CHARS}]* ]]; then
    local bad=${comment//[${KEY_COMMENT_CHARS}]/}
    csv_error "${line}" ssh_key "character $(describe_char "${bad:0:1}") is not allowed in the comment"
  elif comment_names_a_key_type "${comment}"; then
    csv_error "${line}" ssh_key "the comment holds a key type name: one key per user"
  fi
}

# True when a key comment contains a key type name: a second key pasted into the same field.
comment_names_a_key_type() {
  local comment=$1 type
  for type in "${!KEY_PREFIX[@]}"; do
    [[ "${comment}" != *"${type}"* ]] || return 0
  done
  return 1
}

# Valid base64, as Python's b64decode(validate=True) sees it: A-Z a-z 0-9 + /, then at most two
# '=', in a length that is a multiple of 4.
is_base64() {
  local body=${1%%=*}                          # up to the first '='
  local padding=${1:${#body}}                  # from the first '=' on
  [[ -n "${body}" && "${body}" != *[!A-Za-z0-9+/]* ]] \
    && [[ -z "${padding}" || "${padding}" == '=' || "${padding}" == '==' ]] \
    && (( ${#1} % 4 == 0 ))
}

#######################################
# The login against the host accounts.
# Arguments: line number, login, state.
#######################################
check_account() {
  local line=$1 login=$2 state=$3 uid gid
  if [[ -n "${PW_UID[${login}]-}" ]]; then
    uid=${PW_UID[${login}]}
    privileged_group_of "${login}"
    if (( uid < ID_MIN || uid > ID_MAX )); then
      csv_error "${line}" login \
        "'${login}' exists with UID ${uid}, outside the managed range ${ID_MIN}-${ID_MAX}"
    elif [[ -n "${PRIVILEGED_OF}" ]]; then
      csv_error "${line}" login \
        "'${login}' is a member of the privileged group '${PRIVILEGED_OF}': $(refused_unless "${PRIVILEGED_OF}")"
    elif sudo_trusts "${login}"; then
      csv_error "${line}" login "${SUDO_PROBLEM}"
    elif [[ "${state}" == present && -n "${U_KEY[${login}]}" ]]; then
      KEY_CHECKS+=("${login}")
    fi
    return 0
  fi
  if [[ "${state}" == absent ]]; then
    return 0                                # nothing to disable: left alone
  fi
  # A new user gets the group of its name as primary group: an existing one, or a new one.
  gid=${GR_GID[${login}]-}
  if [[ -n "${gid}" ]] && (( gid < ID_MIN || gid > ID_MAX )); then
    csv_error "${line}" login \
      "'${login}' is the name of an existing group with GID ${gid}, outside ${ID_MIN}-${ID_MAX}"
  elif [[ -n "${ALLOWED_GROUP[${login}]-}" ]]; then
    :
  elif [[ -n "${IS_PRIVILEGED[${login}]-}" ]]; then
    csv_error "${line}" login "'${login}' is the name of a privileged group: $(refused_unless "${login}")"
  elif [[ -n "${gid}" && -z "${RECORDED[${login}:${gid}]-}" ]]; then
    csv_error "${line}" login "'${login}' is the name of a group (GID ${gid}) not created by ${SCRIPT_NAME}: $(refused_unless "${login}")"
  fi
  if [[ -e "${HOME_BASE}/${login}" || -L "${HOME_BASE}/${login}" ]]; then
    csv_error "${line}" login "home directory ${HOME_BASE}/${login} already exists"
  fi
}

#######################################
# Sets PRIVILEGED_OF to the first group of PRIVILEGED_CHECK that the account belongs to (as a
# supplementary or as its primary group), or to '' when there is none. Arguments: login.
#######################################
privileged_group_of() {
  local login=$1 group
  PRIVILEGED_OF=''
  for group in "${PRIVILEGED_CHECK[@]}"; do
    if [[ -n "${IS_MEMBER["${group} ${login}"]-}" || "${PW_GID[${login}]}" == "${GR_GID[${group}]}" ]]; then
      PRIVILEGED_OF=${group}
      return 0
    fi
  done
}

#######################################
# True, with the reason in SUDO_PROBLEM, when sudo trusts an existing account this script did not
# create (its own group is not in GROUP_RECORD) — by name in sudoers, or through a group that is
# not privileged — or when `sudo -l -U` fails. Skipped (false) when sudo is not installed, and for a
# member of a privileged group that --allow-group names: the operator accepted administrators then.
# Arguments: login.
#######################################
sudo_trusts() {
  local login=$1 group out
  SUDO_PROBLEM=''
  [[ -z "${RECORDED[${login}:${PW_GID[${login}]}]-}" ]] || return 1
  command -v sudo > /dev/null || return 1
  for group in "${!ALLOWED_GROUP[@]}"; do
    if [[ -n "${GR_GID[${group}]-}" && ( -n "${IS_PRIVILEGED[${group}]-}" || "${GR_GID[${group}]}" == 0 ) ]] \
         && [[ -n "${IS_MEMBER["${group} ${login}"]-}" || "${PW_GID[${login}]}" == "${GR_GID[${group}]}" ]]; then
      return 1
    fi
  done
  if ! out=$(sudo -n -l -U "${login}" 2>&1); then
    SUDO_PROBLEM="'${login}': sudo -l -U ${login} failed, so whether sudo trusts this account is unknown: refused"
    return 0
  fi
  [[ "${out}" == *"may run the following commands"* ]] || return 1
  SUDO_PROBLEM="'${login}' may run commands through sudo and was not created by ${SCRIPT_NAME}: refused (manage this account by hand)"
}

#######################################
# For existing users given a key: refuses a home or ~/.ssh the user does not own (the key is
# written as the user, who could not write there) and a symlinked ~/.ssh or authorized_keys, and
# notes which accounts need their key written (content or mode differ). Two stat calls in all.
#######################################
inspect_ssh_dirs() {
  local login home listing type uid mode size path
  local -a paths=() homes=()
  local -A st_type=() st_uid=() st_mode=() st_size=() home_uid=()
  for login in "${KEY_CHECKS[@]}"; do
    home=${PW_HOME[${login}]}
    if [[ ! -d "${home}" ]]; then
      csv_error "${U_LINE[${login}]}" ssh_key "home directory ${home} does not exist"
    else
      homes+=("${home}")
      paths+=("${home}/.ssh" "${home}/.ssh/authorized_keys")
    fi
  done
  (( ${#paths[@]} )) || return 0

  # stat exits 1 when a path does not exist, which is expected: a missing path has no line.
  listing=$(stat -c '%F|%u|%a|%s|%n' -- "${paths[@]}" 2> /dev/null) || true
  while IFS='|' read -r type uid mode size path; do
    [[ -n "${path}" ]] || continue
    st_type[${path}]=${type}
    st_uid[${path}]=${uid}
    st_mode[${path}]=${mode}
    st_size[${path}]=${size}
  done <<< "${listing}"
  # The homes themselves, through a symlink if the home path is one (-L).
  listing=$(stat -L -c '%u|%n' -- "${homes[@]}" 2> /dev/null) || true
  while IFS='|' read -r uid path; do
    [[ -n "${path}" ]] && home_uid[${path}]=${uid}
  done <<< "${listing}"

  for login in "${KEY_CHECKS[@]}"; do
    local dir=${PW_HOME[${login}]}/.ssh line=${U_LINE[${login}]} key=${U_KEY[${login}]}
    local file=${dir}/authorized_keys content=''
    [[ -d "${PW_HOME[${login}]}" ]] || continue
    if [[ "${home_uid[${PW_HOME[${login}]}]-}" != "${PW_UID[${login}]}" ]]; then
      csv_error "${line}" ssh_key "home directory ${PW_HOME[${login}]} is owned by UID ${home_uid[${PW_HOME[${login}]}]-?}, not by '${login}': refused"
      continue
    fi
    case ${st_type[${dir}]-missing} in
      'symbolic link') csv_error "${line}" ssh_key "${dir} is a symbolic link: refused"; continue ;;
      directory | missing) ;;
      *) csv_error "${line}" ssh_key "${dir} is not a directory"; continue ;;
    esac
    case ${st_type[${file}]-missing} in
      'symbolic link') csv_error "${line}" ssh_key "${file} is a symbolic link: refused"; continue ;;
      regular* | missing) ;;
      *) csv_error "${line}" ssh_key "${file} is not a regular file"; continue ;;
    esac
    if [[ -n "${st_uid[${dir}]-}" && "${st_uid[${dir}]}" != "${PW_UID[${login}]}" ]]; then
      csv_error "${line}" ssh_key "${dir} is owned by UID ${st_uid[${dir}]}, not by '${login}': refused"
      continue
    fi
    # Read the file only when everything else already matches (and its size says it may).
    if [[ -n "${st_type[${file}]-}" && "${st_uid[${dir}]}" == "${PW_UID[${login}]}" \
          && "${st_mode[${dir}]: -3}" == 700 && "${st_uid[${file}]}" == "${PW_UID[${login}]}" \
          && "${st_mode[${file}]: -3}" == 600 && "${st_size[${file}]}" == $(( ${#key} + 1 )) ]]; then
      # read returns 1 at the end of the file, which is where it stops here.
      IFS= read -r -d '' content < "${file}" || true
    fi
    if [[ "${content}" != "${key}"$'\n' ]]; then
      KEY_WRITE[${login}]=1
    fi
  done
}

#######################################
# Prints every problem found, sorted by line, and exits 2. Does nothing if there is none.
#######################################
report_csv_errors() {
  (( ${#CSV_ERRORS[@]} )) || return 0
  printf '%s\n' "${CSV_ERRORS[@]}" | LC_ALL=C sort -s -t $'\t' -k1,1n -k2,2n | cut -f3- >&2
  ERROR_COUNT=${#CSV_ERRORS[@]}
  die 2 "validation failed: ${#CSV_ERRORS[@]} problem(s) in ${CSV_FILE}, nothing changed"
}

#######################################
# The plan: what to create, update and disable
#######################################

# A password is usable when it is a hash: not empty, not starting with ! (locked) or * (none).
is_usable_hash() {
  [[ -n "$1" && "$1" != [\!\*]* ]]
}

plan_changes() {
  local login
  plan_groups
  for login in "${LOGINS[@]}"; do
    if [[ "${U_STATE[${login}]}" == absent ]]; then
      plan_absent "${login}"
    elif [[ -z "${PW_UID[${login}]-}" ]]; then
      plan_create "${login}"
    else
      plan_update "${login}"
    fi
  done
  plan_memberships
  for login in "${LOGINS[@]}"; do
    if [[ "${U_STATE[${login}]}" == present && -z "${IS_NEW[${login}]-}" ]]; then
      if [[ -n "${GROUP_DELTA[${login}]-}" ]]; then
        UPD_DESC[${login}]+="${UPD_DESC[${login}]:+, }groups${GROUP_DELTA[${login}]}"
      fi
      if [[ -n "${UPD_DESC[${login}]-}" ]]; then
        PLAN_UPDATE+=("${login}")
      else
        UNCHANGED=$(( UNCHANGED + 1 ))
      fi
    fi
  done
}

#######################################
# Groups listed by present rows that do not exist yet; who wants which group. A listed group named
# like a user about to be created is not planned: newusers creates it as that user's own group.
#######################################
plan_groups() {
  local login group
  local -a list=()
  for login in "${LOGINS[@]}"; do
    [[ "${U_STATE[${login}]}" == present ]] || continue
    read -r -a list <<< "${U_GROUPS[${login}]}"
    for group in "${list[@]}"; do
      WANTS["${login} ${group}"]=1
      GROUP_WANTERS[${group}]+="${login} "
      if [[ -z "${GR_GID[${group}]-}" && -z "${PLANNED_GROUP[${group}]-}" \
            && ! ( "${U_STATE[${group}]-}" == present && -z "${PW_UID[${group}]-}" ) ]]; then
        PLANNED_GROUP[${group}]=1
        PLAN_GROUPS+=("${group}")
      fi
    done
  done
}

plan_create() {
  local login=$1 desc
  PLAN_CREATE+=("${login}")
  IS_NEW[${login}]=1
  PASSWORD_ORDER+=("${login}")
  desc="${U_GECOS[${login}]}, shell ${U_SHELL[${login}]}"
  if [[ -n "${U_GROUPS[${login}]}" ]]; then
    desc+=", groups ${U_GROUPS[${login}]}"
  fi
  if [[ -n "${U_KEY[${login}]}" ]]; then
    desc+=", ssh key"
  fi
  CREATE_DESC[${login}]=${desc}
}

#######################################
# An existing present user: GECOS, shell, locked or expired account, key (groups come later).
#######################################
plan_update() {
  local login=$1
  local gecos=${U_GECOS[${login}]} shell=${U_SHELL[${login}]}
  local pass=${SP_PASS[${login}]-} expire=${SP_EXPIRE[${login}]-}
  local -a what=()
  if [[ "${PW_GECOS[${login}]}" != "${gecos}" ]]; then
    UPD_GECOS[${login}]=${gecos}
    what+=("GECOS $(quoted "${PW_GECOS[${login}]}") -> '${gecos}'")
  fi
  if [[ "${PW_SHELL[${login}]}" != "${shell}" ]]; then
    UPD_SHELL[${login}]=${shell}
    what+=("shell ${PW_SHELL[${login}]} -> ${shell}")
  fi
  if [[ "${pass}" == '!'* ]]; then
    if is_usable_hash "${pass:1}"; then
      UPD_UNLOCK[${login}]=1
      what+=("unlock password")
    else
      NEEDS_PASSWORD[${login}]=1
      PASSWORD_ORDER+=("${login}")
      what+=("new password (none usable left)")
    fi
  fi
  if [[ -n "${expire}" && "${expire}" != *[!0-9]* ]] && (( expire <= TODAY )); then
    UPD_UNEXPIRE[${login}]=1
    what+=("remove account expiry")
  fi
  if [[ -n "${KEY_WRITE[${login}]-}" ]]; then
    what+=("authorized_keys")
  fi
  if (( ${#what[@]} )); then
    local joined
    printf -v joined '%s, ' "${what[@]}"
    UPD_DESC[${login}]=${joined%, }
  fi
}

# An absent row: disable an existing account unless it already is (locked, expiry day 1, nologin).
plan_absent() {
  local login=$1
  if [[ -z "${PW_UID[${login}]-}" ]]; then
    UNCHANGED=$(( UNCHANGED + 1 ))
  elif [[ "${SP_PASS[${login}]-}" == '!'* && "${SP_EXPIRE[${login}]-}" == 1 \
          && "${PW_SHELL[${login}]}" == "${NOLOGIN}" ]]; then
    UNCHANGED=$(( UNCHANGED + 1 ))
  else
    PLAN_DISABLE+=("${login}")
  fi
}

#######################################
# Supplementary groups, exactly as listed: for every group that present rows join or leave, the
# new member list keeps the members the file does not manage. One gpasswd -M per changed group.
#######################################
plan_memberships() {
  local group member login changed joined
  local -a groups=() members=() kept=() wanters=()
  mapfile -t groups < <(printf '%s\n' "${!GR_MEMBERS[@]}" "${!GROUP_WANTERS[@]}" | LC_ALL=C sort -u)
  for group in "${groups[@]}"; do
    [[ -n "${group}" ]] || continue
    changed=''
    kept=()
    IFS=, read -r -a members <<< "${GR_MEMBERS[${group}]-}"
    for member in "${members[@]}"; do
      if [[ -n "${member}" && "${U_STATE[${member}]-}" == present \
            && -z "${WANTS["${member} ${group}"]-}" ]]; then
        GROUP_DELTA[${member}]+=" -${group}"
        changed+="${member} "
      elif [[ -n "${member}" ]]; then
        kept+=("${member}")
      fi
    done
    read -r -a wanters <<< "${GROUP_WANTERS[${group}]-}"
    for login in "${wanters[@]}"; do
      if [[ -z "${IS_MEMBER["${group} ${login}"]-}" ]]; then
        kept+=("${login}")
        GROUP_DELTA[${login}]+=" +${group}"
        changed+="${login} "
      fi
    done
    if [[ -n "${changed}" ]]; then
      printf -v joined '%s,' "${kept[@]}"
      PLAN_MEMBERS[${group}]=${joined%,}
      MEMBER_CHANGES[${group}]=${changed}
      PLAN_MEMBER_GROUPS+=("${group}")
    fi
  done
}

#######################################
# Draws every password needed from one read of /dev/urandom: 20 characters from A-Z a-z 0-9.
#######################################
assign_passwords() {
  local count=${#PASSWORD_ORDER[@]} login i=0
  local -a passwords=()
  (( count )) || return 0
  # tr keeps only the 62 alphanumeric bytes (each equally likely), fold cuts them into lines of
  # 20, head stops the stream after enough lines. tr and fold then end on SIGPIPE (exit 141): that is
  # how the stream stops, not an error, so pipefail is off in this subshell (otherwise the ERR trap
  # inherited by it printed a false "error:" line); the count is checked below.
  mapfile -t passwords < <(set +o pipefail; LC_ALL=C tr -dc 'A-Za-z0-9' < /dev/urandom \
    | fold -w "${PASSWORD_LENGTH}" | head -n "${count}")
  (( ${#passwords[@]} == count )) || die 1 "could not read enough random bytes from /dev/urandom"
  for login in "${PASSWORD_ORDER[@]}"; do
    PASSWORD[${login}]=${passwords[i]}
    i=$(( i + 1 ))
  done
}

# Prints the folder of a path: /a/b -> /a, /b -> /, b -> .
parent_dir() {
  if [[ "$1" != */* ]]; then
    printf '.'
  else
    local dir=${1%/*}
    printf '%s' "${dir:-/}"
  fi
}

#######################################
# Chooses the password file when passwords will be generated; exits 2 if it cannot be used.
# The default name gets -2, -3... if a run in the same second already used it.
#######################################
choose_password_file() {
  (( ${#PASSWORD_ORDER[@]} )) || return 0
  local path dir owner_mode option n=2
  if [[ -z "${PASSWORD_FILE}" ]]; then
    local stamp
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    path=${PASSWORD_DIR}/passwords-${stamp}.csv
    while [[ -e "${path}" || -L "${path}" ]]; do
      path=${PASSWORD_DIR}/passwords-${stamp}-${n}.csv
      n=$(( n + 1 ))
    done
    option="password folder"
  else
    path=${PASSWORD_FILE}
    option="--password-file"
    if [[ -e "${path}" || -L "${path}" ]]; then
      die 2 "--password-file ${path} already exists: refusing to overwrite it"
    fi
  fi
  dir=$(parent_dir "${path}")
  # An existing folder (the default one included) is only used if it is already private: it is
  # never repaired nor followed through a symlink (making, say, /tmp 0700 would break the system).
  # A missing one is created 0700.
  if [[ -e "${dir}" || -L "${dir}" ]]; then
    [[ -d "${dir}" && ! -L "${dir}" ]] || die 2 "${option}: ${dir} is not a folder"
    owner_mode=$(stat -c '%u %a' -- "${dir}")
    if [[ "${owner_mode%% *}" != 0 ]] || (( 8#${owner_mode#* } & 8#077 )); then
      die 2 "${option}: folder ${dir} must be owned by root with mode 0700 (or not exist yet)"
    fi
  fi
  PASSWORD_FILE_PATH=${path}
}

#######################################
# Exits 2 when the run will create groups (new users get one of their own too) but the folder of
# GROUP_RECORD cannot hold it: it must be root-owned 0700, not a symlink, or not exist yet.
#######################################
check_record_folder() {
  (( ${#PLAN_GROUPS[@]} + ${#PLAN_CREATE[@]} )) || return 0
  [[ -e "${PASSWORD_DIR}" || -L "${PASSWORD_DIR}" ]] || return 0
  if [[ -L "${PASSWORD_DIR}" || ! -d "${PASSWORD_DIR}" ]] || ! owned_by_root "${PASSWORD_DIR}" private; then
    die 2 "record of created groups: folder ${PASSWORD_DIR} must be owned by root with mode 0700 (or not exist yet)"
  fi
}

#######################################
# Applying the plan (in a dry run, run() only shows the commands)
#######################################

narrate_plan() {
  local group login
  for login in "${PLAN_CREATE[@]}"; do
    narrate "create user ${login} (${CREATE_DESC[${login}]})"
  done
  for group in "${PLAN_GROUPS[@]}"; do
    narrate "create group ${group}"
  done
  for login in "${PLAN_UPDATE[@]}"; do
    narrate "update user ${login}: ${UPD_DESC[${login}]}"
  done
  for login in "${PLAN_DISABLE[@]}"; do
    narrate "disable user ${login} (lock password, expire account, shell ${NOLOGIN})"
  done
}

#######################################
# Writes login;password lines to the password file: a temporary file (mktemp creates it 0600) in
# the same root-only folder, renamed into place. Before any account is touched.
#######################################
write_password_file() {
  local path=$1 dir tmp login
  dir=$(parent_dir "${path}")
  mkdir -p -- "${dir}"
  chown root:root -- "${dir}"
  chmod 0700 -- "${dir}"
  tmp=$(mktemp -- "${dir}/.${SCRIPT_NAME}.XXXXXX")
  TMP_FILES+=("${tmp}")
  {
    printf 'login;password\n'
    for login in "${PASSWORD_ORDER[@]}"; do
      printf '%s;%s\n' "${login}" "${PASSWORD[${login}]}"
    done
  } > "${tmp}"
  mv -f -- "${tmp}" "${path}"
  PASSWORD_FILE_WRITTEN=true
}

create_groups() {
  local group
  for group in "${PLAN_GROUPS[@]}"; do
    run groupadd "${group}"
    record group "${group}"
  done
}

#######################################
# Adds the groups this run created (groupadd, and the own group newusers made for a new user whose
# name was no group yet) to GROUP_RECORD, with their GIDs: a temporary file in the root-only folder,
# renamed into place.
#######################################
write_group_record() {
  local login dir tmp
  local -a names=("${PLAN_GROUPS[@]}") made=()
  for login in "${PLAN_CREATE[@]}"; do
    if [[ -z "${GR_GID[${login}]-}" ]]; then
      names+=("${login}")
    fi
  done
  (( ${#names[@]} )) || return 0
  mapfile -t made < <(getent group "${names[@]}" | cut -d: -f1,3)
  (( ${#made[@]} == ${#names[@]} )) || die 1 "getent group does not find every group just created"
  dir=${GROUP_RECORD%/*}
  mkdir -p -- "${dir}"
  chown root:root -- "${dir}"
  chmod 0700 -- "${dir}"
  tmp=$(mktemp -- "${dir}/.${SCRIPT_NAME}.XXXXXX")
  TMP_FILES+=("${tmp}")
  printf '%s\n' "${!RECORDED[@]}" "${made[@]}" | LC_ALL=C sort -u > "${tmp}"
  mv -f -- "${tmp}" "${GROUP_RECORD}"
}

# newusers input: name:password:uid:gid:gecos:home:shell. An empty UID lets newusers choose; the
# group field names the primary group (created by newusers if missing).
newusers_input() {
  local login
  for login in "${PLAN_CREATE[@]}"; do
    printf '%s:%s::%s:%s:%s:%s\n' "${login}" "${PASSWORD[${login}]}" "${login}" \
      "${U_GECOS[${login}]}" "${HOME_BASE}/${login}" "${U_SHELL[${login}]}"
  done
}

chpasswd_input() {
  local login
  for login in "${PASSWORD_ORDER[@]}"; do
    if [[ -n "${NEEDS_PASSWORD[${login}]-}" ]]; then
      printf '%s:%s\n' "${login}" "${PASSWORD[${login}]}"
    fi
  done
}

#######################################
# New users: one newusers call for the batch, then per user the few calls newusers cannot do.
#######################################
create_users() {
  (( ${#PLAN_CREATE[@]} )) || return 0
  local login fill_pid
  # stdin is a pipe: the passwords are never on a command line nor in a file besides their own.
  run newusers < <(newusers_input)
  for login in "${PLAN_CREATE[@]}"; do
    record created "${login}"
  done

  # chage rewrites /etc/shadow once per user (~10 ms each); filling the homes only touches /home.
  # For a large batch the two loops run side by side (1,000 users: some 5 s less). In a dry run
  # they run one after the other, so that the commands shown stay in order.
  if [[ "${DRY_RUN}" == true ]]; then
    fill_new_homes
  else
    fill_new_homes &
    fill_pid=$!
  fi
  for login in "${PLAN_CREATE[@]}"; do
    run chage -d 0 "${login}"                 # the password must be changed at first login
  done
  if [[ -n "${fill_pid-}" ]]; then
    wait "${fill_pid}" || die 1 "filling the new home directories failed (see the message above)"
  fi
}

# New homes: private (0700, whatever the distribution's default), the files of /etc/skel, the keys,
# then everything handed to its owner.
fill_new_homes() {
  local login
  local -a homes=()
  for login in "${PLAN_CREATE[@]}"; do
    homes+=("${HOME_BASE}/${login}")
  done
  if [[ -d "${SKEL_DIR}" ]]; then
    for login in "${PLAN_CREATE[@]}"; do
      run cp -a "${SKEL_DIR}/." "${HOME_BASE}/${login}/"
    done
  fi
  # After the copy: `cp -a skel/. home/` also copies the mode of /etc/skel itself onto the home.
  (( ${#homes[@]} == 0 )) || run chmod 0700 "${homes[@]}"
  install_new_user_keys
  for login in "${PLAN_CREATE[@]}"; do
    run chown -R "${login}:" "${HOME_BASE}/${login}"
  done
}

#######################################
# Keys of new users, written by root: nobody else can have touched these brand-new homes yet, so
# the precautions of write_key_as_user are not needed. Batched: one mkdir and two chmod in all.
# The homes are chowned to their users afterwards (create_users).
#######################################
install_new_user_keys() {
  local login
  local -a dirs=() files=()
  for login in "${PLAN_CREATE[@]}"; do
    if [[ -n "${U_KEY[${login}]}" ]]; then
      dirs+=("${HOME_BASE}/${login}/.ssh")
      files+=("${HOME_BASE}/${login}/.ssh/authorized_keys")
    fi
  done
  (( ${#dirs[@]} )) || return 0
  run mkdir -p "${dirs[@]}"
  run chmod 0700 "${dirs[@]}"                 # before any key is in them
  run write_new_user_keys
  run chmod 0600 "${files[@]}"
}

write_new_user_keys() {
  local login
  for login in "${PLAN_CREATE[@]}"; do
    if [[ -n "${U_KEY[${login}]}" ]]; then
      printf '%s\n' "${U_KEY[${login}]}" > "${HOME_BASE}/${login}/.ssh/authorized_keys"
    fi
  done
}

# Existing users: one usermod each for GECOS, shell, unlock and expiry, only where they differ.
update_users() {
  local login
  local -a args=()
  for login in "${PLAN_UPDATE[@]}"; do
    args=()
    if [[ -n "${UPD_GECOS[${login}]-}" ]]; then
      args+=(-c "${UPD_GECOS[${login}]}")
    fi
    if [[ -n "${UPD_SHELL[${login}]-}" ]]; then
      args+=(-s "${UPD_SHELL[${login}]}")
    fi
    if [[ -n "${UPD_UNLOCK[${login}]-}" ]]; then
      args+=(-U)
    fi
    if [[ -n "${UPD_UNEXPIRE[${login}]-}" ]]; then
      args+=(-e '')
    fi
    if (( ${#args[@]} )); then
      run usermod "${args[@]}" "${login}"
      record updated "${login}"
    fi
  done
}

# Disabled accounts left without a usable password get a new one (already in the password file).
set_new_passwords() {
  local login
  (( ${#NEEDS_PASSWORD[@]} )) || return 0
  run chpasswd < <(chpasswd_input)
  for login in "${PASSWORD_ORDER[@]}"; do
    if [[ -n "${NEEDS_PASSWORD[${login}]-}" ]]; then
      run chage -d 0 "${login}"
      record updated "${login}"
    fi
  done
}

set_group_members() {
  local group login
  local -a logins=()
  for group in "${PLAN_MEMBER_GROUPS[@]}"; do
    run gpasswd -M "${PLAN_MEMBERS[${group}]}" "${group}"
    read -r -a logins <<< "${MEMBER_CHANGES[${group}]}"
    for login in "${logins[@]}"; do
      if [[ -z "${IS_NEW[${login}]-}" ]]; then
        record updated "${login}"
      fi
    done
  done
}

#######################################
# Writes the key of an existing user as that user (setpriv), not as root: the user owns ~/.ssh and
# could swap a file for a symlink between our check and our write; running as them, such a trick
# can only reach files they could already write. Arguments: login.
#######################################
write_key_as_user() {
  local login=$1
  local dir=${PW_HOME[${login}]}/.ssh
  if [[ -L "${dir}" || -L "${dir}/authorized_keys" ]]; then
    die 1 "${dir} or its authorized_keys became a symbolic link: refused"
  fi
  printf '%s\n' "${U_KEY[${login}]}" \
    | setpriv --reuid="${PW_UID[${login}]}" --regid="${PW_GID[${login}]}" --clear-groups \
        -- sh -ec "${KEY_WRITER_SH}" sh "${dir}"
}

write_existing_keys() {
  local login
  for login in "${PLAN_UPDATE[@]}"; do
    [[ -n "${KEY_WRITE[${login}]-}" ]] || continue
    run write_key_as_user "${login}"
    record updated "${login}"
  done
}

# Leavers: lock, expire on day 1 (1970-01-02), no-login shell. Home, groups and keys are kept.
disable_users() {
  local login
  for login in "${PLAN_DISABLE[@]}"; do
    run usermod -L -e 1 -s "${NOLOGIN}" "${login}"
    record disabled "${login}"
  done
}

apply_plan() {
  narrate_plan
  if [[ -n "${PASSWORD_FILE_PATH}" ]]; then
    run write_password_file "${PASSWORD_FILE_PATH}"
  fi
  create_users                # first, so that new users get GID = UID when free
  create_groups
  if (( ${#PLAN_GROUPS[@]} + ${#PLAN_CREATE[@]} )); then
    run write_group_record
  fi
  update_users
  set_new_passwords
  set_group_members
  write_existing_keys
  disable_users
}

# Sends the narration of the changes made to syslog, in one logger call (one entry per line).
send_to_syslog() {
  (( ${#SYSLOG_LINES[@]} )) || return 0
  if ! command -v logger > /dev/null || [[ ! -S /dev/log ]]; then
    info "no syslog on this host (no logger or /dev/log): actions not logged there"
    return 0
  fi
  logger -t "${SYSLOG_TAG}" < <(printf '%s\n' "${SYSLOG_LINES[@]}") \
    || warn "logger failed: actions not logged to syslog"
}

#######################################
# Main
#######################################
main() {
  trap cleanup EXIT
  trap 'on_error "${LINENO}" "${BASH_COMMAND}"' ERR
  trap 'die 1 "interrupted"' INT TERM

  parse_args "$@"
  require_root
  detect_os_family
  NOLOGIN=${NOLOGIN_SHELL[${OS_FAMILY}]}
  [[ -f "${CSV_FILE}" && -r "${CSV_FILE}" ]] || die 2 "${CSV_FILE}: no such readable file"
  require_utf8_locale
  take_lock

  info "checking ${CSV_FILE} against this ${OS_FAMILY} host"
  load_host
  read_csv "${CSV_FILE}"
  check_names
  inspect_ssh_dirs
  report_csv_errors

  plan_changes
  check_record_folder
  choose_password_file
  assign_passwords
  if (( ${#PLAN_GROUPS[@]} + ${#PLAN_CREATE[@]} + ${#PLAN_UPDATE[@]} + ${#PLAN_DISABLE[@]} == 0 )); then
    info "nothing to change: ${UNCHANGED} user(s) already as listed"
  fi
  apply_plan

  local changed=$(( ${#DONE_CREATED[@]} + ${#DONE_UPDATED[@]} + ${#DONE_DISABLED[@]} + ${#DONE_GROUPS[@]} ))
  if [[ "${DRY_RUN}" == false ]] && (( changed )); then
    SYSLOG_LINES+=("done: ${#DONE_CREATED[@]} created, ${#DONE_UPDATED[@]} updated, ${#DONE_DISABLED[@]} disabled, ${#DONE_GROUPS[@]} group(s) created")
    send_to_syslog
    if [[ "${PASSWORD_FILE_WRITTEN}" == true ]]; then
      info "new passwords are in ${PASSWORD_FILE_PATH} (root only): hand them over, then delete it"
    fi
  fi
  if (( changed )); then
    emit_result changed
  else
    emit_result ok
  fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
