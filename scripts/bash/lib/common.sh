# shellcheck shell=bash
#
# common.sh - building blocks shared by the Bash scripts of tssr-kit (deploy-lamp.sh, deploy-java.sh,
# backup.sh, restore.sh, setup-snmp.sh, setup-logging.sh): narration, dry run, result line helpers
# (json_quote: THE JSON string escaper of every Bash script), validation, OS family, lock, templates,
# idempotent files, folders, services and packages, and the SSH ports a firewall must keep open.
#
# Sourced, never run. The script that sources it defines, before calling anything here:
#   SCRIPT_NAME  LOCK_FILE  SYSLOG_TAG   constants
#   NAME DRY_RUN QUIET CHANGES ERRORS TMP_DIR TEMPLATES OS_FAMILY PACKAGES
#   emit_result STATUS [ERROR]   prints the script's JSON result line
# and may set TEMPLATE_DIRS (where render looks, in order; default: TEMPLATES, then this folder's
# templates/). A library sourced after this one may add functions to LIB_CHECKS: report_errors runs
# them first, so that what the library will need is validated before the first change (web.sh: the
# SSH ports its firewall keeps open).
#
# lastpipe: in `producer | put_file …` the LAST command of the pipeline runs in this shell, not in a
# subshell, so that put_file's refusal (an empty content: the producer died) stops the whole run
# instead of being lost in a subshell (or hidden by `|| true`), and its count of changes stays.
shopt -s lastpipe

readonly OS_RELEASE_FILE=/etc/os-release
readonly LABEL_RE='^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'
readonly APT_LISTS_MAX_AGE=86400       # seconds: older package lists are refreshed before installing
TSSR_LIB_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
readonly TSSR_LIB_DIR

#######################################
# Narration and errors
#######################################
info() {
  [[ "${QUIET}" == true ]] || printf '%s\n' "$*" >&2
}

warn() {
  printf 'warning: %s\n' "$*" >&2
}

#######################################
# Stop with a message and a result line.
# Arguments: exit code, message
#######################################
die() {
  local code="$1"
  shift
  printf 'error: %s\n' "$*" >&2
  # In a $(...) the result line would land in a variable: the caller's own failure reports it.
  ((BASH_SUBSHELL == 0)) || exit "${code}"
  emit_result failed "$*"
  exit "${code}"
}

on_error() {
  local code=$? line="$1" command="$2"
  trap - ERR
  die 1 "line ${line}: '${command}' failed (exit ${code})"
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
# Run a command that changes the system, unless this is a dry run.
#######################################
run() {
  if [[ "${DRY_RUN}" == true ]]; then
    return 0
  fi
  "$@"
}

#######################################
# JSON strings. Every Bash script of the kit builds its result line with json_quote (and json_or_null,
# json_array): a value that came from a server, a file or a user (an error message quoting a name, a
# path, a host name) may hold any byte, and must neither break the line nor reach a terminal raw.
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
# Arguments: any string
# Outputs: it as a JSON string literal, quotes included (see above)
#######################################
json_quote() {
  local LC_ALL=C          # bytes, whatever the caller's locale
  local s="$1" out="" i
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  # shellcheck disable=SC2053  # the right-hand sides are patterns on purpose
  if [[ "${s}" == ${JSON_CONTROL_GLOB} ]]; then
    for i in "${!JSON_CONTROL_CHARS[@]}"; do
      s="${s//"${JSON_CONTROL_CHARS[i]}"/"${JSON_CONTROL_ESCAPES[i]}"}"
    done
  fi
  # shellcheck disable=SC2053
  if [[ "${s}" == ${JSON_HIGH_GLOB} ]]; then
    while [[ -n "${s}" ]]; do
      if [[ "${s}" =~ ${JSON_VALID_RUN} ]]; then
        out+="${BASH_REMATCH[0]}"
        s="${s:${#BASH_REMATCH[0]}}"
      else
        out+='\ufffd'
        s="${s:1}"
      fi
    done
    s="${out}"
    if [[ "${s}" == *$'\xc2'* ]]; then
      for i in "${!JSON_C1_CHARS[@]}"; do
        s="${s//"${JSON_C1_CHARS[i]}"/"${JSON_C1_ESCAPES[i]}"}"
      done
    fi
  fi
  printf '"%s"' "${s}"
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
  local item sep=""
  printf '['
  for item in "$@"; do
    printf '%s%s' "${sep}" "$(json_quote "${item}")"
    sep=", "
  done
  printf ']'
}

#######################################
# Command line
#######################################
usage_error() {
  printf 'error: %s\n' "$1" >&2
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

# OS_FAMILY (debian or redhat) and OS_VERSION (the major release, e.g. 12 or 9) from os-release.
detect_os_family() {
  [[ -r "${OS_RELEASE_FILE}" ]] || usage_error "${OS_RELEASE_FILE} is missing: cannot tell the OS family"
  local id id_like
  # shellcheck source=/dev/null  # os-release is the system's, read in a subshell
  id="$(. "${OS_RELEASE_FILE}" && printf '%s' "${ID:-}")"
  # shellcheck source=/dev/null
  id_like="$(. "${OS_RELEASE_FILE}" && printf '%s' "${ID_LIKE:-}")"
  # shellcheck source=/dev/null
  OS_VERSION="$(. "${OS_RELEASE_FILE}" && printf '%s' "${VERSION_ID:-}")"
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
    printf 'error: another %s run holds %s\n' "${SCRIPT_NAME}" "${LOCK_FILE}" >&2
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

#######################################
# The SSH ports a firewall must keep open, so that a run never locks the operator out:
#   - every `port` line and the port of every `listenaddress` line of `sshd -T` (sshd's effective
#     configuration: `ListenAddress 0.0.0.0:2222`, `[::]:2200`, an address without a port takes each
#     Port). If `sshd -T` fails (sshd missing, a broken sshd_config), nobody can tell which ports SSH
#     uses: the caller must stop with nothing changed, never fall back to 22;
#   - the server port of the SSH connection this run came through ($SSH_CONNECTION's 4th field). sudo
#     drops SSH_CONNECTION from the environment (it is not in env_keep), as do Ansible's become and
#     the kit's runner (`sudo -n -- bash script`): it is then read from the environment of the
#     closest ancestor process that has it (sudo's own environment is its caller's);
#   - the ports the running sshd listens on (`ss`): an sshd_config edited but not yet reloaded may no
#     longer name the port an operator is logged in through. (Not its established connections: those
#     include the ones sshd opens for port forwarding, from ephemeral ports.)
# Sets SSH_KEEP_PORTS (comma-separated, sorted) and returns 0; or sets SSH_PORTS_ERROR and returns 1.
# Computed once per run.
#######################################
SSH_KEEP_PORTS=""
SSH_PORTS_ERROR=""

# A TCP port number (1 to 65535, no leading zero)?
is_tcp_port() {
  [[ "$1" =~ ^[1-9][0-9]{0,4}$ ]] && (($1 <= 65535))
}

# Sets SSH_CONFIG_PORTS to the ports of `sshd -T`. Returns: 1 when sshd -T fails (SSH_PORTS_ERROR set).
SSH_CONFIG_PORTS=()
# shellcheck disable=SC2034  # SSH_PORTS_ERROR is read by the sourcing script (the error it reports)
sshd_config_ports() {
  local sshd out key value port
  SSH_CONFIG_PORTS=()
  sshd="$(command -v sshd 2>/dev/null || true)"
  [[ -n "${sshd}" || ! -x /usr/sbin/sshd ]] || sshd=/usr/sbin/sshd
  if [[ -z "${sshd}" ]]; then
    SSH_PORTS_ERROR="sshd is not installed here (no sshd in PATH nor /usr/sbin): cannot tell which ports SSH logins use"
    return 1
  fi
  if ! out="$("${sshd}" -T 2>&1)"; then
    SSH_PORTS_ERROR="\`sshd -T\` failed, so the ports SSH listens on are unknown (fix sshd's configuration first, \`sshd -t\` shows what is wrong): $(printf '%s' "${out}" | tail -n 2 | tr '\n' ' ')"
    return 1
  fi
  while read -r key value _; do
    case "${key}" in
      port) port="${value}" ;;
      listenaddress) port="${value##*:}" ;;
      *) continue ;;
    esac
    if ! is_tcp_port "${port}"; then
      SSH_PORTS_ERROR="\`sshd -T\` printed '${key} ${value}': not a port this script understands"
      return 1
    fi
    SSH_CONFIG_PORTS+=("${port}")
  done <<<"${out}"
  if ((${#SSH_CONFIG_PORTS[@]} == 0)); then
    SSH_PORTS_ERROR="\`sshd -T\` printed no port and no listenaddress line"
    return 1
  fi
}

# Outputs: the server port of $SSH_CONNECTION, or of the closest ancestor's (nothing when there is none).
ssh_connection_port() {
  local connection="${SSH_CONNECTION:-}" pid="${BASHPID}" stat ppid depth
  for ((depth = 0; depth < 64; depth++)); do
    [[ -z "${connection}" ]] || break
    stat="$(cat -- "/proc/${pid}/stat" 2>/dev/null)" || break
    stat="${stat##*) }"                     # after the command name, which may hold spaces
    read -r _ ppid _ <<<"${stat}" || break
    if [[ ! "${ppid}" =~ ^[0-9]+$ ]] || ((ppid <= 1)); then
      break
    fi
    pid="${ppid}"
    connection="$({ tr '\0' '\n' <"/proc/${pid}/environ"; } 2>/dev/null \
      | sed -n 's/^SSH_CONNECTION=//p' | head -n 1 || true)"
  done
  local fields
  read -r -a fields <<<"${connection}"
  if ((${#fields[@]} == 4)) && is_tcp_port "${fields[3]}"; then
    printf '%s\n' "${fields[3]}"
  fi
}

# Outputs: the TCP ports the running sshd listens on, one per line.
sshd_listening_ports() {
  command -v ss >/dev/null 2>&1 || return 0
  ss -Htlnp 2>/dev/null | awk '$1 == "LISTEN" && /users:\(\("sshd"/ { n = split($4, a, ":"); print a[n] }' || true
}

ssh_keep_ports() {
  [[ -z "${SSH_KEEP_PORTS}" ]] || return 0
  local session
  sshd_config_ports || return 1
  session="$(ssh_connection_port; sshd_listening_ports)"
  SSH_KEEP_PORTS="$(printf '%s\n' "${SSH_CONFIG_PORTS[@]}" "${session}" | grep -E '^[0-9]+$' | sort -un \
    | paste -sd, -)"
}

#######################################
# What the kit added to firewalld, so that it only ever removes that (never a service, port or rule
# of the administrator's): /var/lib/tssr-kit/firewall/firewalld-NAME.added, "ZONE<TAB>ITEM" lines
# (root only). NAME: web (the deploy scripts), snmp, syslog (firewall.sh).
#######################################
readonly FIREWALL_STATE_DIR=/var/lib/tssr-kit/firewall

firewalld_added_file() {
  printf '%s/firewalld-%s.added' "${FIREWALL_STATE_DIR}" "$1"
}

# Record (add) or forget (remove) one item the kit added. Arguments: name, add|remove, zone, item
firewalld_record() {
  local file tmp
  file="$(firewalld_added_file "$1")"
  mkdir -p -- "${FIREWALL_STATE_DIR}"
  chmod 0700 -- "${FIREWALL_STATE_DIR}"
  tmp="$(mktemp -p "${FIREWALL_STATE_DIR}" .tssr-kit.XXXXXX)"
  { grep -vxF -- "$3"$'\t'"$4" "${file}" 2>/dev/null || true; [[ "$2" != add ]] || printf '%s\t%s\n' "$3" "$4"; } >"${tmp}"
  chmod 0600 -- "${tmp}"
  mv -f -- "${tmp}" "${file}"
}

# The items the kit added for NAME in ZONE, one per line.
firewalld_added() {
  local file
  file="$(firewalld_added_file "$1")"
  [[ -f "${file}" ]] || return 0
  awk -F '\t' -v zone="$2" '$1 == zone { print $2 }' "${file}"
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
