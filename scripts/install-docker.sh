#!/usr/bin/env bash
# Installs what the container test and the image benchmark run on, when it
# is missing: a Docker engine (Debian's docker.io: dockerd, containerd,
# runc and the 20.10 client) and debootstrap, with apt-get; and the base
# images the project's Dockerfile is built from, which no registry serves
# here, as root file system tarballs in the tools cache
# (${FLOX_PUBLISH_TOOLS:-$HOME/.cache/flox-publish-tools}/docker-images):
#
#   bookworm-<V>.tar          debootstrap --variant=minbase bookworm, slimmed
#                             as Debian's -slim images are (no docs, man
#                             pages, locales or apt lists): the runtime base
#   go-builder-<V>-<go>.tar   that plus gcc, libc6-dev and ca-certificates
#                             from Debian, this machine's CA bundle and its
#                             /usr/local/go: the Go builder
#
# Each tarball has a .sha256 beside it; scripts/docker.sh imports a tarball
# as an image named by that content. Making both takes about 4 minutes,
# once. Prints nothing on stdout. Needs root.
set -euo pipefail

# Bump to remake the tarballs when the recipe below changes.
BASE_VERSION=1

[ "$(id -u)" -eq 0 ] || { echo "install-docker: apt-get, dockerd and debootstrap need root" >&2; exit 1; }

need_apt=()
# A machine with its own engine (GitHub's runners have Docker's) keeps it:
# docker.io conflicts with docker-ce.
command -v dockerd >/dev/null || need_apt+=(docker.io)
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
command -v setpriv >/dev/null || need_apt+=(util-linux)
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need_apt+=(debian-archive-keyring)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]} (apt-get)" >&2
  # The package would start a system-wide daemon on /var/run/docker.sock
  # where no init system stops it; the tests start one of their own.
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1
  fi
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
fi

tools="${FLOX_PUBLISH_TOOLS:-$HOME/.cache/flox-publish-tools}"
images="$tools/docker-images"
base="$images/bookworm-$BASE_VERSION.tar"
goversion=$(go env GOVERSION)
builder="$images/go-builder-$BASE_VERSION-$goversion.tar"
if [ -f "$base" ] && [ -f "$base.sha256" ] && [ -f "$builder" ] && [ -f "$builder.sha256" ]; then
  exit 0
fi
mkdir -p "$images"

# Debian's mirror: DEBIAN_MIRROR, else the one apt uses (the network may
# reach only that), else deb.debian.org.
mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -1 || true)
fi
if [ -z "$mirror" ]; then
  mirror=$(sed -n 's/^deb  *\(http[^ ]*\) *bookworm .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -1 || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

tmp=$(mktemp -d "$images/.make.XXXXXX")
cleanup() {
  umount "$tmp/builder/proc" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# tarball DIR OUT: the tree as an image layer, numeric owners, and its
# sha256 beside it.
tarball() {
  tar --numeric-owner --xattrs -C "$1" -cf "$2.tmp" .
  sha256sum "$2.tmp" | cut -d' ' -f1 > "$2.sha256"
  mv "$2.tmp" "$2"
}

echo "==> debootstrap bookworm (minbase) from $mirror for the base images (about 3 minutes, once)" >&2
env -u TMPDIR debootstrap --variant=minbase bookworm "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
  { tail -20 "$tmp/debootstrap.log" >&2; echo "install-docker: debootstrap failed" >&2; exit 1; }

# As Debian's -slim images: dpkg leaves out documentation and translations,
# now and in every later apt-get of an image built on it, and apt keeps no
# downloaded packages.
cat > "$tmp/root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
cat > "$tmp/root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
printf 'Acquire::Languages "none";\n' > "$tmp/root/etc/apt/apt.conf.d/docker-no-languages"
printf 'APT::AutoRemove::SuggestsImportant "false";\n' > "$tmp/root/etc/apt/apt.conf.d/docker-autoremove-suggests"
find "$tmp/root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$tmp/root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$tmp/root/usr/share/man/"* "$tmp/root/usr/share/info/"* "$tmp/root/usr/share/groff/"* "$tmp/root/usr/share/lintian/overrides/"*
find "$tmp/root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +

# The Go builder, as golang:<version>-bookworm: Debian's C toolchain (cgo,
# libzstd linked statically with glibc), and this machine's Go and CA
# bundle (the Go module proxy may be reached through a CA of its own).
cp -a "$tmp/root" "$tmp/builder"
cp /etc/resolv.conf "$tmp/builder/etc/resolv.conf"
mount --bind /proc "$tmp/builder/proc"
chroot "$tmp/builder" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev ca-certificates >"$tmp/apt.log" 2>&1 ||
  { tail -20 "$tmp/apt.log" >&2; echo "install-docker: apt-get in the Go builder failed" >&2; exit 1; }
umount "$tmp/builder/proc"
cp /etc/ssl/certs/ca-certificates.crt "$tmp/builder/etc/ssl/certs/ca-certificates.crt"
goroot=$(go env GOROOT)
mkdir -p "$tmp/builder/usr/local"
tar -C "$goroot" --exclude=./test --exclude=./api --exclude=./doc -cf - . | { mkdir -p "$tmp/builder/usr/local/go" && tar -C "$tmp/builder/usr/local/go" -xf -; }
mkdir -p "$tmp/builder/go" && chmod 1777 "$tmp/builder/go"

for t in root builder; do
  rm -rf "$tmp/$t/var/lib/apt/lists/"* "$tmp/$t/var/cache/apt/"*.bin "$tmp/$t/var/cache/apt/archives/"*.deb "$tmp/$t/var/log/"*.log
  : > "$tmp/$t/etc/resolv.conf"
done
tarball "$tmp/root" "$base"
tarball "$tmp/builder" "$builder"
# Those of other recipes or Go releases are not used again.
for old in "$images"/bookworm-*.tar "$images"/go-builder-*.tar; do
  [ "$old" = "$base" ] || [ "$old" = "$builder" ] || rm -f "$old" "$old.sha256"
done
echo "==> base images: $base, $builder" >&2
