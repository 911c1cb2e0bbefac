package report_test

import (
	"errors"
	"testing"

	"github.com/flox-publish/publish-action/internal/report"
	"github.com/flox-publish/publish-action/internal/testenv/fixture"
)

func TestCheckFailureSummary(t *testing.T) {
	f := &report.Failure{Stage: "build", Mode: "Publishing: tag v2.0.0 was pushed.",
		Err: errors.New(`build "greeter" has version 1.0.0 but the tag v2.0.0 says 2.0.0`)}
	fixture.CheckFailureSummary(t, f.Markdown(), "build", `build "greeter" has version 1.0.0`, "v2.0.0")
}
