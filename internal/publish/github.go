package publish

import (
	"strings"

	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/verify"
)

// githubContext reads the workflow's context; zero outside Actions.
func githubContext(getenv func(string) string, cfg inputs.Config) verify.GitHub {
	if !cfg.InActions {
		return verify.GitHub{}
	}
	return verify.GitHub{
		InActions:  true,
		EventName:  getenv("GITHUB_EVENT_NAME"),
		Ref:        getenv("GITHUB_REF"),
		SHA:        getenv("GITHUB_SHA"),
		Repository: getenv("GITHUB_REPOSITORY"),
		APIURL:     getenv("GITHUB_API_URL"),
		ServerURL:  getenv("GITHUB_SERVER_URL"),
		Token:      cfg.GitHubToken,
	}
}

// prEvents are the events whose checkout is a merge commit that was never
// pushed, and which forks can trigger: they validate, they never publish.
var prEvents = map[string]bool{"pull_request": true, "pull_request_target": true, "merge_group": true}

func decideMode(cfg inputs.Config, gh verify.GitHub) Mode {
	switch {
	case prEvents[gh.EventName]:
		why := "Dry run: a " + gh.EventName + " event validates the change without publishing"
		if cfg.DryRun == inputs.DryRunFalse {
			why += " (dry-run: false does not apply to pull requests)"
		}
		return Mode{true, why + "."}
	case cfg.DryRun == inputs.DryRunTrue:
		return Mode{true, "Dry run: dry-run is true; everything is built (and signed, given a key), nothing is uploaded."}
	case gh.EventName == "push" && strings.HasPrefix(gh.Ref, "refs/tags/"):
		return Mode{false, "Publishing: tag " + strings.TrimPrefix(gh.Ref, "refs/tags/") + " was pushed."}
	case gh.EventName == "push":
		return Mode{false, "Publishing: branch " + strings.TrimPrefix(gh.Ref, "refs/heads/") + " was pushed."}
	case gh.EventName != "":
		return Mode{false, "Publishing: the " + gh.EventName + " event publishes (dry-run is " + string(cfg.DryRun) + ")."}
	}
	return Mode{false, "Publishing from a local run."}
}

// runURL is the web page of the workflow run, "" outside Actions.
func runURL(getenv func(string) string) string {
	server, repo, id := getenv("GITHUB_SERVER_URL"), getenv("GITHUB_REPOSITORY"), getenv("GITHUB_RUN_ID")
	if server == "" || repo == "" || id == "" {
		return ""
	}
	return strings.TrimSuffix(server, "/") + "/" + repo + "/actions/runs/" + id
}
