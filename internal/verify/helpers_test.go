package verify_test

import (
	"errors"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flox-publish/publish-action/internal/git/gittest"
	"github.com/flox-publish/publish-action/internal/testenv"
	"github.com/flox-publish/publish-action/internal/verify"
)

// repo is a real work tree with a Flox environment, committed and pushed
// to a real bare remote (origin), branch main with upstream set.
type repo struct {
	t      *testing.T
	env    []string
	remote string // the bare repository
	work   string // the work tree
	envDir string // the environment directory inside work
	sub    string // envDir relative to work, slash-separated
}

const manifestTOML = `version = 1

[install]
hello.pkg-path = "hello"

[build.hello]
command = 'mkdir -p $out/bin && cp hello $out/bin/'
`

// newRepo builds a repository with three commits, the environment in
// sub ("." for the root).
func newRepo(t *testing.T, sub string) *repo {
	t.Helper()
	env := gittest.Env(t)
	r := &repo{t: t, env: env, remote: gittest.Bare(t, env), work: gittest.Init(t, env), sub: sub}
	r.envDir = filepath.Join(r.work, filepath.FromSlash(sub))
	gittest.WriteFile(t, r.work, "README.md", "hello\n")
	r.commit("readme")
	gittest.WriteFile(t, r.envDir, ".flox/env.json", `{"name":"hello","version":1}`+"\n")
	// What `flox init` writes: these folders are machine-local state.
	gittest.WriteFile(t, r.envDir, ".flox/.gitignore", "run/\ncache/\nlib/\nlog/\n!env/\n")
	gittest.WriteFile(t, r.envDir, ".flox/env/manifest.toml", manifestTOML)
	gittest.WriteFile(t, r.envDir, ".flox/env/manifest.lock", `{"lockfile-version":1,"packages":[]}`+"\n")
	r.commit("environment")
	gittest.WriteFile(t, r.envDir, "hello", "#!/bin/sh\necho hello\n")
	r.commit("program")
	r.git("remote", "add", "origin", r.remote)
	r.git("push", "--quiet", "--set-upstream", "origin", "main")
	return r
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	return gittest.Git(r.t, r.env, r.work, args...)
}

func (r *repo) commit(msg string) string {
	r.t.Helper()
	return gittest.Commit(r.t, r.env, r.work, msg)
}

func (r *repo) head() string { return r.git("rev-parse", "HEAD") }

// path is p (relative to the environment) relative to the repository root,
// as Verify reports paths.
func (r *repo) path(p string) string {
	if r.sub == "." {
		return p
	}
	return r.sub + "/" + p
}

func (r *repo) options() verify.Options {
	return verify.Options{EnvDir: r.envDir, Env: r.env}
}

func (r *repo) refs() string { return r.git("for-each-ref", "--format=%(objectname) %(refname)") }

// as fails the test unless err is (or wraps) an error of type T.
func as[T error](t *testing.T, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error = %v (%T), want %T", err, err, target)
	}
	return target
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

// commitDate is the committer date of rev as git reports it.
func (r *repo) commitDate(rev string) time.Time {
	r.t.Helper()
	d, err := time.Parse(time.RFC3339, r.git("show", "-s", "--format=%cI", rev))
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

// smartHTTPRemote serves the bare repositories under root over git's
// smart HTTP protocol (git http-backend behind net/http/cgi), and only to
// clients presenting user:password, like a private GitHub repository.
func smartHTTPRemote(t *testing.T, env []string, root, user, password string) *httptest.Server {
	t.Helper()
	gitPath := testenv.RequireTool(t, "git")
	backend := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Dir:  root,
		Env:  append(cgiEnv(env), "GIT_PROJECT_ROOT="+root, "GIT_HTTP_EXPORT_ALL=1"),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, p, ok := req.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// cgiEnv keeps the git configuration isolation of env for the backend.
func cgiEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "GIT_CONFIG_") || strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "HOME=") {
			out = append(out, kv)
		}
	}
	return out
}

// ownersOtherThan lists files under dir not owned by uid.
func ownersOtherThan(t *testing.T, dir string, uid int) []string {
	t.Helper()
	var wrong []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if owner(fi) != uid {
			wrong = append(wrong, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return wrong
}

func owner(fi os.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
