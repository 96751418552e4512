#!/usr/bin/env bash
# Installs the Node.js packages of a package.json (this folder's, which
# validate deploy/ and docker/, or PACKAGE_DIR's), at the exact versions of
# its package-lock.json, into DIR/node_modules with `npm ci`. Nothing is
# installed globally. Does nothing when DIR already holds an install of the
# same lock file.
# usage: install-tools.sh DIR [PACKAGE_DIR]
#        (ctest passes build/tests/deploy/node, or build/tests/viewer/node
#        and tests/viewer for the viewer's browser test)
set -euo pipefail
here=${2:-$(dirname "$0")}
here=$(cd "$here" && pwd)
dir=$1

for tool in node npm; do
  command -v "$tool" >/dev/null ||
    { echo "install-tools: $tool is missing: install Node.js 18 or newer with npm" >&2; exit 1; }
done
major=$(node -p 'process.versions.node.split(".")[0]')
((major >= 18)) || { echo "install-tools: Node.js $major is too old: 18 or newer" >&2; exit 1; }

mkdir -p "$dir"
if cmp -s "$here/package-lock.json" "$dir/installed.lock" && [[ -d $dir/node_modules ]]; then
  echo "install-tools: $dir is up to date"
  exit 0
fi
rm -f "$dir/installed.lock"
cp "$here/package.json" "$here/package-lock.json" "$dir/"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
cp "$here/package-lock.json" "$dir/installed.lock"
echo "install-tools: installed into $dir/node_modules"
