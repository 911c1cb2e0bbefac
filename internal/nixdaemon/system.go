package nixdaemon

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// System returns the system's own Nix daemon, the one a multi-user Nix
// installation runs (launchd's org.nixos.nix-daemon on macOS, systemd's
// nix-daemon.socket on Linux; flox/install-flox-action sets it up on a
// runner), when it answers on Nix's socket and a build user can reach
// that socket: such a user has no groups, so the socket and its
// directory must be open to others. nil otherwise (in the action's
// container there is none: the action starts its own, see Start). Stop
// leaves a system daemon running.
func System() *Daemon { return systemAt(Socket) }

func systemAt(socket string) *Daemon {
	dir, err := os.Stat(filepath.Dir(socket))
	if err != nil {
		return nil
	}
	sock, err := os.Stat(socket)
	if err != nil || !reachableByOthers(dir.Mode(), sock.Mode()) || !answers(socket) {
		return nil
	}
	return &Daemon{socket: socket, manager: manager(), sandbox: systemSandbox()}
}

// IsSystem reports whether d is the system's daemon (System), not one the
// action started.
func (d *Daemon) IsSystem() bool { return d != nil && d.cmd == nil && d.manager != "" }

// Sandbox is the system daemon's `sandbox` setting (true, false or
// relaxed), as its nix.conf says or Nix's default for this system.
func (d *Daemon) Sandbox() string { return d.sandbox }

// systemSandbox reads the sandbox setting of the nix.conf the system's
// daemon reads (NIX_CONF_DIR, else /etc/nix).
func systemSandbox() string {
	dir := os.Getenv("NIX_CONF_DIR")
	if dir == "" {
		dir = "/etc/nix"
	}
	conf, _ := os.ReadFile(filepath.Join(dir, "nix.conf"))
	return sandboxSetting(string(conf), runtime.GOOS)
}

// sandboxSetting is the value of nix.conf's `sandbox` in conf (the last
// one wins, as in Nix), else Nix's default: true on Linux, false on
// macOS. Files pulled in with include are not read.
func sandboxSetting(conf, goos string) string {
	v := "true"
	if goos == "darwin" {
		v = "false"
	}
	for _, line := range strings.Split(conf, "\n") {
		line, _, _ = strings.Cut(line, "#")
		k, val, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == "sandbox" {
			v = strings.TrimSpace(val)
		}
	}
	return v
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
		return "Nix builds went through the system's nix-daemon (" + d.manager + ", " + d.socket + "), with its nix.conf: its build users, its caches, sandbox = " + d.sandbox
	}
	return "Nix builds went through a nix-daemon the action started as root, on a socket of its own, with the image's nix.conf"
}
