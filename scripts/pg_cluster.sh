#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster under the build directory.
#   scripts/pg_cluster.sh start DIR [--preload]   initdb (as a non-root user), free port, start
#   scripts/pg_cluster.sh stop DIR                 stop it (fast), keep the files for inspection
# PG_CLUSTER_CONF (optional) holds extra postgresql.conf lines.
# After start, DIR/env holds PGHOST/PGPORT/PGUSER/PGDATABASE for `source`.
# When run as root, the server runs as the system user "europeana" (created if absent),
# because PostgreSQL refuses to run as root.
set -euo pipefail
BIN=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
cmd=${1:?start|stop}
DIR=$(mkdir -p "${2:?cluster directory}" && cd "$2" && pwd)
PRELOAD=${3:-}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u europeana -- "$@"
  else
    "$@"
  fi
}

case "$cmd" in
start)
  if [ "$(id -u)" -eq 0 ] && ! id europeana >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin europeana
  fi
  if [ -f "$DIR/data/postmaster.pid" ]; then
    as_owner "$BIN/pg_ctl" -D "$DIR/data" stop -m immediate >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR/data" "$DIR/sock" "$DIR/server.log"   # a fresh log: tests grep it
  mkdir -p "$DIR/data" "$DIR/sock"
  [ "$(id -u)" -eq 0 ] && chown europeana "$DIR" "$DIR/data" "$DIR/sock"
  # every directory above DIR must be searchable by the server's user
  as_owner test -x "$DIR" || { echo "pg_cluster: $DIR is not reachable by the server user" >&2; exit 1; }
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_owner "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log"
  {
    echo "port = $PORT"
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$DIR/sock'"
    echo "max_connections = 40"
    echo "shared_buffers = 128MB"
    echo "fsync = off"
    echo "log_min_messages = warning"
    echo "log_line_prefix = '%m [%p] '"
    [ "$PRELOAD" = "--preload" ] && echo "shared_preload_libraries = 'europeana'"
    [ -n "${PG_CLUSTER_CONF:-}" ] && printf '%s\n' "$PG_CLUSTER_CONF"
    true
  } >>"$DIR/data/postgresql.conf"
  as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >/dev/null
  cat >"$DIR/env" <<ENV
export PGHOST=$DIR/sock
export PGPORT=$PORT
export PGUSER=postgres
export PGDATABASE=postgres
export EUROPEANA_CLUSTER_DIR=$DIR
ENV
  echo "pg_cluster: started on port $PORT (socket $DIR/sock, log $DIR/server.log)"
  ;;
stop)
  if [ -f "$DIR/data/postmaster.pid" ]; then
    as_owner "$BIN/pg_ctl" -D "$DIR/data" stop -m fast -w >/dev/null
    echo "pg_cluster: stopped"
  fi
  ;;
*)
  echo "usage: $0 start|stop DIR [--preload]" >&2
  exit 2
  ;;
esac
