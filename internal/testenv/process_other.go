//go:build !linux

package testenv

import "syscall"

// serverAttr puts a test server in a process group of its own. Only Linux
// has a parent-death signal; elsewhere a killed test run can leave one.
func serverAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
