//go:build unix

package git

import (
	"os/exec"
	"syscall"
)

// detach starts git in a session of its own: with no controlling terminal,
// ssh and credential helpers cannot open /dev/tty to ask for a password,
// so they fail instead of waiting for an answer that never comes in CI.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}
