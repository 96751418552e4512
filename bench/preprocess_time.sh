#!/usr/bin/env bash
# Preprocessing time per JPEG photo, before and after a change, side by side
# in one run: bench/preprocess_time.cc compiled against the preprocessor of
# git revision BEFORE and of the working tree, run in alternation on photos
# from bench/make_photos.py (four 1920x1080 and four 4032x3024 JPEGs at
# quality 90). Each binary times every photo three ways in turn: for a
# 64x64 gray input, for a 224x224 RGB one, and its entropy-decoding floor,
# in the thread's CPU time (the median of ROUNDS rounds over the photos).
# usage: bench/preprocess_time.sh [BEFORE_REV] [RUNS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
before_rev=${1:-main}
runs=${2:-3}
rounds=${3:-9}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

/usr/bin/python3 bench/make_photos.py "$work/hd" 1920 1080 4 >/dev/null
/usr/bin/python3 bench/make_photos.py "$work/12mp" 4032 3024 4 >/dev/null
libs="-lopencv_imgcodecs -lopencv_imgproc -lopencv_core -ljpeg -lpng -lwebp -lz -ljemalloc
      $(pkg-config --libs absl_status absl_statusor absl_strings absl_str_format absl_time)"
build() {  # OUT SOURCE_ROOT
  local sources=()
  for f in decode/image_preprocessor decode/jpeg_decoder decode/png_decoder \
           decode/webp_decoder base/log base/clock base/allocator; do
    [[ -f "$2/server/$f.cc" ]] && sources+=("$2/server/$f.cc")
  done
  # shellcheck disable=SC2086
  g++ -O2 -DNDEBUG -std=c++17 -I"$2" -I. -I/usr/include/opencv4 \
    bench/preprocess_time.cc bench/jpeg_entropy_decoder.cc "${sources[@]}" -o "$1" $libs
}
for f in $(git ls-tree -r --name-only "$before_rev" server/); do
  mkdir -p "$work/before/$(dirname "$f")"
  git show "$before_rev:$f" > "$work/before/$f"
done
build "$work/preprocess_before" "$work/before" &
build "$work/preprocess_after" . &
wait

# Freed pages kept (gcnserve_limit preprocess's KeepFreedPages): no page
# faults counted on what each image frees and the next allocates again.
export MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1
printf '%-4s %-5s %-7s %9s %8s %9s %10s %9s\n' run code photos "gray ms" "rgb ms" "floor ms" \
  "gray/floor" "rgb/floor"
for ((run = 1; run <= runs; run++)); do
  for which in before after; do
    for tag in hd 12mp; do
      read -r gray rgb floor < <("$work/preprocess_$which" "$rounds" "$work"/${tag}/*.jpg)
      printf '%-4s %-5s %-7s %9s %8s %9s %10.2f %9.2f\n' "$run" "$which" "$tag" \
        "$gray" "$rgb" "$floor" "$(echo "$gray / $floor" | bc -l)" \
        "$(echo "$rgb / $floor" | bc -l)"
    done
  done
done
