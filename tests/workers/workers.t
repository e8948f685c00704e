#!/usr/bin/env bash
# Background workers on a cluster of their own (TAP; run with `prove -e bash`):
# wake-up at commit, 8 concurrent ingesting sessions, poison images, reload, re-enrichment
# with a new default model, kill -9 of workers during a 5,000-image run, SIGTERM, version
# mismatch, images replaced while being classified. Proves that no queue item is lost and
# none is enriched twice. WORKER_PIPELINE=on runs it with pipelined workers.
# Needs the extension installed and, from scripts/test.sh, BUILD with data/clothing and fixtures.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${BUILD:-$ROOT/build}" && pwd)   # absolute: the server reads the photos
PHOTOS=$BUILD/data/clothing/validation
FIXTURES=$BUILD/fixtures
for need in "$PHOTOS" "$FIXTURES/truncated.jpg"; do
  [ -e "$need" ] || { echo "Bail out! missing test data: $need (run scripts/test.sh)"; exit 1; }
done
# WORKER_PIPELINE=on (tests/workers/pipelined.t) runs every check with pipelined workers
PIPELINE=${WORKER_PIPELINE:-auto}
CLUSTER=$BUILD/workers-test-$PIPELINE
export PG_CLUSTER_CONF="europeana.worker_count = 2
europeana.worker_naptime = 60
europeana.batch_size = 16
europeana.worker_pipeline = $PIPELINE
europeana.log_batches = on
restart_after_crash = on"
"$ROOT/scripts/pg_cluster.sh" start "$CLUSTER" --preload >/dev/null || { echo "Bail out! cluster did not start"; exit 1; }
trap '"$ROOT/scripts/pg_cluster.sh" stop "$CLUSTER" >/dev/null 2>&1' EXIT
# shellcheck disable=SC1091
source "$CLUSTER/env"
LOG=$CLUSTER/server.log


n=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
is() { n=$((n + 1)); if [ "$1" == "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got: '$1'"; echo "#  want: '$2'"; fi; }
q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1" 2>/dev/null; }
# wait_until SQL SECONDS: until the query returns t; returns 1 on timeout
wait_until() {
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(q "$1")" = "t" ] && return 0
    sleep 0.2
  done
  return 1
}
wait_server() { for _ in $(seq 1 150); do pg_isready -q && q "select 1" >/dev/null && return 0; sleep 0.2; done; return 1; }
status() { q "select string_agg(worker || ':' || coalesce(pid::text, '-') || ':' || state || ':' || images, ' ' order by worker) from europeana.worker_status"; }

# --- waiting for the extension
for _ in $(seq 1 50); do grep -q 'europeana worker 2: waiting for CREATE' "$LOG" && break; sleep 0.2; done
grep -q 'europeana worker 2: waiting for CREATE EXTENSION europeana in database "postgres"' "$LOG"
ok $? "a worker started before the extension exists says in the log what it waits for"
q "create extension europeana" >/dev/null
q "create table photos as select f as name, pg_read_binary_file('$PHOTOS/' || f) as content
   from (select d || '/' || f as f from pg_ls_dir('$PHOTOS') d, pg_ls_dir('$PHOTOS/' || d) f) s order by f" >/dev/null
q "create table poison as select f as name, pg_read_binary_file('$FIXTURES/' || f) as content
   from unnest(array['truncated.jpg', 'truncated.png', 'page.html', 'document.pdf', 'huge_header.png']) f" >/dev/null
is "$(q "select count(*) from photos")" "341" "341 real photos staged"

# --- wake-up at commit, not by the 60 s poll
q "insert into europeana.images (name, content) select name, content from photos limit 1" >/dev/null
start=$SECONDS
wait_until "select count(*) = 3 from europeana.enrichments" 20
ok $? "the first image is enriched: the commit woke a worker waiting for the extension"
q "insert into europeana.images (name, content) select name, content from photos offset 1 limit 1" >/dev/null
wait_until "select count(*) = 6 from europeana.enrichments" 5
ok $? "an idle worker is woken by the commit (naptime is 60 s)"
is "$(q "select string_agg(state, ',' order by worker) from europeana.worker_status")" "idle,idle" "both workers idle again"
q "begin; insert into europeana.images (name, content) select name, content from photos limit 1; rollback" >/dev/null
sleep 0.5
is "$(q "select count(*) from europeana.enrichment_queue")" "0" "a rolled-back insert queues nothing"

# --- 8 concurrent sessions insert 2,000 images (40 of them poison) in small transactions
before=$(q "select coalesce(sum(images), 0) from europeana.worker_status")
for s in $(seq 1 8); do
  {
    for t in $(seq 0 23); do
      echo "insert into europeana.images (name, content) select 's$s-' || name, content from photos order by name offset $(( (s * 37 + t * 10) % 330 )) limit 10;"
    done
    echo "insert into europeana.images (name, content) select 's$s-' || name, content from photos order by name limit 5;"
    echo "insert into europeana.images (name, content) select 'poison-s$s-' || name, content from poison;"
  } | psql -XAtq -v ON_ERROR_STOP=1 >/dev/null &
done
wait
is "$(q "select count(*) from europeana.images where name like 's%' or name like 'poison-%'")" "2000" "8 sessions stored 2,000 images"
wait_until "select pending = 0 from europeana.queue_status" 240
ok $? "the workers drain the queue"
is "$(q "select count(distinct image_id) from europeana.enrichments e join europeana.images i using (image_id) where i.name like 's%'")" \
   "1960" "every valid image of the 8 sessions is enriched"
is "$(q "select count(*) from europeana.enrichments e join europeana.images i using (image_id) where i.name like 's%'")" \
   "5880" "with exactly its top 3 concepts"
is "$(( $(q "select sum(images) from europeana.worker_status") - before ))" "1960" \
   "the workers' committed batches held 1,960 images: none was enriched twice"
is "$(q "select count(*) filter (where images > 0) from europeana.worker_status")" "2" "both workers shared the work"
is "$(q "select count(*) from europeana.enrichment_queue q join europeana.images i using (image_id) where i.name like 'poison-%' and q.attempts >= 1 and q.last_error is not null and q.last_sqlstate is not null")" \
   "40" "each poison image is recorded on its queue row (attempts, error, SQLSTATE)"
is "$(q "select count(*) from europeana.enrichments e join europeana.images i using (image_id) where i.name like 'poison-%'")" "0" \
   "no poison image has a result"

# --- SIGHUP reloads the batch size
b0=$(q "select sum(batches) from europeana.worker_status"); i0=$(q "select sum(images) from europeana.worker_status")
q "alter system set europeana.batch_size = 3" >/dev/null; q "select pg_reload_conf()" >/dev/null; sleep 1
q "insert into europeana.images (name, content) select 'hup-' || name, content from photos limit 30" >/dev/null
wait_until "select count(distinct image_id) = 30 from europeana.enrichments join europeana.images using (image_id) where name like 'hup-%'" 60
b1=$(q "select sum(batches) from europeana.worker_status"); i1=$(q "select sum(images) from europeana.worker_status")
ok $(( (i1 - i0) > 3 * (b1 - b0) )) "after a reload the workers take batches of at most 3 ($((i1 - i0)) images in $((b1 - b0)) batches)"
q "alter system reset europeana.batch_size" >/dev/null; q "select pg_reload_conf()" >/dev/null
q "alter system set europeana.worker_devices = 'tpu'" >/dev/null
ok $(( $? == 0 )) "an unknown device is refused by the setting's check"

# --- a new default model: re-enrichment on request keeps the old results
q "alter system set europeana.default_model = 'mobilenet_v2_imagenet_quantized'" >/dev/null; q "select pg_reload_conf()" >/dev/null; sleep 1
q "delete from europeana.images where name like 's%' and image_id % 10 <> 0" >/dev/null
valid=$(q "select count(*) from europeana.images where name not like 'poison-%'")
queued=$(q "select europeana.request_enrichment()")
is "$queued" "$(q "select count(*) from europeana.images")" "request_enrichment() queues every stored image for the new default"
wait_until "select count(distinct image_id) = $valid from europeana.enrichments e join europeana.models m using (model_id) where m.name = 'mobilenet_v2_imagenet_quantized'" 240
ok $? "the workers enrich them with the new default model"
is "$(q "select count(distinct image_id) from europeana.enrichments e join europeana.models m using (model_id) where m.name = 'mobilenet_v2_imagenet_float'")" \
   "$valid" "the previous model's results are kept"
q "alter system reset europeana.default_model" >/dev/null; q "select pg_reload_conf()" >/dev/null; sleep 1

# --- images replaced while queued, while their batch is being classified, or after it: the
# result is always the latest content's (a pipelined batch settles only rows unchanged since
# its claim; new bytes drop the old bytes' results)
q "create table pair as with l as (select name, content, (europeana.classify_image(content)).label from photos order by name limit 40)
   select a.content as a, b.content as b, b.label as lb from l a, l b where a.label <> b.label limit 1" >/dev/null
q "insert into europeana.images (name, content) select 'r' || g, a from pair, generate_series(1, 800) g" >/dev/null
# once the workers are into them, every one is replaced in one statement: some are enriched
# already (queued again, their old results dropped), most are queued, and the batches in
# flight at that moment hold some (pipelined: they must leave them queued as stale)
wait_until "select count(distinct image_id) >= 32 from europeana.enrichments e join europeana.images i using (image_id) where i.name like 'r%'" 60
q "update europeana.images set content = (select b from pair) where name like 'r%'" >/dev/null
wait_until "select count(*) = 0 from europeana.enrichment_queue q join europeana.images i using (image_id) where i.name like 'r%'" 120
ok $? "the replaced images are drained"
is "$(q "select count(*) from europeana.images i join europeana.enrichments e using (image_id) join europeana.models m using (model_id)
         where i.name like 'r%' and e.rank = 1 and m.name = 'mobilenet_v2_imagenet_float' and e.label = (select lb from pair)")" \
   "800" "each of the 800 replaced images carries its new content's result (none keeps the old one's)"
if [ "$PIPELINE" = on ]; then
  grep -qE 'pipelined: .* stale [1-9]' "$LOG"
  ok $? "some were replaced while their batch was in flight, and that batch left them queued (stale)"
fi

# --- CALL europeana.enrich() in two sessions beside the workers: each image enriched once (the
# sessions skip rows the workers have claimed, also those a pipelined worker holds unlocked)
w0=$(q "select sum(images) from europeana.worker_status")   # before the insert: its commit wakes the workers
q "insert into europeana.images (name, content) select 'e' || g || '-' || name, content from photos, generate_series(1, 3) g order by g, name limit 1000" >/dev/null
for s in 1 2; do
  psql -XAtq -c "call europeana.enrich()" 2>&1 | grep -o 'enrich: [0-9]*' | awk '{ print $2 }' >"$CLUSTER/enrich_$s.txt" &
done
wait
wait_until "select count(*) = 0 from europeana.enrichment_queue q join europeana.images i using (image_id) where i.name like 'e%'" 120
ok $? "the workers and the two sessions drain the 1,000 images"
by_workers=$(( $(q "select sum(images) from europeana.worker_status") - w0 ))
by_sessions=$(( $(cat "$CLUSTER/enrich_1.txt" 2>/dev/null || echo 0) + $(cat "$CLUSTER/enrich_2.txt" 2>/dev/null || echo 0) ))
is "$((by_workers + by_sessions))" "1000" "each image was enriched exactly once ($by_workers by the workers, $by_sessions by the sessions)"
is "$(q "select count(distinct image_id) from europeana.enrichments join europeana.images using (image_id) where name like 'e%'")" "1000" \
   "and every one has its results"

# --- kill -9 a worker five times during a 5,000-image run
q "delete from europeana.images where name like 'poison-%'" >/dev/null
postmaster=$(head -1 "$CLUSTER/data/postmaster.pid")
q "insert into europeana.images (name, content) select 'k' || g || '-' || name, content from photos, generate_series(1, 15) g order by g, name limit 5000" >/dev/null
is "$(q "select count(*) from europeana.images where name like 'k%'")" "5000" "5,000 images stored and queued"
kills=0
for k in 1 2 3 4 5; do
  wait_until "select count(*) >= 1 from europeana.worker_status where state = 'working'" 60 || break
  sleep 1.5
  victim=$(q "select pid from europeana.worker_status where pid is not null order by random() limit 1")
  [ -n "$victim" ] && kill -9 "$victim" && kills=$((kills + 1))
  sleep 0.5
  wait_server || break
  wait_until "select count(pid) = 2 from europeana.worker_status" 30 || break
done
is "$kills" "5" "five workers killed with SIGKILL while working"
wait_server
wait_until "select count(*) = 0 from europeana.enrichment_queue" 400
ok $? "after the crashes the restarted workers drain the queue"
is "$(q "select count(distinct image_id) from europeana.enrichments e join europeana.images i using (image_id) where i.name like 'k%'")" \
   "5000" "no queue item was lost: all 5,000 images are enriched"
is "$(q "select count(*) from europeana.enrichments e join europeana.images i using (image_id) where i.name like 'k%'")" \
   "15000" "and none twice: exactly 3 result rows each"
is "$(head -1 "$CLUSTER/data/postmaster.pid")" "$postmaster" "the postmaster survived"
is "$(grep -cE 'background worker "europeana worker" \(PID [0-9]+\) was terminated by signal 9' "$LOG")" "5" "the log shows the five kills and nothing else died"
is "$(q "select count(pid) from europeana.worker_status")" "2" "both workers are back"

# --- SIGTERM: a clean exit, and the worker is started again
victim=$(q "select pid from europeana.worker_status where worker = 1")
q "select pg_terminate_backend($victim)" >/dev/null
wait_until "select pid is not null and pid <> $victim from europeana.worker_status where worker = 1" 20
ok $? "a worker stopped with SIGTERM is restarted"
ok "$(grep -c 'terminated by signal' "$LOG" | awk '{print ($1 == 5) ? 0 : 1}')" "SIGTERM is a clean exit, not a crash"

# --- SIGTERM while a worker is busy: its batch (in flight, when pipelined) is abandoned, and its
# rows are enriched by the others or by its successor
q "insert into europeana.images (name, content) select 't' || g || '-' || name, content from photos, generate_series(1, 2) g order by g, name limit 600" >/dev/null
wait_until "select count(*) >= 1 from europeana.worker_status where state = 'working'" 30
sleep 0.5
victim=$(q "select pid from europeana.worker_status where state = 'working' order by worker limit 1")
[ -n "$victim" ] && q "select pg_terminate_backend($victim)" >/dev/null
wait_until "select count(*) = 0 from europeana.enrichment_queue q join europeana.images i using (image_id) where i.name like 't%'" 120
ok $? "a worker stopped with SIGTERM in the middle of the work leaves nothing behind: the queue drains"
is "$(q "select count(distinct image_id) from europeana.enrichments join europeana.images using (image_id) where name like 't%'")" "600" \
   "all 600 images are enriched"
ok "$(grep -c 'terminated by signal' "$LOG" | awk '{print ($1 == 5) ? 0 : 1}')" "and the worker exited cleanly"

# --- a device this server does not have: the worker reports it and blames no image
q "alter system set europeana.worker_devices = 'cuda:0'" >/dev/null; q "select pg_reload_conf()" >/dev/null
for w in 1 2; do q "select pg_terminate_backend(pid) from europeana.worker_status where worker = $w" >/dev/null; done
wait_until "select count(*) = 2 from europeana.worker_status where device = 'cuda:0' and pid is not null" 30
q "insert into europeana.images (name, content) select 'dev-' || name, content from photos limit 1" >/dev/null
wait_until "select count(*) >= 1 from europeana.worker_status where state = 'error' and last_error like '%cuda:0 is not available%'" 20
ok $? "a worker on a missing device says so in worker_status"
is "$(q "select attempts from europeana.enrichment_queue q join europeana.images i using (image_id) where i.name like 'dev-%'")" "0" \
   "and the image is not blamed for it (no attempt recorded)"
q "alter system reset europeana.worker_devices" >/dev/null; q "select pg_reload_conf()" >/dev/null
for w in 1 2; do q "select pg_terminate_backend(pid) from europeana.worker_status where worker = $w" >/dev/null; done
wait_until "select count(distinct image_id) = 1 from europeana.enrichments join europeana.images using (image_id) where name like 'dev-%'" 40
ok $? "back on the CPU the workers enrich it"

# --- version mismatch between library and extension
q "update pg_extension set extversion = '0.0.1' where extname = 'europeana'" >/dev/null
q "insert into europeana.images (name, content) select 'vm-' || name, content from photos limit 1" >/dev/null
wait_until "select bool_and(state = 'version_mismatch') from europeana.worker_status" 20
ok $? "a library/extension version mismatch stops the workers from enriching"
grep -q 'library version .* does not match the extension version 0.0.1' "$LOG"
ok $? "and is reported in the log"
q "update pg_extension set extversion = (select default_version from pg_available_extensions where name = 'europeana') where extname = 'europeana'" >/dev/null
q "insert into europeana.images (name, content) select 'vm2-' || name, content from photos limit 1" >/dev/null
wait_until "select count(distinct image_id) = 2 from europeana.enrichments join europeana.images using (image_id) where name like 'vm%'" 20
ok $? "once they match again the workers go on, including the image queued meanwhile"

# --- a user trigger on enrichments that refuses one image: the rest of its batch is written
q "create function public.refuse_named() returns trigger language plpgsql as \$\$ begin
     if exists (select 1 from europeana.images where image_id = new.image_id and name = 'trg-refuse') then
       raise exception 'refused by policy'; end if; return new; end \$\$" >/dev/null
q "create trigger refuse_named before insert on europeana.enrichments for each row execute function public.refuse_named()" >/dev/null
q "insert into europeana.images (name, content) select 'trg-' || n, (select content from photos order by name limit 1)
   from unnest(array['a', 'refuse', 'b', 'c']) n" >/dev/null
wait_until "select count(distinct image_id) = 3 from europeana.enrichments join europeana.images using (image_id) where name like 'trg-%'" 30
ok $? "a trigger refusing one image: the workers write the rest of its batch"
wait_until "select attempts >= 1 and last_sqlstate = 'P0001' and last_error like '%refused by policy%'
            from europeana.enrichment_queue q join europeana.images i using (image_id) where i.name = 'trg-refuse'" 20
ok $? "and record the refused image with the trigger's error and SQLSTATE"
# --- and when its refusal cannot be recorded either (a trigger on the queue), the image stays
# queued as it was, and the workers do not claim it again and again
q "create or replace function public.refuse_named() returns trigger language plpgsql as \$\$ begin
     if exists (select 1 from europeana.images where image_id = new.image_id and name like 'trg%refuse') then
       raise exception 'refused by policy'; end if; return new; end \$\$" >/dev/null
q "create function public.no_attempts() returns trigger language plpgsql as \$\$ begin
     if new.attempts > old.attempts then raise exception 'attempts are not counted today'; end if; return new; end \$\$" >/dev/null
q "create trigger no_attempts before update on europeana.enrichment_queue for each row execute function public.no_attempts()" >/dev/null
q "insert into europeana.images (name, content) select 'trg2-' || n, (select content from photos order by name limit 1)
   from unnest(array['a', 'refuse']) n" >/dev/null
wait_until "select count(distinct image_id) = 1 from europeana.enrichments join europeana.images using (image_id) where name like 'trg2-%'" 30
ok $? "a refusal that cannot be recorded: the workers still write the rest of its batch"
b0=$(q "select sum(batches) from europeana.worker_status")
sleep 3
b1=$(q "select sum(batches) from europeana.worker_status")
ok $(( (b1 - b0) > 4 )) "and do not claim the image again and again ($((b1 - b0)) batches in 3 s)"
is "$(q "select attempts || ' ' || (dead_at is null) from europeana.enrichment_queue q join europeana.images i using (image_id) where i.name = 'trg2-refuse'")" \
  "0 true" "the image stays queued as it was"
q "drop trigger no_attempts on europeana.enrichment_queue" >/dev/null; q "drop function public.no_attempts()" >/dev/null
q "drop trigger refuse_named on europeana.enrichments" >/dev/null; q "drop function public.refuse_named()" >/dev/null
q "delete from europeana.images where name in ('trg-refuse', 'trg2-refuse')" >/dev/null

# --- a crash loop: starts that end within a minute without writing a batch make the restarted
# workers wait before they claim work (5 s, doubling), instead of restarting the server every
# few seconds; a written batch resets the count
crash_worker() {
  wait_until "select count(pid) = 2 from europeana.worker_status" 60 || return 1
  kill -9 "$(q "select pid from europeana.worker_status where worker = 1")"
  sleep 0.5
  wait_server
}
waits0=$(grep -c 'europeana worker 1: its last .* waiting [0-9]* s before claiming work' "$LOG")
crash_worker && crash_worker
wait_until "select count(*) >= 1 from europeana.worker_status where state = 'error' and last_error like '%waiting % s before claiming work'" 10
ok $? "worker_status shows the wait"
wait_until "select count(pid) = 2 from europeana.worker_status" 60
ok $(( $(grep -c 'europeana worker 1: its last .* waiting [0-9]* s before claiming work' "$LOG") > waits0 ? 0 : 1 )) \
  "a worker whose last start ended quickly without a batch waits before claiming work, and says so"
t0=$SECONDS
q "insert into europeana.images (name, content) select 'loop-1', content from photos limit 1" >/dev/null
wait_until "select count(*) = 1 from europeana.enrichments e join europeana.images i using (image_id) where i.name = 'loop-1' and e.rank = 1" 90
ok $? "after the wait the workers enrich again"
ok $(( SECONDS - t0 >= 3 ? 0 : 1 )) "not before the wait is over ($((SECONDS - t0)) s after the image was queued)"
ok "$(cat "$CLUSTER"/data/pg_europeana/worker_* | grep -cx '0 0' | awk '{print ($1 >= 1) ? 0 : 1}')" \
  "the worker that wrote the batch has reset its count"

# --- threads and crashes
is "$(awk '/^Threads:/ {print $2}' /proc/"$postmaster"/status)" "1" "the postmaster is still single-threaded"
ok "$(grep -cE 'PANIC' "$LOG")" "no PANIC in the server log"
echo "1..$n"
