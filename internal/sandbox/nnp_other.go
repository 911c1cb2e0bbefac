//go:build !linux

package sandbox

import "os/exec"

// start starts cmd; no_new_privs is Linux's (see nnp_linux.go).
func start(cmd *exec.Cmd) error { return cmd.Start() }
