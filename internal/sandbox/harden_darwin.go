package sandbox

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Harden is called first thing in the action's main. On macOS it denies
// debuggers (ptrace PT_DENY_ATTACH, as OpenSSH's agent does): no process,
// root's included, can attach to read the action's memory. Processes of
// another user cannot read its arguments and environment either (the
// kernel answers kern.procargs2 for one's own processes and root only);
// a build running as the same user could, which is why builds run as a
// user of their own wherever the action is root.
//
// macOS has no no_new_privs: a build can run the system's setuid
// programs (sudo among them); as a user of its own it has no sudo rights
// and no password, so they give it nothing.
func Harden() error {
	if err := unix.PtraceDenyAttach(); err != nil {
		return fmt.Errorf("ptrace(PT_DENY_ATTACH): %w", err)
	}
	return nil
}

// sameUserNote says what a build running as the action's own user can
// reach of the action itself.
const sameUserNote = "macOS lets a process read the environment of every process of its user, so they can read the action's, which holds the inputs, secrets among them"
