#!/usr/bin/env bash
set -Eeuo pipefail
CONF=${EUROPEANA_PG_CONF:-/etc/postgresql/postgresql.conf}

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
  set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 0700 "$PGDATA"
  exec gosu postgres "${BASH_SOURCE[0]}" "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  user=${POSTGRES_USER:-postgres}
  db=${POSTGRES_DB:-$user}
  auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    echo "docker-entrypoint: set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust)" >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
  # shellcheck disable=SC2086
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host="$auth" ${POSTGRES_INITDB_ARGS:-}
  rm -f "$pwfile"
  printf 'host all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

  # temporary server, socket only, for the init scripts
  pg_ctl -D "$PGDATA" -w -t 120 -o "-c config_file=$CONF -c listen_addresses=''" start
  if [ "$db" != postgres ]; then
    psql -v ON_ERROR_STOP=1 --no-psqlrc -U "$user" -d postgres -v db="$db" <<<'CREATE DATABASE :"db";'
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
    *.sh) echo "docker-entrypoint: running $f"; . "$f" ;;
    *.sql) echo "docker-entrypoint: running $f"; psql -v ON_ERROR_STOP=1 --no-psqlrc -U "$user" -d "$db" -f "$f" ;;
    *.sql.gz) echo "docker-entrypoint: running $f"; gunzip -c "$f" | psql -v ON_ERROR_STOP=1 --no-psqlrc -U "$user" -d "$db" ;;
    *) if [ -e "$f" ]; then echo "docker-entrypoint: ignoring $f"; fi ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo "docker-entrypoint: initialisation complete"
fi

if [ "$1" = postgres ]; then
  shift
  # the background workers enrich the database the init scripts created the extension in
  # (a later -c europeana.database=... on the command line still wins)
  exec postgres -D "$PGDATA" -c config_file="$CONF" -c europeana.database="${POSTGRES_DB:-${POSTGRES_USER:-postgres}}" "$@"
fi
exec "$@"
