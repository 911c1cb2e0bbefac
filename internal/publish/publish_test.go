package publish

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/builder"
	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/manifest"
	"github.com/flox-publish/publish-action/internal/report"
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
// workflow fix, or the flag and its shell fix.
func TestErrorsArePhrasedForWhereTheRunIs(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  inputs.Config
		err  error
		want string
	}{
		{"flox missing, terminal", inputs.Config{Builder: "flox"}, builder.ErrNoFlox,
			"--builder: is flox, but flox is not on PATH; install Flox (https://flox.dev/docs/install-flox/) or pass --builder local"},
		{"flox missing, Actions", inputs.Config{Builder: "flox", InActions: true}, builder.ErrNoFlox,
			"input builder: is flox, but flox is not on PATH; use the action's image, which has Flox, or set builder: local"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := phrase(tc.cfg, tc.err); got == nil || got.Error() != tc.want {
				t.Errorf("phrase = %v, want %s", got, tc.want)
			}
		})
	}
}
