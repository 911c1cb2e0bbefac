package workspace_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/flox-publish/publish-action/internal/testenv"
	"github.com/flox-publish/publish-action/internal/workspace"
)

func TestRestore(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root to own files as another user (CI runs the suite as root)")
	}
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	os.WriteFile(filepath.Join(dir, ".git", "shallow"), []byte("abc\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "root-before"), nil, 0o644) // root's already: stays root's
	exec.Command("chown", "-R", "1001:1001", dir).Run()
	os.Chown(filepath.Join(dir, "root-before"), 0, 0)

	snap, err := workspace.Take(dir)
	if err != nil {
		t.Fatal(err)
	}
	// What a run does: new files, a changed index, a deepening.
	os.MkdirAll(filepath.Join(dir, "cache", "nar"), 0o755)
	os.WriteFile(filepath.Join(dir, "cache", "nar", "x.nar"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, ".git", "index"), nil, 0o644)
	os.Chown(filepath.Join(dir, ".git", "index"), 0, 0)
	f, _ := os.OpenFile(filepath.Join(dir, ".git", "config"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("[remote \"origin\"]\n\tpromisor = true\n\tpartialclonefilter = tree:0\n")
	f.Close()
	os.Remove(filepath.Join(dir, ".git", "shallow"))

	res, err := snap.Restore()
	if err != nil {
		t.Fatal(err)
	}
	if !res.Undeepened || res.Chowned < 4 {
		t.Errorf("got %+v, want undeepened and at least 4 paths given back", res)
	}
	for _, p := range []string{"cache", "cache/nar/x.nar", ".git/index", ".git/config", ".git/shallow"} {
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(dir, p), &st); err != nil || st.Uid != 1001 {
			t.Errorf("%s: owner %d (%v), want 1001", p, st.Uid, err)
		}
	}
	var st syscall.Stat_t
	syscall.Lstat(filepath.Join(dir, "root-before"), &st)
	if st.Uid != 0 {
		t.Error("a file root owned before the run was given away")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ".git", "config")); strings.Contains(string(b), "promisor") {
		t.Error("the promisor setting is still in .git/config")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ".git", "shallow")); string(b) != "abc\n" {
		t.Errorf(".git/shallow = %q, want it restored", b)
	}
}
