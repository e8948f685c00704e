#!/usr/bin/env bash
# GPU benchmark, run as root on the GPU machine (Ubuntu 24.04, CUDA, PyTorch venv, no
# package registry) from a checkout that carries the device kit and the model files:
#   .device-kit/     a copy of ../shared/device-kit (PostgreSQL 15, pgTAP, libpqxx, static OpenCV)
#   .device-data/    models/ (the MobileNetV2 .pt files and imagenet_classes.txt from
#                    ../shared/models) and photos/ (source photos; bench/gpu/prepare.sh makes both)
# It installs the kit, builds the extension against the venv's CUDA LibTorch and the static
# OpenCV, starts PostgreSQL with the library preloaded and one worker per GPU, stores N JPEGs
# of 1-4 MP as bytea, and times the workers from the COMMIT of that INSERT to an empty queue,
# for ResNet-50 and MobileNetV2 in fp16 (channels_last) and fp32, sampling GPU and CPU use.
# In the same run, on the same GPU: (a) model-only ceilings, (b) the pilot-style Python
# pipeline, (d) the nvJPEG decode ceiling. With GPUS > 1 it also runs one worker per GPU.
# Writes $OUT/results.md (and raw logs). Environment: N (2000), DISTINCT (200), BATCH (256),
# GPUS (all), OUT ($PWD/build-gpu/out), SKIP_PY (set: skip the Python measurements), QUICK (set:
# only (b) and the default configuration, on N and 5 x N images, with one and two workers on one
# GPU; QUICK_MULTI: on all GPUs too), ONLY_BUILD (set: install, build and make the images only).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
N=${N:-2000}
DISTINCT=${DISTINCT:-200}
BATCH=${BATCH:-256}
OUT=${OUT:-$ROOT/build-gpu/out}
KIT=$ROOT/.device-kit
DATA=$ROOT/.device-data
WORK=/tmp/europeana-gpu
mkdir -p "$OUT" "$WORK"
t_start=$SECONDS
step() { printf '\n=== [%4ds] %s\n' $((SECONDS - t_start)) "$*"; }
for need in "$KIT/install.sh" "$DATA/models/mobilenet_v2_imagenet_float.pt" "$DATA/photos"; do
  [ -e "$need" ] || { echo "gpu bench: missing $need (run bench/gpu/prepare.sh on the CPU machine)" >&2; exit 1; }
done

step "device kit"
bash "$KIT/install.sh" >"$OUT/kit.log" 2>&1
# shellcheck disable=SC1091
source /etc/device-kit.env
PY=$(command -v python3)
GPUS=${GPUS:-$(nvidia-smi -L | wc -l)}
CORES=$(nproc)
# each GPU's share of the cores: decode threads per worker, and the Python DataLoader's workers
PER_GPU_CORES=${PER_GPU_CORES:-$((CORES / GPUS))}
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpus.txt"
GPU_NAME=$(head -1 "$OUT/gpus.txt" | cut -d, -f2 | sed 's/^ //')

step "build (CUDA LibTorch from the venv, static OpenCV)"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DEUROPEANA_BUILD_TESTS=OFF -DEUROPEANA_BUILD_TOOLS=OFF \
  -DEUROPEANA_WERROR=OFF -DEUROPEANA_STATIC_DEPS=ON >"$OUT/cmake.log" 2>&1 || { tail -40 "$OUT/cmake.log"; exit 1; }
ninja -C build-gpu >"$OUT/build.log" 2>&1 || { grep -m20 -B2 -A8 'error' "$OUT/build.log"; exit 1; }
cmake --install build-gpu >/dev/null
EUROPEANA_MODEL_SOURCE=$DATA/models scripts/provision_models.sh >/dev/null
MODELS=$(pg_config --sharedir)/europeana/models
"$PY" bench/gpu/make_data.py resnet50 "$MODELS" | tee "$OUT/resnet.log"
chmod -R a+rX "$MODELS"

step "images: $DISTINCT distinct JPEGs, cycled to $N"
"$PY" bench/gpu/make_data.py images "$DATA/photos" "$WORK/img" "$DISTINCT" | tee "$OUT/images.txt"
chmod -R a+rX "$WORK"
ls "$WORK"/img/*.jpg | sort >"$WORK/distinct.txt"
awk -v n="$N" '{ p[NR] = $0 } END { for (i = 0; i < n; i++) print p[i % NR + 1] }' "$WORK/distinct.txt" >"$WORK/files.txt"

# ONLY_BUILD: stop here (bench/gpu/faults.sh needs no more)
[ -z "${ONLY_BUILD:-}" ] || exit 0

if [ -n "${QUICK:-}" ] && [ -z "${SKIP_PY:-}" ]; then
step "python: (b) pilot-style pipeline (QUICK: the baseline of the 10x target only)"
echo "resnet50_random plain $("$PY" bench/gpu/python_gpu.py pipeline "$MODELS/resnet50_random.pt" "$WORK/files.txt" 64 "$PER_GPU_CORES")" | tee -a "$OUT/pipeline.txt"
elif [ -z "${SKIP_PY:-}" ]; then
step "python: (a) model-only ceilings, (d) nvJPEG decode ceiling, (b) pilot-style pipeline"
for net in resnet50_random mobilenet_v2_imagenet_float; do
  for mode in fp32 fp16cl; do
    echo "$net $mode $("$PY" bench/gpu/python_gpu.py model-only "$MODELS/$net.pt" "$BATCH" $mode 5)" | tee -a "$OUT/model_only.txt"
  done
done
"$PY" bench/gpu/python_gpu.py decode "$WORK/files.txt" "$BATCH" | tee "$OUT/decode.txt"
for net in resnet50_random; do
  echo "$net plain $("$PY" bench/gpu/python_gpu.py pipeline "$MODELS/$net.pt" "$WORK/files.txt" 64 "$PER_GPU_CORES")" | tee -a "$OUT/pipeline.txt"
  echo "$net draft $("$PY" bench/gpu/python_gpu.py pipeline "$MODELS/$net.pt" "$WORK/files.txt" 64 "$PER_GPU_CORES" draft)" | tee -a "$OUT/pipeline.txt"
done
fi
touch "$OUT/model_only.txt" "$OUT/decode.txt" "$OUT/pipeline.txt" "$OUT/agreement.txt"

CLUSTER=$WORK/pg
trap 'scripts/pg_cluster.sh stop "$CLUSTER" >/dev/null 2>&1 || true; kill $(jobs -p) 2>/dev/null || true' EXIT
# start_cluster WORKERS DEVICES
start_cluster() {
  CUR_WORKERS=$1 CUR_DEVICES=$2
  scripts/pg_cluster.sh stop "$CLUSTER" >/dev/null 2>&1 || true
  PG_CLUSTER_CONF="europeana.worker_count = $1
europeana.worker_devices = '$2'
europeana.batch_size = $BATCH
europeana.worker_naptime = 60
europeana.worker_threads = $PER_GPU_CORES
europeana.log_batches = on
shared_buffers = 8GB
max_wal_size = 20GB
jit = off" scripts/pg_cluster.sh start "$CLUSTER" --preload >/dev/null
  # shellcheck disable=SC1091
  source "$CLUSTER/env"
  psql -XAtq -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION europeana;
CREATE TABLE photos AS
SELECT n, pg_read_binary_file(p) AS content
FROM (SELECT row_number() OVER () - 1 AS n, p FROM unnest(string_to_array(pg_read_file('$WORK/files.txt'), E'\n')) p
      WHERE p <> '') s;
SQL
}
# sample GPU and CPU utilisation while the queue drains
sample() {
  nvidia-smi --query-gpu=index,utilization.gpu --format=csv,noheader,nounits -lms 200 >"$1.gpu" 2>/dev/null &
  echo $! >"$1.pid"
  head -1 /proc/stat >"$1.cpu0"
}
unsample() {
  kill "$(cat "$1.pid")" 2>/dev/null || true
  head -1 /proc/stat >"$1.cpu1"
  local busy
  busy=$(paste "$1.cpu0" "$1.cpu1" | awk '{ n = 10; for (i = 2; i <= 11; i++) { a[i] = $i; b[i] = $(i + 11) }
    t = 0; for (i = 2; i <= 11; i++) t += b[i] - a[i]; idle = (b[5] - a[5]) + (b[6] - a[6]); printf "%.0f", 100 * (t - idle) / t }')
  echo "gpu_util=$(awk -F', ' '$2 > 0 { s += $2; n++ } END { printf "%.0f", n ? s / n : 0 }' "$1.gpu") cpu_busy=$busy"
}
# worker_cpu PID...: user and system CPU ticks of the worker processes (all their threads)
worker_cpu() {
  local u=0 st=0 pid
  for pid in "$@"; do
    read -r a b < <(awk '{ print $14, $15 }' "/proc/$pid/stat" 2>/dev/null || echo "0 0")
    u=$((u + a)); st=$((st + b))
  done
  echo "$u $st"
}
# run_enrich LABEL MODEL PRECISION [GPU_JPEG [PIPELINE [THREADS [BATCH [REPEAT [BLOCK]]]]]]: drain N
# images (REPEAT x N when given; BLOCK: JPEGs per nvJPEG call),
# print images/s, utilisation. A run that does not drain within DRAIN_TIMEOUT seconds is
# reported as failed and the cluster is restarted.
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-90}
run_enrich() {
  local label=$1 model=$2 precision=$3 gpu_jpeg=${4:-off} pipeline=${5:-auto} threads=${6:-$PER_GPU_CORES} batch=${7:-$BATCH} repeat=${8:-1} block=${9:-256}
  psql -XAtq -c "ALTER SYSTEM SET europeana.default_model = '$model'" -c "ALTER SYSTEM SET europeana.worker_precision = '$precision'" \
    -c "ALTER SYSTEM SET europeana.worker_gpu_jpeg = $gpu_jpeg" -c "ALTER SYSTEM SET europeana.worker_pipeline = $pipeline" \
    -c "ALTER SYSTEM SET europeana.worker_threads = $threads" -c "ALTER SYSTEM SET europeana.batch_size = $batch" \
    -c "ALTER SYSTEM SET europeana.worker_gpu_jpeg_block = $block" \
    -c "SELECT pg_reload_conf()" >/dev/null
  sleep 1
  psql -XAtq -c "DELETE FROM europeana.images" >/dev/null
  # warm-up: every worker loads the model and tunes its kernels
  psql -XAtq -c "INSERT INTO europeana.images (name, content) SELECT 'warm', content FROM photos LIMIT $((BATCH * 2 * GPUS_USED))" >/dev/null
  for _ in $(seq 1 300); do [ "$(psql -XAtq -c "SELECT count(*) = 0 FROM europeana.enrichment_queue")" = t ] && break; sleep 0.2; done
  psql -XAtq -c "DELETE FROM europeana.images" -c "CHECKPOINT" >/dev/null
  sample "$WORK/$label"
  local pids cpu0
  pids=$(psql -XAtq -c "SELECT string_agg(pid::text, ' ') FROM europeana.worker_status WHERE pid IS NOT NULL")
  cpu0=$(worker_cpu $pids)
  timeout "$DRAIN_TIMEOUT" psql -XAtq -v ON_ERROR_STOP=1 >"$OUT/run_$label.txt" 2>&1 <<SQL
INSERT INTO europeana.images (name, content) SELECT n::text || CASE WHEN r > 1 THEN '.' || r ELSE '' END, content
FROM photos, generate_series(1, $repeat) r ORDER BY r, n;
\\set poll 0.01
\\i bench/drain_queue.sql
SELECT count(*) FROM europeana.enrichments WHERE rank = 1;
SELECT string_agg(worker || ':' || device || ':' || images || ':' || coalesce(last_error, ''), ' ') FROM europeana.worker_status;
SQL
  local drain_rc=$? util secs done
  if [ "$drain_rc" != 0 ] || ! grep -q 'seconds=' "$OUT/run_$label.txt"; then
    unsample "$WORK/$label" >/dev/null
    echo "$label model=$model FAILED: the queue did not drain within $DRAIN_TIMEOUT s" | tee -a "$OUT/enrich.txt"
    cp "$CLUSTER/server.log" "$OUT/server_failed_$label.log"
    start_cluster "$CUR_WORKERS" "$CUR_DEVICES"
    return 0
  fi
  util="$(unsample "$WORK/$label") $(worker_cpu $pids | awk -v a="$cpu0" -v hz="$(getconf CLK_TCK)" '{ split(a, b, " "); printf "workers_user_s=%.2f workers_sys_s=%.2f", ($1 - b[1]) / hz, ($2 - b[2]) / hz }')"
  secs=$(grep -o 'seconds=[0-9.]*' "$OUT/run_$label.txt" | cut -d= -f2)
  done=$(grep -E '^[0-9]+$' "$OUT/run_$label.txt" | head -1)
  echo "$label model=$model precision=$precision gpu_jpeg=$gpu_jpeg pipeline=$pipeline threads=$threads block=$block images=$done seconds=$secs rate=$(awk -v n="$done" -v s="$secs" 'BEGIN { printf "%.1f", n / s }') $util" | tee -a "$OUT/enrich.txt"
  psql -XAtq -c "CREATE TABLE IF NOT EXISTS top1 (label text, name text, concept text, evidence text)" \
    -c "INSERT INTO top1 SELECT '$label', i.name, c.name, e.label FROM europeana.enrichments e JOIN europeana.images i USING (image_id) LEFT JOIN europeana.concepts c USING (concept_id) WHERE e.rank = 1" >/dev/null
}

step "PostgreSQL: one worker on cuda:0"
GPUS_USED=1
start_cluster 1 cuda:0
run_enrich r50_fp16_1gpu resnet50_random fp16 shared
if [ -z "${QUICK:-}" ]; then
# what each part contributes: the GPU decoding every JPEG it can (on), no pipelining (database
# work between batches), batches of 512, no GPU decoding (the threads decode every image),
# nvJPEG blocks of 64 JPEGs instead of 256
run_enrich r50_fp16_on_1gpu resnet50_random fp16 on
run_enrich r50_fp16_nopipeline_1gpu resnet50_random fp16 shared off
run_enrich r50_fp16_b512_1gpu resnet50_random fp16 shared auto "$PER_GPU_CORES" 512
run_enrich r50_fp16_cpudecode_1gpu resnet50_random fp16 off
run_enrich r50_fp16_block64_1gpu resnet50_random fp16 shared auto "$PER_GPU_CORES" "$BATCH" 1 64
run_enrich r50_fp32_1gpu resnet50_random fp32 shared
# precision: the same decoder for every JPEG (on), fp16 against fp32; then GPU against CPU decoding
run_enrich mnv2_fp16_1gpu mobilenet_v2_imagenet_float fp16 on
run_enrich mnv2_fp32_1gpu mobilenet_v2_imagenet_float fp32 on
run_enrich mnv2_fp32_cpudecode_1gpu mobilenet_v2_imagenet_float fp32 off
fi
# the headline configuration again, on a worker past its first partial batches, and on 5 x N
# images (the per-run costs, the first claim and the last partial batch, weigh a fifth)
[ -n "${QUICK:-}" ] || run_enrich r50_fp16_again_1gpu resnet50_random fp16 shared
DRAIN_TIMEOUT=$((DRAIN_TIMEOUT * 3)) run_enrich r50_fp16_x5_1gpu resnet50_random fp16 shared auto "$PER_GPU_CORES" "$BATCH" 5
[ -n "${QUICK:-}" ] || DRAIN_TIMEOUT=$((DRAIN_TIMEOUT * 3)) run_enrich r50_fp16_on_x5_1gpu resnet50_random fp16 on auto "$PER_GPU_CORES" "$BATCH" 5
# top-1 agreement on the real network (the evidence label: ImageNet top-1), image by image
agree() {
  psql -XAtq -c "SELECT '$1 vs $2: ' || count(*) FILTER (WHERE a.evidence = b.evidence) || ' of ' || count(*) FROM top1 a JOIN top1 b USING (name)
                 WHERE a.label = '$1' AND b.label = '$2'" | tee -a "$OUT/agreement.txt"
}
if [ -z "${QUICK:-}" ]; then
  agree mnv2_fp16_1gpu mnv2_fp32_1gpu
  agree mnv2_fp32_1gpu mnv2_fp32_cpudecode_1gpu
fi
ps -o rss= -p "$(psql -XAtq -c "SELECT pid FROM europeana.worker_status LIMIT 1")" | awk '{ printf "worker_rss_mb=%.0f\n", $1 / 1024 }' | tee -a "$OUT/enrich.txt"
grep -E 'ERROR|FATAL|PANIC' "$CLUSTER/server.log" | head -20 >"$OUT/server_errors.txt" || true
cp "$CLUSTER/server.log" "$OUT/server_1gpu.log"

# two workers on one GPU, each with half its cores: two main threads for the database work,
# and one worker's forward pass runs while the other's JPEGs are on the JPEG engines
step "PostgreSQL: two workers on cuda:0"
GPUS_USED=2
start_cluster 2 cuda:0
run_enrich r50_fp16_2w_1gpu resnet50_random fp16 shared auto $((PER_GPU_CORES / 2))
DRAIN_TIMEOUT=$((DRAIN_TIMEOUT * 3)) run_enrich r50_fp16_2w_x5_1gpu resnet50_random fp16 shared auto $((PER_GPU_CORES / 2)) "$BATCH" 5
[ -n "${QUICK:-}" ] || DRAIN_TIMEOUT=$((DRAIN_TIMEOUT * 3)) run_enrich r50_fp16_2w_on_x5_1gpu resnet50_random fp16 on auto $((PER_GPU_CORES / 2)) "$BATCH" 5
cp "$CLUSTER/server.log" "$OUT/server_2w1gpu.log"

if [ "$GPUS" -gt 1 ] && { [ -z "${QUICK:-}" ] || [ -n "${QUICK_MULTI:-}" ]; }; then
  step "PostgreSQL: one worker per GPU ($GPUS)"
  GPUS_USED=$GPUS
  devices=$(seq -s, 0 $((GPUS - 1)) | sed 's/\([0-9]\+\)/cuda:\1/g')
  start_cluster "$GPUS" "$devices"
  run_enrich "r50_fp16_${GPUS}gpu" resnet50_random fp16 shared
  # scaling on 5 x N images, against the one-GPU runs on as many
  DRAIN_TIMEOUT=$((DRAIN_TIMEOUT * 3)) run_enrich "r50_fp16_x5_${GPUS}gpu" resnet50_random fp16 shared auto "$PER_GPU_CORES" "$BATCH" 5
  DRAIN_TIMEOUT=$((DRAIN_TIMEOUT * 3)) run_enrich "r50_fp16_on_x5_${GPUS}gpu" resnet50_random fp16 on auto "$PER_GPU_CORES" "$BATCH" 5
  [ -n "${QUICK:-}" ] || run_enrich "mnv2_fp16_${GPUS}gpu" mobilenet_v2_imagenet_float fp16 shared
fi
cp "$CLUSTER/server.log" "$OUT/server.log"
step "done"
{
  echo "gpu: $GPU_NAME x $GPUS, cores: $CORES ($PER_GPU_CORES per GPU: decode threads per worker, DataLoader workers), torch: $("$PY" -c 'import torch; print(torch.__version__)')"
  echo "images: $(cat "$OUT/images.txt")"
  echo "--- model-only (a), batch $BATCH"; cat "$OUT/model_only.txt"
  echo "--- decode ceiling (d)"; cat "$OUT/decode.txt"
  echo "--- pilot-style pipeline (b)"; cat "$OUT/pipeline.txt"
  echo "--- ours, end to end (c)"; cat "$OUT/enrich.txt"
  echo "--- top-1 agreement (fp16 vs fp32; GPU vs CPU JPEG decoding)"; cat "$OUT/agreement.txt"
  echo "--- worker batches by stage (last of each run)"; grep -E 'europeana worker [0-9]+: [0-9]+ images' "$OUT"/server*.log | tail -24 | sed 's/^.*LOG: *//'
} | tee "$OUT/results.txt"
# the table for bench/gpu/RESULTS.md (a failing report does not fail the measurements)
bench/gpu/report.sh "$OUT" | tee "$OUT/table.md" || true
