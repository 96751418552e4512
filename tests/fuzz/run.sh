#!/usr/bin/env bash
# Runs FUZZER for SECONDS from CORPUS/seeds and CORPUS/regressions, its new
# finds kept in WORK/corpus; a crash leaves its input in WORK/ and fails.
# Keep that input: copy it into CORPUS/regressions/.
# usage: tests/fuzz/run.sh FUZZER CORPUS WORK SECONDS [libFuzzer flags...]
#   e.g. tests/fuzz/run.sh build/tests/fuzz/http_request_fuzzer \
#          tests/fuzz/http_request build/fuzz-run/http_request 60
set -euo pipefail
fuzzer=$1 corpus=$2 work=$3 seconds=$4
shift 4
mkdir -p "$work/corpus"
# detect_leaks: OpenCV and protobuf keep process-wide caches that LSan
# would report on every input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
if ! "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/" "$@" \
    "$work/corpus" "$corpus/seeds" "$corpus/regressions"; then
  echo "run.sh: the fuzzer found a crash; its input is in $work/ (crash-*," \
       "leak-*, timeout-* or oom-*): copy it into $corpus/regressions/," \
       "fix the cause, and the regression test runs it from then on" >&2
  exit 1
fi
