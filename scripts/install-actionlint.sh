#!/usr/bin/env bash
# Installs actionlint, which the test suite runs on every workflow (and,
# through them, action.yml), at a pinned version into
# ${FLOX_PUBLISH_TOOLS:-$HOME/.cache/flox-publish-tools}/bin when it is
# missing, from the Go module proxy, and prints the binary's path (only
# that, on stdout).
set -euo pipefail

ACTIONLINT_MODULE=github.com/rhysd/actionlint/cmd/actionlint
# Keep in step with image/release_test.go's ActionlintVersion.
ACTIONLINT_VERSION=v1.7.12

tools="${FLOX_PUBLISH_TOOLS:-$HOME/.cache/flox-publish-tools}"
bin="$tools/bin"
stamp="$bin/.actionlint-version"
if [ -x "$bin/actionlint" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$ACTIONLINT_VERSION" ]; then
  echo "$bin/actionlint"
  exit 0
fi
command -v go >/dev/null || { echo "install-actionlint: go is not on PATH" >&2; exit 1; }
echo "==> installing actionlint $ACTIONLINT_VERSION into $bin" >&2
mkdir -p "$bin"
GOBIN="$bin" GOFLAGS=-buildvcs=false go install "$ACTIONLINT_MODULE@$ACTIONLINT_VERSION" >&2
echo "$ACTIONLINT_VERSION" > "$stamp"
echo "$bin/actionlint"
