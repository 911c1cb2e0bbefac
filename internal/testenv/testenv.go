// Package testenv gives tests the real tools they run against: git with
// real repositories and bare remotes, Debian's Nix, MinIO and other S3
// servers; and stand-ins, named so, for what cannot run here (FloxHub,
// GitHub's OIDC issuer, `flox`). The README's
// test command installs them. A test that finds one missing fails under
// CI=true, with the command that installs it; elsewhere it skips with that
// one-line reason, so that `go test ./...` on a bare machine tests what it
// can. With -short, the tests that run Nix or MinIO skip as slow.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/signing"
)

// RequireTool returns the path of name on PATH. When it is missing, the
// test fails under CI=true and skips elsewhere (see Missing). Nix's tools
// are slow to run: with -short their tests skip.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	if debianPackage(name) == "nix-bin" {
		Slow(t)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s is not on PATH: run the README's test command (bash scripts/test.sh), which installs it (Debian: apt-get install -y %s)", name, debianPackage(name))
	}
	return p
}

// Missing ends a test that lacks a tool or data it runs against: under
// CI=true it fails, since CI has everything; elsewhere it skips with the
// one-line reason.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: nothing may be missing)", msg)
	}
	t.Skipf("skipped: %s (under CI=true this fails)", msg)
}

// Slow skips a test with -short: one that starts MinIO, runs Nix or
// publishes end to end.
func Slow(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped with -short: it starts MinIO, runs Nix or publishes end to end")
	}
}

func debianPackage(tool string) string {
	switch tool {
	case "nix", "nix-store", "nix-build", "nix-instantiate", "nix-daemon":
		return "nix-bin"
	}
	return tool
}

// NixEnv returns the environment for running Debian's nix 2.8 as root in a
// sandbox without user namespaces (see NixEnvIn), with a cache directory
// of the test's own so narinfo look-ups are never answered from another
// test's cache.
func NixEnv(t testing.TB) []string {
	t.Helper()
	RequireTool(t, "nix")
	return NixEnvIn(t.TempDir())
}

// NixEnvIn is the process's environment with experimental commands on, no
// build users, no sandbox, no substituters and no negative narinfo
// caching, and with cache as Nix's cache directory.
func NixEnvIn(cache string) []string {
	conf := strings.Join([]string{
		"experimental-features = nix-command",
		"sandbox = false",
		"build-users-group =",
		"narinfo-cache-negative-ttl = 0",
		"substituters =",
	}, "\n")
	return append(os.Environ(), "NIX_CONFIG="+conf, "XDG_CACHE_HOME="+cache)
}

// Nix runs a nix command with NixEnv and returns its standard output.
func Nix(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = NixEnv(t)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// ProjectRoot returns the repository root of this project.
func ProjectRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SharedDir returns ../shared beside the project checkout, where the
// reference material and the corpus live (always present in CI).
func SharedDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(ProjectRoot(t), "..", "shared")
}

// OpenTempDir is a temporary directory that every user can reach and write,
// as /tmp: as root the action runs builds as a user of their own, and a
// test's stand-in programs and files for builds must be where that user
// can get at them.
func OpenTempDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{filepath.Dir(dir), 0o755}, {dir, 0o1777}} {
		if err := os.Chmod(d.path, d.mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// SigningKey is a fresh cache signing key named name.
func SigningKey(t testing.TB, name string) *signing.Key {
	t.Helper()
	sec, _, err := signing.Generate(name)
	if err != nil {
		t.Fatal(err)
	}
	k, err := signing.Parse(sec)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
