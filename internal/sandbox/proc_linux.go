package sandbox

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// KillChildren kills, with SIGKILL, every process this one started that
// still runs, with its process group when it leads one (builds and git
// run in groups of their own). It is for a run abandoned before its
// stages returned: the stages would have ended them, but the process
// exits without waiting for them.
func KillChildren() {
	self := os.Getpid()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp …: the fields after the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(stat[i+1:])
		if len(f) < 3 {
			continue
		}
		ppid, _ := strconv.Atoi(string(f[1]))
		pgrp, _ := strconv.Atoi(string(f[2]))
		if ppid != self {
			continue
		}
		if pgrp == pid {
			syscall.Kill(-pid, syscall.SIGKILL)
		} else {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
