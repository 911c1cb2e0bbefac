package nixdaemon

import (
	"io/fs"
	"os"
	"path/filepath"
)

// System returns the system's own Nix daemon, the one a multi-user Nix
// installation runs (launchd's org.nixos.nix-daemon on macOS, systemd's
// nix-daemon.socket on Linux; flox/install-flox-action sets it up on a
// runner), when it answers on Nix's socket and a build user can reach
// that socket: such a user has no groups, so the socket and its
// directory must be open to others. nil otherwise (in the action's
// container there is none: the action starts its own, see Start). Stop
// leaves a system daemon running.
func System() *Daemon {
	dir, err := os.Stat(filepath.Dir(Socket))
	if err != nil {
		return nil
	}
	sock, err := os.Stat(Socket)
	if err != nil || !reachableByOthers(dir.Mode(), sock.Mode()) || !answers(Socket) {
		return nil
	}
	return &Daemon{socket: Socket, manager: manager()}
}

// reachableByOthers reports whether a user in none of their groups can
// connect to a socket of mode sock in a directory of mode dir.
func reachableByOthers(dir, sock fs.FileMode) bool {
	return dir.IsDir() && dir.Perm()&0o001 != 0 && sock.Type() == fs.ModeSocket && sock.Perm()&0o002 != 0
}

// Describe says, for the summary, which daemon Nix builds go through.
func (d *Daemon) Describe() string {
	switch {
	case d == nil:
		return ""
	case d.cmd == nil:
		return "Nix builds went through the system's nix-daemon (" + d.manager + ", " + d.socket + "), with its nix.conf: its build users, its sandbox setting, its caches"
	}
	return "Nix builds went through a nix-daemon the action started as root, on a socket of its own, with the image's nix.conf"
}
