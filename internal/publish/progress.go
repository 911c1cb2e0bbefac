package publish

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"syscall"

	"github.com/flox-publish/publish-action/internal/report"
	"github.com/flox-publish/publish-action/internal/ui"
	"github.com/flox-publish/publish-action/internal/workflow"
)

// Interrupted is the cause of a run cancelled by a signal: the workflow
// was cancelled or timed out (the runner sends SIGINT, then SIGTERM), or
// Ctrl-C in a terminal. It is a context.Canceled.
type Interrupted struct {
	Signal os.Signal
}

func (e Interrupted) Error() string {
	why := "as when the job is cancelled or times out"
	if e.Signal == syscall.SIGINT {
		why = "as when the job is cancelled, or Ctrl-C is pressed in a terminal"
	}
	return "the run received " + SignalName(e.Signal) + ", " + why
}

func (e Interrupted) Unwrap() error { return context.Canceled }

// SignalName is a signal's conventional name: SIGTERM rather than Go's
// "terminated".
func SignalName(s os.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	case nil:
		return "a signal"
	}
	return s.String()
}

// Progress is what a run has got done so far, safe to read while the run
// goes on. The process reads it when the stages do not return in time
// after a signal, to say what was and was not published and to remove the
// run's scratch directories before it exits (see Abandon).
type Progress struct {
	mu       sync.Mutex
	stage    report.Part // the part of the release running
	mode     string
	dryRun   bool
	storeURL string
	scratch  []string
	locks    []*os.File // held while the scratch directories are in use
	uploaded []string
	packages []string // the selected builds
	recorded []string
	reported bool
	// removing is held while the scratch directories are removed, so
	// that a second caller returns only once they are gone.
	removing sync.Mutex
}

// update changes p under its lock; a nil Progress tracks nothing.
func (p *Progress) update(f func(*Progress)) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

// claimReport makes the caller the one to report the run's end: whichever
// of the stages' own failure and Abandon comes first; false for the other.
func (p *Progress) claimReport() bool {
	if p == nil {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	first := !p.reported
	p.reported = true
	return first
}

// failure is a cancelled run's report from what the run got done.
func (p *Progress) failure(stage report.Part, cause error) *report.Failure {
	if p == nil {
		p = &Progress{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if stage == "" {
		stage = p.stage
	}
	f := &report.Failure{
		Stage: stage, Err: cause, Cancelled: true, Mode: p.mode, DryRun: p.dryRun,
		StoreURL: p.storeURL, Uploaded: slices.Clone(p.uploaded), Recorded: slices.Clone(p.recorded),
	}
	var in Interrupted
	if errors.As(cause, &in) {
		f.Signal = SignalName(in.Signal)
	}
	if len(f.Recorded) > 0 {
		for _, name := range p.packages {
			if !slices.Contains(f.Recorded, name) {
				f.NotRecorded = append(f.NotRecorded, name)
			}
		}
	}
	return f
}

// removeScratch removes the run's scratch directories.
func (p *Progress) removeScratch() {
	if p == nil {
		return
	}
	p.removing.Lock()
	defer p.removing.Unlock()
	p.mu.Lock()
	dirs, locks := p.scratch, p.locks
	p.scratch, p.locks = nil, nil
	p.mu.Unlock()
	for _, d := range dirs {
		os.RemoveAll(d)
	}
	for _, l := range locks {
		if l != nil {
			l.Close()
		}
	}
}

// Abandon ends a cancelled run whose stages did not return in time: it
// reports the cancellation (unless the run has reported its end already)
// from what p says was done, and removes the run's scratch directories.
// The caller exits right after; the stages are not waited for.
func Abandon(env Env, p *Progress, cause error) {
	if p.claimReport() {
		u := ui.New(workflow.Read(env.Getenv), env.Stdout)
		emitCancelled(u, p.failure("", cause))
	}
	p.removeScratch()
}

// emitCancelled reports a cancelled run: one line saying so and what was
// and was not published (an error annotation in Actions), then the job
// summary in Actions. Errors that the cancellation caused in the stages
// (a killed build, an upload cut short) are not shown: they are noise.
func emitCancelled(u *ui.UI, f *report.Failure) {
	u.Flush()
	if u.InActions() {
		u.Error(errors.New(f.Headline()))
		if err := u.AddSummary(f.Markdown()); err != nil {
			u.Printf("job summary: %v", err)
		}
	} else {
		u.Printf("%s", f.Headline())
	}
	u.Flush()
}
