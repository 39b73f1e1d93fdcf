# shellcheck shell=bash
#
# common.sh - the building blocks every Bash script of tssr-kit sources (lib/ travels beside each of
# them, scripts/bundles.yml): narration, dry run, errors, the JSON result line (result_line, and
# json_quote: THE JSON string escaper of the kit's Bash), validation, OS family, lock, templates,
# idempotent files, folders, services and packages (by family), secret files, names as data.
#
# Sourced, never run. The script that sources it defines, before calling anything here:
#   SCRIPT_NAME  LOCK_FILE  SYSLOG_TAG   constants
#   NAME DRY_RUN QUIET CHANGES ERRORS TMP_DIR TEMPLATES OS_FAMILY PACKAGES
#   emit_result STATUS [ERROR]   prints the script's result line (with result_line, below)
# and may set:
#   TEMPLATE_DIRS     where render looks, in order (default: TEMPLATES, then this folder's templates/)
#   RESULT_SCRIPT     the "script" of its result line, when it is not SCRIPT_NAME ("backup.sh")
#   LOG_PREFIX        put before "error:" and "warning:" ("provision-users: ")
#   SHOW_COMMANDS     true: run shows each command it would run in a dry run
#   FAIL_CODE         what a command failing under set -e exits with (default 1)
#   DEBIAN_PACKAGE REDHAT_PACKAGE   the family's package of each tool, for package_of
# A library sourced after this one may add functions to LIB_CHECKS: report_errors runs them first, so
# that what the library will need is validated before the first change (firewall.sh: the SSH ports).
#
# lastpipe: in `producer | put_file …` the LAST command of the pipeline runs in this shell, not in a
# subshell, so that put_file's refusal (an empty content: the producer died) stops the whole run
# instead of being lost in a subshell (or hidden by `|| true`), and its count of changes stays.
shopt -s lastpipe
# Bash 5.2 reads "&" in the replacement of ${var//pattern/replacement} as the match: a value holding
# one (a template value, a name) would be mangled. Off, as in every Bash before 5.2.
shopt -u patsub_replacement 2>/dev/null || true

readonly OS_RELEASE_FILE=/etc/os-release
readonly LABEL_RE='^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'
# A path that reaches a unit file, a config file, ssh or rsync: absolute, of these characters only.
readonly PLAIN_PATH_RE='^/[A-Za-z0-9._/@+-]*$'
readonly APT_LISTS_MAX_AGE=86400       # seconds: older package lists are refreshed before installing
TSSR_LIB_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
readonly TSSR_LIB_DIR
# The folder of the script that sources this file: its templates/, the files delivered beside it.
SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[1]:-.}")" && pwd)"
readonly SCRIPT_DIR
RUNNING=()                # the command run() runs, named by on_error when it fails

#######################################
# Narration and errors
#######################################
info() {
  [[ "${QUIET}" == true ]] || printf '%s\n' "$*" >&2
}

warn() {
  printf '%swarning: %s\n' "${LOG_PREFIX:-}" "$*" >&2
}

# The help: the header comment of the script, from its purpose line to the end of that block.
usage() {
  sed -n '3,/^$/{/^#/{s/^# \{0,1\}//;p}}' "$0"
}

#######################################
# Stop with a message and a result line.
# Arguments: exit code, message
#######################################
die() {
  local code="$1"
  shift
  printf '%serror: %s\n' "${LOG_PREFIX:-}" "$*" >&2
  # In a $(...) the result line would land in a variable: the caller's own failure reports it.
  ((BASH_SUBSHELL == 0)) || exit "${code}"
  emit_result failed "$*"
  exit "${code}"
}

# The ERR trap: trap 'on_error "${LINENO}" "${BASH_COMMAND}"' ERR. A command that run() ran is named
# as it was run, not as run's own "$@".
on_error() {
  local code=$? line="$1" command="$2"
  trap - ERR
  # shellcheck disable=SC2016  # the text bash gives for run's own line, compared as it is
  [[ "${command}" != '"$@"' || ${#RUNNING[@]} -eq 0 ]] || command="$(command_text "${RUNNING[@]}")"
  die "${FAIL_CODE:-1}" "line ${line}: '${command}' failed (exit ${code})"
}

#######################################
# Count one change: narrate it ("would …" in a dry run) and send it to syslog.
# Arguments: what changed, in words
#######################################
changed() {
  CHANGES=$((CHANGES + 1))
  if [[ "${DRY_RUN}" == true ]]; then
    printf 'would: %s\n' "$*" >&2
  else
    printf 'changed: %s\n' "$*" >&2
    logger -t "${SYSLOG_TAG}" -- "${NAME}: $*" 2>/dev/null || true
  fi
}

#######################################
# Run a command that changes the system, unless this is a dry run (then, with SHOW_COMMANDS=true and
# without --quiet, show it).
#######################################
run() {
  if [[ "${DRY_RUN}" == true ]]; then
    if [[ "${SHOW_COMMANDS:-false}" == true && "${QUIET}" != true ]]; then
      printf '  would run: %s\n' "$(command_text "$@")" >&2
    fi
    return 0
  fi
  RUNNING=("$@")
  "$@"
}

# A command as one would type it: words quoted only when they need it.
command_text() {
  local word out=""
  for word in "$@"; do
    if [[ -n "${word}" && "${word}" != *[!A-Za-z0-9_./:=,+@%^-]* ]]; then
      out+=" ${word}"
    else
      out+=" '${word//\'/\'\\\'\'}'"
    fi
  done
  printf '%s' "${out# }"
}

# A failure, to syslog (priority user.err), unless this is a dry run. Arguments: the message
syslog_failure() {
  [[ "${DRY_RUN}" == true ]] || logger -p user.err -t "${SYSLOG_TAG}" -- "$*" 2>/dev/null || true
}

#######################################
# JSON. Every Bash script of the kit prints its result line with result_line (below), which quotes
# every value with json_quote: a value that came from a server, a file or a user (an error message
# quoting a name, a path, a host name) may hold any byte, and must neither break the line nor reach a
# terminal raw.
#   - \ and " are escaped; every control character, U+0001..U+001F and DEL, becomes \n, \t, \r, \b,
#     \f or \u00XX (NUL cannot be in a Bash string at all: a value that had one lost it before it got
#     here);
#   - the C1 controls U+0080..U+009F (valid JSON, but a terminal may obey them: U+009B is CSI) become
#     \u0080..\u009f;
#   - a byte that is not part of valid UTF-8 (a Latin-1 file name, a truncated character, an encoded
#     surrogate, an overlong form) becomes \ufffd, so that the line is always valid UTF-8 JSON.
# The tables below are built once, when the file is sourced.
#######################################
JSON_CONTROL_CHARS=()
JSON_CONTROL_ESCAPES=()
JSON_C1_CHARS=()
JSON_C1_ESCAPES=()
json_build_tables() {
  local n hex char codes=()
  for ((n = 1; n < 32; n++)); do codes+=("${n}"); done
  for n in "${codes[@]}" 127; do
    printf -v hex '%02x' "${n}"
    # shellcheck disable=SC2059  # the format IS the escape being built: \xHH
    printf -v char "\\x${hex}"
    JSON_CONTROL_CHARS+=("${char}")
    case "${n}" in
      8) JSON_CONTROL_ESCAPES+=('\b') ;;
      9) JSON_CONTROL_ESCAPES+=('\t') ;;
      10) JSON_CONTROL_ESCAPES+=('\n') ;;
      12) JSON_CONTROL_ESCAPES+=('\f') ;;
      13) JSON_CONTROL_ESCAPES+=('\r') ;;
      *) JSON_CONTROL_ESCAPES+=("\\u00${hex}") ;;
    esac
  done
  for ((n = 128; n < 160; n++)); do
    printf -v hex '%02x' "${n}"
    # shellcheck disable=SC2059  # as above: the two bytes of U+0080..U+009F in UTF-8
    printf -v char "\\xc2\\x${hex}"
    JSON_C1_CHARS+=("${char}")
    JSON_C1_ESCAPES+=("\\u00${hex}")
  done
}
json_build_tables
readonly JSON_CONTROL_CHARS JSON_CONTROL_ESCAPES JSON_C1_CHARS JSON_C1_ESCAPES
# Byte patterns (matched with LC_ALL=C): a control character anywhere; a byte above 0x7f anywhere; a
# run of ASCII and well-formed UTF-8 characters (RFC 3629: no overlong form, no surrogate, <= U+10FFFF)
# at the start of a string.
readonly JSON_CONTROL_GLOB=$'*[\x01-\x1f\x7f]*'
readonly JSON_HIGH_GLOB=$'*[\x80-\xff]*'
readonly JSON_VALID_RUN=$'^([\x01-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf][\x80-\xbf]|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf][\x80-\xbf]|[\xf1-\xf3][\x80-\xbf][\x80-\xbf][\x80-\xbf]|\xf4[\x80-\x8f][\x80-\xbf][\x80-\xbf])+'

#######################################
# Arguments: the name of the variable to set, any string
# Sets that variable to the string as a JSON string literal, quotes included (no subshell: the
# variable names of this function start with __jq_, so that any other name can be set)
#######################################
json_quote_to() {
  local -n __jq_out="$1"
  local LC_ALL=C          # bytes, whatever the caller's locale
  local __jq_s="$2" __jq_valid="" __jq_i
  __jq_s="${__jq_s//\\/\\\\}"
  __jq_s="${__jq_s//\"/\\\"}"
  # shellcheck disable=SC2053  # the right-hand sides are patterns on purpose
  if [[ "${__jq_s}" == ${JSON_CONTROL_GLOB} ]]; then
    for __jq_i in "${!JSON_CONTROL_CHARS[@]}"; do
      __jq_s="${__jq_s//"${JSON_CONTROL_CHARS[__jq_i]}"/"${JSON_CONTROL_ESCAPES[__jq_i]}"}"
    done
  fi
  # shellcheck disable=SC2053
  if [[ "${__jq_s}" == ${JSON_HIGH_GLOB} ]]; then
    while [[ -n "${__jq_s}" ]]; do
      if [[ "${__jq_s}" =~ ${JSON_VALID_RUN} ]]; then
        __jq_valid+="${BASH_REMATCH[0]}"
        __jq_s="${__jq_s:${#BASH_REMATCH[0]}}"
      else
        __jq_valid+='\ufffd'
        __jq_s="${__jq_s:1}"
      fi
    done
    __jq_s="${__jq_valid}"
    if [[ "${__jq_s}" == *$'\xc2'* ]]; then
      for __jq_i in "${!JSON_C1_CHARS[@]}"; do
        __jq_s="${__jq_s//"${JSON_C1_CHARS[__jq_i]}"/"${JSON_C1_ESCAPES[__jq_i]}"}"
      done
    fi
  fi
  # shellcheck disable=SC2034  # a nameref: this sets the caller's variable
  __jq_out="\"${__jq_s}\""
}

# Arguments: any string. Outputs: it as a JSON string literal (json_quote_to's).
json_quote() {
  local quoted
  json_quote_to quoted "$1"
  printf '%s' "${quoted}"
}

json_or_null() {
  if [[ -n "$1" ]]; then json_quote "$1"; else printf 'null'; fi
}

# A whole number as JSON, or null when the value is not one (a refused option's raw text).
json_number() {
  if [[ "$1" =~ ^-?(0|[1-9][0-9]{0,17})$ ]]; then printf '%s' "$1"; else printf 'null'; fi
}

# A JSON array of strings: json_array a b → ["a", "b"]
json_array() {
  local item quoted out="" sep=""
  for item in "$@"; do
    json_quote_to quoted "${item}"
    out+="${sep}${quoted}"
    sep=", "
  done
  printf '[%s]' "${out}"
}

# A JSON array of values that json_object (or another json_ function) printed: json_items A B → [A, B]
json_items() {
  local item out="" sep=""
  for item in "$@"; do
    out+="${sep}${item}"
    sep=", "
  done
  printf '[%s]' "${out}"
}

#######################################
# A JSON object, its members given as KEY TYPE VALUE triples, in order. TYPE says how VALUE is written:
#   str    a string (always)               opt    a string, or null when VALUE is empty
#   some   a string, the member left out when VALUE is empty
#   int    a whole number, or null when VALUE is not one
#   bool   true or false (anything else: null)
#   list   VALUE names a Bash array: a JSON array of its elements, as strings
#   json   VALUE is JSON that json_object, json_array or json_items printed (anything else is
#          written as a string)
# Every string goes through json_quote_to: no value can break the line or reach a terminal raw, and
# nothing here stops the run (a bug in a call writes null and a warning: die would call emit_result).
# Arguments: KEY TYPE VALUE...
# Outputs: {"KEY": VALUE, ...}
#######################################
json_object() {
  local members
  json_members_to members "$@"
  printf '{%s}' "${members}"
}

# The members of json_object, into the variable named $1 (its locals start with __jm_).
json_members_to() {
  local -n __jm_out="$1"
  shift
  local __jm_key __jm_type __jm_value __jm_text __jm_name __jm_sep=""
  __jm_out=""
  while (($# >= 3)); do
    __jm_key="$1" __jm_type="$2" __jm_value="$3"
    shift 3
    case "${__jm_type}" in
      str) json_quote_to __jm_text "${__jm_value}" ;;
      opt | some)
        if [[ -n "${__jm_value}" ]]; then
          json_quote_to __jm_text "${__jm_value}"
        elif [[ "${__jm_type}" == some ]]; then
          continue
        else
          __jm_text=null
        fi
        ;;
      int)
        __jm_text=null
        [[ ! "${__jm_value}" =~ ^-?(0|[1-9][0-9]{0,17})$ ]] || __jm_text="${__jm_value}"
        ;;
      bool)
        __jm_text=null
        [[ "${__jm_value}" != true && "${__jm_value}" != false ]] || __jm_text="${__jm_value}"
        ;;
      list)
        if [[ "${__jm_value}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] && declare -p "${__jm_value}" >/dev/null 2>&1; then
          __jm_text="$(json_array_of "${__jm_value}")"
        else
          warn "json_object: ${__jm_key}: no array ${__jm_value} (a bug in ${SCRIPT_NAME})"
          __jm_text=null
        fi
        ;;
      json)
        # shellcheck disable=SC2053  # a pattern on purpose
        if [[ "${__jm_value}" =~ ^(\[.*\]|\{.*\})$ && "${__jm_value}" != ${JSON_CONTROL_GLOB} ]]; then
          __jm_text="${__jm_value}"
        else
          json_quote_to __jm_text "${__jm_value}"
        fi
        ;;
      *)
        warn "json_object: ${__jm_key}: unknown type '${__jm_type}' (a bug in ${SCRIPT_NAME})"
        __jm_text=null
        ;;
    esac
    json_quote_to __jm_name "${__jm_key}"
    __jm_out+="${__jm_sep}${__jm_name}: ${__jm_text}"
    __jm_sep=", "
  done
  (($# == 0)) || warn "json_object: '$1' has no type and value (a bug in ${SCRIPT_NAME})"
}

# json_array of the elements of the array named $1.
json_array_of() {
  local -n __ja_items="$1"
  json_array "${__ja_items[@]}"
}

#######################################
# THE result line: one JSON object, the last line of stdout (docs/reference/script-contract.md).
#   {"script": RESULT_SCRIPT, "status": STATUS, "changed": CHANGES, "dry_run": DRY_RUN, MEMBERS...}
# A script's emit_result calls it once, with its own members last (json_object's triples; its error as
# `error some "${error}"`: present only when there is one).
# Arguments: status (ok|changed|failed), KEY TYPE VALUE...
#######################################
result_line() {
  local status="$1" line
  shift
  [[ "${status}" == ok || "${status}" == changed ]] || status=failed
  line="$(json_object script str "${RESULT_SCRIPT:-${SCRIPT_NAME}}" status str "${status}" \
    changed int "${CHANGES}" dry_run bool "${DRY_RUN}" "$@")"
  printf '%s\n' "${line}"
}

#######################################
# The end of a run: its result line, ok when nothing changed (with a word saying so), else changed.
# Arguments: what to say when nothing changed
#######################################
finish() {
  if ((CHANGES == 0)); then
    info "$1"
    emit_result ok
  else
    emit_result changed
  fi
}

#######################################
# Command line
#######################################
# The options every script takes, the last case of its parse_args: -n/--dry-run, -q/--quiet,
# -h/--help; any other word starting with - is an unknown option (exit 2).
# Arguments: the word. Returns: 1 when it is not an option (an argument the script did not expect)
common_option() {
  case "$1" in
    -n | --dry-run) DRY_RUN=true ;;
    -q | --quiet) QUIET=true ;;
    -h | --help) usage; exit 0 ;;
    -*) usage_error "unknown option: $1" ;;
    *) return 1 ;;
  esac
}

# A file of scripts/ that scripts/bundles.yml delivers beside this script: there, or in its place in
# the repository (scripts/bash/X/ → scripts/python/...). Arguments: its path under scripts/
# Outputs: the file found (nothing when there is none); returns 1 then
bundled_file() {
  local candidate
  for candidate in "${SCRIPT_DIR}/${1##*/}" "${SCRIPT_DIR}/../../$1"; do
    if [[ -f "${candidate}" ]]; then
      printf '%s' "${candidate}"
      return 0
    fi
  done
  return 1
}

usage_error() {
  printf '%serror: %s\n' "${LOG_PREFIX:-}" "$1" >&2
  printf 'Try: %s --help\n' "$0" >&2
  emit_result failed "$1"
  exit 2
}

need_value() {
  (($2 >= 2)) || usage_error "$1 needs a value"
}

#######################################
# Validation: every problem is collected, then reported together (exit 2, nothing changed).
#######################################
add_error() {
  ERRORS+=("$1")
}

# Checks that a library sourced after this file adds (see the header); run by report_errors.
LIB_CHECKS=()

report_errors() {
  local e
  for e in "${LIB_CHECKS[@]}"; do
    "${e}"
  done
  ((${#ERRORS[@]} > 0)) || return 0
  for e in "${ERRORS[@]}"; do
    printf 'error: %s\n' "${e}" >&2
  done
  printf '%d problem(s) found: nothing was changed.\n' "${#ERRORS[@]}" >&2
  emit_result failed "${ERRORS[0]}"
  exit 2
}

#######################################
# A secret (a passphrase, a private key, credentials): a regular file of root's that nobody else may
# read, given by its absolute path, not empty. The file is never read here.
# Arguments: the option, the path, and "plain" when the path also reaches a unit file, ssh or rsync
#            (then only letters, digits and ._/@+- are accepted: PLAIN_PATH_RE)
# Returns: 1 when it is not (the error is added)
#######################################
validate_secret_file() {
  local option="$1" file="$2" plain="${3:-}" owner_mode
  # (shown: a path with a control character reaches the terminal escaped)
  if [[ "${plain}" == plain && ! "${file}" =~ ${PLAIN_PATH_RE} ]]; then
    add_error "${option}: '$(shown "${file}")' must be an absolute path (letters, digits and ._/@+-)"
  elif [[ "${file}" != /* ]]; then
    add_error "${option}: '$(shown "${file}")' must be an absolute path"
  elif [[ ! -f "${file}" || -L "${file}" ]]; then
    add_error "${option}: '$(shown "${file}")' is not a regular file"
  elif [[ ! -s "${file}" ]]; then
    add_error "${option}: '$(shown "${file}")' is empty"
  else
    owner_mode="$(stat -c '%u %a' -- "${file}")"
    if [[ "${owner_mode}" == "0 400" || "${owner_mode}" == "0 600" ]]; then
      return 0
    fi
    add_error "${option}: '$(shown "${file}")' must belong to root with mode 0400 or 0600 (it is uid ${owner_mode% *}, mode ${owner_mode#* }): chown root: $(shown "${file}"); chmod 0600 $(shown "${file}")"
  fi
  return 1
}

# A file only root can change (a known_hosts file): root's, not writable by group or others, given by
# its absolute path (PLAIN_PATH_RE). Arguments: the option, the path
validate_root_file() {
  local option="$1" file="$2" owner_mode
  if [[ ! "${file}" =~ ${PLAIN_PATH_RE} ]]; then
    add_error "${option}: '$(shown "${file}")' must be an absolute path (letters, digits and ._/@+-)"
  elif [[ ! -f "${file}" || -L "${file}" ]]; then
    add_error "${option}: '$(shown "${file}")' is not a regular file"
  else
    owner_mode="$(stat -c '%u %a' -- "${file}")"
    if [[ "${owner_mode% *}" != 0 ]] || (((8#${owner_mode#* } & 8#022) != 0)); then
      add_error "${option}: '$(shown "${file}")' must belong to root and be writable by root only (it is uid ${owner_mode% *}, mode ${owner_mode#* })"
    fi
  fi
}

# The app name from its path: base name without archive suffix and trailing version, lower case;
# characters outside a-z0-9 become SEPARATOR (default _).
derive_name() {
  local base separator="${2:-_}"
  base="$(basename -- "${1%/}")"
  base="${base%.tar.gz}"
  base="${base%.tgz}"
  base="${base%.tar}"
  base="${base%.jar}"
  base="${base%.war}"
  base="$(printf '%s' "${base}" | sed -E 's/[-_.]v?[0-9]+([._][0-9]+)*$//' \
    | tr '[:upper:]' '[:lower:]' | tr -c "a-z0-9\n" "${separator}")"
  printf '%s' "${base}"
}

is_valid_domain() {
  local domain="$1" label
  local -a labels
  ((${#domain} >= 1 && ${#domain} <= 253)) || return 1
  [[ "${domain}" =~ ^[a-z0-9.-]+$ ]] || return 1
  [[ "${domain}" != *..* && "${domain}" != .* && "${domain}" != *. ]] || return 1
  IFS=. read -r -a labels <<<"${domain}"
  for label in "${labels[@]}"; do
    [[ "${label}" =~ ${LABEL_RE} ]] || return 1
  done
}

default_domain() {
  local fqdn
  fqdn="$(hostname -f 2>/dev/null || hostname 2>/dev/null || true)"
  fqdn="$(printf '%s' "${fqdn}" | tr '[:upper:]' '[:lower:]')"
  if is_valid_domain "${fqdn}"; then
    printf '%s' "${fqdn}"
  else
    printf '%s.localdomain' "${NAME}"
  fi
}

# --domain: lower-cased and checked; by default the host's name (once NAME is known).
validate_domain() {
  if [[ -z "${DOMAIN}" ]]; then
    [[ -z "${NAME}" ]] || DOMAIN="$(default_domain)"
    return 0
  fi
  # shellcheck disable=SC2034  # read by the sourcing script (a rollback keeps the last domain)
  DOMAIN_GIVEN=true
  local given="${DOMAIN}"
  DOMAIN="$(printf '%s' "${DOMAIN}" | tr '[:upper:]' '[:lower:]')"
  if ! is_valid_domain "${DOMAIN}"; then
    add_error "--domain: '${given}' is not a valid DNS name (labels of a-z, 0-9 and inner -, 1 to 63 characters, 253 at most; an international name goes in its xn-- form)"
    DOMAIN=""
  fi
}

#######################################
# The host
#######################################
require_root() {
  ((EUID == 0)) || usage_error "must run as root (sudo), the dry run included: it reads root-only state"
}

# A value of os-release, its quotes removed. The KEY=value lines are read, the file is never sourced:
# no code of it runs here. Arguments: the key
os_release_value() {
  local key value
  while IFS='=' read -r key value || [[ -n "${key}" ]]; do
    [[ "${key}" == "$1" ]] || continue
    value="${value#[\"\']}"
    printf '%s' "${value%[\"\']}"
    return 0
  done <"${OS_RELEASE_FILE}"
}

# OS_FAMILY (debian or redhat) and OS_VERSION (the major release, e.g. 12 or 9) from os-release.
detect_os_family() {
  [[ -r "${OS_RELEASE_FILE}" ]] || usage_error "${OS_RELEASE_FILE} is missing: cannot tell the OS family"
  local id id_like
  id="$(os_release_value ID)"
  id_like="$(os_release_value ID_LIKE)"
  OS_VERSION="$(os_release_value VERSION_ID)"
  OS_VERSION="${OS_VERSION%%.*}"
  case " ${id} ${id_like} " in
    *" debian "* | *" ubuntu "*) OS_FAMILY=debian ;;
    *" rhel "* | *" fedora "* | *" centos "*) OS_FAMILY=redhat ;;
    *) usage_error "unsupported system '${id}': this script runs on the debian and redhat families" ;;
  esac
}

#######################################
# The folder of LOCK_FILE (/run/tssr-kit): made root's 0755 when missing, and refused unless it is
# root's alone. Not /run/lock: anyone may create files there, so a local user could create the lock
# first, hold it, and keep every run from starting.
#######################################
ensure_lock_dir() {
  local dir="${LOCK_FILE%/*}"
  [[ -e "${dir}" || -L "${dir}" ]] || mkdir -m 0755 -- "${dir}" 2>/dev/null || true
  if [[ -L "${dir}" || ! -d "${dir}" ]] || [[ "$(stat -c '%u' -- "${dir}")" != 0 ]] \
    || (( 8#$(stat -c '%a' -- "${dir}") & 8#022 )); then
    die 1 "the lock folder ${dir} is not a folder only root can write: remove it (a reboot empties /run)"
  fi
}

take_lock() {
  ensure_lock_dir
  exec 9>>"${LOCK_FILE}"
  if ! flock -n 9; then
    printf '%serror: another %s run holds %s\n' "${LOG_PREFIX:-}" "${SCRIPT_NAME}" "${LOCK_FILE}" >&2
    emit_result failed "another run holds the lock"
    exit 3
  fi
}

#######################################
# Render a template: every {{KEY}} replaced by the value given as KEY=value. The template is looked
# up in TEMPLATE_DIRS (the script's own templates first, then the shared ones).
# Arguments: template file name, KEY=value...
# Outputs: the rendered text on stdout
#######################################
render() {
  local template="$1" text pair key dir file=""
  for dir in "${TEMPLATE_DIRS[@]:-${TEMPLATES}}" "${TSSR_LIB_DIR}/templates"; do
    if [[ -f "${dir}/${template}" ]]; then
      file="${dir}/${template}"
      break
    fi
  done
  [[ -n "${file}" ]] || die 1 "template ${template} not found (in ${TEMPLATES} or ${TSSR_LIB_DIR}/templates)"
  text="$(<"${file}")"
  shift
  for pair in "$@"; do
    key="${pair%%=*}"
    text="${text//\{\{${key}\}\}/${pair#*=}}"
  done
  if [[ "${text}" == *'{{'* ]]; then
    die 1 "template ${template}: a placeholder was left unfilled (a bug in ${SCRIPT_NAME}.sh)"
  fi
  printf '%s\n' "${text}"
}

#######################################
# Stop the run when the content meant for a file came out empty: what should have produced it (a
# render in a pipeline) failed. Writers call it before comparing with the file in place, so that an
# empty file left by an earlier failure is not taken as "already right".
# Arguments: the temporary file holding the content, what it is (for the message)
#######################################
refuse_empty() {
  [[ ! -s "$1" ]] || return 0
  rm -f -- "$1"
  die 1 "$2 came out empty: what should have produced it failed (see above); it was not written"
}

#######################################
# Install content as a file when it differs (atomically: a temporary file renamed into place).
# An EMPTY content is refused, and stops the run (exit 1, nothing written), unless --allow-empty
# says an empty file is what is wanted: in `render … | put_file …` an empty stdin means that what
# produced it died (a missing template, a placeholder left unfilled: render prints all or nothing),
# and an empty vhost or unit would otherwise be installed, and even pass `apachectl -t`. With
# lastpipe (set above) put_file runs in the script's own shell, so its die ends the run.
# Arguments: [--allow-empty] path, owner, group, mode, description; content on stdin
# Returns: 0 when the file changed (or would), 1 when it was already right
#######################################
put_file() {
  local allow_empty=false
  if [[ "$1" == --allow-empty ]]; then
    allow_empty=true
    shift
  fi
  local path="$1" owner="$2" group="$3" mode="$4" what="$5" new
  new="$(mktemp -p "${TMP_DIR}")"
  cat >"${new}"
  [[ "${allow_empty}" == true ]] || refuse_empty "${new}" "${what} (${path})"
  if [[ -f "${path}" ]] && cmp -s -- "${new}" "${path}" \
    && [[ "$(stat -c '%U:%G %a' -- "${path}")" == "${owner}:${group} ${mode#0}" ]]; then
    rm -f -- "${new}"
    return 1
  fi
  changed "write ${what} (${path})"
  if [[ "${DRY_RUN}" == false ]]; then
    local dir tmp
    dir="$(dirname -- "${path}")"
    mkdir -p -- "${dir}"
    tmp="$(mktemp -p "${dir}" ".tssr-kit.XXXXXX")"
    cat -- "${new}" >"${tmp}"
    chown "${owner}:${group}" -- "${tmp}"
    chmod "${mode}" -- "${tmp}"
    mv -f -- "${tmp}" "${path}"
  fi
  rm -f -- "${new}"
  return 0
}

#######################################
# A folder with the given owner, group and mode.
# Arguments: path, owner, group, mode
#######################################
ensure_dir() {
  local path="$1" owner="$2" group="$3" mode="$4"
  if [[ -d "${path}" && ! -L "${path}" ]]; then
    [[ "$(stat -c '%U:%G %a' -- "${path}")" != "${owner}:${group} ${mode#0}" ]] || return 0
    changed "set ${path} to ${owner}:${group} ${mode}"
  else
    changed "create the folder ${path}"
    run mkdir -p -- "${path}"
  fi
  run chown "${owner}:${group}" -- "${path}"
  run chmod "${mode}" -- "${path}"
}

#######################################
# A systemd service enabled at boot and running.
# Arguments: unit name
#######################################
ensure_service() {
  local unit="$1"
  if [[ "$(systemctl is-enabled "${unit}" 2>/dev/null)" != enabled ]]; then
    changed "enable the service ${unit} at boot"
    run systemctl enable --quiet "${unit}"
  fi
  if ! systemctl is-active --quiet "${unit}"; then
    changed "start the service ${unit}"
    run systemctl start "${unit}"
  fi
}

#######################################
# Packages (PACKAGES: what the script needs, by the family's names)
#######################################
missing_packages() {
  if [[ "${OS_FAMILY}" == debian ]]; then
    local installed
    installed="$(dpkg-query -W -f '${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null \
      | awk '$2 == "installed" {print $1}' || true)"
    local p
    for p in "${PACKAGES[@]}"; do
      grep -qx -- "${p}" <<<"${installed}" || printf '%s\n' "${p}"
    done
  else
    rpm -q "${PACKAGES[@]}" 2>/dev/null | awk '/ is not installed$/ {print $2}' || true
  fi
}

# Package lists older than APT_LISTS_MAX_AGE (or none) are refreshed: not a change of the system's
# behaviour, so also done in a dry run when the script must ask what a package would be.
apt_refresh_lists() {
  local newest age
  newest="$(find /var/lib/apt/lists -maxdepth 1 -name '*_InRelease' -printf '%T@\n' 2>/dev/null \
    | sort -n | tail -n 1)"
  newest="${newest%.*}"
  age=$(($(date +%s) - ${newest:-0}))
  if ((age > APT_LISTS_MAX_AGE)); then
    info "refreshing the package lists (older than ${APT_LISTS_MAX_AGE} s)"
    DEBIAN_FRONTEND=noninteractive apt-get -q -y update >>"${TMP_DIR}/apt.log" 2>&1 || true
  fi
}

# apt-get's output goes to a log in the private temp folder; its end is shown when it fails.
apt_install() {
  local -a apt=(apt-get -q -y -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confdef
    -o Dpkg::Options::=--force-confold)
  local log="${TMP_DIR}/apt.log"
  apt_refresh_lists
  if DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends "$@" >>"${log}" 2>&1; then
    return 0
  fi
  info "installing failed: refreshing the package lists and trying again"
  if ! { DEBIAN_FRONTEND=noninteractive "${apt[@]}" update \
    && DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends "$@"; } >>"${log}" 2>&1; then
    tail -n 20 -- "${log}" >&2
    die 1 "apt-get could not install $*"
  fi
}

# Install what PACKAGES lacks. Returns 1 when nothing was missing.
install_packages() {
  local -a missing
  mapfile -t missing < <(missing_packages)
  ((${#missing[@]} > 0)) || return 1
  changed "install the packages ${missing[*]}"
  [[ "${DRY_RUN}" == false ]] || return 0
  if [[ "${OS_FAMILY}" == debian ]]; then
    apt_install "${missing[@]}"
  elif ! dnf -y -q install "${missing[@]}" >"${TMP_DIR}/dnf.log" 2>&1; then
    tail -n 20 -- "${TMP_DIR}/dnf.log" >&2
    die 1 "dnf could not install ${missing[*]}"
  fi
}

# The family's package of a tool: DEBIAN_PACKAGE[TOOL] or REDHAT_PACKAGE[TOOL] (tables the script, or
# a library such as sets.sh, declares). Arguments: the tool
package_of() {
  if [[ "${OS_FAMILY}" == debian ]]; then
    printf '%s' "${DEBIAN_PACKAGE[$1]}"
  else
    printf '%s' "${REDHAT_PACKAGE[$1]}"
  fi
}

#######################################
# Names read from a server, a backup set or a file are data: shown quoted, passed as hex or as client
# variables, never pasted into SQL, a path or a shell command.
#######################################
# A name as it can be shown in a message or a log: quoted, control characters escaped.
shown() {
  local quoted
  printf -v quoted '%q' "$1"
  printf '%s' "${quoted}"
}

# The bytes of a string in lower-case hex, without separators.
hex_of() {
  printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'
}

# The string whose bytes are the hex digits $1, into the variable named $2 (newlines kept).
from_hex() {
  local hex="$1" escaped="" i
  local -n decoded="$2"
  [[ "${hex}" =~ ^([0-9a-fA-F]{2})*$ ]] || return 1
  for ((i = 0; i < ${#hex}; i += 2)); do
    escaped+="\\x${hex:i:2}"
  done
  # shellcheck disable=SC2034  # decoded is a nameref: this sets the caller's variable
  printf -v decoded '%b' "${escaped}"
}

#######################################
# Is PATH root's alone? Every folder on its way, as written and once its links are resolved, must
# belong to root and be writable by root only, or be sticky (like /tmp: nobody else can then rename
# what root made in it); a link on the way must be root's. Parts that do not exist yet are not
# checked (root makes them, then checks again).
# Arguments: path (absolute)
# Outputs: the first part that someone else could change, and why; nothing when PATH is root's
#######################################
untrusted_in_path() {
  local path="$1" real
  real="$(realpath -m -- "${path}" 2>/dev/null)" || { printf '%s (cannot be resolved)' "${path}"; return 0; }
  untrusted_in_chain "${path}" || return 0
  [[ "${real}" == "${path%/}" ]] || untrusted_in_chain "${real}" || return 0
}

# One spelling of the path, part by part from /. Returns 1 (and prints why) at the first bad part.
untrusted_in_chain() {
  local current="" part uid mode kind
  local -a parts
  IFS=/ read -r -a parts <<<"${1#/}"
  for part in "" "${parts[@]}"; do
    [[ -n "${part}" || -z "${current}" ]] || continue
    current="${current%/}/${part}"
    [[ -e "${current}" || -L "${current}" ]] || return 0
    read -r uid mode kind < <(stat -c '%u %a %F' -- "${current}")
    if ((uid != 0)); then
      printf '%s belongs to uid %s' "${current}" "${uid}"
      return 1
    fi
    [[ "${kind}" == directory ]] || continue
    if (((8#${mode} & 8#022) != 0 && (8#${mode} & 8#1000) == 0)); then
      printf '%s is writable by others than root (mode %s)' "${current}" "${mode}"
      return 1
    fi
  done
}
