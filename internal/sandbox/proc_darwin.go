package sandbox

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// sZomb is p_stat of a zombie (sys/proc.h).
const sZomb = 5

// processes lists the processes of the machine through
// sysctl(kern.proc.all), as ps does: macOS has no /proc.
func processes() ([]process, error) {
	kps, err := unix.SysctlKinfoProcSlice("kern.proc.all")
	if err != nil {
		return nil, fmt.Errorf("sandbox: list processes: sysctl kern.proc.all: %w", err)
	}
	out := make([]process, 0, len(kps))
	for _, kp := range kps {
		out = append(out, process{
			pid:    int(kp.Proc.P_pid),
			ppid:   int(kp.Eproc.Ppid),
			pgid:   int(kp.Eproc.Pgid),
			ruid:   int(kp.Eproc.Pcred.P_ruid),
			zombie: kp.Proc.P_stat == sZomb,
		})
	}
	return out, nil
}

// environOf is the environment a process was started with, from
// sysctl(kern.procargs2), which macOS answers for processes of the
// caller's own user (and for root).
func environOf(pid int) ([]string, error) {
	buf, err := unix.SysctlRaw("kern.procargs2", pid)
	if err != nil {
		return nil, err
	}
	_, env, err := parseProcargs2(buf)
	return env, err
}
