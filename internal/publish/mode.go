package publish

import (
	"strings"

	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/workflow"
)

// decideMode says whether the run publishes, and why: a pull request's
// run never does, whatever dry-run says.
func decideMode(cfg inputs.Config, gh workflow.Run) Mode {
	switch {
	case gh.PullRequest():
		why := "Dry run: a " + gh.Event + " event validates the change without publishing"
		if cfg.DryRun == inputs.DryRunFalse {
			why += " (dry-run: false does not apply to pull requests)"
		}
		return Mode{true, why + "."}
	case cfg.DryRun == inputs.DryRunTrue:
		return Mode{true, "Dry run: dry-run is true; everything is built (and signed, given a key), nothing is uploaded."}
	case gh.Event == "push" && strings.HasPrefix(gh.Ref, "refs/tags/"):
		return Mode{false, "Publishing: tag " + strings.TrimPrefix(gh.Ref, "refs/tags/") + " was pushed."}
	case gh.Event == "push":
		return Mode{false, "Publishing: branch " + strings.TrimPrefix(gh.Ref, "refs/heads/") + " was pushed."}
	case gh.Event != "":
		return Mode{false, "Publishing: the " + gh.Event + " event publishes (dry-run is " + string(cfg.DryRun) + ")."}
	}
	return Mode{false, "Publishing from a local run."}
}
