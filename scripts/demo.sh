#!/usr/bin/env bash
# The main job on an embedded default: builds and installs the extension, starts a
# throwaway cluster under build/demo, stores the sample photos and a few dozen real photos
# (clothing, architectural heritage) as bytea with the libpqxx loader, and classifies them
# in SQL. Stops the cluster at the end (set KEEP=1 to leave it running).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-$ROOT/build}
SHARED=${EUROPEANA_SHARED:-$ROOT/../shared}
export EUROPEANA_MODEL_SOURCE=${EUROPEANA_MODEL_SOURCE:-$SHARED/models}
PER_CLASS=${PER_CLASS:-3}

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
[ "${KEEP:-0}" = 1 ] || trap 'scripts/pg_cluster.sh stop "$CLUSTER" >/dev/null || true' EXIT
scripts/pg_cluster.sh start "$CLUSTER" --preload
# shellcheck disable=SC1091
source "$CLUSTER/env"
psql -XAtq -c "CREATE EXTENSION europeana" -c "SELECT 'models: ' || string_agg(name, ', ') FROM europeana.available_models()"

"$BUILD/europeana-load" "$EUROPEANA_MODEL_SOURCE/samples"
"$BUILD/europeana-load" -n "$PER_CLASS" "$DATA/clothing/validation"
"$BUILD/europeana-load" -n "$PER_CLASS" "$DATA/ahe/train_val"

psql -X -P pager=off <<'SQL'
\timing on
\echo
\echo Classifications (europeana.classify_image, default model), one row per stored image:
SELECT i.image_id AS id,
       i.name,
       i.byte_size AS bytes,
       c.concept,
       round(c.score::numeric, 3) AS score,
       c.label AS network_label,
       round(c.label_score::numeric, 3) AS label_score
FROM europeana.images AS i, LATERAL europeana.classify_image(i.content) AS c
ORDER BY i.image_id;
\echo
\echo Per source folder (class of the photo): the concepts the zero-shot model answered
WITH r AS (
  SELECT split_part(i.name, '/', 1) AS folder, (europeana.classify_image(i.content)).concept
  FROM europeana.images AS i WHERE i.name LIKE '%/%'
)
SELECT folder, count(*) AS images,
       string_agg(DISTINCT coalesce(concept, '(none)'), ', ') AS concepts_seen
FROM r GROUP BY folder ORDER BY folder;
\echo
\echo Ranked answer for one photo (classify_image_topk):
SELECT rank, concept, concept_uri, round(score::numeric, 3) AS score, label
FROM europeana.classify_image_topk((SELECT content FROM europeana.images WHERE name = 'grace_hopper.bmp'), 3);
SQL
