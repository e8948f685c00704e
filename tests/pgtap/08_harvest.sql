-- Harvest and fetch against the fake Europeana server (a real HTTP server on loopback),
-- with faults on. Not wrapped in a transaction: harvest and fetch_images are procedures
-- that commit. psql variables (set by scripts/test.sh):
--   faulty_url, faulty_thumb   search / thumbnail endpoints of a fake with search and media faults
--   slow_url                   search endpoint of a fake answering every page after 150 ms
--   expected_dir               expectations JSON per concept dumped by the fake (painting.json, …)
--   api_key                    the key the fakes accept
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
CREATE EXTENSION IF NOT EXISTS pgtap;
DROP EXTENSION IF EXISTS europeana CASCADE;
CREATE EXTENSION europeana;
SELECT plan(51);

SET europeana.api_url = :'faulty_url';
SET europeana.thumbnail_url = :'faulty_thumb';
SET europeana.api_key = :'api_key';
SET europeana.fetch_allow_private = on;
SET europeana.http_timeout_ms = 3000;
SET europeana.http_connect_timeout_ms = 1000;
SET europeana.max_image_bytes = 8388608;
SET europeana.fetch_per_host = 16;
SET client_min_messages = warning;

CREATE TEMP TABLE expected AS
SELECT e.concept, (r.value->>'id') AS record_id, r.ordinality AS n, (r.value->>'image_expected')::boolean AS image_expected,
       r.value->>'image_sha256' AS image_sha256, r.value->>'media_fault' AS media_fault
FROM (VALUES ('painting'), ('ceramics'), ('sculpture'), ('building')) AS e(concept),
     LATERAL jsonb_array_elements(pg_read_file(:'expected_dir' || '/' || e.concept || '.json')::jsonb->'records')
         WITH ORDINALITY AS r;

-- three concepts x 250 records, search faults on (503, 429 with RateLimit, HTML 502, resets), three URI forms
CALL europeana.harvest('painting', 250);
CALL europeana.harvest('http://data.europeana.eu/concept/base/31', 250);
CALL europeana.harvest('http://data.europeana.eu/concept/51', 250);

SELECT is((SELECT count(*)::int FROM europeana.harvest_runs WHERE status = 'completed'), 3, 'three runs completed despite faults');
SELECT bag_eq(
  $$SELECT record_id FROM europeana.record_concepts rc JOIN europeana.concepts c USING (concept_id) WHERE c.name = 'painting'$$,
  $$SELECT record_id FROM expected WHERE concept = 'painting' AND n <= 250$$,
  'painting: exactly the first 250 records of the concept, in id order');
SELECT bag_eq(
  $$SELECT record_id FROM europeana.record_concepts rc JOIN europeana.concepts c USING (concept_id) WHERE c.name = 'ceramics'$$,
  $$SELECT record_id FROM expected WHERE concept = 'ceramics' AND n <= 250$$,
  'ceramics (by concept/base URI): exactly the expected records');
SELECT bag_eq(
  $$SELECT record_id FROM europeana.record_concepts rc JOIN europeana.concepts c USING (concept_id) WHERE c.name = 'sculpture'$$,
  $$SELECT record_id FROM expected WHERE concept = 'sculpture' AND n <= 250$$,
  'sculpture (by the newer concept/NN URI): exactly the expected records');
SELECT is((SELECT count(*)::int FROM europeana.records),
          (SELECT count(DISTINCT record_id)::int FROM expected WHERE concept IN ('painting', 'ceramics', 'sculpture') AND n <= 250),
          'records shared by two concepts are stored once');
SELECT is((SELECT sum(records_stored)::int FROM europeana.harvest_runs), 750, 'each run stored 250 records');
SELECT cmp_ok((SELECT sum(pages)::int FROM europeana.harvest_runs), '>=', 9, 'three pages per concept (rows = 100)');

-- harvesting again updates, never duplicates
CALL europeana.harvest('painting', 250);
SELECT is((SELECT count(*)::int FROM europeana.record_concepts rc JOIN europeana.concepts c USING (concept_id) WHERE c.name = 'painting'),
          250, 're-harvesting a concept adds no duplicate');
SELECT is((SELECT count(*)::int FROM europeana.harvest_runs WHERE status = 'completed'), 4, 'the second harvest is its own run');

-- the API key is never stored
SELECT is((SELECT count(*)::int FROM europeana.records WHERE item::text LIKE '%' || :'api_key' || '%'
                                                        OR item ? 'link' OR item ? 'guid' OR item ? 'apikey'), 0,
          'no stored item holds the key, link, guid or apikey');
SELECT is((SELECT count(*)::int FROM europeana.harvest_runs WHERE row_to_json(harvest_runs)::text LIKE '%' || :'api_key' || '%'), 0,
          'no harvest run holds the key');

-- the pilot's export
SELECT is((SELECT count(*)::int FROM europeana.dataset), (SELECT count(*)::int FROM europeana.records), 'one dataset row per record');
SELECT ok((SELECT bool_and(category ~ '^[a-z_]+( [a-z_]+)*$' AND "URI" = 'http://data.europeana.eu/item' || "ID") FROM europeana.dataset),
          'dataset rows have the pilot''s shape');

-- search: live, stores nothing
SELECT is((SELECT count(*)::int FROM europeana.search('*', 30, 'open', ARRAY['skos_concept:"http://data.europeana.eu/concept/48"'])),
          30, 'search returns the requested number of items');
SELECT is((SELECT count(*)::int FROM europeana.records), (SELECT count(DISTINCT record_id)::int FROM expected WHERE concept IN ('painting', 'ceramics', 'sculpture') AND n <= 250),
          'search stored nothing');
\ir include/outcome.sql
SELECT is(pg_temp.outcome($$SELECT * FROM europeana.search('*', 5, 'uncategorized')$$), 'ok',
          'the API''s fourth reusability value, uncategorized, is accepted');
SELECT is(pg_temp.outcome($$SELECT * FROM europeana.search('title:(', 5)$$), '22023|hint',
          'a query the API rejects (400): 22023 with a hint');
SELECT ok((SELECT bool_and(item IS NOT NULL AND NOT item ? 'link') FROM europeana.search('*', 5)), 'search items are scrubbed too');

-- fetch images with media faults on: every record ends with an image or a recorded failure
CALL europeana.fetch_images(NULL, 16);
SELECT is((SELECT count(*)::int FROM europeana.records r LEFT JOIN europeana.images i USING (record_id) WHERE i.image_id IS NULL),
          0, 'every record has an images row');
SELECT is((SELECT count(*)::int FROM europeana.images WHERE status = 'stored'
           AND (content IS NULL OR mime_type NOT LIKE 'image/%' OR width IS NULL OR height IS NULL OR sha256 IS NULL)),
          0, 'every stored image has bytes, an image MIME type, dimensions and a checksum');
SELECT is((SELECT count(*)::int FROM europeana.images WHERE status = 'failed' AND coalesce(fetch_error, '') = ''), 0,
          'every failure has a recorded reason');
SELECT is((SELECT count(*)::int FROM europeana.images i JOIN (SELECT DISTINCT record_id, image_sha256 FROM expected WHERE image_expected) e USING (record_id)
           WHERE i.source_url NOT LIKE '%thumbnail%' AND encode(i.sha256, 'hex') <> e.image_sha256), 0,
          'images fetched from the provider are byte-identical to what the host served');
SELECT is((SELECT count(*)::int FROM europeana.images i JOIN (SELECT DISTINCT record_id FROM expected WHERE media_fault IN ('html200', 'pdf')) e USING (record_id)
           WHERE i.status = 'stored' AND i.source_url NOT LIKE '%thumbnail%'), 0,
          'HTML pages and PDFs served as images are never stored as images');
SELECT is((SELECT count(*)::int FROM europeana.images i JOIN (SELECT DISTINCT record_id FROM expected WHERE media_fault = 'redirect5') e USING (record_id)
           WHERE i.status = 'stored' AND i.source_url NOT LIKE '%thumbnail%'), 0,
          'a chain of 5 redirects is refused (at most 3)');
SELECT cmp_ok((SELECT count(*)::int FROM europeana.images i JOIN (SELECT DISTINCT record_id FROM expected WHERE media_fault IN ('redirect1', 'redirect3', 'ctype_html', 'ctype_octet')) e USING (record_id)
               WHERE i.status = 'stored'), '>', 0, 'redirects up to 3 and wrong content types still give images (bytes are sniffed)');
SELECT is((SELECT count(*)::int FROM europeana.images WHERE status = 'stored' AND byte_size = 2319 AND encode(sha256, 'hex') = '8656ce3f2e89250e82109dd660e6504a77ac2d0f7f2cb6113a336b211f528047'),
          0, 'the thumbnail API''s placeholder icon is never stored');
SELECT cmp_ok((SELECT count(*)::int FROM europeana.images WHERE status = 'stored'), '>',
              (SELECT count(*)::int * 8 / 10 FROM europeana.images), 'most images are stored');
CREATE TEMP TABLE before_refetch AS SELECT record_id, status, fetch_attempts, sha256 FROM europeana.images;
CALL europeana.fetch_images(NULL, 16);
SELECT is((SELECT count(*)::int FROM europeana.images i JOIN before_refetch b USING (record_id)
           WHERE b.status = 'stored' AND (i.fetch_attempts <> b.fetch_attempts OR i.sha256 <> b.sha256)), 0,
          'fetching again leaves stored images alone (idempotent)');
SELECT is((SELECT count(*)::int FROM europeana.images i JOIN before_refetch b USING (record_id)
           WHERE b.status = 'failed' AND i.fetch_attempts <> b.fetch_attempts + 1), 0,
          'and retries each failed one once');

-- cancel mid-way and resume: the same final set
SET europeana.api_url = :'slow_url';
SELECT clock_timestamp() AS t0 \gset
SET statement_timeout = '700ms';
\set ON_ERROR_STOP 0
CALL europeana.harvest('building', 1000);
\set ON_ERROR_STOP 1
RESET statement_timeout;
SELECT is(:'LAST_ERROR_SQLSTATE'::text, '57014', 'statement_timeout cancels the harvest');
SELECT cmp_ok(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, '<', 1.7::numeric,
              'within one second of the timeout');
SELECT is((SELECT status FROM europeana.harvest_runs WHERE concept_id = europeana.concept_id('building')), 'cancelled',
          'the run is recorded as cancelled');
SELECT cmp_ok((SELECT records_stored FROM europeana.harvest_runs WHERE concept_id = europeana.concept_id('building')), '<', 1000,
              'it stopped before the end');
CALL europeana.harvest('building', 1000);
SELECT is((SELECT count(*)::int FROM europeana.harvest_runs WHERE concept_id = europeana.concept_id('building')), 1,
          'the second call resumed the same run');
SELECT bag_eq(
  $$SELECT record_id FROM europeana.record_concepts rc JOIN europeana.concepts c USING (concept_id) WHERE c.name = 'building'$$,
  $$SELECT record_id FROM expected WHERE concept = 'building' AND n <= 1000$$,
  'cancel + resume gives exactly the records of an uninterrupted harvest');

-- a cancel that lands while a page is being written, in code that ignores the cancel
-- hold-off (the regex engine fails with "operation cancelled" once a cancel is pending):
-- the page is dropped, the run is still marked, and a resume stores exactly the same set
CREATE FUNCTION public.slow_regex_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_sleep(0.02);  -- a page of 100 records takes 2 s to write
  IF NOT NEW.record_id ~ '^/[^/]+/.+' THEN
    RAISE EXCEPTION 'bad record id %', NEW.record_id;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER slow_regex_check BEFORE INSERT ON europeana.records
  FOR EACH ROW EXECUTE FUNCTION public.slow_regex_check();
SET statement_timeout = '1s';  -- the first page arrives after ~150 ms
\set ON_ERROR_STOP 0
CALL europeana.harvest('painting', 200);
\set ON_ERROR_STOP 1
RESET statement_timeout;
SELECT is(:'LAST_ERROR_SQLSTATE'::text, '57014', 'a cancel during a page write cancels the harvest');
SELECT is((SELECT status || ' ' || records_stored FROM europeana.harvest_runs
           WHERE concept_id = europeana.concept_id('painting') AND max_records = 200), 'cancelled 0',
          'the run is recorded as cancelled and the page that failed is not counted');
SELECT cmp_ok(strpos(pg_read_file(:'server_log'), 'harvest painting: cancelled while writing page 1'), '>', 0,
              'the server log says the page was dropped');
DROP TRIGGER slow_regex_check ON europeana.records;
DROP FUNCTION public.slow_regex_check();
CALL europeana.harvest('painting', 200);
SELECT is((SELECT string_agg(status, ',') FROM europeana.harvest_runs
           WHERE concept_id = europeana.concept_id('painting') AND max_records = 200), 'completed',
          'the second call resumed and completed the same run');
SELECT bag_eq(
  $$SELECT record_id FROM europeana.records r JOIN europeana.harvest_runs h ON h.run_id = r.last_run_id
    WHERE h.concept_id = europeana.concept_id('painting') AND h.max_records = 200$$,
  $$SELECT record_id FROM expected WHERE concept = 'painting' AND n <= 200$$,
  'and stored exactly the first 200 records');

-- a page write that fails for another reason (here a user trigger) ends the call with that
-- error, and the run is recorded as failed with it, not left 'running'; a later call resumes it
CREATE FUNCTION public.refuse_records() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('europeana_test.refuse', true) = 'records' THEN
    RAISE EXCEPTION 'refused by a trigger' USING ERRCODE = 'P0001';
  ELSIF current_setting('europeana_test.refuse', true) = 'runs' THEN
    RETURN NULL;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER refuse_records BEFORE INSERT ON europeana.records
  FOR EACH ROW EXECUTE FUNCTION public.refuse_records();
SET europeana_test.refuse = 'records';
\set ON_ERROR_STOP 0
CALL europeana.harvest('sculpture', 150);
\set ON_ERROR_STOP 1
SELECT is(:'LAST_ERROR_SQLSTATE' || ' ' || :'LAST_ERROR_MESSAGE', 'P0001 refused by a trigger',
          'a failing page write raises its own error');
SELECT is((SELECT status || ' ' || records_stored || ' ' || error FROM europeana.harvest_runs
           WHERE concept_id = europeana.concept_id('sculpture') AND max_records = 150), 'failed 0 refused by a trigger',
          'and the run is recorded as failed with that error');
-- a trigger that suppresses the extension's own bookkeeping gives an error, not a crash
CREATE TRIGGER refuse_runs BEFORE UPDATE ON europeana.harvest_runs
  FOR EACH ROW EXECUTE FUNCTION public.refuse_records();
SET europeana_test.refuse = 'runs';
\set ON_ERROR_STOP 0
CALL europeana.harvest('sculpture', 150);
\set ON_ERROR_STOP 1
SELECT is(:'LAST_ERROR_SQLSTATE'::text, '09000', 'a harvest_runs trigger that returns NULL: an error (09000), no crash');
RESET europeana_test.refuse;
DROP TRIGGER refuse_runs ON europeana.harvest_runs;
DROP TRIGGER refuse_records ON europeana.records;
DROP FUNCTION public.refuse_records();
CALL europeana.harvest('sculpture', 150);
SELECT is((SELECT string_agg(status || ' ' || records_stored, ',') FROM europeana.harvest_runs
           WHERE concept_id = europeana.concept_id('sculpture') AND max_records = 150), 'completed 150',
          'the failed run is resumed and completed');

-- fetch_images: an image that cannot be stored (here a user trigger refuses it) is recorded as
-- a failure of its record and the call goes on
SELECT min(r.record_id) AS refused_id FROM europeana.records r LEFT JOIN europeana.images i USING (record_id)
 WHERE i.record_id IS NULL AND r.is_shown_by IS NOT NULL \gset
CREATE FUNCTION public.refuse_image() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.record_id = current_setting('europeana_test.refused_id', true) AND NEW.content IS NOT NULL THEN
    RAISE EXCEPTION 'no images of this record';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER refuse_image BEFORE INSERT ON europeana.images FOR EACH ROW EXECUTE FUNCTION public.refuse_image();
SELECT set_config('europeana_test.refused_id', :'refused_id', false);
SELECT clock_timestamp() AS fetch_t0 \gset
CALL europeana.fetch_images(20, 4);
SELECT is((SELECT status || ' ' || fetch_attempts || ' ' || fetch_error FROM europeana.images WHERE record_id = :'refused_id'),
          'failed 1 could not store the image: no images of this record',
          'an image that cannot be stored is a recorded failure of its record');
SELECT is((SELECT count(*)::int FROM europeana.images WHERE fetched_at >= :'fetch_t0'), 20,
          'and every result of the call is written');
DROP TRIGGER refuse_image ON europeana.images;
DROP FUNCTION public.refuse_image();

-- a cancel during fetch_images keeps every result written before it: writes are slowed to
-- 0.15 s by a trigger whose regex also meets the cancel, and the cancel comes at 0.9 s, before
-- the first commit (16 results, or the oldest uncommitted one 1 s old)
CREATE FUNCTION public.slow_image_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_sleep(0.15);
  IF NEW.source_url !~ '^https?://' THEN
    RAISE EXCEPTION 'bad url %', NEW.source_url;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER slow_image_check BEFORE INSERT ON europeana.images FOR EACH ROW EXECUTE FUNCTION public.slow_image_check();
SELECT clock_timestamp() AS fetch_t0 \gset
SET statement_timeout = '900ms';
\set ON_ERROR_STOP 0
CALL europeana.fetch_images(NULL, 4);
\set ON_ERROR_STOP 1
RESET statement_timeout;
SELECT is(:'LAST_ERROR_SQLSTATE'::text, '57014', 'statement_timeout cancels fetch_images');
SELECT cmp_ok((SELECT count(*)::int FROM europeana.images WHERE fetched_at >= :'fetch_t0'), '>=', 2,
              'the results written before the cancel are kept');
DROP TRIGGER slow_image_check ON europeana.images;
DROP FUNCTION public.slow_image_check();

-- every concept in one call, in parallel
SET europeana.harvest_concurrency = 8;
CALL europeana.harvest('all', 5);
SELECT is((SELECT count(*)::int FROM europeana.harvest_runs WHERE max_records = 5 AND status = 'completed'), 20,
          'harvest(''all'') harvests every concept of the vocabulary in one call');
SELECT ok((SELECT bool_and(records_stored <= 5) FROM europeana.harvest_runs WHERE max_records = 5),
          'each within its max_records');

-- a rejected key: clear error, key not in it
SET europeana.api_key = 'wrong-secret-key-99';
\set ON_ERROR_STOP 0
CALL europeana.harvest('map', 10);
\set ON_ERROR_STOP 1
SELECT ok(:'LAST_ERROR_MESSAGE'::text LIKE '%401%' AND :'LAST_ERROR_MESSAGE'::text NOT LIKE '%wrong-secret-key-99%',
          'a rejected key fails with the API''s code and without the key in the message');
RESET europeana.api_key;

SELECT * FROM finish();
DROP EXTENSION europeana CASCADE;
