#!/bin/sh
# Prepares the action's image after its packages are installed; run by the
# Dockerfile. Idempotent.
set -eu

# Nix's build users: the daemon builds derivations as these, never as root
# (nix.conf: build-users-group = nixbld). Eight, Nix's installer's 32 cut to
# what a 2-4 core runner uses. Not Nix's usual uids 30001+: a Nix on the
# host (or another container) ends every process of its build users before
# each build, in every PID namespace, so sharing those uids would let it
# kill this container's builds.
getent group nixbld >/dev/null || groupadd --system --gid 7340000 nixbld
for i in 1 2 3 4 5 6 7 8; do
  getent passwd "nixbld$i" >/dev/null ||
    useradd --system --uid $((7340000 + i)) --gid nixbld --groups nixbld \
      --home-dir /var/empty --no-create-home --shell /usr/sbin/nologin \
      --comment "Nix build user $i" "nixbld$i"
done

# The runner mounts the workspace, home, event and file-command directories
# under /github. Only root may enter it, so no build (which runs as a user
# of its own) can reach them; the action also sets this at run time.
mkdir -p /github /nix/var/nix/daemon-socket
chmod 0700 /github

# No program of the image gains privileges when a build runs it: Debian's
# su, mount, passwd, chsh, … lose their setuid and setgid bits (the action
# needs none of them; it is root). Builds also run with no_new_privs
# (internal/sandbox), which makes the kernel ignore such bits; this keeps
# the image safe where that is not in force.
find / -xdev -type f \( -perm -4000 -o -perm -2000 \) -exec chmod ug-s {} +
