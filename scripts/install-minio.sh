#!/usr/bin/env bash
# Installs MinIO, the real S3 and STS server of the store tests, at a pinned
# version into ${FLOX_PUBLISH_TOOLS:-$HOME/.cache/flox-publish-tools}/bin when
# it is missing, and prints the binary's path (only that, on stdout: callers
# do MINIO_BIN=$(bash scripts/install-minio.sh)).
#
# MinIO publishes no module releases, so the version is a pseudo-version of
# the commit; building it takes about five minutes on two cores, which is
# why the binary is cached outside the checkout and reused between runs.
set -euo pipefail

MINIO_MODULE=github.com/minio/minio
# Keep in step with MinIOVersion in internal/testenv/minio.go.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

tools="${FLOX_PUBLISH_TOOLS:-$HOME/.cache/flox-publish-tools}"
bin="$tools/bin"
stamp="$bin/.minio-version"

if [ -x "$bin/minio" ] && { [ ! -e "$stamp" ] || [ "$(cat "$stamp")" = "$MINIO_VERSION" ]; }; then
  echo "$bin/minio"
  exit 0
fi

command -v go >/dev/null || { echo "install-minio: go is not on PATH; it is needed to build MinIO" >&2; exit 1; }
echo "==> building $MINIO_MODULE@$MINIO_VERSION into $bin (a few minutes, once)" >&2
mkdir -p "$bin"
GOBIN="$bin" GOFLAGS=-buildvcs=false go install "$MINIO_MODULE@$MINIO_VERSION" >&2
echo "$MINIO_VERSION" > "$stamp"
echo "$bin/minio"
