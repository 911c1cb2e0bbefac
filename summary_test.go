package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/report"
)

// checkFailureSummary checks the job summary of a failed run: its first
// line names the stage and says nothing was published, then come the
// error (holding each of want), what to do, and what was published. The
// failure cases of TestFailuresStopBeforeUpload and the end-to-end
// "mismatched version tag" call it once the pipeline writes a summary on
// every exit (report.Failure.Emit).
func checkFailureSummary(t *testing.T, summary, stage string, want ...string) {
	t.Helper()
	if got, wantFirst := firstLine(summary), "### Failed at the "+stage+" stage: nothing was published."; got != wantFirst {
		t.Errorf("the summary starts %q, want %q:\n%s", got, wantFirst, summary)
	}
	for _, w := range append([]string{"**Error**", "**What to do:**", "Nothing was published"}, want...) {
		if !strings.Contains(summary, w) {
			t.Errorf("the summary lacks %q:\n%s", w, summary)
		}
	}
}

func TestCheckFailureSummary(t *testing.T) {
	f := &report.Failure{Stage: "build", Mode: "Publishing: tag v2.0.0 was pushed.",
		Err: errors.New(`build "greeter" has version 1.0.0 but the tag v2.0.0 says 2.0.0`)}
	checkFailureSummary(t, f.Markdown(), "build", `build "greeter" has version 1.0.0`, "v2.0.0")
}
