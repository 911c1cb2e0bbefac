//go:build !unix

package git

import "os/exec"

// detach does nothing where sessions do not exist; GIT_TERMINAL_PROMPT=0
// still stops git's own prompts.
func detach(*exec.Cmd) {}
