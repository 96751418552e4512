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
  libssl-dev
  libgtest-dev libgmock-dev libcurl4-openssl-dev
  # bench/: libjpeg's entropy decoding (the decode floor of gcnserve_limit)
  libjpeg-dev
  # the server's own decoders: libjpeg-turbo (above), libpng (its messages
  # kept off stderr), libwebp (scaled decoding), zlib (PNG chunk CRCs)
  libpng-dev libwebp-dev zlib1g-dev
  # the fuzzer (tests/fuzz: libFuzzer with ASan and UBSan, Debian's clang)
  clang libclang-rt-14-dev
  # jemalloc, linked into gcnserve and gcnserve_limit (server/base/allocator.cc;
  # bench/README.md has the figures against glibc malloc)
  libjemalloc-dev
  # bench/server_alone.sh: h2load, a load generator that costs the server's
  # cores little (raw gRPC over HTTP/2)
  nghttp2-client
  # the README's certificate recipe (TLS, mutual TLS) and its test
  openssl
  # model/ and Python tests (run with /usr/bin/python3)
  python3-torch python3-numpy python3-pytest python3-tqdm python3-opencv
  python3-matplotlib
  # torchvision's ResNet-50: the report's trunk of the paper presets, and
  # the state-dict format of users' pretrained weights (model/, fit.py)
  python3-torchvision
  # Pillow: the parity test's images that OpenCV cannot write (CMYK JPEGs,
  # palette PNGs with transparency, gray+alpha PNGs)
  python3-pil
  # scikit-image's sample photos (skimage.data), scaled up: bench/'s photos
  # and the JPEG and WebP photos of the parity test
  python3-skimage
  # the Python client (client/python: grpcio and protobuf; its stubs made by
  # protobuf-compiler-grpc's grpc_python_plugin, above), python3-venv for
  # the test that pip-installs it into fresh venvs, and grpc_tools for the
  # Open Inference Protocol test's own stubs (tests/client)
  python3-grpcio python3-protobuf python3-venv python3-grpc-tools
  # data
  dataset-fashion-mnist
  # Prometheus server and promtool (tests/deploy: the alert rules' unit tests
  # and the real-scrape test)
  prometheus
)
# The headless browser of the viewer's test (tests/viewer, playwright-core);
# INSTALL_DEPS_BROWSER=0 leaves it out (the image's build stage, which runs
# neither that test nor the deploy ones).
[[ ${INSTALL_DEPS_BROWSER:-1} == 0 ]] || packages+=(chromium)
# The image test (docker/test-image.sh, run by scripts/test.sh): buildah
# builds the CPU image without a Docker engine, from a Debian base made by
# debootstrap. INSTALL_DEPS_IMAGE_TOOLS=0 leaves them out (the image's build
# stage, which builds no image).
[[ ${INSTALL_DEPS_IMAGE_TOOLS:-1} == 0 ]] || packages+=(buildah debootstrap)
# Node.js and npm validate deploy/ (tests/deploy). Debian's, unless the
# machine already has a Node.js of its own.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

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
