# shellcheck shell=bash
#
# firewall.sh - open one port to a few sources only, leaving every other rule alone: the SNMP agent
# to the monitoring server, the central log server to its clients. Sourced after common.sh, never run.
#
#   firewall_packages                      the firewall's packages for OS_FAMILY (add them to PACKAGES)
#   is_ip_or_cidr VALUE                    an IPv4/IPv6 address or network (10.0.0.5, 10.0.0.0/24, fd00::/64)
#   firewall_allow NAME PROTO PORT SOURCE...   PROTO/PORT reachable from SOURCE... only
#   firewall_remove NAME PROTO PORT        undo firewall_allow
#
# Debian (nftables): a table of its own, `inet tssr_NAME`, in /etc/tssr-kit/nftables.d/NAME.nft. Its
# input chain (policy accept) accepts PROTO/PORT from the sources and drops it from anyone else; nothing
# else is touched. /etc/nftables.conf includes the folder, so the table is loaded at boot
# (nftables.service enabled); it is loaded at once with `nft -f` (never by restarting nftables.service,
# whose distribution default begins with `flush ruleset` and would drop Docker's or libvirt's rules).
# A packet must be accepted by every base chain of its hook: when the deploy scripts' own table
# `inet tssr_kit` (policy drop, see templates/nftables.conf.tmpl) is there too, it includes
# NAME.rules, the same accept rules, from the same folder.
#
# RedHat (firewalld): one rich rule per source in the zone of the default route's interface. The rich
# rules the kit added are recorded (common.sh, firewalld_record: /var/lib/tssr-kit/firewall/
# firewalld-NAME.added), and only those
# are ever removed (when a source is dropped, or by firewall_remove): a rule, a port or a service the
# kit did not add is never touched; when one also opens PROTO/PORT, a warning says so.
#
# Never a lock-out: a TCP port that SSH logins use (common.sh's ssh_keep_ports: `sshd -T`, this
# session's connection, the ports the running sshd listens on) is never restricted; when sshd -T fails the run stops
# before any change. The scripts validate this first (exit 2); firewall_allow checks it again.
# Every change is checked first (`nft -c`), and a table that does not load puts the previous files back.
#
# The caller sets OS_FAMILY, TMP_DIR, DRY_RUN and uses common.sh (changed, run, put_file, die).

readonly FIREWALL_DIR=/etc/tssr-kit/nftables.d
readonly NFTABLES_CONF=/etc/nftables.conf
readonly FIREWALL_INCLUDE="include \"${FIREWALL_DIR}/*.nft\""

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
# Is PORT one of the TCP ports SSH logins use (see common.sh, ssh_keep_ports)?
# Returns: 0 yes, 1 no, 2 unknown (SSH_PORTS_ERROR says why)
#######################################
is_ssh_port() {
  ssh_keep_ports || return 2
  [[ ",${SSH_KEEP_PORTS}," == *",$1,"* ]]
}

#######################################
# Accept PROTO/PORT from the sources only.
# Arguments: name ([a-z0-9_]+), tcp|udp, port, source...
#######################################
firewall_allow() {
  local name="$1" proto="$2" port="$3" code=0
  shift 3
  (($# > 0)) || die 1 "firewall_allow ${name}: no source (a bug in ${SCRIPT_NAME})"
  if [[ "${proto}" == tcp ]]; then
    is_ssh_port "${port}" || code=$?
    case "${code}" in
      0) die 1 "firewall: tcp/${port} is a port SSH logins use (${SSH_KEEP_PORTS}): it is never restricted to a few sources, nothing of the firewall was changed" ;;
      2) die 1 "firewall: ${SSH_PORTS_ERROR}; nothing of the firewall was changed" ;;
    esac
  fi
  case "${OS_FAMILY}" in
    debian) firewall_allow_nftables "${name}" "${proto}" "${port}" "$@" ;;
    redhat) firewall_allow_firewalld "${name}" "${proto}" "${port}" "$@" ;;
    *) die 1 "firewall: unsupported OS family ${OS_FAMILY}" ;;
  esac
}

firewall_allow_nftables() {
  local name="$1" proto="$2" port="$3"
  shift 3
  local v4 v6 allow=() table="tssr_${name}" table_file rules_file line
  { read -r v4; read -r v6; } < <(firewall_split_sources "$@")
  [[ -z "${v4}" ]] || allow+=("ip saddr { ${v4//,/, } } ${proto} dport ${port} accept")
  [[ -z "${v6}" ]] || allow+=("ip6 saddr { ${v6//,/, } } ${proto} dport ${port} accept")
  table_file="${TMP_DIR}/${name}.nft"
  rules_file="${TMP_DIR}/${name}.rules"
  {
    printf '#!/usr/sbin/nft -f\n'
    printf '# Written by %s (tssr-kit, scripts/bash/lib/firewall.sh): %s/%s only from\n' "${SCRIPT_NAME}" "${proto}" "${port}"
    printf '# %s. Every other packet is left to the other tables. Loaded at boot through %s.\n' "${*}" "${NFTABLES_CONF}"
    printf 'table inet %s\ndelete table inet %s\n\ntable inet %s {\n' "${table}" "${table}" "${table}"
    printf '    chain input {\n        type filter hook input priority filter - 5; policy accept;\n'
    printf '        iif "lo" accept\n'
    for line in "${allow[@]}"; do
      printf '        %s\n' "${line}"
    done
    printf '        %s dport %s drop\n    }\n}\n' "${proto}" "${port}"
  } >"${table_file}"
  {
    printf '# Written by %s (tssr-kit): included in the input chain of table inet tssr_kit.\n' "${SCRIPT_NAME}"
    printf '%s\n' "${allow[@]}"
  } >"${rules_file}"
  if command -v nft >/dev/null && ! nft -c -f "${table_file}" 2>"${TMP_DIR}/nft.err"; then
    die 1 "the new firewall rules do not load, nothing of the firewall was changed: $(head -n 2 "${TMP_DIR}/nft.err" | tr '\n' ' ')"
  fi
  local file_changed=false saved="${TMP_DIR}/firewall-saved"
  firewall_save_files "${saved}" "${FIREWALL_DIR}/${name}.rules" "${FIREWALL_DIR}/${name}.nft"
  put_file "${FIREWALL_DIR}/${name}.rules" root root 0644 "the accept rules for table tssr_kit" <"${rules_file}" || true
  if put_file "${FIREWALL_DIR}/${name}.nft" root root 0644 "the firewall table ${table}" <"${table_file}"; then
    file_changed=true
  fi
  firewall_include_folder
  if [[ "$(systemctl is-enabled nftables 2>/dev/null)" != enabled ]]; then
    changed "enable the firewall (nftables.service loads ${NFTABLES_CONF}) at boot"
    run systemctl enable --quiet nftables
  fi
  if [[ "${file_changed}" == true ]] || ! nft list table inet "${table}" >/dev/null 2>&1; then
    changed "load the firewall table ${table} (${proto}/${port} from ${*} only)"
    [[ "${DRY_RUN}" == false ]] || return 0
    # The deploy scripts' table includes the .rules files when it is loaded: reload it too.
    if ! nft -f "${FIREWALL_DIR}/${name}.nft" 2>"${TMP_DIR}/nft.err" \
      || { nft list table inet tssr_kit >/dev/null 2>&1 && grep -q '^table inet tssr_kit' "${NFTABLES_CONF}" \
        && ! nft -f "${NFTABLES_CONF}" 2>"${TMP_DIR}/nft.err"; }; then
      firewall_restore_files "${saved}"
      die 1 "the firewall table ${table} did not load, its previous files are back: $(head -n 2 "${TMP_DIR}/nft.err" | tr '\n' ' ')"
    fi
  fi
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

# /etc/nftables.conf (the distribution's, or the deploy scripts') includes the folder's tables.
firewall_include_folder() {
  if [[ -f "${NFTABLES_CONF}" ]] && grep -qxF "${FIREWALL_INCLUDE}" "${NFTABLES_CONF}"; then
    return 0
  fi
  if [[ -f "${NFTABLES_CONF}" && ! -f "${NFTABLES_CONF}.tssr-kit-orig" ]] \
    && ! grep -q '^table inet tssr_kit' "${NFTABLES_CONF}"; then
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
  put_file "${NFTABLES_CONF}" root root 0755 "the firewall configuration, with the tssr-kit tables" <"${conf}" || true
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

firewall_allow_firewalld() {
  local name="$1" proto="$2" port="$3"
  shift 3
  ensure_service firewalld
  [[ "${DRY_RUN}" == false ]] || { changed "firewalld: allow ${proto}/${port} from ${*} only"; return 0; }
  local zone rule source reload=false wanted=()
  zone="$(firewall_zone)"
  for source in "$@"; do
    wanted+=("$(firewall_rich_rule "${proto}" "${port}" "${source}")")
  done
  for rule in "${wanted[@]}"; do
    if ! firewall-cmd --permanent --zone="${zone}" --query-rich-rule="${rule}" >/dev/null; then
      changed "firewalld: ${rule}"
      firewall-cmd --permanent --zone="${zone}" --add-rich-rule="${rule}" >/dev/null
      firewalld_record "${name}" add "${zone}" "${rule}"
      reload=true
    fi
  done
  # Only what the kit added and no longer wants goes; anything else is the administrator's.
  while IFS= read -r rule; do
    [[ -n "${rule}" ]] || continue
    printf '%s\n' "${wanted[@]}" | grep -qxF -- "${rule}" && continue
    changed "firewalld: remove ${rule} (added by an earlier run, no longer asked for)"
    firewall-cmd --permanent --zone="${zone}" --remove-rich-rule="${rule}" >/dev/null || true
    firewalld_record "${name}" remove "${zone}" "${rule}"
    reload=true
  done < <(firewalld_added "${name}" "${zone}")
  while IFS= read -r rule; do
    [[ "${rule}" == *" port port=\"${port}\" protocol=\"${proto}\" accept" ]] || continue
    printf '%s\n' "${wanted[@]}" | grep -qxF -- "${rule}" && continue
    warn "firewalld zone ${zone}: a rule the kit did not add also opens ${proto}/${port}: ${rule} (left alone)"
  done < <(firewall-cmd --permanent --zone="${zone}" --list-rich-rules)
  if firewall-cmd --permanent --zone="${zone}" --query-port="${port}/${proto}" >/dev/null; then
    warn "firewalld zone ${zone}: ${port}/${proto} is open to everyone by a setting the kit did not add (left alone: remove it with firewall-cmd --permanent --zone=${zone} --remove-port=${port}/${proto})"
  fi
  [[ "${reload}" == false ]] || firewall-cmd --reload >/dev/null
}

#######################################
# Undo firewall_allow.
# Arguments: name, tcp|udp, port
#######################################
firewall_remove() {
  local name="$1" proto="$2" port="$3" file
  if [[ "${OS_FAMILY}" == redhat ]]; then
    command -v firewall-cmd >/dev/null || return 0
    local zone rule
    zone="$(firewall_zone)"
    while IFS= read -r rule; do
      [[ "${rule}" == *" port port=\"${port}\" protocol=\"${proto}\" accept" ]] || continue
      changed "firewalld: remove ${rule}"
      run firewall-cmd --permanent --zone="${zone}" --remove-rich-rule="${rule}" >/dev/null || true
      [[ "${DRY_RUN}" == true ]] || firewalld_record "${name}" remove "${zone}" "${rule}"
    done < <(firewalld_added "${name}" "${zone}")
    run firewall-cmd --reload >/dev/null
    return 0
  fi
  if nft list table inet "tssr_${name}" >/dev/null 2>&1; then
    changed "unload the firewall table tssr_${name}"
    run nft delete table inet "tssr_${name}"
  fi
  for file in "${FIREWALL_DIR}/${name}.nft" "${FIREWALL_DIR}/${name}.rules"; do
    if [[ -e "${file}" ]]; then
      changed "remove ${file}"
      run rm -f -- "${file}"
    fi
  done
}
