#!/usr/bin/env bash
# Chooses the default --max-batch-size: the bundled repository served with
# the default flags but --max-batch-size, for each size given, side by side
# in one run, under gcnctl bench's closed loop at 1, 16 and 64 in flight
# (Fashion-MNIST PNGs of model/samples); beside gcnserve_limit's in-process
# forward throughput of the default model per batch size. Each server's
# start (to SERVING, warm-up included) is timed too.
# usage: bench/batch_size.sh [SIZES] [OUT]   SIZES default 8,16,32,64
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-8,16,32,64}
out=${2:-$(mktemp -d)}
mkdir -p "$out"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
build/bench/gcnserve_limit forward model/repository/model3/2/model.pt \
  --batch-sizes "1,$sizes" --seconds 2 | tee "$out/limit.txt"
for size in ${sizes//,/ }; do
  log=$out/server-$size.log
  start=$(date +%s%N)
  : >"$log"
  build/server/gcnserve --grpc-address 127.0.0.1:0 --metrics-address "" --http-address "" \
    --max-batch-size "$size" 2>"$log" &
  pid=$! port=
  for _ in $(seq 3000); do
    port=$(sed -n 's/.* on port \([0-9]*\),.*/\1/p' "$log"); [[ -n $port ]] && break
    sleep 0.05
  done
  until build/client/gcnctl --target "127.0.0.1:$port" health >/dev/null 2>&1; do sleep 0.05; done
  echo "== --max-batch-size $size: SERVING after $(( ($(date +%s%N) - start) / 1000000 )) ms"
  build/client/gcnctl --target "127.0.0.1:$port" bench model/samples \
    --concurrency 1,16,64 --duration-s 5 --warmup-s 1 | tee "$out/bench-$size.txt"
  kill -TERM $pid; wait $pid
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); reports in $out"
