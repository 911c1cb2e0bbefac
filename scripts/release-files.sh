#!/usr/bin/env bash
# Writes, beside the release binaries in DIR (scripts/build-release.sh),
# checksums.txt (SHA-256, in sha256sum's format, which `sha256sum -c` and
# actions/attest-build-provenance's subject-checksums read) and notes.md,
# the release notes: which binary has which zstd encoder, read from the
# binaries themselves (`go version -m`).
#
#   scripts/release-files.sh VERSION DIR
set -euo pipefail
version=${1:?usage: release-files.sh VERSION DIR}
dir=${2:?usage: release-files.sh VERSION DIR}
cd "$dir"
bins=(flox-publish-*-*)
[ -e "${bins[0]}" ] || { echo "release-files: no flox-publish-OS-ARCH binary in $dir" >&2; exit 1; }
if command -v sha256sum >/dev/null; then sha256sum "${bins[@]}" > checksums.txt
else shasum -a 256 "${bins[@]}" > checksums.txt
fi
{
  echo "## flox-publish $version"
  echo
  echo "Binaries for the native action (\`uses: OWNER/REPO/native@v$version\`), which checks each"
  echo "against the SHA-256 its release commit pins in \`native/checksums.txt\`, and attested with"
  echo "GitHub's build provenance (\`gh attestation verify FILE --repo OWNER/REPO\`)."
  echo
  echo "| binary | zstd encoder | SHA-256 |"
  echo "|---|---|---|"
  while read -r sum name; do
    cgo=$(go version -m "$name" | awk '$1 == "build" && $2 ~ /^CGO_ENABLED=/ { sub("CGO_ENABLED=", "", $2); print $2 }')
    if [ "$cgo" = 1 ]; then enc="libzstd (C, through cgo)"; else enc="klauspost/compress (pure Go, about 1.3× the CPU)"; fi
    echo "| \`$name\` | $enc | \`$sum\` |"
  done < checksums.txt
} > notes.md
