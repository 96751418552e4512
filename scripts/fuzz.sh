#!/usr/bin/env bash
# Fuzzes the image preprocessor and the request's fields for longer than
# ctest does (which gives it 60 s): builds the fuzzer (clang, ASan, UBSan)
# and runs it on every core for SECONDS (default 3600), its corpus kept in
# build/fuzz-long/ between runs. A crash stops it and leaves its input in
# build/fuzz-long/; copy that into tests/fuzz/regressions/.
# usage: scripts/fuzz.sh [SECONDS] [libFuzzer flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3600}
shift || true
scripts/build.sh fuzz_targets
jobs=$(nproc)
root=$(pwd)
mkdir -p build/fuzz-long
cd build/fuzz-long  # where libFuzzer writes each job's fuzz-N.log
exec "$root/tests/fuzz/run.sh" "$root/build/tests/fuzz/image_request_fuzzer" \
  "$root/build/fuzz-long" "$seconds" -jobs="$jobs" -workers="$jobs" "$@"
