#!/usr/bin/env bash
# Builds the Debian root file system the container test runs the action in,
# when it is missing, and prints its path (only that, on stdout).
#
# It holds what the image's runtime stage installs from Debian (git,
# ca-certificates, xz-utils and, in place of the Flox .deb that cannot be
# downloaded here, Debian's nix-bin), plus the nixbld group and build users
# the image creates. The image's own files (image/) and the static binary
# are copied in by the test on every run, so this tree holds only packages.
# debootstrap takes about eight minutes on two cores, which is why the tree
# is cached outside the checkout, like MinIO, and reused between runs.
# Needs root (debootstrap, chroot).
set -euo pipefail

ROOTFS_VERSION=bookworm-minbase-3
tools="${FLOX_PUBLISH_TOOLS:-$HOME/.cache/flox-publish-tools}"
dir="$tools/rootfs-bookworm"
stamp="$dir.version"

if [ -d "$dir/usr/bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$ROOTFS_VERSION" ]; then
  echo "$dir"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "install-rootfs: debootstrap and chroot need root" >&2; exit 1; }
# CI keeps the tree between runs as a tarball (actions/cache cannot read
# root's files); unpack it when it is of this version.
if [ -f "$dir.tar" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$ROOTFS_VERSION" ]; then
  echo "==> unpacking $dir.tar" >&2
  rm -rf "$dir" && mkdir -p "$dir" && tar -C "$dir" -xf "$dir.tar" >&2
  echo "$dir"
  exit 0
fi
if ! command -v debootstrap >/dev/null; then
  echo "==> installing debootstrap (apt-get)" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
# Debian's mirror; DEBIAN_MIRROR names another (the one apt uses, when
# the network reaches only that).
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
tmp="$dir.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
echo "==> debootstrap bookworm (minbase) into $dir from $mirror (about 8 minutes, once)" >&2
debootstrap --variant=minbase --include=git,ca-certificates,xz-utils,nix-bin bookworm "$tmp" "$mirror" >&2 || true
test -d "$tmp/usr/bin" && test -d "$tmp/proc" || { echo "install-rootfs: debootstrap failed (log above)" >&2; exit 1; }
# debootstrap does not resolve a virtual package nix-bin pulls in
# (perl-dbdabi-94); apt can, inside the tree.
mount --bind /proc "$tmp/proc"
trap 'umount "$tmp/proc" 2>/dev/null || true; rm -rf "$tmp"' EXIT
cp /etc/resolv.conf "$tmp/etc/resolv.conf" 2>/dev/null || true
chroot "$tmp" env DEBIAN_FRONTEND=noninteractive apt-get install -f -y -qq >&2
chroot "$tmp" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git ca-certificates xz-utils nix-bin >&2
chroot "$tmp" apt-get clean
umount "$tmp/proc"
test -x "$tmp/usr/bin/nix" && test -x "$tmp/usr/bin/nix-daemon" && test -x "$tmp/usr/bin/git"
rm -rf "$dir"
mv "$tmp" "$dir"
echo "$ROOTFS_VERSION" > "$stamp"
echo "$dir"
