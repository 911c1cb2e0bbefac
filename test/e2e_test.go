package test

// End-to-end tests of the binary the action's image runs, started the way
// the Actions runner starts a container action: no arguments, a fresh
// environment holding only what the runner passes (INPUT_* for every input
// action.yml declares, upper-cased with hyphens kept and defaults applied,
// the GITHUB_* and RUNNER_* facts, the GITHUB_OUTPUT and GITHUB_STEP_SUMMARY
// files), the workspace as the working directory, and that workspace a
// fresh shallow checkout made the way actions/checkout makes it, owned by
// the runner's user (uid 1001) while the binary runs as root.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/narinfo"
	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/flox-publish/publish-action/internal/git/gittest"
	"github.com/flox-publish/publish-action/internal/testenv"
	"github.com/flox-publish/publish-action/internal/testenv/fixture"
)

// runnerUID is the uid of the runner's user on GitHub's hosted runners,
// who owns the workspace the root container reads.
const runnerUID = 1001

// e2eMotd is a second build, appended to the example's manifest, that sets
// no version: on a version tag it takes the tag's, elsewhere 0.0.0.
const e2eMotd = `
[build.motd]
description = "sets no version"
command = '''
  mkdir -p $out/share
  echo "$GREETING" > $out/share/motd
'''
`

// e2eFixture is what every scenario shares: the binary, a bare remote
// standing in for the GitHub repository acme/widgets, and a stand-in for
// the GitHub API that answers for that remote.
type e2eFixture struct {
	bin    string
	remote string // bare repository
	shas   map[string]string
	api    *httptest.Server
	token  string
	action *actionMetadata
}

// buildBinary builds the binary as the Dockerfile does.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on PATH: the end-to-end tests build the action's binary with it (%v)", err)
	}
	bin := filepath.Join(t.TempDir(), "flox-publish")
	cmd := exec.Command(goTool, append([]string{"build"}, append(imageBuildFlags, "-o", bin, ".")...)...)
	cmd.Dir = testenv.ProjectRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", strings.Join(imageBuildFlags, " "), err, out)
	}
	return bin
}

// imageBuildFlags build the binary as the Dockerfile does (TestDockerfile
// holds them together): with cgo, for libzstd, linked statically, so that
// it runs on any Linux the image may be, and without glibc's NSS.
var imageBuildFlags = []string{"-trimpath", "-tags", "netgo,osusergo", "-ldflags=-linkmode=external -extldflags=-static"}

// newE2EFixture makes the remote: main holds examples/hello (plus a build
// without a version), tagged v1.0.0 (annotated, matching the example's
// version) and v2.0.0 (lightweight, not matching); pull request 7 comes from
// a branch of the repository, pull request 8 from a fork, so its head is on
// no branch, only on refs/pull/8/head as GitHub keeps it.
func newE2EFixture(t *testing.T) *e2eFixture {
	t.Helper()
	testenv.RequireTool(t, "git")
	testenv.RequireTool(t, "bash")
	f := &e2eFixture{bin: buildBinary(t), shas: map[string]string{}, token: "ghs_e2eRunnerToken0123456789abcdefXYZ", action: loadAction(t)}

	env := gittest.Env(t)
	r := &fixture.Repo{T: t, Env: env, Remote: gittest.Bare(t, env), Work: gittest.Init(t, env)}
	f.remote = r.Remote
	// As GitHub: fetching a commit by id is allowed (gittest.Bare already
	// serves partial clones).
	r.Git(r.Remote, "config", "uploadpack.allowAnySHA1InWant", "true")

	example := filepath.Join(testenv.ProjectRoot(t), "examples", "hello")
	err := filepath.WalkDir(example, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(example, p)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(rel, ".flox/") && rel != ".flox/env.json" && !strings.HasPrefix(rel, ".flox/env/") {
			return nil // Flox's run/, cache/, log/: not part of the environment
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if rel == ".flox/env/manifest.toml" {
			data = append(data, e2eMotd...)
		}
		if rel == ".flox/env/manifest.lock" { // the lock records motd too, as `flox build` would
			m, _ := os.ReadFile(filepath.Join(example, ".flox", "env", "manifest.toml"))
			data = []byte(testenv.LockFor(t, string(m)+e2eMotd, data))
		}
		r.Write("examples/hello/"+rel, string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Write("README.md", "# widgets\n")
	f.shas["main"] = r.CommitAndPush("widgets with a Flox environment")
	r.Git(r.Work, "tag", "-a", "v1.0.0", "-m", "release 1.0.0")
	r.Git(r.Work, "tag", "v2.0.0")
	r.Git(r.Work, "push", "-q", "origin", "v1.0.0", "v2.0.0")

	// Pull request 7: a branch of the repository.
	r.Git(r.Work, "checkout", "-q", "-b", "feature")
	r.Write("examples/hello/greeting.txt", "Hello from a pull request\n")
	r.Git(r.Work, "commit", "-q", "-am", "change the greeting")
	r.Git(r.Work, "push", "-q", "origin", "feature", "HEAD:refs/pull/7/head")
	f.shas["pr7"] = f.merge(r, "feature", "refs/pull/7/merge")

	// Pull request 8: a fork's commit, on no branch of the repository.
	r.Git(r.Work, "checkout", "-q", "--detach", "main")
	r.Write("examples/hello/greeting.txt", "Hello from a fork\n")
	r.Git(r.Work, "commit", "-q", "-am", "change the greeting in a fork")
	r.Git(r.Work, "push", "-q", "origin", "HEAD:refs/pull/8/head")
	f.shas["pr8"] = f.merge(r, "HEAD", "refs/pull/8/merge")

	f.api = httptest.NewServer(http.HandlerFunc(f.serveAPI))
	t.Cleanup(f.api.Close)
	return f
}

// merge makes GitHub's test merge of head into main and pushes it to ref.
func (f *e2eFixture) merge(r *fixture.Repo, head, ref string) string {
	headSHA := r.Git(r.Work, "rev-parse", head)
	r.Git(r.Work, "checkout", "-q", "--detach", "main")
	r.Git(r.Work, "merge", "-q", "--no-ff", "-m", "Merge "+headSHA+" into main", headSHA)
	r.Git(r.Work, "push", "-q", "origin", "HEAD:"+ref)
	return r.Git(r.Work, "rev-parse", "HEAD")
}

// serveAPI answers GET /repos/acme/widgets/commits/{sha} as GitHub does for
// the action's check that the repository has the commit.
func (f *e2eFixture) serveAPI(w http.ResponseWriter, req *http.Request) {
	if req.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	sha, ok := strings.CutPrefix(req.URL.Path, "/repos/acme/widgets/commits/")
	if !ok || req.Method != http.MethodGet {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	cmd := exec.Command("git", "cat-file", "-e", sha+"^{commit}")
	cmd.Dir = f.remote
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	if cmd.Run() != nil {
		http.Error(w, `{"message":"No commit found for SHA: `+sha+`"}`, http.StatusUnprocessableEntity)
		return
	}
	fmt.Fprint(w, sha)
}

// tripwire is a server nothing may contact: an OIDC token endpoint, an S3
// or STS endpoint that a dry run must leave alone.
type tripwire struct {
	*httptest.Server
	hits atomic.Int32
	mu   sync.Mutex
	reqs []string
}

func newTripwire(t *testing.T) *tripwire {
	tw := &tripwire{}
	tw.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw.hits.Add(1)
		tw.mu.Lock()
		tw.reqs = append(tw.reqs, r.Method+" "+r.URL.String())
		tw.mu.Unlock()
		http.Error(w, "tripwire", http.StatusForbidden)
	}))
	t.Cleanup(tw.Close)
	return tw
}

func (tw *tripwire) check(t *testing.T, what string) {
	t.Helper()
	if tw.hits.Load() > 0 {
		tw.mu.Lock()
		defer tw.mu.Unlock()
		t.Errorf("%s was contacted: %v", what, tw.reqs)
	}
}

// runnerStep is one step of a workflow job that uses the action.
type runnerStep struct {
	event   string            // GITHUB_EVENT_NAME
	ref     string            // GITHUB_REF
	sha     string            // GITHUB_SHA
	with    map[string]string // the step's with:, secrets already resolved
	idToken string            // ACTIONS_ID_TOKEN_REQUEST_URL when the job may mint an OIDC token
	fork    bool
}

// githubEvent is the step's event file (JSON), as GitHub writes it for a
// branch or tag push or a pull request, and the GITHUB_REF_NAME,
// GITHUB_REF_TYPE, GITHUB_HEAD_REF and GITHUB_BASE_REF the runner sets.
func (s runnerStep) githubEvent() (eventJSON []byte, refEnv []string) {
	event := map[string]any{"repository": map[string]any{"full_name": "acme/widgets", "owner": map[string]any{"login": "acme"}}}
	refName, refType, headRef, baseRef := strings.TrimPrefix(strings.TrimPrefix(s.ref, "refs/heads/"), "refs/tags/"), "branch", "", ""
	switch {
	case strings.HasPrefix(s.ref, "refs/tags/"):
		refType = "tag"
		event["ref"] = s.ref
	case strings.HasPrefix(s.ref, "refs/pull/"):
		refName = strings.TrimPrefix(s.ref, "refs/pull/")
		number, _, _ := strings.Cut(refName, "/")
		headRef, baseRef = "feature", "main"
		event["number"] = number
		event["pull_request"] = map[string]any{"number": number, "head": map[string]any{"ref": headRef, "repo": map[string]any{"fork": s.fork}}, "base": map[string]any{"ref": baseRef}}
	default:
		event["ref"] = s.ref
	}
	eventJSON, _ = json.Marshal(event)
	return eventJSON, []string{"GITHUB_REF_NAME=" + refName, "GITHUB_REF_TYPE=" + refType, "GITHUB_HEAD_REF=" + headRef, "GITHUB_BASE_REF=" + baseRef}
}

// runnerResult is what the step left behind.
type runnerResult struct {
	code      int
	log       string // stdout and stderr, ::add-mask:: commands removed (the runner consumes them)
	outputs   map[string]string
	summary   string
	workspace string
}

// checkout makes the workspace as actions/checkout@v4 does with its
// defaults: an empty repository, origin the remote, a depth-1 fetch of the
// event's commit into the ref it names, then a checkout of that ref:
// detached for tags and pull requests, a branch for branch pushes.
func (f *e2eFixture) checkout(t *testing.T, ws string, s runnerStep) {
	t.Helper()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = ws
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("checkout: git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	os.MkdirAll(ws, 0o755)
	git("init", "-q")
	git("remote", "add", "origin", "file://"+f.remote)
	git("config", "--local", "gc.auto", "0")
	var dest, checkout []string
	switch {
	case strings.HasPrefix(s.ref, "refs/heads/"):
		branch := strings.TrimPrefix(s.ref, "refs/heads/")
		dest = []string{"+" + s.sha + ":refs/remotes/origin/" + branch}
		checkout = []string{"-B", branch, "refs/remotes/origin/" + branch}
	case strings.HasPrefix(s.ref, "refs/pull/"):
		dest = []string{"+" + s.sha + ":refs/remotes/pull/" + strings.TrimPrefix(s.ref, "refs/pull/")}
		checkout = []string{"refs/remotes/pull/" + strings.TrimPrefix(s.ref, "refs/pull/")}
	case strings.HasPrefix(s.ref, "refs/tags/"):
		dest = []string{"+" + s.sha + ":" + s.ref}
		checkout = []string{s.ref}
	default:
		t.Fatalf("checkout: ref %q", s.ref)
	}
	git(append([]string{"-c", "protocol.version=2", "fetch", "-q", "--no-tags", "--prune", "--no-recurse-submodules", "--depth=1", "origin"}, dest...)...)
	git(append([]string{"checkout", "-q", "--force"}, checkout...)...)
	if os.Geteuid() == 0 {
		gittest.Chown(t, ws, runnerUID, runnerUID)
	}
}

// inputEnv returns the INPUT_* variables the runner sets for the step:
// every input action.yml declares, with:'s value or else the default, the
// default's expression evaluated.
func (f *e2eFixture) inputEnv(t *testing.T, with map[string]string) []string {
	t.Helper()
	exprs := map[string]string{
		"${{ github.token }}":            f.token,
		"${{ github.repository_owner }}": "acme",
	}
	for k := range with {
		if _, ok := f.action.Inputs[k]; !ok {
			t.Fatalf("the step passes %s, which action.yml does not declare", k)
		}
	}
	// The default upstreams are cache.nixos.org and cache.flox.dev, on
	// the internet: a test never asks them (internal/upstream's tests
	// stand in for them on loopback).
	offline := map[string]string{"upstream-caches": ""}
	var env []string
	for _, name := range f.action.InputOrder {
		v, given := with[name]
		if o, ok := offline[name]; ok && !given {
			v, given = o, true
		}
		if !given {
			v = f.action.Inputs[name].DefaultValue()
			if strings.Contains(v, "${{") {
				var ok bool
				if v, ok = exprs[v]; !ok {
					t.Fatalf("input %s: default %q is an expression this test does not evaluate; add it to inputEnv", name, f.action.Inputs[name].DefaultValue())
				}
			}
		}
		// The runner's rule: upper case, spaces to underscores, hyphens kept.
		env = append(env, "INPUT_"+strings.ToUpper(strings.ReplaceAll(name, " ", "_"))+"="+v)
	}
	return env
}

// run starts the binary for step s in a fresh workspace and returns what
// it left behind.
func (f *e2eFixture) run(t *testing.T, s runnerStep) runnerResult {
	t.Helper()
	tmp := t.TempDir()
	ws := filepath.Join(tmp, "workspace")
	f.checkout(t, ws, s)
	home := filepath.Join(tmp, "home")
	cmdDir := filepath.Join(tmp, "file_commands")
	for _, d := range []string{home, cmdDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{}
	for _, v := range []string{"GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STATE"} {
		files[v] = filepath.Join(cmdDir, strings.ToLower(v))
		os.WriteFile(files[v], nil, 0o644)
	}
	eventJSON, refEnv := s.githubEvent()
	eventPath := filepath.Join(tmp, "event.json")
	os.WriteFile(eventPath, eventJSON, 0o644)

	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		// The image has no /etc/gitconfig; this machine's is not the image's.
		"GIT_CONFIG_NOSYSTEM=1",
		"CI=true",
		"GITHUB_ACTIONS=true",
		"GITHUB_EVENT_NAME=" + s.event,
		"GITHUB_EVENT_PATH=" + eventPath,
		"GITHUB_REF=" + s.ref,
		"GITHUB_SHA=" + s.sha,
		"GITHUB_REPOSITORY=acme/widgets",
		"GITHUB_REPOSITORY_OWNER=acme",
		"GITHUB_REPOSITORY_ID=123456",
		"GITHUB_ACTOR=octocat",
		"GITHUB_SERVER_URL=https://github.com",
		"GITHUB_API_URL=" + f.api.URL,
		"GITHUB_GRAPHQL_URL=" + f.api.URL + "/graphql",
		"GITHUB_WORKSPACE=" + ws,
		"GITHUB_WORKFLOW=Release",
		"GITHUB_JOB=publish",
		"GITHUB_ACTION=publish",
		"GITHUB_RUN_ID=1234567890",
		"GITHUB_RUN_NUMBER=7",
		"GITHUB_RUN_ATTEMPT=1",
		"RUNNER_OS=Linux",
		"RUNNER_ARCH=X64",
		"RUNNER_NAME=GitHub Actions 2",
		// Not mounted into the container: nothing may use it.
		"RUNNER_TEMP=/home/runner/work/_temp",
		"RUNNER_TOOL_CACHE=/opt/hostedtoolcache",
		"ACTIONS_RUNTIME_TOKEN=runtime-token-e2e-secret",
	}
	env = append(env, refEnv...)
	for _, v := range slices.Sorted(maps.Keys(files)) {
		env = append(env, v+"="+files[v])
	}
	if s.idToken != "" {
		env = append(env, "ACTIONS_ID_TOKEN_REQUEST_URL="+s.idToken+"/token?api-version=2.0",
			"ACTIONS_ID_TOKEN_REQUEST_TOKEN=id-token-request-e2e-secret")
	}
	env = append(env, f.inputEnv(t, s.with)...)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.bin) // no arguments, as the runner starts the entrypoint
	cmd.Dir = ws                           // docker run --workdir /github/workspace
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("start %s: %v", f.bin, err)
		}
		code = ee.ExitCode()
	}
	var shown []string
	for _, line := range strings.Split(out.String(), "\n") {
		if !strings.HasPrefix(line, "::add-mask::") {
			shown = append(shown, line)
		}
	}
	summary, _ := os.ReadFile(files["GITHUB_STEP_SUMMARY"])
	res := runnerResult{code: code, log: strings.Join(shown, "\n"), outputs: fixture.Outputs(t, files["GITHUB_OUTPUT"]), summary: string(summary), workspace: ws}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("exit %d; log:\n%s\nsummary:\n%s", res.code, res.log, res.summary)
		}
	})
	for _, secret := range []string{f.token, "id-token-request-e2e-secret", "runtime-token-e2e-secret", s.with["signing-key"]} {
		if secret == "" {
			continue
		}
		if strings.Contains(res.log, secret) || strings.Contains(res.summary, secret) || strings.Contains(fmt.Sprint(res.outputs), secret) {
			t.Errorf("a secret (%.10s…) shows in the log, the summary or the outputs", secret)
		}
	}
	checkWorkspaceOwner(t, ws)
	return res
}

// checkWorkspaceOwner checks that the run left every file of the workspace
// to the runner's user: the next steps and the runner's cleanup run as it.
func checkWorkspaceOwner(t *testing.T, ws string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return // the workspace was not handed to another user
	}
	var rootOwned []string
	filepath.WalkDir(ws, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Uid != runnerUID {
				rel, _ := filepath.Rel(ws, p)
				rootOwned = append(rootOwned, rel)
			}
		}
		return nil
	})
	if len(rootOwned) > 0 {
		t.Errorf("the run left files in the workspace not owned by the runner's user (uid %d): %v", runnerUID, rootOwned)
	}
}

// The names the container test was written with.
var (
	newSecretKey = fixture.NewSecretKey
	outputs      = fixture.Outputs
)

// firstLine is the summary's first line.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// storePaths is the store-paths output, sorted.
func storePaths(o map[string]string) []string {
	var paths []string
	for _, p := range strings.Split(o["store-paths"], "\n") {
		if p != "" {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	return paths
}

var storePathRe = regexp.MustCompile(`^/nix/store/[0-9a-df-np-sv-z]{32}-([a-z]+)-(.+)$`)

// checkPackages checks the store-paths and packages outputs name exactly
// the builds and versions in want, with status.
func checkPackages(t *testing.T, o map[string]string, want map[string]string, status string) {
	t.Helper()
	got := map[string]string{}
	for _, p := range storePaths(o) {
		m := storePathRe.FindStringSubmatch(p)
		if m == nil {
			t.Errorf("store-paths holds %q, not a store path", p)
			continue
		}
		got[m[1]] = m[2]
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("store-paths name %v, want %v:\n%s", got, want, o["store-paths"])
	}
	var pkgs []struct {
		Name, Version, Status string
		StorePaths            []string `json:"store_paths"`
	}
	if err := json.Unmarshal([]byte(o["packages"]), &pkgs); err != nil {
		t.Fatalf("packages output %q: %v", o["packages"], err)
	}
	if len(pkgs) != len(want) {
		t.Errorf("packages output has %d packages, want %d: %s", len(pkgs), len(want), o["packages"])
	}
	for _, p := range pkgs {
		if want[p.Name] != p.Version || p.Status != status || len(p.StorePaths) != 1 {
			t.Errorf("packages output: %s %s %s %v, want version %q and status %s", p.Name, p.Version, p.Status, p.StorePaths, want[p.Name], status)
		}
	}
}

// checkStore reads the file:// binary cache as Nix would: nix-cache-info,
// one signed narinfo per published path, each naming a NAR of the size it
// says, the greeter's NAR holding the example's greeting.
func checkStore(t *testing.T, dir, publicKey string, paths []string) {
	t.Helper()
	if data, err := os.ReadFile(filepath.Join(dir, "nix-cache-info")); err != nil || !strings.Contains(string(data), "StoreDir: /nix/store") {
		t.Errorf("nix-cache-info: %q, %v", data, err)
	}
	pub, err := signature.ParsePublicKey(publicKey)
	if err != nil {
		t.Fatal(err)
	}
	var inStore []string
	for _, file := range fixture.NarInfos(t, dir) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		ni, err := narinfo.Parse(bytes.NewReader(data))
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(file), err)
			continue
		}
		inStore = append(inStore, ni.StorePath)
		if !signature.VerifyFirst(ni.Fingerprint(), ni.Signatures, []signature.PublicKey{pub}) {
			t.Errorf("%s is not signed by %s", filepath.Base(file), pub.Name)
		}
		nar, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(ni.URL)))
		if err != nil {
			t.Errorf("%s: its NAR: %v", filepath.Base(file), err)
			continue
		}
		if uint64(len(nar)) != ni.FileSize {
			t.Errorf("%s: NAR of %d bytes, the narinfo says %d", ni.URL, len(nar), ni.FileSize)
		}
		if strings.Contains(ni.StorePath, "-greeter-") {
			zr, err := zstd.NewReader(bytes.NewReader(nar))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(zr)
			zr.Close()
			if err != nil {
				t.Errorf("%s: %v", ni.URL, err)
			}
			if !bytes.Contains(plain, []byte("Hello from a package published by flox-publish")) {
				t.Errorf("the greeter's NAR lacks the example's greeting")
			}
		}
	}
	sort.Strings(inStore)
	if !slices.Equal(inStore, paths) {
		t.Errorf("the store holds narinfos for %v, the store-paths output says %v", inStore, paths)
	}
}

func TestEndToEndAsTheRunnerStartsIt(t *testing.T) {
	testenv.Slow(t)
	f := newE2EFixture(t)
	secret, public := fixture.NewSecretKey(t)

	t.Run("version tag publishes", func(t *testing.T) {
		t.Parallel()
		cache := filepath.Join(t.TempDir(), "cache")
		oidc := newTripwire(t)
		r := f.run(t, runnerStep{event: "push", ref: "refs/tags/v1.0.0", sha: f.shas["main"], idToken: oidc.URL, with: map[string]string{
			"dir": "examples/hello", "store-url": "file://" + cache, "signing-key": secret, "builder": "local",
		}})
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		if got, want := firstLine(r.summary), "### Publishing: tag v1.0.0 was pushed."; got != want {
			t.Errorf("summary starts %q, want %q", got, want)
		}
		if r.outputs["dry-run"] != "false" {
			t.Errorf("dry-run output %q", r.outputs["dry-run"])
		}
		// motd sets no version: it takes the tag's.
		checkPackages(t, r.outputs, map[string]string{"greeter": "1.0.0", "motd": "1.0.0"}, "uploaded")
		checkStore(t, cache, public, storePaths(r.outputs))
		if !strings.Contains(r.summary, public) {
			t.Error("the summary does not give the public key to trust")
		}
		oidc.check(t, "the OIDC token endpoint (a file:// store needs no credentials)")
	})

	t.Run("mismatched version tag fails before building", func(t *testing.T) {
		t.Parallel()
		cache := filepath.Join(t.TempDir(), "cache")
		r := f.run(t, runnerStep{event: "push", ref: "refs/tags/v2.0.0", sha: f.shas["main"], with: map[string]string{
			"dir": "examples/hello", "store-url": "file://" + cache, "signing-key": secret, "builder": "local",
		}})
		if r.code != 1 {
			t.Fatalf("exit %d, want 1", r.code)
		}
		for _, want := range []string{"::error", `build "greeter" has version 1.0.0`, "v2.0.0", "check-version: false"} {
			if !strings.Contains(r.log, want) {
				t.Errorf("the log lacks %q", want)
			}
		}
		if strings.Contains(r.log, `build "motd"`) {
			t.Error("the error names motd, which sets no version and takes the tag's")
		}
		fixture.CheckFailureSummary(t, r.summary, "build", `build "greeter" has version 1.0.0`, "v2.0.0")
		if strings.Contains(r.log, "::group::Build") {
			t.Error("a build ran before the version check failed")
		}
		if len(r.outputs) != 0 {
			t.Errorf("a failed run set outputs: %v", r.outputs)
		}
		if _, err := os.Stat(cache); !os.IsNotExist(err) {
			t.Errorf("the failed run touched the store: %v", err)
		}
	})

	t.Run("branch push publishes", func(t *testing.T) {
		t.Parallel()
		cache := filepath.Join(t.TempDir(), "cache")
		r := f.run(t, runnerStep{event: "push", ref: "refs/heads/main", sha: f.shas["main"], with: map[string]string{
			"dir": "examples/hello", "store-url": "file://" + cache, "signing-key": secret, "builder": "local",
		}})
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		if got, want := firstLine(r.summary), "### Publishing: branch main was pushed."; got != want {
			t.Errorf("summary starts %q, want %q", got, want)
		}
		if r.outputs["dry-run"] != "false" {
			t.Errorf("dry-run output %q", r.outputs["dry-run"])
		}
		checkPackages(t, r.outputs, map[string]string{"greeter": "1.0.0", "motd": "0.0.0"}, "uploaded")
		checkStore(t, cache, public, storePaths(r.outputs))
	})

	t.Run("pull request with dry-run false is a dry run", func(t *testing.T) {
		t.Parallel()
		cache := filepath.Join(t.TempDir(), "cache")
		oidc := newTripwire(t)
		r := f.run(t, runnerStep{event: "pull_request", ref: "refs/pull/7/merge", sha: f.shas["pr7"], idToken: oidc.URL, with: map[string]string{
			"dir": "examples/hello", "store-url": "file://" + cache, "signing-key": secret, "builder": "local", "dry-run": "false",
		}})
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		want := "### Dry run: a pull_request event validates the change without publishing (dry-run: false does not apply to pull requests)."
		if got := firstLine(r.summary); got != want {
			t.Errorf("summary starts %q, want %q", got, want)
		}
		if r.outputs["dry-run"] != "true" {
			t.Errorf("dry-run output %q", r.outputs["dry-run"])
		}
		checkPackages(t, r.outputs, map[string]string{"greeter": "1.0.0", "motd": "0.0.0"}, "would-upload")
		if _, err := os.Stat(cache); !os.IsNotExist(err) {
			t.Errorf("a pull request's run touched the store: %v", err)
		}
		// Pull-request events never read secrets: the signing key given
		// signs nothing, so its public half is nowhere.
		if strings.Contains(r.summary, public) || strings.Contains(r.log, public) {
			t.Error("a pull request's run used the signing key")
		}
		oidc.check(t, "the OIDC token endpoint")
	})

	t.Run("fork pull request without secrets passes", func(t *testing.T) {
		t.Parallel()
		// The fork's workflow is the release's: an S3 store and an AWS
		// role, but the secret resolves to "" and there is no OIDC token.
		s3 := newTripwire(t)
		r := f.run(t, runnerStep{event: "pull_request", ref: "refs/pull/8/merge", sha: f.shas["pr8"], fork: true, with: map[string]string{
			"dir":            "examples/hello",
			"store-url":      "s3://my-nix-cache?region=eu-west-1&endpoint=" + s3.URL,
			"sts-endpoint":   s3.URL,
			"role-to-assume": "arn:aws:iam::123456789012:role/flox-publish",
			"signing-key":    "",
			"builder":        "local",
		}})
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		if got, want := firstLine(r.summary), "### Dry run: a pull_request event validates the change without publishing."; got != want {
			t.Errorf("summary starts %q, want %q", got, want)
		}
		if r.outputs["dry-run"] != "true" {
			t.Errorf("dry-run output %q", r.outputs["dry-run"])
		}
		if strings.Contains(r.log, "::error") {
			t.Error("the run reported an error")
		}
		checkPackages(t, r.outputs, map[string]string{"greeter": "1.0.0", "motd": "0.0.0"}, "would-upload")
		s3.check(t, "the S3 or STS endpoint")
	})
}
