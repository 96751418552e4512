#!/usr/bin/env bash
# The server alone at N requests in flight, under a load generator that
# costs little CPU: nghttp2's h2load sends one recorded ClassifyRequest as
# raw gRPC over HTTP/2 (N streams on one connection), so that on a small
# machine the figure is the server's, not the server's and gcnctl's. Prints
# h2load's throughput, the server's CPU (from /proc/PID/stat) and what it
# costs a request, beside gcnserve_limit's best in-process forward
# throughput of the same export, in one run. Default flags otherwise.
# h2load checks the HTTP status only: the server's own count of OK answers
# (gcnserve_requests_total) must match, and the script says so.
# usage: bench/server_alone.sh [IN_FLIGHT] [SECONDS]   (needs scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
in_flight=${1:-64} seconds=${2:-6}
py=/usr/bin/python3
export=model/repository/model3/2/model.pt  # model3 version 2, which bench/README.md measured (version 3 has the same architecture)
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
# One request for a sample image, framed as gRPC: a zero byte, the length in
# 4 bytes big-endian, the message.
PYTHONPATH=build/client/python $py - "$work/body" <<'PY'
import glob, struct, sys
from gcnserve.v1 import gcnserve_pb2
image = open(sorted(glob.glob("model/samples/*.png"))[0], "rb").read()
message = gcnserve_pb2.ClassifyRequest(image=image).SerializeToString()
open(sys.argv[1], "wb").write(b"\0" + struct.pack(">I", len(message)) + message)
PY
build/server/gcnserve --grpc-address 127.0.0.1:0 --metrics-address 127.0.0.1:0 \
  --http-address "" 2>"$work/server.log" &
pid=$! port= metrics=
for _ in $(seq 6000); do
  port=$(sed -n 's/.* on port \([0-9]*\),.*/\1/p' "$work/server.log")
  [[ -n $port ]] && break
  sleep 0.05
done
metrics=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$work/server.log")
until build/client/gcnctl --target "127.0.0.1:$port" health >/dev/null 2>&1; do sleep 0.05; done
h2() {  # SECONDS
  h2load -D "$1" -c 1 -m "$in_flight" -d "$work/body" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$port/gcnserve.v1.Classifier/Classify"
}
h2 1 >/dev/null  # warm-up
ok() { curl -s "127.0.0.1:$metrics/metrics" |
  awk '/^gcnserve_requests_total\{code="OK"/ {s += $2} END {print s + 0}'; }
before=$(ok)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
ticks=$(getconf CLK_TCK)
h2 "$seconds" >"$work/h2load.txt" & h2pid=$!
sleep 1; c0=$(cpu); t0=$(date +%s%N)
sleep $((seconds - 2)); c1=$(cpu); t1=$(date +%s%N)
wait $h2pid
answered=$(( $(ok) - before ))
build/bench/gcnserve_limit forward "$export" --batch-sizes 1,2,4,8,16,32 --seconds 2 --json >"$work/limit.json"
$py - "$work" "$c0" "$c1" "$t0" "$t1" "$ticks" "$answered" "$in_flight" <<'PY'
import json, re, sys
work, c0, c1, t0, t1, ticks, answered, in_flight = sys.argv[1:]
text = open(f"{work}/h2load.txt").read()
rps = float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", text).group(1))
done = int(re.search(r"(\d+) succeeded", text).group(1))
cores = (int(c1) - int(c0)) / int(ticks) / ((int(t1) - int(t0)) / 1e9)
limit = json.load(open(f"{work}/limit.json"))
best = limit["best_images_per_s"]
print(f"h2load, {in_flight} in flight on one connection: {rps:.0f} req/s, {done} answered "
      f"(the server counted {answered} OK)")
print(f"server CPU: {cores:.2f} cores, {cores / rps * 1e6:.0f} us a request; "
      f"in-process forward: best {best:.0f} images/s on {limit['instances']} instance(s), "
      f"{limit['instances'] / best * 1e6:.0f} us of CPU an image")
print(f"served / best in-process: {rps / best:.2f}")
PY
