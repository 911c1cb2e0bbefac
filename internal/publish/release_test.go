package publish_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/publish"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/testenv/fixture"
)

// release runs the release as the process does (main.go) and returns the
// exit status the process would: 0, or 1 for a failed run.
func release(ctx context.Context, getenv func(string) string, environ, args []string, stdout io.Writer) int {
	if _, err := publish.Run(ctx, publish.Env{Getenv: getenv, Environ: environ, Stdout: stdout}, args); err != nil {
		return 1
	}
	return 0
}

func TestActionsPublishKeepsSecretsOutOfBuildsAndReports(t *testing.T) {
	r := fixture.NewRepo(t, strings.Replace(fixture.GreeterManifest, "  mkdir -p $out/bin\n", "  echo '--- build environment:'; env; cat /proc/self/environ | tr '\\0' '\\n'\n  mkdir -p $out/bin\n", 1))
	secret, public := fixture.NewSecretKey(t)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	a := fixture.NewActionsEnv(t, r, "push", "refs/heads/main")
	a["INPUT_STORE-URL"] = "file://" + cacheDir
	a["INPUT_SIGNING-KEY"] = secret
	a["INPUT_GITHUB-TOKEN"] = ""
	a["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "request-token-secret-value"
	a["AWS_SECRET_ACCESS_KEY"] = "aws-secret-value-123"

	var out bytes.Buffer
	code := release(context.Background(), a.Getenv, a.Environ(), nil, &out)
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
	o := fixture.Outputs(t, a["GITHUB_OUTPUT"])
	if o["dry-run"] != "false" || !strings.Contains(o["store-paths"], "-greeter-1.0.0") {
		t.Fatalf("outputs: %v", o)
	}
	var pkgs []map[string]any
	if err := json.Unmarshal([]byte(o["packages"]), &pkgs); err != nil || len(pkgs) != 1 || pkgs[0]["status"] != "uploaded" {
		t.Fatalf("packages output %q: %v", o["packages"], err)
	}
	if len(fixture.NarInfos(t, cacheDir)) != 1 {
		t.Fatalf("cache holds %d narinfos, want 1", len(fixture.NarInfos(t, cacheDir)))
	}
	index, err := os.ReadFile(filepath.Join(cacheDir, "catalog", "acme", "greeter.json"))
	if err != nil || !strings.Contains(string(index), r.Git(r.Work, "rev-parse", "HEAD")) || !strings.Contains(string(index), "https://github.com/acme/widgets/actions/runs/4242") {
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
	a2 := rerunEnv(t, r, a)
	out.Reset()
	if code := release(context.Background(), a2.Getenv, a2.Environ(), nil, &out); code != 0 {
		t.Fatalf("re-run exit %d\n%s", code, out.String())
	}
	summary2, _ := os.ReadFile(a2["GITHUB_STEP_SUMMARY"])
	if !strings.Contains(string(summary2), "already published") || !strings.Contains(string(summary2), "from source revision "+r.Git(r.Work, "rev-parse", "HEAD")) {
		t.Fatalf("re-run summary does not say the package was already published:\n%s", summary2)
	}
	if strings.Contains(out.String(), "::group::Build greeter") {
		t.Errorf("the re-run built the package again:\n%s", out.String())
	}
	// Issue 22: it gives the first run's outputs, read from the record.
	sameOutputs(t, o, fixture.Outputs(t, a2["GITHUB_OUTPUT"]))
	if !strings.Contains(string(summary2), "nix-store --realise") || !strings.Contains(string(summary2), "**Closure manifests**") {
		t.Errorf("the re-run's summary does not say how to install the paths, or names no closure manifest:\n%s", summary2)
	}

	// A record published before closure manifests were written: the
	// store paths still, and the summary says what is not known.
	if err := os.RemoveAll(filepath.Join(cacheDir, "closure")); err != nil {
		t.Fatal(err)
	}
	a3 := rerunEnv(t, r, a)
	out.Reset()
	if code := release(context.Background(), a3.Getenv, a3.Environ(), nil, &out); code != 0 {
		t.Fatalf("third run exit %d\n%s", code, out.String())
	}
	o3 := fixture.Outputs(t, a3["GITHUB_OUTPUT"])
	summary3, _ := os.ReadFile(a3["GITHUB_STEP_SUMMARY"])
	if o3["store-paths"] != o["store-paths"] || !strings.Contains(string(summary3), "published before this action wrote closure manifests") ||
		!strings.Contains(o3["subject-checksums"], "-greeter-1.0.0.nar") || strings.Contains(o3["subject-checksums"], ".closure.json") {
		t.Errorf("an older record: outputs %v\nsummary:\n%s", o3, summary3)
	}
}

func TestPullRequestIsADryRun(t *testing.T) {
	r := fixture.NewRepo(t, fixture.GreeterManifest)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	a := fixture.NewActionsEnv(t, r, "pull_request", "refs/pull/7/merge")
	a["INPUT_STORE-URL"] = "file://" + cacheDir
	a["INPUT_DRY-RUN"] = "false"
	var out bytes.Buffer
	if code := release(context.Background(), a.Getenv, a.Environ(), nil, &out); code != 0 {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	if o := fixture.Outputs(t, a["GITHUB_OUTPUT"]); o["dry-run"] != "true" {
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
	secret, _ := fixture.NewSecretKey(t)
	for _, tc := range []struct {
		name     string
		manifest string
		prepare  func(r *fixture.Repo)
		ref      string
		want     []string
		built    bool   // whether a build ran before the failure
		stage    string // the part of the release the summary says failed
	}{
		{
			name:     "failing build names the package",
			manifest: strings.Replace(fixture.GreeterManifest, "  mkdir -p $out/bin\n", "  echo compiling; exit 3\n", 1),
			want:     []string{`build "greeter" failed`, "nothing was uploaded"},
			built:    true,
			stage:    "build",
		},
		{
			name:     "empty $out",
			manifest: strings.Replace(fixture.GreeterManifest, "  mkdir -p $out/bin\n", "  exit 0\n", 1),
			want:     []string{"did not write anything to $out"},
			built:    true,
			stage:    "build",
		},
		{
			name:     "dirty tree",
			manifest: fixture.GreeterManifest,
			prepare:  func(r *fixture.Repo) { r.Write(".flox/env/manifest.toml", fixture.GreeterManifest+"\n# edited\n") },
			want:     []string{"manifest.toml"},
			stage:    "verify",
		},
		{
			name:     "tag version mismatch",
			manifest: fixture.GreeterManifest,
			prepare: func(r *fixture.Repo) {
				r.Git(r.Work, "tag", "v2.0.0")
				r.Git(r.Work, "push", "-q", "origin", "v2.0.0")
			},
			ref:   "refs/tags/v2.0.0",
			want:  []string{`build "greeter" has version 1.0.0`, "v2.0.0"},
			stage: "build",
		},
		{
			name:     "unknown package",
			manifest: fixture.GreeterManifest,
			want:     []string{"nope", "greeter"},
			stage:    "verify",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fixture.NewRepo(t, tc.manifest)
			if tc.prepare != nil {
				tc.prepare(r)
			}
			ref := tc.ref
			if ref == "" {
				ref = "refs/heads/main"
			}
			cacheDir := filepath.Join(t.TempDir(), "cache")
			a := fixture.NewActionsEnv(t, r, "push", ref)
			a["INPUT_STORE-URL"] = "file://" + cacheDir
			a["INPUT_SIGNING-KEY"] = secret
			if tc.name == "unknown package" {
				a["INPUT_PACKAGES"] = "nope"
			}
			var out bytes.Buffer
			code := release(context.Background(), a.Getenv, a.Environ(), nil, &out)
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
			if n := len(fixture.NarInfos(t, cacheDir)); n != 0 {
				t.Errorf("%d narinfos written", n)
			}
			summary, _ := os.ReadFile(a["GITHUB_STEP_SUMMARY"])
			fixture.CheckFailureSummary(t, string(summary), tc.stage, tc.want...)
		})
	}
}

func TestLocalRunWithFlags(t *testing.T) {
	r := fixture.NewRepo(t, fixture.GreeterManifest)
	dir := t.TempDir()
	// What the keygen subcommand writes (main_test.go runs it).
	if _, _, err := signing.WriteKeyPair("local-1", filepath.Join(dir, "key")); err != nil {
		t.Fatalf("keygen: %v", err)
	}
	var out bytes.Buffer
	args := []string{"--dir", r.Work, "--store-url", "file://" + filepath.Join(dir, "cache"), "--signing-key-file", filepath.Join(dir, "key.sec"), "--builder", "local"}
	env := map[string]string{"PATH": os.Getenv("PATH")}
	code := release(context.Background(), func(k string) string { return env[k] }, []string{"PATH=" + os.Getenv("PATH")}, args, &out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	for _, want := range []string{"Publishing from a local run.", "greeter  1.0.0", "uploaded (1 path)", "extra-trusted-public-keys = local-1:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	code = release(context.Background(), func(k string) string { return env[k] }, nil, []string{"--jobs", "0", "--compression", "gzip"}, &out)
	if code == 0 || !strings.Contains(out.String(), "--jobs") || !strings.Contains(out.String(), "--compression") {
		t.Fatalf("bad flags: exit %d\n%s", code, out.String())
	}
}

// TestNoAWSCredentialsFailBeforeAnyBuild: without role-to-assume and
// without credentials in the environment, the run says so before it
// builds, instead of failing at the first upload with an access error.
func TestNoAWSCredentialsFailBeforeAnyBuild(t *testing.T) {
	secret, _ := fixture.NewSecretKey(t)
	r := fixture.NewRepo(t, fixture.GreeterManifest)
	a := fixture.NewActionsEnv(t, r, "push", "refs/heads/main")
	a["INPUT_STORE-URL"] = "s3://my-nix-cache?region=eu-west-1&endpoint=127.0.0.1:1"
	a["INPUT_SIGNING-KEY"] = secret
	a["HOME"] = t.TempDir()
	var out bytes.Buffer
	if code := release(context.Background(), a.Getenv, a.Environ(), nil, &out); code != 1 {
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
	r := fixture.NewRepo(t, fixture.GreeterManifest)
	a := fixture.NewActionsEnv(t, r, "pull_request", "refs/pull/7/merge")
	a["INPUT_STORE-URL"] = "s3://my-nix-cache/nix?region=eu-west-1&endpoint=127.0.0.1:1"
	var out bytes.Buffer
	if code := release(context.Background(), a.Getenv, a.Environ(), nil, &out); code != 0 {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	if got, want := fixture.Outputs(t, a["GITHUB_OUTPUT"])["catalog-urls"], "s3://my-nix-cache/nix/catalog/acme/greeter.json"; got != want {
		t.Errorf("catalog-urls = %q, want %q", got, want)
	}
}

// rerunEnv is a new workflow run of a branch push of r, with a's inputs.
func rerunEnv(t *testing.T, r *fixture.Repo, a fixture.ActionsEnv) fixture.ActionsEnv {
	again := fixture.NewActionsEnv(t, r, "push", "refs/heads/main")
	for k, v := range a {
		if strings.HasPrefix(k, "INPUT_") {
			again[k] = v
		}
	}
	return again
}

// sameOutputs checks that a re-run's step outputs say what the first
// run's did: the same store paths, catalog links and attestation
// subjects, and each package the same but for what this run did (its
// status, counts and note).
func sameOutputs(t *testing.T, first, again map[string]string) {
	t.Helper()
	for _, name := range []string{"store-paths", "catalog-urls", "subject-checksums", "dry-run"} {
		if first[name] != again[name] {
			t.Errorf("output %s: the re-run gives %q, the first run %q", name, again[name], first[name])
		}
	}
	if first["store-paths"] == "" || first["subject-checksums"] == "" {
		t.Errorf("the first run gave no store paths or subjects: %v", first)
	}
	packages := func(js string) []map[string]any {
		var pkgs []map[string]any
		if err := json.Unmarshal([]byte(js), &pkgs); err != nil {
			t.Fatalf("packages output %q: %v", js, err)
		}
		for _, p := range pkgs {
			for _, k := range []string{"status", "paths_uploaded", "paths_present", "note"} {
				delete(p, k)
			}
		}
		return pkgs
	}
	a, b := packages(first["packages"]), packages(again["packages"])
	if ja, jb := fmt.Sprint(a), fmt.Sprint(b); ja != jb || len(a) == 0 || a[0]["closure_manifest"] == nil {
		t.Errorf("packages: the re-run gives\n%s\nthe first run\n%s", jb, ja)
	}
}
