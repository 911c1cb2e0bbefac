package nixdaemon

import "os/exec"

// manager names what runs the system's daemon, for the summary.
func manager() string {
	if exec.Command("launchctl", "print", "system/org.nixos.nix-daemon").Run() == nil {
		return "launchd's org.nixos.nix-daemon"
	}
	return "not launchd's org.nixos.nix-daemon"
}
