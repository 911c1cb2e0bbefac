#!/usr/bin/env bash
# Pins the action to a prebuilt image: rewrites `runs.image` of action.yml
# (or the file given) from `Dockerfile` to `docker://IMAGE@sha256:DIGEST`.
# The release workflow runs it on the release commit only; main keeps
# `image: Dockerfile`, which its CI builds.
#
#   scripts/pin-image.sh ghcr.io/OWNER/REPO@sha256:<64 hex> [action.yml]
set -euo pipefail

ref=${1:?usage: pin-image.sh IMAGE@sha256:DIGEST [action.yml]}
file=${2:-action.yml}
if ! [[ "$ref" =~ ^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$ ]]; then
  echo "pin-image: $ref is not IMAGE@sha256:<64 hex digits> (lower-case image name)" >&2
  exit 1
fi
if [ "$(grep -c '^  image: ' "$file")" -ne 1 ]; then
  echo "pin-image: $file must have exactly one runs.image line ('  image: …')" >&2
  exit 1
fi
sed -i "s|^  image: .*\$|  image: docker://$ref|" "$file"
grep -q "^  image: docker://$ref\$" "$file"
