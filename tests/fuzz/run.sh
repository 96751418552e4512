#!/usr/bin/env bash
# Runs the fuzzer for SECONDS from the seeds and the regression inputs, its
# new finds kept in WORK/corpus; a crash leaves its input in WORK/ and
# fails. Keep that input: copy it into tests/fuzz/regressions/.
# usage: tests/fuzz/run.sh FUZZER WORK SECONDS [libFuzzer flags...]
set -euo pipefail
fuzzer=$1 work=$2 seconds=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work/corpus"
# detect_leaks: OpenCV and protobuf keep process-wide caches that LSan
# would report on every input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
if ! "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/" "$@" \
    "$work/corpus" "$here/seeds" "$here/regressions"; then
  echo "run.sh: the fuzzer found a crash; its input is in $work/ (crash-*," \
       "leak-*, timeout-* or oom-*): copy it into $here/regressions/," \
       "fix the cause, and the regression test runs it from then on" >&2
  exit 1
fi
