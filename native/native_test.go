package native_test

// The native action's own steps, run on Linux as the runner runs them,
// against a local release: the binaries and checksums.txt the Release
// workflow makes (scripts/build-release.sh, scripts/release-files.sh),
// served on 127.0.0.1, and the action's folder pinned to them by
// scripts/pin-native.sh as the release commit is. No macOS machine runs
// here: the darwin binaries are built and checked, not run.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/flox-publish/publish-action/internal/git/gittest"
	"github.com/flox-publish/publish-action/internal/testenv"
)

const releaseVersion = "9.8.7"

// runnerArch is RUNNER_ARCH for this machine.
func runnerArch(t *testing.T) string {
	switch runtime.GOARCH {
	case "amd64":
		return "X64"
	case "arm64":
		return "ARM64"
	}
	t.Skipf("no release binary for linux/%s", runtime.GOARCH)
	return ""
}

// The release, built once for the package's tests.
var (
	releaseOnce sync.Once
	releaseDir  string
	releaseErr  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if releaseDir != "" {
		os.RemoveAll(releaseDir)
	}
	os.Exit(code)
}

// buildRelease makes what the Release workflow uploads, in a directory
// the package's tests share (and do not change).
func buildRelease(t *testing.T) string {
	t.Helper()
	testenv.Slow(t)
	releaseOnce.Do(func() { releaseDir, releaseErr = makeRelease(t) })
	if releaseErr != "" {
		t.Fatal(releaseErr)
	}
	return releaseDir
}

func makeRelease(t *testing.T) (string, string) {
	root := testenv.ProjectRoot(t)
	dir, err := os.MkdirTemp("", "flox-publish-release-")
	if err != nil {
		return "", err.Error()
	}
	commit := strings.Repeat("c0ffee", 6) + "c0ff"
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "build-release.sh"), releaseVersion, dir)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "COMMIT="+commit)
	if out, err := cmd.CombinedOutput(); err != nil {
		return dir, fmt.Sprintf("build-release.sh: %v\n%s", err, out)
	}
	cmd = exec.Command("bash", filepath.Join(root, "scripts", "release-files.sh"), releaseVersion, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return dir, fmt.Sprintf("release-files.sh: %v\n%s", err, out)
	}
	// --version says what the release says.
	host := filepath.Join(dir, "flox-publish-linux-"+runtime.GOARCH)
	out, err := exec.Command(host, "--version").CombinedOutput()
	if err != nil {
		return dir, fmt.Sprintf("%s --version: %v\n%s", host, err, out)
	}
	for _, want := range []string{"flox-publish " + releaseVersion + "\n", "commit: " + commit + "\n", "zstd: libzstd "} {
		if !strings.Contains(string(out), want) {
			return dir, fmt.Sprintf("--version of the release binary lacks %q:\n%s", want, out)
		}
	}
	return dir, ""
}

// TestReleaseFiles checks what the release holds: four binaries for their
// systems, checksums.txt that sha256sum -c accepts, notes that say which
// zstd encoder each has.
func TestReleaseFiles(t *testing.T) {
	dir := buildRelease(t)
	check := exec.Command("sha256sum", "-c", "checksums.txt")
	check.Dir = dir
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c checksums.txt: %v\n%s", err, out)
	}
	notes, _ := os.ReadFile(filepath.Join(dir, "notes.md"))
	for _, tc := range []struct{ target, goos, goarch, encoder string }{
		{"linux-amd64", "linux", "amd64", "libzstd"},
		{"linux-arm64", "linux", "arm64", "libzstd"},
		// No macOS SDK here: from Linux, darwin gets the pure-Go
		// encoder (the Release workflow builds darwin on macOS).
		{"darwin-amd64", "darwin", "amd64", "pure Go"},
		{"darwin-arm64", "darwin", "arm64", "pure Go"},
	} {
		bin := filepath.Join(dir, "flox-publish-"+tc.target)
		out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
		if err != nil {
			t.Errorf("go version -m %s: %v\n%s", bin, err, out)
			continue
		}
		for _, want := range []string{"GOOS=" + tc.goos, "GOARCH=" + tc.goarch, "-trimpath=true"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s: go version -m says no %s:\n%s", tc.target, want, out)
			}
		}
		var line string
		for _, l := range strings.Split(string(notes), "\n") {
			if strings.Contains(l, "`flox-publish-"+tc.target+"`") {
				line = l
			}
		}
		if tc.target == "linux-arm64" && !strings.Contains(line, tc.encoder) {
			// Only with Debian's cross compiler (scripts/install-tools.sh
			// installs it).
			testenv.Missing(t, "linux/arm64 was built without libzstd: install gcc-aarch64-linux-gnu (scripts/install-tools.sh does); notes: %s", line)
			continue
		}
		if !strings.Contains(line, tc.encoder) {
			t.Errorf("the release notes say %q for %s, want %s", line, tc.target, tc.encoder)
		}
	}
}

// TestArm64BinaryRuns runs the linux/arm64 release binary, built with
// Debian's cross compiler, under qemu-user (on an arm64 machine, the
// amd64 one would need the same): it starts and has libzstd.
func TestArm64BinaryRuns(t *testing.T) {
	dir := buildRelease(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("runs the arm64 binary from an amd64 machine")
	}
	qemu, err := exec.LookPath("qemu-aarch64")
	if err != nil {
		testenv.Missing(t, "qemu-aarch64 is not installed: apt-get install qemu-user (scripts/install-tools.sh does)")
	}
	out, err := exec.Command(qemu, filepath.Join(dir, "flox-publish-linux-arm64"), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-aarch64 flox-publish-linux-arm64 --version: %v\n%s", err, out)
	}
	for _, want := range []string{"flox-publish " + releaseVersion, "zstd: libzstd", "linux/arm64"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--version lacks %q:\n%s", want, out)
		}
	}
}

// release is a local release: the directory served on 127.0.0.1 and a
// copy of the action's folder pinned to it.
type release struct {
	files, action string
	srv           *httptest.Server
}

func serveRelease(t *testing.T, files string) *release {
	t.Helper()
	root := testenv.ProjectRoot(t)
	r := &release{files: files, srv: httptest.NewServer(http.FileServer(http.Dir(files)))}
	t.Cleanup(r.srv.Close)
	r.action = filepath.Join(t.TempDir(), "native")
	os.MkdirAll(r.action, 0o755)
	for _, f := range []string{"action.yml", "install.sh", "run.sh"} {
		data, err := os.ReadFile(filepath.Join(root, "native", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(r.action, f), data, 0o755)
	}
	pin := exec.Command("bash", filepath.Join(root, "scripts", "pin-native.sh"), releaseVersion, r.srv.URL+"/", filepath.Join(files, "checksums.txt"), r.action)
	if out, err := pin.CombinedOutput(); err != nil {
		t.Fatalf("pin-native.sh: %v\n%s", err, out)
	}
	return r
}

// workspace is a checkout of a repository holding examples/hello, pushed
// to a bare remote, and the runner that runs a job on it.
func workspace(t *testing.T) *runner {
	t.Helper()
	root := testenv.ProjectRoot(t)
	env := gittest.Env(t)
	work := gittest.Init(t, env)
	for _, f := range []string{".flox/env.json", ".flox/env/manifest.toml", ".flox/env/manifest.lock", "VERSION", "greeting.txt"} {
		data, err := os.ReadFile(filepath.Join(root, "examples", "hello", f))
		if err != nil {
			t.Fatal(err)
		}
		gittest.WriteFile(t, work, f, string(data))
	}
	sha := gittest.Commit(t, env, work, "hello")
	remote := gittest.Bare(t, env)
	gittest.Git(t, env, work, "remote", "add", "origin", remote)
	gittest.Git(t, env, work, "push", "-q", "origin", "HEAD:refs/heads/main")
	tmp := t.TempDir()
	for _, d := range []string{"temp", "tool-cache"} {
		os.MkdirAll(filepath.Join(tmp, d), 0o755)
	}
	r := &runner{
		github: map[string]string{"action_ref": "v" + releaseVersion, "token": "", "repository_owner": "acme", "workspace": work},
		env: append(env,
			"GITHUB_ACTIONS=true", "CI=true", "RUNNER_OS=Linux", "RUNNER_ARCH="+runnerArch(t),
			"RUNNER_TEMP="+filepath.Join(tmp, "temp"), "RUNNER_TOOL_CACHE="+filepath.Join(tmp, "tool-cache"),
			"GITHUB_WORKSPACE="+work, "GITHUB_REPOSITORY=acme/hello", "GITHUB_REPOSITORY_OWNER=acme",
			"GITHUB_EVENT_NAME=push", "GITHUB_REF=refs/heads/main", "GITHUB_REF_NAME=main", "GITHUB_REF_TYPE=branch",
			"GITHUB_SHA="+sha, "GITHUB_RUN_ID=1", "GITHUB_SERVER_URL=https://github.com", "TMPDIR="+os.TempDir()),
	}
	return r
}

func (r *runner) toolCache() string {
	for _, kv := range r.env {
		if v, ok := strings.CutPrefix(kv, "RUNNER_TOOL_CACHE="); ok {
			return v
		}
	}
	return ""
}

// TestNativeActionFromLocalRelease uses the pinned action as a workflow
// would: it downloads the binary, checks it, caches it and publishes
// examples/hello (a dry run with the local builder); a second use takes
// the cached binary; a tampered download, and a tampered cache, are
// refused and never run.
func TestNativeActionFromLocalRelease(t *testing.T) {
	files := buildRelease(t)
	rel := serveRelease(t, files)
	with := map[string]string{"dry-run": "true", "builder": "local", "check-version": "false", "upstream-caches": ""}
	asset := "flox-publish-linux-" + runtime.GOARCH

	r := workspace(t)
	res := r.run(t, rel.action, with)
	if res.failed != "" {
		t.Fatalf("step %s failed:\n%s", res.failed, res.log)
	}
	if !strings.Contains(res.log, "downloaded and verified") {
		t.Errorf("the first use did not download the binary:\n%s", res.log)
	}
	if res.outputs["dry-run"] != "true" || !strings.Contains(res.outputs["store-paths"], "-greeter-") {
		t.Errorf("outputs: %v\n%s", res.outputs, res.log)
	}
	var pkgs []map[string]any
	if err := json.Unmarshal([]byte(res.outputs["packages"]), &pkgs); err != nil || len(pkgs) != 1 || pkgs[0]["status"] != "would-upload" {
		t.Errorf("packages output %q: %v", res.outputs["packages"], err)
	}
	cached := filepath.Join(r.toolCache(), "flox-publish", releaseVersion, runtime.GOARCH, "flox-publish")
	if sum := fileSHA256(t, cached); sum != pinned(t, rel.action, asset) {
		t.Errorf("the tool cache holds %s with SHA-256 %s, not the pinned one", cached, sum)
	}
	if _, err := os.Stat(filepath.Join(r.toolCache(), "flox-publish", releaseVersion, runtime.GOARCH+".complete")); err != nil {
		t.Errorf("the tool cache entry is not marked complete: %v", err)
	}

	t.Run("the second use takes the cached binary", func(t *testing.T) {
		rel.srv.Close() // nothing may be downloaded
		res := r.run(t, rel.action, with)
		if res.failed != "" || !strings.Contains(res.log, "from the tool cache") {
			t.Errorf("failed step %q:\n%s", res.failed, res.log)
		}
	})

	// A binary that would leave a mark if it ran.
	mark := filepath.Join(t.TempDir(), "ran")
	hostile := []byte("#!/bin/sh\ntouch " + mark + "\n")

	t.Run("a tampered cache is downloaded again", func(t *testing.T) {
		rel := serveRelease(t, files)
		os.WriteFile(cached, hostile, 0o755)
		res := r.run(t, rel.action, with)
		if res.failed != "" || !strings.Contains(res.log, "is not the pinned binary") || !strings.Contains(res.log, "downloaded and verified") {
			t.Errorf("failed step %q:\n%s", res.failed, res.log)
		}
		if _, err := os.Stat(mark); err == nil {
			t.Fatal("the tampered cached binary ran")
		}
	})

	t.Run("a tampered release is refused", func(t *testing.T) {
		bad := t.TempDir()
		for _, f := range []string{"checksums.txt", asset} {
			data, _ := os.ReadFile(filepath.Join(files, f))
			os.WriteFile(filepath.Join(bad, f), data, 0o755)
		}
		rel := serveRelease(t, bad) // pinned to the true checksums
		os.WriteFile(filepath.Join(bad, asset), hostile, 0o755)
		r := workspace(t)
		res := r.run(t, rel.action, with)
		if res.failed != "binary" {
			t.Fatalf("a tampered binary was accepted (failed step %q):\n%s", res.failed, res.log)
		}
		if !strings.Contains(res.log, "refusing to run it") || !strings.Contains(res.log, pinned(t, rel.action, asset)) {
			t.Errorf("the refusal does not say what was pinned:\n%s", res.log)
		}
		if _, err := os.Stat(mark); err == nil {
			t.Fatal("the tampered binary ran")
		}
		if entries, _ := os.ReadDir(filepath.Join(r.toolCache(), "flox-publish")); len(entries) != 0 {
			t.Errorf("the tampered binary was put in the tool cache: %v", entries)
		}
	})
}

// TestNativeActionFromSource uses the action at an unreleased ref (this
// checkout's native/, which has no pinned release): it builds the binary
// from its source with Go, says so, and runs it.
func TestNativeActionFromSource(t *testing.T) {
	testenv.Slow(t)
	root := testenv.ProjectRoot(t)
	if _, err := os.Stat(filepath.Join(root, "native", "release.txt")); err == nil {
		t.Fatal("native/release.txt is committed: only release commits pin binaries (scripts/pin-native.sh)")
	}
	r := workspace(t)
	r.github["action_ref"] = "main"
	res := r.run(t, filepath.Join(root, "native"), map[string]string{"dry-run": "true", "builder": "local", "upstream-caches": ""})
	if res.failed != "" {
		t.Fatalf("step %s failed:\n%s", res.failed, res.log)
	}
	for _, want := range []string{"is not a release: building flox-publish from its source", "flox-publish 0.0.0-unreleased"} {
		if !strings.Contains(res.log, want) {
			t.Errorf("the log does not say %q:\n%s", want, res.log)
		}
	}
	if !strings.Contains(res.outputs["store-paths"], "-greeter-") {
		t.Errorf("outputs: %v", res.outputs)
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func pinned(t *testing.T, action, asset string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(action, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if sum, name, ok := strings.Cut(line, "  "); ok && name == asset {
			return sum
		}
	}
	t.Fatalf("no checksum pinned for %s", asset)
	return ""
}
