package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flox-publish/publish-action/internal/builder"
	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/credentials"
	"github.com/flox-publish/publish-action/internal/floxhub"
	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/manifest"
	"github.com/flox-publish/publish-action/internal/report"
	"github.com/flox-publish/publish-action/internal/sandbox"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/ui"
	"github.com/flox-publish/publish-action/internal/workflow"
)

// stage is a Stage made of functions, for testing the loop.
type stage struct {
	name string
	run  func(*Release) error
	skip bool
}

func (s stage) String() string                          { return s.name }
func (s stage) Part() report.Part                       { return report.Part(s.name) }
func (s stage) Run(_ context.Context, r *Release) error { return s.run(r) }
func (s stage) Skip(*Release) bool                      { return s.skip }

func TestStagesRunInOrderAndStopAtTheFirstError(t *testing.T) {
	var out bytes.Buffer
	r := &Release{UI: ui.New(workflow.Run{}, &out)}
	var ran []string
	mark := func(name string, err error) stage {
		return stage{name: name, run: func(*Release) error { ran = append(ran, name); return err }}
	}
	boom := errors.New("boom")
	skipped := mark("skipped", nil)
	skipped.skip = true
	err := r.runStages(context.Background(), []Stage{mark("first", nil), skipped, mark("second", boom), mark("third", nil)})
	r.UI.Flush()

	var se *StageError
	if !errors.As(err, &se) || se.Stage != "second" || !errors.Is(err, boom) {
		t.Fatalf("err = %#v, want a StageError for stage second wrapping boom", err)
	}
	if r.Failed != se {
		t.Errorf("Release.Failed = %v, want the returned error", r.Failed)
	}
	if got := strings.Join(ran, ","); got != "first,second" {
		t.Errorf("ran %s, want first,second", got)
	}
	if len(r.Timings) != 2 || r.Timings[0].Stage != "first" || r.Timings[1].Stage != "second" {
		t.Errorf("timings %+v", r.Timings)
	}
	for _, want := range []string{"==> first", "==> second", "error: boom"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "skipped") || strings.Contains(out.String(), "third") {
		t.Errorf("a skipped or later stage shows in the log:\n%s", out.String())
	}
}

func TestACancelledRunStopsBeforeTheNextStage(t *testing.T) {
	r := &Release{UI: ui.New(workflow.Run{}, &bytes.Buffer{})}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := r.runStages(ctx, []Stage{stage{name: "never", run: func(*Release) error { t.Error("ran"); return nil }}})
	var se *StageError
	if !errors.As(err, &se) || se.Stage != "never" || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestTagVersionMismatchSaysWhereTheVersionComesFrom(t *testing.T) {
	pos := manifest.Position{File: "/repo/.flox/env/manifest.toml", Line: 7, Col: 11}
	for _, tc := range []struct {
		name    string
		version manifest.Version
		want    string
	}{
		{"literal", manifest.Version{Literal: "1.0.0", Pos: pos}, `set version = "2.0.0" in [build.hello]`},
		{"file", manifest.Version{File: "VERSION", Pos: pos}, "write 2.0.0 into VERSION (the version file of [build.hello])"},
		{"command", manifest.Version{Command: "git describe", Pos: pos}, "make the version command of [build.hello] (git describe) print 2.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkTagVersion("v2.0.0", []manifest.Build{{Name: "hello", Version: tc.version}}, []string{"1.0.0"})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "check-version: false") {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
			var located ui.Located
			if !errors.As(err, &located) || located.Location().Line != 7 || located.Location().File != pos.File {
				t.Errorf("the error is not located at the version: %#v", err)
			}
		})
	}
	versions := []string{manifest.DefaultBuildVersion}
	if err := checkTagVersion("v2.0.0", []manifest.Build{{Name: "motd"}}, versions); err != nil || versions[0] != "2.0.0" {
		t.Errorf("a build without a version: err %v, version %s; want the tag's", err, versions[0])
	}
	if err := checkTagVersion("release-candidate", []manifest.Build{{Name: "hello", Version: manifest.Version{Literal: "1.0.0"}}}, []string{"1.0.0"}); err != nil {
		t.Errorf("a tag that is no version: %v", err)
	}
}

func TestEnvironmentSecretsAreMasked(t *testing.T) {
	env := map[string]string{"AWS_SECRET_ACCESS_KEY": "aws-secret-value-123", "ACTIONS_RUNTIME_TOKEN": "runtime-token-456"}
	var out bytes.Buffer
	// --jobs 0 fails at input time; the error quotes nothing secret, so
	// print the secrets through the UI to see them masked.
	r, err := Run(context.Background(), Env{Getenv: func(k string) string { return env[k] }, Stdout: &out}, []string{"--jobs", "0"})
	if err == nil || r.Failed == nil || r.Failed.Stage != InputsStage {
		t.Fatalf("err %v, failed %+v", err, r.Failed)
	}
	r.UI.Printf("%s %s", env["AWS_SECRET_ACCESS_KEY"], env["ACTIONS_RUNTIME_TOKEN"])
	r.UI.Flush()
	for _, s := range env {
		if strings.Contains(out.String(), s) {
			t.Errorf("the log shows %q:\n%s", s, out.String())
		}
	}
}

// TestErrorsArePhrasedForWhereTheRunIs: what the domain packages say
// without naming inputs reads, at the edge, as the Actions input and its
// workflow fix, or the flag and its shell fix, whatever wraps it.
func TestErrorsArePhrasedForWhereTheRunIs(t *testing.T) {
	mine, _ := store.ParseLocation("s3://mine?region=eu-west-1")
	theirs, _ := store.ParseLocation("s3://someone-elses-bucket")
	terminal, actions := inputs.Config{Builder: "flox"}, inputs.Config{Builder: "flox", InActions: true}
	noCreds := func() error {
		return fmt.Errorf("catalog acme (store type nix-copy): %w", &store.NoCredentialsError{Store: "s3://cache/nix"})
	}
	timeout := func() error {
		return &floxhub.PublisherTimeoutError{Catalog: "acme", Known: 1, Total: 2, Timeout: time.Minute}
	}
	unauthorized := func() error {
		return fmt.Errorf("%w (after 5 tries)", &floxhub.APIError{Op: "create package hello in catalog acme", Catalog: "acme", Status: 401})
	}
	for _, tc := range []struct {
		name    string
		cfg     inputs.Config
		err     error
		want    []string
		notWant []string
	}{
		{"flox missing, terminal", terminal, builder.ErrNoFlox,
			[]string{"--builder: is flox, but flox is not on PATH; install Flox (https://flox.dev/docs/install-flox/) or pass --builder local"}, nil},
		{"flox missing, Actions", actions, builder.ErrNoFlox,
			[]string{"input builder: is flox, but flox is not on PATH; on the runner (the native action) add a `uses: flox/install-flox-action@v2` step before this one, which installs Flox and its Nix daemon; or use the container action, whose image has Flox; or set builder: local"}, nil},
		{"store-url for Flox's store, Actions", actions, &catalog.StoreURLError{Catalog: "acme", Type: catalog.StorePublisher, Given: mine},
			[]string{"catalog acme (store type publisher): store-url s3://mine cannot be used", "remove store-url"}, []string{"--store-url"}},
		{"store-url for Flox's store, terminal", terminal, &catalog.StoreURLError{Catalog: "acme", Type: catalog.StorePublisher, Given: mine},
			[]string{"catalog acme (store type publisher): --store-url s3://mine cannot be used", "remove --store-url"}, nil},
		{"store-url for another's store, Actions", actions, &catalog.StoreURLError{Catalog: "acme", Type: catalog.StoreNixCopy, Given: mine, Store: theirs},
			[]string{"catalog acme (store type nix-copy): store-url s3://mine is not the catalog's store s3://someone-elses-bucket"}, nil},
		{"no AWS credentials, Actions", actions, noCreds(),
			[]string{"catalog acme (store type nix-copy): no AWS credentials found for s3://cache/nix", "role-to-assume", "configure-aws-credentials"}, nil},
		{"no AWS credentials, terminal", terminal, noCreds(),
			[]string{"no AWS credentials found for s3://cache/nix", "export AWS_ACCESS_KEY_ID"}, []string{"role-to-assume", "step's env"}},
		{"publisher timeout, Actions", actions, timeout(), []string{"1 of 2 known after 1m0s", "Raise the publisher-timeout input"}, nil},
		{"publisher timeout, terminal", terminal, timeout(), []string{"Pass a longer --publisher-timeout"}, []string{"input"}},
		{"token refused, Actions", actions, unauthorized(),
			[]string{"invalid or expired", "`flox auth token`, and store it in the secret the floxhub-token input reads (after 5 tries)"}, nil},
		{"token refused, terminal", terminal, unauthorized(), []string{"and pass it with --floxhub-token"}, []string{"secret"}},
		{"empty token", actions, floxhub.ErrNoToken, []string{"input floxhub-token: is empty"}, nil},
		{"no OIDC token, Actions", actions, &credentials.MissingPermissionError{RoleARN: "arn:aws:iam::1:role/p", Missing: "ACTIONS_ID_TOKEN_REQUEST_URL"},
			[]string{"ACTIONS_ID_TOKEN_REQUEST_URL is not set", "permissions:\n      id-token: write", "forks"}, nil},
		{"no OIDC token, terminal", terminal, &credentials.MissingPermissionError{RoleARN: "arn:aws:iam::1:role/p", Missing: "ACTIONS_ID_TOKEN_REQUEST_URL"},
			[]string{"leave out --role-to-assume"}, []string{"permissions:"}},
		{"token refused, Actions", actions, fmt.Errorf("upload x: %w", &credentials.RefusedError{RoleARN: "arn:aws:iam::1:role/p", Audience: "sts.amazonaws.com"}),
			[]string{"upload x: STS refused", "this aud (the audience input); check also that role-to-assume names an existing role"}, nil},
		{"STS unreachable, terminal", terminal, &credentials.ExchangeError{RoleARN: "arn:aws:iam::1:role/p", Where: "https://sts", Err: errors.New("503")},
			[]string{"(check --sts-endpoint and --aws-region)"}, nil},
		{"build timeout, Actions", actions, fmt.Errorf("build greeter: %w", &sandbox.TimeoutError{What: `build "greeter"`, Timeout: time.Hour}),
			[]string{`build greeter: build "greeter" ran longer than the build timeout (1h0m0s)`, "raise the build-timeout input"}, []string{"--build-timeout"}},
		{"build timeout, terminal", terminal, &sandbox.TimeoutError{What: `build "greeter"`, Timeout: time.Hour},
			[]string{"pass a longer --build-timeout"}, []string{"input"}},
		{"no key", terminal, cache.ErrNoKey, []string{"--signing-key-file: no signing key"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := phrase(tc.cfg, tc.err)
			if got == nil {
				t.Fatal("phrase = nil")
			}
			for _, w := range tc.want {
				if !strings.Contains(got.Error(), w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got.Error(), w) {
					t.Errorf("%q has %q", got, w)
				}
			}
		})
	}
	// The words change; the error is still the domain's.
	var nc *store.NoCredentialsError
	if !errors.As(phrase(actions, noCreds()), &nc) {
		t.Error("a phrased error is not the domain's any more")
	}
}
