#!/usr/bin/env bash
# Prints the Debian packages that hold the shared libraries the given
# binaries link directly (their ELF NEEDED entries), one per line: what a
# runtime image must install. apt brings in what those libraries need.
# Libraries outside any package (a LibTorch unpacked in /opt) are skipped:
# the image copies those itself; so are the NVIDIA driver's (libcuda), which
# the NVIDIA Container Toolkit mounts at run time.
# usage: docker/runtime-packages.sh BINARY...
set -euo pipefail
for binary in "$@"; do
  declare -A path=()
  while read -r name _ file _; do
    [[ -n ${file:-} && $file == /* ]] && path[$name]=$file
  done < <(ldd "$binary")
  for needed in $(objdump -p "$binary" | awk '$1 == "NEEDED" {print $2}'); do
    [[ $needed == libcuda.so* || $needed == libnvidia-* ]] && continue
    file=${path[$needed]:-}
    [[ -n $file ]] || { echo "runtime-packages: $binary: $needed not found" >&2; exit 1; }
    # Debian 12 ships some libraries under /lib, some under /usr/lib.
    for candidate in "$file" "$(realpath "$file")" "/usr$file" "${file#/usr}"; do
      if owner=$(dpkg -S "$candidate" 2>/dev/null); then
        echo "${owner%%:*}"
        break
      fi
    done
  done
  unset path
done | sort -u
