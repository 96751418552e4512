#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every
# test (GoogleTest unit and integration tests, the binary's SIGTERM test and
# the server/Python parity test through ctest; model/'s tests through pytest).
# Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh

status=0
(cd build && ctest --output-on-failure -j2) || status=1
PYTHONPATH=model /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/python || status=1
if ((status)); then
  echo "scripts/test.sh: FAILED"
else
  echo "scripts/test.sh: all tests passed"
fi
exit $status
