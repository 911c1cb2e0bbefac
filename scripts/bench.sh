#!/usr/bin/env bash
# Runs the publish benchmark (cmd/bench): installs what it needs when it is
# missing, as the tests do, then publishes a synthetic closure with this
# project and with `nix copy` side by side and prints the report. Flags go
# to the benchmark, e.g. scripts/bench.sh -size 4GiB -rounds 1; see
# `go run ./cmd/bench -h`. Not part of the tests: timings are not pass/fail.
set -euo pipefail
cd "$(dirname "$0")/.."
MINIO_BIN=$(bash scripts/install-tools.sh)
export MINIO_BIN
# The image's size and time to the first check are measured in a Docker
# engine of the run's own, as the tests start it (root only).
source scripts/docker.sh
trap docker_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ "$(id -u)" -ne 0 ] || ! docker_start; then
  echo "==> NOTE: no Docker engine: the benchmark skips the action's image"
fi
bin="${TMPDIR:-/tmp}/flox-publish-bench"
go build -o "$bin" ./cmd/bench
"$bin" "$@"
