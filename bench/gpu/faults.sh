#!/usr/bin/env bash
# Bad input and faults on the GPU, run as root on the GPU machine after bench/gpu/run.sh (which
# installs the device kit, builds and installs the extension and makes the JPEGs under
# /tmp/europeana-gpu/img). One worker on cuda:0; each check starts a fresh cluster:
#   1. hostile images (bench/gpu/make_data.py hostile: corrupt entropy data with the end marker
#      kept, frame headers that lie, 12-bit and arithmetic frame markers, tiny and elongated
#      pictures, every chroma subsampling, CMYK, grey, progressive, EXIF-rotated, PNG, not images)
#      spread through 768 good JPEGs, with worker_gpu_jpeg = on, shared and off. Passes when the
#      worker never restarted, every good image was enriched, and every hostile one was either
#      enriched or refused with its error, and (with on and off, where the same decoder takes each
#      good image in both runs) every good image kept the top-1 label of a clean run of the same
#      worker, which is run twice to show that it repeats itself;
#   2. CUDA out of memory: another process holds all but FREE_GB GB of the GPU while a fresh
#      worker enriches 512 images with ResNet-50 in fp32. Passes when every image was enriched
#      and the log shows the worker running out of device memory (else the check proved nothing);
#   3. kill -9 of the worker while it works on the GPU: every one of 3,000 images enriched exactly
#      once after the server's restart.
# Prints one PASS or FAIL line per check into $OUT/faults.txt; exits 1 when any failed.
# A worker that crashes leaves its stack in the server log (crash_trace.hpp): the check prints
# it, with our library's frames resolved by addr2line.
# Environment: CHECKS ("hostile oom kill": which to run), HOSTILE_MODES ("on shared off": the
# worker_gpu_jpeg settings of the hostile check), GDB (set: cuda-gdb stops the out-of-memory
# check's worker at its first fatal signal and writes its stack; attached, it kept the worker
# from enriching anything in 60 s on an H100, so the check itself then fails), OOM_DRAIN (120 s), KILL_N (3000), KILL_MODEL (resnet50_random),
# OUT ($PWD/build-gpu/out), FREE_GB (2), DEVICE (cuda:0; cpu tries the script
# itself on a machine without a GPU, without the out-of-memory check), PY (python3 with Pillow).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/build-gpu/out}
FREE_GB=${FREE_GB:-2}
WORK=/tmp/europeana-gpu
CLUSTER=$WORK/pg-faults
mkdir -p "$OUT"
DEVICE=${DEVICE:-cuda:0}
# shellcheck disable=SC1091
[ -f /etc/device-kit.env ] && source /etc/device-kit.env
PY=${PY:-$(command -v python3)}
ls "$WORK"/img/*.jpg >/dev/null 2>&1 || { echo "faults: no images in $WORK/img (run bench/gpu/run.sh first)" >&2; exit 1; }
: >"$OUT/faults.txt"
fails=0
verdict() { # NAME OK(0/1) DETAIL
  local word=PASS
  [ "$2" = 0 ] || { word=FAIL; fails=$((fails + 1)); }
  echo "$word $1: $3" | tee -a "$OUT/faults.txt"
}
q() { psql -XAtq -v ON_ERROR_STOP=1 "$@"; }
CHECKS=${CHECKS:-hostile oom kill}
want() { [[ " $CHECKS " == *" $1 "* ]]; }
# crash_stack LOG: the first crash trace in LOG, each "lib.so(+0xOFFSET)" frame named by the
# nearest symbol at or below it (the symbol table, else the dynamic one: LibTorch's wheels are
# stripped of the former)
crash_stack() {
  grep -m1 -A40 'fatal signal' "$1" | grep -vE '^[0-9]{4}-' | head -40 | "$PY" -c '
import bisect, re, subprocess, sys
tables = {}
def nearest(lib, off):
    if lib not in tables:
        syms = []
        for args in (["nm", "-C", "--defined-only", lib], ["nm", "-D", "-C", "--defined-only", lib]):
            out = subprocess.run(args, capture_output=True, text=True).stdout
            for line in out.splitlines():
                parts = line.split(" ", 2)
                if len(parts) == 3 and parts[1].lower() in "tw":
                    syms.append((int(parts[0], 16), parts[2]))
            if syms:
                break
        syms.sort()
        tables[lib] = syms
    syms = tables[lib]
    i = bisect.bisect_right(syms, (off, chr(0x10FFFF))) - 1
    return "%s+0x%x" % (syms[i][1][:150], off - syms[i][0]) if i >= 0 else "?"
for line in sys.stdin:
    line = line.rstrip("\n")
    m = re.match(r"(/\S+?\.so[.0-9]*)\(\+(0x[0-9a-f]+)\)", line)
    print(line + ("  <- " + nearest(m.group(1), int(m.group(2), 16)) if m else ""))
'
}
# start EXTRA_CONF: a fresh cluster with one worker on cuda:0, refused images dead at once
start() {
  scripts/pg_cluster.sh stop "$CLUSTER" >/dev/null 2>&1 || true
  PG_CLUSTER_CONF="europeana.worker_count = 1
europeana.worker_devices = '$DEVICE'
europeana.batch_size = 256
europeana.worker_naptime = 60
europeana.enrich_max_attempts = 1
europeana.log_batches = on
europeana.default_model = 'mobilenet_v2_imagenet_float'
$1" scripts/pg_cluster.sh start "$CLUSTER" --preload >/dev/null
  # shellcheck disable=SC1091
  source "$CLUSTER/env"
  q -c "CREATE EXTENSION europeana" -c "CREATE TABLE files (ord int, name text, path text)"
}
# drain SECONDS: waits until no live queue row is left (reconnecting across a restart)
drain() {
  local i
  for i in $(seq 1 $(($1 * 5))); do
    [ "$(psql -XAtq -c "SELECT count(*) FROM europeana.enrichment_queue WHERE dead_at IS NULL" 2>/dev/null)" = 0 ] && return 0
    sleep 0.2
  done
  return 1
}
# settle_log: waits until no batch line has been added to the server log for 2 s (at most 20 s)
settle_log() {
  local before now i
  before=$(grep -c 'images in' "$CLUSTER/server.log")
  for i in $(seq 1 10); do
    sleep 2
    now=$(grep -c 'images in' "$CLUSTER/server.log")
    [ "$now" = "$before" ] && return 0
    before=$now
  done
}
# kept_labels: how many good images have the top-1 label their clean run gave them
kept_labels() {
  q -c "SELECT count(*) FROM clean c JOIN europeana.images i ON i.name = c.name
        JOIN europeana.enrichments e ON e.image_id = i.image_id AND e.rank = 1 WHERE e.label = c.label"
}
worker_pid() { psql -XAtq -c "SELECT pid FROM europeana.worker_status LIMIT 1" 2>/dev/null; }
# load LISTFILE: images named and ordered as in the file (ord, name, path), in one transaction
load() {
  q -c "TRUNCATE files" -c "\\copy files FROM '$1'" \
    -c "INSERT INTO europeana.images (name, content) SELECT name, pg_read_binary_file(path) FROM files ORDER BY ord"
}
trap 'cp "$CLUSTER/server.log" "$OUT/faults_server_last.log" 2>/dev/null; scripts/pg_cluster.sh stop "$CLUSTER" >/dev/null 2>&1 || true; kill $(jobs -p) 2>/dev/null || true' EXIT

"$PY" bench/gpu/make_data.py hostile "$(ls "$WORK"/img/*.jpg | head -1)" "$WORK/hostile" | tee -a "$OUT/faults.txt"
chmod -R a+rX "$WORK/hostile"
# 768 good JPEGs (three batches), and each hostile image twice, at random places among them
ls "$WORK"/img/*.jpg | awk '{ p[NR] = $0 } END { for (i = 0; i < 768; i++) printf "%d\tgood_%03d\t%s\n", 10 * i, i, p[i % NR + 1] }' >"$WORK/good.tsv"
ls "$WORK"/hostile/* | awk 'BEGIN { srand(11) } { for (k = 0; k < 2; k++) printf "%d\t%s.%d\t%s\n", int(rand() * 7680) + 5, $0, k, $0 }' |
  sed 's|\t[^\t]*/hostile/|\thostile_|' >"$WORK/hostile.tsv"
cat "$WORK/good.tsv" "$WORK/hostile.tsv" >"$WORK/mixed.tsv"
n_hostile=$(wc -l <"$WORK/hostile.tsv")

# --- 1. hostile images among good ones, with each of HOSTILE_MODES
for mode in ${HOSTILE_MODES:-on shared off}; do
  want hostile || continue
  start "europeana.worker_gpu_jpeg = $mode"
  load "$WORK/good.tsv"
  drain 120 || echo "faults: the clean run ($mode) did not drain" | tee -a "$OUT/faults.txt"
  q -c "CREATE TABLE clean AS SELECT i.name, e.label, e.label_score FROM europeana.enrichments e JOIN europeana.images i USING (image_id) WHERE e.rank = 1" \
    -c "DELETE FROM europeana.images"
  # the clean run once more: how far the labels of the same batches agree from run to run
  load "$WORK/good.tsv"
  drain 120 || echo "faults: the second clean run ($mode) did not drain" | tee -a "$OUT/faults.txt"
  same_clean=$(kept_labels)
  q -c "DELETE FROM europeana.images"
  settle_log # the last batch's log line follows its commit
  pid0=$(worker_pid)
  mark=$(wc -l <"$CLUSTER/server.log")
  load "$WORK/mixed.tsv"
  drained=0
  drain 180 || drained=1
  pid1=$(worker_pid)
  tail -n +"$((mark + 1))" "$CLUSTER/server.log" >"$OUT/faults_server_$mode.log" # the lines after the mark
  crashes=$(grep -cE 'terminated by signal|PANIC|was terminated|server process .* exited' "$CLUSTER/server.log")
  read -r good_done hostile_done hostile_refused left <<<"$(q -F ' ' -c "
    SELECT count(*) FILTER (WHERE i.name LIKE 'good%' AND e.image_id IS NOT NULL),
           count(*) FILTER (WHERE i.name LIKE 'hostile%' AND e.image_id IS NOT NULL),
           count(*) FILTER (WHERE i.name LIKE 'hostile%' AND q.dead_at IS NOT NULL AND q.last_error IS NOT NULL),
           count(*) FILTER (WHERE e.image_id IS NULL AND (q.queue_id IS NULL OR q.dead_at IS NULL))
    FROM europeana.images i
    LEFT JOIN europeana.enrichments e ON e.image_id = i.image_id AND e.rank = 1
    LEFT JOIN europeana.enrichment_queue q ON q.image_id = i.image_id")"
  same=$(kept_labels)
  q -c "SELECT regexp_replace(i.name, '\\.[01]$', '') AS image,
               coalesce('enriched: ' || e.label, 'refused: ' || left(q.last_error, 100), 'LOST') AS outcome
        FROM europeana.images i
        LEFT JOIN europeana.enrichments e ON e.image_id = i.image_id AND e.rank = 1
        LEFT JOIN europeana.enrichment_queue q ON q.image_id = i.image_id
        WHERE i.name LIKE 'hostile%' GROUP BY 1, 2 ORDER BY 1" >"$OUT/faults_hostile_$mode.txt"
  decoded=$(grep -oE 'decoded by GPU [0-9]+, CPU [0-9]+' "$OUT/faults_server_$mode.log" |
    awk '{ g += $4; c += $6 } END { printf "GPU %d, CPU %d", g, c }')
  # with on and off, the same decoder takes a good image in the clean and the mixed run, and
  # the clean run must repeat itself (else the comparison proves nothing, and the check fails
  # too): a hostile neighbour must not change any good image's label (with shared, the split
  # between the decoders, and so some labels, differ between runs)
  labels_kept=0
  [ "$mode" = shared ] || { [ "$same" = 768 ] && [ "$same_clean" = 768 ]; } || labels_kept=1
  ok=0
  [ "$drained" = 0 ] && [ "$pid0" = "$pid1" ] && [ -n "$pid0" ] && [ "$crashes" = 0 ] && [ "$good_done" = 768 ] &&
    [ $((hostile_done + hostile_refused)) = "$n_hostile" ] && [ "$left" = 0 ] && [ "$labels_kept" = 0 ] || ok=1
  verdict "hostile images, worker_gpu_jpeg = $mode" $ok \
    "drained=$([ $drained = 0 ] && echo yes || echo no) worker pid $pid0 -> $pid1, crashes in the log $crashes; good enriched $good_done of 768; hostile $n_hostile: enriched $hostile_done, refused $hostile_refused; lost $left; decoded by $decoded; good images with their clean run's top-1 label: $same of 768 (a second clean run: $same_clean)"
  echo "     the hostile images' outcomes: faults_hostile_$mode.txt; the good images whose label changed: faults_changed_$mode.txt" | tee -a "$OUT/faults.txt"
  # the good images whose label changed: where they were in the load order, and the hostile
  # image nearest to each
  q -F ' | ' -c "SELECT f.ord, c.name, c.label || ' ' || round(c.label_score::numeric, 3), e.label || ' ' || round(e.label_score::numeric, 3),
                        (SELECT h.ord - f.ord || ' ' || h.name FROM files h WHERE h.name LIKE 'hostile%' ORDER BY abs(h.ord - f.ord) LIMIT 1)
                 FROM clean c JOIN europeana.images i ON i.name = c.name
                 JOIN europeana.enrichments e ON e.image_id = i.image_id AND e.rank = 1
                 JOIN files f ON f.name = c.name
                 WHERE e.label IS DISTINCT FROM c.label ORDER BY f.ord" >"$OUT/faults_changed_$mode.txt"
  echo "     changed labels by the nearest hostile image:" $(awk -F' [|] ' '{ split($5, a, " "); print a[2] }' "$OUT/faults_changed_$mode.txt" | sort | uniq -c | sort -rn | head -6 | awk '{ printf "%s %s;", $1, $2 }') | tee -a "$OUT/faults.txt"
  grep -hE 'CUDA out of memory|ERROR|WARNING' "$OUT/faults_server_$mode.log" | head -5
done

# --- 2. CUDA out of memory: the device nearly full before the worker starts
if [ "$DEVICE" != cpu ] && want oom; then
scripts/pg_cluster.sh stop "$CLUSTER" >/dev/null 2>&1 # its worker's memory is freed first
sleep 1
"$PY" - "$FREE_GB" >"$WORK/hog.txt" 2>&1 <<'PY' &
import sys, time, torch
free, total = torch.cuda.mem_get_info(0)
keep = int(float(sys.argv[1]) * 2**30)
hog = torch.empty(max(free - keep, 0), dtype=torch.uint8, device="cuda:0")
print("holding %.1f of %.1f GB, %.1f GB left" % (hog.numel() / 2**30, total / 2**30, torch.cuda.mem_get_info(0)[0] / 2**30), flush=True)
time.sleep(900)
PY
hog=$!
for _ in $(seq 1 100); do grep -q holding "$WORK/hog.txt" && break; sleep 0.2; done
cat "$WORK/hog.txt" | tee -a "$OUT/faults.txt"
start "europeana.worker_gpu_jpeg = on
europeana.worker_precision = 'fp32'
europeana.default_model = 'resnet50_random'"
# GDB=1: cuda-gdb attached to the worker stops it at its first fatal signal and writes the
# faulting thread's stack (and, for a call through a null pointer, the stack of its caller) to
# $OUT/faults_gdb_oom.txt
gdb_pid=""
# the stack at a fatal signal, for cuda-gdb here and for the standalone run below
cat >"$WORK/stack.gdb" <<'GDBCMDS'
echo === faulting thread\n
info registers rip rsp rbp rax rdi rsi rdx rcx r8 r9
bt 60
echo === return address at the stack pointer\n
x/a $rsp
info symbol *(void **)$rsp
x/12i *(long *)$rsp - 40
echo === stack of the caller (as if the call through the null pointer had returned)\n
set $pc = *(long *)$rsp
set $sp = $sp + 8
bt 60
GDBCMDS
[ -z "${GDB:-}" ] || command -v cuda-gdb >/dev/null || echo "     GDB is set but there is no cuda-gdb: no stack" | tee -a "$OUT/faults.txt"
if [ -n "${GDB:-}" ] && command -v cuda-gdb >/dev/null; then
  for _ in $(seq 1 50); do wpid=$(worker_pid); [ -n "$wpid" ] && break; sleep 0.2; done
  cat >"$WORK/oom.gdb" <<GDBCMDS
set pagination off
set confirm off
set print thread-events off
handle SIGUSR1 SIGUSR2 SIGTERM SIGINT SIGALRM SIGQUIT SIGPIPE SIGCHLD SIGHUP SIGURG SIGWINCH nostop noprint pass
continue
source $WORK/stack.gdb
echo === threads\n
info threads
kill
GDBCMDS
  cuda-gdb -q -batch -p "$wpid" -x "$WORK/oom.gdb" >"$OUT/faults_gdb_oom.txt" 2>&1 &
  gdb_pid=$!
  for _ in $(seq 1 100); do grep -qE 'Continuing|Attaching' "$OUT/faults_gdb_oom.txt" 2>/dev/null && break; sleep 0.2; done
  sleep 2
  echo "     cuda-gdb attached to worker $wpid" | tee -a "$OUT/faults.txt"
fi
ls "$WORK"/img/*.jpg | awk '{ p[NR] = $0 } END { for (i = 0; i < 512; i++) printf "%d\toom_%04d\t%s\n", i, i, p[i % NR + 1] }' >"$WORK/oom.tsv"
load "$WORK/oom.tsv"
drained=0
drain "${OOM_DRAIN:-120}" || drained=1
[ -z "$gdb_pid" ] || { kill "$gdb_pid" 2>/dev/null; wait "$gdb_pid" 2>/dev/null; }
used=$(nvidia-smi --query-gpu=memory.used,memory.total --format=csv,noheader | head -1)
kill "$hog" 2>/dev/null
wait "$hog" 2>/dev/null
done_oom=$(q -c "SELECT count(DISTINCT image_id) FROM europeana.enrichments WHERE rank = 1")
dead_oom=$(q -c "SELECT count(*) FROM europeana.enrichment_queue")
oom_line=$(grep -m1 -oE 'CUDA out of memory: [0-9]+ forward passes split in halves and [0-9]+ nvJPEG blocks' "$CLUSTER/server.log" || true)
last_oom=$(grep -oE 'CUDA out of memory: [0-9]+ forward passes split in halves and [0-9]+ nvJPEG blocks' "$CLUSTER/server.log" | tail -1)
cp "$CLUSTER/server.log" "$OUT/faults_server_oom.log"
crashes=$(grep -cE 'terminated by signal' "$CLUSTER/server.log")
ok=0
[ "$drained" = 0 ] && [ "$done_oom" = 512 ] && [ "$dead_oom" = 0 ] && [ -n "$oom_line" ] && [ "$crashes" = 0 ] || ok=1
verdict "CUDA out of memory ($FREE_GB GB left to the worker)" $ok \
  "drained=$([ $drained = 0 ] && echo yes || echo no); crashes $crashes; enriched $done_oom of 512, left in the queue $dead_oom; GPU memory used at the end $used; first report: ${oom_line:-none}; last: ${last_oom:-none}"
grep -hE 'europeana worker 1: [0-9]+ images' "$CLUSTER/server.log" | tail -2 | sed 's/^.*LOG: *//'
[ "$crashes" = 0 ] || crash_stack "$CLUSTER/server.log" | tee -a "$OUT/faults.txt"
# the same frozen graph in Python (the same LibTorch) on a nearly full device, for comparison
scripts/pg_cluster.sh stop "$CLUSTER" >/dev/null 2>&1
"$PY" bench/gpu/python_gpu.py oom "$(pg_config --sharedir)/europeana/models/resnet50_random.pt" 256 0.5 2>&1 | tail -3 | tee -a "$OUT/faults.txt"
echo "     (python exit status ${PIPESTATUS[0]})" | tee -a "$OUT/faults.txt"
# the same forward pass outside PostgreSQL (bench/gpu/torchscript_oom.cpp), with the
# interpreter's rethrow on (as the extension sets it) and off (LibTorch's default)
TORCH_DIR=$("$PY" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
ABI=$("$PY" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
if g++ -O1 -g -std=c++17 -D_GLIBCXX_USE_CXX11_ABI="$ABI" bench/gpu/torchscript_oom.cpp -o "$WORK/torchscript_oom" \
  -I"$TORCH_DIR/include" -I"$TORCH_DIR/include/torch/csrc/api/include" -I/usr/local/cuda/include \
  -L"$TORCH_DIR/lib" -Wl,--no-as-needed -ltorch -ltorch_cuda -ltorch_cpu -lc10_cuda -lc10 -Wl,--as-needed \
  -L/usr/local/cuda/lib64 -lcudart -Wl,-rpath,"$TORCH_DIR/lib" >"$WORK/torchscript_oom.build" 2>&1; then
  # MALLOC_PERTURB_ fills freed memory, so that a read of freed memory shows
  for run in "1 0" "0 0" "1 165" "0 165"; do
    read -r rethrow perturb <<<"$run"
    MALLOC_PERTURB_=$perturb "$WORK/torchscript_oom" "$(pg_config --sharedir)/europeana/models/resnet50_random.pt" 256 "$FREE_GB" "$rethrow" 2>&1 | tail -2 | tee -a "$OUT/faults.txt"
    echo "     (MALLOC_PERTURB_=$perturb, exit status ${PIPESTATUS[0]})" | tee -a "$OUT/faults.txt"
  done
  if [ -n "${GDB:-}" ]; then
    cuda-gdb -q -batch -ex run -x "$WORK/stack.gdb" --args "$WORK/torchscript_oom" "$(pg_config --sharedir)/europeana/models/resnet50_random.pt" 256 "$FREE_GB" 0 >"$OUT/faults_gdb_standalone.txt" 2>&1
  fi
else
  echo "     torchscript_oom did not build: $(tail -3 "$WORK/torchscript_oom.build")" | tee -a "$OUT/faults.txt"
fi
"$PY" bench/gpu/python_gpu.py badinput "$(pg_config --sharedir)/europeana/models/resnet50_random.pt" 2>&1 | tail -3 | tee -a "$OUT/faults.txt"
echo "     (python exit status ${PIPESTATUS[0]})" | tee -a "$OUT/faults.txt"
fi

# --- 3. kill -9 of the worker while it works on the GPU
if want kill; then
KILL_N=${KILL_N:-3000}
start "europeana.default_model = '${KILL_MODEL:-resnet50_random}'"
ls "$WORK"/img/*.jpg | awk -v n="$KILL_N" '{ p[NR] = $0 } END { for (i = 0; i < n; i++) printf "%d\tkill_%04d\t%s\n", i, i, p[i % NR + 1] }' >"$WORK/kill.tsv"
load "$WORK/kill.tsv"
victim=""
for _ in $(seq 1 300); do
  [ "$(psql -XAtq -c "SELECT count(DISTINCT image_id) > $KILL_N / 10 FROM europeana.enrichments" 2>/dev/null)" = t ] && {
    victim=$(worker_pid)
    break
  }
  sleep 0.05
done
[ -n "$victim" ] && kill -9 "$victim"
sleep 2
drained=0
drain 240 || drained=1
read -r done_kill distinct_kill rows_kill <<<"$(q -F ' ' -c "SELECT count(*) FILTER (WHERE rank = 1), count(DISTINCT image_id), count(*) FROM europeana.enrichments")"
dead_kill=$(q -c "SELECT count(*) FROM europeana.enrichment_queue")
killed=$(grep -cE 'was terminated by signal 9' "$CLUSTER/server.log")
cp "$CLUSTER/server.log" "$OUT/faults_server_kill.log"
ok=0
[ -n "$victim" ] && [ "$killed" = 1 ] && [ "$drained" = 0 ] && [ "$done_kill" = "$KILL_N" ] && [ "$distinct_kill" = "$KILL_N" ] &&
  [ "$dead_kill" = 0 ] || ok=1
verdict "kill -9 of the GPU worker" $ok \
  "killed pid ${victim:-none} ($killed kill in the log); drained=$([ $drained = 0 ] && echo yes || echo no); images enriched $done_kill of $KILL_N (distinct $distinct_kill, rows $rows_kill), left in the queue $dead_kill"

fi

echo "faults: $fails failed" | tee -a "$OUT/faults.txt"
[ "$fails" = 0 ]
