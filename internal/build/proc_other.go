//go:build !unix

package build

import (
	"os/exec"
	"time"
)

// endGroupOnCancel kills the command only where process groups do not
// exist; the action runs on Linux, where they do.
func endGroupOnCancel(cmd *exec.Cmd) { cmd.WaitDelay = 2 * time.Second }
