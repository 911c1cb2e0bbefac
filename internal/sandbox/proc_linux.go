package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// processes lists the processes of the machine from /proc.
func processes() ([]process, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("sandbox: list processes: %w", err)
	}
	var out []process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, ok := readProc(pid)
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// readProc reads one process's stat (state, parent, group) and status
// (real uid); false when it exited meanwhile.
func readProc(pid int) (process, bool) {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return process{}, false
	}
	// pid (comm) state ppid pgrp …: the fields after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return process{}, false
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 3 {
		return process{}, false
	}
	p := process{pid: pid, zombie: string(f[0]) == "Z", ruid: -1}
	p.ppid, _ = strconv.Atoi(string(f[1]))
	p.pgid, _ = strconv.Atoi(string(f[2]))
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return process{}, false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				p.ruid, _ = strconv.Atoi(f[0])
			}
			break
		}
	}
	return p, true
}

// environOf is the environment a process was started with. A process
// of the same user can read it, unless that process is non-dumpable (as
// the action is, see Harden).
func environOf(pid int) ([]string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(data), "\x00"), "\x00"), nil
}
