#!/usr/bin/env bash
# Runs one of the fuzzers for longer than ctest does (which gives each 60 s):
# builds them (clang, ASan, UBSan) and runs TARGET on every core for SECONDS
# (default 3600), its corpus kept in build/fuzz-long/TARGET/ between runs.
# TARGET is image_request (the image preprocessor and the request's fields)
# or http_request (the HTTP API's request handling). A crash stops it and
# leaves its input in build/fuzz-long/TARGET/; copy that into
# tests/fuzz/TARGET/regressions/.
# usage: scripts/fuzz.sh [TARGET] [SECONDS] [libFuzzer flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-image_request}
seconds=${2:-3600}
shift $(( $# < 2 ? $# : 2 ))
case $target in
  image_request|http_request) ;;
  *) echo "usage: scripts/fuzz.sh [image_request|http_request] [SECONDS] [flags...]" >&2; exit 2 ;;
esac
scripts/build.sh fuzz_targets
jobs=$(nproc)
root=$(pwd)
mkdir -p "build/fuzz-long/$target"
cd "build/fuzz-long/$target"  # where libFuzzer writes each job's fuzz-N.log
exec "$root/tests/fuzz/run.sh" "$root/build/tests/fuzz/${target}_fuzzer" \
  "$root/tests/fuzz/$target" "$root/build/fuzz-long/$target" "$seconds" \
  -jobs="$jobs" -workers="$jobs" "$@"
