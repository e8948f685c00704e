-- Process and threading rules: a preloaded library leaves the postmaster single-threaded,
-- and every thread a backend gets from LibTorch/OpenCV has PostgreSQL's signals blocked.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION europeana;
SELECT plan(9);

CREATE FUNCTION pg_temp.status_field(pid int, tid text, field text) RETURNS text LANGUAGE sql AS $$
    SELECT (regexp_match(pg_read_file('/proc/' || pid || '/task/' || tid || '/status'), field || ':\s+(\S+)'))[1]
$$;
CREATE FUNCTION pg_temp.postmaster_pid() RETURNS int LANGUAGE sql AS $$
    SELECT split_part(pg_read_file('postmaster.pid'), E'\n', 1)::int
$$;

SELECT ok(current_setting('shared_preload_libraries') ~ 'europeana', 'the library is in shared_preload_libraries');
SELECT is(pg_temp.status_field(pg_temp.postmaster_pid(), pg_temp.postmaster_pid()::text, 'Threads'), '1',
          'the postmaster runs exactly one thread');

-- one intra-op thread (the default) means no pool thread at all, for both models
SELECT is((europeana.classify_image(pg_read_binary_file(:'samples' || '/cat.bmp'), 'mobilenet_v2_imagenet_quantized')).label,
          'Egyptian cat', 'quantized inference with the default single intra-op thread');
SELECT is(pg_temp.status_field(pg_backend_pid(), pg_backend_pid()::text, 'Threads'), '1',
          'with europeana.intra_op_threads = 1 the backend starts no thread (QNNPACK''s pool included)');

-- force a thread pool in this backend, then inspect every thread's signal mask
SET LOCAL europeana.intra_op_threads = 2;
SELECT is((europeana.classify_image(pg_read_binary_file(:'samples' || '/cat.bmp'))).label, 'Egyptian cat',
          'inference with two intra-op threads');
CREATE TEMP TABLE threads AS
SELECT tid, ('x' || lpad(pg_temp.status_field(pg_backend_pid(), tid, 'SigBlk'), 16, '0'))::bit(64)::bigint AS blocked
FROM pg_ls_dir('/proc/' || pg_backend_pid() || '/task') AS tid
WHERE tid <> pg_backend_pid()::text;
SELECT cmp_ok((SELECT count(*)::int FROM threads), '>=', 1, 'the backend now has pool threads');
-- SIGHUP 1, SIGINT 2, SIGQUIT 3, SIGUSR1 10, SIGUSR2 12, SIGALRM 14, SIGTERM 15: bit n-1
SELECT is((SELECT count(*)::int FROM threads
           WHERE blocked & ((1::bigint << 0) | (1::bigint << 1) | (1::bigint << 2) | (1::bigint << 9) | (1::bigint << 11)
                            | (1::bigint << 13) | (1::bigint << 14))
                 <> ((1::bigint << 0) | (1::bigint << 1) | (1::bigint << 2) | (1::bigint << 9) | (1::bigint << 11)
                     | (1::bigint << 13) | (1::bigint << 14))),
          0, 'no pool thread can receive PostgreSQL''s signals');
SELECT is(pg_temp.status_field(pg_temp.postmaster_pid(), pg_temp.postmaster_pid()::text, 'Threads'), '1',
          'the postmaster is still single-threaded after backends ran inference');
SELECT ok((SELECT ('x' || lpad(pg_temp.status_field(pg_backend_pid(), pg_backend_pid()::text, 'SigBlk'), 16, '0'))::bit(64)::bigint
                  & (1::bigint << 1) = 0),
          'the backend''s main thread still receives SIGINT (cancel works)');

SELECT * FROM finish();
ROLLBACK;
