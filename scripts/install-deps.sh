#!/usr/bin/env bash
# Installs every Debian package gcnserve needs to build, test and demo.
# The one list: scripts/demo.sh, scripts/test.sh, CI and docker/ all call it.
# Idempotent; prints nothing when everything is already installed.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache curl
  # C++ libraries
  libtorch-dev libopenblas0-pthread
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libopencv-dev prometheus-cpp-dev libmicrohttpd-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev
  # model/ and Python tests (run with /usr/bin/python3)
  python3-torch python3-numpy python3-pytest python3-tqdm python3-opencv
  # data
  dataset-fashion-mnist
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
((${#missing[@]})) || exit 0

echo "install-deps: installing ${missing[*]}"
sudo=()
((EUID == 0)) || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
