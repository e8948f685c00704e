-- The SQL contract: every object exists with the right shape, volatility, parallel label,
-- privileges and a comment; settings have their documented defaults; the vocabulary is seeded.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION europeana;
SELECT plan(131);

-- tables and view
SELECT has_schema('europeana');
SELECT tables_are('europeana', ARRAY['concepts', 'harvest_runs', 'records', 'record_concepts', 'images', 'models',
                                     'enrichment_queue', 'enrichments']);
SELECT views_are('europeana', ARRAY['dataset', 'harvest_progress', 'queue_status', 'worker_status']);
SELECT columns_are('europeana', 'dataset', ARRAY['category', 'skos_concept', 'URI', 'ID', 'URL']);
SELECT columns_are('europeana', 'concepts', ARRAY['concept_id', 'name', 'uri', 'europeana_base_uri', 'europeana_uri',
                   'getty_aat_uri', 'wikidata_uri', 'dbpedia_uri', 'builtin']);
SELECT col_type_is('europeana', 'images', 'content', 'bytea', 'images.content is bytea');
SELECT is((SELECT attstorage::text FROM pg_attribute WHERE attrelid = 'europeana.images'::regclass
           AND attname = 'content'), 'e', 'images.content has storage EXTERNAL (JPEGs do not compress)');
SELECT col_is_pk('europeana', 'records', 'record_id', 'records are keyed by the Europeana id');
SELECT col_is_pk('europeana', 'enrichment_queue', 'queue_id', 'queue rows have a key of their own');
SELECT is((SELECT indnullsnotdistinct FROM pg_index WHERE indrelid = 'europeana.enrichment_queue'::regclass AND indisunique
           AND NOT indisprimary), true, 'an image is queued at most once per model, NULL (the default model) counting as one');
SELECT has_trigger('europeana', 'enrichment_queue', 'enrichment_queue_wake', 'queued work wakes the workers at commit');
SELECT is((SELECT tgtype & 1 FROM pg_trigger WHERE tgname = 'enrichment_queue_wake')::int, 0,
          'the wake-up trigger fires once per statement, not per row');
SELECT col_is_unique('europeana', 'enrichments', ARRAY['image_id', 'model_id', 'rank'], 'one result per image, model and rank');
SELECT fk_ok('europeana', 'enrichments', 'model_id', 'europeana', 'models', 'model_id');
SELECT fk_ok('europeana', 'enrichments', 'concept_id', 'europeana', 'concepts', 'concept_id');
SELECT fk_ok('europeana', 'record_concepts', 'record_id', 'europeana', 'records', 'record_id');
SELECT has_trigger('europeana', 'images', 'images_before_write', 'images keep byte_size and sha256 in step');
SELECT has_trigger('europeana', 'images', 'images_enqueue', 'stored images are queued for enrichment');
SELECT has_trigger('europeana', 'images', 'images_content_replaced', 'replaced content drops the old bytes'' results');
SELECT function_privs_are('europeana', 'enrich', ARRAY['integer', 'integer', 'text'], 'public', ARRAY[]::text[],
                          'enrich is not executable by PUBLIC');
SELECT has_type('europeana', 'classification', 'composite type classification');

-- functions: signatures, return types, volatility, strictness, parallel labels
SELECT functions_are('europeana', ARRAY['_classify', '_images_before_write', '_images_content_replaced', '_images_enqueue', 'available_models',
                     'classify_image', 'classify_image_topk', 'concept_id', 'enrich', 'fetch_images', 'harvest',
                     'image_info', 'model_labels', 'register_model', 'search', 'verify_model', '_wake_workers',
                     '_worker_status', 'request_enrichment']);
SELECT has_function('europeana', 'classify_image', ARRAY['bytea', 'text']);
SELECT function_returns('europeana', 'classify_image', ARRAY['bytea', 'text'], 'europeana.classification');
SELECT has_function('europeana', 'classify_image_topk', ARRAY['bytea', 'integer', 'text']);
SELECT function_returns('europeana', 'classify_image_topk', ARRAY['bytea', 'integer', 'text'], 'setof record');
SELECT has_function('europeana', 'image_info', ARRAY['bytea']);
SELECT has_function('europeana', 'concept_id', ARRAY['text']);
SELECT has_function('europeana', 'register_model', ARRAY['text']);
SELECT has_function('europeana', 'verify_model', ARRAY['text']);
SELECT has_function('europeana', 'model_labels', ARRAY['text']);
SELECT has_function('europeana', 'available_models', ARRAY[]::text[]);
SELECT has_function('europeana', 'search', ARRAY['text', 'integer', 'text', 'text[]']);
SELECT volatility_is('europeana', 'search', ARRAY['text', 'integer', 'text', 'text[]'], 'volatile');
SELECT is((SELECT prokind::text FROM pg_proc WHERE oid = 'europeana.harvest(text, integer, text)'::regprocedure), 'p',
          'harvest is a procedure (it commits after every page)');
SELECT is((SELECT prokind::text FROM pg_proc WHERE oid = 'europeana.fetch_images(integer, integer)'::regprocedure), 'p',
          'fetch_images is a procedure (it commits as it goes)');
SELECT function_privs_are('europeana', 'harvest', ARRAY['text', 'integer', 'text'], 'public', ARRAY[]::text[],
                          'harvest is not executable by PUBLIC (it writes tables and uses the API key)');
SELECT function_privs_are('europeana', 'fetch_images', ARRAY['integer', 'integer'], 'public', ARRAY[]::text[],
                          'fetch_images is not executable by PUBLIC');
SELECT is((SELECT context FROM pg_settings WHERE name = 'europeana.api_url'), 'superuser', 'api_url is superuser-only');
SELECT is((SELECT setting || ' ' || context || ' ' || min_val || '-' || max_val FROM pg_settings
           WHERE name = 'europeana.enrich_max_attempts'), '5 superuser 1-100',
          'enrich_max_attempts: 5 by default, superuser-only');
SELECT is((SELECT current_setting('europeana.api_url')), 'https://api.europeana.eu/record/v2/search.json',
          'api_url defaults to the real Search API');
SELECT is((SELECT current_setting('europeana.fetch_allow_private')), 'off', 'private addresses are refused by default');
SELECT ok(NOT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'europeana.api_key'),
          'the API key is not listed in pg_settings or by SHOW ALL');
SELECT volatility_is('europeana', 'classify_image', ARRAY['bytea', 'text'], 'stable');
SELECT volatility_is('europeana', 'classify_image_topk', ARRAY['bytea', 'integer', 'text'], 'stable');
SELECT volatility_is('europeana', '_classify', ARRAY['bytea', 'integer', 'text'], 'stable');
SELECT volatility_is('europeana', 'image_info', ARRAY['bytea'], 'immutable');
SELECT volatility_is('europeana', 'concept_id', ARRAY['text'], 'stable');
SELECT volatility_is('europeana', 'available_models', ARRAY[]::text[], 'volatile');
SELECT volatility_is('europeana', 'verify_model', ARRAY['text'], 'volatile');
SELECT volatility_is('europeana', 'register_model', ARRAY['text'], 'volatile');
SELECT is_strict('europeana', 'image_info', ARRAY['bytea']);
SELECT isnt_strict('europeana', 'classify_image', ARRAY['bytea', 'text'], 'classify_image is not strict (NULL model = default)');
SELECT is_strict('europeana', 'concept_id', ARRAY['text']);
SELECT results_eq(
  $$SELECT p.proname::text COLLATE "default", p.proparallel::text COLLATE "default" FROM pg_proc p
    WHERE p.pronamespace = 'europeana'::regnamespace ORDER BY 1$$,
  $$VALUES ('_classify', 'r'), ('_images_before_write', 'u'), ('_images_content_replaced', 'u'), ('_images_enqueue', 'u'),
           ('_wake_workers', 'u'),
           ('_worker_status', 'r'), ('available_models', 'r'),
           ('classify_image', 'r'), ('classify_image_topk', 'r'), ('concept_id', 's'), ('enrich', 'u'),
           ('fetch_images', 'u'), ('harvest', 'u'),
           ('image_info', 's'), ('model_labels', 'r'), ('register_model', 'u'), ('request_enrichment', 'u'),
           ('search', 'u'), ('verify_model', 'r')$$,
  'every function has its deliberate parallel label (inference is restricted: a parallel worker would reload the model)');
SELECT results_eq(
  $$SELECT p.proname::text COLLATE "default", p.provolatile::text COLLATE "default", p.proisstrict FROM pg_proc p
    WHERE p.pronamespace = 'europeana'::regnamespace ORDER BY 1$$,
  $$VALUES ('_classify', 's', false), ('_images_before_write', 'v', false), ('_images_content_replaced', 'v', false),
           ('_images_enqueue', 'v', false), ('_wake_workers', 'v', false), ('_worker_status', 'v', false),
           ('available_models', 'v', false), ('classify_image', 's', false), ('classify_image_topk', 's', false),
           ('concept_id', 's', true), ('enrich', 'v', false), ('fetch_images', 'v', false), ('harvest', 'v', false),
           ('image_info', 'i', true), ('model_labels', 'v', false), ('register_model', 'v', true),
           ('request_enrichment', 'v', false), ('search', 'v', false), ('verify_model', 'v', true)$$,
  'every function has its deliberate volatility and strictness (classification is stable: models are versioned '
  'files, read once per backend; the sniffer is immutable; the rest read or write state)');
SELECT results_eq(
  $$SELECT p.proname::text COLLATE "default" FROM pg_proc p WHERE p.pronamespace = 'europeana'::regnamespace
      AND p.prolang = (SELECT oid FROM pg_language WHERE lanname IN ('sql', 'plpgsql') AND oid = p.prolang)
      AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%') ORDER BY 1$$,
  $$SELECT NULL::text WHERE false$$,
  'every SQL and PL/pgSQL function pins its search_path');

-- every member object carries a comment
SELECT is(
  (SELECT string_agg(pg_describe_object(d.classid, d.objid, 0), ', ' ORDER BY 1)
   FROM pg_depend d
   WHERE d.refclassid = 'pg_extension'::regclass
     AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'europeana')
     AND d.deptype = 'e'
     AND d.classid IN ('pg_class'::regclass, 'pg_proc'::regclass, 'pg_type'::regclass)
     AND NOT (d.classid = 'pg_class'::regclass AND (SELECT relkind FROM pg_class WHERE oid = d.objid) IN ('S', 'i'))
     AND NOT (d.classid = 'pg_type'::regclass AND (SELECT typtype FROM pg_type WHERE oid = d.objid) <> 'c')
     AND obj_description(d.objid, (SELECT relname FROM pg_class WHERE oid = d.classid)) IS NULL),
  NULL, 'every table, view, function and composite type of the extension has a COMMENT');
SELECT is((SELECT string_agg(t.tgname, ', ') FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
           WHERE c.relnamespace = 'europeana'::regnamespace AND NOT t.tgisinternal
             AND obj_description(t.oid, 'pg_trigger') IS NULL), NULL, 'every trigger of the extension has a COMMENT');
SELECT is((SELECT string_agg(i.indexrelid::regclass::text, ', ') FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
           WHERE c.relnamespace = 'europeana'::regnamespace AND NOT i.indisprimary AND NOT i.indisunique
             AND obj_description(i.indexrelid, 'pg_class') IS NULL), NULL,
          'every index of the extension other than its keys has a COMMENT');

-- privileges
SELECT function_privs_are('europeana', 'classify_image', ARRAY['bytea', 'text'], 'public', ARRAY['EXECUTE']);
SELECT function_privs_are('europeana', 'classify_image_topk', ARRAY['bytea', 'integer', 'text'], 'public', ARRAY['EXECUTE']);
SELECT function_privs_are('europeana', 'image_info', ARRAY['bytea'], 'public', ARRAY['EXECUTE']);
SELECT function_privs_are('europeana', 'verify_model', ARRAY['text'], 'public', ARRAY[]::text[],
                          'verify_model (reads server files) is not executable by PUBLIC');
SELECT function_privs_are('europeana', 'register_model', ARRAY['text'], 'public', ARRAY[]::text[],
                          'register_model is not executable by PUBLIC');
SELECT function_privs_are('europeana', 'request_enrichment', ARRAY['text', 'boolean'], 'public', ARRAY[]::text[],
                          'request_enrichment is not executable by PUBLIC');
SELECT function_privs_are('europeana', 'search', ARRAY['text', 'integer', 'text', 'text[]'], 'public', ARRAY[]::text[],
                          'search is not executable by PUBLIC (it spends the API key)');
SELECT ok((SELECT bool_and(prosecdef) FROM pg_proc
           WHERE oid IN ('europeana._images_enqueue()'::regprocedure, 'europeana._images_content_replaced()'::regprocedure)),
          'the enqueue and content-replaced triggers run as the extension owner');
SELECT table_privs_are('europeana', 'concepts', 'public', ARRAY['SELECT']);
SELECT table_privs_are('europeana', 'models', 'public', ARRAY['SELECT']);
SELECT table_privs_are('europeana', 'images', 'public', ARRAY[]::text[], 'images are private to the owner by default');
SELECT table_privs_are('europeana', 'records', 'public', ARRAY[]::text[]);
SELECT schema_privs_are('europeana', 'public', ARRAY['USAGE']);

-- an ingest role allowed to insert images needs no privilege on the queue
CREATE ROLE europeana_tap_ingest;
GRANT INSERT ON europeana.images TO europeana_tap_ingest;
SET ROLE europeana_tap_ingest;
SELECT lives_ok($$INSERT INTO europeana.images (name, content) VALUES ('ingested', '\x0d0e')$$,
                'a role with INSERT on images alone can ingest');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM europeana.enrichment_queue q JOIN europeana.images i USING (image_id)
           WHERE i.name = 'ingested'), 1, 'and its image is queued');

-- a non-superuser can classify but cannot change the model directory or the pixel limit
CREATE ROLE europeana_tap_analyst LOGIN;
CREATE TEMP TABLE analyst_photo AS SELECT pg_read_binary_file(:'samples' || '/parrot.jpg') AS content;
GRANT SELECT ON analyst_photo TO europeana_tap_analyst;
SET ROLE europeana_tap_analyst;
SELECT lives_ok($$SELECT europeana.image_info('\x89504e47'::bytea)$$, 'an analyst can call image_info');
SELECT is((SELECT model_name FROM europeana.classify_image((SELECT content FROM analyst_photo))),
          'mobilenet_v2_imagenet_float', 'an analyst can classify');
SELECT throws_ok($$SET europeana.model_dir = '/tmp'$$, '42501', NULL, 'an analyst cannot set europeana.model_dir');
SELECT throws_ok($$SET europeana.max_image_pixels = 2000000000$$, '42501', NULL,
                 'an analyst cannot raise europeana.max_image_pixels');
SELECT throws_ok($$SHOW europeana.api_key$$, '42501', NULL, 'an analyst cannot read the API key');
SELECT throws_ok($$SET europeana.api_key = 'x'$$, '42501', NULL, 'an analyst cannot set the API key');
SELECT throws_ok($$SET europeana.api_url = 'http://127.0.0.1/'$$, '42501', NULL, 'an analyst cannot redirect the API');
SELECT throws_ok($$SET europeana.fetch_allow_private = on$$, '42501', NULL,
                 'an analyst cannot open the private-address guard');
SELECT lives_ok($$SET europeana.default_model = 'mobilenet_v2_imagenet_quantized'$$,
                'an analyst can choose the default model');
SELECT throws_ok($$SELECT europeana.verify_model('mobilenet_v2_imagenet_float')$$, '42501', NULL,
                 'an analyst cannot run verify_model');
RESET europeana.default_model;
RESET ROLE;

-- settings and their defaults
SELECT is(current_setting('europeana.default_model'), 'mobilenet_v2_imagenet_float', 'default model');
SELECT is(current_setting('europeana.max_image_pixels'), '100000000', 'default pixel limit');
SELECT is(current_setting('europeana.intra_op_threads'), '1', 'one intra-op thread per backend by default');
SELECT matches(current_setting('europeana.model_dir'), '/europeana/models$', 'model directory under the share dir');
SELECT is((SELECT context FROM pg_settings WHERE name = 'europeana.model_dir'), 'superuser', 'model_dir is superuser-only');
SELECT is((SELECT context FROM pg_settings WHERE name = 'europeana.max_image_pixels'), 'superuser',
          'max_image_pixels is superuser-only');
SELECT throws_ok($$SET europeana.no_such_setting = 1$$, '42602', NULL, 'the europeana.* prefix is reserved');

-- vocabulary
SELECT is((SELECT count(*)::int FROM europeana.concepts), 20, 'the 20 pilot concepts are seeded');
SELECT is((SELECT string_agg(name, ',' ORDER BY concept_id) FROM europeana.concepts),
          'archaeological_site,building,ceramics,clothing,costume_accessories,drawing,furniture,inscription,jewellery,'
          'map,painting,photograph,postcard,sculpture,specimen,tapestry,textile,toy,weaponry,woodwork',
          'concept_id is the pilot''s class index');
SELECT is((SELECT count(*)::int FROM europeana.concepts WHERE uri LIKE 'http://data.europeana.eu/concept/base/%'), 15,
          '15 concepts use Europeana concept/base URIs');
SELECT is((SELECT count(*)::int FROM europeana.concepts WHERE uri LIKE 'http://vocab.getty.edu/aat/%'), 5,
          '5 concepts use Getty AAT URIs');
SELECT is((SELECT count(*)::int FROM europeana.concepts WHERE getty_aat_uri IS NOT NULL AND wikidata_uri IS NOT NULL), 20,
          'every concept has Getty AAT and Wikidata URIs');
SELECT is((SELECT uri FROM europeana.concepts WHERE name = 'painting'), 'http://data.europeana.eu/concept/base/47',
          'painting URI');
SELECT is((SELECT europeana_uri FROM europeana.concepts WHERE name = 'painting'), 'http://data.europeana.eu/concept/47',
          'painting in the newer concept/NN form');
SELECT is(europeana.concept_id('http://data.europeana.eu/concept/base/47'), 10::smallint, 'base URI resolves');
SELECT is(europeana.concept_id('http://data.europeana.eu/concept/47'), 10::smallint, 'concept/NN resolves');
SELECT is(europeana.concept_id('https://data.europeana.eu/concept/47/'), 10::smallint, 'https and trailing slash');
SELECT is(europeana.concept_id('Painting'), 10::smallint, 'name, any case');
SELECT is(europeana.concept_id('http://vocab.getty.edu/aat/300266639'), 3::smallint, 'Getty AAT URI (clothing)');
SELECT is(europeana.concept_id('http://vocab.getty.edu/aat/300033618'), 10::smallint, 'AAT URI of a Europeana concept');
SELECT is(europeana.concept_id('http://www.wikidata.org/entity/Q11460'), 3::smallint, 'Wikidata URI');
SELECT is(europeana.concept_id('unicorn'), NULL, 'unknown concept gives NULL');

-- images trigger, dataset view
INSERT INTO europeana.images (name, content) VALUES ('x', '\x0102030405');
SELECT is((SELECT byte_size FROM europeana.images WHERE name = 'x'), 5, 'byte_size maintained');
SELECT is((SELECT sha256 FROM europeana.images WHERE name = 'x'), sha256('\x0102030405'::bytea), 'sha256 maintained');
UPDATE europeana.images SET content = '\x01' WHERE name = 'x';
SELECT is((SELECT byte_size FROM europeana.images WHERE name = 'x'), 1, 'byte_size follows replaced content');
-- header facts: a failed download retried with success keeps the facts it sets; content
-- replaced alone loses the old ones; the same bytes again keep them
INSERT INTO europeana.images (name, status) VALUES ('retried', 'failed');
UPDATE europeana.images SET content = '\x0a0b', mime_type = 'image/png', width = 3, height = 4, status = 'stored'
 WHERE name = 'retried';
SELECT is((SELECT (mime_type, width, height)::text FROM europeana.images WHERE name = 'retried'), '(image/png,3,4)',
          'content and header facts set by one statement are kept');
UPDATE europeana.images SET content = '\x0a0b' WHERE name = 'retried';
SELECT is((SELECT (mime_type, width, height)::text FROM europeana.images WHERE name = 'retried'), '(image/png,3,4)',
          'the same bytes again keep the header facts');
UPDATE europeana.images SET content = '\x0c' WHERE name = 'retried';
SELECT is((SELECT (mime_type, width, height)::text FROM europeana.images WHERE name = 'retried'), '(,,)',
          'content replaced alone clears the stale header facts');
INSERT INTO europeana.records (record_id, is_shown_by) VALUES ('/91608/SMVK_VKM_objekt_102478', 'http://example.org/a.jpg');
INSERT INTO europeana.record_concepts (record_id, concept_id) VALUES ('/91608/SMVK_VKM_objekt_102478', 1),
                                                                    ('/91608/SMVK_VKM_objekt_102478', 2);
SELECT results_eq($$SELECT category, skos_concept, "URI", "ID", "URL" FROM europeana.dataset$$,
  $$VALUES ('building ceramics', 'http://data.europeana.eu/concept/base/29 http://data.europeana.eu/concept/base/31',
            'http://data.europeana.eu/item/91608/SMVK_VKM_objekt_102478', '/91608/SMVK_VKM_objekt_102478',
            'http://example.org/a.jpg')$$,
  'dataset has the pilot''s CSV shape, multi-label like the pilot');
SELECT throws_ok($$INSERT INTO europeana.records (record_id) VALUES ('no-slash')$$, '23514', NULL,
                 'record ids must look like /dataset/local');
-- the check is written with LIKE (which honours a cancel hold-off, unlike the regex engine)
-- and accepts exactly what ^/[^/]+/.+ accepts
SELECT throws_ok($$INSERT INTO europeana.records (record_id) VALUES ('//a/b')$$, '23514', NULL, 'an empty dataset part is refused');
SELECT throws_ok($$INSERT INTO europeana.records (record_id) VALUES ('/a/')$$, '23514', NULL, 'an empty local part is refused');
SELECT throws_ok($$INSERT INTO europeana.records (record_id) VALUES ('/ab')$$, '23514', NULL, 'a missing local part is refused');
SELECT lives_ok($$INSERT INTO europeana.records (record_id) VALUES ('/a//')$$, 'a local part may hold slashes');

-- extension configuration is dumped, builtin vocabulary is not
SELECT is((SELECT cardinality(extconfig) FROM pg_extension WHERE extname = 'europeana'), 12,
          'user tables and their identity sequences are marked for pg_dump');
SELECT ok((SELECT 'WHERE NOT builtin' = ANY(extcondition) FROM pg_extension WHERE extname = 'europeana'),
          'seeded concepts are not dumped twice');

-- models: metadata and registration
SELECT is((SELECT count(*)::int FROM europeana.available_models() WHERE error IS NULL), 2, 'two models installed');
SELECT is((SELECT labels FROM europeana.available_models() WHERE name = 'mobilenet_v2_imagenet_float'), 1000,
          'ImageNet model has 1000 outputs');
SELECT is((SELECT label FROM europeana.model_labels('mobilenet_v2_imagenet_float') WHERE label_index = 88), 'macaw',
          'label 88 is macaw');
SELECT is((SELECT count(*)::int FROM europeana.model_labels('mobilenet_v2_imagenet_float') l
           LEFT JOIN europeana.concepts c ON c.name = l.concept WHERE l.concept IS NOT NULL AND c.name IS NULL), 0,
          'every concept the ImageNet mapping uses is in the vocabulary');
SELECT ok((SELECT count(DISTINCT concept) FROM europeana.model_labels('mobilenet_v2_imagenet_float')) >= 10,
          'the zero-shot mapping covers at least 10 concepts');
SELECT is((europeana.register_model('mobilenet_v2_imagenet_float')).sha256,
          '5912d3139162f7e6d2131d1f794e4614a043c6d9a2cd65957e4858ec92cb6ee1', 'register_model verifies and records');
SELECT lives_ok($$SELECT europeana.register_model('mobilenet_v2_imagenet_float')$$, 'register_model is idempotent');
SELECT is((SELECT count(*)::int FROM europeana.models), 1, 'registering twice keeps one row');
SELECT is((SELECT label_concepts[611] FROM europeana.models WHERE name = 'mobilenet_v2_imagenet_float'), 'clothing',
          'label 610 (jersey) maps to clothing in the registered row');
SELECT throws_ok($$SELECT europeana.register_model('no_such_model')$$, '42704', NULL, 'unknown model cannot be registered');

SELECT * FROM finish();
ROLLBACK;
