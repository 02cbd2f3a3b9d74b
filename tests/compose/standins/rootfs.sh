#!/bin/sh
# A Debian bookworm minbase root filesystem holding PACKAGES, imported as the image TAG: the
# base of a stand-in image, for hosts that reach Debian's repositories but no image registry.
#   sh rootfs.sh WORKDIR TAG PACKAGE...
set -e
work=$1 tag=$2
shift 2
rootfs=$work/rootfs
packages=$(echo "$@" | tr ' ' ,)
debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" \
    "${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# What a slim image leaves out: the package lists and downloaded archives.
rm -rf "$rootfs/var/lib/apt/lists/"* "$rootfs/var/cache/apt/"*.bin \
    "$rootfs/var/cache/apt/archives/"*.deb
tar -C "$rootfs" -c . | docker import - "$tag"
rm -rf "$rootfs"
