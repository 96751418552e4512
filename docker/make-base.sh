#!/usr/bin/env bash
# Makes a local Debian 12 base image for buildah from debootstrap, for
# machines without a registry of container images (README.md, "Deploying").
# Does nothing when the image is already there.
# usage: docker/make-base.sh [IMAGE]   (default localhost/gcnserve-debian:bookworm)
# Needs root, debootstrap and buildah; MIRROR overrides the Debian mirror.
set -euo pipefail
image=${1:-localhost/gcnserve-debian:bookworm}
mirror=${MIRROR:-http://deb.debian.org/debian}

if buildah inspect --type image "$image" >/dev/null 2>&1; then
  exit 0
fi

rootfs=$(mktemp -d /var/tmp/gcnserve-rootfs.XXXXXX)
ctr=
cleanup() {
  [[ -n $ctr ]] && buildah rm "$ctr" >/dev/null 2>&1
  rm -rf "$rootfs" "$rootfs.tar" "$rootfs.log"
}
trap cleanup EXIT

echo "make-base: debootstrap bookworm into $rootfs"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 ||
  { tail -n 30 "$rootfs.log"; exit 1; }
# As in Debian's official image: the point-release and security updates too.
cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

echo "make-base: importing it as $image"
ctr=$(buildah from scratch)
tar -C "$rootfs" -cf "$rootfs.tar" .
buildah add "$ctr" "$rootfs.tar" / >/dev/null
buildah config --cmd /bin/bash --env LANG=C.UTF-8 "$ctr"
buildah commit --quiet "$ctr" "$image" >/dev/null
echo "make-base: $image ready"
