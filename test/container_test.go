package test

// The container test: the action's binary run as GitHub runs its image, in
// an emulation of the container (see internal/testenv/dockerlike): a
// Debian bookworm tree with what the image's runtime stage installs
// (Debian's nix-bin and the project's flox stand-in in place of the Flox
// .deb, which cannot be downloaded here), the image's own files (image/),
// the static binary; the runner's mounts under /github, HOME=/github/home,
// the workspace as working directory and owned by uid 1001, root with
// Docker's capabilities and a seccomp filter refusing namespaces.
//
// The tree is built once by scripts/install-rootfs.sh (about 8 minutes)
// and cached outside the checkout like MinIO; scripts/test.sh builds it and
// sets FLOX_PUBLISH_ROOTFS.

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flox-publish/publish-action/internal/git/gittest"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// emuContainer is the image, emulated: the cached tree below, the image's
// layer above it (image/ files, the binary, the stand-in, what setup.sh
// made). Each run gets a fresh copy of that layer to write in, as each
// `docker run` gets a fresh container of the image.
type emuContainer struct {
	lower, image, upper, work, root string
	dockerlike                      string
	// ref is a store path in the container's store that the flox
	// stand-in's outputs refer to, so that closures have a reference.
	ref string
}

func rootfsOrSkip(t *testing.T) string {
	t.Helper()
	fail := func(reason string) { testenv.Missing(t, "container test: %s", reason) }
	if os.Geteuid() != 0 {
		fail("needs root (mount and PID namespaces, chroot, a workspace owned by uid 1001)")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		fail("the emulation's seccomp filter is written for linux/amd64")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		fail("unshare (util-linux) is not on PATH")
	}
	dir := os.Getenv("FLOX_PUBLISH_ROOTFS")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "flox-publish-tools", "rootfs-bookworm")
	}
	if _, err := os.Stat(filepath.Join(dir, "usr", "bin", "nix-daemon")); err != nil {
		fail("no Debian root file system at " + dir + ": run bash scripts/install-rootfs.sh (scripts/test.sh does) or set FLOX_PUBLISH_ROOTFS")
	}
	return dir
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
}

// newEmuContainer lays the image's files over the tree as the Dockerfile's
// runtime stage does (nix.conf, setup.sh, the binary; the stand-in as
// flox), and runs setup.sh in it.
func newEmuContainer(t *testing.T, bin string) *emuContainer {
	t.Helper()
	lower := rootfsOrSkip(t)
	tmp := t.TempDir()
	c := &emuContainer{lower: lower, upper: filepath.Join(tmp, "upper"), work: filepath.Join(tmp, "work"), root: filepath.Join(tmp, "root")}
	c.image = c.upper // the image is built in the first upper layer
	for _, d := range []string{c.upper, c.work, c.root} {
		os.MkdirAll(d, 0o755)
	}
	c.dockerlike = filepath.Join(tmp, "dockerlike")
	testenv.GoBuildStatic(t, "./internal/testenv/dockerlike", c.dockerlike)
	flox := testenv.FloxStandIn(t)
	root := testenv.ProjectRoot(t)
	copyFile(t, filepath.Join(root, "image", "nix.conf"), filepath.Join(c.upper, "etc", "nix", "nix.conf"), 0o644)
	copyFile(t, filepath.Join(root, "image", "setup.sh"), filepath.Join(c.upper, "usr", "local", "lib", "flox-publish", "setup.sh"), 0o755)
	copyFile(t, bin, filepath.Join(c.upper, "usr", "local", "bin", "flox-publish"), 0o755)
	copyFile(t, flox, filepath.Join(c.upper, "usr", "local", "bin", "flox"), 0o755)

	if out, code := c.exec(t, nil, imageEnv(t), "/usr/local/lib/flox-publish/setup.sh"); code != 0 {
		t.Fatalf("setup.sh in the container: exit %d\n%s", code, out)
	}
	out, code := c.exec(t, nil, imageEnv(t), "nix-store", "--add", "/etc/debian_version")
	if code != 0 {
		t.Fatalf("nix-store --add in the container: exit %d\n%s", code, out)
	}
	c.ref = strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	if !strings.HasPrefix(c.ref, "/nix/store/") {
		t.Fatalf("nix-store --add printed %q", out)
	}
	return c
}

// fresh starts a new container of the image: a copy of the image's layer
// to write in, and a fresh overlay work directory.
func (c *emuContainer) fresh(t *testing.T) {
	t.Helper()
	tmp := t.TempDir()
	upper, work := filepath.Join(tmp, "upper"), filepath.Join(tmp, "work")
	if out, err := exec.Command("cp", "-a", c.image, upper).CombinedOutput(); err != nil {
		t.Fatalf("copy the image layer: %v\n%s", err, out)
	}
	os.MkdirAll(work, 0o755)
	c.upper, c.work = upper, work
}

// imageEnv is the image's environment: image/environment, which the
// Dockerfile's ENV repeats (image/image_test.go checks).
func imageEnv(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.ProjectRoot(t), "image", "environment"))
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, "=") {
			env = append(env, line)
		}
	}
	return env
}

// exec starts argv in the container, as `docker run` would, with binds
// ("HOST:CONTAINER") and exactly env; it returns the output and exit code.
func (c *emuContainer) exec(t *testing.T, binds []string, env []string, argv ...string) (string, int) {
	t.Helper()
	envfile := filepath.Join(t.TempDir(), "env")
	os.WriteFile(envfile, []byte(strings.Join(env, "\x00")+"\x00"), 0o600)
	args := []string{"--mount", "--pid", "--fork", "--propagation", "private", c.dockerlike,
		"-lower", c.lower, "-upper", c.upper, "-work", c.work, "-root", c.root, "-envfile", envfile}
	for _, b := range binds {
		args = append(args, "-bind", b)
	}
	args = append(append(args, "--"), argv...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("start the container: %v", err)
	}
	return out.String(), 0
}

// containerRun is one step run in the container, as the runner runs it.
type containerRun struct {
	step  runnerStep
	extra []string // more environment (what a workflow's env: would add)
	files map[string]string
}

// runAction checks out the step's commit into a fresh workspace owned by
// uid 1001 and runs the action's entrypoint in the container on it.
func (c *emuContainer) runAction(t *testing.T, f *e2eFixture, r containerRun) runnerResult {
	t.Helper()
	c.fresh(t)
	tmp := t.TempDir()
	ws := filepath.Join(tmp, "workspace")
	f.checkout(t, ws, r.step)
	dirs := map[string]string{}
	for _, d := range []string{"home", "workflow", "file_commands", "runner_temp"} {
		dirs[d] = filepath.Join(tmp, d)
		os.MkdirAll(dirs[d], 0o755)
	}
	for name, content := range r.files {
		os.WriteFile(filepath.Join(dirs["runner_temp"], name), []byte(content), 0o600)
		os.Chown(filepath.Join(dirs["runner_temp"], name), runnerUID, runnerUID)
	}
	cmdFiles := map[string]string{}
	for _, v := range []string{"GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STATE"} {
		cmdFiles[v] = strings.ToLower(v)
		os.WriteFile(filepath.Join(dirs["file_commands"], cmdFiles[v]), nil, 0o644)
	}
	s := r.step
	eventJSON, refEnv := s.githubEvent()
	os.WriteFile(filepath.Join(dirs["workflow"], "event.json"), eventJSON, 0o644)

	env := append(imageEnv(t),
		"HOME=/github/home", "CI=true", "GITHUB_ACTIONS=true",
		"GITHUB_EVENT_NAME="+s.event, "GITHUB_EVENT_PATH=/github/workflow/event.json",
		"GITHUB_REF="+s.ref, "GITHUB_SHA="+s.sha,
		"GITHUB_REPOSITORY=acme/widgets", "GITHUB_REPOSITORY_OWNER=acme", "GITHUB_ACTOR=octocat",
		"GITHUB_SERVER_URL=https://github.com", "GITHUB_API_URL="+f.api.URL,
		"GITHUB_WORKSPACE=/github/workspace", "GITHUB_RUN_ID=1234567890", "GITHUB_RUN_ATTEMPT=1",
		"RUNNER_OS=Linux", "RUNNER_ARCH=X64", "RUNNER_TEMP=/github/runner_temp",
		"ACTIONS_RUNTIME_TOKEN=runtime-token-e2e-secret", "ACTIONS_RUNTIME_URL=https://pipelines.example/",
		"ACTIONS_ID_TOKEN_REQUEST_URL=https://token.example/token?api-version=2.0",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN=id-token-request-e2e-secret",
	)
	env = append(env, refEnv...)
	for _, v := range slices.Sorted(maps.Keys(cmdFiles)) {
		env = append(env, v+"=/github/file_commands/"+cmdFiles[v])
	}
	env = append(env, f.inputEnv(t, s.with)...)
	// r.extra replaces what is set already (the first value would win).
	for _, kv := range r.extra {
		k, _, _ := strings.Cut(kv, "=")
		env = slices.DeleteFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
		env = append(env, kv)
	}
	binds := []string{
		ws + ":/github/workspace", dirs["home"] + ":/github/home", dirs["workflow"] + ":/github/workflow",
		dirs["file_commands"] + ":/github/file_commands", dirs["runner_temp"] + ":/github/runner_temp",
		f.remote + ":" + f.remote, // the "GitHub" remote, at the URL the checkout names
	}
	log, code := c.exec(t, binds, env, "/usr/local/bin/flox-publish")
	var shown []string
	for _, line := range strings.Split(log, "\n") {
		if !strings.HasPrefix(line, "::add-mask::") {
			shown = append(shown, line)
		}
	}
	summary, _ := os.ReadFile(filepath.Join(dirs["file_commands"], "github_step_summary"))
	res := runnerResult{code: code, log: strings.Join(shown, "\n"), outputs: outputs(t, filepath.Join(dirs["file_commands"], "github_output")), summary: string(summary), workspace: ws}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("exit %d; log:\n%s\nsummary:\n%s", res.code, res.log, res.summary)
		}
	})
	checkWorkspaceOwner(t, ws)
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

func TestContainer(t *testing.T) {
	rootfsOrSkip(t)
	testenv.RequireTool(t, "nix")
	f := newE2EFixture(t)
	c := newEmuContainer(t, f.bin)
	sec, pub := newSecretKey(t)

	// Both flox cases build with a reference: without one, the stand-in's
	// reference-less derivation was seen killed (Nix 2.8 reporting the
	// builder "failed due to signal 9") in about half the runs on the
	// development machine, cause not found (see issue 11's report).
	t.Run("pull request dry run", func(t *testing.T) {
		res := c.runAction(t, f, containerRun{
			step: runnerStep{event: "pull_request", ref: "refs/pull/7/merge", sha: f.shas["pr7"], with: map[string]string{
				"dir": "examples/hello", "builder": "flox",
			}},
			extra: []string{"FLOX_STANDIN_REFERENCE=" + c.ref},
		})
		if res.code != 0 || res.outputs["dry-run"] != "true" {
			t.Fatalf("exit %d, dry-run %q", res.code, res.outputs["dry-run"])
		}
		if len(storePaths(res.outputs)) != 2 {
			t.Errorf("store-paths: %q", res.outputs["store-paths"])
		}
	})

	t.Run("tag release with the flox builder to file://", func(t *testing.T) {
		res := c.runAction(t, f, containerRun{
			step: runnerStep{event: "push", ref: "refs/tags/v1.0.0", sha: f.shas["main"], with: map[string]string{
				"dir": "examples/hello", "builder": "flox", "signing-key": sec,
				"store-url": "file:///github/workspace/_cache",
			}},
			extra: []string{"FLOX_STANDIN_REFERENCE=" + c.ref},
		})
		if res.code != 0 {
			t.Fatalf("exit %d", res.code)
		}
		// The stand-in names outputs with literal versions only (the
		// example's come from a file), so only the count is checked here;
		// e2e_test.go checks names and versions with the local builder.
		if paths := storePaths(res.outputs); len(paths) != 2 || strings.Count(res.outputs["packages"], `"uploaded"`) != 2 {
			t.Errorf("store-paths %q, packages %s: want two uploaded packages", res.outputs["store-paths"], res.outputs["packages"])
		}
		root := nixInstall(t, filepath.Join(res.workspace, "_cache"), pub, storePaths(res.outputs)...)
		if _, err := os.Stat(filepath.Join(root, c.ref)); err != nil {
			t.Errorf("real Nix did not install the outputs' reference %s with them: %v", c.ref, err)
		}
		if !strings.Contains(res.summary, "builds ran as uid") {
			t.Errorf("the summary does not say whom the builds ran as")
		}
	})

	t.Run("tag release with the flox builder to MinIO with OIDC credentials", func(t *testing.T) {
		issuer := testenv.StartOIDCIssuerStandIn(t)
		m := testenv.StartMinIO(t, testenv.MinIOOptions{OpenIDConfigURL: issuer.ConfigURL()})
		bucket := m.CreateBucket(t)
		m.AllowAnonymousRead(t, bucket)
		ep := issuer.Endpoint(testenv.TokenOptions{Subject: "repo:acme/widgets:ref:refs/tags/v1.0.0"})
		res := c.runAction(t, f, containerRun{
			step: runnerStep{event: "push", ref: "refs/tags/v1.0.0", sha: f.shas["main"], with: map[string]string{
				"dir": "examples/hello", "builder": "flox", "signing-key": sec,
				"store-url":      "s3://" + bucket + "/releases?endpoint=" + m.Endpoint + "&region=us-east-1",
				"role-to-assume": m.RoleARN, "sts-endpoint": m.Endpoint,
			}},
			extra: []string{"FLOX_STANDIN_REFERENCE=" + c.ref,
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
		cmd := exec.Command("nix", append([]string{"copy", "--from", m.Endpoint + "/" + bucket + "/releases", "--to", root,
			"--option", "trusted-public-keys", pub, "--option", "require-sigs", "true"}, storePaths(res.outputs)...)...)
		cmd.Env = testenv.NixEnv(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nix copy from the bucket: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(root, c.ref)); err != nil {
			t.Errorf("real Nix did not install the outputs' reference %s with them: %v", c.ref, err)
		}
	})

	t.Run("hostile build", func(t *testing.T) {
		sha := pushHostile(t, f)
		res := c.runAction(t, f, containerRun{
			step: runnerStep{event: "push", ref: "refs/heads/hostile", sha: sha, with: map[string]string{
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
		if _, err := os.Stat(filepath.Join(c.upper, "tmp", "hostile-survived")); err == nil {
			t.Error("a process the build started outlived it")
		}
	})
}

// hostileBuild attacks the action from a build, as issue 11 found one
// could: reading the parent's (and PID 1's) environment, command line and
// memory, the key file, writing into the workspace, the clean clone's
// .git, and leaving a process behind that acts later (while the next
// build, slow, runs). What it reads ends up in $out, which the action
// publishes.
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
  setsid sh -c 'sleep 2; touch /tmp/hostile-survived' > /dev/null 2>&1 < /dev/null &
'''

[build.slow]
version = "1.0.0"
command = '''
  sleep 4
  echo slow > $out/slow
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
