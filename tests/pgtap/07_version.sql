-- A backend refuses to run when the loaded library and the installed extension differ
-- (an old preloaded .so after an upgrade, or an extension not yet updated). Checked in a
-- fresh backend (dblink) against a committed catalog change, restored at the end.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS dblink;
DROP EXTENSION IF EXISTS europeana;
CREATE EXTENSION europeana;
SELECT plan(3);

CREATE FUNCTION pg_temp.remote(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hint text; r text;
BEGIN
    SELECT x INTO r FROM dblink(format('host=%s port=%s dbname=%s user=%s',
                                       split_part(current_setting('unix_socket_directories'), ',', 1),
                                       current_setting('port'), current_database(), current_user), stmt) AS t(x text);
    RETURN 'ok: ' || r;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
    RETURN 'error: ' || msg;
END $$;

SELECT is(pg_temp.remote($$SELECT format FROM europeana.image_info('\x89504e470d0a1a0a0000000d4948445200000001000000010802000000'::bytea)$$),
          'ok: png', 'matching versions: functions run');
UPDATE pg_extension SET extversion = '0.0.0-old' WHERE extname = 'europeana';
SELECT matches(pg_temp.remote($$SELECT name FROM europeana.available_models() LIMIT 1$$),
               'does not match the installed extension version 0.0.0-old',
               'a mismatch is refused with both versions named');
UPDATE pg_extension SET extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'europeana')
WHERE extname = 'europeana';
SELECT matches(pg_temp.remote($$SELECT name FROM europeana.available_models() LIMIT 1$$), '^ok: ', 'and runs again once they match');

SELECT * FROM finish();
DROP EXTENSION europeana;
DROP EXTENSION dblink;
