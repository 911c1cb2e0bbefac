// Package gittest builds real git repositories for tests: bare remotes,
// work clones, commits and tags, with an environment that ignores the
// user's own git configuration so results do not depend on the machine.
package gittest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/testenv"
)

// Env returns an environment for git that reads no system or user
// configuration (GIT_CONFIG_GLOBAL points at an empty file of the test's
// own), names a fixed author and committer, and never prompts.
func Env(t testing.TB) []string {
	t.Helper()
	testenv.RequireTool(t, "git")
	global := filepath.Join(t.TempDir(), "gitconfig")
	if err := os.WriteFile(global, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GIT_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"GIT_CONFIG_GLOBAL="+global,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Test Author",
		"GIT_AUTHOR_EMAIL=author@example.com",
		"GIT_COMMITTER_NAME=Test Committer",
		"GIT_COMMITTER_EMAIL=committer@example.com",
		"GIT_TERMINAL_PROMPT=0",
	)
}

// Git runs git in dir with env and returns its trimmed standard output;
// a failure fails the test.
func Git(t testing.TB, env []string, dir string, args ...string) string {
	t.Helper()
	out, err := TryGit(env, dir, args...)
	if err != nil {
		t.Fatalf("git -C %s %s: %v", dir, strings.Join(args, " "), err)
	}
	return out
}

// TryGit is Git returning the error (with git's stderr) instead.
func TryGit(env []string, dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", &cmdError{err: err, stderr: stderr.String()}
	}
	return strings.TrimSpace(string(out)), nil
}

type cmdError struct {
	err    error
	stderr string
}

func (e *cmdError) Error() string { return e.err.Error() + ": " + strings.TrimSpace(e.stderr) }

// Bare creates a bare repository that serves partial fetches, like GitHub.
func Bare(t testing.TB, env []string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "remote.git")
	Git(t, env, "", "init", "--quiet", "--bare", "--initial-branch=main", dir)
	Git(t, env, dir, "config", "uploadpack.allowFilter", "true")
	return dir
}

// Init creates an empty work tree with branch main.
func Init(t testing.TB, env []string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "work")
	Git(t, env, "", "init", "--quiet", "--initial-branch=main", dir)
	return dir
}

// Clone clones url into a new directory and returns it.
func Clone(t testing.TB, env []string, url string, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	Git(t, env, "", append(append([]string{"clone", "--quiet"}, args...), url, dir)...)
	return dir
}

// WriteFile writes content to dir/rel, making parent directories.
func WriteFile(t testing.TB, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Commit stages everything and commits it; it returns the new commit.
func Commit(t testing.TB, env []string, dir, msg string) string {
	t.Helper()
	Git(t, env, dir, "add", "--all")
	Git(t, env, dir, "commit", "--quiet", "--allow-empty", "-m", msg)
	return Git(t, env, dir, "rev-parse", "HEAD")
}

// Chown gives every file under dir to uid:gid, as the Actions runner's
// workspace is owned by another user than the container's root.
func Chown(t testing.TB, dir string, uid, gid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("this test changes file ownership to reproduce git's dubious-ownership check, which needs root (the action runs as root in its container): run the tests as root, e.g. in the CI container")
	}
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
	// t.TempDir's cleanup must still be able to remove it; root can.
}

// FileState snapshots the files git could write configuration to — the
// user's, the system's and the test's own global file named in env — so a
// test can check that none of them changed.
func FileState(t testing.TB, env []string) map[string]string {
	t.Helper()
	state := map[string]string{}
	var paths []string
	for _, kv := range env {
		if p, ok := strings.CutPrefix(kv, "GIT_CONFIG_GLOBAL="); ok {
			paths = append(paths, p)
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		paths = append(paths, filepath.Join(home, ".gitconfig"), filepath.Join(home, ".config", "git", "config"))
	}
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" {
		paths = append(paths, filepath.Join(x, "git", "config"))
	}
	paths = append(paths, "/etc/gitconfig")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			state[p] = "<" + err.Error() + ">"
			continue
		}
		fi, _ := os.Stat(p)
		state[p] = fi.ModTime().String() + "\n" + string(b)
	}
	return state
}
