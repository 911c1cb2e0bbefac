package nixdaemon

import (
	"os"
	"os/exec"
	"syscall"
)

// command is nix-daemon in a process group of its own, with a
// parent-death signal: the kernel sends it SIGTERM when the action dies.
func command(bin string) (*exec.Cmd, *os.File, error) {
	cmd := exec.Command(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	return cmd, nil, nil
}
