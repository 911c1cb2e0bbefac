package publish

import (
	"context"
	"os"
	"time"

	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/ui"
)

// Stages is the release, in order: check → versions → build → catalog
// (prepare) → sign and upload → catalog (record) → report. Any error stops
// the run before the next stage, so nothing is written after a failure.
func Stages() []Stage {
	return []Stage{checkStage{}, versionStage{}, buildStage{}, prepareCatalogStage{}, uploadStage{}, recordCatalogStage{}, reportStage{}}
}

// environmentSecrets are the variables whose values must never show in the
// log, whatever a build prints.
var environmentSecrets = []string{"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_RUNTIME_TOKEN"}

// InputsStage is the StageError.Stage of a run whose inputs are bad: they
// are read before the stages run.
const InputsStage = "Read the inputs"

// Run reads the inputs and runs the stages. It reports any error itself
// (an annotation in Actions) and returns it: a *StageError naming the stage
// that failed (InputsStage when the inputs are bad). The Release is never
// nil: it holds what the run got done.
func Run(ctx context.Context, env Env, args []string) (*Release, error) {
	u := ui.New(env.Getenv, env.Stdout)
	defer u.Flush()
	for _, name := range environmentSecrets {
		u.Mask(env.Getenv(name))
	}
	r := &Release{Env: env, UI: u}
	defer func() {
		if r.Scratch != "" {
			os.RemoveAll(r.Scratch)
		}
	}()

	cfg, err := inputs.Parse(env.Getenv, args)
	for _, s := range cfg.Secrets() {
		u.Mask(s)
	}
	if err != nil {
		return r, r.fail(InputsStage, err)
	}
	r.Inputs = cfg
	r.GitHub = githubContext(env.Getenv, cfg)
	r.Mode = decideMode(cfg, r.GitHub)
	if u.InActions() { // a terminal gets the mode in the report's first line
		u.Notice("%s", r.Mode.Reason)
	}
	r.Published = map[string]catalog.Published{}
	r.Links = map[string]string{}
	return r, r.runStages(ctx, Stages())
}

// runStages runs stages in order, each in a log group, and stops at the first
// error.
func (r *Release) runStages(ctx context.Context, stages []Stage) error {
	for _, s := range stages {
		if sk, ok := s.(Skipper); ok && sk.Skip(r) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return r.fail(s.String(), context.Cause(ctx))
		}
		end := func(time.Duration) {}
		if _, ok := s.(selfGrouped); !ok {
			endGroup := r.UI.Group(s.String())
			end = func(took time.Duration) {
				r.UI.Printf("%s: %s", s, took.Round(time.Millisecond))
				endGroup()
			}
		}
		start := time.Now()
		err := s.Run(ctx, r)
		took := time.Since(start)
		r.Timings = append(r.Timings, Timing{Stage: s.String(), Took: took})
		end(took)
		if err != nil {
			return r.fail(s.String(), err)
		}
	}
	return nil
}

// fail records and reports the error that stopped the release.
func (r *Release) fail(stage string, err error) error {
	r.Failed = &StageError{Stage: stage, Err: err}
	r.UI.Error(err)
	return r.Failed
}
