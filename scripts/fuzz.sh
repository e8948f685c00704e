#!/usr/bin/env bash
# Fuzzes the image decode path (tests/fuzz/decode_fuzzer.cpp) with libFuzzer + ASan + UBSan.
# Usage: scripts/fuzz.sh [SECONDS]            (default 60; also `make fuzz FUZZ_SECONDS=N`)
# Environment:
#   FUZZ_BUILD  build directory (default build-fuzz; separate from build/, needs clang)
#   FUZZ_JOBS   parallel fuzzing processes (default 1)
#   FUZZ_ARGS   extra libFuzzer flags, e.g. "-dict=... -only_ascii=0"
# The seed corpus is generated into $FUZZ_BUILD/corpus and grows between runs; crash,
# leak, timeout and OOM inputs land in $FUZZ_BUILD/artifacts/.  Exits non-zero when
# libFuzzer reports a finding.  Reproduce one with:  $FUZZ_BUILD/decode_fuzzer FILE
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SECONDS_TO_RUN=${1:-60}
BUILD=${FUZZ_BUILD:-build-fuzz}
JOBS=${FUZZ_JOBS:-1}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
case "$SECONDS_TO_RUN" in '' | *[!0-9]*) echo "fuzz: SECONDS must be a number" >&2; exit 2 ;; esac

for tool in clang clang++ cmake; do
  command -v "$tool" >/dev/null || { echo "fuzz: $tool not found (run make deps)" >&2; exit 1; }
done

# The decode library itself must be instrumented too (coverage feedback and ASan checks
# inside sniff.cpp/image.cpp), not only the fuzzer's own translation unit: hence the
# global -fsanitize=fuzzer-no-link in this build directory.  OpenCV and the codec
# libraries come from Debian and are not instrumented.
SAN_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -g"
# (Re)configure from scratch when the directory is new or was configured some other way
# (without these flags, with another compiler, at another path).
if ! grep -q '^CMAKE_CXX_FLAGS:STRING=.*fuzzer-no-link' "$BUILD/CMakeCache.txt" 2>/dev/null ||
   ! grep -q "^CMAKE_HOME_DIRECTORY:INTERNAL=$ROOT\$" "$BUILD/CMakeCache.txt"; then
  rm -rf "$BUILD/CMakeCache.txt" "$BUILD/CMakeFiles"
  mkdir -p "$BUILD"
  CC=clang CXX=clang++ cmake -S . -B "$BUILD" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPG_CONFIG="$PG_CONFIG" \
    -DEUROPEANA_BUILD_FUZZERS=ON -DEUROPEANA_BUILD_TESTS=OFF -DEUROPEANA_WERROR=OFF \
    -DCMAKE_C_FLAGS="$SAN_FLAGS" -DCMAKE_CXX_FLAGS="$SAN_FLAGS" >"$BUILD/configure.log" 2>&1 ||
    { cat "$BUILD/configure.log" >&2; echo "fuzz: cmake configure failed" >&2; exit 1; }
fi
# Only this target: the rest of the project (LibTorch, PostgreSQL glue) is not compiled.
cmake --build "$BUILD" --target decode_fuzzer -j "$(nproc)" >/dev/null ||
  { cmake --build "$BUILD" --target decode_fuzzer -j 1 >&2; exit 1; }

CORPUS="$BUILD/corpus"
ARTIFACTS="$BUILD/artifacts"
mkdir -p "$CORPUS" "$ARTIFACTS"
# Keep the corpus small across runs: merge it down to the inputs that add coverage.
if [ "$(find "$CORPUS" -type f | wc -l)" -gt 3000 ]; then
  rm -rf "$CORPUS.min" && mkdir -p "$CORPUS.min"
  if "$BUILD/decode_fuzzer" -merge=1 -rss_limit_mb=2048 -max_len=262144 -timeout=10 -close_fd_mask=2 \
       "$CORPUS.min" "$CORPUS" >"$BUILD/merge.log" 2>&1; then
    rm -rf "$CORPUS" && mv "$CORPUS.min" "$CORPUS"
  else
    rm -rf "$CORPUS.min"
  fi
fi
/usr/bin/python3 tests/fuzz/make_corpus.py "$CORPUS"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0:abort_on_error=0:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

LOG="$BUILD/fuzz.log"
echo "fuzz: running decode_fuzzer for ${SECONDS_TO_RUN}s on $(find "$CORPUS" -type f | wc -l) corpus files (log: $LOG)"
set +e
# -close_fd_mask=2 silences OpenCV's and the codecs' own stderr chatter ("Corrupt JPEG
# data ..."); libFuzzer, the sanitizers and the target's own reports keep a duplicate.
FORK=()
[ "$JOBS" -gt 1 ] && FORK=(-fork="$JOBS")
# shellcheck disable=SC2086
"$BUILD/decode_fuzzer" \
  -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=2048 -max_len=262144 -timeout=10 \
  -print_final_stats=1 -close_fd_mask=2 -artifact_prefix="$ARTIFACTS/" "${FORK[@]}" ${FUZZ_ARGS:-} \
  "$CORPUS" >"$LOG" 2>&1
rc=$?
set -e

# libFuzzer's last status line ("#N DONE cov: ... exec/s: ...") and its final stats
grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$LOG" | tail -n 1 || true
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$LOG" || true
if [ "$rc" -ne 0 ]; then
  echo "fuzz: decode_fuzzer FAILED (exit $rc); report follows" >&2
  grep -nE 'ERROR: |SUMMARY: |runtime error|deadly signal|contract violation|escaped|Test unit written' "$LOG" >&2 || true
  sed -n '/ERROR: \|runtime error\|deadly signal\|contract violation/,$p' "$LOG" | head -n 80 >&2
  exit "$rc"
fi
echo "fuzz: no crash in ${SECONDS_TO_RUN}s"
