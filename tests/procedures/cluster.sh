# Sourced by the TAP tests in this directory. Sets ROOT and BUILD; start_cluster NAME starts a
# cluster of its own under BUILD/NAME with the library preloaded and no background workers
# (so that the test's own calls process every image), stops it (and any fake servers) at
# exit, and sources its env; q SQL runs one statement and prints its rows.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$(cd "${BUILD:-$ROOT/build}" && pwd)

start_cluster() {
  CLUSTER=$BUILD/$1
  mkdir -p "$CLUSTER"
  PG_CLUSTER_CONF="europeana.worker_count = 0" "$ROOT/scripts/pg_cluster.sh" start "$CLUSTER" --preload >/dev/null \
    || { echo "Bail out! cluster did not start"; exit 1; }
  trap '"$ROOT/scripts/pg_cluster.sh" stop "$CLUSTER" >/dev/null 2>&1; if declare -F stop_fakes >/dev/null; then stop_fakes; fi' EXIT
  # shellcheck disable=SC1091
  source "$CLUSTER/env"
}

q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1" 2>/dev/null; }
