package verify

import (
	"fmt"
	"strings"
)

// The errors below are what Verify refuses a commit for. Each says what is
// wrong, where, and what to do; callers and tests match them with
// errors.As.

// ErrNoEnvironment: the directory does not exist or holds no .flox/.
type ErrNoEnvironment struct {
	Dir string // as the user gave it
	Err error  // why it could not be read, if it could not
}

func (e *ErrNoEnvironment) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("environment directory %s cannot be read: %v: point the action at the directory that holds .flox/", e.Dir, e.Err)
	}
	return fmt.Sprintf("%s is not a Flox environment (no .flox/ directory in it): point the action at the directory that holds .flox/, or create one with `flox init` and commit it", e.Dir)
}

func (e *ErrNoEnvironment) Unwrap() error { return e.Err }

// ErrNotGit: the environment is not inside a git work tree.
type ErrNotGit struct {
	Dir    string
	Detail string // git's own words
}

func (e *ErrNotGit) Error() string {
	msg := fmt.Sprintf("environment directory %s is not inside a git work tree", e.Dir)
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg + ": Flox publishes from a git commit, so the environment must be committed to a git repository (in CI, check it out with actions/checkout first)"
}

// ErrNotLocked: .flox/env/manifest.lock is missing or not tracked.
type ErrNotLocked struct {
	Lock    string // repository-relative path
	Missing bool   // false: present but not tracked by git
}

func (e *ErrNotLocked) Error() string {
	if e.Missing {
		return fmt.Sprintf("the environment is not locked: %s does not exist: lock the environment (Flox writes the lock when the environment is built, e.g. by `flox activate`; there is no user-facing `flox lock`) and commit the lock file", e.Lock)
	}
	return fmt.Sprintf("the environment's lock file %s is not tracked by git (is it ignored?): commit it (git add -f %s && git commit), the package is built from a clean clone that only has tracked files", e.Lock, e.Lock)
}

// ErrUntracked: files under .flox/ are not tracked, so the clean clone the
// package is built from would not have them.
type ErrUntracked struct {
	Dir   string   // repository-relative .flox directory
	Paths []string // repository-relative
}

func (e *ErrUntracked) Error() string {
	return fmt.Sprintf("these environment files are not tracked by git:%s\nadd and commit them (git add %s && git commit): the package is built from a clean clone of the commit, which only has tracked files",
		list(e.Paths), e.Dir)
}

// ErrDirty: tracked files differ from the commit. This is an error even in
// a dry run: the build would silently use the commit, not these files.
type ErrDirty struct {
	RepoRoot string
	Paths    []string // repository-relative
}

func (e *ErrDirty) Error() string {
	return fmt.Sprintf("the repository at %s has uncommitted changes to tracked files:%s\ncommit or stash them: the package is built from a clean clone of the commit, so it would not contain these changes",
		e.RepoRoot, list(e.Paths))
}

// ErrNoCommit: HEAD does not name a commit (a repository without commits).
type ErrNoCommit struct{ RepoRoot string }

func (e *ErrNoCommit) Error() string {
	return fmt.Sprintf("the repository at %s has no commit checked out: commit the environment first", e.RepoRoot)
}

// ErrWrongCommit: the checkout is not the commit the workflow runs for.
type ErrWrongCommit struct{ Head, Expected string }

func (e *ErrWrongCommit) Error() string {
	return fmt.Sprintf("the checked-out commit %s is not the commit this workflow run is for (GITHUB_SHA %s): check out the workflow's commit (actions/checkout without a different `ref`), or publish from a workflow triggered for %s",
		e.Head, e.Expected, e.Head)
}

// ErrTagNotFound: the workflow runs for a tag that exists neither locally
// nor on the remote.
type ErrTagNotFound struct{ Tag, Remote string }

func (e *ErrTagNotFound) Error() string {
	return fmt.Sprintf("the workflow runs for tag %s, but the tag is neither in the checkout nor on remote %q: push the tag (git push %s refs/tags/%s)",
		e.Tag, e.Remote, e.Remote, e.Tag)
}

// ErrTagMismatch: the workflow's tag points at another commit than HEAD.
type ErrTagMismatch struct{ Tag, TagCommit, Head string }

func (e *ErrTagMismatch) Error() string {
	return fmt.Sprintf("tag %s points at commit %s, but the checked-out commit is %s: check out the tag (actions/checkout without a different `ref`), or move the tag to the commit you mean to publish",
		e.Tag, e.TagCommit, e.Head)
}

// ErrNoRemote: no remote to check the commit against (or several, none
// named origin, and no upstream to choose one).
type ErrNoRemote struct {
	RepoRoot string
	Remotes  []string
}

func (e *ErrNoRemote) Error() string {
	if len(e.Remotes) == 0 {
		return fmt.Sprintf("the repository at %s has no git remote: add the repository others fetch from (git remote add origin <url>) and push the commit; the catalog records where the source can be fetched", e.RepoRoot)
	}
	return fmt.Sprintf("the repository at %s has several remotes (%s), none named origin, and the current branch has no upstream: name one origin, or set the branch's upstream (git branch --set-upstream-to <remote>/<branch>)",
		e.RepoRoot, strings.Join(e.Remotes, ", "))
}

// ErrNotPushed: the remote does not have the commit, so nobody else could
// fetch the source the catalog points at.
type ErrNotPushed struct {
	Rev    string
	Remote string
	URL    string // without credentials
	Branch string // the checked-out branch, "" when detached
}

func (e *ErrNotPushed) Error() string {
	branch := e.Branch
	if branch == "" {
		branch = "HEAD:<branch>"
	}
	return fmt.Sprintf("commit %s is not on remote %q (%s): push it first (git push %s %s); the catalog records where the source can be fetched",
		e.Rev, e.Remote, e.URL, e.Remote, branch)
}

// ErrNotOnGitHub: GitHub answered 404 or 422 for the commit.
type ErrNotOnGitHub struct {
	Rev        string
	Repository string
	Status     int
}

func (e *ErrNotOnGitHub) Error() string {
	return fmt.Sprintf("GitHub has no commit %s in repository %s (HTTP %d): push the commit to GitHub; if the repository is private, the token may also be unable to read it (give the job `permissions: contents: read`)",
		e.Rev, e.Repository, e.Status)
}

// ErrGitHubAuth: GitHub refused the token (401) or its permissions (403).
type ErrGitHubAuth struct {
	Repository string
	Status     int
}

func (e *ErrGitHubAuth) Error() string {
	why := "does not allow reading its commits"
	if e.Status == 401 {
		why = "is invalid or expired"
	}
	return fmt.Sprintf("GitHub refused the token for repository %s (HTTP %d): the token %s; give the job `permissions: contents: read`, or pass a token that can read the repository",
		e.Repository, e.Status, why)
}

// ErrShallow: the checkout is shallow and its history could not be
// fetched, so the revision count would be wrong.
type ErrShallow struct {
	Remote string
	Err    error
}

func (e *ErrShallow) Error() string {
	return fmt.Sprintf("the checkout is shallow and fetching the rest of its history from remote %q failed, so the revision count would be wrong: check out with full history (actions/checkout: `fetch-depth: 0`): %v",
		e.Remote, e.Err)
}

func (e *ErrShallow) Unwrap() error { return e.Err }

const maxListed = 20

func list(paths []string) string {
	var b strings.Builder
	for i, p := range paths {
		if i == maxListed {
			fmt.Fprintf(&b, "\n  … and %d more", len(paths)-maxListed)
			break
		}
		b.WriteString("\n  - ")
		b.WriteString(p)
	}
	return b.String()
}
