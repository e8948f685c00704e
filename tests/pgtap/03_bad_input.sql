-- Bad input: every case is an SQL error with a real SQLSTATE and a hint, and the session
-- stays usable. psql variables: samples, fixtures, brokenmodels (a model directory with
-- a missing, a corrupt, a wrongly checksummed and an unreadable model).
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION europeana;
SELECT plan(46);

CREATE TEMP TABLE fx AS
SELECT f AS name, pg_read_binary_file(:'fixtures' || '/' || f) AS content FROM pg_ls_dir(:'fixtures') AS f;
INSERT INTO fx VALUES ('parrot.jpg', pg_read_binary_file(:'samples' || '/parrot.jpg'));
INSERT INTO fx SELECT 'random', decode(string_agg(md5(i::text), ''), 'hex') FROM generate_series(1, 640) AS i;
INSERT INTO fx VALUES ('empty', ''::bytea);
INSERT INTO fx SELECT 'jpeg_head_only', substring(content FROM 1 FOR 600) FROM fx WHERE name = 'parrot.jpg';

\ir include/outcome.sql

CREATE FUNCTION pg_temp.classify_sql(fixture text, model text DEFAULT NULL) RETURNS text LANGUAGE sql AS $$
    SELECT format('SELECT europeana.classify_image((SELECT content FROM fx WHERE name = %L), %L)', fixture, model)
$$;

SELECT is(pg_temp.outcome(pg_temp.classify_sql('empty')), '22P03|hint', 'empty bytea: 22P03 with a hint');
SELECT is(pg_temp.outcome(pg_temp.classify_sql('random')), '22P03|hint', 'random bytes: 22P03 with a hint');
SELECT is(pg_temp.outcome(pg_temp.classify_sql('truncated.jpg')), '22P03|hint', 'truncated JPEG: 22P03 with a hint');
SELECT is(pg_temp.outcome(pg_temp.classify_sql('jpeg_head_only')), '22P03|hint', 'JPEG cut inside its header: 22P03');
SELECT is(pg_temp.outcome(pg_temp.classify_sql('truncated.png')), '22P03|hint', 'truncated PNG: 22P03 with a hint');
SELECT is(pg_temp.outcome(pg_temp.classify_sql('page.html')), '22P03|hint', 'an HTML page: 22P03 with a hint');
SELECT is(pg_temp.outcome(pg_temp.classify_sql('document.pdf')), '22P03|hint', 'a PDF: 22P03 with a hint');
SELECT is(pg_temp.outcome(pg_temp.classify_sql('huge_header.png')), '54000|hint',
          'a PNG claiming 100000x100000 pixels: 54000 (program_limit_exceeded) with a hint');
SELECT is(pg_temp.outcome(pg_temp.classify_sql('zero_width.png')), '22P03|hint', 'a zero-width PNG: 22P03');
SELECT is(pg_temp.outcome(pg_temp.classify_sql('zero_size.bmp')), '22P03|hint', 'a zero-size BMP: 22P03');
SELECT is(pg_temp.outcome(pg_temp.classify_sql('parrot.jpg', 'no_such_model')), '42704|hint', 'unknown model: 42704 with a hint');
SELECT is(pg_temp.outcome(pg_temp.classify_sql('parrot.jpg', '../../etc/passwd')), '22023|hint', 'a path as model name: 22023');
SELECT is(pg_temp.outcome(pg_temp.classify_sql('parrot.jpg', '')), '22023|hint', 'empty model name: 22023');
SELECT is(pg_temp.outcome($$SELECT * FROM europeana.classify_image_topk((SELECT content FROM fx WHERE name = 'parrot.jpg'), 0)$$),
          '22023|hint', 'k = 0: 22023 with a hint');
SELECT is(pg_temp.outcome($$SELECT * FROM europeana.classify_image_topk((SELECT content FROM fx WHERE name = 'parrot.jpg'), -5)$$),
          '22023|hint', 'negative k: 22023');

-- messages say what is wrong
SELECT throws_ok(pg_temp.classify_sql('truncated.jpg'), '22P03', 'jpeg image data is truncated (73941 bytes)', 'truncation is named');
SELECT throws_like(pg_temp.classify_sql('page.html'), '%HTML document%', 'an HTML page is named as such');
SELECT throws_like(pg_temp.classify_sql('huge_header.png'), '%100000x100000%', 'the declared size is in the message');
SELECT throws_like(pg_temp.classify_sql('parrot.jpg', 'no_such_model'), '%no_such_model%', 'the model name is in the message');

-- the pixel limit is a setting
SELECT set_config('europeana.max_image_pixels', (width * height - 1)::text, true)
FROM europeana.image_info((SELECT content FROM fx WHERE name = 'parrot.jpg'));
SELECT is(pg_temp.outcome(pg_temp.classify_sql('parrot.jpg')), '54000|hint', 'europeana.max_image_pixels refuses a photo one pixel over');
SELECT set_config('europeana.max_image_pixels', (width * height)::text, true)
FROM europeana.image_info((SELECT content FROM fx WHERE name = 'parrot.jpg'));
SELECT is(pg_temp.outcome(pg_temp.classify_sql('parrot.jpg')), 'ok', 'and accepts it at exactly its size');
RESET europeana.max_image_pixels;

-- NULL default model
SET LOCAL europeana.default_model = '';
SELECT is(pg_temp.outcome(pg_temp.classify_sql('parrot.jpg')), '22023|hint', 'no model and an empty default: 22023');
RESET europeana.default_model;

-- broken model files
SET LOCAL europeana.model_dir = :'brokenmodels';
SELECT is(pg_temp.outcome(pg_temp.classify_sql('parrot.jpg', 'missing_weights')), '58P01|hint', 'missing weights file: 58P01 (undefined_file)');
SELECT is(pg_temp.outcome(pg_temp.classify_sql('parrot.jpg', 'corrupt_weights')), 'XX001|hint',
          'a weights file that is not TorchScript (checksum matches): XX001 (data_corrupted)');
SELECT is(pg_temp.outcome(pg_temp.classify_sql('parrot.jpg', 'truncated_weights')), 'XX001|hint',
          'a truncated TorchScript archive (checksum matches): XX001');
SELECT is(pg_temp.outcome(pg_temp.classify_sql('parrot.jpg', 'wrong_checksum')), 'XX001|hint', 'weights that fail their sha256: XX001');
SELECT throws_like(pg_temp.classify_sql('parrot.jpg', 'wrong_checksum'), '%sha256%', 'the checksum mismatch is named');
SELECT is(pg_temp.outcome(pg_temp.classify_sql('parrot.jpg', 'bad_metadata')), 'XX001|hint', 'unreadable metadata: XX001');
SELECT is(pg_temp.outcome(pg_temp.classify_sql('parrot.jpg', 'wrong_outputs')), 'XX001|hint',
          'metadata that lists the wrong number of labels for the network: XX001');
SELECT is(pg_temp.outcome(pg_temp.classify_sql('parrot.jpg', 'missing_labels')), '58P01|hint',
          'a missing label file: 58P01 with a hint, like missing weights');
SELECT is(pg_temp.outcome(pg_temp.classify_sql('parrot.jpg', 'missing_map')), '58P01|hint',
          'a missing concept-map file: 58P01 with a hint');
SELECT is(pg_temp.outcome($$SELECT europeana.register_model('unknown_concept')$$), '42704|hint',
          'a model whose output is not a concept name (Painting) cannot be registered');
SELECT is((SELECT count(*)::int FROM europeana.models WHERE name = 'unknown_concept'), 0, 'and is not recorded');
SELECT is((SELECT array_agg(name ORDER BY name) FROM europeana.available_models() WHERE error IS NOT NULL),
          ARRAY['bad_metadata', 'missing_labels', 'missing_map'],
          'available_models lists the unreadable models with their errors instead of failing');
SELECT is(pg_temp.outcome($$SELECT europeana.verify_model('wrong_checksum')$$), 'XX001|hint', 'verify_model detects the mismatch');
RESET europeana.model_dir;
SET LOCAL europeana.model_dir = '/nonexistent/models';
SELECT is(pg_temp.outcome(pg_temp.classify_sql('parrot.jpg')), '42704|hint', 'a model directory that does not exist: 42704 with a hint');
RESET europeana.model_dir;

-- NULLs
SELECT is(europeana.classify_image(NULL, NULL), NULL, 'NULL image and model: NULL');
SELECT is(pg_temp.outcome($$SELECT * FROM europeana.classify_image_topk((SELECT content FROM fx WHERE name = 'parrot.jpg'), NULL)$$),
          'ok', 'NULL k: no rows, no error');

-- the session is still usable after every one of these errors, and answers correctly
SELECT is((europeana.classify_image((SELECT content FROM fx WHERE name = 'parrot.jpg'))).label, 'macaw',
          'the same session still classifies correctly after all the errors');
SELECT is((europeana.classify_image((SELECT content FROM fx WHERE name = 'parrot.jpg'), 'mobilenet_v2_imagenet_quantized')).label,
          'macaw', 'and with the other model');

-- many errors in a row do not leak: RSS after 2000 more errors stays within 8 MB
CREATE FUNCTION pg_temp.rss_kb() RETURNS bigint LANGUAGE sql AS $$
    SELECT (regexp_match(pg_read_file('/proc/' || pg_backend_pid() || '/status'), 'VmRSS:\s+(\d+)'))[1]::bigint
$$;
CREATE FUNCTION pg_temp.many_errors(n int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE errors int := 0; img bytea;
BEGIN
    FOR i IN 1..n LOOP
        SELECT content INTO img FROM fx WHERE name = (ARRAY['truncated.jpg', 'page.html', 'random', 'huge_header.png'])[1 + i % 4];
        BEGIN
            PERFORM europeana.classify_image(img);
        EXCEPTION WHEN invalid_binary_representation OR program_limit_exceeded THEN
            errors := errors + 1;
        END;
    END LOOP;
    RETURN errors;
END $$;
SELECT is(pg_temp.many_errors(500), 500, '500 bad images, 500 clean errors');
CREATE TEMP TABLE rss AS SELECT pg_temp.rss_kb() AS before;
SELECT is(pg_temp.many_errors(2000), 2000, '2000 more bad images, 2000 clean errors');
SELECT cmp_ok(pg_temp.rss_kb() - (SELECT before FROM rss), '<', 8192::bigint, 'backend RSS grew by less than 8 MB over 2000 errors');

-- errors inside a savepoint roll back cleanly
SAVEPOINT s;
SELECT is(pg_temp.outcome(pg_temp.classify_sql('random')), '22P03|hint', 'error inside a savepoint');
ROLLBACK TO SAVEPOINT s;
SELECT is((europeana.classify_image((SELECT content FROM fx WHERE name = 'parrot.jpg'))).label, 'macaw', 'and the transaction goes on');
SELECT is((SELECT count(*)::int FROM fx), 31, 'all fixtures were loaded');

SELECT * FROM finish();
ROLLBACK;
