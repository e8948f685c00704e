-- Included by the pgTAP files (\ir include/outcome.sql): pg_temp.outcome(stmt) runs a
-- statement and returns 'SQLSTATE|hint' (or 'SQLSTATE|no hint') of its error, or 'ok'.
CREATE FUNCTION pg_temp.outcome(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; hint text;
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, hint = PG_EXCEPTION_HINT;
    RETURN st || CASE WHEN coalesce(hint, '') <> '' THEN '|hint' ELSE '|no hint' END;
END $$;
