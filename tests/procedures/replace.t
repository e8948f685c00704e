#!/usr/bin/env bash
# Replacing an image's bytes while a worker (or enrich()) is writing results of the old ones
# (TAP; run with `prove -e bash`): session A holds the image's queue row, as a batch does,
# and writes a result of the old bytes; session B sets the content to NULL meanwhile. After
# both commit, no result and no queue row may be left for the image. A cluster of its own,
# without background workers.
set -uo pipefail
# shellcheck source=tests/procedures/cluster.sh
source "$(dirname "$0")/cluster.sh"
start_cluster replace-test
echo "1..3"
q "create extension europeana" >/dev/null
q "insert into europeana.images (name, content) values ('x', '\\x0102030405')" >/dev/null
model=$(q "select (europeana.register_model('mobilenet_v2_imagenet_float')).model_id")
# A: like a batch, lock the queue row, write a result of the old bytes, settle the row later
psql -XAtq -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<SQL &
BEGIN;
SELECT 1 FROM europeana.enrichment_queue q JOIN europeana.images i USING (image_id) WHERE i.name = 'x' FOR UPDATE OF q;
INSERT INTO europeana.enrichments (image_id, model_id, rank, score)
  SELECT image_id, $model, 1, 0.5 FROM europeana.images WHERE name = 'x';
SELECT pg_sleep(1.5);
DELETE FROM europeana.enrichment_queue q USING europeana.images i WHERE q.image_id = i.image_id AND i.name = 'x';
COMMIT;
SQL
a=$!
# until A holds the row and has written its result (it is in its pg_sleep)
for _ in $(seq 1 100); do
  [ "$(q "select count(*) from pg_stat_activity where query like '%pg_sleep(1.5)%' and state = 'active' and pid <> pg_backend_pid()")" = 1 ] && break
  sleep 0.05
done
# B: the content goes away while A is in its batch
q "update europeana.images set content = null where name = 'x'" >/dev/null
b=$?
wait $a
[ $b -eq 0 ] && echo "ok 1 - the replacing UPDATE succeeds (no deadlock with the batch)" || echo "not ok 1 - the replacing UPDATE succeeds (no deadlock with the batch)"
n=$(q "select count(*) from europeana.enrichments e join europeana.images i using (image_id) where i.name = 'x'")
[ "$n" = 0 ] && echo "ok 2 - the old bytes' result committed by the batch meanwhile is gone" || { echo "not ok 2 - the old bytes' result committed by the batch meanwhile is gone"; echo "#   got: $n"; }
n=$(q "select count(*) from europeana.enrichment_queue q join europeana.images i using (image_id) where i.name = 'x'")
[ "$n" = 0 ] && echo "ok 3 - nothing is queued for an image without content" || { echo "not ok 3 - nothing is queued for an image without content"; echo "#   got: $n"; }
