#!/usr/bin/env bash
# Resident memory of gcnserve (jemalloc linked in with server/base/allocator.h's
# options) against the same binary with other jemalloc options
# (MALLOC_CONF=$OTHER_CONF, added to the built-in ones; default: jemalloc's
# own oversize arena for allocations over 8 MiB, as the images preloaded it
# before), measured side by side: two servers, the same flags,
# the same load at the same time, so that both see the same machine.
#
#   1. idle, after start-up;
#   2. a bad-input storm: truncated and corrupt images, images refused by
#      their header, and large photos that are decoded and resized;
#   3. idle again, 10 s and 60 s after (does the memory come back?);
#   4. a soak of good images of mixed sizes (default 600 s), RSS sampled
#      every 10 s;
#   5. idle after the soak.
# Throughput is that of the soak, both servers loaded at once: on a shared
# machine, runs one after the other meet different loads.
#
# usage: bench/memory_soak.sh [OUT_DIR] (env: SOAK_S=600 STORM_S=30
#        OTHER_CONF=oversize_threshold:8388608
#        CONCURRENCY=8 STORM_CONCURRENCY=16 GCNSERVE=build/server/gcnserve
#        GCNCTL=build/client/gcnctl)
# Prints a summary; OUT_DIR keeps the images, logs, bench JSON and
# rss.csv (seconds, phase, shipped kB, other kB).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/memory-soak}
soak_s=${SOAK_S:-600}
storm_s=${STORM_S:-30}
concurrency=${CONCURRENCY:-8}
storm_concurrency=${STORM_CONCURRENCY:-16}
gcnserve=${GCNSERVE:-build/server/gcnserve}
gcnctl=${GCNCTL:-build/client/gcnctl}
other_conf=${OTHER_CONF-oversize_threshold:8388608}
mkdir -p "$out"

# Images: good ones of mixed sizes (the 28x28 samples and photos up to 12 MP)
# and bad ones, all with image extensions so that gcnctl bench sends them.
/usr/bin/python3 - "$out" <<'EOF'
import os, sys, shutil, zlib, struct
import numpy as np, cv2
out = sys.argv[1]
good, bad = os.path.join(out, "good"), os.path.join(out, "bad")
for d in (good, bad):
    shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
rng = np.random.default_rng(0)
for name in sorted(os.listdir("model/samples"))[:10]:
    shutil.copy(os.path.join("model/samples", name), good)
def photo(w, h):
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 255 // w), (y * 255 // h), ((x + y) * 255 // (w + h))], -1)
    img = img.astype(np.uint8)
    noise = rng.integers(0, 32, size=(h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    return cv2.add(img, cv2.resize(noise, (w, h), interpolation=cv2.INTER_NEAREST))
for w, h in [(640, 480), (1280, 720), (1920, 1080), (4000, 3000)]:
    img = photo(w, h)
    cv2.imwrite(os.path.join(good, f"photo_{w}x{h}.jpg"), img)
    cv2.imwrite(os.path.join(good, f"photo_{w}x{h}.png"), img[: h // 2, : w // 2])
    ok, jpg = cv2.imencode(".jpg", img)
    ok, png = cv2.imencode(".png", img)
    jpg, png = jpg.tobytes(), png.tobytes()
    # Cut short, and corrupted in the middle.
    open(os.path.join(bad, f"cut_{w}x{h}.jpg"), "wb").write(jpg[: len(jpg) // 2])
    open(os.path.join(bad, f"cut_{w}x{h}.png"), "wb").write(png[: len(png) // 2])
    mid = bytearray(png); mid[len(mid) // 3 : len(mid) // 3 + 64] = b"\xff" * 64
    open(os.path.join(bad, f"corrupt_{w}x{h}.png"), "wb").write(bytes(mid))
    # Large photos that decode, at every size, share the storm.
    shutil.copy(os.path.join(good, f"photo_{w}x{h}.jpg"), bad)
# A PNG header claiming 40000x40000: refused before decoding.
ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0)
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
open(os.path.join(bad, "huge_header.png"), "wb").write(
    b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
for i in range(4):
    open(os.path.join(bad, f"noise_{i}.jpg"), "wb").write(
        b"\xff\xd8\xff" + rng.integers(0, 256, 4096 * (i + 1), dtype=np.uint8).tobytes())
EOF

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

start_server() {  # NAME [MALLOC_CONF]
  local name=$1 conf=${2:-}
  env ${conf:+MALLOC_CONF=$conf} "$gcnserve" --grpc-address 127.0.0.1:0 \
    --metrics-address "" --http-address "" --preprocess-threads 2 \
    >"$out/$name.log" 2>&1 &
  pids+=($!)
  eval "${name}_pid=$!"
}
port_of() {  # LOG
  local port=""
  for _ in $(seq 600); do
    port=$(grep -o 'on port [0-9]*,' "$1" | tail -1 | grep -o '[0-9]*' || true)
    [[ -n $port ]] && { echo "$port"; return; }
    sleep 0.2
  done
  echo "memory_soak: server did not start; see $1" >&2; exit 1
}
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

start_server shipped
start_server other "$other_conf"
shipped_port=$(port_of "$out/shipped.log")
other_port=$(port_of "$out/other.log")
t0=$(date +%s)
echo "seconds,phase,shipped_kb,other_kb" >"$out/rss.csv"
sample() { echo "$(($(date +%s) - t0)),$1,$(rss "$shipped_pid"),$(rss "$other_pid")" >>"$out/rss.csv"; }
load() { uptime | sed 's/.*load average: //'; }

bench_both() {  # PHASE SECONDS CONCURRENCY DIR
  local phase=$1 seconds=$2 conc=$3 dir=$4
  for name in shipped other; do
    local port_var=${name}_port
    "$gcnctl" --target "127.0.0.1:${!port_var}" --deadline-ms 30000 bench "$dir" \
      --concurrency "$conc" --warmup-s 0 --duration-s "$seconds" --no-progress \
      --format json >"$out/$phase.$name.json" 2>"$out/$phase.$name.err" &
  done
  local bench_pids=($(jobs -p | tail -2))
  while kill -0 "${bench_pids[@]}" 2>/dev/null; do sample "$phase"; sleep 10; done
  wait "${bench_pids[@]}" || true
}
throughput() {  # JSON
  /usr/bin/python3 -c 'import json,sys
d=json.load(open(sys.argv[1])); lv=d["levels"][0]
print(f"{lv[\"throughput\"]:.1f}")' "$1" 2>/dev/null || echo "?"
}

echo "memory_soak: servers up (shipped pid $shipped_pid, other pid $other_pid); load average $(load)"
sleep 5; sample idle
idle_shipped=$(rss "$shipped_pid"); idle_other=$(rss "$other_pid")
bench_both storm "$storm_s" "$storm_concurrency" "$out/bad"
storm_shipped=$(rss "$shipped_pid"); storm_other=$(rss "$other_pid")
sleep 10; sample after-storm
after_storm_shipped=$(rss "$shipped_pid"); after_storm_other=$(rss "$other_pid")
sleep 50; sample after-storm
later_shipped=$(rss "$shipped_pid"); later_other=$(rss "$other_pid")
load_before=$(load)
bench_both soak "$soak_s" "$concurrency" "$out/good"
load_after=$(load)
soak_end_shipped=$(rss "$shipped_pid"); soak_end_other=$(rss "$other_pid")
sleep 10; sample after-soak

/usr/bin/python3 - "$out" <<EOF
import csv, json, sys
out = sys.argv[1]
rows = [r for r in csv.DictReader(open(f"{out}/rss.csv")) if r["phase"] == "soak"]
def mb(kb): return int(kb) / 1024
def tp(phase, name):
    try:
        lv = json.load(open(f"{out}/{phase}.{name}.json"))["levels"][0]
        return lv["throughput"], sum(lv.get("errors", {}).values())
    except Exception as e:
        return float("nan"), "?"
half = len(rows) // 2
print(f"memory_soak: other = MALLOC_CONF='$other_conf'")
print(f"memory_soak: load average before the soak {'$load_before'}, after {'$load_after'}")
print("| RSS, MB | shipped | other | other / shipped |")
print("| --- | --- | --- | --- |")
def line(label, g, j):
    print(f"| {label} | {g:.0f} | {j:.0f} | {j / g:.2f} |")
line("idle after start", mb($idle_shipped), mb($idle_other))
line("end of the storm", mb($storm_shipped), mb($storm_other))
line("10 s after the storm", mb($after_storm_shipped), mb($after_storm_other))
line("60 s after the storm", mb($later_shipped), mb($later_other))
for name, key in (("soak, peak", max), ("soak, lowest", min)):
    line(name, key(mb(r["shipped_kb"]) for r in rows), key(mb(r["other_kb"]) for r in rows))
if half:
    g1 = max(mb(r["shipped_kb"]) for r in rows[:half]); g2 = max(mb(r["shipped_kb"]) for r in rows[half:])
    j1 = max(mb(r["other_kb"]) for r in rows[:half]); j2 = max(mb(r["other_kb"]) for r in rows[half:])
    print(f"| soak, growth: peak of 2nd half - peak of 1st half | {g2 - g1:+.0f} | {j2 - j1:+.0f} | |")
line("end of the soak", mb($soak_end_shipped), mb($soak_end_other))
(sg, se), (jg, je) = tp("soak", "shipped"), tp("soak", "other")
print(f"| soak throughput, req/s ok | {sg:.1f} | {jg:.1f} | {jg / sg:.2f} |")
print(f"| soak errors | {se} | {je} | |")
EOF
