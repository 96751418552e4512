#!/usr/bin/env bash
# Measures throughput and latency of one model served as 1 instance with
# every core versus one instance per core, side by side in one run, with the
# client's closed-loop load generator. Writes the two bench reports to OUT.
# usage: bench/instances.sh [MODEL_PT] [OUT]
#   MODEL_PT  default: model/repository/model3/2/model.pt
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-model/repository/model3/2/model.pt}
out=${2:-$(mktemp -d)}
cores=$(nproc)
samples=(model/samples/*.png)
mkdir -p "$out"

run() {  # NAME CONFIG_JSON
  local repo="$out/repo-$1"
  rm -rf "$repo"; mkdir -p "$repo/m/1"
  cp "$model" "$repo/m/1/model.pt"
  echo "$2" >"$repo/m/config.json"
  build/server/gcnserve --model-repository "$repo" --grpc-address 127.0.0.1:0 \
    --metrics-address "" --http-address "" 2>"$out/$1.log" &
  local pid=$! port=
  for _ in $(seq 600); do
    port=$(sed -n 's/.* on port \([0-9]*\),.*/\1/p' "$out/$1.log"); [[ -n $port ]] && break
    sleep 0.1
  done
  echo "== $1: $2"
  build/client/gcnctl --target "127.0.0.1:$port" bench "${samples[@]}" \
    --concurrency 1,4,16 --duration-s 8 --warmup-s 2 | tee "$out/$1.txt"
  kill -TERM $pid; wait $pid
}
run one-instance "{\"instances\": 1, \"intra_op_threads\": $cores, \"max_batch_size\": 16}"
run per-core "{\"instances\": $cores, \"intra_op_threads\": 1, \"max_batch_size\": 16}"
echo "reports in $out"
