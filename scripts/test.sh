#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian machine: installs what the
# tests run against when it is missing (git, Debian's Nix, MinIO, a Docker
# engine and the base images of the action's image), checks
# that go.mod is tidy, vets, tests the whole module, then runs the race
# detector on the packages that run things concurrently. Under CI=true a
# test that lacks its tool fails; elsewhere it skips and says why.
set -euo pipefail
cd "$(dirname "$0")/.."

MINIO_BIN=$(bash scripts/install-tools.sh)
export MINIO_BIN
# actionlint checks every workflow.
ACTIONLINT_BIN=$(bash scripts/install-actionlint.sh)
export ACTIONLINT_BIN

# The container test builds the image from the Dockerfile and runs it as
# the runner does, in a Docker engine of this run's own (scripts/docker.sh:
# Debian's docker.io, installed when missing), stopped when the run ends.
# Root only. Under CI=true an engine that does not start fails the run;
# elsewhere the container tests skip, and say so.
source scripts/docker.sh
trap docker_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ "$(id -u)" -ne 0 ]; then
  echo "==> NOTE: not root: no Docker engine is started and the container tests are skipped (under CI=true they fail)"
elif ! docker_start; then
  if [ "${CI:-}" = true ]; then
    echo "==> CI=true: the container tests need a Docker engine (see above)"; exit 1
  fi
  echo "==> NOTE: no Docker engine (see above): the container tests are skipped"
fi

# The conformance tests read real Flox environments from ../shared beside
# the checkout (CI always has them); elsewhere they are skipped, loudly.
corpus=${FLOX_ENV_CORPUS:-../shared/corpus/flox-envs}
if [ ! -f "$corpus/SOURCES.md" ]; then
  echo "==> NOTE: no Flox environment corpus at $corpus: the manifest conformance tests are skipped (set FLOX_ENV_CORPUS; under CI=true they fail)"
fi

echo "==> go mod tidy"
if ! go mod tidy -diff; then
  echo "go.mod or go.sum is not tidy: run go mod tidy and commit the result"; exit 1
fi

echo "==> gofmt, go vet"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...

# macOS is a supported system of the binary (the native action): both of
# its arches build and vet here (no macOS machine runs the tests; the
# darwin code's pure logic is tested on Linux).
echo "==> go build, go vet (GOOS=darwin, amd64 and arm64)"
darwin_pkgs=$(go list ./...)
darwin_bins=$(GOOS=darwin go list -f '{{if .GoFiles}}{{.ImportPath}}{{end}}' $darwin_pkgs)
for arch in amd64 arm64; do
  # shellcheck disable=SC2086
  GOOS=darwin GOARCH=$arch CGO_ENABLED=0 go build $darwin_bins
  # shellcheck disable=SC2086
  GOOS=darwin GOARCH=$arch CGO_ENABLED=0 go vet $darwin_pkgs
done

echo "==> go test"
go test -count=1 -timeout 20m ./...

# The packages with goroutines of their own: 1 to 3 minutes on 2 shared
# cores (cache's NAR streams are most of it), well within CI's 40.
echo "==> go test -race"
go test -count=1 -race -timeout 20m ./internal/cache ./internal/store ./internal/catalog ./internal/floxhub ./internal/ui ./internal/credentials ./internal/publish

# The zstd encoder is chosen at build time (libzstd through cgo, pure Go
# without): the run above tests the cgo one, this the fallback.
echo "==> go test, pure-Go zstd (CGO_ENABLED=0)"
CGO_ENABLED=0 go test -count=1 -timeout 10m ./internal/cache/
