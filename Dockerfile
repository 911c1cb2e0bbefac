# syntax=docker/dockerfile:1.7
#
# The action's image: a static binary on a Debian runtime that has git (to
# verify and clone the commit), and Flox with its bundled Nix (for the flox
# builder). GitHub runs container actions as root with the workspace
# mounted at /github/workspace: no USER and no WORKDIR in the runtime stage.
#
# Released images are built by .github/workflows/release.yml and pinned by
# digest in the tagged action.yml; main's CI (ci.yml) builds this file.
# Its Nix configuration and environment are the files under image/, which
# the container test (container_test.go) puts in a Debian tree of the same
# packages (Debian's nix-bin and a flox stand-in in place of the .deb) and
# runs the binary in, as the runner starts it.

# Pinned by version; pin by digest in your fork (docker buildx imagetools inspect).
ARG GO_IMAGE=golang:1.26.8-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-20261110-slim

# The binary is cross-compiled on the build machine's platform: a
# multi-platform build (release.yml) emulates only the runtime stage.
FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
# Set by BuildKit for the platform being built; the fallbacks in the
# command are for builders that set none.
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# zstd is libzstd's own C code (DataDog/zstd compiles it in), linked
# statically with glibc: half the CPU of the pure-Go encoder. Cross builds
# need the target's C compiler (Debian's gcc-<triplet>); --build-arg
# ZSTD=purego builds without cgo instead, with the pure-Go encoder.
ARG ZSTD=libzstd
RUN if [ "$ZSTD" = purego ]; then \
      CGO_ENABLED=0 GOOS="${TARGETOS:-linux}" GOARCH="${TARGETARCH:-amd64}" GOFLAGS=-buildvcs=false \
      go build -trimpath -ldflags="-s -w" -o /out/flox-publish .; exit; fi; \
    case "${TARGETARCH:-amd64}" in amd64) cc=x86_64-linux-gnu-gcc; pkgs="gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;; arm64) cc=aarch64-linux-gnu-gcc; pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;; *) echo "unsupported $TARGETARCH"; exit 1 ;; esac; \
    command -v "$cc" >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends $pkgs >/dev/null; }; \
    CGO_ENABLED=1 CC="$cc" GOOS="${TARGETOS:-linux}" GOARCH="${TARGETARCH:-amd64}" GOFLAGS=-buildvcs=false \
    go build -trimpath -tags netgo,osusergo -ldflags="-s -w -linkmode=external -extldflags=-static" -o /out/flox-publish .

FROM ${RUNTIME_IMAGE}
# The newest Flox release; image/FLOX-VERSIONS.md lists the manifest schema
# versions each release reads, and TestFloxReadsEverySchema (image/) checks
# that this one reads every schema-version the action accepts.
ARG FLOX_VERSION=1.15.0
ARG TARGETARCH
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The Flox .deb carries its own Nix. Its checksum is checked against the
# SHA256SUMS file Flox publishes for the release.
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl git xz-utils; \
    case "${TARGETARCH:-amd64}" in amd64) arch=x86_64 ;; arm64) arch=aarch64 ;; *) echo "unsupported $TARGETARCH"; exit 1 ;; esac; \
    deb="flox-${FLOX_VERSION}.${arch}-linux.deb"; \
    curl -fsSLO "https://downloads.flox.dev/by-env/stable/deb/${deb}"; \
    curl -fsSL "https://downloads.flox.dev/by-env/stable/flox-${FLOX_VERSION}.SHA256SUMS" | grep " ${deb}\$" | sha256sum -c -; \
    apt-get install -y --no-install-recommends "./${deb}"; \
    rm -f "${deb}"; \
    apt-get purge -y curl; apt-get autoremove -y; rm -rf /var/lib/apt/lists/*
# The image's Nix configuration and set-up (nixbld users, /github closed to
# builds), the same files the container test uses. The Flox .deb's own
# nix.conf is replaced: image/nix.conf carries its cache settings.
COPY image/nix.conf /etc/nix/nix.conf
COPY image/setup.sh /usr/local/lib/flox-publish/setup.sh
RUN /usr/local/lib/flox-publish/setup.sh
# Keep in step with image/environment (action_test.go checks they match).
ENV PATH=/nix/var/nix/profiles/default/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NIX_CONF_DIR=/etc/nix \
    FLOX_DISABLE_METRICS=true \
    LANG=C.UTF-8
# The workspace belongs to the runner's user, not root, and git refuses
# such a repository ("dubious ownership"). The binary marks the repository
# it verifies as a safe.directory itself, through the environment of each
# git command it runs, without writing any git config file.
COPY --from=build /out/flox-publish /usr/local/bin/flox-publish
# The image is unusable without these: fail its build instead.
RUN set -eux; \
    command -v git; command -v nix; command -v nix-daemon; command -v flox; \
    git --version; nix --version; flox --version; \
    /usr/local/bin/flox-publish --help >/dev/null
ENTRYPOINT ["/usr/local/bin/flox-publish"]
