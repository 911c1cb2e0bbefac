#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian machine: installs what the
# tests run against when it is missing (git, Debian's Nix, MinIO), then vets
# and tests the whole module. Tests never skip: a tool that cannot be
# installed fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

MINIO_BIN=$(bash scripts/install-tools.sh)
export MINIO_BIN
# actionlint checks every workflow; the container test runs the action in a
# Debian tree built once by debootstrap (root only: elsewhere the test
# skips, and says so).
ACTIONLINT_BIN=$(bash scripts/install-actionlint.sh)
export ACTIONLINT_BIN
if [ "$(id -u)" -eq 0 ]; then
  FLOX_PUBLISH_ROOTFS=$(bash scripts/install-rootfs.sh)
  export FLOX_PUBLISH_ROOTFS
fi

# The conformance tests read real Flox environments from ../shared beside
# the checkout (CI always has them); elsewhere they are skipped, loudly.
corpus=${FLOX_ENV_CORPUS:-../shared/corpus/flox-envs}
if [ ! -f "$corpus/SOURCES.md" ]; then
  echo "==> NOTE: no Flox environment corpus at $corpus: the manifest conformance tests are skipped (set FLOX_ENV_CORPUS; under CI=true they fail)"
fi

echo "==> gofmt, go vet"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...

echo "==> go test"
go test -count=1 -timeout 20m ./...
