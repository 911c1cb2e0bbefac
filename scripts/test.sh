#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian machine: installs what the
# tests run against when it is missing (git, Debian's Nix, MinIO), checks
# that go.mod is tidy, vets, tests the whole module, then runs the race
# detector on the packages that run things concurrently. Under CI=true a
# test that lacks its tool fails; elsewhere it skips and says why.
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
# darwin code's pure logic is tested on Linux). internal/testenv/dockerlike
# is the Linux container emulation of the tests, which macOS never runs.
echo "==> go build, go vet (GOOS=darwin, amd64 and arm64)"
darwin_pkgs=$(go list ./... | grep -v '/internal/testenv/dockerlike$')
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
