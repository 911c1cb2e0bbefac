package testenv

import "syscall"

// serverAttr puts a test server in a process group of its own (a wrapper
// script's children stop with it) and kills it when the test binary dies:
// a test run killed by a timeout or a signal runs no Stop, and its MinIO
// servers were left running, reparented to init.
func serverAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
