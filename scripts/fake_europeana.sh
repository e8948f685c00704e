# Sourced by scripts and benchmarks: starts the fake Europeana server on a free loopback port.
#   start_fake DIR NAME [fake-europeana options...]
# Needs BUILD and SHARED. Runs "$BUILD/fake-europeana" with the pilot's records, vocabulary and
# the unpacked clothing photos as media, writes DIR/NAME.{out,err,port,access.log}, appends its pid
# to FAKE_PIDS, sets FAKE_URL=http://127.0.0.1:PORT, and fails with its stderr if it does not
# start. stop_fakes kills every fake started this way.
FAKE_PIDS=()

start_fake() {
  local dir=$1 name=$2
  shift 2
  "$BUILD/fake-europeana" --records "$SHARED/europeana-pilot/multilabel_dataset_open_permission.csv" \
    --vocabulary "$SHARED/europeana-pilot/vocabulary.json" --images "$BUILD/data/clothing/validation" \
    --access-log "$dir/$name.access.log" "$@" >"$dir/$name.out" 2>"$dir/$name.err" &
  FAKE_PIDS+=($!)
  local _
  for _ in $(seq 1 100); do
    grep -q "listening on" "$dir/$name.out" 2>/dev/null && break
    sleep 0.05
  done
  grep -o "listening on 127.0.0.1:[0-9]*" "$dir/$name.out" | sed 's/.*://' >"$dir/$name.port"
  if [ ! -s "$dir/$name.port" ]; then
    echo "fake $name did not start:" >&2
    cat "$dir/$name.err" >&2
    return 1
  fi
  FAKE_URL=http://127.0.0.1:$(cat "$dir/$name.port")
}

stop_fakes() {
  local pid
  for pid in "${FAKE_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  FAKE_PIDS=()
}
