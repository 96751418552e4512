#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs beyond LibTorch and a compiler into
# one folder (default gpu-pack/, ignored by git), to travel with the working
# tree to a machine that has only those: a GPU machine with PyTorch, CMake
# and nvcc, but no C++ gRPC, protobuf, OpenCV or absl. Runs here, where
# scripts/install-deps.sh has installed the project's packages.
#   include/absl, lib/x86_64-linux-gnu/libabsl_*.so* and its CMake config:
#       Debian's absl (the runner library's Status; glibc 2.34 and libstdc++
#       are all it needs)
#   include/nlohmann, share/cmake/nlohmann_json: Debian's nlohmann_json
#   inputs/<model>-<version>.f32: model/samples/*.png preprocessed for each
#       bundled export by model/'s Python reference, float32 [N, C, H, W]
# About 8 MiB.
# usage: scripts/pack-gpu-check.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
pack=${1:-gpu-pack}
lib=/usr/lib/x86_64-linux-gnu
rm -rf "$pack"
mkdir -p "$pack/include" "$pack/lib/x86_64-linux-gnu/cmake" "$pack/share/cmake" "$pack/inputs"
cp -r /usr/include/absl /usr/include/nlohmann "$pack/include/"
cp -a "$lib"/libabsl_*.so* "$pack/lib/x86_64-linux-gnu/"
cp -r "$lib/cmake/absl" "$pack/lib/x86_64-linux-gnu/cmake/"
cp -r /usr/share/cmake/nlohmann_json "$pack/share/cmake/"

PYTHONPATH=model /usr/bin/python3 - "$pack/inputs" model/repository model/samples <<'PY'
import json, pathlib, sys, zipfile
import numpy as np
from gcnserve_model.preprocess import preprocess

out, repository, samples = (pathlib.Path(p) for p in sys.argv[1:])
images = [p.read_bytes() for p in sorted(samples.glob("*.png"))]
for export in sorted(repository.glob("*/*/model.pt")):
    with zipfile.ZipFile(export) as z:
        name = next(n for n in z.namelist() if n.endswith("extra/gcnserve.json"))
        meta = json.loads(z.read(name))
    batch = np.stack([preprocess(b, meta["input"]) for b in images]).astype(np.float32)
    target = out / f"{export.parent.parent.name}-{export.parent.name}.f32"
    batch.tofile(target)
    print(f"{target}: {batch.shape[0]} images {list(batch.shape[1:])}")
PY
du -sh "$pack"
