package sandbox

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// procargs2 builds an answer of macOS's kern.procargs2 as xnu lays it
// out: argc, the executable's path, NUL padding to a word, the
// arguments, the environment, then NUL padding.
func procargs2(exe string, args, env []string) []byte {
	var b []byte
	b = binary.NativeEndian.AppendUint32(b, uint32(len(args)))
	b = append(b, exe...)
	b = append(b, 0)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	for _, s := range append(slices.Clone(args), env...) {
		b = append(b, s...)
		b = append(b, 0)
	}
	return append(b, 0, 0, 0, 0)
}

func TestParseProcargs2(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args, env []string
	}{
		{"arguments and environment", []string{"/bin/sh", "-c", "sleep 1"}, []string{"PATH=/bin", tagVar + "=abc"}},
		{"no environment", []string{"sleep"}, nil},
		{"an empty argument", []string{"printf", "", "x"}, []string{"A=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args, env, err := parseProcargs2(procargs2("/usr/bin/x", tc.args, tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(args, tc.args) || !slices.Equal(env, tc.env) {
				t.Errorf("got %q, %q; want %q, %q", args, env, tc.args, tc.env)
			}
		})
	}
	for _, short := range [][]byte{nil, {1, 0}} {
		if _, _, err := parseProcargs2(short); err == nil {
			t.Errorf("parseProcargs2(%q) took a short answer", short)
		}
	}
	// More arguments claimed than there are.
	b := procargs2("/x", []string{"a"}, nil)
	binary.NativeEndian.PutUint32(b, 50)
	if _, _, err := parseProcargs2(b); err == nil {
		t.Error("parseProcargs2 took an argc beyond its strings")
	}
}

// TestSweepWithoutBuildUser is a build as the action's own user (no
// build user: a terminal, a runner without sudo) that leaves processes
// behind in a new session and through a double fork: the tag in their
// environment finds them, and they are ended with it, while a process of
// the same user that is not the build's is left alone.
func TestSweepWithoutBuildUser(t *testing.T) {
	sb := Current()
	if sb.Dropped() {
		t.Fatal("Current has a build user")
	}
	bystander := startSleep(t)
	dir := t.TempDir()
	script := `
setsid sh -c 'sleep 300 & echo $! > ` + dir + `/a; sleep 300' >/dev/null 2>&1 &
(sleep 300 & echo $! > ` + dir + `/b) >/dev/null 2>&1
while [ ! -s ` + dir + `/a ] || [ ! -s ` + dir + `/b ]; do sleep 0.02; done
`
	cmd := sb.Command("/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	if err := sb.Run(context.Background(), cmd, "leaky build"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"a", "b"} {
		data, _ := os.ReadFile(filepath.Join(dir, f))
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			t.Fatalf("%s: %q", f, data)
		}
		if alive(pid) {
			t.Errorf("process %d (%s) outlived the build", pid, f)
		}
	}
	if syscall.Kill(bystander, 0) != nil {
		t.Error("the sweep ended a process of the same user that the build did not start")
	}
	if ids, err := tagged(os.Getuid(), commandTag(cmd.Dir, "leaky build")); err != nil || len(ids) != 0 {
		t.Errorf("tagged processes left: %v, %v", ids, err)
	}
}

func startSleep(t *testing.T) int {
	t.Helper()
	cmd := Current().Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

// alive reports whether pid is a live process (not a zombie), waiting a
// little for a killed one to go.
func alive(pid int) bool {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			return false
		}
		if ps, err := processes(); err == nil {
			for _, p := range ps {
				if p.pid == pid && p.zombie {
					return false
				}
			}
		}
	}
	return true
}
