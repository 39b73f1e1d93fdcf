# shellcheck shell=bash
#
# web.sh - the web front shared by the deploy scripts of tssr-kit: TLS certificate, Apache (modules,
# server-wide hardening, one HTTPS vhost per domain, checked by apachectl -t and put back when the
# check fails), what it asks of the firewall (the baseline and HTTP, HTTPS: lib/firewall.sh), the
# HTTPS health check and the `current` link of a releases folder.
#
# Sourced after common.sh and firewall.sh, never run. Besides common.sh's, the script sets:
#   DOMAIN CERT_SRC KEY_SRC CERT_FILE KEY_FILE TLS_DIR   the certificate (given, or self-signed)
#   APACHE_SERVICE APACHE_CONF_DIR SECURITY_CONF VHOST_FILE LOG_DIR APACHE_MODULES
#   APACHE_BACKUP="" TLS_BACKUP=""                         run state
#   HEALTH_PATH HEALTH_TRIES HEALTH_DELAY                  the health check
# and defines render_vhost (prints the vhost: the shared vhost.conf.tmpl around its own site block).
#
# A run's changes to the web front stay undoable until the script says the release answers
# (web_commit): web_undo puts the Apache configuration and the certificate pair back as they were
# before the run, and web_cleanup does so for a run that stops before its commit. The settings files
# of the service (pool, unit, environment, context...) are kept the same way: settings_keep before
# each write, settings_put_back to undo.

readonly CERT_DAYS=825
readonly CERT_RENEW_BEFORE=2592000     # seconds (30 days): a certificate closer to its end is replaced

APACHE_UNDO=""              # the Apache configuration before this run changed it (a tar), until web_commit
APACHE_UNDO_RESTART=false   # this run changed Apache's modules: a restart puts the previous set back
TLS_UNDO=""                 # the certificate pair this run replaced (a folder), until web_commit
SETTINGS_BACKUP=""          # copies of the settings files this run wrote, as they were (a folder)

# Apache's names on the family (OS_FAMILY), for the site of NAME: APACHE_SERVICE, APACHE_CONF_DIR,
# VHOST_FILE, SECURITY_CONF, LOG_DIR. Called by the deploy scripts' load_family.
# shellcheck disable=SC2034  # LOG_DIR is read by the deploy scripts (their vhost's logs)
apache_family() {
  if [[ "${OS_FAMILY}" == debian ]]; then
    APACHE_SERVICE=apache2
    APACHE_CONF_DIR=/etc/apache2
    VHOST_FILE="/etc/apache2/sites-available/tssr-${NAME}.conf"
    SECURITY_CONF=/etc/apache2/conf-available/tssr-kit-security.conf
    LOG_DIR=/var/log/apache2
  else
    APACHE_SERVICE=httpd
    APACHE_CONF_DIR=/etc/httpd
    VHOST_FILE="/etc/httpd/conf.d/tssr-${NAME}.conf"
    SECURITY_CONF=/etc/httpd/conf.d/tssr-kit-security.conf
    LOG_DIR=/var/log/httpd
  fi
}

# What a rollback needs later (the domain, the health path...): STATE_DIR/KEY, root only, written
# when it differs; not a change of the system's behaviour, so not counted. Arguments: key, value
remember() {
  [[ -f "${STATE_DIR}/$1" && "$(<"${STATE_DIR}/$1")" == "$2" ]] && return 0
  printf '%s\n' "$2" >"${STATE_DIR}/$1"
  chmod 0600 -- "${STATE_DIR}/$1"
}

# The options both deploy scripts take: --cert and --key together; --templates a folder.
validate_web_options() {
  if [[ -n "${CERT_SRC}" && -z "${KEY_SRC}" ]] || [[ -z "${CERT_SRC}" && -n "${KEY_SRC}" ]]; then
    add_error "--cert and --key go together: give both, or neither for a self-signed certificate"
  fi
  if [[ ! -d "${TEMPLATES}" ]]; then
    add_error "--templates: '${TEMPLATES}' is not a folder (the templates are shipped beside the script)"
  fi
}

#######################################
# TLS certificate
#######################################
# PEM certificate and key: readable, parseable, a pair, valid now, for the domain.
validate_tls() {
  [[ -n "${CERT_SRC}" && -n "${KEY_SRC}" ]] || return 0
  local f
  for f in "${CERT_SRC}" "${KEY_SRC}"; do
    if [[ ! -f "${f}" || ! -r "${f}" ]]; then
      add_error "--cert/--key: '${f}' is not a readable file"
      return 0
    fi
  done
  if ! command -v openssl >/dev/null; then
    add_error "--cert: openssl is needed to check the certificate: install it first"
    return 0
  fi
  if ! openssl x509 -in "${CERT_SRC}" -noout 2>/dev/null; then
    add_error "--cert: '${CERT_SRC}' is not a PEM certificate"
    return 0
  fi
  if ! openssl pkey -in "${KEY_SRC}" -passin pass: -noout 2>/dev/null; then
    add_error "--key: '${KEY_SRC}' is not an unencrypted PEM private key"
    return 0
  fi
  if [[ "$(openssl x509 -in "${CERT_SRC}" -noout -pubkey 2>/dev/null)" \
    != "$(openssl pkey -in "${KEY_SRC}" -passin pass: -pubout 2>/dev/null)" ]]; then
    add_error "--cert/--key: the key '${KEY_SRC}' is not the key of the certificate '${CERT_SRC}'"
  fi
  if ! openssl x509 -in "${CERT_SRC}" -noout -checkend 0 >/dev/null 2>&1; then
    add_error "--cert: '${CERT_SRC}' has expired"
  fi
  if [[ -n "${DOMAIN}" ]] \
    && ! openssl x509 -in "${CERT_SRC}" -noout -checkhost "${DOMAIN}" 2>/dev/null | grep -q ' does match '; then
    add_error "--cert: '${CERT_SRC}' is not valid for ${DOMAIN} (its names: see openssl x509 -noout -ext subjectAltName)"
  fi
}

step_tls() {
  ensure_dir "${TLS_DIR}" root root 0755
  ensure_dir "${TLS_DIR}/private" root root 0700
  if [[ -n "${CERT_SRC}" ]]; then
    if ! cmp -s -- "${CERT_SRC}" "${CERT_FILE}" || ! cmp -s -- "${KEY_SRC}" "${KEY_FILE}"; then
      backup_tls
    fi
    put_file "${CERT_FILE}" root root 0644 "the certificate of ${DOMAIN}" <"${CERT_SRC}" || true
    put_file "${KEY_FILE}" root root 0600 "the private key of ${DOMAIN}" <"${KEY_SRC}" || true
    return 0
  fi
  if [[ -f "${CERT_FILE}" && -f "${KEY_FILE}" ]] \
    && openssl x509 -in "${CERT_FILE}" -noout -checkend "${CERT_RENEW_BEFORE}" >/dev/null 2>&1 \
    && openssl x509 -in "${CERT_FILE}" -noout -checkhost "${DOMAIN}" 2>/dev/null | grep -q ' does match '; then
    return 0
  fi
  changed "generate a self-signed certificate for ${DOMAIN} (ECDSA P-256, ${CERT_DAYS} days)"
  [[ "${DRY_RUN}" == false ]] || return 0
  backup_tls
  (
    umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "${CERT_DAYS}" \
      -subj "/CN=${DOMAIN}" -addext "subjectAltName=DNS:${DOMAIN}" \
      -keyout "${TMP_DIR}/self.key" -out "${TMP_DIR}/self.crt" 2>/dev/null
  )
  install -o root -g root -m 0600 -- "${TMP_DIR}/self.key" "${KEY_FILE}"
  install -o root -g root -m 0644 -- "${TMP_DIR}/self.crt" "${CERT_FILE}"
}

# Keep the pair being replaced until Apache's check has passed (restore_apache_config puts it back),
# then until the run is committed (web_undo puts it back).
backup_tls() {
  [[ "${DRY_RUN}" == false && -z "${TLS_BACKUP}" && -z "${TLS_UNDO}" ]] || return 0
  TLS_BACKUP="${TMP_DIR}/tls-backup"
  mkdir -m 0700 -- "${TLS_BACKUP}"
  [[ ! -f "${CERT_FILE}" ]] || cp -p -- "${CERT_FILE}" "${TLS_BACKUP}/crt"
  [[ ! -f "${KEY_FILE}" ]] || cp -p -- "${KEY_FILE}" "${TLS_BACKUP}/key"
}

# Put a kept pair back (a file that did not exist is removed).
# Arguments: the folder backup_tls made (nothing to do when empty)
restore_tls() {
  local backup="$1"
  [[ -n "${backup}" ]] || return 0
  if [[ -f "${backup}/crt" ]]; then cp -p -- "${backup}/crt" "${CERT_FILE}"; else rm -f -- "${CERT_FILE}"; fi
  if [[ -f "${backup}/key" ]]; then cp -p -- "${backup}/key" "${KEY_FILE}"; else rm -f -- "${KEY_FILE}"; fi
}

#######################################
# Apache: modules, hardening, vhost; checked by apachectl -t, put back when the check fails.
#######################################
backup_apache_config() {
  # Once checked and live, the run's first backup is what web_undo goes back to: no second one.
  [[ -z "${APACHE_BACKUP}" && -z "${APACHE_UNDO}" ]] || return 0
  [[ "${DRY_RUN}" == false ]] || return 0
  APACHE_BACKUP="${TMP_DIR}/apache-config.tar"
  tar -C "$(dirname -- "${APACHE_CONF_DIR}")" -cpf "${APACHE_BACKUP}" "$(basename -- "${APACHE_CONF_DIR}")"
}

# The configuration not yet checked goes back (Apache was not reloaded with it).
restore_apache_config() {
  local backup="${APACHE_BACKUP}" tls="${TLS_BACKUP}"
  APACHE_BACKUP=""
  TLS_BACKUP=""
  restore_tls "${tls}"
  [[ -n "${backup}" ]] || return 0
  extract_apache_config "${backup}"
}

# Arguments: a tar made by backup_apache_config
extract_apache_config() {
  rm -rf -- "${APACHE_CONF_DIR:?}"
  tar -C "$(dirname -- "${APACHE_CONF_DIR}")" -xpf "$1"
}

#######################################
# Undo what this run changed in the web front (after Apache's check passed and Apache was reloaded):
# the Apache configuration and the certificate pair as they were before the run, Apache reloaded
# (restarted when the run had changed its modules). Called when the release does not answer, and by
# web_cleanup for a run that stops before web_commit.
#######################################
web_undo() {
  local apache="${APACHE_UNDO}" tls="${TLS_UNDO}"
  APACHE_UNDO=""
  TLS_UNDO=""
  [[ -n "${apache}" || -n "${tls}" ]] || return 0
  warn "putting back the Apache configuration and the certificate as they were before this run"
  restore_tls "${tls}"
  [[ -z "${apache}" ]] || extract_apache_config "${apache}"
  if ! apachectl -t >/dev/null 2>&1; then
    warn "the previous Apache configuration does not pass apachectl -t either: Apache was not reloaded"
    return 0
  fi
  if [[ "${APACHE_UNDO_RESTART}" == true ]]; then
    systemctl restart "${APACHE_SERVICE}" || warn "Apache did not restart with its previous configuration"
  else
    systemctl reload "${APACHE_SERVICE}" || warn "Apache did not reload its previous configuration"
  fi
  APACHE_UNDO_RESTART=false
}

# The release answers: this run's web front and settings files stay.
web_commit() {
  APACHE_UNDO=""
  TLS_UNDO=""
  APACHE_UNDO_RESTART=false
  if [[ -n "${SETTINGS_BACKUP}" && -d "${SETTINGS_BACKUP}" ]]; then
    rm -rf -- "${SETTINGS_BACKUP}"
  fi
  SETTINGS_BACKUP=""
}

# What cleanup does with the web front when the script stops half way: a configuration not yet
# checked (or the certificate pair alone) goes back; one already live is undone (web_undo).
web_cleanup() {
  if [[ -n "${APACHE_BACKUP}" || -n "${TLS_BACKUP}" ]]; then
    restore_apache_config
  fi
  web_undo
}

#######################################
# Settings files (the service's own: PHP-FPM pool, unit, environment, Tomcat context...): a copy of
# each as it was before this run's first write to it, to put back when the run is undone.
#######################################
# Arguments: the file about to be written
settings_keep() {
  local path="$1" key
  [[ "${DRY_RUN}" == false ]] || return 0
  if [[ -z "${SETTINGS_BACKUP}" ]]; then
    SETTINGS_BACKUP="${TMP_DIR}/settings-backup"
    mkdir -m 0700 -- "${SETTINGS_BACKUP}"
  fi
  key="$(printf '%s' "${path}" | tr '/' '%')"
  [[ ! -e "${SETTINGS_BACKUP}/${key}" && ! -e "${SETTINGS_BACKUP}/${key}.absent" ]] || return 0
  if [[ -f "${path}" ]]; then
    cp -p -- "${path}" "${SETTINGS_BACKUP}/${key}"
  else
    : >"${SETTINGS_BACKUP}/${key}.absent"
  fi
}

# Put every kept settings file back (a file that did not exist is removed). Returns 1 when there was
# nothing to put back.
settings_put_back() {
  local file key path any=1
  [[ -n "${SETTINGS_BACKUP}" && -d "${SETTINGS_BACKUP}" ]] || return 1
  for file in "${SETTINGS_BACKUP}"/*; do
    [[ -e "${file}" ]] || continue
    key="$(basename -- "${file}")"
    path="$(printf '%s' "${key%.absent}" | tr '%' '/')"
    if [[ "${key}" == *.absent ]]; then
      rm -f -- "${path}"
    else
      cp -p -- "${file}" "${path}"
    fi
    rm -f -- "${file}"
    any=0
  done
  return "${any}"
}

# Write a settings file (content on stdin), keeping its previous content for settings_put_back.
# Arguments and return: put_file's
put_setting_file() {
  local path="$1" new
  new="$(mktemp -p "${TMP_DIR}")"
  cat >"${new}"
  refuse_empty "${new}" "${5} (${path})"
  if [[ -f "${path}" ]] && cmp -s -- "${new}" "${path}" \
    && [[ "$(stat -c '%U:%G %a' -- "${path}")" == "${2}:${3} ${4#0}" ]]; then
    rm -f -- "${new}"
    return 1
  fi
  settings_keep "${path}"
  if put_file "$@" <"${new}"; then
    rm -f -- "${new}"
    return 0
  fi
  rm -f -- "${new}"
  return 1
}

# The domain must not be another site's: two vhosts with one ServerName (or a ServerAlias of the
# other), and Apache serves only the first. Called after load_family (VHOST_FILE, APACHE_CONF_DIR).
validate_vhost_domain() {
  [[ -n "${DOMAIN}" && -d "${APACHE_CONF_DIR}" ]] || return 0
  local other ours
  ours="$(readlink -f -- "${VHOST_FILE}" || true)"
  other="$(find "${APACHE_CONF_DIR}/sites-enabled" "${APACHE_CONF_DIR}/conf.d" -maxdepth 1 -name '*.conf' \
    2>/dev/null | sort | while IFS= read -r file; do
      [[ "$(readlink -f -- "${file}")" != "${ours}" ]] || continue
      awk -v d="${DOMAIN}" '
        tolower($1) == "servername" || tolower($1) == "serveralias" {
          for (i = 2; i <= NF; i++) {
            name = tolower($i)
            sub(/:[0-9]+$/, "", name)
            if (name == d) found = 1
          }
        }
        END {exit !found}' "${file}" && printf '%s\n' "${file}"
    done | head -n 1 || true)"
  if [[ -n "${other}" ]]; then
    add_error "--domain: ${DOMAIN} is already the name of another site on this host (${other}): give this application its own --domain"
  fi
}

# The vhost file of NAME is this script's, or absent: deploy-lamp and deploy-java both write
# tssr-NAME.conf, and neither may overwrite the other's (nor a file someone else put there). The
# first line of the file says which script wrote it, for which name. Called after load_family.
validate_vhost_owner() {
  [[ -n "${NAME}" && -n "${VHOST_FILE}" ]] || return 0
  [[ -e "${VHOST_FILE}" || -L "${VHOST_FILE}" ]] || return 0
  local first=""
  if [[ -f "${VHOST_FILE}" && ! -L "${VHOST_FILE}" ]]; then
    IFS= read -r first <"${VHOST_FILE}" || true
  fi
  if [[ "${first}" != "# ${NAME}: written by ${SCRIPT_NAME}.sh (tssr-kit) "* ]]; then
    local writer="not by a tssr-kit deploy script"
    case "${first}" in
      *"written by deploy-lamp.sh (tssr-kit)"*) writer="by deploy-lamp.sh, for a PHP application" ;;
      *"written by deploy-java.sh (tssr-kit)"*) writer="by deploy-java.sh, for a Java application" ;;
    esac
    add_error "--name: ${VHOST_FILE} exists and was written ${writer}: ${SCRIPT_NAME}.sh never overwrites another site's vhost, choose another name"
  fi
}

#######################################
# The system account that runs the application (app-NAME) is free, or this application's: the kit
# writes its uid in a root-only record when it creates it. An account made before the kit kept that
# record is taken as the kit's only when its comment is the kit's, its uid a system one and its
# shell a no-login one (a human account, whatever its comment, is never taken over). A group of the
# account's name without the account is refused too (useradd --user-group would fail half way).
# Arguments: the account, the comment the kit gives it, the record file
#######################################
validate_app_account() {
  local account="$1" comment="$2" record="$3" entry uid gecos shell system_max
  entry="$(getent passwd "${account}" || true)"
  if [[ -z "${entry}" ]]; then
    if getent group "${account}" >/dev/null; then
      add_error "--name: the group ${account} exists on this host without the account ${account}: the application's account would not be its own, choose another name"
    fi
    return 0
  fi
  IFS=: read -r _ _ uid _ gecos _ shell <<<"${entry}"
  if [[ -f "${record}" ]]; then
    [[ "$(<"${record}")" != "${uid}" ]] || return 0
  else
    system_max="$(awk '$1 == "SYS_UID_MAX" {print $2} $1 == "UID_MIN" {min = $2 - 1} END {if (min) print min}' \
      /etc/login.defs 2>/dev/null | head -n 1 || true)"
    [[ "${system_max}" =~ ^[0-9]+$ ]] || system_max=999
    if [[ "${gecos}" == "${comment}" && "${uid}" =~ ^[0-9]+$ ]] && ((uid > 0 && uid <= system_max)) \
      && [[ "${shell}" == */nologin || "${shell}" == */false ]]; then
      return 0
    fi
  fi
  add_error "--name: the account ${account} exists on this host and was not created by ${SCRIPT_NAME}.sh for ${NAME}: choose another name"
}

# Record the uid of the application's account (see validate_app_account); not a change of the
# system's behaviour, so not counted. Arguments: the account, the record file
remember_app_account() {
  local uid
  [[ "${DRY_RUN}" == false ]] || return 0
  uid="$(id -u -- "$1" 2>/dev/null || true)"
  [[ -n "${uid}" ]] || return 0
  if [[ ! -f "$2" || "$(<"$2")" != "${uid}" ]]; then
    (umask 077 && printf '%s\n' "${uid}" >"$2")
  fi
}

# Debian: is a module, conf or site enabled? (the links a2enmod, a2enconf and a2ensite make;
# a2query answers the same, at the cost of a Perl start-up per question)
debian_enabled() {
  local kind="$1" name="$2"
  case "${kind}" in
    mod) [[ -e "${APACHE_CONF_DIR}/mods-enabled/${name}.load" ]] ;;
    conf) [[ -e "${APACHE_CONF_DIR}/conf-enabled/${name}.conf" ]] ;;
    site) [[ -e "${APACHE_CONF_DIR}/sites-enabled/${name}.conf" ]] ;;
  esac
}

put_file_apache() {
  local path="$1" what="$2" new
  new="$(mktemp -p "${TMP_DIR}")"
  cat >"${new}"
  refuse_empty "${new}" "${what} (${path})"
  if [[ -f "${path}" ]] && cmp -s -- "${new}" "${path}"; then
    rm -f -- "${new}"
    return 1
  fi
  backup_apache_config
  put_file "${path}" root root 0644 "${what}" <"${new}"
  rm -f -- "${new}"
}

#######################################
# The Apache front of the site: mpm_event and APACHE_MODULES (Debian), the hardening conf, the vhost
# of DOMAIN (render_vhost); the whole configuration checked before Apache is reloaded.
# Arguments: the site's name (sites-available/tssr-NAME.conf on Debian)
#######################################
step_apache() {
  local site="tssr-$1" restart=false reload=false module
  if [[ "${OS_FAMILY}" == debian && "${DRY_RUN}" == true ]] && ! command -v a2query >/dev/null; then
    changed "configure Apache: modules ${APACHE_MODULES[*]}, hardening, the vhost of ${DOMAIN}"
    return 0
  fi
  if [[ "${OS_FAMILY}" == debian ]]; then
    if ! debian_enabled mod mpm_event; then
      changed "Apache: use mpm_event (no module that needs prefork runs here)"
      backup_apache_config
      run a2dismod -q -f mpm_prefork mpm_worker >/dev/null 2>&1 || true
      run a2enmod -q mpm_event >/dev/null
      restart=true
    fi
    for module in "${APACHE_MODULES[@]}"; do
      ! debian_enabled mod "${module}" || continue
      changed "Apache: enable the module ${module}"
      backup_apache_config
      run a2enmod -q "${module}" >/dev/null
      restart=true
    done
  fi
  if [[ -n "${TLS_BACKUP}" ]]; then
    # A new certificate pair: Apache reads it at a reload, after the check.
    backup_apache_config
    reload=true
  fi
  if render apache-security.conf.tmpl | put_file_apache "${SECURITY_CONF}" "Apache's server-wide hardening"; then
    reload=true
  fi
  if render_vhost | put_file_apache "${VHOST_FILE}" "the vhost of ${DOMAIN}"; then
    reload=true
  fi
  if [[ "${OS_FAMILY}" == debian ]]; then
    if ! debian_enabled conf tssr-kit-security; then
      changed "Apache: enable the hardening conf"
      backup_apache_config
      run a2enconf -q tssr-kit-security >/dev/null
      reload=true
    fi
    if ! debian_enabled site "${site}"; then
      changed "Apache: enable the site ${site}"
      backup_apache_config
      run a2ensite -q "${site}" >/dev/null
      reload=true
    fi
    if debian_enabled site 000-default; then
      changed "Apache: disable the distribution's default site"
      backup_apache_config
      run a2dissite -q 000-default >/dev/null
      reload=true
    fi
  fi
  if [[ "${DRY_RUN}" == false && -n "${APACHE_BACKUP}" ]]; then
    if ! apachectl -t >/dev/null 2>"${TMP_DIR}/apache.err"; then
      restore_apache_config
      die 1 "Apache's configuration check failed, the previous configuration is back and Apache was not reloaded: $(grep -v '^$' "${TMP_DIR}/apache.err" | tail -n 3 | tr '\n' ' ')"
    fi
  fi
  # Checked: kept until the release answers (web_commit), put back if it does not (web_undo).
  [[ -z "${APACHE_BACKUP}" ]] || APACHE_UNDO="${APACHE_BACKUP}"
  [[ -z "${TLS_BACKUP}" ]] || TLS_UNDO="${TLS_BACKUP}"
  APACHE_BACKUP=""
  TLS_BACKUP=""
  ensure_service "${APACHE_SERVICE}"
  if [[ "${restart}" == true ]]; then
    changed "restart Apache (new modules)"
    [[ "${DRY_RUN}" == true ]] || APACHE_UNDO_RESTART=true
    run systemctl restart "${APACHE_SERVICE}"
  elif [[ "${reload}" == true ]]; then
    changed "reload Apache"
    run systemctl reload "${APACHE_SERVICE}"
  fi
}

#######################################
# Firewall: the baseline (default drop, SSH kept) and the opening `web`, HTTP and HTTPS from anyone
# (lib/firewall.sh writes them). The SSH ports are checked with the rest of the input:
# web_check_firewall is in LIB_CHECKS, so the deploy scripts' report_errors stops the run (exit 2,
# nothing changed) when `sshd -T` fails. The deploy scripts call step_firewall right after installing
# the packages (nft must be there) and BEFORE any other change, so that a firewall failure leaves no
# service configuration behind.
#######################################
LIB_CHECKS+=(web_check_firewall)

web_check_firewall() {
  [[ "${ROLLBACK:-false}" != true ]] || return 0     # a rollback does not touch the firewall
  firewall_check_ssh_ports
}

step_firewall() {
  ssh_keep_ports || die 1 "firewall: ${SSH_PORTS_ERROR}; the firewall was not changed"
  info "firewall: SSH on ${SSH_KEEP_PORTS}, HTTP, HTTPS"
  firewall_baseline
  firewall_open web tcp 80,443 any
  firewall_apply
}

#######################################
# Health check: HEALTH_PATH of DOMAIN over HTTPS, through this host's Apache, must answer 200.
# HEALTH_TRIES tries, HEALTH_DELAY seconds apart.
#######################################
# One try: the HTTP status code (000 when nothing answered).
health_code() {
  curl -sk -o /dev/null -w '%{http_code}' --max-time 5 \
    --resolve "${DOMAIN}:443:127.0.0.1" "https://${DOMAIN}${HEALTH_PATH}" || true
}

# Run a check of a release put back with the domain and health path of the last deploy that
# succeeded (STATE_DIR/domain and health, read back and checked as if typed), not this run's;
# this run's are back afterwards. Arguments: the command. Returns: its status
with_remembered_site() {
  local domain="${DOMAIN}" health="${HEALTH_PATH}" value status=0
  if [[ -f "${STATE_DIR}/domain" ]] && value="$(<"${STATE_DIR}/domain")" && is_valid_domain "${value}"; then
    DOMAIN="${value}"
  fi
  if [[ -f "${STATE_DIR}/health" ]] && value="$(<"${STATE_DIR}/health")" && [[ "${value}" =~ ${HEALTH_RE} ]]; then
    HEALTH_PATH="${value}"
  fi
  "$@" || status=$?
  DOMAIN="${domain}"
  HEALTH_PATH="${health}"
  return "${status}"
}

health_ok() {
  local try code
  for ((try = 1; try <= HEALTH_TRIES; try++)); do
    code="$(health_code)"
    if [[ "${code}" == 200 ]]; then
      info "health check: https://${DOMAIN}${HEALTH_PATH} answered 200"
      return 0
    fi
    sleep "${HEALTH_DELAY}"
  done
  warn "health check: https://${DOMAIN}${HEALTH_PATH} answered ${code:-nothing} (200 expected), ${HEALTH_TRIES} tries"
  return 1
}

#######################################
# Releases: ROOT/releases/<release>, ROOT/current -> releases/<release>.
#######################################
# The release `current` points at (empty when none).
# Arguments: the app's folder
current_link_target() {
  if [[ -L "$1/current" ]]; then
    basename -- "$(readlink -- "$1/current")"
  fi
}

# Point current at a release (or remove it when empty): a new link renamed over the old one.
# Arguments: the app's folder, the release (or "")
switch_link() {
  local root="$1" release="$2"
  if [[ -z "${release}" ]]; then
    rm -f -- "${root}/current"
  else
    ln -sfn -- "releases/${release}" "${root}/.current.new"
    mv -fT -- "${root}/.current.new" "${root}/current"
  fi
}

# Remove the releases beyond KEEP, never the one in use.
# Arguments: the app's folder, KEEP, the release in use, then the releases newest first
prune_releases() {
  local root="$1" keep="$2" in_use="$3" kept=1 release
  shift 3
  for release in "$@"; do
    [[ "${release}" != "${in_use}" ]] || continue
    if ((kept < keep)); then
      kept=$((kept + 1))
      continue
    fi
    changed "remove the old release ${release} (keeping ${keep})"
    run rm -rf -- "${root:?}/releases/${release:?}"
  done
}

# The vhost: the shared frame (lib/templates/vhost.conf.tmpl) around the script's own site block.
# Arguments: the rendered site block (a file), then the frame's KEY=value pairs
render_vhost_frame() {
  local site="$1" line
  shift
  render vhost.conf.tmpl "$@" "SITE=@SITE@" | while IFS= read -r line; do
    if [[ "${line}" == "@SITE@" ]]; then
      cat -- "${site}"
    else
      printf '%s\n' "${line}"
    fi
  done
}
