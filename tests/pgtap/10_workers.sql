-- Background workers as seen from a database they do not serve: the suite's cluster runs one
-- worker pointed at a database without the extension, so it must be waiting, visible, and say
-- so in the log; the worker settings have their documented contexts; re-enrichment is queued
-- per model without disturbing the default model's queue. Workers under load, crashes and
-- reloads are tested by tests/workers/workers.t on a cluster of their own.
-- psql variables: samples, server_log.
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
CREATE EXTENSION IF NOT EXISTS pgtap;
DROP EXTENSION IF EXISTS europeana CASCADE;
CREATE EXTENSION europeana;
SET client_min_messages = warning;
SELECT plan(21);

-- the worker
SELECT is((SELECT count(*)::int FROM europeana.worker_status), 1, 'one slot per europeana.worker_count');
SELECT results_eq($$SELECT device, state FROM europeana.worker_status$$, $$VALUES ('cpu', 'waiting_for_extension')$$,
                  'the worker waits on the CPU for the extension in its database');
SELECT is((SELECT w.pid FROM europeana.worker_status w),
          (SELECT a.pid FROM pg_stat_activity a WHERE a.backend_type = 'europeana worker'),
          'worker_status shows the pid of the running worker process');
SELECT is((SELECT datname::text FROM pg_stat_activity WHERE backend_type = 'europeana worker'), 'europeana_idle',
          'the worker is connected to europeana.database');
SELECT ok((SELECT heartbeat > now() - interval '1 minute' AND started_at <= heartbeat FROM europeana.worker_status),
          'the waiting worker keeps its heartbeat');
SELECT ok(position('europeana worker 1: waiting for CREATE EXTENSION europeana in database "europeana_idle"'
                   IN pg_read_file(:'server_log')) > 0, 'the server log says what the worker waits for');

-- settings
SELECT results_eq(
  $$SELECT name::text, context::text, setting FROM pg_settings
    WHERE name IN ('europeana.worker_count', 'europeana.database', 'europeana.worker_devices', 'europeana.batch_size',
                   'europeana.worker_naptime', 'europeana.worker_threads', 'europeana.worker_precision',
                   'europeana.worker_gpu_jpeg', 'europeana.worker_gpu_jpeg_block', 'europeana.worker_pipeline',
                   'europeana.log_batches') ORDER BY name$$,
  $$VALUES ('europeana.batch_size', 'sighup', '16'), ('europeana.database', 'postmaster', 'europeana_idle'),
           ('europeana.log_batches', 'sighup', 'off'),
           ('europeana.worker_count', 'postmaster', '1'), ('europeana.worker_devices', 'sighup', 'cpu'),
           ('europeana.worker_gpu_jpeg', 'sighup', 'shared'), ('europeana.worker_gpu_jpeg_block', 'sighup', '256'),
           ('europeana.worker_naptime', 'sighup', '10'),
           ('europeana.worker_pipeline', 'sighup', 'auto'),
           ('europeana.worker_precision', 'sighup', 'auto'), ('europeana.worker_threads', 'sighup', '0')$$,
  'worker settings: count and database need a restart, the rest reload with SIGHUP');
SELECT is((SELECT unit FROM pg_settings WHERE name = 'europeana.worker_naptime'), 's', 'naptime is in seconds');
SELECT is((SELECT enumvals FROM pg_settings WHERE name = 'europeana.worker_gpu_jpeg'), '{off,on,shared}'::text[],
          'GPU JPEG decoding: off, on (the GPU takes every JPEG it can) or shared with the decode threads');
SELECT is((SELECT enumvals FROM pg_settings WHERE name = 'europeana.worker_pipeline'), '{auto,on,off}'::text[],
          'pipelined workers: auto (on for CUDA), on or off');

-- re-enrichment on request, per model
INSERT INTO europeana.images (name, content)
SELECT f, pg_read_binary_file(:'samples' || '/' || f) FROM pg_ls_dir(:'samples') AS f ORDER BY f;
INSERT INTO europeana.images (name, content) VALUES ('not stored yet', NULL);
SELECT is((SELECT count(*)::int FROM europeana.enrichment_queue WHERE model_id IS NULL), 6,
          'ingest queues each stored image once for the default model');
SELECT is(europeana.request_enrichment('mobilenet_v2_imagenet_quantized'), 6::bigint,
          'request_enrichment queues every stored image for a named model');
SELECT is((SELECT count(*)::int FROM europeana.enrichment_queue), 12,
          'beside, not instead of, the default model''s queue rows');
SELECT is((SELECT count(DISTINCT model_id)::int FROM europeana.enrichment_queue WHERE model_id IS NOT NULL), 1,
          'the named model''s rows carry its registered model_id');
SELECT is(europeana.request_enrichment('mobilenet_v2_imagenet_quantized'), 6::bigint,
          'asking again re-queues the same rows (no duplicates)');
SELECT is((SELECT count(*)::int FROM europeana.enrichment_queue), 12, 'still one row per image and model');
CALL europeana.enrich(NULL, 16, 'mobilenet_v2_imagenet_quantized');
SELECT is((SELECT count(DISTINCT image_id)::int FROM europeana.enrichments e JOIN europeana.models m USING (model_id)
           WHERE m.name = 'mobilenet_v2_imagenet_quantized'), 6, 'enrich() with that model processed its rows');
SELECT is(europeana.request_enrichment('mobilenet_v2_imagenet_quantized'), 0::bigint,
          'only_missing (the default): images it has enriched are not queued again');
SELECT is(europeana.request_enrichment('mobilenet_v2_imagenet_quantized', false), 6::bigint,
          'only_missing => false queues them all again');
SELECT throws_ok($$SELECT europeana.request_enrichment('no_such_model')$$, '42704', NULL,
                 'an unknown model is refused before anything is queued');
SET europeana.default_model = '';
SELECT throws_ok($$SELECT europeana.request_enrichment()$$, '22023', NULL,
                 'no model and no default model is an error with a hint');
RESET europeana.default_model;

SELECT * FROM finish();
DROP EXTENSION europeana CASCADE;
