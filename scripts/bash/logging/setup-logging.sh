#!/usr/bin/env bash
#
# setup-logging.sh - forward this host's syslog to a central server without losing messages, or make
# this host the central log server (one file per sending host, rotated).
#
# Usage:
#   setup-logging.sh client --server HOST[:PORT] [options]   forward everything to HOST
#   setup-logging.sh server --allow CIDR [--allow CIDR...] [options]   receive from those networks
#
#   client:
#       --server HOST[:PORT]  the central server: a DNS name, an IPv4 address or [IPv6]; the port is
#                           514 by default, 6514 with --tls
#       --queue-size MB     disk space the forwarding queue may use while the server is away
#                           (default 1024; 1 to 1048576)
#       --server-name NAME  with --tls: the name the server's certificate must carry (default: HOST;
#                           required when HOST is an address)
#   server:
#       --allow CIDR        a client network or address (IPv4 or IPv6); repeatable, at least one:
#                           the firewall lets TCP/PORT in from these only
#       --listen ADDR       the address to listen on (default: every address)
#       --port PORT         the TCP port (default 514, 6514 with --tls); never a port SSH logins use
#                           (`sshd -T`, this session's): refused, the firewall would lock SSH out
#       --dir DIR           where the hosts' folders go (default /var/log/remote): DIR/ADDRESS/syslog.log,
#                           ADDRESS the sender's IP address (never a host name the message claims)
#       --keep-days N       days of logs kept by logrotate (default 30; 1 to 3650)
#   both:
#       --tls               TLS (rsyslog's gtls driver); needs --ca (and, for the server, --cert and --key)
#       --ca FILE           the CA certificate (PEM) that signed the server's certificate
#       --cert FILE --key FILE   this host's certificate and private key (PEM; the key owned by root,
#                           not readable by others). Client: optional, sent to the server when given.
#   -n, --dry-run           validate everything, print the plan, change nothing
#   -q, --quiet             narrate only changes and errors
#   -h, --help              print this help
#
# The client keeps every message it cannot deliver: the forwarding action has a disk-assisted queue
# (memory first, then DISK in the spool folder, up to --queue-size MB), never gives up a message
# (action.resumeRetryCount -1), and saves the queue to disk when rsyslog stops (queue.saveOnShutdown).
# Known limit (rsyslog issue #2710): if this host's rsyslog is restarted DURING an outage, the message
# the forwarding action was retrying when it stopped (two under heavy load) is lost; the queued ones
# are not.
# Full reference: docs/reference/setup-logging.md.
#
# Examples:
#   sudo ./setup-logging.sh server --allow 10.0.0.0/24 --dry-run
#   sudo ./setup-logging.sh server --allow 10.0.0.0/24 --allow fd00::/64 --keep-days 90
#   sudo ./setup-logging.sh client --server logs.example.lan
#   sudo ./setup-logging.sh server --allow 10.0.0.0/24 --tls --ca /root/ca.pem \
#        --cert /root/logs.pem --key /root/logs.key
#   sudo ./setup-logging.sh client --server logs.example.lan --tls --ca /root/ca.pem --queue-size 2048
#
# Exit codes:
#   0  success (changed or nothing to change)
#   1  runtime failure (a package, the new rsyslog config refused by `rsyslogd -N1`: the old one is
#      kept, rsyslog not restarting)
#   2  usage or validation error: nothing was changed
#   3  another run holds the lock /run/tssr-kit/setup-logging.lock
#
# Output: narration on stderr (and syslog, tag tssr-logging); the last line on stdout is one JSON
# object, for example
#   {"script": "setup-logging.sh", "status": "changed", "changed": 3, "dry_run": false, "mode": "client", ...}
#
# What it changes on the system: installs rsyslog (and rsyslog-gnutls with --tls; logrotate and the
# firewall's package for the server) when missing; client: /etc/rsyslog.d/60-tssr-forward.conf, the
# queue files in the spool folder, and /etc/sysctl.d/60-tssr-syslog.conf (net.unix.max_dgram_qlen =
# 512, applied at once where /proc/sys is writable: room for bursts between journald and rsyslog);
# server: /etc/rsyslog.d/60-tssr-server.conf, DIR,
# /etc/logrotate.d/tssr-remote-syslog and the firewall rule `syslog` (scripts/bash/lib/firewall.sh);
# --tls: copies of the certificates in /etc/tssr-kit/syslog/tls/. Restarts rsyslog only when its
# configuration changed (after `rsyslogd -N1` accepted the whole new configuration). The other
# mode's file is left alone: a host may be a server and a client.
#
# Server mode: the firewall is set before rsyslog's configuration, so a firewall failure leaves the
# configuration untouched. The SSH ports it must never restrict come from `sshd -T` (and this
# session's connection): when sshd -T fails, the run stops before any change.
#
# Supported OS families: debian (Debian 12, 13; Ubuntu) and redhat (RHEL, Rocky, AlmaLinux 9).
# Needs: bash 4.4+, GNU coreutils, util-linux (flock, logger), systemd, root; server: sshd, iproute2.

# -E: the ERR trap also fires inside functions; -e: stop at the first failing command; -u: an unset
# variable is a bug; pipefail: a pipeline fails when any part of it does.
set -Eeuo pipefail
export LC_ALL=C
umask 022

# The kit's library (common.sh, and firewall.sh for the server's opening to its clients): lib/ beside
# this script (as shipped by inv and the role) or ../lib (the repository).
TSSR_LIB="$(dirname -- "${BASH_SOURCE[0]}")/lib"
[[ -d "${TSSR_LIB}" ]] || TSSR_LIB="${TSSR_LIB%/lib}/../lib"
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TSSR_LIB}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/firewall.sh
. "${TSSR_LIB}/firewall.sh"

#######################################
# Constants
#######################################
readonly SCRIPT_NAME=setup-logging
readonly SYSLOG_TAG=tssr-logging
readonly RESULT_SCRIPT=setup-logging.sh
readonly LOCK_FILE=/run/tssr-kit/setup-logging.lock
readonly RSYSLOG_CONF=/etc/rsyslog.conf
readonly RSYSLOG_DIR=/etc/rsyslog.d
readonly CLIENT_CONF="${RSYSLOG_DIR}/60-tssr-forward.conf"
readonly SERVER_CONF="${RSYSLOG_DIR}/60-tssr-server.conf"
readonly LOGROTATE_CONF=/etc/logrotate.d/tssr-remote-syslog
readonly TLS_DIR=/etc/tssr-kit/syslog/tls
readonly QUEUE_NAME=tssr_forward
readonly QUEUE_LENGTH=20000          # messages held in memory before the queue spills to disk
readonly FIREWALL_NAME=syslog
# journald hands every message to rsyslog through a datagram socket whose queue holds
# net.unix.max_dgram_qlen datagrams: the kernel's default, 10, overflows at the first burst rsyslog is
# slow to read ("Forwarding to syslog missed N messages"): lost before any forwarding. systemd upstream
# raises it to 512 (Debian does not ship that file); the script does, in a file of its own.
readonly SYSCTL_CONF=/etc/sysctl.d/60-tssr-syslog.conf
readonly DGRAM_QLEN=512
readonly MANAGED="Managed by tssr-kit (setup-logging.sh): changes here are overwritten."
readonly DNS_RE='^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$'
readonly SAFE_PATH_RE='^/[A-Za-z0-9._/-]*$'

# What differs between the families, in one table: packages (by role), the spool folder that
# rsyslog's queues use (its work directory there), and the group that may read the logs.
declare -rA DEBIAN=([rsyslog]=rsyslog [tls]=rsyslog-gnutls [logrotate]=logrotate
  [spool]=/var/spool/rsyslog [group]=adm)
declare -rA REDHAT=([rsyslog]=rsyslog [tls]=rsyslog-gnutls [logrotate]=logrotate
  [spool]=/var/lib/rsyslog [group]=root)

#######################################
# Settings
#######################################
MODE=""
SERVER=""
TARGET=""
PORT=""
QUEUE_MB=1024
SERVER_NAME=""
ALLOW=()
LISTEN=""
LOG_DIR=/var/log/remote
KEEP_DAYS=30
TLS=false
CA_FILE=""
CERT_FILE=""
KEY_FILE=""
DRY_RUN=false
QUIET=false

#######################################
# Run state
#######################################
NAME=""
CHANGES=0
ERRORS=()
TMP_DIR=""
TEMPLATES="${SCRIPT_DIR}/templates"
OS_FAMILY=""
OS_VERSION=""
PACKAGES=()
RESTART=false            # rsyslog must be restarted (its configuration or certificates changed)
declare -A FAMILY=()

cleanup() {
  if [[ -n "${TMP_DIR}" && -d "${TMP_DIR}" ]]; then
    rm -rf -- "${TMP_DIR}"
  fi
}

#######################################
# The result line (stdout).
# Arguments: status (ok|changed|failed), error message (optional)
#######################################
emit_result() {
  local status="$1" error="${2:-}" conf=""
  local -a mode=()
  case "${MODE}" in
    client)
      conf="${CLIENT_CONF}"
      mode=(server opt "${TARGET}" queue_mb int "${QUEUE_MB}")
      ;;
    server)
      conf="${SERVER_CONF}"
      mode=(dir opt "${LOG_DIR}" keep_days int "${KEEP_DAYS}")
      ;;
  esac
  [[ "${status}" != failed ]] || syslog_failure "failed: ${error}"
  result_line "${status}" mode opt "${MODE}" config opt "${conf}" tls bool "${TLS}" port int "${PORT}" \
    "${mode[@]}" error some "${error}"
}

#######################################
# Command line
#######################################
parse_args() {
  # -n/--dry-run and -q/--quiet may also come before the mode: `inv`'s runner asks for a dry run first.
  while (($#)) && [[ "$1" =~ ^(-n|--dry-run|-q|--quiet)$ ]]; do
    common_option "$1"
    shift
  done
  case "${1:-}" in
    client | server) MODE="$1"; shift ;;
    -h | --help) usage; exit 0 ;;
  esac
  while (($#)); do
    case "$1" in
      --server) need_value "$1" $#; SERVER="$2"; shift 2 ;;
      --queue-size) need_value "$1" $#; QUEUE_MB="$2"; shift 2 ;;
      --server-name) need_value "$1" $#; SERVER_NAME="$2"; shift 2 ;;
      --allow) need_value "$1" $#; ALLOW+=("$2"); shift 2 ;;
      --listen) need_value "$1" $#; LISTEN="$2"; shift 2 ;;
      --port) need_value "$1" $#; PORT="$2"; shift 2 ;;
      --dir) need_value "$1" $#; LOG_DIR="$2"; shift 2 ;;
      --keep-days) need_value "$1" $#; KEEP_DAYS="$2"; shift 2 ;;
      --tls) TLS=true; shift ;;
      --ca) need_value "$1" $#; CA_FILE="$2"; shift 2 ;;
      --cert) need_value "$1" $#; CERT_FILE="$2"; shift 2 ;;
      --key) need_value "$1" $#; KEY_FILE="$2"; shift 2 ;;
      *) common_option "$1" || usage_error "unexpected argument: $1 (the mode, client or server, comes first)"; shift ;;
    esac
  done
  [[ -n "${MODE}" ]] || usage_error "say which mode comes first, client or server: setup-logging.sh client --server HOST, setup-logging.sh server --allow CIDR"
  NAME="${MODE}"
}

#######################################
# Validation: every problem collected, then reported together before any change.
#######################################
is_port() {
  [[ "$1" =~ ^[0-9]{1,5}$ ]] && ((10#$1 >= 1 && 10#$1 <= 65535))
}

is_host_name() {
  ((${#1} <= 253)) && [[ "$1" =~ ${DNS_RE} ]] && [[ ! "$1" =~ ^[0-9.]+$ ]]
}

is_ipv4() {
  [[ "$1" != */* && "$1" != *:* ]] && is_ip_or_cidr "$1"
}

is_ipv6() {
  [[ "$1" != */* && "$1" == *:* ]] && is_ip_or_cidr "$1"
}

# A PEM file: a readable regular file holding the given PEM block.
# Arguments: option name, path, what the block is (regex of the BEGIN line's label)
check_pem() {
  local option="$1" path="$2" label="$3"
  if [[ "${path}" != /* || ! "${path}" =~ ${SAFE_PATH_RE} || "${path}" == *..* ]]; then
    add_error "${option}: '${path}' must be an absolute path of letters, digits, . _ - and /"
  elif [[ ! -f "${path}" || ! -r "${path}" ]]; then
    add_error "${option}: ${path} does not exist or is not a readable file"
  elif ! grep -Eq -- "^-----BEGIN (${label})-----" "${path}"; then
    add_error "${option}: ${path} is not a PEM file with a ${label//|/ or } block"
  fi
}

check_key_file() {
  check_pem --key "${KEY_FILE}" "PRIVATE KEY|RSA PRIVATE KEY|EC PRIVATE KEY"
  [[ -f "${KEY_FILE}" ]] || return 0
  local owner mode
  owner="$(stat -c '%u' -- "${KEY_FILE}")"
  mode="$(stat -c '%a' -- "${KEY_FILE}")"
  if [[ "${owner}" != 0 || "$((8#${mode} & 8#077))" -ne 0 ]]; then
    add_error "--key: ${KEY_FILE} must be owned by root with mode 0600 or 0400 (it is uid ${owner}, mode ${mode})"
  fi
}

validate_tls() {
  if [[ "${TLS}" == false ]]; then
    [[ -z "${CA_FILE}${CERT_FILE}${KEY_FILE}${SERVER_NAME}" ]] \
      || add_error "--ca, --cert, --key and --server-name go with --tls"
    return 0
  fi
  if [[ -z "${CA_FILE}" ]]; then
    add_error "--tls needs --ca FILE (the CA certificate that signed the server's certificate)"
  else
    check_pem --ca "${CA_FILE}" "CERTIFICATE"
  fi
  if [[ -n "${CERT_FILE}" || -n "${KEY_FILE}" || "${MODE}" == server ]]; then
    if [[ -z "${CERT_FILE}" || -z "${KEY_FILE}" ]]; then
      add_error "--cert and --key go together$([[ "${MODE}" == server ]] && printf ' (the server needs both with --tls)')"
    else
      check_pem --cert "${CERT_FILE}" "CERTIFICATE"
      check_key_file
    fi
  fi
}

validate_client() {
  [[ ${#ALLOW[@]} -eq 0 && -z "${LISTEN}" && -z "${PORT}" && "${LOG_DIR}" == /var/log/remote \
    && "${KEEP_DAYS}" == 30 ]] \
    || add_error "--allow, --listen, --port, --dir and --keep-days are server options (client: --server HOST:PORT)"
  local host="" port=""
  if [[ -z "${SERVER}" ]]; then
    add_error "--server HOST[:PORT] is required in client mode"
  elif [[ "${SERVER}" =~ ^\[([0-9A-Fa-f:.]+)\](:([^:]*))?$ ]]; then
    host="${BASH_REMATCH[1]}"
    port="${BASH_REMATCH[3]}"
    # (read before is_ipv6: its own matches replace BASH_REMATCH)
    [[ -z "${BASH_REMATCH[2]}" || -n "${port}" ]] || add_error "--server: '${SERVER}' ends with ':' and no port"
    is_ipv6 "${host}" || add_error "--server: '${host}' is not an IPv6 address"
  elif [[ "${SERVER}" == *:*:* ]]; then
    add_error "--server: '${SERVER}': write an IPv6 address in brackets, [fd00::5]:514"
  else
    host="${SERVER%%:*}"
    [[ "${SERVER}" != *:* ]] || port="${SERVER#*:}"
    [[ "${SERVER}" != *: ]] || add_error "--server: '${SERVER}' ends with ':' and no port"
    if ! is_ipv4 "${host}" && ! is_host_name "${host}"; then
      add_error "--server: '${host}' is neither a host name nor an IPv4 address"
    fi
  fi
  if [[ -n "${port}" ]] && ! is_port "${port}"; then
    add_error "--server: port '${port}' is not a number from 1 to 65535"
    port=""
  fi
  TARGET="${host}"
  if [[ -n "${port}" ]]; then
    PORT=$((10#${port}))
  elif [[ "${TLS}" == true ]]; then PORT=6514; else PORT=514; fi
  if ! [[ "${QUEUE_MB}" =~ ^[0-9]{1,7}$ ]] || ((10#${QUEUE_MB} < 1 || 10#${QUEUE_MB} > 1048576)); then
    add_error "--queue-size: '${QUEUE_MB}' is not a number of MB from 1 to 1048576"
  else
    QUEUE_MB=$((10#${QUEUE_MB}))
  fi
  validate_tls
  if [[ "${TLS}" == true ]]; then
    if [[ -z "${SERVER_NAME}" ]]; then
      if [[ -n "${host}" ]] && is_host_name "${host}"; then
        SERVER_NAME="${host%.}"
      elif [[ -n "${host}" ]]; then
        add_error "--tls with an address as --server: say which name the server's certificate carries (--server-name NAME)"
      fi
    elif ! is_host_name "${SERVER_NAME}"; then
      add_error "--server-name: '${SERVER_NAME}' is not a DNS name"
    fi
  fi
}

validate_server() {
  [[ -z "${SERVER}" && "${QUEUE_MB}" == 1024 && -z "${SERVER_NAME}" ]] \
    || add_error "--server, --queue-size and --server-name are client options"
  local cidr
  if ((${#ALLOW[@]} == 0)); then
    add_error "--allow CIDR is required in server mode (the clients' networks: the firewall admits only them)"
  fi
  for cidr in "${ALLOW[@]}"; do
    is_ip_or_cidr "${cidr}" || add_error "--allow: '${cidr}' is not an IPv4/IPv6 address or network"
  done
  if [[ -n "${LISTEN}" ]] && ! is_ipv4 "${LISTEN}" && ! is_ipv6 "${LISTEN}"; then
    add_error "--listen: '${LISTEN}' is not an IPv4 or IPv6 address"
  fi
  if [[ -z "${PORT}" ]]; then
    if [[ "${TLS}" == true ]]; then PORT=6514; else PORT=514; fi
  elif ! is_port "${PORT}"; then
    add_error "--port: '${PORT}' is not a number from 1 to 65535"
    PORT=""
  else
    PORT=$((10#${PORT}))
  fi
  validate_not_ssh_port
  LOG_DIR="${LOG_DIR%/}"
  if [[ ! "${LOG_DIR}" =~ ${SAFE_PATH_RE} || "${LOG_DIR}" =~ (^|/)\.\.?(/|$) || "${LOG_DIR}" != /*/* ]]; then
    add_error "--dir: '${LOG_DIR}' must be an absolute path below a top folder, of letters, digits, . _ - and /, without . or .."
  else
    case "${LOG_DIR}" in
      /etc | /etc/* | /usr | /usr/* | /proc/* | /sys/* | /dev/* | /boot/* | /run/* | /tmp/*)
        add_error "--dir: '${LOG_DIR}' is a system folder, not a place for logs" ;;
    esac
    if [[ -e "${LOG_DIR}" && ! -d "${LOG_DIR}" ]]; then
      add_error "--dir: ${LOG_DIR} exists and is not a folder"
    fi
  fi
  if ! [[ "${KEEP_DAYS}" =~ ^[0-9]{1,4}$ ]] || ((10#${KEEP_DAYS} < 1 || 10#${KEEP_DAYS} > 3650)); then
    add_error "--keep-days: '${KEEP_DAYS}' is not a number of days from 1 to 3650"
  else
    KEEP_DAYS=$((10#${KEEP_DAYS}))
  fi
  validate_tls
}

# The firewall lets only the --allow networks reach PORT: were it a port SSH logins use, everyone else
# would be locked out of SSH. The SSH ports come from `sshd -T` (port and listenaddress), this
# session's connection and sshd's open connections (lib/common.sh, ssh_keep_ports); when sshd -T fails
# they are unknown, and the run stops here, nothing changed.
validate_not_ssh_port() {
  [[ -n "${PORT}" ]] || return 0
  local code=0
  is_ssh_port "${PORT}" || code=$?
  case "${code}" in
    0) add_error "--port: ${PORT} is a port SSH logins use on this host (${SSH_KEEP_PORTS}): the firewall would let only --allow reach it, and lock everyone else out of SSH; choose another port" ;;
    2) add_error "firewall: ${SSH_PORTS_ERROR}; the firewall must know them before it restricts a port" ;;
  esac
}

#######################################
# The rsyslog configuration
#######################################
family() {
  if [[ "${OS_FAMILY}" == debian ]]; then
    local key
    for key in "${!DEBIAN[@]}"; do FAMILY[${key}]="${DEBIAN[${key}]}"; done
  else
    local key
    for key in "${!REDHAT[@]}"; do FAMILY[${key}]="${REDHAT[${key}]}"; done
  fi
  PACKAGES=("${FAMILY[rsyslog]}")
  [[ "${TLS}" == false ]] || PACKAGES+=("${FAMILY[tls]}")
  if [[ "${MODE}" == server ]]; then
    local p
    PACKAGES+=("${FAMILY[logrotate]}")
    while IFS= read -r p; do PACKAGES+=("${p}"); done < <(firewall_packages)
  fi
}

# The config's TLS parameters and the certificate copies (file name in TLS_DIR → source).
tls_params() {
  local role="$1"
  [[ "${TLS}" == true ]] || return 0
  if [[ "${role}" == client ]]; then
    printf '\n       StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name"'
    printf '\n       StreamDriverPermittedPeers="%s"' "${SERVER_NAME}"
    printf '\n       StreamDriver.CAFile="%s/ca.pem"' "${TLS_DIR}"
    if [[ -n "${CERT_FILE}" ]]; then
      printf '\n       StreamDriver.CertFile="%s/client-cert.pem" StreamDriver.KeyFile="%s/client-key.pem"' \
        "${TLS_DIR}" "${TLS_DIR}"
    fi
  else
    printf '\n      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon"'
    printf '\n      streamDriver.CAFile="%s/ca.pem"' "${TLS_DIR}"
    printf '\n      streamDriver.CertFile="%s/server-cert.pem" streamDriver.KeyFile="%s/server-key.pem"' \
      "${TLS_DIR}" "${TLS_DIR}"
  fi
}

render_config() {
  local tls_words=""
  [[ "${TLS}" == false ]] || tls_words=" with TLS (gtls)"
  if [[ "${MODE}" == client ]]; then
    [[ "${TLS}" == false ]] || tls_words="${tls_words}, the server's certificate checked for the name ${SERVER_NAME}"
    render forward.conf.tmpl "MANAGED=${MANAGED}" "TARGET=${TARGET}" "PORT=${PORT}" \
      "TLS_WORDS=${tls_words}" "TLS_PARAMS=$(tls_params client)" "SPOOL=${FAMILY[spool]}" \
      "QUEUE_NAME=${QUEUE_NAME}" "QUEUE_MB=${QUEUE_MB}" "QUEUE_LENGTH=${QUEUE_LENGTH}"
  else
    local address="" listen_words="every address"
    if [[ -n "${LISTEN}" ]]; then
      address=" address=\"${LISTEN}\""
      listen_words="${LISTEN},"
    fi
    render server.conf.tmpl "MANAGED=${MANAGED}" "PORT=${PORT}" "DIR=${LOG_DIR}" \
      "TLS_WORDS=${tls_words}" "TLS_PARAMS=$(tls_params server)" "SPOOL=${FAMILY[spool]}" \
      "GROUP=${FAMILY[group]}" "ADDRESS=${address}" "LISTEN_WORDS=${listen_words}"
  fi
}

#######################################
# Check the whole configuration rsyslog would load with the candidate in place: rsyslog.conf and
# every file of rsyslog.d, copied into a private folder, the candidate replacing (or joining) ours.
# Arguments: the candidate file, the path it will have
#######################################
check_rsyslog_config() {
  local candidate="$1" target="$2" tree="${TMP_DIR}/check" f
  if ! command -v rsyslogd >/dev/null 2>&1; then
    info "rsyslog is not installed yet: the new configuration would be checked with rsyslogd -N1 once it is"
    return 0
  fi
  mkdir -p "${tree}/rsyslog.d"
  for f in "${RSYSLOG_DIR}"/*.conf; do
    [[ -e "${f}" && "${f}" != "${target}" ]] || continue
    cp -- "${f}" "${tree}/rsyslog.d/"
  done
  cp -- "${candidate}" "${tree}/rsyslog.d/${target##*/}"
  # Point the includes of rsyslog.conf (legacy $IncludeConfig or include()) at the private copy.
  sed -e "s|${RSYSLOG_DIR}/|${tree}/rsyslog.d/|g" -- "${RSYSLOG_CONF}" >"${tree}/rsyslog.conf"
  if ! rsyslogd -N1 -f "${tree}/rsyslog.conf" >"${TMP_DIR}/rsyslogd-N1.log" 2>&1; then
    grep -v -e '^rsyslogd: version' -e 'End of config validation run' "${TMP_DIR}/rsyslogd-N1.log" \
      | sed "s|${tree}/rsyslog.d/|${RSYSLOG_DIR}/|g" | head -n 20 >&2 || true
    die 1 "rsyslogd -N1 refused the new configuration: ${target} was not changed, rsyslog keeps running as it was"
  fi
  if grep -q -e 'error' "${TMP_DIR}/rsyslogd-N1.log"; then
    grep -e 'error' "${TMP_DIR}/rsyslogd-N1.log" | sed "s|${tree}/rsyslog.d/|${RSYSLOG_DIR}/|g" | head -n 20 >&2
    die 1 "rsyslogd -N1 reported errors in the new configuration: ${target} was not changed"
  fi
}

# Copies of the certificates, where the config points: rsyslog reads them at each (re)start, so
# they must not depend on where the operator kept the originals.
install_tls_files() {
  [[ "${TLS}" == true ]] || return 0
  local prefix="${MODE}"
  ensure_dir /etc/tssr-kit root root 0755
  ensure_dir /etc/tssr-kit/syslog root root 0755
  ensure_dir "${TLS_DIR}" root root 0700
  if put_file "${TLS_DIR}/ca.pem" root root 0644 "the CA certificate" <"${CA_FILE}"; then RESTART=true; fi
  if [[ -n "${CERT_FILE}" ]]; then
    if put_file "${TLS_DIR}/${prefix}-cert.pem" root root 0644 "this host's certificate" <"${CERT_FILE}"; then
      RESTART=true
    fi
    if put_file "${TLS_DIR}/${prefix}-key.pem" root root 0600 "this host's private key" <"${KEY_FILE}"; then
      RESTART=true
    fi
  fi
}

setup_client() {
  local candidate="${TMP_DIR}/forward.conf"
  render_config >"${candidate}"
  check_rsyslog_config "${candidate}" "${CLIENT_CONF}"
  install_tls_files
  ensure_dir "${FAMILY[spool]}" root root 0700
  ensure_dgram_queue
  if put_file "${CLIENT_CONF}" root root 0644 "the forwarding to ${TARGET}:${PORT}" <"${candidate}"; then
    RESTART=true
  fi
}

setup_server() {
  local candidate="${TMP_DIR}/server.conf" rotate="${TMP_DIR}/logrotate.conf"
  render_config >"${candidate}"
  render logrotate.tmpl "MANAGED=${MANAGED}" "DIR=${LOG_DIR}" "KEEP_DAYS=${KEEP_DAYS}" >"${rotate}"
  check_rsyslog_config "${candidate}" "${SERVER_CONF}"
  if command -v logrotate >/dev/null 2>&1 && ! logrotate -d -- "${rotate}" >"${TMP_DIR}/logrotate.log" 2>&1; then
    tail -n 5 -- "${TMP_DIR}/logrotate.log" >&2
    die 1 "logrotate refused the new rotation file: nothing of it was installed"
  fi
  # The firewall first: a failure there stops the run before rsyslog's configuration is touched, and
  # rsyslog never listens on PORT before the firewall limits it to the --allow networks.
  firewall_open "${FIREWALL_NAME}" tcp "${PORT}" "${ALLOW[@]}"
  firewall_apply
  install_tls_files
  ensure_dir "${FAMILY[spool]}" root root 0700
  ensure_dir "${LOG_DIR}" root "${FAMILY[group]}" 0750
  if put_file "${SERVER_CONF}" root root 0644 "the central server's reception (port ${PORT})" <"${candidate}"; then
    RESTART=true
  fi
  put_file "${LOGROTATE_CONF}" root root 0644 "the rotation of ${LOG_DIR} (${KEEP_DAYS} days)" <"${rotate}" || true
}

# The socket queue between journald and rsyslog (see SYSCTL_CONF): the file for the boots to come,
# and the running value when it is lower (a container's /proc/sys is read-only: a warning there).
ensure_dgram_queue() {
  local file="${TMP_DIR}/sysctl.conf" current
  printf '# %s
# journald -> rsyslog: room for bursts (the kernel default, 10, drops messages).
net.unix.max_dgram_qlen = %d
' \
    "${MANAGED}" "${DGRAM_QLEN}" >"${file}"
  put_file "${SYSCTL_CONF}" root root 0644 "net.unix.max_dgram_qlen = ${DGRAM_QLEN}" <"${file}" || true
  current="$(cat /proc/sys/net/unix/max_dgram_qlen 2>/dev/null || printf 0)"
  ((current < DGRAM_QLEN)) || return 0
  if [[ ! -w /proc/sys/net/unix/max_dgram_qlen ]]; then
    warn "net.unix.max_dgram_qlen is ${current} and /proc/sys is read-only here (a container?): start it with --sysctl net.unix.max_dgram_qlen=${DGRAM_QLEN}, or bursts may be lost between journald and rsyslog"
    return 0
  fi
  changed "raise net.unix.max_dgram_qlen from ${current} to ${DGRAM_QLEN}"
  run sysctl -q -w "net.unix.max_dgram_qlen=${DGRAM_QLEN}" >/dev/null
}

# Restart rsyslog when its configuration changed; enable and start it in any case.
apply_rsyslog() {
  if [[ "${RESTART}" == true ]] && systemctl is-active --quiet rsyslog 2>/dev/null; then
    changed "restart rsyslog to load the new configuration"
    run systemctl restart rsyslog
  fi
  ensure_service rsyslog
  [[ "${DRY_RUN}" == false ]] || return 0
  if ! systemctl is-active --quiet rsyslog; then
    journalctl -u rsyslog -n 15 --no-pager >&2 2>/dev/null || true
    die 1 "rsyslog is not running after the change (see its journal above)"
  fi
}

main() {
  trap 'on_error "${LINENO}" "${BASH_COMMAND}"' ERR
  trap cleanup EXIT
  parse_args "$@"
  require_root
  detect_os_family
  if [[ "${MODE}" == client ]]; then validate_client; else validate_server; fi
  report_errors
  take_lock
  TMP_DIR="$(mktemp -d -t "${SCRIPT_NAME}.XXXXXX")"
  family
  [[ "${DRY_RUN}" == false ]] || info "dry run: nothing will be changed"
  install_packages || true
  if [[ "${MODE}" == client ]]; then setup_client; else setup_server; fi
  apply_rsyslog
  finish "no change: the ${MODE} was already set up this way"
}

if [[ "${BASH_SOURCE[0]}" == "${0}" ]]; then
  main "$@"
fi
