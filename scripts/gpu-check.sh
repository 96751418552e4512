#!/usr/bin/env bash
# Checks the CUDA path of gcnserve's model runner against its CPU path, with
# the LibTorch of the machine's Python torch, on the bundled exports.
#
# Builds bench/'s gcnserve_device_check with GCNSERVE_RUNNER_ONLY (the model
# runner and its metadata: LibTorch, nlohmann_json and absl only, no gRPC,
# protobuf or OpenCV) and runs it over model/repository: every batch size
# from 1 to the server's largest on the CPU (each row held to the image run
# alone) and on CUDA (held to the CPU's answer: probabilities and adjacency
# within 1e-4, the same interest points), then forward throughput per batch
# size on each device, through TorchModelRunner::Run as the server calls it
# (pinned staging and the one copy back included).
#
# LibTorch: torch.utils.cmake_prefix_path of the first of python3 and
# /usr/bin/python3 that imports torch (on a GPU machine, pip's torch with
# CUDA; here, Debian's torch, whose LibTorch CMake finds by itself). The rest
# comes from gpu-pack/ (scripts/pack-gpu-check.sh), made here when missing
# and carried to a machine without the project's packages.
# On a machine without CUDA (or without a GPU) it builds and runs the CPU
# half and says that CUDA was skipped; scripts/test.sh runs it so.
#
# usage: scripts/gpu-check.sh        environment: GCNSERVE_GPU_CHECK_SECONDS
#        (seconds timed per batch size and device, default 0.5; 0: no timing),
#        GCNSERVE_GPU_CHECK_BUILD (build folder, default build-gpu-check)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
pack=$root/gpu-pack
build=${GCNSERVE_GPU_CHECK_BUILD:-build-gpu-check}
seconds=${GCNSERVE_GPU_CHECK_SECONDS:-0.5}

python=
for candidate in python3 /usr/bin/python3; do
  if "$candidate" -c 'import torch' 2>/dev/null; then python=$candidate; break; fi
done
[[ -n $python ]] || { echo "gpu-check: no python3 with torch here" >&2; exit 1; }
read -r torch_version torch_prefix cuda_runtime < <("$python" -c '
import torch
print(torch.__version__, torch.utils.cmake_prefix_path, torch.version.cuda or "none")')
echo "gpu-check: torch $torch_version (CUDA runtime $cuda_runtime) from $python; CMake prefix $torch_prefix"
command -v nvidia-smi >/dev/null &&
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

if [[ ! -d $pack/include/absl ]]; then
  if [[ -d /usr/include/absl ]]; then
    scripts/pack-gpu-check.sh "$pack" >/dev/null
  else
    echo "gpu-check: $pack is missing: run scripts/pack-gpu-check.sh where the" \
         "project's packages are installed and bring gpu-pack/ along" >&2
    exit 1
  fi
fi

# LibTorch 2.13 and later need C++20.
std=$("$python" -c '
import torch
major, minor = (int(v) for v in torch.__version__.split("+")[0].split(".")[:2])
print(20 if (major, minor) >= (2, 13) else 17)')
prefixes="$pack"
[[ -f $torch_prefix/Torch/TorchConfig.cmake ]] && prefixes="$torch_prefix;$pack"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DGCNSERVE_RUNNER_ONLY=ON -DBUILD_TESTING=OFF -DCMAKE_CXX_STANDARD="$std" \
  -DCMAKE_PREFIX_PATH="$prefixes" -DTORCH_CUDA_ARCH_LIST=9.0 >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log" >&2; exit 1; }
cmake --build "$build" -j"$(nproc)" --target gcnserve_device_check

status=0 log=$build/check.log
: >"$log"
for export in model/repository/*/*/model.pt; do
  version=${export%/model.pt} model=${version%/*}
  inputs=$pack/inputs/${model##*/}-${version##*/}.f32
  args=(--seconds "$seconds")
  [[ -f $inputs ]] && args+=(--inputs "$inputs")
  "$build/bench/gcnserve_device_check" "${args[@]}" "$export" >>"$log" || status=1
done
grep -m1 '^gcnserve_device_check' "$log"
grep -v '^gcnserve_device_check\|^every export\|export(s) FAILED\|^CUDA SKIPPED' "$log"
if grep -q '^CUDA SKIPPED' "$log"; then
  echo "gpu-check: CUDA SKIPPED ($(grep -m1 '^CUDA SKIPPED' "$log" | sed 's/^CUDA SKIPPED: //; s/; only.*//')): only the CPU half ran"
fi
if ((status)); then echo "gpu-check: FAILED"; else echo "gpu-check: every bundled export agreed"; fi
exit $status
