//go:build unix

package build

import (
	"os/exec"
	"syscall"
	"time"
)

// killGrace is how long a cancelled command's processes have to exit after
// SIGTERM before the whole group is killed.
const killGrace = time.Second

// endGroupOnCancel makes cmd, when its context is done, end every process
// it started, not only itself: it runs in a process group of its own, which
// gets SIGTERM (so that nix-build can stop its builders) and, killGrace
// later, SIGKILL (a build may trap and ignore SIGTERM).
// WaitDelay stops Wait from waiting on a child that still holds the output
// pipe. This is the minimum that keeps a cancelled run within its bound;
// the sandbox work replaces how builds start, and takes this with it.
func endGroupOnCancel(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.Cancel = func() error {
		pgid := cmd.Process.Pid
		err := syscall.Kill(-pgid, syscall.SIGTERM)
		time.AfterFunc(killGrace, func() { syscall.Kill(-pgid, syscall.SIGKILL) })
		return err
	}
	cmd.WaitDelay = 2 * killGrace
}
