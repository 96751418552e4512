#!/usr/bin/env bash
# The serving table of bench/README.md, from one run: the bundled repository
# served with the default flags, under gcnctl bench's closed loop, beside the
# limits gcnserve_limit measures in-process on the same files in the same run.
#
#   Fashion-MNIST PNGs (model/samples) at 1, 16 and 64 in flight, and at 64
#   over streams (ClassifyStream, one request in flight on each of 64);
#   1920x1080 JPEGs (q90) at 1 and 16 in flight; the 12 MP (4032x3024) photos
#   at 1 in flight. Photos are made by bench/make_photos.py from
#   scikit-image's sample photos (python3-skimage), scaled up.
#
# Each row: throughput, client p50/p99, the server's split (queue,
# preprocess, inference; means from the responses' timing), and its ratio to
# the limit: for 1 in flight, p50 minus the default model's batch-1 forward
# pass on one instance; in flight > 1, throughput over the best in-process
# forward throughput of every instance side by side; for JPEGs,
# preprocessing over the entropy-decoding floor.
# Prints the markdown table and writes every report to OUT.
# usage: bench/serving.sh [OUT] [SECONDS_PER_LEVEL]    (needs scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d)}
seconds=${2:-8}
mkdir -p "$out"
py=/usr/bin/python3
export=model/repository/model3/2/model.pt  # model3 version 2, which bench/README.md measured (version 3 has the same architecture)
limit=build/bench/gcnserve_limit gcnctl=build/client/gcnctl

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "load average at start: $(load)" | tee "$out/load.txt"
[[ -d $out/hd ]] || $py bench/make_photos.py "$out/hd" 1920 1080 8 >/dev/null
[[ -d $out/12mp ]] || $py bench/make_photos.py "$out/12mp" 4032 3024 2 >/dev/null

# The server, default flags, ephemeral ports.
: >"$out/server.log"
start=$(date +%s%N)
build/server/gcnserve --grpc-address 127.0.0.1:0 --metrics-address "" --http-address "" 2>"$out/server.log" &
pid=$! port=
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 6000); do
  port=$(sed -n 's/.* on port \([0-9]*\),.*/\1/p' "$out/server.log"); [[ -n $port ]] && break
  sleep 0.05
done
until $gcnctl --target "127.0.0.1:$port" health >/dev/null 2>&1; do sleep 0.05; done
echo "SERVING after $(( ($(date +%s%N) - start) / 1000000 )) ms" | tee "$out/start.txt"

bench() {  # NAME LEVELS FILES...
  local name=$1 levels=$2; shift 2
  $gcnctl --target "127.0.0.1:$port" --deadline-ms 60000 bench "$@" \
    --concurrency "$levels" --duration-s "$seconds" --warmup-s 2 --format json \
    >"$out/bench-$name.json"
}
# Limits and served figures alternate, so that both see the same load.
# A lone request's forward pass (one instance busy), and every instance at
# once (the server's defaults: one per core) for throughput.
$limit forward "$export" --batch-sizes 1,2,4,8,16,32,64 --seconds 2 --json >"$out/limit-forward.json"
threads=$($py -c 'import json,sys; print(json.load(sys.stdin)["intra_op_threads"])' <"$out/limit-forward.json")
$limit forward "$export" --batch-sizes 1 --instances 1 --intra-op-threads "$threads" \
  --seconds 2 --json >"$out/limit-alone.json"
bench png 1,16,64 model/samples
bench pngstream 64 model/samples --streaming
$limit preprocess "$export" model/samples --json >"$out/limit-png.json"
$limit preprocess "$export" "$out/hd" --json >"$out/limit-hd.json"
bench hd 1,16 "$out/hd"
$limit preprocess "$export" "$out/12mp" --json >"$out/limit-12mp.json"
bench 12mp 1 "$out/12mp"
echo "load average at end: $(load)" | tee -a "$out/load.txt"

$py - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
read = lambda name: json.loads((out / name).read_text())
forward = read("limit-forward.json")
batch1 = read("limit-alone.json")["forward"][0]["median_ms"]
best = forward["best_images_per_s"]
print(f"in-process limits ({forward['model']}, LibTorch {forward['torch']}, "
      f"{forward['instances']} instance(s) x {forward['intra_op_threads']} thread(s), "
      f"{forward['allocator']}): batch-1 forward {batch1:.2f} ms (one instance); "
      f"best {best:.0f} images/s at batch {forward['best_batch']} (every instance)")
for name in ("png", "hd", "12mp"):
    p = read(f"limit-{name}.json")
    line = f"{name}: preprocessing {p['preprocess_ms']:.2f} ms an image in-process"
    if p.get("jpegs"):
        line += (f"; entropy-decoding floor {p['entropy_floor_ms']:.2f} ms "
                 f"({p['jpeg_preprocess_over_floor']:.2f}x)")
    print(line)
print()
print("| images | in flight | req/s | p50 ms | p99 ms | queue ms | prep ms | infer ms "
      "| batch | against the limit |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
labels = {"png": "Fashion-MNIST PNG 28x28", "pngstream": "the same, 64 streams",
          "hd": "JPEG 1920x1080 q90", "12mp": "JPEG 4032x3024 q90"}
for name in ("png", "pngstream", "hd", "12mp"):
    floor = read(f"limit-{name.replace('stream', '')}.json").get("entropy_floor_ms")
    for level in read(f"bench-{name}.json")["levels"]:
        n, lat, srv = int(level["concurrency"]), level["latency_ms"], level["server_ms"]
        ratios = []
        if floor:
            ratios.append(f"prep {srv['preprocess'] / floor:.2f}x the floor")
        if n == 1:
            ratios.append(f"p50 = forward + {lat['p50'] - batch1:.2f} ms")
        else:
            ratios.append(f"{level['throughput'] / best:.2f} of the best forward")
        print(f"| {labels[name]} | {n} | {level['throughput']:.1f} | {lat['p50']:.2f} "
              f"| {lat['p99']:.2f} | {srv['queue']:.2f} | {srv['preprocess']:.2f} "
              f"| {srv['inference']:.2f} | {level['batch_size']:.2f} | {'; '.join(ratios)} |")
PY
