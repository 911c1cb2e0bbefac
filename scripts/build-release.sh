#!/usr/bin/env bash
# Builds the release binaries of flox-publish, as the Release workflow
# does (.github/workflows/release.yml), into OUTDIR:
#
#   scripts/build-release.sh VERSION OUTDIR [OS/ARCH ...]
#
# (default: linux/amd64 linux/arm64 darwin/amd64 darwin/arm64), one file
# flox-publish-OS-ARCH each, with the version and commit set through
# -ldflags -X (`flox-publish --version` prints them). COMMIT overrides
# the commit (default: git rev-parse HEAD).
#
# zstd is libzstd's C code (through cgo) wherever this machine's C
# toolchain can build for the target: the host's own system; Linux from
# Linux with Debian's cross compilers (gcc-aarch64-linux-gnu,
# gcc-x86-64-linux-gnu); either macOS arch on macOS (Apple's clang builds
# both). Elsewhere (macOS from Linux) the binary gets the pure-Go
# encoder. ZSTD=libzstd makes that an error instead (the Release workflow
# sets it); `go version -m` on a binary shows which it got
# (CGO_ENABLED=1 or 0), and scripts/release-files.sh writes it into the
# release notes. Linux binaries are static, as the image's.
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:?usage: build-release.sh VERSION OUTDIR [OS/ARCH ...]}
out=${2:?usage: build-release.sh VERSION OUTDIR [OS/ARCH ...]}
shift 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64)
commit=${COMMIT:-$(git rev-parse HEAD)}
zstd=${ZSTD:-auto}
case "$zstd" in auto|libzstd) ;; *) echo "build-release: ZSTD=$zstd: want auto or libzstd" >&2; exit 1 ;; esac
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]*)?$ ]] || { echo "build-release: version '$version' is not X.Y.Z" >&2; exit 1; }
[[ "$commit" =~ ^[0-9a-f]{40}$ ]] || { echo "build-release: commit '$commit' is not a full commit hash" >&2; exit 1; }

host_os=$(go env GOHOSTOS)
host_arch=$(go env GOHOSTARCH)
pkg=github.com/flox-publish/publish-action/internal/version
mkdir -p "$out"

# cc_for prints the C compiler that builds for OS/ARCH here, or nothing.
cc_for() {
  local os=$1 arch=$2 cc=
  case "$os/$host_os" in
    linux/linux)
      if [ "$arch" = "$host_arch" ]; then cc=${CC:-gcc}
      else case "$arch" in amd64) cc=x86_64-linux-gnu-gcc ;; arm64) cc=aarch64-linux-gnu-gcc ;; esac
      fi ;;
    darwin/darwin) cc=${CC:-clang} ;; # Go passes -arch to Apple's clang
  esac
  if [ -n "$cc" ] && command -v "$cc" >/dev/null; then echo "$cc"; fi
}

for target in "${targets[@]}"; do
  os=${target%/*} arch=${target#*/}
  case "$target" in linux/amd64|linux/arm64|darwin/amd64|darwin/arm64) ;; *) echo "build-release: unsupported target $target" >&2; exit 1 ;; esac
  bin="$out/flox-publish-$os-$arch"
  ldflags="-s -w -X $pkg.version=$version -X $pkg.commit=$commit"
  cc=$(cc_for "$os" "$arch")
  if [ -z "$cc" ]; then
    if [ "$zstd" = libzstd ]; then
      echo "build-release: no C compiler builds $target here, and ZSTD=libzstd asks for libzstd" >&2; exit 1
    fi
    echo "==> $target: pure-Go zstd (no C toolchain for $target on $host_os/$host_arch)" >&2
    CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOFLAGS=-buildvcs=false \
      go build -trimpath -ldflags="$ldflags" -o "$bin" .
  elif [ "$os" = linux ]; then
    echo "==> $target: libzstd through cgo ($cc), static" >&2
    CGO_ENABLED=1 CC=$cc GOOS=$os GOARCH=$arch GOFLAGS=-buildvcs=false \
      go build -trimpath -tags netgo,osusergo -ldflags="$ldflags -linkmode=external -extldflags=-static" -o "$bin" .
  else
    echo "==> $target: libzstd through cgo ($cc)" >&2
    CGO_ENABLED=1 CC=$cc GOOS=$os GOARCH=$arch GOFLAGS=-buildvcs=false MACOSX_DEPLOYMENT_TARGET=12.0 \
      go build -trimpath -ldflags="$ldflags" -o "$bin" .
  fi
done
