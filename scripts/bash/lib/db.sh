# shellcheck shell=bash
#
# db.sh - the database clients, as the scripts that dump, load or create databases call them
# (backup.sh, restore.sh). Sourced after common.sh, never run.
#
#   mysql_client ARGS...     the MariaDB client (mariadb, or mysql where only that name exists)
#   as_postgres CMD ARGS...  a PostgreSQL client as the postgres user, from / (its home may be absent)
#   conninfo NAME            a libpq connection string naming one database, the name quoted

mysql_client() {
  if command -v mariadb >/dev/null; then mariadb "$@"; else mysql "$@"; fi
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
