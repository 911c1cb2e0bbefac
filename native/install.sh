#!/usr/bin/env bash
# The native action's first step: puts the flox-publish binary for this
# runner's system in place and writes its path to the step's output `bin`.
#
# On a release commit (release.txt and checksums.txt beside this script,
# written by scripts/pin-native.sh) it is that release's binary: taken
# from the runner's tool cache when there, else downloaded; either way it
# runs only if its SHA-256 is the one pinned in checksums.txt. On any
# other commit it is built from this action's source with the runner's
# Go, and the log says so. Nothing else is ever run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fail() { echo "::error title=flox-publish (native)::$*"; exit 1; }

case "${RUNNER_OS:-}" in
  Linux) os=linux ;;
  macOS) os=darwin ;;
  *) fail "RUNNER_OS=${RUNNER_OS:-(unset)}: the native action runs on Linux and macOS runners (Windows is not supported)" ;;
esac
case "${RUNNER_ARCH:-}" in
  X64) arch=amd64 ;;
  ARM64) arch=arm64 ;;
  *) fail "RUNNER_ARCH=${RUNNER_ARCH:-(unset)}: the native action has binaries for X64 and ARM64 runners" ;;
esac
asset="flox-publish-$os-$arch"
tmp=${RUNNER_TEMP:?RUNNER_TEMP is not set}

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

if [ ! -f "$here/release.txt" ]; then
  # An unreleased ref: main, a branch, a commit of the action.
  ref=${FLOX_PUBLISH_ACTION_REF:-}
  echo "::notice title=flox-publish (native)::this ref of the action (${ref:-a local path}) is not a release: building flox-publish from its source with the runner's Go"
  command -v go >/dev/null || fail "this ref of the action is not a release, so flox-publish is built from its source, and Go is not installed: add actions/setup-go (with go-version-file: the action's go.mod) before this step, or use a released version of the action (@v1)"
  src=$(cd "$here/.." && pwd)
  commit=$(git -C "$src" rev-parse HEAD 2>/dev/null || echo "$ref")
  out="$tmp/flox-publish-source"
  mkdir -p "$out"
  pkg=github.com/flox-publish/publish-action/internal/version
  (cd "$src" && GOFLAGS=-buildvcs=false go build -trimpath \
    -ldflags "-X $pkg.version=0.0.0-unreleased -X $pkg.commit=$commit" -o "$out/flox-publish" .)
  "$out/flox-publish" --version
  echo "bin=$out/flox-publish" >> "$GITHUB_OUTPUT"
  exit 0
fi

version=$(sed -n 's/^version=//p' "$here/release.txt")
url=$(sed -n 's/^url=//p' "$here/release.txt")
[ -n "$version" ] && [ -n "$url" ] || fail "$here/release.txt names no version or url"
want=$(awk -v a="$asset" '$2 == a { print $1 }' "$here/checksums.txt")
[[ "$want" =~ ^[0-9a-f]{64}$ ]] || fail "$here/checksums.txt pins no SHA-256 for $asset"

# The tool cache's layout, as @actions/tool-cache lays it out:
# TOOL/VERSION/ARCH, and ARCH.complete beside it once it is whole.
cache="${RUNNER_TOOL_CACHE:-$tmp/tool-cache}/flox-publish/$version/$arch"
bin="$cache/flox-publish"
if [ -f "$cache.complete" ] && [ -f "$bin" ]; then
  if [ "$(sha256 "$bin")" = "$want" ]; then
    echo "flox-publish $version ($os/$arch) from the tool cache, SHA-256 $want as pinned"
    echo "bin=$bin" >> "$GITHUB_OUTPUT"
    exit 0
  fi
  echo "::warning title=flox-publish (native)::the tool cache's $bin is not the pinned binary (SHA-256 $(sha256 "$bin"), pinned $want): downloading it again"
  rm -rf "$cache" "$cache.complete"
fi

dl="$tmp/flox-publish-download.$$"
rm -f "$dl"
echo "Downloading $url/$asset"
curl --fail --silent --show-error --location --retry 3 --retry-delay 2 \
  --connect-timeout 20 --max-time 300 -o "$dl" "$url/$asset" ||
  fail "download of $url/$asset failed (above); re-run the job, or check that release v$version has its binaries"
got=$(sha256 "$dl")
if [ "$got" != "$want" ]; then
  rm -f "$dl"
  fail "$url/$asset has SHA-256 $got, but this release of the action pins $want (native/checksums.txt): refusing to run it"
fi
mkdir -p "$cache"
chmod 0755 "$dl"
mv -f "$dl" "$bin"
touch "$cache.complete"
echo "flox-publish $version ($os/$arch) downloaded and verified: SHA-256 $want as pinned"
echo "bin=$bin" >> "$GITHUB_OUTPUT"
