#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds, serves the
# bundled model repository on loopback, lists the models, classifies the
# bundled sample images, draws what the model looked at for each of them
# (build/demo-overlays/*.png), and stops the server (SIGTERM: it drains and
# exits).
# usage: scripts/demo.sh [IMAGE...]   (default: model/samples/*.png)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh gcnserve gcnctl

repository=model/repository
images=("$@")
((${#images[@]})) || images=(model/samples/*.png)
log=$(mktemp --suffix=.gcnserve.log)
server_pid=
stop_server() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" || true
  fi
}
trap stop_server EXIT

echo "== starting gcnserve on $repository (log: $log)"
build/server/gcnserve --model-repository "$repository" \
  --grpc-address 127.0.0.1:0 --metrics-address 127.0.0.1:0 \
  --http-address 127.0.0.1:0 2>"$log" &
server_pid=$!
port=
for _ in $(seq 1200); do
  port=$(sed -n 's/.* on port \([0-9]*\),.*/\1/p' "$log")
  [[ -n $port ]] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$log"
    echo "demo: the server did not start" >&2
    exit 1
  fi
  sleep 0.1
done
[[ -n $port ]] || { cat "$log"; echo "demo: the server did not start in time" >&2; exit 1; }
metrics_port=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$log")
http_port=$(sed -n 's/.*HTTP port \([0-9]*\).*/\1/p' "$log")
gcnctl=(build/client/gcnctl --target "127.0.0.1:$port")

echo "== health"
"${gcnctl[@]}" health
echo "== models"
"${gcnctl[@]}" models
echo "== classify (file: top classes with probabilities)"
"${gcnctl[@]}" classify --top-k 3 "${images[@]}"
overlays=build/demo-overlays
echo "== drawing what the model looked at: $overlays/*.png"
"${gcnctl[@]}" classify --overlay "$overlays" --top-k 3 "${images[@]}" >/dev/null
ls "$overlays" | head -n 3 | sed "s|^|  $overlays/|"
echo "  ... (points: size = attention score, colour = feature level; lines:"
echo "  each point's strongest edges; right: the adjacency as a heat map)"
echo "== the graph behind the first prediction (interest points in image pixels)"
"${gcnctl[@]}" classify --json --graph points "${images[0]}" |
  /usr/bin/python3 -c '
import json, sys
r = json.loads(sys.stdin.readline())["response"]
print("  top class:", r["classes"][0]["label"], "%.3f" % r["classes"][0]["probability"])
for p in r.get("points", [])[:10]:
    print("  point x=%5.1f y=%5.1f score=%.3f" % (p.get("x", 0), p.get("y", 0), p.get("score", 0)))
n = len(r.get("points", []))
print("  (%d points in all)" % n if n > 10 else "")'
if [[ -n $http_port ]]; then
  echo "== the same over HTTP (JSON API: POST /v1/classify; viewer: http://127.0.0.1:$http_port/)"
  curl -s --data-binary @"${images[0]}" -H 'Content-Type: image/png' \
    "http://127.0.0.1:$http_port/v1/classify?top_k=1&graph=none" | head -c 300
  echo
fi
if [[ -n $metrics_port ]]; then
  echo "== a few of the server's metrics (http://127.0.0.1:$metrics_port/metrics)"
  curl -s "http://127.0.0.1:$metrics_port/metrics" |
    grep -E '^gcnserve_(requests_total|batch_size_count|model_ready)' || true
fi
echo "== stopping the server (SIGTERM drains, then exits 0)"
stop_server
tail -n 3 "$log"
rm -f "$log"
