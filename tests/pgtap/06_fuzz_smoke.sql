-- Fuzz smoke run: 10,000 mutated images of six formats through classify_image in one
-- session. Every call either answers or raises a clean bad-input error; the backend never
-- crashes and stays usable. Deterministic (seeded), so a failure reproduces.
-- psql variable: fixtures.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION europeana;
SELECT plan(5);

CREATE TEMP TABLE seeds AS
SELECT row_number() OVER (ORDER BY f) - 1 AS n, pg_read_binary_file(:'fixtures' || '/' || f) AS content
FROM pg_ls_dir(:'fixtures') AS f WHERE f LIKE 'seed_%';
CREATE TEMP TABLE outcomes (sqlstate text, n int);

CREATE FUNCTION pg_temp.mutate(b bytea, strategy int) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE len int := length(b); pos int; cnt int;
BEGIN
    IF strategy = 0 THEN          -- flip a few random bytes anywhere
        FOR j IN 1..1 + floor(random() * 8)::int LOOP
            b := set_byte(b, floor(random() * len)::int, floor(random() * 256)::int);
        END LOOP;
    ELSIF strategy = 1 THEN       -- truncate
        b := substring(b FROM 1 FOR floor(random() * len)::int);
    ELSIF strategy = 2 THEN       -- corrupt the header
        FOR j IN 1..1 + floor(random() * 4)::int LOOP
            b := set_byte(b, floor(random() * least(len, 64))::int, floor(random() * 256)::int);
        END LOOP;
    ELSIF strategy = 3 THEN       -- duplicate a slice into the middle
        pos := floor(random() * len)::int;
        cnt := floor(random() * 512)::int;
        b := substring(b FROM 1 FOR pos) || substring(b FROM 1 + floor(random() * len)::int FOR cnt) || substring(b FROM pos + 1);
    ELSE                          -- zero a range
        pos := floor(random() * len)::int;
        cnt := least(len - pos, 1 + floor(random() * 256)::int);
        b := overlay(b PLACING decode(repeat('00', cnt), 'hex') FROM pos + 1 FOR cnt);
    END IF;
    RETURN b;
END $$;

DO $$
DECLARE img bytea; st text; counts jsonb := '{}';
BEGIN
    PERFORM setseed(0.4242);
    FOR i IN 0..9999 LOOP
        SELECT pg_temp.mutate(content, (i / 6) % 5) INTO img FROM seeds WHERE n = i % 6;
        BEGIN
            PERFORM europeana.classify_image(img);
            st := 'ok';
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
        END;
        counts := jsonb_set(counts, ARRAY[st], to_jsonb(coalesce((counts->>st)::int, 0) + 1));
    END LOOP;
    INSERT INTO outcomes SELECT key, value::int FROM jsonb_each_text(counts);
END $$;

SELECT diag('fuzz smoke outcomes: ' || string_agg(sqlstate || '=' || n, ', ' ORDER BY sqlstate)) FROM outcomes;
SELECT is((SELECT sum(n)::int FROM outcomes), 10000, '10,000 mutated images went through classify_image in one session');
SELECT is((SELECT coalesce(sum(n), 0)::int FROM outcomes WHERE sqlstate NOT IN ('ok', '22P03', '54000')), 0,
          'every failure is a clean bad-input error (22P03 or 54000), never an internal error');
SELECT cmp_ok((SELECT n FROM outcomes WHERE sqlstate = 'ok'), '>', 500, 'many mutants still decode and are classified');
SELECT cmp_ok((SELECT n FROM outcomes WHERE sqlstate = '22P03'), '>', 500, 'many mutants are refused');
SELECT is((europeana.classify_image(pg_read_binary_file(:'fixtures' || '/parrot.png'))).label, 'macaw',
          'the session still classifies correctly afterwards');

SELECT * FROM finish();
ROLLBACK;
