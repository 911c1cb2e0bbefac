package test

// The container test: the action's image, built from the project's own
// Dockerfile in a real Docker engine (testenv.ActionImage: the release's
// lines, with FLOX_FROM=standin putting Debian's Nix and the project's flox
// stand-in in place of the Flox .deb, which cannot be downloaded here), run
// with `docker run` exactly as actions/runner builds the command
// (testenv.Docker.RunArgs): --name, --label, --workdir /github/workspace,
// --rm, one -e NAME per variable, the docker socket and the runner's
// directories bound under /github, the workspace owned by uid 1001; no
// --init, no --privileged. The action is PID 1, root, with Docker's default
// capabilities and seccomp profile. Two things differ from a hosted
// runner: the network is the host's (the engine here has no bridge; the
// test servers listen on 127.0.0.1), and the fixture's bare remote, which
// stands for github.com, is bound read-only at its own path.
//
// The engine is the README's test command's (scripts/docker.sh).

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flox-publish/publish-action/internal/git/gittest"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// floxStandinDependency makes every output of the flox stand-in refer to a
// derivation it builds first (the container's store starts empty), so the
// closures the action publishes have a reference.
const floxStandinDependency = "FLOX_STANDIN_DEPENDENCY=container-test"

// containerRun is one step run in the container, as the runner runs it.
type containerRun struct {
	step  runnerStep
	extra []string          // more environment (what a workflow's env: adds)
	files map[string]string // files in the runner's temp directory (RUNNER_TEMP)
	// signal, when set, is called once the log has a line for which
	// signalAt is true, with the docker client's process and the
	// container's name.
	signalAt func(line string) bool
	signal   func(client *os.Process, name string)
}

// containerResult is what the step left, and what the client printed on
// each stream.
type containerResult struct {
	runnerResult
	stdout, stderr string
	name           string
	signalled      time.Time // when signal was called
	exited         time.Time
}

// container is the image and the engine that runs it.
type container struct {
	d     *testenv.Docker
	image string
}

func newContainer(t *testing.T) *container {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "container test: needs root (a Docker engine of its own, a workspace owned by uid %d)", runnerUID)
	}
	d := testenv.DockerEngine(t)
	return &container{d: d, image: testenv.ActionImage(t, d)}
}

// run checks out the step's commit into a fresh workspace owned by uid
// 1001, lays out the runner's directories and runs the image on them.
func (c *container) run(t *testing.T, f *e2eFixture, r containerRun) containerResult {
	t.Helper()
	tmp := t.TempDir()
	rc := testenv.RunnerContainer{Image: c.image, Network: "host", Workspace: filepath.Join(tmp, "workspace"),
		Binds: []string{f.remote + ":" + f.remote + ":ro"}}
	if err := testenv.RunnerDirs(tmp, &rc); err != nil {
		t.Fatal(err)
	}
	f.checkout(t, rc.Workspace, r.step)
	for name, content := range r.files {
		p := filepath.Join(rc.Temp, name)
		os.WriteFile(p, []byte(content), 0o600)
		os.Chown(p, runnerUID, runnerUID)
	}
	cmdFiles := map[string]string{}
	for _, v := range []string{"GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STATE"} {
		cmdFiles[v] = strings.ToLower(v)
		os.WriteFile(filepath.Join(rc.FileCommands, cmdFiles[v]), nil, 0o644)
	}
	s := r.step
	eventJSON, refEnv := s.githubEvent()
	os.WriteFile(filepath.Join(rc.Workflow, "event.json"), eventJSON, 0o644)

	// What the runner passes, host paths rewritten to the container's.
	env := []string{
		"HOME=/github/home",
		"GITHUB_EVENT_NAME=" + s.event, "GITHUB_EVENT_PATH=/github/workflow/event.json",
		"GITHUB_REF=" + s.ref, "GITHUB_SHA=" + s.sha,
		"GITHUB_REPOSITORY=acme/widgets", "GITHUB_REPOSITORY_OWNER=acme", "GITHUB_ACTOR=octocat",
		"GITHUB_SERVER_URL=https://github.com", "GITHUB_API_URL=" + f.api.URL,
		"GITHUB_WORKSPACE=/github/workspace", "GITHUB_RUN_ID=1234567890", "GITHUB_RUN_ATTEMPT=1",
		"RUNNER_OS=Linux", "RUNNER_ARCH=X64", "RUNNER_TEMP=/github/runner_temp",
		"ACTIONS_RUNTIME_TOKEN=runtime-token-e2e-secret", "ACTIONS_RUNTIME_URL=https://pipelines.example/",
		"ACTIONS_ID_TOKEN_REQUEST_URL=https://token.example/token?api-version=2.0",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN=id-token-request-e2e-secret",
		// Nix in the image asks cache.nixos.org and cache.flox.dev for
		// every derivation it builds, which cannot be reached here (about
		// 10 s of retries a build). The image's nix.conf stays as released;
		// the daemon reads it through a file of the step's that drops the
		// substituters (a workflow's env: can do the same).
		"NIX_CONF_DIR=/github/runner_temp/nix",
	}
	os.MkdirAll(filepath.Join(rc.Temp, "nix"), 0o755)
	os.WriteFile(filepath.Join(rc.Temp, "nix", "nix.conf"), []byte("include /etc/nix/nix.conf\nsubstituters =\n"), 0o644)
	env = append(env, refEnv...)
	for _, v := range slices.Sorted(maps.Keys(cmdFiles)) {
		env = append(env, v+"=/github/file_commands/"+cmdFiles[v])
	}
	env = append(env, f.inputEnv(t, s.with)...)
	for _, kv := range r.extra { // replaces what is set already
		k, _, _ := strings.Cut(kv, "=")
		env = slices.DeleteFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
		env = append(env, kv)
	}
	rc.Env = env
	gittest.Chown(t, rc.Temp, runnerUID, runnerUID)

	res := c.start(t, rc, r)
	res.workspace = rc.Workspace
	var shown []string
	for _, line := range strings.Split(res.stdout+res.stderr, "\n") {
		if !strings.HasPrefix(line, "::add-mask::") {
			shown = append(shown, line)
		}
	}
	res.log = strings.Join(shown, "\n")
	summary, _ := os.ReadFile(filepath.Join(rc.FileCommands, "github_step_summary"))
	res.summary = string(summary)
	res.outputs = outputs(t, filepath.Join(rc.FileCommands, "github_output"))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("exit %d; stdout:\n%s\nstderr:\n%s\nsummary:\n%s", res.code, res.stdout, res.stderr, res.summary)
		}
	})
	for _, secret := range []string{f.token, "id-token-request-e2e-secret", "runtime-token-e2e-secret", s.with["signing-key"]} {
		if secret != "" && (strings.Contains(res.log, secret) || strings.Contains(res.summary, secret) || strings.Contains(fmt.Sprint(res.outputs), secret)) {
			t.Errorf("a secret (%.10s…) shows in the log, the summary or the outputs", secret)
		}
	}
	checkWorkspaceOwner(t, rc.Workspace)
	return res
}

// start runs `docker run` for rc and waits for it (10 minutes at most),
// calling r.signal when r.signalAt matches a line of its output.
func (c *container) start(t *testing.T, rc testenv.RunnerContainer, r containerRun) containerResult {
	t.Helper()
	args, env := c.d.RunArgs(rc)
	res := containerResult{name: args[2]}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.d.Bin, args...)
	cmd.Env = env
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := cmd.Start(); err != nil {
		t.Fatalf("docker run: %v", err)
	}
	outW.Close()
	errW.Close()
	// The container outlives a client that is killed: remove it whatever
	// happens (a no-op once --rm has).
	t.Cleanup(func() { c.d.Command(context.Background(), "rm", "-f", res.name).Run() })

	var (
		mu         sync.Mutex
		stdout     strings.Builder
		stderr     strings.Builder
		once       sync.Once
		signalling bool
		signalDone = make(chan struct{})
		wg         sync.WaitGroup
	)
	read := func(rd io.Reader, into *strings.Builder) {
		defer wg.Done()
		sc := bufio.NewScanner(rd)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			into.WriteString(line + "\n")
			mu.Unlock()
			if r.signalAt != nil && r.signalAt(line) {
				once.Do(func() {
					mu.Lock()
					signalling = true
					mu.Unlock()
					go func() {
						defer close(signalDone)
						mu.Lock()
						res.signalled = time.Now()
						mu.Unlock()
						r.signal(cmd.Process, res.name)
					}()
				})
			}
		}
	}
	wg.Add(2)
	go read(outR, &stdout)
	go read(errR, &stderr)
	err := cmd.Wait()
	res.exited = time.Now()
	wg.Wait()
	if signalling {
		<-signalDone
	}
	res.stdout, res.stderr = stdout.String(), stderr.String()
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("docker run: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("docker run did not end within 10 minutes")
	}
	return res
}

// nixInstall installs paths from a file:// cache with real Nix (Debian's,
// on the host), trusting only pub, into a fresh store, and returns its root.
func nixInstall(t *testing.T, cache, pub string, paths ...string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	cmd := exec.Command("nix", append([]string{"copy", "--from", "file://" + cache, "--to", root,
		"--option", "trusted-public-keys", pub, "--option", "require-sigs", "true"}, paths...)...)
	cmd.Env = testenv.NixEnv(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nix copy from %s: %v\n%s", cache, err, out)
	}
	return root
}

// checkReference checks that real Nix installed, with the output at path
// (under root), the path the stand-in made it refer to.
func checkReference(t *testing.T, root, path string) {
	t.Helper()
	ref, err := os.ReadFile(filepath.Join(root, path, ".flox-standin-reference"))
	if err != nil {
		t.Fatalf("the output has no reference: %v", err)
	}
	dep := strings.TrimSpace(string(ref))
	if !strings.Contains(dep, "-flox-standin-dependency") {
		t.Fatalf("the output refers to %q", dep)
	}
	if data, err := os.ReadFile(filepath.Join(root, dep)); err != nil || !strings.Contains(string(data), "container-test") {
		t.Errorf("real Nix did not install the outputs' reference %s with them: %q, %v", dep, data, err)
	}
}

// processesMatching lists the processes of this machine whose command line
// holds marker: what a container left running outlives it here too.
func processesMatching(marker string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && bytes.Contains(cmdline, []byte(marker)) {
			found = append(found, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return found
}

func TestContainer(t *testing.T) {
	c := newContainer(t)
	testenv.RequireTool(t, "nix")
	f := newE2EFixture(t)
	sec, pub := newSecretKey(t)

	t.Run("pull request dry run", func(t *testing.T) {
		res := c.run(t, f, containerRun{
			step: runnerStep{event: "pull_request", ref: "refs/pull/7/merge", sha: f.shas["pr7"], with: map[string]string{
				"dir": "examples/hello", "builder": "flox",
			}},
			extra: []string{floxStandinDependency},
		})
		if res.code != 0 || res.outputs["dry-run"] != "true" {
			t.Fatalf("exit %d, dry-run %q", res.code, res.outputs["dry-run"])
		}
		if len(storePaths(res.outputs)) != 2 {
			t.Errorf("store-paths: %q", res.outputs["store-paths"])
		}
	})

	t.Run("tag release with the flox builder to file://", func(t *testing.T) {
		res := c.run(t, f, containerRun{
			step: runnerStep{event: "push", ref: "refs/tags/v1.0.0", sha: f.shas["main"], with: map[string]string{
				"dir": "examples/hello", "builder": "flox", "signing-key": sec,
				"store-url": "file:///github/workspace/_cache",
			}},
			extra: []string{floxStandinDependency},
		})
		if res.code != 0 {
			t.Fatalf("exit %d", res.code)
		}
		// The stand-in names outputs with literal versions only (the
		// example's come from a file), so only the count is checked here;
		// e2e_test.go checks names and versions with the local builder.
		paths := storePaths(res.outputs)
		if len(paths) != 2 || strings.Count(res.outputs["packages"], `"uploaded"`) != 2 {
			t.Fatalf("store-paths %q, packages %s: want two uploaded packages", res.outputs["store-paths"], res.outputs["packages"])
		}
		root := nixInstall(t, filepath.Join(res.workspace, "_cache"), pub, paths...)
		checkReference(t, root, paths[0])
		if !strings.Contains(res.summary, "builds run as uid") {
			t.Errorf("the summary does not say whom the builds run as")
		}
		// The workflow commands are on the client's stdout, where the
		// runner reads them: each secret masked before anything else is
		// printed, the stages in groups.
		mask := strings.Index(res.stdout, "::add-mask::")
		group := strings.Index(res.stdout, "::group::")
		if mask < 0 || group < 0 || mask > group {
			t.Errorf("stdout has no ::add-mask:: before its first ::group:: (at %d, %d)", mask, group)
		}
		for _, want := range []string{"::group::Build greeter", "::endgroup::"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("stdout lacks %q", want)
			}
		}
		if strings.Contains(res.stderr, "::add-mask::") || strings.Contains(res.stderr, "::group::") {
			t.Errorf("workflow commands on stderr:\n%s", res.stderr)
		}
	})

	t.Run("tag release with the local builder to file://", func(t *testing.T) {
		res := c.run(t, f, containerRun{
			step: runnerStep{event: "push", ref: "refs/tags/v1.0.0", sha: f.shas["main"], with: map[string]string{
				"dir": "examples/hello", "builder": "local", "signing-key": sec,
				"store-url": "file:///github/workspace/_cache",
			}},
		})
		if res.code != 0 {
			t.Fatalf("exit %d", res.code)
		}
		checkPackages(t, res.outputs, map[string]string{"greeter": "1.0.0", "motd": "1.0.0"}, "uploaded")
		cache := filepath.Join(res.workspace, "_cache")
		checkStore(t, cache, pub, storePaths(res.outputs))
		root := nixInstall(t, cache, pub, storePaths(res.outputs)...)
		for _, p := range storePaths(res.outputs) {
			if strings.Contains(p, "-greeter-") {
				if _, err := os.Stat(filepath.Join(root, p, "bin", "greeter")); err != nil {
					t.Errorf("real Nix did not install the greeter: %v", err)
				}
			}
		}
	})

	t.Run("tag release with the flox builder to MinIO with OIDC credentials", func(t *testing.T) {
		issuer := testenv.StartOIDCIssuerStandIn(t)
		m := testenv.StartMinIO(t, testenv.MinIOOptions{OpenIDConfigURL: issuer.ConfigURL()})
		bucket := m.CreateBucket(t)
		m.AllowAnonymousRead(t, bucket)
		ep := issuer.Endpoint(testenv.TokenOptions{Subject: "repo:acme/widgets:ref:refs/tags/v1.0.0"})
		res := c.run(t, f, containerRun{
			step: runnerStep{event: "push", ref: "refs/tags/v1.0.0", sha: f.shas["main"], with: map[string]string{
				"dir": "examples/hello", "builder": "flox", "signing-key": sec,
				"store-url":      "s3://" + bucket + "/releases?endpoint=" + m.Endpoint + "&region=us-east-1",
				"role-to-assume": m.RoleARN, "sts-endpoint": m.Endpoint,
			}},
			extra: []string{floxStandinDependency,
				"ACTIONS_ID_TOKEN_REQUEST_URL=" + ep.URL, "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + ep.RequestToken},
		})
		if res.code != 0 {
			t.Fatalf("exit %d\n--- minio log:\n%s", res.code, m.Log())
		}
		for _, tok := range ep.Tokens() {
			if strings.Contains(res.log, tok) {
				t.Error("the OIDC token shows in the log")
			}
		}
		// Real Nix installs the closure, reference included, over http.
		root := filepath.Join(t.TempDir(), "root")
		paths := storePaths(res.outputs)
		cmd := exec.Command("nix", append([]string{"copy", "--from", m.Endpoint + "/" + bucket + "/releases", "--to", root,
			"--option", "trusted-public-keys", pub, "--option", "require-sigs", "true"}, paths...)...)
		cmd.Env = testenv.NixEnv(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nix copy from the bucket: %v\n%s", err, out)
		}
		checkReference(t, root, paths[0])
	})

	hostile := pushHostile(t, f)

	t.Run("hostile build", func(t *testing.T) {
		res := c.run(t, f, containerRun{
			step: runnerStep{event: "push", ref: "refs/heads/hostile", sha: hostile, with: map[string]string{
				"dir": "examples/hello", "builder": "local", "packages": "hostile slow",
				"signing-key-file": "/github/runner_temp/key.sec", "compression": "none",
				"store-url": "file:///github/workspace/_cache",
			}},
			files: map[string]string{"key.sec": sec},
			extra: []string{"AWS_ACCESS_KEY_ID=AKIAE2E", "AWS_SECRET_ACCESS_KEY=aws-secret-e2e-value"},
		})
		if res.code != 0 {
			t.Fatalf("exit %d", res.code)
		}
		_, keyData, _ := strings.Cut(sec, ":")
		secrets := map[string]string{
			"signing key": keyData, "signing key (first half)": keyData[:len(keyData)/2], "signing key (second half)": keyData[len(keyData)/2:],
			"GitHub token": f.token, "runtime token": "runtime-token-e2e-secret",
			"OIDC request token": "id-token-request-e2e-secret", "AWS secret": "aws-secret-e2e-value",
		}
		var published bytes.Buffer
		filepath.WalkDir(filepath.Join(res.workspace, "_cache"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				b, _ := os.ReadFile(p)
				published.Write(b)
			}
			return nil
		})
		if !bytes.Contains(published.Bytes(), []byte("hostile-ran")) {
			t.Fatal("the hostile build's output is not in the cache: the test did not test anything")
		}
		// Each attack was made, and refused.
		for _, refused := range []string{
			"/proc/1/environ: Permission denied", "/proc/1/mem': Permission denied", "/proc/1/cwd/': Permission denied",
			"/github/runner_temp/key.sec: Permission denied", "/github/workspace/pwned: Permission denied",
			"../../.git/config: Permission denied", "../../.git/pwned': Permission denied",
			"/var/run/docker.sock: Permission denied",
		} {
			if !bytes.Contains(published.Bytes(), []byte(refused)) {
				t.Errorf("the hostile build's log lacks %q", refused)
			}
		}
		for what, s := range secrets {
			for where, text := range map[string]string{"the published cache": published.String(), "the log": res.log, "the summary": res.summary, "the outputs": fmt.Sprint(res.outputs)} {
				if strings.Contains(text, s) {
					t.Errorf("the %s is in %s", what, where)
				}
			}
		}
		filepath.WalkDir(res.workspace, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.Contains(d.Name(), "pwned") {
				t.Errorf("the build wrote %s into the workspace", p)
			}
			return nil
		})
		if cfg, _ := os.ReadFile(filepath.Join(res.workspace, ".git", "config")); strings.Contains(string(cfg), "pwned") {
			t.Error("the build wrote into the workspace's .git/config")
		}
		// What the builds saw of their processes and of the image, read
		// from their outputs as real Nix installs them.
		root := nixInstall(t, filepath.Join(res.workspace, "_cache"), pub, storePaths(res.outputs)...)
		out := map[string]string{}
		for _, p := range storePaths(res.outputs) {
			m := storePathRe.FindStringSubmatch(p)
			if m != nil {
				out[m[1]] = filepath.Join(root, p)
			}
		}
		checkPrivileges(t, out["hostile"])
		if data, err := os.ReadFile(filepath.Join(out["slow"], "zombies")); err != nil || len(bytes.TrimSpace(data)) > 0 {
			t.Errorf("zombie processes in the container during the next build (the orphans of the first were not reaped): %q, %v", data, err)
		}
		if _, err := os.Stat(filepath.Join(out["slow"], "survived")); err == nil {
			t.Error("a process the hostile build started outlived it")
		}
	})

	t.Run("hostile build through the Nix daemon", func(t *testing.T) {
		res := c.run(t, f, containerRun{
			step: runnerStep{event: "push", ref: "refs/heads/hostile", sha: hostile, with: map[string]string{
				"dir": "examples/hello", "builder": "flox", "packages": "privileges", "signing-key": sec,
				"store-url": "file:///github/workspace/_cache",
			}},
		})
		if res.code != 0 {
			t.Fatalf("exit %d", res.code)
		}
		paths := storePaths(res.outputs)
		if len(paths) != 1 {
			t.Fatalf("store-paths %q", res.outputs["store-paths"])
		}
		root := nixInstall(t, filepath.Join(res.workspace, "_cache"), pub, paths...)
		checkPrivileges(t, filepath.Join(root, paths[0]))
	})

	// A long build, cancelled as `docker stop` and as the runner do.
	long := func(t *testing.T, signal func(client *os.Process, name string)) containerResult {
		res := c.run(t, f, containerRun{
			step: runnerStep{event: "push", ref: "refs/heads/hostile", sha: hostile, with: map[string]string{
				"dir": "examples/hello", "builder": "local", "packages": "long", "signing-key": sec,
				"store-url": "file:///github/workspace/_cache",
			}},
			signalAt: func(line string) bool { return strings.HasPrefix(line, "long-started") },
			signal:   signal,
		})
		if res.signalled.IsZero() {
			t.Fatalf("the long build never started (exit %d)", res.code)
		}
		if left := processesMatching("sleep 3600"); len(left) > 0 {
			t.Errorf("processes of the build outlived the container: %v", left)
		}
		if out, _ := c.d.Output(context.Background(), "ps", "-aq", "--filter", "name="+res.name); strings.TrimSpace(out) != "" {
			t.Errorf("the container %s is still there: %s", res.name, out)
		}
		if strings.Contains(res.log, "long-finished") {
			t.Error("the long build ran to its end")
		}
		return res
	}

	t.Run("docker stop during a build", func(t *testing.T) {
		var stopped time.Duration
		res := long(t, func(_ *os.Process, name string) {
			start := time.Now()
			// SIGTERM to PID 1, then SIGKILL after 10 s.
			if out, err := c.d.Command(context.Background(), "stop", name).CombinedOutput(); err != nil {
				t.Errorf("docker stop: %v\n%s", err, out)
			}
			stopped = time.Since(start)
		})
		if res.code != 128+int(syscall.SIGTERM) {
			t.Errorf("exit %d, want %d: the action did not end by itself after SIGTERM (137 is docker's SIGKILL, 10 s later)", res.code, 128+int(syscall.SIGTERM))
		}
		if stopped > 10*time.Second {
			t.Errorf("docker stop took %s: the action outlived SIGTERM's 10 s", stopped)
		}
		checkCancelled(t, res, "SIGTERM")
		t.Logf("docker stop returned after %s", stopped.Round(time.Millisecond))
	})

	t.Run("the runner cancels the job during a build", func(t *testing.T) {
		res := long(t, func(client *os.Process, _ string) {
			// The runner's cancel: SIGINT to the docker client (which passes
			// it to the container), then SIGTERM 7.5 s later.
			client.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for range 75 {
					if client.Signal(syscall.Signal(0)) != nil {
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
				client.Signal(syscall.SIGTERM)
			}()
			<-done
		})
		if res.code != 128+int(syscall.SIGINT) {
			t.Errorf("exit %d, want %d", res.code, 128+int(syscall.SIGINT))
		}
		if took := res.exited.Sub(res.signalled); took > 7500*time.Millisecond {
			t.Errorf("the run took %s after SIGINT: the runner's SIGTERM came first", took)
		}
		checkCancelled(t, res, "SIGINT")
	})
}

// TestImageLegacyBuilder builds the Dockerfile with the legacy builder
// (DOCKER_BUILDKIT=0: Docker 20.10's default, still some self-hosted
// runners'), which sets no BUILDPLATFORM and builds every stage, and runs
// the image it made.
func TestImageLegacyBuilder(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "container test: needs root (a Docker engine of its own)")
	}
	d := testenv.DockerEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tag := "flox-publish-test/action:legacy-" + testenv.RandomHex(6)
	if log, err := d.BuildImage(ctx, testenv.ProjectRoot(t), tag, testenv.Legacy); err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	t.Cleanup(func() { d.Command(context.Background(), "image", "rm", "-f", tag).Run() })
	out, err := d.Output(ctx, "run", "--rm", "--network", "none", tag, "--help")
	if err != nil || !strings.Contains(out, "Usage: flox-publish") {
		t.Errorf("the image's --help: %q, %v", out, err)
	}
}

// checkCancelled checks a run cancelled by sig during the build: one error
// line, the summary saying so.
func checkCancelled(t *testing.T, res containerResult, sig string) {
	t.Helper()
	want := "::error::Cancelled by " + sig + " during the build stage"
	if !strings.Contains(res.stdout, want) {
		t.Errorf("stdout lacks %q", want)
	}
	if !strings.HasPrefix(res.summary, "### Cancelled by "+sig+" during the build stage") {
		t.Errorf("the job summary is not a cancelled run's:\n%s", res.summary)
	}
}

// checkPrivileges reads what a build wrote of its privileges (see
// privilegesProbe): no_new_privs on itself and on every process of its
// user, and no setuid or setgid program it could run.
func checkPrivileges(t *testing.T, out string) {
	t.Helper()
	self, err := os.ReadFile(filepath.Join(out, "nnp-self"))
	if err != nil || strings.TrimSpace(string(self)) != "NoNewPrivs:\t1" {
		t.Errorf("the build's own NoNewPrivs: %q, %v", self, err)
	}
	all, _ := os.ReadFile(filepath.Join(out, "nnp-all"))
	lines := strings.Split(strings.TrimSpace(string(all)), "\n")
	if len(lines) < 2 {
		t.Errorf("the build saw %d processes of its user: %q", len(lines), all)
	}
	for _, l := range lines {
		if !strings.HasSuffix(l, "NoNewPrivs:\t1") {
			t.Errorf("a process of the build without no_new_privs: %q", l)
		}
	}
	if suid, err := os.ReadFile(filepath.Join(out, "setuid")); err != nil || len(bytes.TrimSpace(suid)) > 0 {
		t.Errorf("setuid or setgid programs a build can run: %q, %v", suid, err)
	}
}

// privilegesProbe writes what a build can see of its privileges into $out:
// its own NoNewPrivs, that of every process of its user (the shell, the
// command, a background process), and the setuid and setgid files of the
// image it can reach.
const privilegesProbe = `
  mkdir -p $out
  sleep 30 & bg=$!
  grep NoNewPrivs /proc/self/status > $out/nnp-self
  for p in /proc/[0-9]*; do
    if [ -O "$p" ]; then grep -H NoNewPrivs "$p/status" 2>/dev/null || true; fi
  done > $out/nnp-all
  find / -xdev -type f -perm /6000 > $out/setuid 2>/dev/null || true
  kill $bg
`

// hostileBuild attacks the action from a build, as issue 11 found one
// could: reading the parent's (and PID 1's) environment, command line and
// memory, the key file, writing into the workspace, the clean clone's
// .git, reaching the Docker daemon through the socket the runner binds,
// running setuid programs, and leaving processes behind: one that acts
// later (while the next build, slow, runs) and double-forked ones whose
// parent exits, which become PID 1's. What it reads ends up in $out, which
// the action publishes; slow records the zombies it sees.
const hostileBuild = `
[build.hostile]
version = "6.6.6"
command = '''
  exec 2>>$out/errors
  echo hostile-ran > $out/marker
  for p in $PPID 1; do
    for f in environ cmdline maps; do cat /proc/$p/$f > $out/$f-$p || true; done
    dd if=/proc/$p/mem bs=4096 skip=1024 count=16 of=$out/mem-$p || true
    ls -la /proc/$p/cwd/ > $out/cwd-$p || true
    echo pwned > /proc/$p/cwd/pwned-cwd || true
  done
  tr '\0' '\n' < /proc/$PPID/cmdline > $out/args || true
  cat /github/runner_temp/key.sec > $out/key || true
  env > $out/env
  echo pwned > /github/workspace/pwned || true
  echo pwned >> /github/workspace/.git/config || true
  echo pwned >> ../../.git/config || true
  touch ../../.git/pwned || true
  : <> /var/run/docker.sock || true
` + privilegesProbe + `
  setsid sh -c 'sleep 2; touch /tmp/hostile-survived' > /dev/null 2>&1 < /dev/null &
  for i in 1 2 3 4 5; do (sleep 300 > /dev/null 2>&1 < /dev/null &); done
'''

[build.slow]
version = "1.0.0"
command = '''
  mkdir -p $out
  sleep 4
  for s in /proc/[0-9]*/stat; do
    read -r line < "$s" || continue
    set -- ${line##*) }
    if [ "$1" = Z ]; then echo "${line%%) *}) ppid $2"; fi
  done > $out/zombies
  if [ -e /tmp/hostile-survived ]; then echo yes > $out/survived; fi
  echo slow > $out/slow
'''

[build.privileges]
version = "1.0.0"
command = '''
` + privilegesProbe + `
'''

[build.long]
version = "1.0.0"
command = '''
  (sleep 3600 > /dev/null 2>&1 < /dev/null &)
  echo long-started
  sleep 3600
  echo long-finished
'''
`

// pushHostile pushes a commit adding the hostile builds to branch hostile
// of the fixture's remote.
func pushHostile(t *testing.T, f *e2eFixture) string {
	t.Helper()
	env := gittest.Env(t)
	work := filepath.Join(t.TempDir(), "work")
	gittest.Git(t, env, "", "clone", "-q", f.remote, work)
	manifest := filepath.Join(work, "examples", "hello", ".flox", "env", "manifest.toml")
	data, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	edited := string(data) + hostileBuild
	os.WriteFile(manifest, []byte(edited), 0o644)
	// Locked again, as flox build would: builds are published from the lock.
	lockFile := filepath.Join(filepath.Dir(manifest), "manifest.lock")
	lock, err := os.ReadFile(lockFile)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(lockFile, []byte(testenv.LockFor(t, edited, lock)), 0o644)
	gittest.Git(t, env, work, "commit", "-q", "-am", "a hostile build")
	gittest.Git(t, env, work, "push", "-q", "origin", "HEAD:refs/heads/hostile")
	return strings.TrimSpace(gittest.Git(t, env, work, "rev-parse", "HEAD"))
}
