package publish

import (
	"context"
	"time"

	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/report"
	"github.com/flox-publish/publish-action/internal/ui"
	"github.com/flox-publish/publish-action/internal/workflow"
)

// Stages is the release, in order: check → versions → catalog (check) →
// build → sign and upload → catalog (record) → report. The catalog is
// asked before the builds whether a package is already published, so
// that it is not built again. Any error stops the run before the next
// stage, so nothing is written after a failure.
func Stages() []Stage {
	return []Stage{checkStage{}, versionStage{}, checkCatalogStage{}, buildStage{}, uploadStage{}, recordCatalogStage{}, reportStage{}}
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
	run := workflow.Read(env.Getenv)
	u := ui.New(run, env.Stdout)
	defer u.Flush()
	for _, name := range environmentSecrets {
		u.Mask(env.Getenv(name))
	}
	r := &Release{Env: env, UI: u, Run: run, progress: env.Progress}
	if r.progress == nil {
		r.progress = &Progress{}
	}
	defer r.progress.removeScratch()

	cfg, err := inputs.Parse(run, env.Getenv, args)
	for _, s := range cfg.Secrets() {
		u.Mask(s)
	}
	if err != nil {
		return r, r.fail(ctx, nil, err)
	}
	r.Inputs = cfg
	if r.iso, err = startIsolation(ctx, u, run, cfg); err != nil {
		return r, r.fail(ctx, isolationStage{}, err)
	}
	defer r.iso.close(u)
	r.Mode = decideMode(cfg, run)
	r.progress.update(func(p *Progress) { p.mode, p.dryRun = r.Mode.Reason, r.Mode.DryRun })
	if u.InActions() { // a terminal gets the mode in the report's first line
		u.Notice("%s", r.Mode.Reason)
	}
	r.Published = map[string]catalog.Published{}
	r.Links = map[string]string{}
	r.RecordedInFloxHub = map[string]bool{}
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
			return r.fail(ctx, s, context.Cause(ctx))
		}
		r.progress.update(func(p *Progress) { p.stage = s.Part() })
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
			return r.fail(ctx, s, err)
		}
	}
	return nil
}

// fail records the error that stopped the release and reports it: as an
// annotation, and as the job summary (in a terminal, a text report), so
// that a failed run says where it stopped and what was published.
// A nil stage is the reading of the inputs, before the stages.
func (r *Release) fail(ctx context.Context, s Stage, err error) error {
	name, part := InputsStage, report.PartInputs
	if s != nil {
		name, part = s.String(), s.Part()
	}
	if ctx.Err() != nil {
		// Cancelled: whatever the stage returned is the cancellation's
		// doing; the cause says what happened.
		cause := context.Cause(ctx)
		r.Failed = &StageError{Stage: name, Err: cause}
		if r.progress.claimReport() {
			emitCancelled(r.UI, r.progress.failure(part, cause))
		}
		return r.Failed
	}
	r.progress.claimReport()
	r.Failed = &StageError{Stage: name, Err: err}
	f := &report.Failure{
		Stage: part, Err: err,
		Mode: r.Mode.Reason, DryRun: r.Mode.DryRun, Uploaded: r.Uploaded,
		RepoURL: r.Run.RepoURL(), Root: r.Run.Workspace,
	}
	if r.Store != nil {
		f.StoreURL = r.Store.URL()
	} else if !r.StoreAt.IsZero() {
		f.StoreURL = r.StoreAt.String()
	}
	if r.Source != nil {
		f.Rev = r.Source.Rev
		if f.Root == "" {
			f.Root = r.Source.RepoRoot
		}
	}
	if werr := f.Emit(r.UI); werr != nil {
		r.UI.Warning("job summary: %v", werr)
	}
	return r.Failed
}
