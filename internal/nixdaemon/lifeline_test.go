package nixdaemon

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLifeline runs macOS's stand-in for the parent-death signal
// (lifelineScript, used by command_darwin.go) here, with a stand-in
// daemon: when the pipe's write end closes, however its holder ends,
// the daemon is sent SIGTERM.
func TestLifeline(t *testing.T) {
	dir := t.TempDir()
	daemon := filepath.Join(dir, "daemon")
	pidFile := filepath.Join(dir, "pid")
	termFile := filepath.Join(dir, "term")
	// A daemon that records its pid and, on SIGTERM, that it got it.
	os.WriteFile(daemon, []byte("#!/bin/sh\necho $$ > "+pidFile+"\ntrap 'echo term > "+termFile+"; exit 0' TERM\nwhile :; do sleep 0.05; done\n"), 0o755)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", lifelineScript, daemon)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	var pid int
	for deadline := time.Now().Add(10 * time.Second); pid == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		data, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
	}
	if pid == 0 {
		t.Fatal("the daemon did not start")
	}
	// The holder dies: its write end closes with it.
	w.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the lifeline did not end when its pipe closed")
	}
	if data, _ := os.ReadFile(termFile); strings.TrimSpace(string(data)) != "term" {
		t.Error("the daemon was not sent SIGTERM")
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("the daemon (pid %d) outlived its lifeline", pid)
	}
}
