# shellcheck shell=bash
#
# db.sh - the database clients, as the scripts that dump, load or create databases call them
# (backup.sh, restore.sh, deploy-lamp.sh). Sourced after common.sh, never run.
#
#   mysql_client ARGS...     the MariaDB client (mariadb, or mysql where only that name exists)
#   mysql_root ARGS...       that client as root through the unix socket: tab-separated rows, no header
#   mysql_dump ARGS...       mariadb-dump, or mysqldump where only that name exists
#   mysql_sandbox            does the client have --sandbox (no \! system, tee, source... in its input)?
#   as_postgres CMD ARGS...  a PostgreSQL client as the postgres user, from / (its home may be absent)
#   conninfo NAME            a libpq connection string naming one database, the name quoted

mysql_client() {
  if command -v mariadb >/dev/null; then mariadb "$@"; else mysql "$@"; fi
}

# Root authenticates by the unix socket (MariaDB's unix_socket plugin): no password anywhere.
mysql_root() {
  mysql_client --protocol=socket --user=root --batch --skip-column-names "$@"
}

mysql_dump() {
  if command -v mariadb-dump >/dev/null; then mariadb-dump "$@"; else mysqldump "$@"; fi
}

# --sandbox: MariaDB 10.5.25, 10.6.18, 10.11.8, 11.0.6 and later. (The help is read whole, then
# searched: `client --help | grep -q` could stop the client early, and pipefail would say no.)
mysql_sandbox() {
  local help
  help="$(mysql_client --help 2>/dev/null || true)"
  [[ "${help}" == *"--sandbox"* ]]
}

as_postgres() {
  (cd / && runuser -u postgres -- "$@")
}

# A name with = or a URI prefix would otherwise be read as connection settings (another host,
# another database): pg_dump "$(conninfo "${name}")", never pg_dump "${name}".
conninfo() {
  local value="$1"
  value=${value//\\/\\\\}
  value=${value//\'/\\\'}
  printf "dbname='%s'" "${value}"
}
