#!/usr/bin/env bash
# The serving table of bench/README.md, from one run: the bundled repository
# served with the default flags, under gcnctl bench's closed loop, beside the
# limits gcnserve_limit measures in-process on the same files in the same run.
#
#   Fashion-MNIST PNGs (model/samples) at 1, 16 and 64 in flight, and at 64
#   over streams (ClassifyStream, one request in flight on each of 64);
#   1920x1080 JPEGs (q90) at 1 and 16 in flight; the 12 MP (4032x3024) photos
#   at 1 in flight, and the HD JPEGs at 16 in flight through the Python peer
#   (bench/python_peer.py) between two server runs. Photos are made by bench/make_photos.py from
#   scikit-image's sample photos (python3-skimage), scaled up.
#
# Each row: throughput, client p50/p99, the server's split (queue,
# preprocess, inference; means from the responses' timing), and its ratio to
# the limit: for 1 in flight, p50 minus the default model's batch-1 forward
# pass on one instance; in flight > 1, throughput over the best in-process
# forward throughput of every instance side by side; for JPEGs,
# preprocessing over the entropy-decoding floor.
#
# Then the paper-size Model3 (export --arch model3 --preset imagenette,
# random weights, which serve at the same speed as trained ones), served
# alone with the default flags: time to SERVING and resident memory with
# --instances 1, 8 and the default, beside gcnserve_limit
# settings' load-and-warm time for each; the HD JPEGs at 1 in flight (the
# server's inference time over the fastest in-process batch-1 pass, one
# instance on every core) and at 8 (throughput over the best in-process
# forward throughput).
#
# Ratios at many in flight are also given with the load generator's own CPU
# (gcnctl bench's client_cpu_percent) deducted from the cores: the server
# had the rest. For the HD JPEGs the decode-bound rate is those cores over
# the CPU an image needs at least: the entropy-decoding floor plus the
# forward pass's CPU at the best in-process throughput.
# Prints the markdown tables and writes every report to OUT.
# usage: bench/serving.sh [OUT] [SECONDS_PER_LEVEL]    (needs scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d)}
seconds=${2:-8}
mkdir -p "$out"
py=/usr/bin/python3
export=model/repository/model3/3/model.pt  # model3 version 3, the default model
limit=build/bench/gcnserve_limit gcnctl=build/client/gcnctl

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "load average at start: $(load)" | tee "$out/load.txt"
[[ -d $out/hd ]] || $py bench/make_photos.py "$out/hd" 1920 1080 8 >/dev/null
[[ -d $out/12mp ]] || $py bench/make_photos.py "$out/12mp" 4032 3024 2 >/dev/null

cores=$(nproc)
# serve NAME REPOSITORY [FLAGS...]: the server, default flags but for FLAGS,
# ephemeral ports; sets $pid and $port, writes OUT/start-NAME.txt (time to
# SERVING, resident memory then).
pid= port= peer=
trap 'kill -TERM $pid $peer 2>/dev/null; wait 2>/dev/null' EXIT
serve() {
  local name=$1 repository=$2; shift 2
  : >"$out/server-$name.log"
  local start=$(date +%s%N)
  build/server/gcnserve --model-repository "$repository" --grpc-address 127.0.0.1:0 --metrics-address "" \
    --http-address "" "$@" 2>"$out/server-$name.log" &
  pid=$! port=
  for _ in $(seq 6000); do
    port=$(sed -n 's/.* on port \([0-9]*\),.*/\1/p' "$out/server-$name.log"); [[ -n $port ]] && break
    sleep 0.05
  done
  until $gcnctl --target "127.0.0.1:$port" health >/dev/null 2>&1; do sleep 0.05; done
  local ms=$(( ($(date +%s%N) - start) / 1000000 ))
  local rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  echo "$ms $rss" >"$out/start-$name.txt"
  echo "$name: SERVING after $ms ms, resident $(( rss / 1024 )) MB"
}
unserve() { kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

bench() {  # NAME LEVELS FILES...
  local name=$1 levels=$2; shift 2
  $gcnctl --target "127.0.0.1:$port" --deadline-ms 60000 bench "$@" \
    --concurrency "$levels" --duration-s "$seconds" --warmup-s 2 --format json \
    >"$out/bench-$name.json"
}

serve bundled model/repository
# Limits and served figures alternate, so that both see the same load.
# A lone request's forward pass (one instance busy), and every instance at
# once (the default instances: one per core) for throughput.
$limit forward "$export" --batch-sizes 1,2,4,8,16,32,64 --seconds 2 --json >"$out/limit-forward.json"
threads=$($py -c 'import json,sys; print(json.load(sys.stdin)["intra_op_threads"])' <"$out/limit-forward.json")
$limit forward "$export" --batch-sizes 1 --instances 1 --intra-op-threads "$threads" \
  --seconds 2 --json >"$out/limit-alone.json"
bench png 1,16,64 model/samples
bench pngstream 64 model/samples --streaming
$limit preprocess "$export" model/samples --json >"$out/limit-png.json"
$limit preprocess "$export" "$out/hd" --json >"$out/limit-hd.json"
bench hd 1,16 "$out/hd"
# The Python peer (bench/python_peer.py) on the same export and photos, the
# server idle beside it.
: >"$out/peer.log"
PYTHONPATH=client/python:build/client/python $py bench/python_peer.py --model "$export" --port 0 \
  2>"$out/peer.log" &
peer=$!
for _ in $(seq 6000); do
  peer_port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$out/peer.log"); [[ -n $peer_port ]] && break
  sleep 0.05
done
server_port=$port port=$peer_port
bench peerhd 16 "$out/hd"
port=$server_port
kill -TERM "$peer"; wait "$peer" 2>/dev/null || true
bench hd2 16 "$out/hd"  # the server again, after the peer
$limit preprocess "$export" "$out/12mp" --json >"$out/limit-12mp.json"
bench 12mp 1 "$out/12mp"
unserve

# The paper-size Model3, alone in its repository.
paper=$out/paper-repository
[[ -f $paper/model3/1/model.pt ]] || PYTHONPATH=model $py -m gcnserve_model.export --arch model3 \
  --preset imagenette --repository "$paper" >/dev/null
pexport=$paper/model3/1/model.pt
for n in 1 8; do $limit settings "$pexport" --instances $n --json >"$out/limit-paper-settings$n.json"; done
$limit settings "$pexport" --json >"$out/limit-paper-settings.json"
serve paper "$paper"
$limit forward "$pexport" --batch-sizes 1,2,4,8 --seconds 3 --json >"$out/limit-paper-forward.json"
$limit forward "$pexport" --batch-sizes 1 --instances 1 --intra-op-threads "$cores" \
  --seconds 3 --json >"$out/limit-paper-alone.json"
bench paperhd 1,8 "$out/hd"
unserve
for n in 1 8; do serve paper$n "$paper" --instances $n; unserve; done
echo "load average at end: $(load)" | tee -a "$out/load.txt"

$py - "$out" "$cores" <<'PY'
import json, pathlib, sys
out, cores = pathlib.Path(sys.argv[1]), int(sys.argv[2])
read = lambda name: json.loads((out / name).read_text())


def report(forward_name, alone_name, rows, paper=False):
    forward = read(forward_name)
    batch1 = read(alone_name)["forward"][0]["median_ms"]
    best = forward["best_images_per_s"]
    alone = read(alone_name)
    print(f"in-process limits ({forward['model']}, LibTorch {forward['torch']}, "
          f"{forward['instances']} instance(s) x {forward['intra_op_threads']} thread(s), "
          f"{forward['allocator']}): batch-1 forward {batch1:.2f} ms (one instance, "
          f"{alone['intra_op_threads']} thread(s)); best {best:.1f} images/s at batch {forward['best_batch']} "
          f"(every instance)")
    print()
    print("| images | in flight | req/s | p50 ms | p99 ms | queue ms | prep ms | infer ms "
          "| batch | generator CPU | against the limit |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, label, limit_name in rows:
        floor = read(limit_name).get("entropy_floor_ms") if limit_name else None
        for level in read(f"bench-{name}.json")["levels"]:
            n, lat, srv = int(level["concurrency"]), level["latency_ms"], level["server_ms"]
            client = level.get("client_cpu_percent", 0) / 100
            left = max(cores - client, 1e-9) / cores  # the share of the cores the server had
            ratios = []
            if floor and not paper:
                ratios.append(f"prep {srv['preprocess'] / floor:.2f}x the floor")
            if n == 1:
                if paper:
                    ratios.append(f"infer {srv['inference'] / batch1:.2f}x the batch-1 pass")
                else:
                    ratios.append(f"p50 = forward + {lat['p50'] - batch1:.2f} ms")
            else:
                ratios.append(f"{level['throughput'] / best:.2f} of the best forward "
                              f"({level['throughput'] / (best * left):.2f} on the cores the generator left)")
                if floor:
                    bound = 1000 * cores * left / (floor + 1000 * cores / best)
                    ratios.append(f"{level['throughput'] / bound:.2f} of the decode-bound {bound:.0f}/s")
            print(f"| {label} | {n} | {level['throughput']:.1f} | {lat['p50']:.2f} "
                  f"| {lat['p99']:.2f} | {srv['queue']:.2f} | {srv['preprocess']:.2f} "
                  f"| {srv['inference']:.2f} | {level['batch_size']:.2f} | {100 * client:.0f} % "
                  f"| {'; '.join(ratios)} |")
    print()


for name in ("png", "hd", "12mp"):
    p = read(f"limit-{name}.json")
    line = f"{name}: preprocessing {p['preprocess_ms']:.2f} ms an image in-process"
    if p.get("jpegs"):
        line += (f"; entropy-decoding floor {p['entropy_floor_ms']:.2f} ms "
                 f"({p['jpeg_preprocess_over_floor']:.2f}x)")
    print(line)
print()
print("The bundled default model (model3 version 3):")
report("limit-forward.json", "limit-alone.json",
       [("png", "Fashion-MNIST PNG 28x28", "limit-png.json"),
        ("pngstream", "the same, 64 streams", "limit-png.json"),
        ("hd", "JPEG 1920x1080 q90", "limit-hd.json"),
        ("peerhd", "the same, the Python peer", "limit-hd.json"),
        ("hd2", "the same, gcnserve again", "limit-hd.json"),
        ("12mp", "JPEG 4032x3024 q90", "limit-12mp.json")])
peer = read("bench-peerhd.json")["levels"][0]["throughput"]
served = [level["throughput"] for name in ("hd", "hd2") for level in read(f"bench-{name}.json")["levels"]
          if int(level["concurrency"]) == 16]
print(f"HD JPEGs at 16 in flight: gcnserve {' and '.join(f'{x:.0f}' for x in served)} req/s, before and after "
      f"the Python peer's {peer:.0f}: {min(served) / peer:.2f}-{max(served) / peer:.2f}x the peer\n")
print("The paper-size Model3 (imagenette preset, 224x224 RGB):")
report("limit-paper-forward.json", "limit-paper-alone.json",
       [("paperhd", "JPEG 1920x1080 q90", "limit-hd.json")], paper=True)

print("| paper-size Model3 | served: SERVING after | served: resident | gcnserve_limit settings: load and warm "
      "| resident | execution |")
print("| --- | --- | --- | --- | --- | --- |")
first = None
for name in ("paper1", "paper8", "paper"):
    settings = f"limit-{name.replace('paper', 'paper-settings')}.json"
    ms, rss_kb = map(int, (out / f"start-{name}.txt").read_text().split())
    st = read(settings)
    first = first or (ms, rss_kb, st)
    print(f"| {st['instances']} instance(s){' (the default)' if name == 'paper' else ''} | {ms / 1000:.2f} s ({ms / first[0]:.2f}x) "
          f"| {rss_kb / 1024:.0f} MB (+{(rss_kb - first[1]) / 1024:.0f}) "
          f"| {st['load_ms'] / 1000:.2f} s ({st['load_ms'] / first[2]['load_ms']:.2f}x) "
          f"| {st['resident_mb']:.0f} MB | {st['execution']} |")
weights_mb = pathlib.Path(read("limit-paper-forward.json")["model"]).stat().st_size / 2**20
print(f"\nThe export file: {weights_mb:.0f} MB.")
PY
