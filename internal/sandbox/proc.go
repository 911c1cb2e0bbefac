package sandbox

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"syscall"
)

// process is what the sandbox needs to know of a process: who it
// belongs to (its real uid) and where it hangs in the tree. Each system
// lists them its own way (proc_linux.go: /proc; proc_darwin.go: sysctl).
type process struct {
	pid, ppid, pgid int
	ruid            int
	zombie          bool
}

// Processes counts the live processes whose real uid is uid. Zombies
// are not counted: they hold nothing and their parent reaps them.
func Processes(uid int) (int, error) { return processesOf(uid) }

func processesOf(uid int) (int, error) {
	ps, err := processes()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range ps {
		if p.ruid == uid && !p.zombie {
			n++
		}
	}
	return n, nil
}

// KillChildren kills, with SIGKILL, every process this one started that
// still runs, with its process group when it leads one (builds and git
// run in groups of their own). It is for a run abandoned before its
// stages returned: the stages would have ended them, but the process
// exits without waiting for them.
func KillChildren() {
	ps, err := processes()
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, p := range ps {
		if p.ppid != self {
			continue
		}
		if p.pgid == p.pid {
			syscall.Kill(-p.pid, syscall.SIGKILL)
		} else {
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
}

// tagVar marks the environment of every command a sandbox without a
// build user runs (see Sandbox.sweep).
const tagVar = "FLOX_PUBLISH_BUILD_ID"

// tagged returns the live processes of uid, other than this one, whose
// environment carries tagVar=tag: the processes a command started,
// wherever they went (a new session, a double fork), unless they threw
// their environment away.
func tagged(uid int, tag string) ([]int, error) {
	ps, err := processes()
	if err != nil {
		return nil, err
	}
	want := tagVar + "=" + tag
	var out []int
	for _, p := range ps {
		if p.ruid != uid || p.zombie || p.pid == os.Getpid() {
			continue
		}
		env, err := environOf(p.pid)
		if err != nil {
			continue // exited, or not ours to read
		}
		for _, kv := range env {
			if kv == want {
				out = append(out, p.pid)
				break
			}
		}
	}
	return out, nil
}

// parseProcargs2 splits the answer of macOS's sysctl kern.procargs2 (a
// 32-bit argc in host order, the executable's path, NUL padding, argc
// arguments, then the environment, each NUL-terminated) into the
// arguments and the environment.
func parseProcargs2(buf []byte) (args, env []string, err error) {
	if len(buf) < 4 {
		return nil, nil, errors.New("procargs2: too short")
	}
	argc := int(binary.NativeEndian.Uint32(buf))
	rest := buf[4:]
	// The executable's path, then the padding.
	i := 0
	for i < len(rest) && rest[i] != 0 {
		i++
	}
	for i < len(rest) && rest[i] == 0 {
		i++
	}
	rest = rest[i:]
	strs := strings.Split(string(rest), "\x00")
	if len(strs) < argc {
		return nil, nil, errors.New("procargs2: fewer arguments than argc")
	}
	args = strs[:argc]
	for _, s := range strs[argc:] {
		if s == "" {
			break // the end of the environment; what follows is padding
		}
		env = append(env, s)
	}
	return args, env, nil
}
