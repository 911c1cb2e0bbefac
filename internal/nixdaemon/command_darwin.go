package nixdaemon

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// command is nix-daemon under a lifeline (lifelineScript), in a process
// group of its own; the returned file is the pipe's write end. The read
// end is the child's standard input; the action's copy of it does not
// keep the pipe open, only write ends do (and the child inherits none:
// Go's pipes are close-on-exec).
func command(bin string) (*exec.Cmd, *os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("lifeline pipe: %w", err)
	}
	cmd := exec.Command("/bin/sh", "-c", lifelineScript, bin)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, w, nil
}
