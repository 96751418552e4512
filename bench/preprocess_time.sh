#!/usr/bin/env bash
# Preprocessing time per JPEG photo, before and after a change, side by side
# in one run: bench/preprocess_time.cc compiled against the preprocessor of
# git revision BEFORE and of the working tree, run in alternation on photos
# from bench/make_photos.py: four 1920x1080 and four 4032x3024 JPEGs at
# quality 90.
# usage: bench/preprocess_time.sh [BEFORE_REV] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
before_rev=${1:-main}
runs=${2:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

/usr/bin/python3 bench/make_photos.py "$work/hd" 1920 1080 4 >/dev/null
/usr/bin/python3 bench/make_photos.py "$work/12mp" 4032 3024 4 >/dev/null
libs="-lopencv_imgcodecs -lopencv_imgproc -lopencv_core -ljpeg -lwebp -lz
      $(pkg-config --libs absl_status absl_statusor absl_strings absl_time)"
build() {  # OUT SOURCE_ROOT
  local sources=("$2"/server/decode/image_preprocessor.cc)
  for extra in jpeg_decoder webp_decoder log clock; do
    [[ -f "$2/server/$extra.cc" ]] && sources+=("$2/server/$extra.cc")
  done
  # shellcheck disable=SC2086
  g++ -O2 -DNDEBUG -std=c++17 -I"$2" -I. -I/usr/include/opencv4 \
    bench/preprocess_time.cc bench/jpeg_entropy_decoder.cc "${sources[@]}" -o "$1" $libs
}
mkdir -p "$work/before/server"
for f in $(git ls-tree --name-only "$before_rev" server/); do
  git show "$before_rev:$f" > "$work/before/$f"
done
build "$work/preprocess_before" "$work/before"
build "$work/preprocess_after" .

printf '%-6s %-7s %14s %10s %16s\n' run photos "preprocess ms" "floor ms" "preprocess/floor"
for ((run = 1; run <= runs; run++)); do
  for which in before after; do
    for tag in hd 12mp; do
      read -r prep floor < <("$work/preprocess_$which" 5 "$work"/${tag}/*.jpg)
      printf '%-6s %-7s %14s %10s %16.2f  (%s)\n' "$run" "$tag" "$prep" "$floor" \
        "$(echo "$prep / $floor" | bc -l)" "$which"
    done
  done
done
