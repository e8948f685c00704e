#!/usr/bin/env bash
# The main job on an embedded default: builds and installs the extension, starts a
# throwaway cluster under build/demo, harvests records of a few concepts from the Europeana
# Search API (the real one when it is reachable, with the public demo key; otherwise the
# offline fake Europeana server on loopback), downloads their images into bytea, classifies
# them in SQL and prints a summary per concept; then stores the sample photos and a few
# dozen real photos (clothing, architectural heritage) with the libpqxx loader and
# classifies them too. Stops the cluster (and the fake) at the end; KEEP=1 leaves them.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-$ROOT/build}
SHARED=${EUROPEANA_SHARED:-$ROOT/../shared}
export EUROPEANA_MODEL_SOURCE=${EUROPEANA_MODEL_SOURCE:-$SHARED/models}
PER_CLASS=${PER_CLASS:-3}
PER_CONCEPT=${PER_CONCEPT:-40}
CONCEPTS=${CONCEPTS:-"painting sculpture building photograph map"}

for need in "$EUROPEANA_MODEL_SOURCE/samples" "$SHARED/data/clothing-small-trainval.tar" "$SHARED/data/ahe-trainval.tar"; do
  [ -e "$need" ] || { echo "demo: required external data is missing: $need" >&2; exit 1; }
done

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$(nproc)" >/dev/null
cmake --install "$BUILD" >/dev/null
scripts/provision_models.sh >/dev/null

DATA=$BUILD/data
[ -d "$DATA/clothing/validation" ] || { mkdir -p "$DATA"; tar xf "$SHARED/data/clothing-small-trainval.tar" -C "$DATA"; }
[ -d "$DATA/ahe/train_val" ] || { mkdir -p "$DATA"; tar xf "$SHARED/data/ahe-trainval.tar" -C "$DATA"; }

CLUSTER=$BUILD/demo
# shellcheck source=scripts/fake_europeana.sh
source scripts/fake_europeana.sh
cleanup() {
  scripts/pg_cluster.sh stop "$CLUSTER" >/dev/null || true
  stop_fakes
}
[ "${KEEP:-0}" = 1 ] || trap cleanup EXIT
scripts/pg_cluster.sh start "$CLUSTER" --preload
# shellcheck disable=SC1091
source "$CLUSTER/env"
psql -XAtq -c "CREATE EXTENSION europeana" -c "SELECT 'models: ' || string_agg(name, ', ') FROM europeana.available_models()"

# The real Search API when it answers (public demo key), else the offline fake.
SETTINGS=""
if [ "${OFFLINE:-0}" != 1 ] && curl -s -m 8 -o /dev/null -w '%{http_code}' -H 'X-Api-Key: api2demo' \
     'https://api.europeana.eu/record/v2/search.json?query=*&rows=1' 2>/dev/null | grep -q '^200$'; then
  echo "demo: harvesting from the real Europeana API (demo key)"
else
  echo "demo: the Europeana API is unreachable; harvesting from the offline fake Europeana server"
  start_fake "$CLUSTER" fake --media-faults default --slow-ms 3000
  FAKE=$FAKE_URL
  echo "demo: fake Europeana at $FAKE (its images are stand-in photos, so classifications do not follow the labels)"
  # loopback is refused by default; the demo allows it explicitly for the fake
  SETTINGS="SET europeana.api_url = '$FAKE/record/v2/search.json';
SET europeana.thumbnail_url = '$FAKE/thumbnail/v2/url.json';
SET europeana.fetch_allow_private = on;
SET europeana.fetch_per_host = 16;
SET europeana.http_timeout_ms = 5000;"
fi
HARVEST=""
for c in $CONCEPTS; do HARVEST="$HARVEST
CALL europeana.harvest('$c', $PER_CONCEPT);"; done
psql -X -P pager=off -v ON_ERROR_STOP=1 <<SQL
$SETTINGS
SET client_min_messages = warning;
\timing on
$HARVEST
CALL europeana.fetch_images(NULL, 16);
\timing off
\echo
\echo Harvest runs (europeana.harvest_progress):
SELECT concept, status, records_stored, total_results, pages, records_per_second FROM europeana.harvest_progress ORDER BY run_id;
\echo
\echo Images fetched into bytea, per outcome:
SELECT status, coalesce(fetch_error, '') AS reason, count(*), pg_size_pretty(sum(byte_size)) AS bytes
FROM europeana.images GROUP BY 1, 2 ORDER BY 3 DESC;
\echo
\echo Per harvested concept: images classified by the zero-shot model (default model)
WITH c AS (
  SELECT rc.concept_id, i.image_id, (europeana.classify_image(i.content)).concept AS predicted
  FROM europeana.images AS i JOIN europeana.record_concepts AS rc USING (record_id)
  WHERE i.status = 'stored'
)
SELECT k.name AS label, count(*) AS images,
       count(*) FILTER (WHERE c.predicted = k.name) AS agree,
       string_agg(DISTINCT coalesce(c.predicted, '(none)'), ', ') AS predicted
FROM c JOIN europeana.concepts AS k USING (concept_id) GROUP BY k.name ORDER BY k.name;
\echo
\echo The dataset in the pilot CSV format (first lines of COPY ... TO STDOUT WITH CSV HEADER):
COPY (SELECT * FROM europeana.dataset ORDER BY "ID" LIMIT 3) TO STDOUT WITH CSV HEADER;
SQL

# Continuous enrichment: every stored image was queued by the ingest trigger and the background
# worker (preloaded library, europeana.worker_count = 1) was woken by each commit.
psql -X -P pager=off -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
DO $$
BEGIN
  FOR i IN 1..600 LOOP  -- at most a minute
    EXIT WHEN NOT EXISTS (SELECT 1 FROM europeana.enrichment_queue WHERE dead_at IS NULL AND attempts = 0);
    PERFORM pg_sleep(0.1);
  END LOOP;
END
$$;
\echo
\echo Continuous enrichment by the background worker (europeana.worker_status, europeana.queue_status):
SELECT worker, pid, device, state, model, batches, images, refused,
       round(images_per_second::numeric, 1) AS images_per_s, last_error
FROM europeana.worker_status;
SELECT pending, in_retry, dead FROM europeana.queue_status;
\echo
\echo Enrichments (rank 1) of the harvested images, by the concept they were harvested for:
SELECT k.name AS harvested_as, coalesce(c.name, '(none)') AS enriched_as, count(*) AS images,
       round(avg(e.score)::numeric, 3) AS mean_score
FROM europeana.enrichments AS e
JOIN europeana.images AS i USING (image_id)
JOIN europeana.record_concepts AS rc USING (record_id)
JOIN europeana.concepts AS k ON k.concept_id = rc.concept_id
LEFT JOIN europeana.concepts AS c ON c.concept_id = e.concept_id
WHERE e.rank = 1
GROUP BY 1, 2 ORDER BY 1, 3 DESC;
SQL


"$BUILD/europeana-load" "$EUROPEANA_MODEL_SOURCE/samples"
"$BUILD/europeana-load" -n "$PER_CLASS" "$DATA/clothing/validation"
"$BUILD/europeana-load" -n "$PER_CLASS" "$DATA/ahe/train_val"

psql -X -P pager=off <<'SQL'
\timing on
\echo
\echo Classifications (europeana.classify_image, default model), one row per photo loaded with europeana-load:
SELECT i.image_id AS id,
       i.name,
       i.byte_size AS bytes,
       c.concept,
       round(c.score::numeric, 3) AS score,
       c.label AS network_label,
       round(c.label_score::numeric, 3) AS label_score
FROM europeana.images AS i, LATERAL europeana.classify_image(i.content) AS c
WHERE i.record_id IS NULL
ORDER BY i.image_id;
\echo
\echo Per source folder (class of the photo): the concepts the zero-shot model answered
WITH r AS (
  SELECT split_part(i.name, '/', 1) AS folder, (europeana.classify_image(i.content)).concept
  FROM europeana.images AS i WHERE i.record_id IS NULL AND i.name LIKE '%/%'
)
SELECT folder, count(*) AS images,
       string_agg(DISTINCT coalesce(concept, '(none)'), ', ') AS concepts_seen
FROM r GROUP BY folder ORDER BY folder;
\echo
\echo Ranked answer for one photo (classify_image_topk):
SELECT rank, concept, concept_uri, round(score::numeric, 3) AS score, label
FROM europeana.classify_image_topk((SELECT content FROM europeana.images WHERE name = 'grace_hopper.bmp'), 3);
SQL
