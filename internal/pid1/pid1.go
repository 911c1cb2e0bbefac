// Package pid1 lets the action be its container's init.
//
// The Actions runner starts a container action without `--init`, so the
// action is PID 1 of its container, and the kernel makes PID 1 the parent
// of every orphan: a process a build double-forked, or one left when its
// parent was killed, becomes PID 1's child when its parent exits, and a
// zombie when it exits, until PID 1 waits for it. A Go program that waits
// only for the children it started (os/exec) never does, and zombies pile
// up; one that waits for any child takes the exit statuses os/exec is
// waiting for.
//
// So, as PID 1, the process does what tini does: it starts itself again as
// its only child, with the same arguments, environment and files, forwards
// to it the signals it gets (`docker stop`'s SIGTERM, the SIGINT the docker
// client passes on when the runner cancels the job) and waits for every
// process that ends up its child, until the action exits; then it exits
// with the action's status. The action, PID 2, is no subreaper: what its
// builds leave behind goes to PID 1, and what it starts, it waits for.
//
// Only a container's PID 1 supervises: in a terminal, on a runner's own
// machine or under `docker run --init`, Supervise does nothing.
package pid1

import (
	"os"
	"os/signal"
	"syscall"
)

// forwarded are the signals passed on to the action: what docker stop,
// docker kill and the runner send, and what a terminal would.
var forwarded = []os.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH,
}

// Supervise, when the process is PID 1, runs the action as its child (see
// the package comment) and returns the exit code to exit with and true;
// otherwise it returns false at once and the caller goes on as the action.
func Supervise() (code int, supervised bool) {
	if os.Getpid() != 1 {
		return 0, false
	}
	return supervise(os.Args, os.Environ()), true
}

// supervise starts the program again with args and env, forwards signals
// to it, reaps every child and returns the program's exit code: its exit
// status, or 128 plus the number of the signal that ended it.
func supervise(args, env []string) int {
	sigs := make(chan os.Signal, 32)
	// Before the child exists, so that no SIGCHLD is missed.
	signal.Notify(sigs, append([]os.Signal{syscall.SIGCHLD}, forwarded...)...)
	defer signal.Stop(sigs)
	pid, err := syscall.ForkExec("/proc/self/exe", args, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{0, 1, 2},
	})
	if err != nil {
		os.Stderr.WriteString("flox-publish: start the action under PID 1: " + err.Error() + "\n")
		return 1
	}
	for s := range sigs {
		if s != syscall.SIGCHLD {
			syscall.Kill(pid, s.(syscall.Signal))
			continue
		}
		if code, done := reap(pid); done {
			return code
		}
	}
	return 1 // not reached: sigs is never closed
}

// reap waits for every child that has exited (signals of exited children
// merge, so one SIGCHLD may stand for several). It reports the action's
// exit code once the action, pid, is among them.
func reap(pid int) (code int, done bool) {
	for {
		var ws syscall.WaitStatus
		p, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if p <= 0 || err != nil {
			return code, done
		}
		if p != pid {
			continue // an orphan: reaped, nothing more
		}
		switch {
		case ws.Exited():
			code, done = ws.ExitStatus(), true
		case ws.Signaled():
			code, done = 128+int(ws.Signal()), true
		}
	}
}
