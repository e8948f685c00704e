#!/usr/bin/env bash
# Latency of europeana.classify_image for one model, in a fresh backend.
#   bench/classify_latency.sh MODEL N WARMUP CLIENT_N NAME...
# Needs PGHOST/PGPORT/PGUSER/PGDATABASE (a superuser, for pg_read_file of /proc) and rows
# in europeana.images whose name is each NAME.  Prints KEY=VALUE lines:
#   first_call_ms           the first classify_image in a fresh backend (loads the model)
#   rss_before_kB / rssanon_before_kB / rss_after_kB / rssanon_after_kB
#                           VmRSS / RssAnon of that backend before and after the first call
#   rss_end_kB / rssanon_end_kB   after all timed calls
#   threads / other_threads_cpu_pct  threads of that backend at the end, and the share of its CPU
#                           time used by threads other than the main one (with one intra-op thread: ~0)
#   server_NAME_med / _p90  ms per call, timed inside the server (plpgsql loop, clock_timestamp()
#                           around each call), N calls after WARMUP untimed ones
#   client_NAME_med / _p90  ms per statement seen by pgbench (one connection, CLIENT_N
#                           transactions after WARMUP discarded ones; includes the round trip)
#   label_NAME              the network's top label for NAME
# Every call runs with europeana.intra_op_threads = 1.
set -euo pipefail
MODEL=${1:?model}
N=${2:?n}
WARMUP=${3:?warmup}
CLIENT_N=${4:?client n}
shift 4
[ $# -gt 0 ] || { echo "classify_latency: no image names" >&2; exit 2; }
BIN=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
export PGOPTIONS="${PGOPTIONS:-} -c europeana.intra_op_threads=1"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# helpers, in their own connection so that the measured backend starts clean
"$BIN/psql" -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE SCHEMA IF NOT EXISTS bench;
CREATE OR REPLACE FUNCTION bench.status(field text) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT substring(pg_read_file('/proc/' || pg_backend_pid() || '/status')
                     FROM field || ':\s+([0-9]+) kB')::bigint
$$;
CREATE OR REPLACE FUNCTION bench.time_calls(img_name text, model text, n integer)
RETURNS SETOF double precision
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    img bytea;
    t0 timestamptz;
    r europeana.classification;
BEGIN
    SELECT content INTO STRICT img FROM europeana.images WHERE name = img_name;
    FOR i IN 1 .. n LOOP
        t0 := clock_timestamp();
        r := europeana.classify_image(img, model);
        RETURN NEXT extract(epoch FROM clock_timestamp() - t0) * 1000.0;
    END LOOP;
END
$$;
SQL

first=$1
{
  cat <<SQL
\\set ON_ERROR_STOP 1
SET europeana.intra_op_threads = 1;
DO \$\$BEGIN END\$\$;  -- load plpgsql before the first RSS reading
SELECT 'rss_before_kB=' || bench.status('VmRSS'), 'rssanon_before_kB=' || bench.status('RssAnon');
SELECT 'first_call_ms=' || round(t::numeric, 1) FROM bench.time_calls('$first', '$MODEL', 1) AS t;
SELECT 'rss_after_kB=' || bench.status('VmRSS'), 'rssanon_after_kB=' || bench.status('RssAnon');
SQL
  for name in "$@"; do
    cat <<SQL
SELECT count(*) AS warmup FROM bench.time_calls('$name', '$MODEL', $WARMUP) \\g /dev/null
SELECT 'server_${name}_med=' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY t)::numeric, 2),
       'server_${name}_p90=' || round(percentile_cont(0.9) WITHIN GROUP (ORDER BY t)::numeric, 2)
FROM bench.time_calls('$name', '$MODEL', $N) AS t;
SELECT 'label_${name}=' || (europeana.classify_image(content, '$MODEL')).label FROM europeana.images WHERE name = '$name';
SQL
  done
  echo "SELECT 'rss_end_kB=' || bench.status('VmRSS'), 'rssanon_end_kB=' || bench.status('RssAnon');"
  # threads of the backend and the share of its CPU time spent outside the main thread
  cat <<'SQL'
SELECT 'threads=' || count(*),
       'other_threads_cpu_pct=' || round(100.0 * coalesce(sum(ticks) FILTER (WHERE tid <> pg_backend_pid()), 0)
                                         / nullif(sum(ticks), 0), 1)
FROM (SELECT t::int AS tid,
             split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint AS ticks
      FROM pg_ls_dir('/proc/' || pg_backend_pid() || '/task') AS t,
           LATERAL pg_read_file('/proc/' || pg_backend_pid() || '/task/' || t || '/stat') AS s) AS x;
SQL
} >"$WORK/session.sql"
"$BIN/psql" -X -q -At -F $'\n' -f "$WORK/session.sql"

# client side: pgbench, one connection, per-transaction log; the first WARMUP transactions
# (the first one loads the model) are dropped
for name in "$@"; do
  echo "SELECT europeana.classify_image(content, '$MODEL') FROM europeana.images WHERE name = '$name';" \
    >"$WORK/$name.sql"
  (cd "$WORK" && "$BIN/pgbench" -n -c 1 -t $((WARMUP + CLIENT_N)) -f "$name.sql" -l --log-prefix="log_$name" \
    >"$WORK/pgbench_$name.out" 2>&1) || { cat "$WORK/pgbench_$name.out" >&2; exit 1; }
  # log line: client_id transaction_no latency_us script_no epoch epoch_us
  cat "$WORK"/log_"$name".* | awk -v skip="$WARMUP" '$2 >= skip { print $3 / 1000.0 }' | sort -g |
    awk -v name="$name" '{ a[NR] = $1 }
      function pc(q,   p, lo) { p = (NR - 1) * q; lo = int(p); return a[lo + 1] + (a[lo + 2 > NR ? NR : lo + 2] - a[lo + 1]) * (p - lo) }
      END { printf "client_%s_med=%.2f\nclient_%s_p90=%.2f\n", name, pc(0.5), name, pc(0.9) }'
done
