# A Docker engine of the run's own, for the container test and the image
# benchmark. Sourced by scripts/test.sh and scripts/bench.sh:
#
#   source scripts/docker.sh
#   docker_start   # installs what is missing, starts dockerd, loads the base images
#   ...            # DOCKER_HOST and FLOX_PUBLISH_* (below) are exported
#   docker_stop    # (from a trap) stops the daemon, removes its run directory
#
# The daemon is started as container.md describes a Docker engine on these
# machines: no iptables and no bridge (containers use the host's network or
# none), its socket, pid file and exec root in a directory private to the
# run. Its storage is overlay2, as on GitHub's runners, where the data
# root's file system takes an overlay mount (here, ext4 does), else vfs,
# where every layer and every container is a full copy (a second or more
# per `docker run` of the image); FLOX_PUBLISH_DOCKER_STORAGE chooses. Its data (images, build cache) is kept in
# the tools cache, so that a warm machine builds the image from cached
# layers; a run that finds it in use by another run's daemon uses a data
# root of its own, and loads the base images from their tarballs. The
# daemon dies with the shell that started it (a parent-death signal), so a
# killed run leaves no daemon behind; it holds the data root's lock until
# it (and its containerd) have exited.
#
# Exported for the tests:
#   DOCKER_HOST                  unix:// socket of this daemon
#   FLOX_PUBLISH_DOCKER          the client (Debian's, the daemon's version)
#   FLOX_PUBLISH_RUNTIME_IMAGE   the runtime base (Dockerfile's RUNTIME_IMAGE)
#   FLOX_PUBLISH_GO_IMAGE        the Go builder (Dockerfile's GO_IMAGE)
#
# docker_start returns non-zero, after one line saying why, when the engine
# cannot be had; the caller decides whether that fails the run.

docker_start() {
  local tools images base builder goversion data log i
  tools="${FLOX_PUBLISH_TOOLS:-$HOME/.cache/flox-publish-tools}"
  if ! bash scripts/install-docker.sh; then
    echo "==> Docker: the engine or the base images could not be installed (above)" >&2
    return 1
  fi
  # The socket's path must fit a sockaddr_un (107 bytes).
  local parent="${TMPDIR:-/tmp}"
  [ ${#parent} -le 60 ] || parent=/tmp
  _docker_run=$(mktemp -d "$parent/flox-publish-docker.XXXXXX")
  chmod 0700 "$_docker_run"
  mkdir -p "$tools/docker"
  data="$tools/docker/data"
  exec {_docker_lock}>"$tools/docker/data.lock"
  if ! flock -n "$_docker_lock"; then
    echo "==> Docker: the tools cache's data root is in use by another run; this run uses one of its own" >&2
    data="$_docker_run/data"
  fi
  mkdir -p "$data"
  local storage=${FLOX_PUBLISH_DOCKER_STORAGE:-}
  if [ -z "$storage" ]; then
    storage=vfs
    local probe
    probe=$(mktemp -d "$data/.overlay-probe.XXXXXX")
    mkdir "$probe/l" "$probe/u" "$probe/w" "$probe/m"
    if mount -t overlay overlay -o "lowerdir=$probe/l,upperdir=$probe/u,workdir=$probe/w" "$probe/m" 2>/dev/null; then
      umount "$probe/m"
      storage=overlay2
    fi
    rm -rf "$probe"
  fi
  # BuildKit's cache is collected past 10 GB.
  printf '{"builder": {"gc": {"enabled": true, "defaultKeepStorage": "10GB"}}}\n' > "$_docker_run/daemon.json"
  log="$_docker_run/dockerd.log"
  setpriv --pdeathsig TERM dockerd --config-file "$_docker_run/daemon.json" \
    --iptables=false --ip6tables=false --bridge=none --storage-driver="$storage" \
    --data-root "$data" --exec-root "$_docker_run/exec" --pidfile "$_docker_run/pid" \
    -H "unix://$_docker_run/sock" >"$log" 2>&1 &
  _docker_pid=$!
  export DOCKER_HOST="unix://$_docker_run/sock"
  FLOX_PUBLISH_DOCKER=$(command -v /usr/bin/docker docker | head -1)
  export FLOX_PUBLISH_DOCKER
  for i in $(seq 1 120); do
    if "$FLOX_PUBLISH_DOCKER" version >/dev/null 2>&1; then break; fi
    if ! kill -0 "$_docker_pid" 2>/dev/null; then i=; break; fi
    sleep 0.5
  done
  if [ -z "$i" ] || ! "$FLOX_PUBLISH_DOCKER" version >/dev/null 2>&1; then
    tail -15 "$log" >&2
    echo "==> Docker: dockerd did not start (its log is above)" >&2
    unset DOCKER_HOST FLOX_PUBLISH_DOCKER
    return 1
  fi

  images="$tools/docker-images"
  base=$(ls "$images"/bookworm-*.tar | sort -V | tail -1)
  goversion=$(go env GOVERSION)
  builder=$(ls "$images"/go-builder-*-"$goversion".tar | sort -V | tail -1)
  FLOX_PUBLISH_RUNTIME_IMAGE=$(_docker_load "$base" flox-publish-test/bookworm) &&
    FLOX_PUBLISH_GO_IMAGE=$(_docker_load "$builder" flox-publish-test/go-builder \
      --change 'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "ENV GOLANG_VERSION=${goversion#go}" --change 'ENV GOPATH=/go' --change 'ENV GOTOOLCHAIN=local' \
      --change "ENV GOPROXY=$(go env GOPROXY)" --change "ENV GOSUMDB=$(go env GOSUMDB)") || {
    echo "==> Docker: the base images could not be loaded" >&2
    return 1
  }
  export FLOX_PUBLISH_RUNTIME_IMAGE FLOX_PUBLISH_GO_IMAGE
  _docker_warm || echo "==> Docker: no warm Go builder (above); the image's build compiles every dependency" >&2
  echo "==> Docker $("$FLOX_PUBLISH_DOCKER" version -f '{{.Server.Version}}') at $DOCKER_HOST ($storage, data root $data); base images $FLOX_PUBLISH_RUNTIME_IMAGE, $FLOX_PUBLISH_GO_IMAGE" >&2
}

# _docker_load TAR NAME [IMPORT-FLAGS...]: prints NAME:TAG, where TAG is
# the tarball's name and content (sha256 prefix), importing it when the
# daemon lacks that image.
_docker_load() {
  local tar=$1 name=$2 tag
  shift 2
  tag="$name:$(basename "$tar" .tar | sed 's/^[a-z-]*-//')-$(head -c 12 "$tar.sha256")"
  if ! "$FLOX_PUBLISH_DOCKER" image inspect "$tag" >/dev/null 2>&1; then
    echo "==> Docker: importing $tar as $tag" >&2
    "$FLOX_PUBLISH_DOCKER" import "$@" "$tar" "$tag" >/dev/null || return 1
  fi
  echo "$tag"
}

# _docker_warm makes FLOX_PUBLISH_GO_IMAGE a Go builder whose module and
# build caches hold the project's dependencies, compiled as the Dockerfile
# compiles them: its build stage, built by the Dockerfile's own lines, with
# the sources it copied removed. The image's build then compiles the
# project's own packages only (seconds, not the minutes of every
# dependency, cgo's libzstd among them); what it builds is the same. Made
# once per go.mod and go.sum, and kept in the data root.
_docker_warm() {
  local key tag cid
  key=$(cat go.mod go.sum | sha256sum | head -c 12)
  tag="flox-publish-test/go-builder-warm:${FLOX_PUBLISH_GO_IMAGE##*:}-$key"
  if ! "$FLOX_PUBLISH_DOCKER" image inspect "$tag" >/dev/null 2>&1; then
    echo "==> Docker: warming the Go builder for this go.sum (the Dockerfile's build stage, a few minutes, once)" >&2
    DOCKER_BUILDKIT=1 "$FLOX_PUBLISH_DOCKER" build -q --network host --target build \
      --build-arg GO_IMAGE="$FLOX_PUBLISH_GO_IMAGE" --build-arg FLOX_FROM=standin -t "$tag-stage" . >/dev/null || return 1
    cid=$("$FLOX_PUBLISH_DOCKER" create --network none "$tag-stage" rm -rf /src /out) || return 1
    "$FLOX_PUBLISH_DOCKER" start -a "$cid" >/dev/null &&
      "$FLOX_PUBLISH_DOCKER" commit --change 'CMD ["bash"]' --change 'WORKDIR /' "$cid" "$tag" >/dev/null
    local rc=$?
    "$FLOX_PUBLISH_DOCKER" rm "$cid" >/dev/null
    "$FLOX_PUBLISH_DOCKER" image rm "$tag-stage" >/dev/null
    [ $rc -eq 0 ] || return 1
  fi
  FLOX_PUBLISH_GO_IMAGE=$tag
}

docker_stop() {
  [ -n "${_docker_pid:-}" ] || return 0
  if kill -0 "$_docker_pid" 2>/dev/null; then
    # What the run's tests and benchmark built (their layers stay in the
    # build cache), and dangling images of earlier builds.
    "$FLOX_PUBLISH_DOCKER" image ls -q flox-publish-test/action | xargs -r "$FLOX_PUBLISH_DOCKER" image rm -f >/dev/null 2>&1 || true
    "$FLOX_PUBLISH_DOCKER" image ls -q flox-publish-bench/action | xargs -r "$FLOX_PUBLISH_DOCKER" image rm -f >/dev/null 2>&1 || true
    "$FLOX_PUBLISH_DOCKER" image prune -f >/dev/null 2>&1 || true
    kill -TERM "$_docker_pid" 2>/dev/null || true
    local i
    for i in $(seq 1 60); do
      kill -0 "$_docker_pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -KILL "$_docker_pid" 2>/dev/null || true
  fi
  wait "$_docker_pid" 2>/dev/null || true
  # dockerd leaves its network namespace's bind mount (exec/netns/default).
  awk -v d="$_docker_run/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$_docker_run"
  _docker_pid=
}
