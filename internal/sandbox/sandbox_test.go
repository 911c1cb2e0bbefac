package sandbox_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flox-publish/publish-action/internal/sandbox"
	"github.com/flox-publish/publish-action/internal/testenv"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "the sandbox tests need root to run commands as a user of their own (CI runs them as root)")
	}
}

// TestNoNewPrivs starts commands, one after the other, each from a thread
// of its own (a goroutine locked to a thread that ends with it), and checks
// that each has no_new_privs: the flag belongs to the thread that forks.
// The container test checks it from a build in the image.
func TestNoNewPrivs(t *testing.T) {
	needRoot(t)
	sb, err := sandbox.New(sandbox.Options{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan string)
	for range 8 {
		go func() {
			runtime.LockOSThread() // not unlocked: the thread ends with the goroutine
			var out strings.Builder
			cmd := sb.Command("/bin/sh", "-c", "grep NoNewPrivs /proc/self/status")
			cmd.Stdout, cmd.Dir, cmd.Env = &out, "/", []string{"PATH=/usr/bin:/bin"}
			if err := sb.Run(context.Background(), cmd, "probe"); err != nil {
				errs <- err.Error()
				return
			}
			errs <- strings.TrimSpace(out.String())
		}()
		if got := <-errs; got != "NoNewPrivs:\t1" {
			t.Errorf("a command started without no_new_privs: %q", got)
		}
	}
}

// TestHostileCommand runs what a hostile build does against its parent and
// checks what it got.
func TestHostileCommand(t *testing.T) {
	needRoot(t)
	t.Setenv("SANDBOX_TEST_SECRET", "s3cr3t-value")
	secretFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(secretFile, []byte("s3cr3t-file"), 0o600)
	sb, err := sandbox.New(sandbox.Options{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !sb.Dropped() || sb.UID() == 0 {
		t.Fatalf("as root the sandbox must drop to a build user, got uid %d", sb.UID())
	}
	out := t.TempDir()
	if err := sb.Own(filepath.Dir(out), out); err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	script := `
p=` + itoa(self) + `
cat /proc/$p/environ >> $OUT/environ 2>&1
cat ` + secretFile + ` >> $OUT/key 2>&1
cat /proc/$p/cwd/go.mod >> $OUT/cwd 2>&1
echo x > ` + filepath.Dir(secretFile) + `/planted 2>>$OUT/write
# outlive the build: a new session, a double fork
setsid sh -c 'sleep 300 & sleep 300' >/dev/null 2>&1 &
(sleep 300 &) 
echo done > $OUT/done
`
	cmd := sb.Command("/bin/sh", "-c", script)
	cmd.Env = []string{"OUT=" + out, "PATH=/usr/bin:/bin"}
	cmd.Dir = "/"
	if err := sb.Run(context.Background(), cmd, "hostile build"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"environ", "key", "cwd"} {
		data, _ := os.ReadFile(filepath.Join(out, f))
		if strings.Contains(string(data), "s3cr3t") {
			t.Errorf("the build read the action's %s: %q", f, data)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(secretFile), "planted")); err == nil {
		t.Error("the build wrote into the action's directory")
	}
	if _, err := os.Stat(filepath.Join(out, "done")); err != nil {
		t.Error("the build could not write its own output")
	}
	if n := countUID(t, sb.UID()); n != 0 {
		t.Errorf("%d processes of the build user outlived it", n)
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	needRoot(t)
	sb, err := sandbox.New(sandbox.Options{Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cmd := sb.Command("/bin/sh", "-c", "setsid sleep 300 & sleep 300")
	cmd.Dir = "/"
	start := time.Now()
	err = sb.Run(context.Background(), cmd, `build "slow"`)
	var te *sandbox.TimeoutError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), `build "slow" ran longer than the build timeout (500ms)`) {
		t.Fatalf("want a timeout naming the build, got %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("ending the build took %s", d)
	}
	if n := countUID(t, sb.UID()); n != 0 {
		t.Errorf("%d processes outlived the timeout", n)
	}

	sb2, _ := sandbox.New(sandbox.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	cmd = sb2.Command("/bin/sh", "-c", "sleep 300 & sleep 300")
	cmd.Dir = "/"
	start = time.Now()
	if err := sb2.Run(ctx, cmd, `build "x"`); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("want a cancellation, got %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancelling took %s", d)
	}
	if n := countUID(t, sb2.UID()); n != 0 {
		t.Errorf("%d processes outlived the cancellation", n)
	}
}

func itoa(i int) string { return fmtInt(i) }

func fmtInt(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func countUID(t *testing.T, uid int) int {
	t.Helper()
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		data, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		// A zombie holds nothing; its new parent reaps it.
		zombie := strings.Contains(string(data), "State:\tZ")
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" && f[1] == fmtInt(uid) && !zombie {
				n++
			}
		}
	}
	return n
}

// TestOwnRefusesHardLinks gives a tree holding a second name of a file
// owned by root (as a build user may plant one where
// fs.protected_hardlinks is off) and expects the file to stay root's.
func TestOwnRefusesHardLinks(t *testing.T) {
	needRoot(t)
	sb, err := sandbox.New(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("root's"), 0o600)
	tree := filepath.Join(dir, "tree")
	os.Mkdir(tree, 0o755)
	if err := os.Link(secret, filepath.Join(tree, "planted")); err != nil {
		t.Fatal(err)
	}
	err = sb.OwnWorktree(dir, tree)
	if err == nil || !strings.Contains(err.Error(), "hard links") {
		t.Errorf("OwnWorktree gave a tree with a hard link: %v", err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(secret, &st); err != nil || st.Uid != 0 {
		t.Errorf("the linked file belongs to uid %d (%v), want root", st.Uid, err)
	}
}

// TestHideFor closes a runner's directory to the build user while it
// builds, and gives the directory its mode back after.
func TestHideFor(t *testing.T) {
	needRoot(t)
	sb, err := sandbox.New(sandbox.Options{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	os.Chmod(work, 0o755)
	os.WriteFile(filepath.Join(work, "event.json"), []byte("secret-ish"), 0o644)
	reopen, err := sb.HideFor(work)
	if err != nil {
		t.Fatal(err)
	}
	cmd := sb.Command("/bin/cat", filepath.Join(work, "event.json"))
	cmd.Dir = "/"
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := sb.Run(context.Background(), cmd, "reader"); err == nil || strings.Contains(out.String(), "secret-ish") {
		t.Errorf("the build user read a file of the hidden directory: %v, %q", err, out.String())
	}
	if err := reopen(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(work); fi.Mode().Perm() != 0o755 {
		t.Errorf("the directory's mode is %o after, want 755", fi.Mode().Perm())
	}
}
