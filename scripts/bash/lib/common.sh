# shellcheck shell=bash
#
# common.sh - building blocks shared by the deploy scripts of tssr-kit (deploy-lamp.sh,
# deploy-java.sh): narration, dry run, result line helpers, validation, OS family, lock, templates,
# idempotent files, folders, services and packages.
#
# Sourced, never run. The script that sources it defines, before calling anything here:
#   SCRIPT_NAME  LOCK_FILE  SYSLOG_TAG   constants
#   NAME DRY_RUN QUIET CHANGES ERRORS TMP_DIR TEMPLATES OS_FAMILY PACKAGES
#   emit_result STATUS [ERROR]   prints the script's JSON result line
# and may set TEMPLATE_DIRS (where render looks, in order; default: TEMPLATES, then this folder's
# templates/).

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

json_quote() {
  local s="$1"
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\t'/\\t}
  s=${s//$'\r'/\\r}
  printf '"%s"' "${s}"
}

json_or_null() {
  if [[ -n "$1" ]]; then json_quote "$1"; else printf 'null'; fi
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

report_errors() {
  ((${#ERRORS[@]} > 0)) || return 0
  local e
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

take_lock() {
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
# Install content as a file when it differs (atomically: a temporary file renamed into place).
# Arguments: path, owner, group, mode, description; content on stdin
# Returns: 0 when the file changed (or would), 1 when it was already right
#######################################
put_file() {
  local path="$1" owner="$2" group="$3" mode="$4" what="$5" new
  new="$(mktemp -p "${TMP_DIR}")"
  cat >"${new}"
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
