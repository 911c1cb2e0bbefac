#!/usr/bin/env bash
# Installs the two S3 servers the catalog index tests run besides MinIO,
# each at a pinned version into ${FLOX_PUBLISH_TOOLS:-$HOME/.cache/flox-publish-tools}
# when it is missing, and prints nothing on stdout (so install-tools.sh can
# keep printing only MinIO's path):
#
#   - versitygw, an independent S3 gateway (Go module proxy), built once
#     into bin/versitygw;
#   - s3rver, a Node S3 stand-in that ignores conditional headers
#     (If-Match / If-None-Match), from the npm registry into s3rver/,
#     run as bin/s3rver.
#
# The tests find them at $VERSITYGW_BIN / $S3RVER_BIN, then on PATH, then
# in the tools folder (internal/testenv/s3servers.go).
set -euo pipefail

# Keep in step with VersityGWVersion and S3rverVersion in
# internal/testenv/s3servers.go.
VERSITYGW_MODULE=github.com/versity/versitygw/cmd/versitygw
VERSITYGW_VERSION=v1.8.0
S3RVER_VERSION=3.7.1

tools="${FLOX_PUBLISH_TOOLS:-$HOME/.cache/flox-publish-tools}"
bin="$tools/bin"
mkdir -p "$bin"

stamp="$bin/.versitygw-version"
if ! [ -x "$bin/versitygw" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$VERSITYGW_VERSION" ]; then
  command -v go >/dev/null || { echo "install-s3-servers: go is not on PATH; it is needed to build versitygw" >&2; exit 1; }
  echo "==> building $VERSITYGW_MODULE@$VERSITYGW_VERSION into $bin (once)" >&2
  GOBIN="$bin" GOFLAGS=-buildvcs=false go install "$VERSITYGW_MODULE@$VERSITYGW_VERSION" >&2
  echo "$VERSITYGW_VERSION" > "$stamp"
fi

stamp="$bin/.s3rver-version"
if ! [ -x "$bin/s3rver" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$S3RVER_VERSION" ]; then
  command -v npm >/dev/null || { echo "install-s3-servers: npm is not on PATH; it is needed to install s3rver (Debian: apt-get install -y npm)" >&2; exit 1; }
  echo "==> installing s3rver@$S3RVER_VERSION into $tools/s3rver (npm, once)" >&2
  npm install --silent --no-audit --no-fund --prefix "$tools/s3rver" "s3rver@$S3RVER_VERSION" >&2
  ln -sf "$tools/s3rver/node_modules/.bin/s3rver" "$bin/s3rver"
  echo "$S3RVER_VERSION" > "$stamp"
fi
