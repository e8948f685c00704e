-- Waits, in this session, until the enrichment queue is empty and reports the time it took
-- as a NOTICE "seconds=..." (stderr). Run right after the COMMIT of the INSERT it times;
-- polls every :poll seconds (psql variable, default 0.02).
\if :{?poll}
\else
\set poll 0.02
\endif
SELECT set_config('bench.poll', :'poll', false) \gset
DO $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  LOOP
    EXIT WHEN NOT EXISTS (SELECT 1 FROM europeana.enrichment_queue);
    PERFORM pg_sleep(current_setting('bench.poll')::float8);
  END LOOP;
  RAISE NOTICE 'seconds=%', extract(epoch FROM clock_timestamp() - t0);
END
$$;
