#!/usr/bin/env bash
# What the drift summary costs: the bundled model3 version 2 served twice side
# by side from the same weights, once as bundled (its export carries a drift
# reference, so every answer is recorded in its DriftMonitor) and once from a
# copy whose gcnserve.json has no reference (no monitor). gcnctl bench's
# closed loop at 1 and 64 in flight on model/samples, the two servers
# alternating for ROUNDS rounds so that both see the same machine; /metrics
# is scraped every second during the runs, as Prometheus would (more often).
# Prints throughput and p50 per round and the ratios with/without.
# usage: bench/drift_cost.sh [OUT] [SECONDS] [ROUNDS]    (needs scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d)} seconds=${2:-6} rounds=${3:-3}
mkdir -p "$out"
py=/usr/bin/python3 gcnctl=build/client/gcnctl

# The repositories: model3 alone, with and without its reference.
rm -rf "$out/with" "$out/without"
mkdir -p "$out/with/model3/2" "$out/without/model3/2"
cp model/repository/model3/2/model.pt "$out/with/model3/2/"
PYTHONPATH=model $py - "$out/with/model3/2/model.pt" "$out/without/model3/2/model.pt" <<'PY'
import json, sys, torch
extra = {"gcnserve.json": ""}
module = torch.jit.load(sys.argv[1], map_location="cpu", _extra_files=extra)
meta = json.loads(extra["gcnserve.json"])
del meta["reference"]
torch.jit.save(module, sys.argv[2], _extra_files={"gcnserve.json": json.dumps(meta)})
PY

pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait 2>/dev/null' EXIT
serve() {  # NAME: starts a server on ephemeral ports, sets port_NAME, mport_NAME
  build/server/gcnserve --model-repository "$out/$1" --grpc-address 127.0.0.1:0 \
    --metrics-address 127.0.0.1:0 --http-address "" 2>"$out/server-$1.log" &
  pids+=($!)
  local port=
  for _ in $(seq 6000); do
    port=$(sed -n 's/.*serving.* on port \([0-9]*\),.*/\1/p' "$out/server-$1.log"); [[ -n $port ]] && break
    sleep 0.05
  done
  until $gcnctl --target "127.0.0.1:$port" health >/dev/null 2>&1; do sleep 0.05; done
  printf -v "port_$1" %s "$port"
}
serve with
serve without
mport_with=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$out/server-with.log")

for round in $(seq "$rounds"); do
  for name in with without; do
    port_var=port_$name
    for level in 1 64; do
      ( while sleep 1; do curl -s "localhost:$mport_with/metrics" >/dev/null || true; done ) &
      scraper=$!
      $gcnctl --target "127.0.0.1:${!port_var}" --deadline-ms 60000 bench model/samples --model model3 \
        --concurrency "$level" --duration-s "$seconds" --warmup-s 2 --format json \
        >"$out/bench-$name-$level-$round.json"
      kill "$scraper"; wait "$scraper" 2>/dev/null || true
    done
  done
done
curl -s "localhost:$mport_with/metrics" | grep '^gcnserve_drift_score' | tee "$out/drift-score.txt"

$py - "$out" "$rounds" <<'PY'
import json, pathlib, statistics, sys
out, rounds = pathlib.Path(sys.argv[1]), int(sys.argv[2])
def level(path):
    report = json.loads(path.read_text())
    row = (report["levels"] if isinstance(report, dict) else report)[0]
    return row["throughput"], row["latency_ms"]["p50"]
print("| in flight | round | with: req/s | without: req/s | ratio | with: p50 ms | without: p50 ms | ratio |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for lv in (1, 64):
    tr, pr = [], []
    for r in range(1, rounds + 1):
        (tw, pw), (to, po) = level(out / f"bench-with-{lv}-{r}.json"), level(out / f"bench-without-{lv}-{r}.json")
        tr.append(tw / to); pr.append(pw / po)
        print(f"| {lv} | {r} | {tw:.0f} | {to:.0f} | {tw / to:.3f} | {pw:.3f} | {po:.3f} | {pw / po:.3f} |")
    print(f"| {lv} | median | | | {statistics.median(tr):.3f} | | | {statistics.median(pr):.3f} |")
PY
