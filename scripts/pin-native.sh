#!/usr/bin/env bash
# Pins the native action to a release's binaries: writes the release's
# version and download URL (DIR/release.txt) and its checksums.txt
# (DIR/checksums.txt) into the action's folder. The Release workflow runs
# it on the release commit only (as scripts/pin-image.sh pins the image);
# on main the folder has neither file, and the action builds the binary
# from its own source instead.
#
#   scripts/pin-native.sh VERSION BASE_URL CHECKSUMS [DIR]
#
# BASE_URL is where the binaries are downloaded from:
# https://github.com/OWNER/REPO/releases/download/vX.Y.Z.
set -euo pipefail
version=${1:?usage: pin-native.sh VERSION BASE_URL CHECKSUMS [DIR]}
url=${2:?usage: pin-native.sh VERSION BASE_URL CHECKSUMS [DIR]}
sums=${3:?usage: pin-native.sh VERSION BASE_URL CHECKSUMS [DIR]}
dir=${4:-native}
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]*)?$ ]] || { echo "pin-native: version '$version' is not X.Y.Z" >&2; exit 1; }
[[ "$url" =~ ^https?://[^[:space:]]+$ ]] || { echo "pin-native: '$url' is not an http(s) URL" >&2; exit 1; }
[ -f "$dir/action.yml" ] || { echo "pin-native: $dir has no action.yml" >&2; exit 1; }
for t in linux-amd64 linux-arm64 darwin-amd64 darwin-arm64; do
  if ! grep -Eq "^[0-9a-f]{64}  flox-publish-$t\$" "$sums"; then
    echo "pin-native: $sums has no SHA-256 line for flox-publish-$t" >&2; exit 1
  fi
done
if grep -Evq '^[0-9a-f]{64}  flox-publish-(linux|darwin)-(amd64|arm64)$' "$sums"; then
  echo "pin-native: $sums has lines that are not <sha256>  flox-publish-OS-ARCH" >&2; exit 1
fi
printf 'version=%s\nurl=%s\n' "$version" "${url%/}" > "$dir/release.txt"
cp "$sums" "$dir/checksums.txt"
