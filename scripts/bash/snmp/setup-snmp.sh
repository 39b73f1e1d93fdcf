#!/usr/bin/env bash
#
# setup-snmp.sh - an SNMPv3 agent (net-snmp) that only the monitoring server may read: authPriv users,
# a read-only view, disk/load/process thresholds, the kit's own checks as `extend` entries, a firewall.
#
# Usage:
#   setup-snmp.sh --monitor ADDR [--monitor ADDR ...] [--credentials FILE] [options]
#
#       --credentials FILE  the SNMPv3 user, in the format of snmp_poll.py's credentials file (owned by
#                           root, mode 0600 or 0400): `key = value` lines
#                               user = monitor
#                               auth_protocol = sha512       # sha256 | sha512 (default sha256)
#                               auth_passphrase = ...        # 8 to 64 characters
#                               priv_protocol = aes128       # aes128 | aes256 | aes256c (default aes128)
#                               priv_passphrase = ...        # 8 to 64 characters
#                           Without it: TSSR_SNMP_USER, TSSR_SNMP_AUTH_PROTOCOL, TSSR_SNMP_AUTH_PASSPHRASE,
#                           TSSR_SNMP_PRIV_PROTOCOL, TSSR_SNMP_PRIV_PASSPHRASE from the environment.
#                           The defaults are the poller's, so one file means the same on both sides.
#       --monitor ADDR      the monitoring server, an IPv4/IPv6 address or network (repeatable,
#                           required): udp/161 is open to these sources only (firewall)
#       --listen ADDR       an address of this host snmpd listens on (repeatable; default: every
#                           address, udp:161,udp6:161)
#       --sys-name TEXT     sysName.0 (default: the host name); --location TEXT sysLocation.0;
#       --contact TEXT      sysContact.0 (printable, 1 to 255 characters each)
#       --view NAME|OID     add a subtree to the read-only view tssr_ro (repeatable): a known name
#                           (ip, tcp, udp, icmp, snmp, ip-forward, ipv6-mib, diskio, lm-sensors,
#                           ucd, host-resources, net-snmp) or a numeric OID such as .1.3.6.1.2.1.4
#       --disk PATH:MIN%    dskTable: alarm when PATH has less than MIN% free (repeatable; default /:10%)
#       --load M1,M5,M15    laTable: alarm above these load averages (default 4, 3 and 2 x the CPUs)
#       --proc NAME[:MAX[:MIN]]  prTable: alarm when NAME runs more than MAX (0: no limit) or fewer
#                           than MIN times (default: at least once) (repeatable)
#       --backup-job JOB    add the extend entry tssr-backup: `tssr_check.py backup --job JOB` (the
#                           backup job of backup.sh --install-timer), installed with this script
#       --v2c-community-file FILE  ALSO answer SNMPv2c with this community (first line of FILE, root,
#       --v2c-source CIDR   0600/0400, 8+ characters, never public), read-only, the same view, and only
#                           from CIDR (both options or neither; a warning says why it is a weak choice)
#   -n, --dry-run           validate everything, print the plan, change nothing
#   -q, --quiet             narrate only changes and errors
#   -h, --help              print this help
#
# The view tssr_ro: system, interfaces and ifMIB, host resources, UCD dskTable, laTable, prTable and
# memory, NET-SNMP-EXTEND (nsExtend: tssr-updates = pending security updates, tssr-backup), plus --view.
# Access: `rouser USER priv -V tssr_ro` (authPriv only); no community unless --v2c-* asks for one.
# Re-keying: a salted hash of the credentials is kept in /var/lib/tssr-kit/snmp/users (root only).
# When it differs (a passphrase or a protocol changed), snmpd is stopped, the user's usmUser line is
# dropped from snmpd's persistent file, a createUser line added and snmpd started (it turns the line
# into localized keys at once). Users this script created earlier and no longer configured are
# removed the same way. Full reference: docs/reference/setup-snmp.md.
#
# Examples:
#   sudo ./setup-snmp.sh --dry-run --monitor 192.0.2.10 --credentials /root/snmp.conf
#   sudo ./setup-snmp.sh --monitor 192.0.2.10 --credentials /root/snmp.conf --location 'Rack 4' \
#        --contact noc@example.org --disk /:10% --disk /var:15% --proc sshd --proc cron:1:1
#   sudo TSSR_SNMP_USER=monitor TSSR_SNMP_AUTH_PASSPHRASE=... TSSR_SNMP_PRIV_PASSPHRASE=... \
#        ./setup-snmp.sh --monitor 2001:db8::/64 --listen 192.0.2.20 --backup-job web
#   sudo ./setup-snmp.sh --monitor 192.0.2.10 --credentials /root/snmp.conf \
#        --v2c-community-file /root/community --v2c-source 192.0.2.0/28
#
# Exit codes:
#   0  success (the agent is configured; nothing to do counts as success)
#   1  runtime failure (a package would not install, the new configuration did not pass snmpd's
#      own check or snmpd did not start with it: the previous configuration is put back)
#   2  usage or validation error: nothing was changed
#   3  another run holds the lock /run/tssr-kit/snmp.lock
#
# Output: narration on stderr and in syslog (tag tssr-snmp); passphrases and the community never
# appear in it. The last line on stdout is one JSON object, for example
#   {"script": "setup-snmp.sh", "status": "changed", "changed": 6, "dry_run": false, "user": "monitor", ...}
#
# What it changes on the system: installs snmpd (Debian: snmpd; RedHat: net-snmp, net-snmp-utils), the
# firewall (nftables / firewalld) and sudo (Debian, --backup-job); writes /etc/snmp/snmpd.conf as a
# whole file (the distribution's is kept once as snmpd.conf.tssr-kit-orig), snmpd's persistent file
# (/var/lib/snmp/snmpd.conf, RedHat /var/lib/net-snmp/snmpd.conf: usmUser and createUser lines of
# its users only), /var/lib/tssr-kit/snmp/users, /usr/local/lib/tssr-kit/snmp/ (the extend
# commands, tssr_check.py), /etc/sudoers.d/tssr-snmp (Debian, --backup-job); enables and (re)starts
# snmpd; the firewall table tssr_snmp (/etc/tssr-kit/nftables.d/snmp.nft) or firewalld rich rules.
#
# Supported OS families: debian (Debian 12, 13; Ubuntu) and redhat (RHEL, Rocky, AlmaLinux 9).
# Order: the packages, the new snmpd.conf checked by snmpd itself, the firewall, then the files and
# snmpd: a failure at the firewall leaves snmpd's configuration as it was. --listen and --backup-job
# need python3.
# Needs: bash 4.4+, GNU coreutils, util-linux (flock, logger), systemd, root; python3 (see above).

# -E: the ERR trap also fires inside functions; -e: stop at the first failing command; -u: an unset
# variable is a bug; pipefail: `grep | wc` fails when grep cannot read its file.
set -Eeuo pipefail
export LC_ALL=C
umask 077     # credentials, state and snmpd's files are private; public files get their mode explicitly

# The kit's library (common.sh, and firewall.sh for the opening to the monitors): lib/ beside this
# script (as the role and inv ship it) or ../lib (the repository).
TSSR_LIB="$(dirname -- "${BASH_SOURCE[0]}")/lib"
[[ -d "${TSSR_LIB}" ]] || TSSR_LIB="${TSSR_LIB%/lib}/../lib"
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${TSSR_LIB}/common.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/firewall.sh
. "${TSSR_LIB}/firewall.sh"

#######################################
# Constants
#######################################
readonly SCRIPT_NAME=setup-snmp
readonly SYSLOG_TAG=tssr-snmp
readonly RESULT_SCRIPT=setup-snmp.sh
readonly LOCK_FILE=/run/tssr-kit/snmp.lock
readonly SNMPD_CONF=/etc/snmp/snmpd.conf
readonly STATE_DIR=/var/lib/tssr-kit/snmp
readonly STATE_FILE="${STATE_DIR}/users"
readonly INSTALL_DIR=/usr/local/lib/tssr-kit/snmp
readonly SUDOERS_FILE=/etc/sudoers.d/tssr-snmp
readonly BACKUP_SCRIPT=/usr/local/lib/tssr-kit/backup/backup.sh   # where backup.sh --install-timer puts it
readonly VIEW=tssr_ro
readonly MARKER="# Written by setup-snmp.sh (tssr-kit)"
readonly USER_RE='^[A-Za-z0-9_.@-]{1,32}$'
readonly JOB_RE='^[a-z0-9][a-z0-9_-]{0,39}$'
readonly PROC_NAME_RE='^[A-Za-z0-9._+-]{1,15}$'
readonly OID_RE='^\.?[0-2](\.[0-9]{1,10}){1,64}$'
readonly CREDENTIAL_KEYS=" user auth_protocol auth_passphrase priv_protocol priv_passphrase "

# The view: what every agent shows (name OID), then the names --view knows.
readonly BASE_VIEW=(
  "system .1.3.6.1.2.1.1"
  "interfaces .1.3.6.1.2.1.2"
  "ifMIB .1.3.6.1.2.1.31"
  "host-resources .1.3.6.1.2.1.25"
  "ucd-processes(prTable) .1.3.6.1.4.1.2021.2"
  "ucd-memory .1.3.6.1.4.1.2021.4"
  "ucd-disks(dskTable) .1.3.6.1.4.1.2021.9"
  "ucd-load(laTable) .1.3.6.1.4.1.2021.10"
  "net-snmp-extend .1.3.6.1.4.1.8072.1.3"
)
declare -rA KNOWN_VIEWS=([ip]=.1.3.6.1.2.1.4 [icmp]=.1.3.6.1.2.1.5 [tcp]=.1.3.6.1.2.1.6 [udp]=.1.3.6.1.2.1.7
  [snmp]=.1.3.6.1.2.1.11 [ip-forward]=.1.3.6.1.2.1.4.24 [ipv6-mib]=.1.3.6.1.2.1.55
  [diskio]=.1.3.6.1.4.1.2021.13.15 [lm-sensors]=.1.3.6.1.4.1.2021.13.16 [ucd]=.1.3.6.1.4.1.2021
  [host-resources]=.1.3.6.1.2.1.25 [net-snmp]=.1.3.6.1.4.1.8072)

# Credentials file protocol names -> net-snmp's createUser names.
declare -rA AUTH_NAME=([sha256]=SHA-256 [sha512]=SHA-512)
declare -rA PRIV_NAME=([aes128]=AES [aes256]=AES256 [aes256c]=AES256C)

#######################################
# Settings
#######################################
CREDENTIALS_FILE=""
MONITORS=()
LISTEN=()
SYS_NAME=""
LOCATION=""
CONTACT=""
VIEWS=()
DISKS=()
LOAD=""
PROCS=()
BACKUP_JOB=""
V2C_FILE=""
V2C_SOURCE=""
DRY_RUN=false
QUIET=false

#######################################
# Run state
#######################################
NAME=snmp                # common.sh's changed() logs "NAME: what"
CHANGES=0
ERRORS=()
TMP_DIR=""
TEMPLATES="${SCRIPT_DIR}/templates"
OS_FAMILY=""
PACKAGES=()
PERSISTENT=""
SNMPD_USER=""
CONF_GROUP=""
CONF_MODE=""
readonly SERVICE=snmpd
SNMP_USER=""
AUTH_PROTOCOL=sha256
AUTH_PASSPHRASE=""
PRIV_PROTOCOL=aes128
PRIV_PASSPHRASE=""
COMMUNITY=""
REKEY=false
REMOVED_USERS=()
RESTART=false
RESULT_FIELDS=()

#######################################
# Narration and result
#######################################
cleanup() {
  if [[ -n "${TMP_DIR}" && -d "${TMP_DIR}" ]]; then
    rm -rf -- "${TMP_DIR}"
  fi
}

#######################################
# Print the result line on stdout. Never a passphrase or the community.
# Arguments: status (ok|changed|failed), error message (optional)
#######################################
emit_result() {
  local status="$1" error="${2:-}" v2c=false
  [[ "${status}" != failed ]] || syslog_failure "failed: ${error}"
  [[ -z "${V2C_FILE}" ]] || v2c=true
  result_line "${status}" user opt "${SNMP_USER}" rekeyed bool "${REKEY}" removed_users list REMOVED_USERS \
    monitors list MONITORS listen str "$(agent_address)" v2c bool "${v2c}" "${RESULT_FIELDS[@]}" \
    error some "${error}"
}

#######################################
# Command line
#######################################
parse_args() {
  while (($#)); do
    case "$1" in
      --credentials) need_value "$1" $#; CREDENTIALS_FILE="$2"; shift 2 ;;
      --monitor) need_value "$1" $#; MONITORS+=("$2"); shift 2 ;;
      --listen) need_value "$1" $#; LISTEN+=("$2"); shift 2 ;;
      --sys-name) need_value "$1" $#; SYS_NAME="$2"; shift 2 ;;
      --location) need_value "$1" $#; LOCATION="$2"; shift 2 ;;
      --contact) need_value "$1" $#; CONTACT="$2"; shift 2 ;;
      --view) need_value "$1" $#; VIEWS+=("$2"); shift 2 ;;
      --disk) need_value "$1" $#; DISKS+=("$2"); shift 2 ;;
      --load) need_value "$1" $#; LOAD="$2"; shift 2 ;;
      --proc) need_value "$1" $#; PROCS+=("$2"); shift 2 ;;
      --backup-job) need_value "$1" $#; BACKUP_JOB="$2"; shift 2 ;;
      --v2c-community-file) need_value "$1" $#; V2C_FILE="$2"; shift 2 ;;
      --v2c-source) need_value "$1" $#; V2C_SOURCE="$2"; shift 2 ;;
      *) common_option "$1" || usage_error "unexpected argument: $1"; shift ;;
    esac
  done
  ((${#DISKS[@]} > 0)) || DISKS=("/:10%")
}

#######################################
# Validation: every problem collected, then reported together (exit 2, nothing changed).
#######################################
# What differs between the two families: one table (packages, snmpd's persistent file, the user snmpd
# runs as, the group and mode of snmpd.conf: Debian's snmpd re-reads it after dropping root on SIGHUP).
set_family() {
  case "${OS_FAMILY}" in
    debian)
      PACKAGES=(snmpd)
      PERSISTENT=/var/lib/snmp/snmpd.conf
      SNMPD_USER=Debian-snmp
      CONF_GROUP=Debian-snmp
      CONF_MODE=0640
      ;;
    redhat)
      PACKAGES=(net-snmp net-snmp-utils)
      PERSISTENT=/var/lib/net-snmp/snmpd.conf
      SNMPD_USER=root
      CONF_GROUP=root
      CONF_MODE=0600
      ;;
  esac
  local p
  while IFS= read -r p; do
    [[ -z "${p}" ]] || PACKAGES+=("${p}")
  done < <(firewall_packages)
  if [[ -n "${BACKUP_JOB}" && "${SNMPD_USER}" != root ]]; then
    PACKAGES+=(sudo)       # the extend runs as snmpd's user; backup.sh status needs root
  fi
}

#######################################
# The credentials: the file's `key = value` lines, as snmp_poll.py reads them (values never echoed).
#######################################
read_credentials_file() {
  local file="$1" line key value number=0
  while IFS= read -r line || [[ -n "${line}" ]]; do
    number=$((number + 1))
    line="${line%$'\r'}"
    [[ "${line}" =~ ^[[:space:]]*(#.*)?$ ]] && continue
    if [[ "${line}" != *=* ]]; then
      add_error "--credentials ${file} line ${number}: not a 'key = value' line"
      continue
    fi
    key="${line%%=*}"
    key="${key//[[:space:]]/}"
    value="${line#*=}"
    value="${value#"${value%%[![:space:]]*}"}"        # trim, as the poller does
    value="${value%"${value##*[![:space:]]}"}"
    if [[ "${CREDENTIAL_KEYS}" != *" ${key} "* ]]; then
      add_error "--credentials ${file} line ${number}: unknown key (expected one of:${CREDENTIAL_KEYS})"
      continue
    fi
    if [[ "${key}" == *_protocol ]]; then
      value="${value%%#*}"
      value="${value%"${value##*[![:space:]]}"}"
    fi
    case "${key}" in
      user) SNMP_USER="${value}" ;;
      auth_protocol) AUTH_PROTOCOL="${value,,}" ;;
      auth_passphrase) AUTH_PASSPHRASE="${value}" ;;
      priv_protocol) PRIV_PROTOCOL="${value,,}" ;;
      priv_passphrase) PRIV_PASSPHRASE="${value}" ;;
    esac
  done <"${file}"
}

validate_credentials() {
  local source
  if [[ -n "${CREDENTIALS_FILE}" ]]; then
    source="--credentials ${CREDENTIALS_FILE}"
    validate_secret_file --credentials "${CREDENTIALS_FILE}" || return 0
    read_credentials_file "${CREDENTIALS_FILE}"
  elif [[ -n "${TSSR_SNMP_USER:-}" ]]; then
    source="the environment (TSSR_SNMP_*)"
    SNMP_USER="${TSSR_SNMP_USER}"
    AUTH_PROTOCOL="${TSSR_SNMP_AUTH_PROTOCOL:-sha256}"
    AUTH_PROTOCOL="${AUTH_PROTOCOL,,}"
    AUTH_PASSPHRASE="${TSSR_SNMP_AUTH_PASSPHRASE:-}"
    PRIV_PROTOCOL="${TSSR_SNMP_PRIV_PROTOCOL:-aes128}"
    PRIV_PROTOCOL="${PRIV_PROTOCOL,,}"
    PRIV_PASSPHRASE="${TSSR_SNMP_PRIV_PASSPHRASE:-}"
  else
    add_error "no credentials: give --credentials FILE or set TSSR_SNMP_USER, TSSR_SNMP_AUTH_PASSPHRASE and TSSR_SNMP_PRIV_PASSPHRASE"
    return 0
  fi
  [[ "${SNMP_USER}" =~ ${USER_RE} ]] \
    || add_error "${source}: user: expected 1 to 32 letters, digits or _.@-"
  [[ -n "${AUTH_NAME[${AUTH_PROTOCOL}]:-}" ]] \
    || add_error "${source}: auth_protocol: one of sha256, sha512 (authPriv with SHA-2 only)"
  [[ -n "${PRIV_NAME[${PRIV_PROTOCOL}]:-}" ]] \
    || add_error "${source}: priv_protocol: one of aes128, aes256, aes256c"
  validate_passphrase "${source}" auth_passphrase "${AUTH_PASSPHRASE}"
  validate_passphrase "${source}" priv_passphrase "${PRIV_PASSPHRASE}"
}

# Never echoes the value: only what is wrong with it.
validate_passphrase() {
  local source="$1" key="$2" value="$3"
  if ((${#value} < 8 || ${#value} > 64)); then
    add_error "${source}: ${key}: 8 to 64 characters (net-snmp refuses fewer than 8; it has ${#value})"
  elif [[ "${value}" == *[\"\\]* || "${value}" =~ [[:cntrl:]] ]]; then
    add_error "${source}: ${key}: no double quote, backslash or control character (it goes in a quoted createUser field)"
  fi
}

# The first line of the community file.
validate_v2c() {
  if [[ -z "${V2C_FILE}" && -z "${V2C_SOURCE}" ]]; then
    return 0
  fi
  if [[ -z "${V2C_FILE}" || -z "${V2C_SOURCE}" ]]; then
    add_error "--v2c-community-file and --v2c-source go together: a community is only ever answered from one network"
    return 0
  fi
  if [[ "${V2C_SOURCE}" != */* ]] || ! is_ip_or_cidr "${V2C_SOURCE}" || ! is_network "${V2C_SOURCE}"; then
    add_error "--v2c-source: '${V2C_SOURCE}' is not a network in CIDR form (192.0.2.0/28, 2001:db8::/64)"
  fi
  validate_secret_file --v2c-community-file "${V2C_FILE}" || return 0
  IFS= read -r COMMUNITY <"${V2C_FILE}" || true
  COMMUNITY="${COMMUNITY%$'\r'}"
  if [[ "${COMMUNITY,,}" == public || "${COMMUNITY,,}" == private ]]; then
    add_error "--v2c-community-file: '${COMMUNITY}' is the first community any scanner tries: refused"
  elif [[ ! "${COMMUNITY}" =~ ^[A-Za-z0-9._~+-]{8,64}$ ]]; then
    add_error "--v2c-community-file: the community must be 8 to 64 letters, digits or ._~+- (it has ${#COMMUNITY} characters)"
  fi
}

# An address with no /prefix, or a network whose host bits are zero (what the firewall accepts).
is_network() {
  local value="$1"
  [[ "${value}" == */* ]] || return 0
  command -v python3 >/dev/null || return 0
  python3 -c 'import ipaddress, sys; ipaddress.ip_network(sys.argv[1])' "${value}" 2>/dev/null
}

validate_addresses() {
  local monitor address
  ((${#MONITORS[@]} > 0)) || add_error "--monitor: required (the monitoring server's address or network)"
  for monitor in "${MONITORS[@]}"; do
    if ! is_ip_or_cidr "${monitor}"; then
      add_error "--monitor: '${monitor}' is not an IPv4/IPv6 address or network (192.0.2.10, 192.0.2.0/24, 2001:db8::5)"
    elif ! is_network "${monitor}"; then
      add_error "--monitor: '${monitor}' has host bits set after its prefix (write the network address)"
    fi
  done
  for address in "${LISTEN[@]}"; do
    if [[ "${address}" == */* ]] || ! is_ip_or_cidr "${address}"; then
      add_error "--listen: '${address}' is not an IPv4 or IPv6 address"
    elif ! is_local_address "${address}"; then
      add_error "--listen: '${address}' is not an address of this host"
    fi
  done
}

# Can snmpd bind it? A UDP socket bound to port 0 tells, and changes nothing.
is_local_address() {
  command -v python3 >/dev/null || return 0
  python3 -c '
import socket, sys
a = sys.argv[1]
s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((a, 0))' "$1" 2>/dev/null
}

validate_text() {
  local option="$1" value="$2"
  [[ -n "${value}" ]] || return 0
  if ((${#value} > 255)) || [[ "${value}" =~ [[:cntrl:]] || "${value}" =~ ^[[:space:]] || "${value}" =~ [[:space:]]$ ]]; then
    add_error "${option}: 1 to 255 printable characters, no newline, no leading or trailing space"
  fi
}

validate_views() {
  local view
  for view in "${VIEWS[@]}"; do
    if [[ -z "${KNOWN_VIEWS[${view}]:-}" && ! "${view}" =~ ${OID_RE} ]]; then
      add_error "--view: '${view}' is neither a known name (${!KNOWN_VIEWS[*]}) nor a numeric OID (.1.3.6.1.2.1.4)"
    fi
  done
}

validate_thresholds() {
  local disk path min proc name max pmin
  for disk in "${DISKS[@]}"; do
    path="${disk%:*}"
    min="${disk##*:}"
    if [[ "${disk}" != *:* || ! "${min}" =~ ^[0-9]{1,2}%$ || "${min}" == 0% ]]; then
      add_error "--disk: '${disk}' is not PATH:MIN% (MIN 1 to 99, e.g. /var:15%)"
    elif [[ "${path}" != /* || "${path}" =~ [[:space:]] || "${path}" =~ (^|/)\.\.?(/|$) ]]; then
      add_error "--disk: '${path}' is not an absolute path (no space, no . or ..)"
    elif [[ ! -d "${path}" ]]; then
      add_error "--disk: '${path}' is not a folder of this host"
    fi
  done
  if [[ -n "${LOAD}" && ! "${LOAD}" =~ ^[0-9]{1,3}(\.[0-9]{1,2})?,[0-9]{1,3}(\.[0-9]{1,2})?,[0-9]{1,3}(\.[0-9]{1,2})?$ ]]; then
    add_error "--load: '${LOAD}' is not three load averages M1,M5,M15 (e.g. 8,6,4)"
  fi
  for proc in "${PROCS[@]}"; do
    IFS=: read -r name max pmin <<<"${proc}"
    if [[ ! "${name}" =~ ${PROC_NAME_RE} || "${proc}" == *:*:*:* ]]; then
      add_error "--proc: '${proc}' is not NAME[:MAX[:MIN]] (NAME: 1 to 15 of A-Z a-z 0-9 ._+-, as in /proc/PID/comm)"
    elif [[ -n "${max}" && ! "${max}" =~ ^[0-9]{1,5}$ ]] || [[ -n "${pmin}" && ! "${pmin}" =~ ^[0-9]{1,5}$ ]]; then
      add_error "--proc: '${proc}': MAX and MIN are whole numbers"
    elif [[ -n "${pmin}" ]] && ((10#${max} != 0 && 10#${pmin} > 10#${max})); then
      add_error "--proc: '${proc}': MIN is more than MAX"
    fi
  done
  if [[ -n "${BACKUP_JOB}" ]]; then
    [[ "${BACKUP_JOB}" =~ ${JOB_RE} ]] || add_error "--backup-job: '${BACKUP_JOB}' is not a backup job name (a-z 0-9 _ -, 1 to 40)"
    command -v python3 >/dev/null || add_error "--backup-job: python3 is needed for tssr_check.py"
    bundled_file python/tssr_check.py >/dev/null || add_error "--backup-job: tssr_check.py is not beside setup-snmp.sh nor in ../../python"
  fi
}

validate() {
  validate_credentials
  validate_addresses
  validate_v2c
  validate_text --sys-name "${SYS_NAME}"
  validate_text --location "${LOCATION}"
  validate_text --contact "${CONTACT}"
  validate_views
  validate_thresholds
}

#######################################
# The configuration
#######################################
# agentAddress: every address by default, else udp:ADDR:161 / udp6:[ADDR]:161.
agent_address() {
  local address out=() IFS=,
  if ((${#LISTEN[@]} == 0)); then
    printf 'udp:161,udp6:161'
    return 0
  fi
  for address in "${LISTEN[@]}"; do
    if [[ "${address}" == *:* ]]; then out+=("udp6:[${address}]:161"); else out+=("udp:${address}:161"); fi
  done
  printf '%s' "${out[*]}"
}

# The default load thresholds: 4, 3 and 2 times the CPUs (tssr_check.py load's warning per CPU).
default_load() {
  local cpus
  cpus="$(nproc 2>/dev/null || echo 1)"
  printf '%d,%d,%d' $((4 * cpus)) $((3 * cpus)) $((2 * cpus))
}

# The pending security updates, as the extend tssr-updates prints them (one number).
updates_command() {
  printf '#!/bin/sh\n# Written by setup-snmp.sh (tssr-kit): the extend tssr-updates of snmpd, one number:\n'
  if [[ "${OS_FAMILY}" == debian ]]; then
    cat <<'EOS'
# the upgrades apt-get would take from a -security suite (from the package lists as they are).
n=$(timeout 20 apt-get -s -o Debug::NoLocking=1 upgrade 2>/dev/null | grep -c "^Inst .*[-/]security")
echo "${n:-0}"
EOS
  else
    cat <<'EOS'
# the security advisories dnf knows of for installed packages (from its cache, no download).
n=$(timeout 20 dnf -q -C updateinfo list --security --available 2>/dev/null | grep -c .)
echo "${n:-0}"
EOS
  fi
}

tssr_backup_command() {
  local argv="/usr/bin/python3 ${INSTALL_DIR}/tssr_check.py backup --job ${BACKUP_JOB} --backup-script ${BACKUP_SCRIPT}"
  if [[ "${SNMPD_USER}" == root ]]; then
    printf '%s' "${argv}"
  else
    printf '/usr/bin/sudo -n %s' "${argv}"
  fi
}

sudoers_content() {
  printf '%s: the extend tssr-backup of snmpd reads the backup job %s\n' "${MARKER}" "${BACKUP_JOB}"
  printf '# (backup.sh status needs root). Exactly this command, nothing else.\n'
  printf '%s ALL=(root) NOPASSWD: /usr/bin/python3 %s/tssr_check.py backup --job %s --backup-script %s\n' \
    "${SNMPD_USER}" "${INSTALL_DIR}" "${BACKUP_JOB}" "${BACKUP_SCRIPT}"
}

#######################################
# The whole snmpd.conf (a whole file, not a drop-in: the distributions' own snmpd.conf answers the
# community `public`, and a drop-in cannot take a directive back).
# Outputs: the file on stdout
#######################################
snmpd_config() {
  local entry view disk proc name max pmin m1 m5 m15
  printf '%s. Do not edit: run it again.\n' "${MARKER}"
  printf '# The users (createUser/usmUser) are in %s, their passphrases never here.\n\n' "${PERSISTENT}"
  printf '# Where snmpd listens; the firewall (table tssr_snmp / firewalld) lets the monitors in only.\n'
  printf 'agentAddress %s\n\n' "$(agent_address)"
  printf '# The read-only view, and who may read it: SNMPv3 authPriv only.\n'
  # (no comment after a value: snmpd would read it as the view's mask)
  for entry in "${BASE_VIEW[@]}"; do
    printf '# %s\nview %s included %s\n' "${entry%% *}" "${VIEW}" "${entry#* }"
  done
  for view in "${VIEWS[@]}"; do
    printf '# --view %s\nview %s included %s\n' "${view}" "${VIEW}" "${KNOWN_VIEWS[${view}]:-${view}}"
  done
  printf 'rouser %s priv -V %s\n' "${SNMP_USER}" "${VIEW}"
  if [[ -n "${COMMUNITY}" ]]; then
    printf '# SNMPv2c, asked for with --v2c-*: read-only, the same view, from %s only.\n' "${V2C_SOURCE}"
    if [[ "${V2C_SOURCE}" == *:* ]]; then
      printf 'rocommunity6 %s %s -V %s\n' "${COMMUNITY}" "${V2C_SOURCE}" "${VIEW}"
    else
      printf 'rocommunity %s %s -V %s\n' "${COMMUNITY}" "${V2C_SOURCE}" "${VIEW}"
    fi
  fi
  printf '\n# The system group.\n'
  [[ -z "${SYS_NAME}" ]] || printf 'sysName %s\n' "${SYS_NAME}"
  [[ -z "${LOCATION}" ]] || printf 'sysLocation %s\n' "${LOCATION}"
  [[ -z "${CONTACT}" ]] || printf 'sysContact %s\n' "${CONTACT}"
  printf 'sysServices 72\n'
  printf '\n# Thresholds: dskTable (disk PATH MIN%%), laTable (load M1 M5 M15), prTable (proc NAME MAX MIN).\n'
  for disk in "${DISKS[@]}"; do
    printf 'disk %s %s\n' "${disk%:*}" "${disk##*:}"
  done
  IFS=, read -r m1 m5 m15 <<<"${LOAD:-$(default_load)}"
  printf 'load %s %s %s\n' "${m1}" "${m5}" "${m15}"
  for proc in "${PROCS[@]}"; do
    IFS=: read -r name max pmin <<<"${proc}"
    printf 'proc %s%s%s\n' "${name}" "${max:+ ${max}}" "${pmin:+ ${pmin}}"
  done
  printf '\n# The kit'"'"'s own checks, in NET-SNMP-EXTEND-MIB (nsExtendOutput1Line."NAME").\n'
  printf 'extend tssr-updates /bin/sh %s/tssr-updates.sh\n' "${INSTALL_DIR}"
  [[ -z "${BACKUP_JOB}" ]] || printf 'extend tssr-backup %s\n' "$(tssr_backup_command)"
}

#######################################
# Check a candidate snmpd.conf with snmpd itself: a test instance on a loopback port of its own, with
# a throw-away persistent folder, started in the foreground and stopped; any "line N:" warning or
# error it logs about the file, or an early exit, fails the check.
# Arguments: candidate file
#######################################
check_config() {
  local candidate="$1" dir="${TMP_DIR}/check" port pid code=0 problems
  if ! command -v snmpd >/dev/null; then
    info "snmpd is not installed yet: its own check of the configuration comes after the install"
    return 0
  fi
  mkdir -p -- "${dir}/persist"
  port=$((20000 + RANDOM % 30000))
  sed "s/^agentAddress .*/agentAddress udp:127.0.0.1:${port}/" -- "${candidate}" >"${dir}/snmpd.conf"
  SNMP_PERSISTENT_DIR="${dir}/persist" snmpd -f -C -c "${dir}/snmpd.conf" -Lf "${dir}/log" -I -smux \
    -p "${dir}/pid" </dev/null >/dev/null 2>&1 &
  pid=$!
  local _
  for _ in $(seq 50); do
    grep -q 'NET-SNMP version' "${dir}/log" 2>/dev/null && break
    kill -0 "${pid}" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "${pid}" 2>/dev/null; then
    kill -TERM "${pid}" 2>/dev/null || true
    wait "${pid}" 2>/dev/null || true
  else
    wait "${pid}" || code=$?
  fi
  problems="$(grep -E "snmpd\.conf: line [0-9]+: |^Error|Server Exiting" "${dir}/log" 2>/dev/null \
    | sed "s#${dir}/##" || true)"
  if [[ -n "${problems}" ]] || ! grep -q 'NET-SNMP version' "${dir}/log" 2>/dev/null; then
    printf '%s\n' "${problems:-snmpd did not start with it (exit ${code})}" >&2
    return 1
  fi
}

#######################################
# Users: the salted hash of what is configured, the persistent file's usmUser lines.
#######################################
credentials_hash() {
  local salt="$1"
  printf '%s\n' "${salt}" "${SNMP_USER}" "${AUTH_PROTOCOL}" "${AUTH_PASSPHRASE}" "${PRIV_PROTOCOL}" \
    "${PRIV_PASSPHRASE}" | sha256sum | cut -d' ' -f1
}

# The names in the state file (users this script created), one per line.
state_users() {
  [[ -f "${STATE_FILE}" ]] || return 0
  awk 'NF == 3 {print $1}' "${STATE_FILE}"
}

# Is the user's stored key the one for the configured credentials?
state_matches() {
  local name salt hash
  [[ -f "${STATE_FILE}" ]] || return 1
  while read -r name salt hash; do
    if [[ "${name}" == "${SNMP_USER}" ]]; then
      [[ "$(credentials_hash "${salt}")" == "${hash}" ]]
      return
    fi
  done <"${STATE_FILE}"
  return 1
}

# The user's name as snmpd writes it in usmUser lines: "name" or 0x<hex>.
usm_name_forms() {
  local hex
  hex="$(printf '%s' "$1" | od -An -tx1 | tr -d ' \n')"
  printf '"%s"\n0x%s\n0x%s00\n' "$1" "${hex}" "${hex}"
}

# Does the persistent file hold a usmUser (or a pending createUser) for the user?
user_in_persistent() {
  [[ -f "${PERSISTENT}" ]] || return 1
  awk -v forms="$(usm_name_forms "$1" | tr '\n' ' ')" -v name="$1" '
    BEGIN { n = split(forms, f, " "); for (i = 1; i <= n; i++) want[f[i]] = 1 }
    $1 == "usmUser" && ($5 in want) { found = 1 }
    $1 == "createUser" && $2 == name { found = 1 }
    END { exit !found }' "${PERSISTENT}"
}

# The persistent file without the usmUser/createUser lines of the given users (stdout).
persistent_without() {
  local forms="" name
  for name in "$@"; do
    forms+="$(usm_name_forms "${name}" | tr '\n' ' ')"
  done
  [[ -f "${PERSISTENT}" ]] || return 0
  awk -v forms="${forms}" -v names="$*" '
    BEGIN { n = split(forms, f, " "); for (i = 1; i <= n; i++) drop[f[i]] = 1
            m = split(names, u, " "); for (i = 1; i <= m; i++) dropname[u[i]] = 1 }
    $1 == "usmUser" && ($5 in drop) { next }
    $1 == "createUser" && ($2 in dropname) { next }
    { print }' "${PERSISTENT}"
}

# What the users need: REKEY and REMOVED_USERS.
plan_users() {
  local name
  if ! state_matches || ! user_in_persistent "${SNMP_USER}"; then
    REKEY=true
    changed "$(state_users | grep -qxF -- "${SNMP_USER}" && printf 're-key' || printf 'create') the SNMPv3 user ${SNMP_USER} (${AUTH_NAME[${AUTH_PROTOCOL}]}, ${PRIV_NAME[${PRIV_PROTOCOL}]}, authPriv)"
  fi
  while IFS= read -r name; do
    [[ -n "${name}" && "${name}" != "${SNMP_USER}" ]] || continue
    REMOVED_USERS+=("${name}")
    changed "remove the SNMPv3 user ${name} (created by an earlier run, no longer configured)"
  done < <(state_users)
}

# snmpd stopped: the new persistent file and state. The createUser line holds the passphrases until
# snmpd starts and replaces it with the localized keys (the file is snmpd's, 0600).
write_users() {
  local tmp owner salt
  owner="$(stat -c '%U:%G' -- "$(dirname -- "${PERSISTENT}")")"
  mkdir -p -- "$(dirname -- "${PERSISTENT}")"
  tmp="$(mktemp -p "$(dirname -- "${PERSISTENT}")" .tssr-kit.XXXXXX)"
  {
    persistent_without "${SNMP_USER}" "${REMOVED_USERS[@]}"
    if [[ "${REKEY}" == true ]]; then
      printf 'createUser %s %s "%s" %s "%s"\n' "${SNMP_USER}" "${AUTH_NAME[${AUTH_PROTOCOL}]}" \
        "${AUTH_PASSPHRASE}" "${PRIV_NAME[${PRIV_PROTOCOL}]}" "${PRIV_PASSPHRASE}"
    fi
  } >"${tmp}"
  chown "${owner}" -- "${tmp}"
  chmod 0600 -- "${tmp}"
  mv -f -- "${tmp}" "${PERSISTENT}"
  salt="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  mkdir -p -- "${STATE_DIR}"
  chmod 0700 -- "${STATE_DIR}"
  tmp="$(mktemp -p "${STATE_DIR}" .tssr-kit.XXXXXX)"
  printf '%s %s %s\n' "${SNMP_USER}" "${salt}" "$(credentials_hash "${salt}")" >"${tmp}"
  chmod 0600 -- "${tmp}"
  mv -f -- "${tmp}" "${STATE_FILE}"
}

#######################################
# Steps
#######################################
step_packages() {
  install_packages || true
}

step_files() {
  ensure_dir /usr/local/lib/tssr-kit root root 0755
  ensure_dir "${INSTALL_DIR}" root root 0755
  updates_command >"${TMP_DIR}/tssr-updates.sh"
  put_file "${INSTALL_DIR}/tssr-updates.sh" root root 0755 "the extend command tssr-updates" \
    <"${TMP_DIR}/tssr-updates.sh" || true
  if [[ -n "${BACKUP_JOB}" ]]; then
    put_file "${INSTALL_DIR}/tssr_check.py" root root 0755 "tssr_check.py (the extend tssr-backup)" \
      <"$(bundled_file python/tssr_check.py)" || true
    if [[ "${SNMPD_USER}" != root ]]; then
      sudoers_content >"${TMP_DIR}/sudoers"
      if command -v visudo >/dev/null && ! visudo -c -q -f "${TMP_DIR}/sudoers" >/dev/null 2>&1; then
        die 1 "the sudoers rule for tssr-backup does not pass visudo -c: nothing of it was installed"
      fi
      put_file "${SUDOERS_FILE}" root root 0440 "the sudoers rule of the extend tssr-backup" <"${TMP_DIR}/sudoers" || true
    fi
  elif [[ -e "${SUDOERS_FILE}" ]]; then
    changed "remove ${SUDOERS_FILE} (no --backup-job any more)"
    run rm -f -- "${SUDOERS_FILE}"
  fi
}

# The new snmpd.conf, written to a private file and checked by snmpd itself: nothing changes yet.
prepare_config() {
  local candidate="${TMP_DIR}/snmpd.conf.new"
  snmpd_config >"${candidate}"
  if ! check_config "${candidate}"; then
    die 1 "the new ${SNMPD_CONF} does not pass snmpd's own check (above): the running configuration is left as it is"
  fi
}

# Install the checked snmpd.conf. Returns: 0 when snmpd.conf changed (or would)
step_config() {
  local candidate="${TMP_DIR}/snmpd.conf.new"
  if [[ -f "${SNMPD_CONF}" && ! -e "${SNMPD_CONF}.tssr-kit-orig" ]] && ! grep -qF "${MARKER}" "${SNMPD_CONF}"; then
    changed "keep the distribution's ${SNMPD_CONF} as ${SNMPD_CONF}.tssr-kit-orig"
    run cp -p -- "${SNMPD_CONF}" "${SNMPD_CONF}.tssr-kit-orig"
  fi
  [[ ! -f "${SNMPD_CONF}" ]] || cp -p -- "${SNMPD_CONF}" "${TMP_DIR}/snmpd.conf.old"
  put_file "${SNMPD_CONF}" root "${CONF_GROUP}" "${CONF_MODE}" "the snmpd configuration" <"${candidate}"
}

# Stop snmpd, change the users, start it; or just restart it for a new configuration.
step_service() {
  local config_changed="$1"
  if [[ "${REKEY}" == true || ${#REMOVED_USERS[@]} -gt 0 ]]; then
    if systemctl is-active --quiet "${SERVICE}"; then
      changed "stop ${SERVICE} (its users are changed while it is stopped)"
      run systemctl stop "${SERVICE}"
    fi
    [[ "${DRY_RUN}" == true ]] || write_users
    RESTART=true
  elif [[ "${config_changed}" == true ]]; then
    RESTART=true
  fi
  if [[ "$(systemctl is-enabled "${SERVICE}" 2>/dev/null)" != enabled ]]; then
    changed "enable ${SERVICE} at boot"
    run systemctl enable --quiet "${SERVICE}"
  fi
  if [[ "${RESTART}" == true ]] || ! systemctl is-active --quiet "${SERVICE}"; then
    changed "(re)start ${SERVICE}"
    [[ "${DRY_RUN}" == false ]] || return 0
    # Runs in quick succession (a re-key, then a new view...) would hit systemd's start limit.
    systemctl reset-failed "${SERVICE}" 2>/dev/null || true
    if ! systemctl restart "${SERVICE}"; then
      restore_config
      die 1 "${SERVICE} did not start with the new configuration: the previous one is back ($(journalctl -u "${SERVICE}" -n 3 --no-pager -o cat 2>/dev/null | tr '\n' ' '))"
    fi
  fi
  if [[ "${DRY_RUN}" == false && "${REKEY}" == true ]]; then
    # snmpd turns createUser into usmUser when it starts: the passphrases must be gone from the file.
    local _
    for _ in $(seq 50); do
      ! grep -q '^createUser ' "${PERSISTENT}" && break
      sleep 0.1
    done
    if grep -q '^createUser ' "${PERSISTENT}" || ! user_in_persistent "${SNMP_USER}"; then
      die 1 "${SERVICE} did not turn the createUser line of ${SNMP_USER} into a usmUser entry in ${PERSISTENT}"
    fi
  fi
}

restore_config() {
  [[ -f "${TMP_DIR}/snmpd.conf.old" ]] || return 0
  cp -p -- "${TMP_DIR}/snmpd.conf.old" "${SNMPD_CONF}"
  systemctl reset-failed "${SERVICE}" 2>/dev/null || true
  systemctl restart "${SERVICE}" 2>/dev/null || true
}

# net-snmp's dskTable skips the file systems it does not know, overlay among them (a container's /).
warn_ignored_disks() {
  local disk type
  for disk in "${DISKS[@]}"; do
    type="$(stat -f -c %T -- "${disk%:*}" 2>/dev/null || true)"
    if [[ "${type}" == overlay* ]]; then
      warn "--disk ${disk}: ${disk%:*} is an ${type} file system (a container), which net-snmp leaves out of dskTable"
    fi
  done
}

# udp/161 from the monitors (and the --v2c-source network) only (lib/firewall.sh).
step_firewall() {
  local sources=("${MONITORS[@]}")
  [[ -z "${V2C_SOURCE}" ]] || sources+=("${V2C_SOURCE}")
  firewall_open snmp udp 161 "${sources[@]}"
  firewall_apply
}

#######################################
# Main
#######################################
main() {
  trap cleanup EXIT
  trap 'on_error "${LINENO}" "${BASH_COMMAND}"' ERR
  parse_args "$@"
  require_root
  detect_os_family
  set_family
  validate
  report_errors
  take_lock
  TMP_DIR="$(mktemp -d /tmp/tssr-snmp.XXXXXXXX)"
  if [[ -n "${COMMUNITY}" ]]; then
    warn "SNMPv2c asked for: the community travels in clear text and authenticates nothing; it is answered read-only, with the view ${VIEW}, from ${V2C_SOURCE} only. Prefer SNMPv3."
  fi
  warn_ignored_disks
  step_packages
  prepare_config
  # The firewall before any other change: a failure there leaves snmpd's configuration as it was, and
  # snmpd never answers on 161 before the firewall limits it to the monitors.
  step_firewall
  step_files
  local config_changed=false
  if step_config; then config_changed=true; fi
  plan_users
  step_service "${config_changed}"
  RESULT_FIELDS=(config str "${SNMPD_CONF}" persistent str "${PERSISTENT}")
  finish "no change: the agent is already as asked"
}

# Sourced (by a test, to call one function): define everything, run nothing.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
