#!/usr/bin/env bash
# Installs what the tests and the benchmark run against when it is missing:
# git, Debian's Nix, the arm64 cross compiler and qemu-user (apt-get), and MinIO (built once from the Go module
# proxy at a pinned version, and cached), versitygw (Go module proxy) and
# s3rver (npm), likewise pinned and cached. Prints the path of the minio
# binary. Meant to be sourced or run from the repository root.
set -euo pipefail

need_apt=()
command -v git >/dev/null || need_apt+=(git)
command -v nix >/dev/null || need_apt+=(nix-bin)
command -v npm >/dev/null || need_apt+=(npm) # s3rver
# The release build's linux/arm64 binary links libzstd through cgo with
# Debian's cross compiler, as the Release workflow's does (native/).
# qemu-user runs that binary here, to show it works.
if [ "$(uname -m)" = x86_64 ] && ! command -v aarch64-linux-gnu-gcc >/dev/null; then
  need_apt+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
fi
if [ "$(uname -m)" = x86_64 ] && ! command -v qemu-aarch64 >/dev/null; then
  need_apt+=(qemu-user)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]} (apt-get)" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# versitygw and s3rver are the catalog index tests' second and third S3
# servers (the latter ignores conditional headers); they print nothing on
# stdout.
bash scripts/install-s3-servers.sh

# MinIO is the real S3 and STS server of the store tests and the benchmark.
bash scripts/install-minio.sh
