#!/usr/bin/env bash
# Makes what the integration tests serve, with model/'s own tools:
#   OUT/repository/model3/1         a tiny Model3 export (random weights)
#   OUT/faulty_repository/{model3,faulty}/1  the same, plus a copy that raises
#   OUT/samples/*.png                Fashion-MNIST test images
#   OUT/drift_samples/*.png          the first 300 test images (drift_test.cc)
# The export carries its drift reference (Fashion-MNIST's validation split).
# usage: make_test_models.sh OUT
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
python=${GCNSERVE_PYTHON:-/usr/bin/python3}
export PYTHONPATH="$here/../../model"
rm -rf "$out/repository" "$out/faulty_repository" "$out/samples" "$out/drift_samples"
"$python" -m gcnserve_model.export --preset tiny --repository "$out/repository" --seed 0 --reference val
mkdir -p "$out/faulty_repository"
cp -r "$out/repository/model3" "$out/faulty_repository/"
"$python" "$here/make_faulty_model.py" "$out/repository/model3/1/model.pt" "$out/faulty_repository"
"$python" -m gcnserve_model.samples --out "$out/samples" --count 10
"$python" -m gcnserve_model.samples --out "$out/drift_samples" --count 300 --first
