-- The enrichment queue: images are queued on ingest, enrich() processes them in batches with
-- results and queue deletion in one transaction, poison images are recorded and dead-lettered
-- without failing their batch. Not in a transaction: enrich commits per batch.
-- psql variables: samples, fixtures.
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
CREATE EXTENSION IF NOT EXISTS pgtap;
DROP EXTENSION IF EXISTS europeana CASCADE;
CREATE EXTENSION europeana;
SET client_min_messages = warning;
SELECT plan(36);

INSERT INTO europeana.images (name, content)
SELECT f, pg_read_binary_file(:'samples' || '/' || f) FROM pg_ls_dir(:'samples') AS f ORDER BY f;
INSERT INTO europeana.images (name, content)
SELECT f, pg_read_binary_file(:'fixtures' || '/' || f) FROM unnest(ARRAY['truncated.jpg', 'page.html']) AS f;
INSERT INTO europeana.images (name, content) VALUES ('empty', ''), ('no content yet', NULL);

SELECT is((SELECT count(*)::int FROM europeana.enrichment_queue), 9, 'every stored image was queued on insert (not the one without content)');
SELECT results_eq($$SELECT pending::int, in_retry::int, dead::int FROM europeana.queue_status$$, $$VALUES (9, 0, 0)$$,
                  'queue_status shows them pending');

CALL europeana.enrich(NULL, 4);

SELECT is((SELECT count(DISTINCT image_id)::int FROM europeana.enrichments), 6, 'the six photos were enriched');
SELECT is((SELECT count(*)::int FROM europeana.enrichments), 18, 'with the top three concepts each, no duplicates');
SELECT is((SELECT count(*)::int FROM europeana.enrichment_queue q JOIN europeana.enrichments e USING (image_id)), 0,
          'an enriched image left the queue in the same transaction');
SELECT results_eq(
  $$SELECT i.name, coalesce(c.name, '(none)') FROM europeana.enrichments e JOIN europeana.images i USING (image_id)
    LEFT JOIN europeana.concepts c USING (concept_id) WHERE e.rank = 1 ORDER BY i.name$$,
  $$SELECT i.name, coalesce((europeana.classify_image(i.content)).concept, '(none)') FROM europeana.images i
    WHERE i.name LIKE '%.%' AND i.name NOT IN ('truncated.jpg', 'page.html') ORDER BY i.name$$,
  'rank 1 of each enrichment is what classify_image answers');
SELECT results_eq(
  $$SELECT DISTINCT m.name, m.version FROM europeana.enrichments e JOIN europeana.models m USING (model_id)$$,
  $$VALUES ('mobilenet_v2_imagenet_float', '1.0.0')$$, 'results carry the model''s name and version');
SELECT results_eq($$SELECT pending::int, in_retry::int, dead::int FROM europeana.queue_status$$, $$VALUES (0, 3, 0)$$,
                  'the three bad images wait for a retry instead of failing their batches');
SELECT is((SELECT string_agg(DISTINCT last_sqlstate, ',') FROM europeana.enrichment_queue), '22P03',
          'each records the SQLSTATE of its error');
SELECT ok((SELECT bool_and(next_attempt_at > now() AND attempts = 1 AND last_error IS NOT NULL) FROM europeana.enrichment_queue),
          'with its error, one attempt and a later next attempt (backoff)');

-- retries until dead-lettered
DO $$ BEGIN FOR i IN 1..6 LOOP
    UPDATE europeana.enrichment_queue SET next_attempt_at = now() - interval '1 second' WHERE dead_at IS NULL;
    COMMIT;
    CALL europeana.enrich(NULL, 4);
END LOOP; END $$;
SELECT results_eq($$SELECT pending::int, in_retry::int, dead::int FROM europeana.queue_status$$, $$VALUES (0, 0, 3)$$,
                  'after five attempts the bad images are dead-lettered');
SELECT is((SELECT max(attempts)::int FROM europeana.enrichment_queue), 5, 'and no more attempts are made');
SELECT is((SELECT count(*)::int FROM europeana.enrichments), 18, 'retries of bad images wrote nothing');

-- the number of attempts is a setting
SET europeana.enrich_max_attempts = 2;
INSERT INTO europeana.images (name, content) VALUES ('not an image either', '\x00010203');
CALL europeana.enrich(NULL, 4);
UPDATE europeana.enrichment_queue SET next_attempt_at = now() - interval '1 second' WHERE dead_at IS NULL;
CALL europeana.enrich(NULL, 4);
SELECT is((SELECT attempts || ' ' || (dead_at IS NOT NULL) FROM europeana.enrichment_queue q JOIN europeana.images i USING (image_id)
           WHERE i.name = 'not an image either'), '2 true', 'with europeana.enrich_max_attempts = 2, two attempts dead-letter it');
RESET europeana.enrich_max_attempts;

-- a replaced image is queued afresh; another model adds results without deleting the first
UPDATE europeana.images SET content = content WHERE name = 'parrot.jpg';
SELECT is((SELECT attempts::int FROM europeana.enrichment_queue q JOIN europeana.images i USING (image_id) WHERE i.name = 'parrot.jpg'),
          0, 'replacing an image queues it again');
UPDATE europeana.images SET content = content WHERE name LIKE '%.%' AND name NOT IN ('truncated.jpg', 'page.html');
CALL europeana.enrich(NULL, 16, 'mobilenet_v2_imagenet_quantized');
SELECT is((SELECT count(DISTINCT model_id)::int FROM europeana.enrichments), 2, 'a second model adds its own results');
SELECT is((SELECT count(*)::int FROM europeana.enrichments), 36, 'and keeps the first model''s');
SELECT is((SELECT count(*)::int FROM europeana.enrichment_queue WHERE dead_at IS NULL), 0, 'the queue is drained');

-- new bytes: the old bytes' results go and the image is queued; no content: nothing stays queued
SELECT min(name) AS other FROM europeana.images WHERE name LIKE '%.%' AND name NOT IN ('truncated.jpg', 'page.html', 'parrot.jpg') \gset
UPDATE europeana.images SET content = (SELECT content FROM europeana.images WHERE name = 'parrot.jpg') WHERE name = :'other';
SELECT is((SELECT count(*)::int FROM europeana.enrichments e JOIN europeana.images i USING (image_id) WHERE i.name = :'other')
          || ' ' || (SELECT count(*)::int FROM europeana.enrichment_queue q JOIN europeana.images i USING (image_id)
                     WHERE i.name = :'other' AND q.attempts = 0),
          '0 1', 'new bytes drop the results of the old ones, and the image is queued');
UPDATE europeana.images SET content = NULL WHERE name = 'parrot.jpg';
SELECT is((SELECT count(*)::int FROM europeana.enrichments e JOIN europeana.images i USING (image_id) WHERE i.name = 'parrot.jpg')
          || ' ' || (SELECT count(*)::int FROM europeana.enrichment_queue q JOIN europeana.images i USING (image_id)
                     WHERE i.name = 'parrot.jpg'),
          '0 0', 'content set to NULL drops its results and leaves nothing queued for it');

-- a user trigger on enrichments that refuses one image: the rest of its batch is written, the
-- image is recorded as refused with the trigger's error and dead-lettered in the end; an error
-- that no single row causes (here: out of resources) still fails the batch, blaming no image
CREATE FUNCTION public.refuse_marked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM europeana.images WHERE image_id = NEW.image_id AND (name = 'refuse me' OR name LIKE 'all bad %')) THEN
    RAISE EXCEPTION 'image % is refused by policy', NEW.image_id;
  ELSIF EXISTS (SELECT 1 FROM europeana.images WHERE image_id = NEW.image_id AND name = 'out of resources') THEN
    RAISE EXCEPTION 'no room' USING ERRCODE = 'insufficient_resources';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER refuse_marked BEFORE INSERT ON europeana.enrichments FOR EACH ROW EXECUTE FUNCTION public.refuse_marked();
INSERT INTO europeana.images (name, content)
SELECT n, (SELECT content FROM europeana.images WHERE name = :'other') FROM unnest(ARRAY['keep me 1', 'refuse me', 'keep me 2']) n;
SET client_min_messages = error;
CALL europeana.enrich(NULL, 16);
SET client_min_messages = warning;
SELECT is((SELECT count(DISTINCT image_id)::int FROM europeana.enrichments e JOIN europeana.images i USING (image_id)
           WHERE i.name LIKE 'keep me %'), 2, 'a trigger refusing one image: the rest of its batch is written');
SELECT is((SELECT attempts || ' ' || last_sqlstate || ' ' || (last_error LIKE '%refused by policy%')
           FROM europeana.enrichment_queue q JOIN europeana.images i USING (image_id) WHERE i.name = 'refuse me'),
          '1 P0001 true', 'the refused image is recorded with the trigger''s error and SQLSTATE');
SET europeana.enrich_max_attempts = 2;
UPDATE europeana.enrichment_queue SET next_attempt_at = now() - interval '1 second' WHERE dead_at IS NULL;
SET client_min_messages = error;
CALL europeana.enrich(NULL, 16);
SET client_min_messages = warning;
RESET europeana.enrich_max_attempts;
SELECT ok((SELECT dead_at IS NOT NULL FROM europeana.enrichment_queue q JOIN europeana.images i USING (image_id)
           WHERE i.name = 'refuse me'), 'and dead-lettered after europeana.enrich_max_attempts');
INSERT INTO europeana.images (name, content)
SELECT n, (SELECT content FROM europeana.images WHERE name = :'other') FROM unnest(ARRAY['keep me 3', 'out of resources']) n;
\set ON_ERROR_STOP 0
CALL europeana.enrich(NULL, 16);
\set ON_ERROR_STOP 1
SELECT is(:'LAST_ERROR_SQLSTATE' || ' ' || (SELECT string_agg(i.name || ':' || q.attempts, ',' ORDER BY i.name)
                                            FROM europeana.enrichment_queue q JOIN europeana.images i USING (image_id)
                                            WHERE q.dead_at IS NULL),
          '53000 keep me 3:0,out of resources:0', 'an error no single row causes fails the batch and blames no image');
DROP TRIGGER refuse_marked ON europeana.enrichments;
CALL europeana.enrich(NULL, 16);
-- when no image of a batch can be written, it is no image's fault: the error is raised
CREATE TRIGGER refuse_marked BEFORE INSERT ON europeana.enrichments FOR EACH ROW EXECUTE FUNCTION public.refuse_marked();
INSERT INTO europeana.images (name, content)
SELECT n, (SELECT content FROM europeana.images WHERE name = :'other') FROM unnest(ARRAY['all bad 1', 'all bad 2']) n;
\set ON_ERROR_STOP 0
CALL europeana.enrich(NULL, 16);
\set ON_ERROR_STOP 1
SELECT is(:'LAST_ERROR_SQLSTATE' || ' ' || (SELECT string_agg(q.attempts::text, ',')
                                            FROM europeana.enrichment_queue q JOIN europeana.images i USING (image_id)
                                            WHERE i.name LIKE 'all bad %'),
          'P0001 0,0', 'when every image of a batch is refused the error is raised and no image is blamed');
DROP TRIGGER refuse_marked ON europeana.enrichments;
CALL europeana.enrich(NULL, 16);
-- when recording the refusal is refused too (a trigger on the queue), the image stays queued as
-- it was (a WARNING says why) and the rest of its batch is still written
CREATE FUNCTION public.no_attempts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.attempts > OLD.attempts THEN
    RAISE EXCEPTION 'attempts are not counted today';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER refuse_marked BEFORE INSERT ON europeana.enrichments FOR EACH ROW EXECUTE FUNCTION public.refuse_marked();
CREATE TRIGGER no_attempts BEFORE UPDATE ON europeana.enrichment_queue FOR EACH ROW EXECUTE FUNCTION public.no_attempts();
INSERT INTO europeana.images (name, content)
SELECT n, (SELECT content FROM europeana.images WHERE name = :'other') FROM unnest(ARRAY['keep me 4', 'all bad 3']) n;
SET client_min_messages = error;
CALL europeana.enrich(NULL, 16);
SET client_min_messages = warning;
SELECT is((SELECT count(DISTINCT image_id)::int FROM europeana.enrichments e JOIN europeana.images i USING (image_id)
           WHERE i.name = 'keep me 4'), 1, 'a refusal that cannot be recorded: the rest of the batch is written');
SELECT is((SELECT attempts || ' ' || coalesce(last_error, 'none') || ' ' || (dead_at IS NULL)
           FROM europeana.enrichment_queue q JOIN europeana.images i USING (image_id) WHERE i.name = 'all bad 3'),
          '0 none true', 'and the refused image stays queued as it was');
INSERT INTO europeana.images (name, content) SELECT 'all bad 4', content FROM europeana.images WHERE name = :'other';
INSERT INTO europeana.images (name, content)
SELECT n, (SELECT content FROM europeana.images WHERE name = :'other') FROM unnest(ARRAY['keep me 5', 'keep me 6']) n;
SET client_min_messages = error;
CALL europeana.enrich(NULL, 1);
SET client_min_messages = warning;
SELECT is((SELECT count(DISTINCT image_id)::int FROM europeana.enrichments e JOIN europeana.images i USING (image_id)
           WHERE i.name IN ('keep me 5', 'keep me 6')), 2,
          'such an image is left out of the next claims: it does not hold back the images queued after it');
DROP TRIGGER no_attempts ON europeana.enrichment_queue;
DROP FUNCTION public.no_attempts();
DROP TRIGGER refuse_marked ON europeana.enrichments;
DROP FUNCTION public.refuse_marked();
CALL europeana.enrich(NULL, 16);

\set ON_ERROR_STOP 0
BEGIN;
CALL europeana.enrich(1);
ROLLBACK;
\set ON_ERROR_STOP 1
SELECT is(:'LAST_ERROR_SQLSTATE'::text, '2D000', 'enrich refuses to run inside a transaction block');

-- bad arguments of the procedures: clean errors before any work
\set ON_ERROR_STOP 0
CALL europeana.enrich(NULL, 0);
SELECT is(:'LAST_ERROR_SQLSTATE'::text, '22023', 'enrich: batch_size 0 is refused');
CALL europeana.fetch_images(NULL, 0);
SELECT is(:'LAST_ERROR_SQLSTATE'::text, '22023', 'fetch_images: concurrency 0 is refused');
CALL europeana.harvest(NULL);
SELECT is(:'LAST_ERROR_SQLSTATE'::text, '22004', 'harvest: a NULL concept is refused');
CALL europeana.harvest('unicorn', 10);
SELECT is(:'LAST_ERROR_SQLSTATE'::text, '42704', 'harvest: an unknown concept is refused');
CALL europeana.harvest('painting', -1);
SELECT is(:'LAST_ERROR_SQLSTATE'::text, '22023', 'harvest: a negative max_records is refused');
CALL europeana.harvest('painting', 10, 'free-for-all');
SELECT is(:'LAST_ERROR_SQLSTATE'::text, '22023', 'harvest: an unknown reusability is refused (the API would silently drop it)');
\set ON_ERROR_STOP 1
SELECT is((SELECT count(*)::int FROM europeana.harvest_runs), 0, 'refused harvests leave no run behind');

SELECT * FROM finish();
DROP EXTENSION europeana CASCADE;
