#!/usr/bin/env bash
# Runs every test: unit tests (GoogleTest via ctest), the SQL suites (pgTAP via pg_prove)
# against a throwaway cluster with the library preloaded, and a libFuzzer run of the decode
# path. Builds and installs first. Needs ../shared (or EUROPEANA_SHARED) for the external
# models, photos and pilot data; fails loudly with the path when something is absent.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-$ROOT/build}
SHARED=${EUROPEANA_SHARED:-$ROOT/../shared}
export EUROPEANA_MODEL_SOURCE=${EUROPEANA_MODEL_SOURCE:-$SHARED/models}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
PY=/usr/bin/python3   # Debian's python with python3-torch and PIL

for need in "$EUROPEANA_MODEL_SOURCE/mobilenet_v2_imagenet_float.pt" \
            "$EUROPEANA_MODEL_SOURCE/mobilenet_v2_imagenet_quantized.pt" \
            "$EUROPEANA_MODEL_SOURCE/imagenet_classes.txt" "$EUROPEANA_MODEL_SOURCE/samples/parrot.jpg" \
            "$SHARED/data/clothing-small-trainval.tar" "$SHARED/europeana-pilot/class_index.json"; do
  if [ ! -e "$need" ]; then
    echo "test: required external data is missing: $need" >&2
    exit 1
  fi
done

step() { printf '\n=== %s\n' "$*"; }

step "build"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$(nproc)"

step "unit tests (GoogleTest)"
(cd "$BUILD" && ctest -L unit --output-on-failure)

step "install"
cmake --install "$BUILD" >/dev/null
scripts/provision_models.sh
MODELS=$(/usr/lib/postgresql/15/bin/pg_config --sharedir)/europeana/models

step "test data"
$PY tests/fixtures/make_fixtures.py "$BUILD/fixtures" "$EUROPEANA_MODEL_SOURCE/samples"
$PY tools/export_native_model.py "$MODELS" "$SHARED/europeana-pilot/class_index.json" "$BUILD/testmodels"
scripts/make_broken_models.sh "$MODELS" "$BUILD/brokenmodels"
if [ ! -d "$BUILD/data/clothing/validation" ]; then
  mkdir -p "$BUILD/data"
  tar xf "$SHARED/data/clothing-small-trainval.tar" -C "$BUILD/data"
fi
chmod -R a+rX "$BUILD/fixtures" "$BUILD/testmodels" "$BUILD/brokenmodels" "$BUILD/data"

step "fake Europeana server: behaves like the documented API"
BUILD="$BUILD" EUROPEANA_SHARED="$SHARED" tests/fake/smoke.sh "$BUILD/fake-europeana"

step "fake Europeana servers"
FAKES=$BUILD/fakes
rm -rf "$FAKES"
mkdir -p "$FAKES"
chmod a+rx "$FAKES"
API_KEY=fake-secret-key-7f3a9c
# shellcheck source=scripts/fake_europeana.sh
source scripts/fake_europeana.sh
start_fake "$FAKES" faulty --api-key "$API_KEY" --media-faults default --slow-ms 6000 \
  --faults '{"search": {"every": 3, "kinds": ["503", "429", "html502", "reset"]}}'
FAULTY=$FAKE_URL
start_fake "$FAKES" slow --api-key "$API_KEY" --latency-ms 150 --media-faults none
SLOW=$FAKE_URL
for c in painting:http://data.europeana.eu/concept/base/47 ceramics:http://data.europeana.eu/concept/base/31 \
         sculpture:http://data.europeana.eu/concept/base/51 building:http://data.europeana.eu/concept/base/29; do
  "$BUILD/fake-europeana" --records "$SHARED/europeana-pilot/multilabel_dataset_open_permission.csv" \
    --vocabulary "$SHARED/europeana-pilot/vocabulary.json" --images "$BUILD/data/clothing/validation" \
    --media-faults default --dump-expectations --concept "${c#*:}" --reusability open >"$FAKES/${c%%:*}.json" 2>/dev/null
done
chmod a+r "$FAKES"/*

step "SQL tests (pgTAP) on a throwaway cluster"
CLUSTER=$BUILD/pgtest
trap 'scripts/pg_cluster.sh stop "$CLUSTER" || true; stop_fakes' EXIT
# one background worker, pointed at a database without the extension: it must wait there
# (10_workers) and leave the suites' own database alone
PG_CLUSTER_CONF="europeana.worker_count = 1
europeana.database = 'europeana_idle'" scripts/pg_cluster.sh start "$CLUSTER" --preload
# shellcheck disable=SC1091
source "$CLUSTER/env"
psql -XAtq -c "CREATE EXTENSION IF NOT EXISTS pgtap" -c "CREATE DATABASE europeana_idle"
pg_prove -f \
  -S samples="$EUROPEANA_MODEL_SOURCE/samples" -S fixtures="$BUILD/fixtures" -S testmodels="$BUILD/testmodels" \
  -S brokenmodels="$BUILD/brokenmodels" -S clothing="$BUILD/data/clothing" \
  -S faulty_url="$FAULTY/record/v2/search.json" -S faulty_thumb="$FAULTY/thumbnail/v2/url.json" \
  -S slow_url="$SLOW/record/v2/search.json" -S expected_dir="$FAKES" -S api_key="$API_KEY" \
  -S server_log="$CLUSTER/server.log" \
  tests/pgtap/*.sql
if grep -E "PANIC|terminated by signal|server process .* was terminated" "$CLUSTER/server.log"; then
  echo "test: the server log shows a crashed backend" >&2
  exit 1
fi
scripts/pg_cluster.sh stop "$CLUSTER"
stop_fakes
trap - EXIT
# The key travels only in the X-Api-Key header: it must appear in no server log line and in no
# request line the fakes received (their access logs print query strings verbatim).
if grep -l "$API_KEY" "$CLUSTER/server.log" "$FAKES"/*.access.log; then
  echo "test: the API key leaked into the logs above" >&2
  exit 1
fi
echo "API key: absent from the server log and from $(cat "$FAKES"/*.access.log | wc -l) fake access-log lines"

step "background workers and long procedure calls, on clusters of their own (TAP)"
BUILD="$BUILD" prove -v -e bash tests/workers/workers.t tests/workers/pipelined.t tests/procedures/memory.t tests/procedures/replace.t \
  tests/procedures/fetch_commit.t

step "libFuzzer: decode path (${FUZZ_SECONDS}s)"
scripts/fuzz.sh "$FUZZ_SECONDS"

step "summary"
echo "all test suites passed"
