# shellcheck shell=bash
#
# firewall.sh - THE code of tssr-kit that writes firewall rules (nftables on Debian, firewalld on
# RedHat). A script declares what it needs, then applies it, once:
#
#   firewall_baseline                        the baseline: incoming traffic dropped, except loopback,
#                                            replies, ICMP, SSH (every port SSH logins use) and the
#                                            openings below (the deploy scripts; the hardening job)
#   firewall_open NAME PROTO PORTS FROM...   the opening NAME: PROTO (tcp|udp) to PORTS (161, or 80,443)
#                                            from FROM... (addresses or networks) only, or from `any`
#   firewall_apply                           check it all, write it, load it (or put it all back)
#
# and it gives firewall_packages, is_ip_or_cidr, ssh_keep_ports, is_ssh_port, and
# firewall_check_ssh_ports (a LIB_CHECKS entry: the SSH ports known at validation, exit 2 otherwise).
#
# Jobs never fight: an opening lives in files of its own name, which no other job writes, and the
# baseline takes in every opening, whichever job writes it and whenever. A host with deploy-lamp.sh,
# setup-snmp.sh and setup-logging.sh server lets in SSH, HTTP(S) from anyone, SNMP from the monitors,
# syslog from the clients, and drops the rest.
#
# Debian (nftables; root's files in /etc/tssr-kit/nftables.d, loaded at boot by nftables.service):
#   - the baseline is /etc/nftables.conf (templates/nftables.conf.tmpl): table inet tssr_kit, input
#     policy drop, the SSH ports accepted, `include "…/nftables.d/*.rules"` in its input chain, and
#     `include "…/nftables.d/*.nft"` after it;
#   - an opening NAME is NAME.rules (its accept rules, which the baseline includes) and, when it is
#     open to a few sources only, NAME.nft: a table of its own, inet tssr_NAME (input policy accept),
#     that accepts PROTO/PORTS from them and drops it from anyone else. The opening thus holds on a
#     host without the baseline too (an SNMP agent where nothing else is filtered: every other port
#     stays as it was); there the distribution's /etc/nftables.conf gets one line that includes the
#     *.nft tables (it is kept once as /etc/nftables.conf.tssr-kit-orig).
#   - nothing else is touched: no `flush ruleset`, never a restart of nftables.service (its
#     distribution default flushes Docker's or libvirt's rules); a table is replaced in one
#     transaction (`nft -f`). All of it is checked (`nft -c`, the new files as the kernel would read
#     them) before the first file is written, and a ruleset that does not load puts the files back.
# RedHat (firewalld, in the zone of the default route's interface): the baseline is the service ssh
# and the SSH ports other than 22; an opening from `any` is firewalld's service for each port where
# there is one (http, https), else the port; an opening from a few sources is one rich rule per
# source. What the kit added is recorded per owner (firewalld_record: `baseline`, or the opening's
# name) and only that is ever removed: a service, port or rule of the administrator's is never
# touched (an administrator's rule that also opens the port is named in a warning).
#
# Never a lock-out: the SSH ports (ssh_keep_ports: `sshd -T`, this session's connection, the ports
# the running sshd listens on) are always in the baseline, and an opening from a few sources may not
# restrict one. When `sshd -T` fails nobody can tell them: firewall_apply stops before any change.
#
# A host set up by an earlier tssr-kit is migrated in place by the next run of a deploy script, which
# says so: HTTP and HTTPS move from /etc/nftables.conf's SSH line to their own opening (web.rules);
# on firewalld the SSH items recorded under `web` move to `baseline`. The rules let in the same.
#
# The caller sets OS_FAMILY, TMP_DIR, DRY_RUN, SCRIPT_NAME and uses common.sh (changed, run,
# put_file, render, die).

readonly FIREWALL_DIR=/etc/tssr-kit/nftables.d
readonly NFTABLES_CONF=/etc/nftables.conf
readonly FIREWALL_INCLUDE="include \"${FIREWALL_DIR}/*.nft\""
readonly FIREWALL_STATE_DIR=/var/lib/tssr-kit/firewall
# The line of the baseline an earlier tssr-kit wrote with HTTP and HTTPS in it (the migration above).
readonly FIREWALL_OLD_BASELINE='# SSH (every port sshd listens on), HTTP, HTTPS.'
# firewalld's own service for a port opened to anyone (what an earlier tssr-kit added by name).
declare -rA FIREWALLD_SERVICE=([tcp/22]=ssh [tcp/80]=http [tcp/443]=https)

FIREWALL_BASELINE=false
FIREWALL_OPENINGS=()     # "NAME PROTO PORTS FROM": FROM is `any` or the sources, comma-separated
FIREWALLD_RELOAD=false

firewall_packages() {
  case "${OS_FAMILY}" in
    debian) printf '%s\n' nftables ;;
    redhat) printf '%s\n' firewalld ;;
  esac
}

#######################################
# Addresses and networks, checked here before any tool (nft, firewall-cmd, rsyslog) sees them, and as
# strictly as Python's ipaddress module (the reference the unit tests compare with):
#   IPv4  four decimal numbers 0 to 255, WITHOUT leading zeros (01.2.3.4 is refused: some tools read
#         it as octal, others as decimal); an optional /0 to /32
#   IPv6  1 to 4 hexadecimal digits per group, 8 groups, or fewer with exactly one "::"; an IPv4 tail
#         (::ffff:192.0.2.1) counts as two; no zone (fe80::1%eth0 is refused); an optional /0 to /128
#   a prefix is a plain number without leading zeros (/8, not /08); a netmask (/255.255.255.0) is refused
# Host bits after the prefix are allowed here (10.0.0.5/24); a script that wants a network checks that too.
#######################################
is_ipv4_address() {
  local LC_ALL=C octet
  [[ "$1" =~ ^(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){3}$ ]] || return 1
  for octet in ${1//./ }; do
    ((octet <= 255)) || return 1
  done
}

is_ipv6_address() {
  local LC_ALL=C address="$1" head tail group count=0
  ((${#address} <= 45)) && [[ "${address}" =~ ^[0-9A-Fa-f:.]+$ && "${address}" == *:* ]] || return 1
  if [[ "${address}" == *.* ]]; then
    # An IPv4 tail stands for the last two groups.
    is_ipv4_address "${address##*:}" || return 1
    address="${address%:*}:0:0"
  fi
  [[ "${address}" =~ ^[0-9A-Fa-f:]+$ ]] || return 1
  if [[ "${address}" == *::* ]]; then
    head="${address%%::*}"
    tail="${address#*::}"
    [[ "${tail}" != *::* ]] || return 1                   # one "::" at most
    [[ "${head}" != :* && "${head}" != *: && "${tail}" != :* && "${tail}" != *: ]] || return 1
  else
    head="${address}"
    tail=""
    [[ "${head}" != :* && "${head}" != *: ]] || return 1
  fi
  for group in ${head//:/ } ${tail//:/ }; do
    [[ "${group}" =~ ^[0-9A-Fa-f]{1,4}$ ]] || return 1
    count=$((count + 1))
  done
  if [[ "${address}" == *::* ]]; then
    ((count <= 7))                                        # "::" stands for one group at least
  else
    ((count == 8))
  fi
}

#######################################
# Arguments: a value
# Returns: 0 when it is an IPv4 or IPv6 address, with or without a /prefix (rules above)
#######################################
is_ip_or_cidr() {
  local LC_ALL=C value="$1" address prefix="" max
  address="${value%%/*}"
  if [[ "${value}" == */* ]]; then
    prefix="${value#*/}"
    [[ "${prefix}" =~ ^(0|[1-9][0-9]{0,2})$ ]] || return 1
  fi
  if is_ipv4_address "${address}"; then
    max=32
  elif is_ipv6_address "${address}"; then
    max=128
  else
    return 1
  fi
  [[ -z "${prefix}" ]] || ((prefix <= max))
}

# Prints "v4 sources" and "v6 sources" as two comma-separated lines.
firewall_split_sources() {
  local v4=() v6=() source
  for source in "$@"; do
    if [[ "${source}" == *:* ]]; then v6+=("${source}"); else v4+=("${source}"); fi
  done
  local IFS=,
  printf '%s\n%s\n' "${v4[*]}" "${v6[*]}"
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
# Is PORT one of the TCP ports SSH logins use (ssh_keep_ports, above)?
# Returns: 0 yes, 1 no, 2 unknown (SSH_PORTS_ERROR says why)
#######################################
is_ssh_port() {
  ssh_keep_ports || return 2
  [[ ",${SSH_KEEP_PORTS}," == *",$1,"* ]]
}

#######################################
# Validation (LIB_CHECKS): the SSH ports must be known before the baseline is written, else the run
# stops here, exit 2, nothing changed: no silent fallback to 22.
#######################################
firewall_check_ssh_ports() {
  ssh_keep_ports || add_error "firewall: ${SSH_PORTS_ERROR}; without them the firewall could lock SSH out"
}

#######################################
# Declarations
#######################################
firewall_baseline() {
  FIREWALL_BASELINE=true
}

#######################################
# An opening: PROTO/PORTS from the sources only, or from anyone (`any`). A restricted TCP port that
# SSH logins use is refused (exit 1, nothing of the firewall changed: the scripts refuse it first,
# exit 2).
# Arguments: name ([a-z0-9_]+), tcp|udp, ports (comma-separated), `any` or source...
#######################################
firewall_open() {
  local name="$1" proto="$2" ports="$3" port source code
  shift 3
  if [[ ! "${name}" =~ ^[a-z0-9_]+$ || ! "${proto}" =~ ^(tcp|udp)$ || ! "${ports}" =~ ^[0-9]+(,[0-9]+)*$ ]] \
    || (($# == 0)) || { [[ "$1" == any ]] && (($# > 1)); }; then
    die 1 "firewall_open ${name}: not NAME tcp|udp PORTS any|SOURCE... (a bug in ${SCRIPT_NAME})"
  fi
  for port in ${ports//,/ }; do
    is_tcp_port "${port}" || die 1 "firewall_open ${name}: '${port}' is not a port (a bug in ${SCRIPT_NAME})"
  done
  if [[ "$1" != any ]]; then
    for source in "$@"; do
      is_ip_or_cidr "${source}" || die 1 "firewall_open ${name}: '${source}' is not an address or a network (a bug in ${SCRIPT_NAME}: sources are validated first)"
    done
    for port in ${ports//,/ }; do
      [[ "${proto}" == tcp ]] || break
      code=0
      is_ssh_port "${port}" || code=$?
      case "${code}" in
        0) die 1 "firewall: tcp/${port} is a port SSH logins use (${SSH_KEEP_PORTS}): it is never restricted to a few sources, nothing of the firewall was changed" ;;
        2) die 1 "firewall: ${SSH_PORTS_ERROR}; nothing of the firewall was changed" ;;
      esac
    done
  fi
  local IFS=,
  FIREWALL_OPENINGS+=("${name} ${proto} ${ports} $*")
}

#######################################
# Write and load what was declared (in a dry run: say what would change).
#######################################
firewall_apply() {
  if [[ "${FIREWALL_BASELINE}" == true ]]; then
    ssh_keep_ports || die 1 "firewall: ${SSH_PORTS_ERROR}; the firewall was not changed"
  fi
  case "${OS_FAMILY}" in
    debian) firewall_apply_nftables ;;
    redhat) firewall_apply_firewalld ;;
    *) die 1 "firewall: unsupported OS family ${OS_FAMILY}" ;;
  esac
}

# "PROTO/PORTS from SOURCES only", or "PROTO/PORTS from anyone". Arguments: proto, ports, from
opening_words() {
  if [[ "$3" == any ]]; then
    printf '%s/%s from anyone' "$1" "$2"
  else
    printf '%s/%s from %s only' "$1" "$2" "${3//,/ }"
  fi
}

#######################################
# nftables
#######################################
# An nft port match: 161, or { 80, 443 }.
nft_ports() {
  if [[ "$1" == *,* ]]; then printf '{ %s }' "${1//,/, }"; else printf '%s' "$1"; fi
}

# The files of one opening, into FOLDER: NAME.rules, and NAME.nft when it has sources.
# Arguments: folder, name, proto, ports, from
nft_opening_files() {
  local dir="$1" name="$2" proto="$3" ports="$4" from="$5" v4 v6 line dport
  local -a allow=() sources=()
  dport="${proto} dport $(nft_ports "${ports}")"
  if [[ "${from}" == any ]]; then
    {
      printf '# Written by tssr-kit (scripts/bash/lib/firewall.sh): the opening %s, %s.\n' "${name}" \
        "$(opening_words "${proto}" "${ports}" any)"
      printf '# Included in the input chain of table inet tssr_kit (the baseline, %s).\n' "${NFTABLES_CONF}"
      printf '%s accept\n' "${dport}"
    } >"${dir}/${name}.rules"
    return 0
  fi
  IFS=, read -r -a sources <<<"${from}"
  { read -r v4; read -r v6; } < <(firewall_split_sources "${sources[@]}")
  [[ -z "${v4}" ]] || allow+=("ip saddr { ${v4//,/, } } ${dport} accept")
  [[ -z "${v6}" ]] || allow+=("ip6 saddr { ${v6//,/, } } ${dport} accept")
  {
    printf '#!/usr/sbin/nft -f\n'
    printf '# Written by %s (tssr-kit, scripts/bash/lib/firewall.sh): %s/%s only from\n' "${SCRIPT_NAME}" "${proto}" "${ports}"
    printf '# %s. Every other packet is left to the other tables. Loaded at boot through %s.\n' "${from//,/ }" "${NFTABLES_CONF}"
    printf 'table inet tssr_%s\ndelete table inet tssr_%s\n\ntable inet tssr_%s {\n' "${name}" "${name}" "${name}"
    printf '    chain input {\n        type filter hook input priority filter - 5; policy accept;\n'
    printf '        iif "lo" accept\n'
    for line in "${allow[@]}"; do
      printf '        %s\n' "${line}"
    done
    printf '        %s drop\n    }\n}\n' "${dport}"
  } >"${dir}/${name}.nft"
  {
    printf '# Written by %s (tssr-kit): included in the input chain of table inet tssr_kit.\n' "${SCRIPT_NAME}"
    printf '%s\n' "${allow[@]}"
  } >"${dir}/${name}.rules"
}

# Is /etc/nftables.conf the baseline (table inet tssr_kit)?
nft_is_baseline() {
  [[ -f "${NFTABLES_CONF}" ]] && grep -q '^table inet tssr_kit' "${NFTABLES_CONF}"
}

#######################################
# Check the new files as nft would read them, before anything is written: the baseline with every
# opening's files (the new ones, and those of the other jobs) from a private copy of the folder; an
# opening's own table alone. Stops the run when one does not load (nothing changed).
# Arguments: the folder of the new files
#######################################
nft_check() {
  local new="$1" tree="${TMP_DIR}/firewall-check" conf="" file
  command -v nft >/dev/null || return 0           # a dry run before nftables is installed
  for file in "${new}"/*.nft; do
    [[ -f "${file}" ]] || continue
    nft -c -f "${file}" 2>"${TMP_DIR}/nft.err" || nft_refused
  done
  if [[ -f "${new}/nftables.conf" ]]; then
    conf="${new}/nftables.conf"
  elif nft_is_baseline; then
    conf="${NFTABLES_CONF}"
  fi
  [[ -n "${conf}" ]] || return 0
  rm -rf -- "${tree}"
  mkdir -p -- "${tree}/nftables.d"
  if [[ -d "${FIREWALL_DIR}" ]]; then
    find "${FIREWALL_DIR}" -maxdepth 1 -type f \( -name '*.rules' -o -name '*.nft' \) -exec cp -- {} "${tree}/nftables.d/" \;
  fi
  find "${new}" -maxdepth 1 -type f \( -name '*.rules' -o -name '*.nft' \) -exec cp -- {} "${tree}/nftables.d/" \;
  sed "s|\"${FIREWALL_DIR}/|\"${tree}/nftables.d/|g" -- "${conf}" >"${tree}/nftables.conf"
  nft -c -f "${tree}/nftables.conf" 2>"${TMP_DIR}/nft.err" || nft_refused
}

nft_refused() {
  die 1 "the new firewall rules do not load, nothing of the firewall was changed: $(sed -e "s|${TMP_DIR}/firewall-check/nftables.d|${FIREWALL_DIR}|g" \
    -e "s|${TMP_DIR}/firewall-check/nftables.conf|${NFTABLES_CONF}|g" "${TMP_DIR}/nft.err" | head -n 2 | tr '\n' ' ')"
}

firewall_apply_nftables() {
  local new="${TMP_DIR}/firewall" entry name proto ports from files_changed=false
  local -a names=() tables=()
  rm -rf -- "${new}"
  mkdir -p -- "${new}"
  for entry in "${FIREWALL_OPENINGS[@]}"; do
    read -r name proto ports from <<<"${entry}"
    names+=("${name}")
    nft_opening_files "${new}" "${name}" "${proto}" "${ports}" "${from}"
    [[ "${from}" == any ]] || tables+=("${name}")
  done
  if [[ "${FIREWALL_BASELINE}" == true ]]; then
    # In this shell, not a pipeline: a render that fails stops the run here, before any change.
    render nftables.conf.tmpl "SSH_PORTS=${SSH_KEEP_PORTS//,/, }" >"${new}/nftables.conf"
  fi
  nft_check "${new}"

  # Written: the previous files are kept, to be put back if the new ones do not load.
  local saved="${TMP_DIR}/firewall-saved"
  local -a files=("${NFTABLES_CONF}")
  for name in "${names[@]}"; do
    files+=("${FIREWALL_DIR}/${name}.rules" "${FIREWALL_DIR}/${name}.nft")
  done
  rm -rf -- "${saved}"
  firewall_save_files "${saved}" "${files[@]}"
  if [[ "${FIREWALL_BASELINE}" == true ]]; then
    nft_write_baseline "${new}/nftables.conf" && files_changed=true
  fi
  for name in "${names[@]}"; do
    nft_write_opening "${new}" "${name}" && files_changed=true
  done
  if [[ "${FIREWALL_BASELINE}" == false && ${#tables[@]} -gt 0 ]]; then
    firewall_include_folder && files_changed=true
  fi
  if [[ "$(systemctl is-enabled nftables 2>/dev/null)" != enabled ]]; then
    changed "enable the firewall (nftables.service loads ${NFTABLES_CONF}) at boot"
    run systemctl enable --quiet nftables
  fi
  nft_load "${files_changed}" "${saved}" "${tables[@]}"
}

# The baseline's file. Returns: 0 when it changed (or would)
nft_write_baseline() {
  if [[ -f "${NFTABLES_CONF}" ]] && grep -qxF "        ${FIREWALL_OLD_BASELINE}" "${NFTABLES_CONF}"; then
    info "firewall: HTTP and HTTPS move from ${NFTABLES_CONF} to their own opening, ${FIREWALL_DIR}/web.rules (a host set up by an earlier tssr-kit: the same ports stay open)"
  fi
  if [[ -f "${NFTABLES_CONF}" && ! -f "${NFTABLES_CONF}.tssr-kit-orig" ]] && ! nft_is_baseline; then
    changed "keep the distribution's ${NFTABLES_CONF} as ${NFTABLES_CONF}.tssr-kit-orig"
    run cp -p -- "${NFTABLES_CONF}" "${NFTABLES_CONF}.tssr-kit-orig"
  fi
  put_file "${NFTABLES_CONF}" root root 0755 "the firewall rules" <"$1"
}

# One opening's files (a stale table of its name goes: the opening is now open to anyone).
# Arguments: the folder of the new files, the name. Returns: 0 when a file changed (or would)
nft_write_opening() {
  local new="$1" name="$2" changed_any=1
  if put_file "${FIREWALL_DIR}/${name}.rules" root root 0644 "the accept rules for table tssr_kit" \
    <"${new}/${name}.rules"; then
    changed_any=0
  fi
  if [[ -f "${new}/${name}.nft" ]]; then
    if put_file "${FIREWALL_DIR}/${name}.nft" root root 0644 "the firewall table tssr_${name}" <"${new}/${name}.nft"; then
      changed_any=0
    fi
  elif [[ -e "${FIREWALL_DIR}/${name}.nft" ]]; then
    changed "remove ${FIREWALL_DIR}/${name}.nft and its table tssr_${name} (${name} is open to anyone now)"
    run rm -f -- "${FIREWALL_DIR}/${name}.nft"
    ! nft list table inet "tssr_${name}" >/dev/null 2>&1 || run nft delete table inet "tssr_${name}"
    changed_any=0
  fi
  return "${changed_any}"
}

#######################################
# Load what changed: the baseline (nftables.service started, or /etc/nftables.conf loaded: it takes
# in every opening), else each opening's own table, then the baseline again when it is there (its
# input chain includes the .rules files when it is loaded). A load that fails puts the files back.
# Arguments: did a file change (true|false), the folder of the saved files, the openings with a table
#######################################
nft_load() {
  local files_changed="$1" saved="$2" name entry proto ports from
  shift 2
  local -a load=()        # what to load, in order: start, baseline, or a table's name
  if [[ "${FIREWALL_BASELINE}" == true ]]; then
    if ! systemctl is-active --quiet nftables; then
      changed "start the firewall (nftables.service loads ${NFTABLES_CONF})"
      load=(start)
    elif [[ "${files_changed}" == true ]] || ! nft list table inet tssr_kit >/dev/null 2>&1; then
      changed "load the firewall rules"
      load=(baseline)
    fi
  else
    for name in "$@"; do
      [[ "${files_changed}" == true ]] || ! nft list table inet "tssr_${name}" >/dev/null 2>&1 || continue
      for entry in "${FIREWALL_OPENINGS[@]}"; do
        [[ "${entry}" == "${name} "* ]] || continue
        read -r _ proto ports from <<<"${entry}"
        changed "load the firewall table tssr_${name} ($(opening_words "${proto}" "${ports}" "${from}"))"
      done
      load+=("${name}")
    done
    if [[ "${files_changed}" == true ]] && nft list table inet tssr_kit >/dev/null 2>&1 && nft_is_baseline; then
      load+=(baseline)
    fi
  fi
  [[ "${DRY_RUN}" == false ]] || return 0
  for entry in "${load[@]}"; do
    case "${entry}" in
      start) systemctl start nftables 2>"${TMP_DIR}/nft.err" ;;
      baseline) nft -f "${NFTABLES_CONF}" 2>"${TMP_DIR}/nft.err" ;;
      *) nft -f "${FIREWALL_DIR}/${entry}.nft" 2>"${TMP_DIR}/nft.err" ;;
    esac || {
      firewall_restore_files "${saved}"
      die 1 "the firewall did not load ($(head -n 2 "${TMP_DIR}/nft.err" | tr '\n' ' ')): its previous files are back"
    }
  done
}

# Keep copies of files (or a note that they were absent) to put back when a load fails.
# Arguments: a private folder, the files
firewall_save_files() {
  local dir="$1" file i=0
  shift
  mkdir -p -- "${dir}"
  for file in "$@"; do
    i=$((i + 1))
    printf '%s\n' "${file}" >"${dir}/${i}.path"
    [[ ! -f "${file}" ]] || cp -p -- "${file}" "${dir}/${i}.copy"
  done
}

firewall_restore_files() {
  local dir="$1" note file
  for note in "${dir}"/*.path; do
    [[ -f "${note}" ]] || continue
    file="$(<"${note}")"
    if [[ -f "${note%.path}.copy" ]]; then
      cp -p -- "${note%.path}.copy" "${file}"
    else
      rm -f -- "${file}"
    fi
  done
}

# Without the baseline, /etc/nftables.conf (the distribution's) includes the openings' tables.
# Returns: 0 when it changed (or would)
firewall_include_folder() {
  if [[ -f "${NFTABLES_CONF}" ]] && grep -qxF "${FIREWALL_INCLUDE}" "${NFTABLES_CONF}"; then
    return 1
  fi
  if [[ -f "${NFTABLES_CONF}" && ! -f "${NFTABLES_CONF}.tssr-kit-orig" ]] && ! nft_is_baseline; then
    changed "keep the distribution's ${NFTABLES_CONF} as ${NFTABLES_CONF}.tssr-kit-orig"
    run cp -p -- "${NFTABLES_CONF}" "${NFTABLES_CONF}.tssr-kit-orig"
  fi
  local conf="${TMP_DIR}/nftables.conf"
  if [[ -f "${NFTABLES_CONF}" ]]; then
    cat -- "${NFTABLES_CONF}" >"${conf}"
  else
    printf '#!/usr/sbin/nft -f\n' >"${conf}"
  fi
  printf '# The tssr-kit tables that open one port to a few sources (scripts/bash/lib/firewall.sh).\n%s\n' \
    "${FIREWALL_INCLUDE}" >>"${conf}"
  put_file "${NFTABLES_CONF}" root root 0755 "the firewall configuration, with the tssr-kit tables" <"${conf}"
}

firewall_zone() {
  local interface
  interface="$(ip route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") {print $(i + 1); exit}}')"
  firewall-cmd --get-zone-of-interface="${interface}" 2>/dev/null || firewall-cmd --get-default-zone
}

# The canonical form firewall-cmd lists a rich rule in.
firewall_rich_rule() {
  local proto="$1" port="$2" source="$3" family=ipv4
  [[ "${source}" != *:* ]] || family=ipv6
  printf 'rule family="%s" source address="%s" port port="%s" protocol="%s" accept' \
    "${family}" "${source}" "${port}" "${proto}"
}

#######################################
# What the kit added to firewalld, so that it only ever removes that (never a service, port or rule
# of the administrator's): FIREWALL_STATE_DIR/firewalld-OWNER.added, "ZONE<TAB>ITEM" lines (root
# only). OWNER: baseline, or the opening's name (web, snmp, syslog).
#######################################
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
# firewalld
#######################################
# One item of a zone: "service:NAME", "port:PORT/PROTO", or a rich rule ("rule family=…", as
# firewall-cmd lists it). Arguments: query|add|remove, zone, item
firewalld_item() {
  case "$3" in
    rule\ *) firewall-cmd --permanent --zone="$2" "--$1-rich-rule=$3" ;;
    *) firewall-cmd --permanent --zone="$2" "--$1-${3%%:*}=${3#*:}" ;;
  esac
}

# The zone holds exactly what OWNER wants of what the kit added for it: each item added when missing
# (and recorded), each item recorded earlier and no longer wanted removed. Nothing else is touched.
# Arguments: owner, zone, the items wanted
firewalld_sync() {
  local owner="$1" zone="$2" item
  shift 2
  for item in "$@"; do
    firewalld_item query "${zone}" "${item}" >/dev/null && continue
    changed "firewalld: allow ${item/:/ }"
    firewalld_item add "${zone}" "${item}" >/dev/null
    firewalld_record "${owner}" add "${zone}" "${item}"
    FIREWALLD_RELOAD=true
  done
  while IFS= read -r item; do
    [[ -n "${item}" ]] || continue
    printf '%s\n' "$@" | grep -qxF -- "${item}" && continue
    changed "firewalld: stop allowing ${item/:/ } (added by an earlier run, no longer needed)"
    firewalld_item remove "${zone}" "${item}" >/dev/null || true
    firewalld_record "${owner}" remove "${zone}" "${item}"
    FIREWALLD_RELOAD=true
  done < <(firewalld_added "${owner}" "${zone}")
}

# What an earlier tssr-kit recorded under `web` for SSH (the service ssh, the SSH ports) is the
# baseline's now: its record moves (no rule changes).
firewalld_migrate_web_record() {
  local zone item moved=false
  while IFS=$'\t' read -r zone item; do
    [[ -n "${item}" && "${item}" != service:http && "${item}" != service:https ]] || continue
    firewalld_record baseline add "${zone}" "${item}"
    firewalld_record web remove "${zone}" "${item}"
    moved=true
  done < <(cat -- "$(firewalld_added_file web)" 2>/dev/null || true)
  [[ "${moved}" == false ]] || info "firewalld: the SSH items an earlier tssr-kit recorded for the web are the baseline's now (records moved, no rule changed)"
}

# The items of an opening from anyone: firewalld's service for the port, else the port.
# Arguments: proto, ports
firewalld_open_items() {
  local port
  for port in ${2//,/ }; do
    if [[ -n "${FIREWALLD_SERVICE[$1/${port}]:-}" ]]; then
      printf 'service:%s\n' "${FIREWALLD_SERVICE[$1/${port}]}"
    else
      printf 'port:%s/%s\n' "${port}" "$1"
    fi
  done
}

firewall_apply_firewalld() {
  local entry name proto ports from zone port source item
  local -a items
  ensure_service firewalld
  if [[ "${DRY_RUN}" == true ]]; then
    [[ "${FIREWALL_BASELINE}" == false ]] || changed "firewalld: allow ssh (ports ${SSH_KEEP_PORTS})"
    for entry in "${FIREWALL_OPENINGS[@]}"; do
      read -r name proto ports from <<<"${entry}"
      changed "firewalld: allow $(opening_words "${proto}" "${ports}" "${from}")"
    done
    return 0
  fi
  zone="$(firewall_zone)"
  FIREWALLD_RELOAD=false
  if [[ "${FIREWALL_BASELINE}" == true ]]; then
    firewalld_migrate_web_record
    items=(service:ssh)
    for port in ${SSH_KEEP_PORTS//,/ }; do
      [[ "${port}" == 22 ]] || items+=("port:${port}/tcp")
    done
    firewalld_sync baseline "${zone}" "${items[@]}"
  fi
  for entry in "${FIREWALL_OPENINGS[@]}"; do
    read -r name proto ports from <<<"${entry}"
    items=()
    if [[ "${from}" == any ]]; then
      mapfile -t items < <(firewalld_open_items "${proto}" "${ports}")
    else
      for port in ${ports//,/ }; do
        for source in ${from//,/ }; do
          items+=("$(firewall_rich_rule "${proto}" "${port}" "${source}")")
        done
      done
    fi
    firewalld_sync "${name}" "${zone}" "${items[@]}"
    [[ "${from}" == any ]] || firewalld_warn_others "${zone}" "${proto}" "${ports}" "${items[@]}"
  done
  if [[ "${FIREWALL_BASELINE}" == true ]]; then
    local -a others=()
    for item in $(firewall-cmd --permanent --zone="${zone}" --list-services) \
      $(firewall-cmd --permanent --zone="${zone}" --list-ports); do
      firewalld_added_anywhere "${zone}" "service:${item}" "port:${item}" || others+=("${item}")
    done
    ((${#others[@]} == 0)) || info "firewalld zone ${zone} also lets in ${others[*]}: not added by the kit, left alone"
  fi
  [[ "${FIREWALLD_RELOAD}" == false ]] || firewall-cmd --reload >/dev/null
}

# Did the kit add one of these items to the zone (for any owner)? Arguments: zone, items
firewalld_added_anywhere() {
  local zone="$1" file
  shift
  for file in "${FIREWALL_STATE_DIR}"/firewalld-*.added; do
    [[ -f "${file}" ]] || continue
    awk -F '\t' -v zone="${zone}" '$1 == zone { print $2 }' "${file}"
  done | grep -qxF -f <(printf '%s\n' "$@")
}

# A rule or setting the kit did not add that also opens PROTO/PORTS to more than the sources: named,
# left alone. Arguments: zone, proto, ports, the kit's rich rules
firewalld_warn_others() {
  local zone="$1" proto="$2" ports="$3" rule port
  shift 3
  for port in ${ports//,/ }; do
    while IFS= read -r rule; do
      [[ "${rule}" == *" port port=\"${port}\" protocol=\"${proto}\" accept" ]] || continue
      printf '%s\n' "$@" | grep -qxF -- "${rule}" && continue
      warn "firewalld zone ${zone}: a rule the kit did not add also opens ${proto}/${port}: ${rule} (left alone)"
    done < <(firewall-cmd --permanent --zone="${zone}" --list-rich-rules)
    if firewall-cmd --permanent --zone="${zone}" --query-port="${port}/${proto}" >/dev/null; then
      warn "firewalld zone ${zone}: ${port}/${proto} is open to everyone by a setting the kit did not add (left alone: remove it with firewall-cmd --permanent --zone=${zone} --remove-port=${port}/${proto})"
    fi
  done
}

