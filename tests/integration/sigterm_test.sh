#!/usr/bin/env bash
# The gcnserve binary reports SERVING, classifies, and on SIGTERM drains and
# exits 0 leaving no process behind. It reads the ports from the start-up
# line the way scripts/demo.sh does, with metrics on, so that a change to
# that line which would send the demo to the metrics port fails here.
#
# The drain under load (docs/design.md, "Drain"): unary clients and open
# streams, one of whose versions was replaced by a SIGHUP reload; health says
# NOT_SERVING during the grace window; the process exits within the grace
# window plus --drain-timeout-s although the streams stay open; no client
# sees CANCELLED.
# It also runs on jemalloc with one instance per core, the defaults.
# usage: sigterm_test.sh GCNSERVE GCNCTL DATA_DIR
set -uo pipefail
server=$1 client=$2 data=$3
work=$(mktemp -d)
log=$work/server.log
pid=
fail() { echo "FAIL: $*"; cat "$log"; [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null; exit 1; }
trap 'rm -rf "$work"' EXIT

cp -r "$data/repository" "$work/repository"
grace=1 timeout=5
"$server" --model-repository "$work/repository" --grpc-address 127.0.0.1:0 \
  --metrics-address 127.0.0.1:0 --http-address 127.0.0.1:0 --drain-grace-s $grace --drain-timeout-s $timeout \
  --intra-op-threads 1 2>"$log" &
pid=$!
port=
for _ in $(seq 600); do
  port=$(sed -n 's/.* on port \([0-9]*\),.*/\1/p' "$log")
  [[ -n $port ]] && break
  kill -0 "$pid" 2>/dev/null || fail "server exited during start"
  sleep 0.1
done
[[ -n $port ]] || fail "server did not start"
# The defaults that make it fast (server/base/allocator.h, ModelConfig::Instances):
# jemalloc with its options and its background thread, one instance per core.
grep -q "memory allocator: jemalloc .*(background_thread:true, oversize_threshold:0)" "$log" ||
  fail "gcnserve does not run on jemalloc with server/base/allocator.cc's options"
grep -qx jemalloc_bg_thd /proc/"$pid"/task/*/comm || fail "no jemalloc background thread"
grep -q "model3 version 1 ready (model3, $(nproc) instance(s) on cpu" "$log" ||
  fail "model3 is not served by one instance per core"
metrics_port=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$log")
[[ -n $metrics_port && $metrics_port != "$port" ]] || fail "no separate metrics port in the start-up line"
http_port=$(sed -n 's/.*HTTP port \([0-9]*\).*/\1/p' "$log")
[[ -n $http_port && $http_port != "$port" && $http_port != "$metrics_port" ]] ||
  fail "no separate HTTP port in the start-up line"
curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null || fail "HTTP /readyz is not 200"

target=127.0.0.1:$port
[[ $("$client" --target "$target" health) == SERVING ]] || fail "not SERVING"
"$client" --target "$target" classify "$data"/samples/*.png >/dev/null ||
  fail "classify failed"

# Load that outlasts the server: unary clients and open streams.
bench=(bench "$data/samples" --warmup-s 0 --duration-s 8 --format json --no-progress)
"$client" --target "$target" "${bench[@]}" --concurrency 8 >"$work/unary.json" 2>&1 &
unary=$!
"$client" --target "$target" "${bench[@]}" --concurrency 2 --streaming >"$work/streams.json" 2>&1 &
streams=$!
sleep 1
# A new version while the streams are open (the old one must not hold
# them), and a newer corrupt one, which version 2 serves in place of.
mkdir "$work/repository/model3/.2" "$work/repository/model3/.3"
cp "$work/repository/model3/1/model.pt" "$work/repository/model3/.2/"
echo "not a TorchScript file" >"$work/repository/model3/.3/model.pt"
mv "$work/repository/model3/.2" "$work/repository/model3/2"
mv "$work/repository/model3/.3" "$work/repository/model3/3"
kill -HUP "$pid"
for _ in $(seq 300); do
  grep -q "model3 version 2 ready" "$log" && break
  sleep 0.1
done
grep -q "model3 version 2 ready" "$log" || fail "SIGHUP did not load version 2"
models=$("$client" --target "$target" models)
grep -q "failed: .*; version 2 serves instead" <<<"$models" ||
  fail "gcnctl models does not show version 3 FAILED with version 2 in its place: $models"

kill -TERM "$pid"
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
signalled=$(now_ms)
health=$("$client" --target "$target" health 2>&1)
[[ $health == NOT_SERVING ]] || fail "health during the grace window: '$health', want NOT_SERVING"
ready=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port/readyz")
[[ $ready == 503 ]] || fail "HTTP /readyz during the grace window: $ready, want 503"
limit=$(( grace + timeout + 3 ))
while kill -0 "$pid" 2>/dev/null; do
  (( $(now_ms) - signalled > limit * 1000 )) &&
    fail "still running ${limit}s after SIGTERM (grace ${grace}s + drain timeout ${timeout}s)"
  sleep 0.1
done
wait "$pid"
rc=$?
took=$(( $(now_ms) - signalled ))
[[ $rc == 0 ]] || fail "exit status $rc after SIGTERM"
grep -q "received SIGTERM" "$log" || fail "no drain logged"
grep -q "stopped" "$log" || fail "no stop logged"
kill -0 "$pid" 2>/dev/null && fail "process still running"
wait "$unary" "$streams"
for run in unary streams; do
  grep -q '"ok"' "$work/$run.json" || fail "$run bench reported nothing: $(cat "$work/$run.json")"
  grep -q CANCELLED "$work/$run.json" && fail "$run clients saw CANCELLED: $(cat "$work/$run.json")"
done
echo "PASS: SERVING, classified, reloaded under load (v3 FAILED, v2 in its place), NOT_SERVING in the grace window," \
  "exited 0 ${took} ms after SIGTERM with streams open, no client CANCELLED"
