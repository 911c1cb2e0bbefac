package publish

import (
	"context"
	"errors"
	"os"
	"syscall"

	"github.com/flox-publish/publish-action/internal/report"
	"github.com/flox-publish/publish-action/internal/ui"
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

// claimReport makes the caller the one to report the run's end: whichever
// of the stages' own failure and Abandon comes first; false for the other.
func (r *Release) claimReport() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	first := !r.reported
	r.reported = true
	return first
}

// removeScratch removes the run's scratch directory.
func (r *Release) removeScratch() {
	r.removing.Lock()
	defer r.removing.Unlock()
	r.mu.Lock()
	c := r.Cloned
	r.mu.Unlock()
	if c == nil || c.Scratch == "" {
		return
	}
	os.RemoveAll(c.Scratch)
	if c.lock != nil {
		c.lock.Close()
	}
	c.Scratch, c.lock = "", nil
}

// Abandon ends a cancelled run whose stages did not return in time: it
// reports the cancellation (unless the run has reported its end already)
// from what the release says was done, and removes the run's scratch
// directory. The caller exits right after; the stages are not waited for.
func (r *Release) Abandon(cause error) {
	if r.claimReport() {
		emitCancelled(ui.New(r.Workflow, r.Env.Stdout), r.failure("", cause, true))
	}
	r.removeScratch()
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
