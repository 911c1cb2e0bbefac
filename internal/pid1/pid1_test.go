package pid1

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flox-publish/publish-action/internal/testenv"
)

// The tests run this test binary as PID 1 of a new PID namespace (unshare
// --pid --fork --mount-proc), where Supervise starts it again as the
// action: the helper below, selected by PID1_TEST.
func TestMain(m *testing.M) {
	if mode := os.Getenv("PID1_TEST"); mode != "" {
		if code, ok := Supervise(); ok {
			os.Exit(code)
		}
		os.Exit(helper(mode))
	}
	os.Exit(m.Run())
}

// helper is the action under test, PID 2. It leaves orphans (double forks
// that exit), waits for many children of its own through os/exec at the
// same time (a reaper that waited for any child would take their statuses,
// and os/exec would fail), then reports the zombies it sees.
func helper(mode string) int {
	if os.Getpid() == 1 {
		fmt.Println("the helper is PID 1")
		return 90
	}
	if err := exec.Command("/bin/sh", "-c", "for i in 1 2 3 4 5; do (sleep 0.2 &); done").Run(); err != nil {
		fmt.Println("double fork:", err)
		return 91
	}
	var wg sync.WaitGroup
	errs := make(chan string, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := exec.Command("/bin/sh", "-c", fmt.Sprintf("sleep 0.0%d; exit 7", i%10)).Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
				errs <- fmt.Sprint(err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		fmt.Println("a child's status was lost:", e)
		return 92
	}
	time.Sleep(time.Second) // the orphans have exited
	fmt.Println("zombies:", zombies())
	switch mode {
	case "signal":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		fmt.Println("ready")
		<-sigs
		return 42
	case "killed":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
	return 3
}

// zombies counts the zombie processes of the namespace.
func zombies() int {
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 0 && f[0] == "Z" {
			n++
		}
	}
	return n
}

func TestSupervise(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "pid1: needs root (a PID namespace of its own, with unshare)")
	}
	unshare := testenv.RequireTool(t, "unshare")
	for _, tc := range []struct {
		mode string
		code int
	}{
		{"exit", 3},
		{"signal", 42},
		{"killed", 128 + int(syscall.SIGKILL)},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, unshare, "--pid", "--fork", "--mount-proc", os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "PID1_TEST="+tc.mode)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var log strings.Builder
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				log.WriteString(sc.Text() + "\n")
				if sc.Text() == "ready" {
					// docker stop's SIGTERM goes to PID 1, not to the action.
					init := firstChild(t, cmd.Process.Pid)
					if err := syscall.Kill(init, syscall.SIGTERM); err != nil {
						t.Fatal(err)
					}
				}
			}
			err = cmd.Wait()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, log.String())
			}
			if !strings.Contains(log.String(), "zombies: 0\n") {
				t.Errorf("the orphans were not reaped, or the helper failed:\n%s", log.String())
			}
		})
	}
}

// firstChild is the pid of pid's child: the namespace's PID 1, which
// unshare --fork started.
func firstChild(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		t.Fatalf("unshare (%d) has no child", pid)
	}
	child, _ := strconv.Atoi(f[0])
	return child
}
