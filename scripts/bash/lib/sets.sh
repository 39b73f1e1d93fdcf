# shellcheck shell=bash
#
# sets.sh - what backup.sh writes and restore.sh reads, once for both: the names a job and a set may
# have, the tools' packages (for common.sh's package_of), a set's files decrypted and decompressed
# (decode, gpg_batch), and a remote repository ssh://[user@]host[:port]/path: its parts, its pinned
# host key and the ssh command that checks it. Sourced after common.sh, never run.
#
# The caller sets DEST, JOB, SSH_KEY, HOST_KEY, KNOWN_HOSTS, ENCRYPT_KEY, TMP_DIR and uses common.sh.
# shellcheck disable=SC2034  # (the whole file) its constants and variables are read by those scripts

readonly JOB_RE='^[a-z0-9][a-z0-9_-]{0,39}$'
# A database name that is also a plain file name: its dump is named after it (others: @N).
readonly PLAIN_NAME_RE='^[A-Za-z0-9_][A-Za-z0-9_$-]{0,63}$'
readonly REMOTE_RE='^ssh://(([a-z_][a-z0-9_.-]*)@)?([A-Za-z0-9][A-Za-z0-9.-]*)(:([0-9]{1,5}))?(/[A-Za-z0-9._/@+-]*)$'
readonly HOST_KEY_RE='^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^[:cntrl:]]*)?$'
# Scratch space of remote (or not root-only) sets: one private folder per run (mktemp -d) in a folder
# of root's under a parent only root can write (never a fixed name under a world-writable folder).
readonly SPOOL=/var/spool/tssr-kit
readonly CONF_DIR=/etc/tssr-kit/backup

# The names that differ between the two families: one table (package_of TOOL).
declare -rA DEBIAN_PACKAGE=([zstd]=zstd [gpg]=gnupg [rsync]=rsync [ssh]=openssh-client
  [mysqldump]=mariadb-client [pg_dump]=postgresql-client)
declare -rA REDHAT_PACKAGE=([zstd]=zstd [gpg]=gnupg2 [rsync]=rsync [ssh]=openssh-clients
  [mysqldump]=mariadb [pg_dump]=postgresql)

REMOTE=""                # [user@]host of a remote DEST
REMOTE_HOST=""           # its host name, port and path
REMOTE_PORT=""
REMOTE_PATH=""
HOST_PATTERN=""          # its name in a known_hosts file: host, or [host]:port

#######################################
# A file of a set, read on stdin and written plain on stdout, by its name: NAME.gpg is decrypted with
# the key, then read as NAME; .zst and .gz are decompressed; anything else is copied.
# Arguments: the file's name
#######################################
decode() {
  local name="$1"
  if [[ "${name}" == *.gpg ]]; then
    [[ -n "${ENCRYPT_KEY}" ]] || die 2 "${name##*/} is encrypted: give --encrypt-key"
    gpg_batch --decrypt | decode "${name%.gpg}"
    return
  fi
  case "${name}" in
    *.zst) zstd -q -d -c ;;
    *.gz) gzip -d -c ;;
    *) cat ;;
  esac
}

# gpg with a private, throw-away home (no keyring of root's touched) and the passphrase read from
# the key file by gpg itself: it is never on a command line, in a variable or in a log.
gpg_batch() {
  [[ -d "${TMP_DIR}/gnupg" ]] || mkdir -m 0700 -- "${TMP_DIR}/gnupg"
  gpg --batch --yes --quiet --homedir "${TMP_DIR}/gnupg" --pinentry-mode loopback --no-symkey-cache \
    --passphrase-file "${ENCRYPT_KEY}" "$@"
}

#######################################
# The parts of a remote DEST (REMOTE, REMOTE_HOST, REMOTE_PORT, REMOTE_PATH, HOST_PATTERN).
# Arguments: the DEST
# Returns: 1 when it is not ssh://[user@]host[:port]/path with a port of 1 to 65535
#######################################
parse_remote() {
  [[ "$1" =~ ${REMOTE_RE} ]] || return 1
  REMOTE="${BASH_REMATCH[1]}${BASH_REMATCH[3]}"
  REMOTE_HOST="${BASH_REMATCH[3]}"
  REMOTE_PORT="${BASH_REMATCH[5]}"
  REMOTE_PATH="${BASH_REMATCH[6]}"
  HOST_PATTERN="${REMOTE_HOST}"
  if [[ -n "${REMOTE_PORT}" ]]; then
    ((10#${REMOTE_PORT} >= 1 && 10#${REMOTE_PORT} <= 65535)) || return 1
    ((10#${REMOTE_PORT} == 22)) || HOST_PATTERN="[${REMOTE_HOST}]:$((10#${REMOTE_PORT}))"
  fi
}

# --host-key / --known-hosts: the remote's key, pinned (a remote destination only).
validate_host_key() {
  if [[ -n "${HOST_KEY}" || -n "${KNOWN_HOSTS}" ]] && [[ "${DEST}" != ssh://* ]]; then
    add_error "--host-key, --known-hosts: only for a remote --dest ssh://..."
    return 0
  fi
  if [[ -n "${HOST_KEY}" && -n "${KNOWN_HOSTS}" ]]; then
    add_error "--host-key and --known-hosts: give one or the other"
  fi
  if [[ -n "${HOST_KEY}" && ! "${HOST_KEY}" =~ ${HOST_KEY_RE} ]]; then
    add_error "--host-key: '$(shown "${HOST_KEY}")' is not a public key line 'TYPE BASE64' (the content of the server's /etc/ssh/ssh_host_ed25519_key.pub)"
  fi
  [[ -z "${KNOWN_HOSTS}" ]] || validate_root_file --known-hosts "${KNOWN_HOSTS}"
}

#######################################
# The ssh command for the remote (options, no host), its host key checked, never accepted
# (StrictHostKeyChecking=yes: an unknown or changed key ends the connection), looked up in the key
# pinned by --host-key, a --known-hosts file, the one backup.sh --install-timer recorded
# (CONF_DIR/JOB.known_hosts), else root's known_hosts files.
# Arguments: the name of the array to set
#######################################
remote_ssh() {
  local -n ssh_command="$1"
  local recorded="${CONF_DIR}/${JOB}.known_hosts" file=""
  ssh_command=(ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -o ConnectTimeout=10
    -o ServerAliveInterval=15 -o LogLevel=ERROR)
  [[ -z "${REMOTE_PORT}" ]] || ssh_command+=(-p "${REMOTE_PORT}")
  [[ -z "${SSH_KEY}" ]] || ssh_command+=(-i "${SSH_KEY}" -o IdentitiesOnly=yes)
  if [[ -n "${HOST_KEY}" ]]; then
    file="${TMP_DIR}/known_hosts"
    printf '%s %s\n' "${HOST_PATTERN}" "${HOST_KEY}" >"${file}"
  elif [[ -n "${KNOWN_HOSTS}" ]]; then
    file="${KNOWN_HOSTS}"
  elif [[ -f "${recorded}" && ! -L "${recorded}" ]]; then
    file="${recorded}"
  fi
  [[ -z "${file}" ]] || ssh_command+=(-o "UserKnownHostsFile=${file}" -o GlobalKnownHostsFile=/dev/null)
}

#######################################
# A private folder of this run in SPOOL: SPOOL made (0700 root) when missing, then mktemp -d in it (a
# new, random name made by root). A SPOOL that is someone else's, a link, or under a folder someone
# else can change stops the run (exit 5): nothing is written there.
# Arguments: the folder's name prefix, the name of the variable to set to its path
#######################################
spool_folder() {
  local -n spool_path="$2"
  local why
  why="$(untrusted_in_path "${SPOOL%/*}")"
  [[ -z "${why}" ]] || die 5 "the spool's parent ${SPOOL%/*} is not root's alone: ${why}"
  [[ -e "${SPOOL}" || -L "${SPOOL}" ]] || mkdir -m 0700 -- "${SPOOL}" 2>/dev/null || true
  spool_is_roots || die 5 "${SPOOL} is not a folder of root's with mode 0700 (a link, or made by someone else?): refusing to write a set there"
  spool_path="$(mktemp -d -- "${SPOOL}/$1.XXXXXXXX")" || die 5 "cannot create a folder in ${SPOOL}"
}

# Is SPOOL there, a folder of root's (not a link) that only root can enter, under parents only root
# can change?
spool_is_roots() {
  [[ -d "${SPOOL}" && ! -L "${SPOOL}" ]] || return 1
  [[ "$(stat -c '%u %a' -- "${SPOOL}")" == "0 700" && -z "$(untrusted_in_path "${SPOOL}")" ]]
}
