#!/usr/bin/env bash
# Memory of a long CALL (TAP; run with `prove -e bash`): CALL europeana.enrich(NULL, 1) over
# 600 images runs 600 batches, each committing; the backend's memory, read twice while it
# runs (pg_log_backend_memory_contexts), must not grow with the batches. A cluster of its own,
# without background workers, so that the CALL processes every image.
# Needs the extension installed and, from scripts/test.sh, BUILD with data/clothing.
set -uo pipefail
# shellcheck source=tests/procedures/cluster.sh
source "$(dirname "$0")/cluster.sh"
PHOTO=$(ls -S "$BUILD"/data/clothing/validation/*/*.jpg 2>/dev/null | head -1)   # the largest
[ -n "$PHOTO" ] || { echo "Bail out! missing test data: $BUILD/data/clothing/validation (run scripts/test.sh)"; exit 1; }
start_cluster memory-test
LOG=$CLUSTER/server.log
echo "1..3"
q "create extension europeana" >/dev/null
q "insert into europeana.images (name, content) select g::text, pg_read_binary_file('$PHOTO') from generate_series(1, 600) g" >/dev/null
bytes=$(q "select byte_size from europeana.images limit 1")

psql -XAtq -c "set client_min_messages = warning" -c "call europeana.enrich(null, 1)" >/dev/null 2>&1 &
call=$!
pid=""
for _ in $(seq 1 100); do
  pid=$(q "select pid from pg_stat_activity where query like 'call europeana.enrich%' and pid <> pg_backend_pid()")
  [ -n "$pid" ] && break
  sleep 0.1
done
# total memory of the CALL's backend when the queue holds fewer than $1 images
sample() {
  for _ in $(seq 1 600); do
    [ "$(q "select count(*) < $1 from europeana.enrichment_queue")" = t ] && break
    sleep 0.1
  done
  local before
  before=$(grep -c "Grand total" "$LOG")
  q "select pg_log_backend_memory_contexts($pid)" >/dev/null
  for _ in $(seq 1 50); do
    [ "$(grep -c "Grand total" "$LOG")" -gt "$before" ] && break
    sleep 0.1
  done
  # the line this request produced, or nothing (and the test fails)
  grep "Grand total" "$LOG" | sed -n "$((before + 1))p" | sed 's/.*Grand total: \([0-9]*\) bytes.*/\1/'
}
m1=$(sample 500)
m2=$(sample 150)
wait $call
echo "# backend memory after ~100 batches: $m1 bytes, after ~450: $m2 bytes (images of $bytes bytes)"
if [ -n "$m1" ] && [ -n "$m2" ] && [ $((m2 - m1)) -lt $((8 * 1024 * 1024)) ]; then
  echo "ok 1 - 350 more batches of one CALL add less than 8 MB to its backend"
else
  echo "not ok 1 - 350 more batches of one CALL add less than 8 MB to its backend"
fi
n=$(q "select count(distinct image_id) from europeana.enrichments")
[ "$n" = 600 ] && echo "ok 2 - the CALL enriched all 600 images" || { echo "not ok 2 - the CALL enriched all 600 images"; echo "#   got: $n"; }
if grep -E "PANIC|terminated by signal" "$LOG"; then echo "not ok 3 - no crash in the server log"; else echo "ok 3 - no crash in the server log"; fi
