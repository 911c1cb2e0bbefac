package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/git/gittest"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// testRepo is a real git repository with a bare remote, holding a Flox
// environment at its root.
type testRepo struct {
	t      *testing.T
	work   string
	remote string
	env    []string
}

const greeterManifest = `schema-version = "1.14.0"

[install]
hello.pkg-path = "hello"

[vars]
GREETING = "hi there"

[build.greeter]
version = "1.0.0"
description = "greets"
command = '''
  mkdir -p $out/bin
  printf '#!/bin/sh\necho %s\n' "$GREETING" > $out/bin/greeter
  chmod +x $out/bin/greeter
'''
`

func newTestRepo(t *testing.T, manifest string) *testRepo {
	t.Helper()
	env := gittest.Env(t)
	r := &testRepo{t: t, env: env, remote: gittest.Bare(t, env), work: gittest.Init(t, env)}
	lock, err := os.ReadFile(filepath.Join(testenv.ProjectRoot(t), "examples", "hello", ".flox", "env", "manifest.lock"))
	if err != nil {
		t.Fatal(err)
	}
	r.write(".flox/env.json", `{"name":"test","version":1}`)
	r.write(".flox/env/manifest.toml", manifest)
	r.write(".flox/env/manifest.lock", testenv.LockFor(t, manifest, lock))
	r.commitAndPush("initial")
	return r
}

func (r *testRepo) git(dir string, args ...string) string {
	r.t.Helper()
	return gittest.Git(r.t, r.env, dir, args...)
}

func (r *testRepo) write(rel, content string) {
	r.t.Helper()
	gittest.WriteFile(r.t, r.work, rel, content)
}

func (r *testRepo) commitAndPush(msg string) string {
	r.git(r.work, "add", "-A")
	r.git(r.work, "commit", "-q", "-m", msg)
	if len(r.git(r.work, "remote")) == 0 {
		r.git(r.work, "remote", "add", "origin", r.remote)
	}
	r.git(r.work, "push", "-q", "origin", "HEAD:refs/heads/main")
	return r.git(r.work, "rev-parse", "HEAD")
}

// actionsEnv is the environment the runner gives a container action.
type actionsEnv map[string]string

func (a actionsEnv) getenv(k string) string { return a[k] }
func (a actionsEnv) environ() []string {
	var out []string
	for k, v := range a {
		out = append(out, k+"="+v)
	}
	return append(out, "PATH="+os.Getenv("PATH"))
}

func newActionsEnv(t *testing.T, r *testRepo, event, ref string) actionsEnv {
	t.Helper()
	dir := t.TempDir()
	return actionsEnv{
		"GITHUB_ACTIONS": "true", "CI": "true",
		"GITHUB_EVENT_NAME": event, "GITHUB_REF": ref,
		"GITHUB_SHA":              r.git(r.work, "rev-parse", "HEAD"),
		"GITHUB_REPOSITORY":       "acme/widgets",
		"GITHUB_REPOSITORY_OWNER": "acme",
		"GITHUB_RUN_ID":           "4242",
		"GITHUB_SERVER_URL":       "https://github.com",
		"GITHUB_WORKSPACE":        r.work,
		"GITHUB_OUTPUT":           filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY":     filepath.Join(dir, "summary"),
		"INPUT_DIR":               r.work,
		"INPUT_DRY-RUN":           "auto",
		"INPUT_BUILDER":           "local",
	}
}

func newSecretKey(t *testing.T) (secret, public string) {
	t.Helper()
	s, p, err := signing.Generate("test-1")
	if err != nil {
		t.Fatal(err)
	}
	return s, p
}

// outputs parses a GITHUB_OUTPUT file.
func outputs(t *testing.T, file string) map[string]string {
	t.Helper()
	data, _ := os.ReadFile(file)
	out := map[string]string{}
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		name, delim, ok := strings.Cut(lines[i], "<<")
		if !ok {
			continue
		}
		var val []string
		for i++; i < len(lines) && lines[i] != delim; i++ {
			val = append(val, lines[i])
		}
		out[name] = strings.Join(val, "\n")
	}
	return out
}

func narinfos(t *testing.T, dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "*.narinfo"))
	return m
}

func TestActionsPublishKeepsSecretsOutOfBuildsAndReports(t *testing.T) {
	r := newTestRepo(t, strings.Replace(greeterManifest, "  mkdir -p $out/bin\n", "  echo '--- build environment:'; env; cat /proc/self/environ | tr '\\0' '\\n'\n  mkdir -p $out/bin\n", 1))
	secret, public := newSecretKey(t)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	a := newActionsEnv(t, r, "push", "refs/heads/main")
	a["INPUT_STORE-URL"] = "file://" + cacheDir
	a["INPUT_SIGNING-KEY"] = secret
	a["INPUT_GITHUB-TOKEN"] = ""
	a["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "request-token-secret-value"
	a["AWS_SECRET_ACCESS_KEY"] = "aws-secret-value-123"

	var out bytes.Buffer
	code := realMain(context.Background(), a.getenv, a.environ(), nil, &out)
	log := out.String()
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, log)
	}
	if !strings.Contains(log, "--- build environment:") || !strings.Contains(log, "GREETING=hi there") {
		t.Fatalf("the build's environment was not printed:\n%s", log)
	}
	_, keyData, _ := strings.Cut(secret, ":")
	// The runner consumes ::add-mask:: commands: they never show in a log.
	var shown []string
	for _, line := range strings.Split(log, "\n") {
		if !strings.HasPrefix(line, "::add-mask::") {
			shown = append(shown, line)
		}
	}
	log = strings.Join(shown, "\n")
	summary, _ := os.ReadFile(a["GITHUB_STEP_SUMMARY"])
	outFile, _ := os.ReadFile(a["GITHUB_OUTPUT"])
	for _, leak := range []string{keyData, keyData[:20], "request-token-secret-value", "aws-secret-value-123", "INPUT_SIGNING-KEY"} {
		for name, text := range map[string]string{"log": log, "summary": string(summary), "outputs": string(outFile)} {
			if strings.Contains(text, leak) {
				t.Errorf("the %s shows a secret (%q…)", name, leak[:8])
			}
		}
	}
	if !strings.Contains(string(summary), public) {
		t.Errorf("summary lacks the public key:\n%s", summary)
	}
	o := outputs(t, a["GITHUB_OUTPUT"])
	if o["dry-run"] != "false" || !strings.Contains(o["store-paths"], "-greeter-1.0.0") {
		t.Fatalf("outputs: %v", o)
	}
	var pkgs []map[string]any
	if err := json.Unmarshal([]byte(o["packages"]), &pkgs); err != nil || len(pkgs) != 1 || pkgs[0]["status"] != "uploaded" {
		t.Fatalf("packages output %q: %v", o["packages"], err)
	}
	if len(narinfos(t, cacheDir)) != 1 {
		t.Fatalf("cache holds %d narinfos, want 1", len(narinfos(t, cacheDir)))
	}
	index, err := os.ReadFile(filepath.Join(cacheDir, "catalog", "acme", "greeter.json"))
	if err != nil || !strings.Contains(string(index), r.git(r.work, "rev-parse", "HEAD")) || !strings.Contains(string(index), "https://github.com/acme/widgets/actions/runs/4242") {
		t.Fatalf("catalog index: %v\n%s", err, index)
	}
	// Issue 13: without FloxHub, flox install cannot find the package; the
	// summary says how to install it from the store instead.
	if o["catalog-urls"] != "file://"+cacheDir+"/catalog/acme/greeter.json" || strings.Contains(string(summary), "flox install acme/greeter") ||
		!strings.Contains(string(summary), "Not in FloxHub (no floxhub-token was given)") || !strings.Contains(string(summary), "nix-store --realise") {
		t.Fatalf("catalog-urls = %q; summary:\n%s", o["catalog-urls"], summary)
	}

	// A re-run finds the build in the store's catalog index, does not build
	// it again (issue 13), uploads nothing and says so.
	a2 := newActionsEnv(t, r, "push", "refs/heads/main")
	for k, v := range a {
		if strings.HasPrefix(k, "INPUT_") {
			a2[k] = v
		}
	}
	out.Reset()
	if code := realMain(context.Background(), a2.getenv, a2.environ(), nil, &out); code != 0 {
		t.Fatalf("re-run exit %d\n%s", code, out.String())
	}
	summary2, _ := os.ReadFile(a2["GITHUB_STEP_SUMMARY"])
	if !strings.Contains(string(summary2), "already published") || !strings.Contains(string(summary2), "from source revision "+r.git(r.work, "rev-parse", "HEAD")) {
		t.Fatalf("re-run summary does not say the package was already published:\n%s", summary2)
	}
	if strings.Contains(out.String(), "::group::Build greeter") {
		t.Errorf("the re-run built the package again:\n%s", out.String())
	}
}

func TestPullRequestIsADryRun(t *testing.T) {
	r := newTestRepo(t, greeterManifest)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	a := newActionsEnv(t, r, "pull_request", "refs/pull/7/merge")
	a["INPUT_STORE-URL"] = "file://" + cacheDir
	a["INPUT_DRY-RUN"] = "false"
	var out bytes.Buffer
	if code := realMain(context.Background(), a.getenv, a.environ(), nil, &out); code != 0 {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	if o := outputs(t, a["GITHUB_OUTPUT"]); o["dry-run"] != "true" {
		t.Fatalf("dry-run output = %q", o["dry-run"])
	}
	if _, err := os.Stat(cacheDir); !os.IsNotExist(err) {
		t.Fatalf("a dry run touched the store: %v", err)
	}
	summary, _ := os.ReadFile(a["GITHUB_STEP_SUMMARY"])
	if !strings.HasPrefix(string(summary), "### Dry run: a pull_request event") || !strings.Contains(string(summary), "would upload") ||
		!strings.Contains(string(summary), "/catalog/acme/greeter.json (not yet live: this run was a dry run)") {
		t.Fatalf("summary:\n%s", summary)
	}
}

func TestFailuresStopBeforeUpload(t *testing.T) {
	secret, _ := newSecretKey(t)
	for _, tc := range []struct {
		name     string
		manifest string
		prepare  func(r *testRepo)
		ref      string
		want     []string
		built    bool   // whether a build ran before the failure
		stage    string // the part of the release the summary says failed
	}{
		{
			name:     "failing build names the package",
			manifest: strings.Replace(greeterManifest, "  mkdir -p $out/bin\n", "  echo compiling; exit 3\n", 1),
			want:     []string{`build "greeter" failed`, "nothing was uploaded"},
			built:    true,
			stage:    "build",
		},
		{
			name:     "empty $out",
			manifest: strings.Replace(greeterManifest, "  mkdir -p $out/bin\n", "  exit 0\n", 1),
			want:     []string{"did not write anything to $out"},
			built:    true,
			stage:    "build",
		},
		{
			name:     "dirty tree",
			manifest: greeterManifest,
			prepare:  func(r *testRepo) { r.write(".flox/env/manifest.toml", greeterManifest+"\n# edited\n") },
			want:     []string{"manifest.toml"},
			stage:    "verify",
		},
		{
			name:     "tag version mismatch",
			manifest: greeterManifest,
			prepare: func(r *testRepo) {
				r.git(r.work, "tag", "v2.0.0")
				r.git(r.work, "push", "-q", "origin", "v2.0.0")
			},
			ref:   "refs/tags/v2.0.0",
			want:  []string{`build "greeter" has version 1.0.0`, "v2.0.0"},
			stage: "build",
		},
		{
			name:     "unknown package",
			manifest: greeterManifest,
			want:     []string{"nope", "greeter"},
			stage:    "verify",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRepo(t, tc.manifest)
			if tc.prepare != nil {
				tc.prepare(r)
			}
			ref := tc.ref
			if ref == "" {
				ref = "refs/heads/main"
			}
			cacheDir := filepath.Join(t.TempDir(), "cache")
			a := newActionsEnv(t, r, "push", ref)
			a["INPUT_STORE-URL"] = "file://" + cacheDir
			a["INPUT_SIGNING-KEY"] = secret
			if tc.name == "unknown package" {
				a["INPUT_PACKAGES"] = "nope"
			}
			var out bytes.Buffer
			code := realMain(context.Background(), a.getenv, a.environ(), nil, &out)
			log := out.String()
			if code == 0 {
				t.Fatalf("exit 0\n%s", log)
			}
			for _, w := range tc.want {
				if !strings.Contains(log, w) {
					t.Errorf("log lacks %q:\n%s", w, log)
				}
			}
			if !strings.Contains(log, "::error") {
				t.Errorf("no error annotation:\n%s", log)
			}
			if built := strings.Contains(log, "::group::Build greeter"); built != tc.built {
				t.Errorf("build ran = %v, want %v\n%s", built, tc.built, log)
			}
			if n := len(narinfos(t, cacheDir)); n != 0 {
				t.Errorf("%d narinfos written", n)
			}
			summary, _ := os.ReadFile(a["GITHUB_STEP_SUMMARY"])
			checkFailureSummary(t, string(summary), tc.stage, tc.want...)
		})
	}
}

func TestLocalRunWithFlags(t *testing.T) {
	r := newTestRepo(t, greeterManifest)
	dir := t.TempDir()
	var out bytes.Buffer
	if code := realMain(context.Background(), os.Getenv, os.Environ(), []string{"keygen", "--name", "local-1", "--out", filepath.Join(dir, "key")}, &out); code != 0 {
		t.Fatalf("keygen: %s", out.String())
	}
	out.Reset()
	args := []string{"--dir", r.work, "--store-url", "file://" + filepath.Join(dir, "cache"), "--signing-key-file", filepath.Join(dir, "key.sec"), "--builder", "local"}
	env := map[string]string{"PATH": os.Getenv("PATH")}
	code := realMain(context.Background(), func(k string) string { return env[k] }, []string{"PATH=" + os.Getenv("PATH")}, args, &out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	for _, want := range []string{"Publishing from a local run.", "greeter  1.0.0", "uploaded (1 path)", "extra-trusted-public-keys = local-1:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	code = realMain(context.Background(), func(k string) string { return env[k] }, nil, []string{"--jobs", "0", "--compression", "gzip"}, &out)
	if code == 0 || !strings.Contains(out.String(), "--jobs") || !strings.Contains(out.String(), "--compression") {
		t.Fatalf("bad flags: exit %d\n%s", code, out.String())
	}
}

// TestNoAWSCredentialsFailBeforeAnyBuild: without role-to-assume and
// without credentials in the environment, the run says so before it
// builds, instead of failing at the first upload with an access error.
func TestNoAWSCredentialsFailBeforeAnyBuild(t *testing.T) {
	secret, _ := newSecretKey(t)
	r := newTestRepo(t, greeterManifest)
	a := newActionsEnv(t, r, "push", "refs/heads/main")
	a["INPUT_STORE-URL"] = "s3://my-nix-cache?region=eu-west-1&endpoint=127.0.0.1:1"
	a["INPUT_SIGNING-KEY"] = secret
	a["HOME"] = t.TempDir()
	var out bytes.Buffer
	if code := realMain(context.Background(), a.getenv, a.environ(), nil, &out); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out.String())
	}
	log := out.String()
	for _, want := range []string{"::error", "no AWS credentials found for s3://my-nix-cache", "role-to-assume"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "::group::Build greeter") {
		t.Errorf("a build ran before the credentials were found missing:\n%s", log)
	}
}

// TestDryRunLinksHaveNoQuery: a store URL with a query gives catalog links
// under the bucket, not under its query string.
func TestDryRunLinksHaveNoQuery(t *testing.T) {
	r := newTestRepo(t, greeterManifest)
	a := newActionsEnv(t, r, "pull_request", "refs/pull/7/merge")
	a["INPUT_STORE-URL"] = "s3://my-nix-cache/nix?region=eu-west-1&endpoint=127.0.0.1:1"
	var out bytes.Buffer
	if code := realMain(context.Background(), a.getenv, a.environ(), nil, &out); code != 0 {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	if got, want := outputs(t, a["GITHUB_OUTPUT"])["catalog-urls"], "s3://my-nix-cache/nix/catalog/acme/greeter.json"; got != want {
		t.Errorf("catalog-urls = %q, want %q", got, want)
	}
}
