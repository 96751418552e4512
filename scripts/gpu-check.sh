#!/usr/bin/env bash
# Checks gcnserve on a CUDA GPU: builds against a LibTorch that has CUDA,
# serves a tiny Model3 on the GPU and on the CPU, and compares the answers.
# Debian's LibTorch has no CUDA, so this runs where one is installed:
#   LIBTORCH=/opt/libtorch scripts/gpu-check.sh      (the official CUDA build)
# Needs nvidia-smi, the project's Debian packages (scripts/install-deps.sh) and
# /usr/bin/python3 with torch for the export.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${LIBTORCH:?set LIBTORCH to a LibTorch with CUDA}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
build=build-cuda out=$(mktemp -d)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$LIBTORCH" -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target gcnserve gcnctl
PYTHONPATH=model /usr/bin/python3 -m gcnserve_model.export --preset tiny --repository "$out/repo"
PYTHONPATH=model /usr/bin/python3 -m gcnserve_model.samples --out "$out/samples" --count 20

classify() {  # DEVICE -> JSON lines on stdout
  "$build/server/gcnserve" --model-repository "$out/repo" --device "$1" \
    --grpc-address 127.0.0.1:0 --metrics-address "" --http-address "" 2>"$out/$1.log" &
  local pid=$! port=
  for _ in $(seq 600); do
    port=$(sed -n 's/.* on port \([0-9]*\),.*/\1/p' "$out/$1.log"); [[ -n $port ]] && break
    kill -0 $pid 2>/dev/null || { cat "$out/$1.log" >&2; return 1; }; sleep 0.1
  done
  "$build/client/gcnctl" --target "127.0.0.1:$port" classify --json --top-k 10 "$out"/samples/*.png
  kill -TERM $pid; wait $pid
}
classify cpu >"$out/cpu.jsonl"
classify cuda >"$out/cuda.jsonl"
/usr/bin/python3 - "$out/cpu.jsonl" "$out/cuda.jsonl" <<'PY'
import json, sys
cpu, gpu = ([json.loads(l)["response"] for l in open(p)] for p in sys.argv[1:])
worst = max(abs(a["probability"] - b["probability"])
            for x, y in zip(cpu, gpu)
            for a, b in zip(sorted(x["classes"], key=lambda c: c.get("index", 0)),
                            sorted(y["classes"], key=lambda c: c.get("index", 0))))
print(f"{len(gpu)} images on cuda; largest probability difference from cpu: {worst:.2e}")
sys.exit(0 if worst < 1e-3 else 1)
PY
grep -h "ready" "$out/cuda.log"
