//go:build unix

package git

import (
	"os/exec"
	"syscall"
)

// detach starts git in a session of its own: with no controlling terminal,
// ssh and credential helpers cannot open /dev/tty to ask for a password,
// so they fail instead of waiting for an answer that never comes in CI.
//
// The session is also a process group, which a cancellation kills whole:
// git's children (upload-pack, ssh, a credential helper) end with it.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
