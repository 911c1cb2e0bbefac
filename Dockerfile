# The action's image: a static binary on a Debian runtime that has git (to
# verify and clone the commit), and Flox with its bundled Nix (for the flox
# builder). GitHub runs container actions as root with the workspace
# mounted at /github/workspace: no USER and no WORKDIR in the runtime stage.
#
# Released images are built by .github/workflows/release.yml and pinned by
# digest in the tagged action.yml; main's CI (ci.yml) builds this file.
# The container test (container_test.go) builds it too, in a Docker engine
# that reaches no registry and no Flox server: from local base images
# (GO_IMAGE, RUNTIME_IMAGE) and with FLOX_FROM=standin, the one step it
# replaces (below); then it runs the image as the runner does.
#
# It needs no dockerfile frontend image (no `# syntax=` line: the engine's
# own parser reads it), and the legacy builder (DOCKER_BUILDKIT=0, still
# the default of Docker 20.10 and of some self-hosted runners) builds it
# as BuildKit does.

# Pinned by version; pin by digest in your fork (docker buildx imagetools inspect).
ARG GO_IMAGE=golang:1.26.8-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-20261110-slim

# The binary is cross-compiled on the build machine's platform: a
# multi-platform build (release.yml) emulates only the runtime stage.
# BuildKit sets BUILDPLATFORM; the legacy builder sets none, and refuses an
# empty --platform, hence the default (GitHub's runners'; pass
# --build-arg BUILDPLATFORM=... elsewhere). Not a global `ARG
# BUILDPLATFORM=...`: BuildKit would take that default over the platform
# it builds on.
FROM --platform=${BUILDPLATFORM:-linux/amd64} ${GO_IMAGE} AS build
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
# What `flox-publish --version` prints (internal/version); release.yml
# passes the release's, other builds print "devel".
ARG VERSION=
ARG COMMIT=
RUN x="-X github.com/flox-publish/publish-action/internal/version.version=${VERSION} -X github.com/flox-publish/publish-action/internal/version.commit=${COMMIT}"; \
    if [ "$ZSTD" = purego ]; then \
      CGO_ENABLED=0 GOOS="${TARGETOS:-linux}" GOARCH="${TARGETARCH:-amd64}" GOFLAGS=-buildvcs=false \
      go build -trimpath -ldflags="-s -w $x" -o /out/flox-publish .; exit; fi; \
    case "${TARGETARCH:-amd64}" in amd64) cc=x86_64-linux-gnu-gcc; pkgs="gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;; arm64) cc=aarch64-linux-gnu-gcc; pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;; *) echo "unsupported $TARGETARCH"; exit 1 ;; esac; \
    command -v "$cc" >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends $pkgs >/dev/null; }; \
    CGO_ENABLED=1 CC="$cc" GOOS="${TARGETOS:-linux}" GOARCH="${TARGETARCH:-amd64}" GOFLAGS=-buildvcs=false \
    go build -trimpath -tags netgo,osusergo -ldflags="-s -w $x -linkmode=external -extldflags=-static" -o /out/flox-publish .
# Only for FLOX_FROM=standin (see the runtime stage): the tests' flox.
ARG FLOX_FROM=deb
RUN if [ "$FLOX_FROM" = standin ]; then \
      CGO_ENABLED=0 GOOS="${TARGETOS:-linux}" GOARCH="${TARGETARCH:-amd64}" GOFLAGS=-buildvcs=false \
      go build -trimpath -o /out/flox ./internal/builder/testdata/flox-standin; fi

FROM ${RUNTIME_IMAGE}
# The newest Flox release; image/FLOX-VERSIONS.md lists the manifest schema
# versions each release reads, and TestFloxReadsEverySchema (image/) checks
# that this one reads every schema-version the action accepts.
ARG FLOX_VERSION=1.15.0
ARG TARGETARCH
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The Flox .deb carries its own Nix. Its checksum is checked against the
# SHA256SUMS file Flox publishes for the release. FLOX_FROM=standin is for
# the tests, where Flox's servers cannot be reached: Debian's Nix, and the
# project's flox stand-in (built above, copied with the binary below);
# Debian's Nix needs curl, which the .deb's install downloads with only.
ARG FLOX_FROM=deb
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl git xz-utils; \
    case "$FLOX_FROM" in \
    deb) \
    case "${TARGETARCH:-amd64}" in amd64) arch=x86_64 ;; arm64) arch=aarch64 ;; *) echo "unsupported $TARGETARCH"; exit 1 ;; esac; \
    deb="flox-${FLOX_VERSION}.${arch}-linux.deb"; \
    curl -fsSLO "https://downloads.flox.dev/by-env/stable/deb/${deb}"; \
    curl -fsSL "https://downloads.flox.dev/by-env/stable/flox-${FLOX_VERSION}.SHA256SUMS" | grep " ${deb}\$" | sha256sum -c -; \
    apt-get install -y --no-install-recommends "./${deb}"; \
    rm -f "${deb}"; \
    apt-get purge -y curl ;; \
    standin) apt-get install -y --no-install-recommends nix-bin ;; \
    *) echo "FLOX_FROM=$FLOX_FROM: deb (released images) or standin (tests)"; exit 1 ;; \
    esac; \
    apt-get autoremove -y; rm -rf /var/lib/apt/lists/*
# The image's Nix configuration and set-up (nixbld users, /github closed to
# builds, no setuid or setgid program). The Flox .deb's own nix.conf is
# replaced: image/nix.conf carries its cache settings.
COPY image/nix.conf /etc/nix/nix.conf
COPY image/setup.sh /usr/local/lib/flox-publish/setup.sh
RUN /usr/local/lib/flox-publish/setup.sh
ENV PATH=/nix/var/nix/profiles/default/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NIX_CONF_DIR=/etc/nix \
    FLOX_DISABLE_METRICS=true \
    LANG=C.UTF-8
# The workspace belongs to the runner's user, not root, and git refuses
# such a repository ("dubious ownership"). The binary marks the repository
# it verifies as a safe.directory itself, through the environment of each
# git command it runs, without writing any git config file.
# /out holds the binary (and, for FLOX_FROM=standin, the flox stand-in).
COPY --from=build /out/ /usr/local/bin/
# The image is unusable without these: fail its build instead.
RUN set -eux; \
    command -v git; command -v nix; command -v nix-daemon; command -v flox; \
    git --version; nix --version; flox --version; \
    /usr/local/bin/flox-publish --help >/dev/null
ENTRYPOINT ["/usr/local/bin/flox-publish"]
