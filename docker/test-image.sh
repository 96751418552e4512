#!/usr/bin/env bash
# Builds the CPU image (docker/Dockerfile) with buildah and tests it for real,
# without a Docker engine:
#   1. makes a local Debian 12 base with debootstrap if it is missing
#      (docker/make-base.sh);
#   2. builds the image with buildah (chroot isolation); the build stage
#      installs the project's packages, compiles, and runs the tests;
#   3. checks the image's configuration: non-root user, health check, ports,
#      GCNSERVE_* environment;
#   4. starts the server inside the image (buildah run, host network) on free
#      loopback ports, runs the image's own health check inside it, and from
#      the host classifies the sample images with build/client/gcnctl and
#      reads the server's /metrics;
#   5. stops it with SIGTERM (it must drain and exit 0) and removes the
#      container. The image stays, as localhost/gcnserve:cpu, with its layers
#      cached for the next run (buildah rmi localhost/gcnserve:cpu removes it).
#
# Needs root (buildah's chroot isolation); buildah and debootstrap come from
# scripts/install-deps.sh, which it calls. scripts/test.sh runs it unless
# GCNSERVE_TEST_IMAGE=0.
# It is slow from nothing: measured on a shared 2-core machine with its
# defaults (JOBS=1, RUN_TESTS=1), about 14 minutes (base 2 min; build 12 min,
# 5 of them installing packages in the image; the serving checks seconds);
# with the base and the layers cached, seconds.
#
# usage: docker/test-image.sh
# environment: JOBS (compile jobs in the image, default 1), RUN_TESTS (1: run
# the tests in the build stage, default), GCNCTL (default build/client/gcnctl),
# IMAGE (default localhost/gcnserve:cpu), BASE_IMAGE (default
# localhost/gcnserve-debian:bookworm, made if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

image=${IMAGE:-localhost/gcnserve:cpu}
base=${BASE_IMAGE:-localhost/gcnserve-debian:bookworm}
gcnctl=${GCNCTL:-build/client/gcnctl}
samples=(model/samples/*.png)
work=$(mktemp -d)
ctr=
server_pid=
started=$SECONDS
phase_start=$SECONDS
timings=()

say() { echo "test-image: $*"; }
phase_done() {
  timings+=("$1 $((SECONDS - phase_start))s")
  say "$1 took $((SECONDS - phase_start)) s"
  phase_start=$SECONDS
}
fail() {
  echo "FAIL: test-image: $*" >&2
  [[ -s $work/server.log ]] && { echo "--- server log" >&2; tail -n 40 "$work/server.log" >&2; }
  exit 1
}
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  if [[ -n $ctr ]]; then buildah rm "$ctr" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

((EUID == 0)) || fail "run as root: buildah's chroot isolation needs it (GCNSERVE_TEST_IMAGE=0 scripts/test.sh skips this test)"
[[ -x $gcnctl ]] || fail "$gcnctl is missing: run scripts/build.sh first"
[[ -f ${samples[0]} ]] || fail "no sample images in model/samples"

# --- 1. tools and base ------------------------------------------------------
# buildah and debootstrap are on the project's one list (quiet and quick when
# everything is installed).
scripts/install-deps.sh
docker/make-base.sh "$base"
phase_done base

# --- 2. build ---------------------------------------------------------------
# Each of buildah's STEP lines gets the seconds since the build began, so
# that the slow steps can be named (below) without keeping the whole log.
stamp_steps() {
  local start=$SECONDS line
  while IFS= read -r line; do
    [[ $line == *'STEP '[0-9]*/[0-9]*': '* ]] && line="[+$((SECONDS - start))s] $line"
    printf '%s\n' "$line"
  done
  echo "[+$((SECONDS - start))s] end"
}
say "building $image from docker/Dockerfile (JOBS=${JOBS:-1}, RUN_TESTS=${RUN_TESTS:-1})"
if ! buildah build --isolation chroot --pull=never --layers --format docker \
    --ignorefile docker/Dockerfile.dockerignore -f docker/Dockerfile \
    --build-arg BASE_IMAGE="$base" --build-arg JOBS="${JOBS:-1}" \
    --build-arg RUN_TESTS="${RUN_TESTS:-1}" -t "$image" . 2>&1 |
    stamp_steps >"$work/build.log"; then
  tail -n 60 "$work/build.log" >&2
  fail "buildah build failed"
fi
grep -E '^([0-9]+% tests passed|[0-9]+ passed in|WARNING: no model)' "$work/build.log" || true
# The steps that took 5 s or more (installing packages, compiling, testing,
# committing their layers); none when every layer came from the cache.
awk '/^\[\+[0-9]+s\] / {
       t = substr($1, 3) + 0
       if (step != "" && t - last >= 5) printf "test-image:   %4d s  %s\n", t - last, step
       $1 = ""; step = substr($0, 2, 90); last = t
     }' "$work/build.log"
phase_done build
say "image size: $(buildah images --format '{{.Size}}' "$image" | head -n 1)"

# --- 3. configuration -------------------------------------------------------
config() { buildah inspect --type image --format "$1" "$image"; }
[[ $(config '{{.Docker.Config.User}}') == 10001:10001 ]] ||
  fail "image user is '$(config '{{.Docker.Config.User}}')', not 10001:10001"
health=$(config '{{range .Docker.Config.Healthcheck.Test}}{{.}}{{"\n"}}{{end}}' | sed -n 2p)
[[ $health == *gcnctl*health* ]] || fail "no health check through gcnctl: '$health'"
ports=$(config '{{range $p, $_ := .Docker.Config.ExposedPorts}}{{$p}} {{end}}')
[[ $ports == *50051/tcp* && $ports == *8000/tcp* && $ports == *9464/tcp* ]] ||
  fail "exposed ports: $ports"
env=$(config '{{range .Docker.Config.Env}}{{.}}{{"\n"}}{{end}}')
for var in GCNSERVE_GRPC_ADDRESS GCNSERVE_HTTP_ADDRESS GCNSERVE_METRICS_ADDRESS \
           GCNSERVE_MODEL_REPOSITORY; do
  grep -q "^$var=" <<<"$env" || fail "image does not set $var"
done
[[ $(config '{{index .Docker.Config.Entrypoint 0}}') == /usr/local/bin/gcnserve ]] ||
  fail "entry point is not gcnserve"

ctr=$(buildah from --pull=never "$image")
run() { buildah run --isolation chroot "$ctr" -- "$@"; }
[[ $(run id -u) == 10001 ]] || fail "processes in the image do not run as uid 10001"
blas=$(run readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)
[[ $blas == *openblas* ]] || fail "LibTorch's BLAS in the image is $blas, not OpenBLAS"
[[ -n $(run sh -c 'ls /opt/gcnserve/models/*/*/model.pt') ]] || fail "no bundled model"

# --- 4. serve ---------------------------------------------------------------
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
grpc_port=$(free_port)
metrics_port=$(free_port)
[[ $grpc_port != "$metrics_port" ]] || metrics_port=$(free_port)
http_port=$(free_port)
[[ $http_port != "$grpc_port" && $http_port != "$metrics_port" ]] || http_port=$(free_port)
in_ctr_env=(--env "GCNSERVE_GRPC_ADDRESS=127.0.0.1:$grpc_port"
            --env "GCNSERVE_METRICS_ADDRESS=127.0.0.1:$metrics_port"
            --env "GCNSERVE_HTTP_ADDRESS=127.0.0.1:$http_port")
say "starting the server in the image: gRPC 127.0.0.1:$grpc_port, metrics 127.0.0.1:$metrics_port"
buildah run --isolation chroot "${in_ctr_env[@]}" "$ctr" -- \
  /usr/local/bin/gcnserve --intra-op-threads 1 --drain-timeout-s 5 >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1800); do
  grep -q " on port $grpc_port," "$work/server.log" && break
  kill -0 "$server_pid" 2>/dev/null || fail "the server exited during start"
  sleep 0.1
done
grep -q " on port $grpc_port," "$work/server.log" || fail "the server did not start in 180 s"

buildah run --isolation chroot "${in_ctr_env[@]}" "$ctr" -- /bin/sh -c "$health" ||
  fail "the image's health check failed: $health"
say "the image's own health check passed"

target=(--target "127.0.0.1:$grpc_port")
[[ $("$gcnctl" "${target[@]}" health) == SERVING ]] || fail "health from the host is not SERVING"
"$gcnctl" "${target[@]}" models || fail "gcnctl models failed"
"$gcnctl" "${target[@]}" classify --json "${samples[@]}" >"$work/classify.jsonl" ||
  fail "classifying the samples failed"
answered=$(grep -c '"response"' "$work/classify.jsonl")
((answered == ${#samples[@]})) || fail "$answered of ${#samples[@]} samples answered"
# Sample files are named <index>_<class>_<label>.png: count the top-1 hits.
/usr/bin/python3 - "$work/classify.jsonl" <<'EOF'
import json, os, sys
hits = total = 0
for line in open(sys.argv[1]):
    item = json.loads(line)
    truth = int(os.path.basename(item["file"]).split("_")[1])
    total += 1
    hits += item["response"]["classes"][0].get("index", 0) == truth
print(f"test-image: top-1 {hits}/{total} on the sample images")
EOF
# The classifications, counted under their model; `gcnctl models` (ListModels)
# is counted under model "".
ok=$(curl -fsS "http://127.0.0.1:$metrics_port/metrics" |
  awk '/^gcnserve_requests_total\{/ && /code="OK"/ && !/model=""/ {s += $NF} END {print s + 0}')
((ok == ${#samples[@]})) || fail "/metrics counts $ok OK classifications, not ${#samples[@]}"
say "classified ${#samples[@]} images through the image; /metrics agrees"
curl -fsS "http://127.0.0.1:$http_port/readyz" >/dev/null || fail "HTTP /readyz is not 200"
curl -fsS --data-binary @"${samples[0]}" "http://127.0.0.1:$http_port/v1/classify?graph=none" |
  grep -q '"classes"' || fail "HTTP POST /v1/classify gave no classes"
curl -fsS "http://127.0.0.1:$http_port/" | grep -q 'viewer.js' || fail "no viewer at HTTP /"
say "the HTTP port answers /readyz, /v1/classify and the viewer"

# --- 5. stop ----------------------------------------------------------------
# `buildah run` kills its child on SIGTERM instead of passing the signal on,
# so SIGTERM goes to the gcnserve process itself, found among buildah's
# descendants; buildah run then exits with the server's status.
descendants() {
  local child
  for child in $(pgrep -P "$1"); do
    echo "$child"
    descendants "$child"
  done
}
gcnserve_pid=
for pid in $(descendants "$server_pid"); do
  [[ $(ps -o comm= -p "$pid") == gcnserve ]] && gcnserve_pid=$pid
done
[[ -n $gcnserve_pid ]] || fail "cannot find the gcnserve process under buildah run ($server_pid)"
kill -TERM "$gcnserve_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=
((rc == 0)) || fail "the server exited with $rc after SIGTERM"
grep -q "stopped" "$work/server.log" || fail "no drain and stop in the server's log"
phase_done run

say "timings: ${timings[*]}; total $((SECONDS - started)) s"
echo "PASS: docker/test-image.sh: built $image, served the samples, drained on SIGTERM"
