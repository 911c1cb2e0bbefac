#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian machine: installs what the
# tests run against when it is missing (git, Debian's Nix, MinIO), then vets
# and tests the whole module. Tests never skip: a tool that cannot be
# installed fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v git >/dev/null || need_apt+=(git)
command -v nix >/dev/null || need_apt+=(nix-bin)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]} (apt-get)"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# MinIO is the real S3 and STS server of the store tests; built once from
# the Go module proxy at a pinned version and cached.
MINIO_BIN=$(bash scripts/install-minio.sh)
export MINIO_BIN

echo "==> gofmt, go vet"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...

echo "==> go test"
go test -count=1 -timeout 20m ./...
