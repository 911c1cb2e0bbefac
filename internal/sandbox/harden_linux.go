package sandbox

import (
	"fmt"
	"syscall"
)

// Linux prctl options (linux/prctl.h); syscall does not name them.
const (
	prSetDumpable       = 4
	prSetChildSubreaper = 36
	prSetNoNewPrivs     = 38
)

// Harden is called first thing in the action's main. It makes the process
// non-dumpable, so that no process of another uid, and no root process
// without CAP_SYS_PTRACE (which Docker does not grant), can read its
// /proc/PID/environ, mem, cwd or fd; and it sets no_new_privs on the
// calling thread. prctl acts on one thread only, and the Go runtime's
// other threads exist before main runs, so this does not cover what other
// threads start: Run starts every command from a thread with the flag set
// (see start), so that no build gains privileges through a setuid binary.
func Harden() error {
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, prSetDumpable, 0, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", e)
	}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS, 1): %w", e)
	}
	return nil
}

// sameUserNote says what a build running as the action's own user can
// reach of the action itself.
const sameUserNote = "the action is non-dumpable, so they cannot read its environment (which holds the inputs, secrets among them) nor its memory"
