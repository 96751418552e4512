#!/usr/bin/env bash
# The gcnserve binary reports SERVING, classifies, and on SIGTERM drains and
# exits 0 leaving no process behind. It reads the ports from the start-up
# line the way scripts/demo.sh does, with metrics on, so that a change to
# that line which would send the demo to the metrics port fails here.
# usage: sigterm_test.sh GCNSERVE GCNCTL DATA_DIR
set -uo pipefail
server=$1 client=$2 data=$3
log=$(mktemp)
fail() { echo "FAIL: $*"; cat "$log"; kill -9 "$pid" 2>/dev/null; exit 1; }

"$server" --model-repository "$data/repository" --grpc-address 127.0.0.1:0 \
  --metrics-address 127.0.0.1:0 --drain-timeout-s 5 --intra-op-threads 1 2>"$log" &
pid=$!
port=
for _ in $(seq 600); do
  port=$(sed -n 's/.* on port \([0-9]*\),.*/\1/p' "$log")
  [[ -n $port ]] && break
  kill -0 "$pid" 2>/dev/null || fail "server exited during start"
  sleep 0.1
done
[[ -n $port ]] || fail "server did not start"
metrics_port=$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "$log")
[[ -n $metrics_port && $metrics_port != "$port" ]] || fail "no separate metrics port in the start-up line"

[[ $("$client" --target "127.0.0.1:$port" health) == SERVING ]] || fail "not SERVING"
"$client" --target "127.0.0.1:$port" classify "$data"/samples/*.png >/dev/null ||
  fail "classify failed"

kill -TERM "$pid"
wait "$pid"
rc=$?
[[ $rc == 0 ]] || fail "exit status $rc after SIGTERM"
grep -q "received SIGTERM" "$log" || fail "no drain logged"
grep -q "stopped" "$log" || fail "no stop logged"
kill -0 "$pid" 2>/dev/null && fail "process still running"
echo "PASS: SERVING, classified, drained on SIGTERM, exit 0"
rm -f "$log"
