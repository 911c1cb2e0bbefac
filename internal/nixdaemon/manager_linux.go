package nixdaemon

import "os/exec"

// manager names what runs the system's daemon, for the summary.
func manager() string {
	if exec.Command("systemctl", "is-active", "--quiet", "nix-daemon.socket").Run() == nil ||
		exec.Command("systemctl", "is-active", "--quiet", "nix-daemon.service").Run() == nil {
		return "systemd's nix-daemon"
	}
	return "not a systemd unit"
}
