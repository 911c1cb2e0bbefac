package sandbox

import (
	"fmt"
	"os/exec"
	"runtime"
	"syscall"
)

// start starts cmd with no_new_privs set, so that neither the command nor
// anything it starts gains privileges by executing a setuid or setgid
// program, or one with file capabilities. The flag belongs to a thread,
// and a new process takes it from the thread that forks it; os/exec forks
// on the calling thread, so the goroutine is held on one thread that sets
// it first. Setting it for the whole process at once
// (syscall.AllThreadsSyscall) is refused in a binary that uses cgo, as the
// image's does (libzstd). The thread keeps the flag when it is released;
// it cannot be cleared, and the action itself never needs a setuid
// program.
func start(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("sandbox: prctl(PR_SET_NO_NEW_PRIVS, 1): %w", e)
	}
	return cmd.Start()
}
