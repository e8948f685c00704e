#!/usr/bin/env bash
# fetch_images keeps no transaction open for long while downloads are slow (TAP; run with
# `prove -e bash`): the fake Europeana server answers every media request after 400 ms and
# one call fetches 30 images one at a time. Results are committed every 16, or once the
# oldest uncommitted one is a second old: another session must see images within 2.5 s
# (16 results would take 6.4 s). A cluster of its own, without background workers.
# Needs the extension installed, BUILD with fake-europeana and data/clothing, and ../shared
# (or EUROPEANA_SHARED) for the pilot's records.
set -uo pipefail
# shellcheck source=tests/procedures/cluster.sh
source "$(dirname "$0")/cluster.sh"
SHARED=${EUROPEANA_SHARED:-$ROOT/../shared}
for need in "$BUILD/fake-europeana" "$BUILD/data/clothing/validation" "$SHARED/europeana-pilot/vocabulary.json"; do
  [ -e "$need" ] || { echo "Bail out! missing $need (run scripts/test.sh)"; exit 1; }
done
# shellcheck source=scripts/fake_europeana.sh
source "$ROOT/scripts/fake_europeana.sh"
start_cluster fetch-commit-test
start_fake "$CLUSTER" media-slow --api-key fetch-commit-key --media-faults none --media-latency-ms 400 \
  || { echo "Bail out! the fake server did not start"; exit 1; }
export PGOPTIONS="-c client_min_messages=warning -c europeana.api_url=$FAKE_URL/record/v2/search.json -c europeana.api_key=fetch-commit-key -c europeana.fetch_allow_private=on"
echo "1..3"
q "create extension europeana" >/dev/null
q "call europeana.harvest('painting', 30)" >/dev/null
start=$(date +%s.%N)
psql -XAtq -c "call europeana.fetch_images(30, 1)" >/dev/null 2>&1 &
call=$!
sleep 2.5
seen=$(q "select count(*) from europeana.images")
wait $call
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
echo "# $seen images visible to another session after 2.5 s; the call took ${elapsed} s"
[ "${seen:-0}" -ge 2 ] && echo "ok 1 - results are committed within about a second while downloads are slow" \
  || echo "not ok 1 - results are committed within about a second while downloads are slow"
[ "$(echo "$elapsed > 10" | bc)" = 1 ] && echo "ok 2 - the downloads were slow (30 x 0.4 s one at a time)" \
  || echo "not ok 2 - the downloads were slow (30 x 0.4 s one at a time)"
n=$(q "select count(*) from europeana.images")
[ "$n" = 30 ] && echo "ok 3 - every one of the 30 records has its image row" || { echo "not ok 3 - every one of the 30 records has its image row"; echo "#   got: $n"; }
