package git_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flox-publish/publish-action/internal/git"
	"github.com/flox-publish/publish-action/internal/git/gittest"
)

func TestRunError(t *testing.T) {
	t.Parallel()
	env := gittest.Env(t)
	dir := gittest.Init(t, env)
	g, err := git.New(dir, git.WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Run(context.Background(), "rev-parse", "--verify", "no-such-ref")
	var ge *git.Error
	if !errors.As(err, &ge) {
		t.Fatalf("Run error = %v (%T), want *git.Error", err, err)
	}
	msg := err.Error()
	for _, want := range []string{"git -C " + dir + " rev-parse --verify no-such-ref", "exit status 128", "fatal: Needed a single revision"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if got := git.ExitCode(err); got != 128 {
		t.Errorf("ExitCode = %d, want 128", got)
	}
}

func TestRunOutput(t *testing.T) {
	t.Parallel()
	env := gittest.Env(t)
	dir := gittest.Init(t, env)
	g, err := git.New(dir, git.WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.Run(context.Background(), "rev-parse", "--show-toplevel")
	if err != nil {
		t.Fatal(err)
	}
	if out != dir+"\n" {
		t.Errorf("stdout = %q, want %q", out, dir+"\n")
	}
}

func TestErrorRedactsCredentials(t *testing.T) {
	t.Parallel()
	e := &git.Error{
		Dir:    "/w",
		Args:   []string{"ls-remote", "https://x-access-token:ghs_secret@github.com/o/r"},
		Stderr: "fatal: unable to access 'https://user:ghs_secret@github.com/o/r/'",
		Err:    errors.New("exit status 128"),
	}
	msg := e.Error()
	if strings.Contains(msg, "ghs_secret") {
		t.Fatalf("error shows the token: %s", msg)
	}
	if !strings.Contains(msg, "https://***@github.com/o/r") {
		t.Errorf("error %q lost the URL", msg)
	}
}

// A remote that asks for a password must fail at once, not wait for a
// terminal answer that never comes in CI.
func TestNoPasswordPrompt(t *testing.T) {
	t.Parallel()
	env := gittest.Env(t)
	// Remove the helper's own GIT_TERMINAL_PROMPT=0: Git must set it itself.
	var bare []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "GIT_TERMINAL_PROMPT=") {
			bare = append(bare, kv)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	g, err := git.New(t.TempDir(), git.WithEnv(bare))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = g.Run(ctx, "ls-remote", srv.URL+"/o/r.git")
	if err == nil {
		t.Fatal("ls-remote against a server demanding a password succeeded")
	}
	if ctx.Err() != nil {
		t.Fatalf("git waited for a password until the deadline: %v", err)
	}
	if !strings.Contains(err.Error(), "terminal prompts disabled") {
		t.Errorf("error %q does not say prompts are disabled", err)
	}
}

func TestSafeDirectory(t *testing.T) {
	env := gittest.Env(t)
	before := gittest.FileState(t, env)
	dir := gittest.Init(t, env)
	gittest.WriteFile(t, dir, "sub/deeper/file", "x\n")
	gittest.Commit(t, env, dir, "first")
	gittest.Chown(t, dir, 65534, 65534)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	cases := []struct {
		name   string
		dir    string
		opts   []git.Option
		wantOK bool
	}{
		{"untrusted", dir, nil, false},
		{"trusted root", dir, []git.Option{git.TrustRepository()}, true},
		{"trusted subdirectory", filepath.Join(dir, "sub", "deeper"), []git.Option{git.TrustRepository()}, true},
		{"trusted through a symlink", filepath.Join(link, "sub"), []git.Option{git.TrustRepository()}, true},
		{"explicit safe directory", filepath.Join(dir, "sub"), []git.Option{git.WithSafeDirectories(dir)}, true},
		{"explicit other directory", dir, []git.Option{git.WithSafeDirectories(filepath.Join(dir, "sub"))}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := git.New(tc.dir, append([]git.Option{git.WithEnv(env)}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			out, err := g.Run(ctx, "rev-parse", "--show-toplevel")
			if tc.wantOK {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if strings.TrimSpace(out) != dir {
					t.Errorf("top level = %q, want %q", out, dir)
				}
				// status reads the index and work tree, not just HEAD.
				if _, err := g.Run(ctx, "status", "--porcelain"); err != nil {
					t.Errorf("status: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "dubious ownership") {
				t.Fatalf("Run error = %v, want git's dubious ownership refusal", err)
			}
		})
	}
	if after := gittest.FileState(t, env); !reflect.DeepEqual(before, after) {
		t.Errorf("git configuration files changed:\nbefore %v\nafter  %v", before, after)
	}
	if cfg, err := os.ReadFile(filepath.Join(dir, ".git", "config")); err != nil || strings.Contains(string(cfg), "safe") {
		t.Errorf("repository config changed: %q %v", cfg, err)
	}
}

func TestBuildEnvKeepsCallersConfig(t *testing.T) {
	t.Parallel()
	env := gittest.Env(t)
	dir := gittest.Init(t, env)
	gittest.Commit(t, env, dir, "first")
	gittest.Chown(t, dir, 65534, 65534)
	env = append(env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=user.name", "GIT_CONFIG_VALUE_0=From Caller")
	g, err := git.New(dir, git.WithEnv(env), git.TrustRepository())
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.Run(context.Background(), "config", "user.name")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "From Caller" {
		t.Errorf("user.name = %q, want the caller's setting kept", out)
	}
}

func TestClone(t *testing.T) {
	t.Parallel()
	env := gittest.Env(t)
	before := gittest.FileState(t, env)
	src := gittest.Init(t, env)
	gittest.WriteFile(t, src, "pkg/.flox/env/manifest.toml", "version = 1\n")
	gittest.WriteFile(t, src, "pkg/file", "old\n")
	first := gittest.Commit(t, env, src, "first")
	gittest.WriteFile(t, src, "pkg/file", "new\n")
	gittest.Commit(t, env, src, "second")
	gittest.WriteFile(t, src, "pkg/file", "uncommitted\n")
	gittest.WriteFile(t, src, "pkg/untracked", "x\n")
	gittest.Chown(t, src, 65534, 65534)

	dst := filepath.Join(t.TempDir(), "build", "clone")
	if err := git.Clone(context.Background(), src, first, dst, git.WithEnv(env)); err != nil {
		t.Fatalf("Clone: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "pkg", "file")); err != nil || string(b) != "old\n" {
		t.Errorf("pkg/file = %q, %v; want the first commit's content", b, err)
	}
	if _, err := os.Stat(filepath.Join(dst, "pkg", "untracked")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("untracked file was copied into the clone: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dst, ".git", "objects", "info", "alternates")); err != nil {
		t.Errorf("clone does not share the source's objects: %v", err)
	}
	if head := gittest.Git(t, env, dst, "rev-parse", "HEAD"); head != first {
		t.Errorf("clone HEAD = %s, want %s", head, first)
	}
	if after := gittest.FileState(t, env); !reflect.DeepEqual(before, after) {
		t.Errorf("git configuration files changed:\nbefore %v\nafter  %v", before, after)
	}
}

func TestCloneUnknownRevision(t *testing.T) {
	t.Parallel()
	env := gittest.Env(t)
	src := gittest.Init(t, env)
	gittest.Commit(t, env, src, "first")
	err := git.Clone(context.Background(), src, strings.Repeat("1", 40), filepath.Join(t.TempDir(), "c"), git.WithEnv(env))
	if err == nil || !strings.Contains(err.Error(), "checking out 1111") {
		t.Fatalf("Clone error = %v, want a checkout failure naming the revision", err)
	}
}

// TestProgramsGitStartsSeeNoSecrets runs a program through git, as a
// credential helper or an ssh command would be run, with the action's
// secrets in the environment: it sees none of them, and sees what a fetch
// needs.
func TestProgramsGitStartsSeeNoSecrets(t *testing.T) {
	t.Parallel()
	env := gittest.Env(t)
	dir := gittest.Init(t, env)
	secrets := []string{
		"INPUT_SIGNING-KEY=key-1:c2VjcmV0", "INPUT_FLOXHUB-TOKEN=flox_pat_secret", "AWS_SECRET_ACCESS_KEY=aws-secret",
		"AWS_SESSION_TOKEN=aws-session", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=oidc-request", "GITHUB_TOKEN=ghs_secret", "GIT_TOKEN=git-secret",
	}
	kept := []string{"HTTPS_PROXY=http://proxy.example:3128", "SSH_AUTH_SOCK=/tmp/agent.sock"}
	g, err := git.New(dir, git.WithEnv(append(append(env, secrets...), kept...)))
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.Run(context.Background(), "-c", "alias.showenv=!env", "showenv")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range secrets {
		if name, value, _ := strings.Cut(kv, "="); strings.Contains(out, value) {
			t.Errorf("a program git started sees %s", name)
		}
	}
	for _, kv := range kept {
		if !strings.Contains(out, kv+"\n") {
			t.Errorf("a program git started lacks %s:\n%s", kv, out)
		}
	}
}
