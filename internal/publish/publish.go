package publish

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/report"
	"github.com/flox-publish/publish-action/internal/ui"
	"github.com/flox-publish/publish-action/internal/workflow"
)

// Stages is the release, in order: check → versions → catalog (check) →
// build → read the earlier publish → sign and upload → catalog (record)
// → report. The catalog is asked before the builds whether a package is
// already published, so that it is not built again; what that earlier
// publish put in the store is read after the builds, for the report. Any error stops the run before the next
// stage, so nothing is written after a failure.
func Stages() []Stage {
	return []Stage{checkStage{}, versionStage{}, checkCatalogStage{}, buildStage{}, recallStage{}, uploadStage{}, recordCatalogStage{}, reportStage{}}
}

// environmentSecrets are the variables whose values must never show in the
// log, whatever a build prints.
var environmentSecrets = []string{"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_RUNTIME_TOKEN"}

// InputsStage is the StageError.Stage of a run whose inputs are bad: they
// are read before the stages run.
const InputsStage = "Read the inputs"

// New makes the release of one run in env; Run runs it. The process keeps
// it to Abandon it when a signal's deadline passes.
func New(env Env) *Release {
	run := workflow.Read(env.Getenv)
	return &Release{Env: env, UI: ui.New(run, env.Stdout), Workflow: run}
}

// Run makes a release in env and runs it with args: see Release.Run.
func Run(ctx context.Context, env Env, args []string) (*Release, error) {
	r := New(env)
	return r, r.Run(ctx, args)
}

// Run reads the inputs, decides the mode and the builder, and runs the
// stages. It reports any error itself (an annotation in Actions) and
// returns it: a *StageError naming the stage that failed (InputsStage when
// the inputs are bad). What the run got done stays in r.
func (r *Release) Run(ctx context.Context, args []string) error {
	u := r.UI
	defer u.Flush()
	for _, name := range environmentSecrets {
		u.Mask(r.Env.Getenv(name))
	}
	defer r.removeScratch()

	cfg, err := inputs.Parse(r.Workflow, r.Env.Getenv, args)
	for _, s := range cfg.Secrets() {
		u.Mask(s)
	}
	if err == nil {
		r.Builder, err = chooseBuilder(cfg)
	}
	if err != nil {
		return r.fail(ctx, nil, err)
	}
	r.Inputs = cfg
	if r.iso, err = startIsolation(ctx, u, r.Workflow, r.Env.Getenv, cfg, r.Builder); err != nil {
		return r.fail(ctx, isolationStage{}, err)
	}
	defer r.iso.close(u)
	mode := decideMode(cfg, r.Workflow)
	r.share(func() { r.Mode = mode })
	if u.InActions() { // a terminal gets the mode in the report's first line
		u.Notice("%s", mode.Reason)
	}
	return r.runStages(ctx, Stages())
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
		r.share(func() { r.part = s.Part() })
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
		if r.claimReport() {
			emitCancelled(r.UI, r.failure(part, cause, true))
		}
		return r.Failed
	}
	r.claimReport()
	err = phrase(r.Inputs, err)
	r.Failed = &StageError{Stage: name, Err: err}
	if werr := r.failure(part, err, false).Emit(r.UI); werr != nil {
		r.UI.Warning("job summary: %v", werr)
	}
	return r.Failed
}

// failure is the summary of a run stopped in part by err (cancelled: by
// a signal or a deadline, err its cause), from what the release got
// done. part "" is the part running. It is the one place a failure's
// summary is made, for a stage's error and for a cancellation alike, and
// may be called while the stages run.
func (r *Release) failure(part report.Part, err error, cancelled bool) *report.Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	if part == "" {
		part = r.part
	}
	f := &report.Failure{
		Stage: part, Err: err, Cancelled: cancelled,
		Mode: r.Mode.Reason, DryRun: r.Mode.DryRun,
		RepoURL: r.Workflow.RepoURL(), Root: r.Workflow.Workspace,
	}
	if c := r.Checked; c != nil && c.Source != nil {
		f.Rev = c.Source.Rev
		if f.Root == "" {
			f.Root = c.Source.RepoRoot
		}
	}
	if up := r.Uploaded; up != nil {
		f.StoreURL, f.Uploaded = up.Destination.Store.String(), slices.Clone(up.Paths)
	}
	var notRecorded []string
	for _, p := range r.Packages {
		if p.Recorded {
			f.Recorded = append(f.Recorded, p.Name())
		} else {
			notRecorded = append(notRecorded, p.Name())
		}
	}
	if len(f.Recorded) > 0 {
		f.NotRecorded = notRecorded
	}
	var in Interrupted
	if cancelled && errors.As(err, &in) {
		f.Signal = SignalName(in.Signal)
	}
	return f
}
