#!/usr/bin/env bash
# The native action's second step: runs flox-publish ($FLOX_PUBLISH_BIN)
# with the step's INPUT_* variables, as the container action runs it.
#
# Builds run as a user of their own only where flox-publish is root: as
# in its container, it then runs them as a uid no other process has, which
# cannot read its environment or files. So where the runner's user may
# use sudo without a password (GitHub's hosted runners), flox-publish runs
# as root through it, with the step's environment; elsewhere it runs as
# the runner's user, and the job summary says what builds could reach.
set -euo pipefail
bin=${FLOX_PUBLISH_BIN:?the binary step gave no binary}

if [ "$(id -u)" -eq 0 ]; then
  exec "$bin"
fi
if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  echo "Running flox-publish as root through the runner's passwordless sudo, so that builds run as a user of their own"
  # -E keeps the step's environment (INPUT_*, GITHUB_*, RUNNER_*, the OIDC
  # request variables); PATH is given again since sudo replaces it. HOME
  # is root's: what Nix and git write into their caches stays out of the
  # runner's home. TMPDIR is one every user can reach (the build user
  # must reach its clean clone; macOS's per-user TMPDIR is 0700).
  root_home=$(eval echo ~root)
  exec sudo -n -E env "PATH=$PATH" "HOME=$root_home" TMPDIR=/tmp "$bin"
fi
echo "::notice title=flox-publish (native)::the runner's user cannot use sudo without a password: builds run as that user (the job summary says what they could reach)"
exec "$bin"
