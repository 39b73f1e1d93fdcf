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
# RedHat (firewalld): one rich rule per source in the zone of the default route's interface, stale rich
# rules for PROTO/PORT removed, and the port never opened to everyone.
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
# Arguments: a value
# Returns: 0 when it is an IPv4 or IPv6 address, with or without a /prefix
#######################################
is_ip_or_cidr() {
  local value="$1" address prefix="" octet
  address="${value%%/*}"
  if [[ "${value}" == */* ]]; then
    prefix="${value#*/}"
    [[ "${prefix}" =~ ^[0-9]{1,3}$ ]] || return 1
  fi
  if [[ "${address}" =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]]; then
    for octet in ${address//./ }; do
      ((10#${octet} <= 255)) || return 1
    done
    [[ -z "${prefix}" ]] || ((10#${prefix} <= 32))
    return
  fi
  # IPv6: hexadecimal groups and colons (an IPv4 tail allowed), at most one "::", 2 to 8 groups.
  [[ "${address}" =~ ^[0-9A-Fa-f:.]+$ && "${address}" == *:*:* ]] || return 1
  local rest="${address/::/}"
  [[ "${rest}" != *::* && "${address}" != *:::* ]] || return 1
  [[ -z "${prefix}" ]] || ((10#${prefix} <= 128))
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
# Accept PROTO/PORT from the sources only.
# Arguments: name ([a-z0-9_]+), tcp|udp, port, source...
#######################################
firewall_allow() {
  local name="$1" proto="$2" port="$3"
  shift 3
  (($# > 0)) || die 1 "firewall_allow ${name}: no source (a bug in ${SCRIPT_NAME})"
  case "${OS_FAMILY}" in
    debian) firewall_allow_nftables "${name}" "${proto}" "${port}" "$@" ;;
    redhat) firewall_allow_firewalld "${proto}" "${port}" "$@" ;;
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
    die 1 "the new firewall rules do not load, nothing was changed: $(head -n 2 "${TMP_DIR}/nft.err" | tr '\n' ' ')"
  fi
  local file_changed=false
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
    run nft -f "${FIREWALL_DIR}/${name}.nft"
    # The deploy scripts' table includes the .rules files when it is loaded: reload it too.
    if nft list table inet tssr_kit >/dev/null 2>&1 && grep -q '^table inet tssr_kit' "${NFTABLES_CONF}"; then
      run nft -f "${NFTABLES_CONF}"
    fi
  fi
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
  local proto="$1" port="$2"
  shift 2
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
      reload=true
    fi
  done
  while IFS= read -r rule; do
    [[ "${rule}" == *" port port=\"${port}\" protocol=\"${proto}\" accept" ]] || continue
    printf '%s\n' "${wanted[@]}" | grep -qxF -- "${rule}" && continue
    changed "firewalld: remove ${rule}"
    firewall-cmd --permanent --zone="${zone}" --remove-rich-rule="${rule}" >/dev/null
    reload=true
  done < <(firewall-cmd --permanent --zone="${zone}" --list-rich-rules)
  if firewall-cmd --permanent --zone="${zone}" --query-port="${port}/${proto}" >/dev/null; then
    changed "firewalld: stop opening ${port}/${proto} to everyone"
    firewall-cmd --permanent --zone="${zone}" --remove-port="${port}/${proto}" >/dev/null
    reload=true
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
      run firewall-cmd --permanent --zone="${zone}" --remove-rich-rule="${rule}" >/dev/null
    done < <(firewall-cmd --permanent --zone="${zone}" --list-rich-rules 2>/dev/null)
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
