package testenv

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A test run killed by go test's timeout, a cancelled CI job or kill -9
// runs no cleanup: its servers must end with it, not stay behind holding
// ports and TMPDIR.
func TestServerDiesWithTheTestBinary(t *testing.T) {
	if os.Getenv("TESTENV_KILLED_CHILD") == "1" {
		m, err := LaunchMinIO(MinIOOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// MinIO prints its banner for a while after it answers; killed
		// then, it dies of a write to its closed pipe, which hides a leak.
		time.Sleep(3 * time.Second)
		os.Stdout.WriteString("minio-pid " + strconv.Itoa(m.cmd.Process.Pid) + " " + m.dir + "\n")
		time.Sleep(time.Minute)
		return
	}
	requireMinIO(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestServerDiesWithTheTestBinary$")
	cmd.Env = append(os.Environ(), "TESTENV_KILLED_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var pid int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "minio-pid "); ok {
			p, dir, _ := strings.Cut(p, " ")
			pid, _ = strconv.Atoi(p)
			// The killed child leaves the server's data behind.
			t.Cleanup(func() { os.RemoveAll(dir) })
			break
		}
	}
	if pid == 0 {
		t.Fatal("the child test printed no MinIO pid")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("MinIO (pid %d) still runs 10 s after its test binary was killed", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
