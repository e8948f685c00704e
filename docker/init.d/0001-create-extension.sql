-- Runs once, on the first start of a container with an empty data directory, in
-- POSTGRES_DB as POSTGRES_USER (a superuser): creates the extension and checks that the
-- provisioned models can be read, so that a broken image fails at start-up rather than
-- on the first classification.
\set ON_ERROR_STOP 1

CREATE EXTENSION IF NOT EXISTS europeana;

DO $$
DECLARE
    n integer;
    bad text;
BEGIN
    SELECT count(*) INTO n FROM europeana.available_models();
    IF n = 0 THEN
        RAISE EXCEPTION 'pg_europeana: no models in %', current_setting('europeana.model_dir');
    END IF;
    SELECT string_agg(name || ': ' || error, '; ') INTO bad
      FROM europeana.available_models() WHERE error IS NOT NULL;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'pg_europeana: unreadable model metadata: %', bad;
    END IF;
    RAISE NOTICE 'pg_europeana: % model(s) in %', n, current_setting('europeana.model_dir');
END
$$;
