// Package workflow is the run's context as the GitHub Actions runner hands
// it to a container action: which event, ref and commit the workflow runs
// for, in which repository, and where the runner reads the step's outputs
// and job summary. It is read from the environment once, at the start
// (Read), and handed to whatever needs it (the UI, the inputs, the
// verification, the isolation, the reports), so no package reads GITHUB_*
// variables of its own.
package workflow

import "strings"

// Run is what the runner says about the workflow run. Outside Actions
// (GITHUB_ACTIONS is not "true") the run's facts are zero, whatever the
// environment holds; only the file commands' paths are read everywhere.
type Run struct {
	// InActions is true when the runner started the action.
	InActions  bool
	Event      string // GITHUB_EVENT_NAME: push, pull_request, …
	Ref        string // GITHUB_REF: refs/tags/v1.2.3, refs/heads/main, refs/pull/7/merge
	SHA        string // GITHUB_SHA
	Repository string // GITHUB_REPOSITORY: owner/name
	Owner      string // GITHUB_REPOSITORY_OWNER
	APIURL     string // GITHUB_API_URL; "" means https://api.github.com
	ServerURL  string // GITHUB_SERVER_URL
	ID         string // GITHUB_RUN_ID
	// RunnerWorkspace is RUNNER_WORKSPACE, the runner's directory of this
	// repository's workspaces.
	RunnerWorkspace string

	// Workspace is GITHUB_WORKSPACE, the checkout's directory, which file
	// positions in annotations and the summary are relative to.
	Workspace string
	// Outputs and Summary are the files the step's outputs and its job
	// summary are appended to (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY).
	Outputs, Summary string
}

// Read reads the run's context through getenv.
func Read(getenv func(string) string) Run {
	r := Run{Workspace: getenv("GITHUB_WORKSPACE"), Outputs: getenv("GITHUB_OUTPUT"), Summary: getenv("GITHUB_STEP_SUMMARY")}
	if getenv("GITHUB_ACTIONS") != "true" {
		return r
	}
	r.InActions = true
	r.Event = getenv("GITHUB_EVENT_NAME")
	r.Ref = getenv("GITHUB_REF")
	r.SHA = getenv("GITHUB_SHA")
	r.Repository = getenv("GITHUB_REPOSITORY")
	r.Owner = getenv("GITHUB_REPOSITORY_OWNER")
	r.APIURL = getenv("GITHUB_API_URL")
	r.ServerURL = getenv("GITHUB_SERVER_URL")
	r.ID = getenv("GITHUB_RUN_ID")
	r.RunnerWorkspace = getenv("RUNNER_WORKSPACE")
	return r
}

// RepoURL is the repository's web page, "" outside Actions.
func (r Run) RepoURL() string {
	if r.ServerURL == "" || r.Repository == "" {
		return ""
	}
	return strings.TrimSuffix(r.ServerURL, "/") + "/" + r.Repository
}

// URL is the web page of the workflow run, "" outside Actions.
func (r Run) URL() string {
	if repo := r.RepoURL(); repo != "" && r.ID != "" {
		return repo + "/actions/runs/" + r.ID
	}
	return ""
}

// Tag is the tag the run is for, when a tag was pushed.
func (r Run) Tag() (string, bool) {
	return strings.CutPrefix(r.Ref, "refs/tags/")
}

// PullRequest reports whether the run's checkout is a merge commit that
// was never pushed, of an event forks can trigger: such runs validate,
// they never publish.
func (r Run) PullRequest() bool {
	switch r.Event {
	case "pull_request", "pull_request_target", "merge_group":
		return true
	}
	return false
}
