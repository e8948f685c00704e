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

step "SQL tests (pgTAP) on a throwaway cluster"
CLUSTER=$BUILD/pgtest
trap 'scripts/pg_cluster.sh stop "$CLUSTER" || true' EXIT
scripts/pg_cluster.sh start "$CLUSTER" --preload
# shellcheck disable=SC1091
source "$CLUSTER/env"
psql -XAtq -c "CREATE EXTENSION IF NOT EXISTS pgtap"
pg_prove -f \
  -S samples="$EUROPEANA_MODEL_SOURCE/samples" -S fixtures="$BUILD/fixtures" -S testmodels="$BUILD/testmodels" \
  -S brokenmodels="$BUILD/brokenmodels" -S clothing="$BUILD/data/clothing" \
  tests/pgtap/*.sql
if grep -E "PANIC|terminated by signal|server process .* was terminated" "$CLUSTER/server.log"; then
  echo "test: the server log shows a crashed backend" >&2
  exit 1
fi
scripts/pg_cluster.sh stop "$CLUSTER"
trap - EXIT

step "libFuzzer: decode path (${FUZZ_SECONDS}s)"
scripts/fuzz.sh "$FUZZ_SECONDS"

step "summary"
echo "all test suites passed"
