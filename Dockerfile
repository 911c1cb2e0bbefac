# syntax=docker/dockerfile:1.7
#
# The action's image: a static binary on a Debian runtime that has git (to
# verify and clone the commit), and Flox with its bundled Nix (for the flox
# builder). GitHub runs container actions as root with the workspace
# mounted at /github/workspace: no USER and no WORKDIR here.
#
# Not built on the machines this project is developed on (no Docker engine
# there); the binary it runs is what the tests exercise.

# Pinned by version; pin by digest in your fork (docker buildx imagetools inspect).
ARG GO_IMAGE=golang:1.26.8-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-20261110-slim

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/flox-publish . \
 && /out/flox-publish --help >/dev/null

FROM ${RUNTIME_IMAGE}
ARG FLOX_VERSION=1.13.0
ARG TARGETARCH=amd64
# The Flox .deb carries its own Nix. Its checksum is checked against the
# SHA256SUMS file Flox publishes for the release.
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl git xz-utils; \
    case "$TARGETARCH" in amd64) arch=x86_64 ;; arm64) arch=aarch64 ;; *) echo "unsupported $TARGETARCH"; exit 1 ;; esac; \
    deb="flox-${FLOX_VERSION}.${arch}-linux.deb"; \
    curl -fsSLO "https://downloads.flox.dev/by-env/stable/deb/${deb}"; \
    curl -fsSL "https://downloads.flox.dev/by-env/stable/flox-${FLOX_VERSION}.SHA256SUMS" | grep " ${deb}\$" | sha256sum -c -; \
    apt-get install -y --no-install-recommends "./${deb}"; \
    rm -f "${deb}"; \
    apt-get purge -y curl; apt-get autoremove -y; rm -rf /var/lib/apt/lists/*
# The workspace belongs to the runner's user, not root: the binary itself
# passes safe.directory to git through its environment for the repository
# it verifies, without writing any git config file.
COPY --from=build /out/flox-publish /usr/local/bin/flox-publish
ENTRYPOINT ["/usr/local/bin/flox-publish"]
