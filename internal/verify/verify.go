// Package verify checks, before anything is built, that the commit to
// publish is one the catalog can point at, and returns the facts about it
// that later stages record (Source).
//
// The checks follow `flox publish` in its order — environment tracked,
// work tree clean, commit pushed — and go further where CI needs it:
//   - no upstream branch is needed: tag and pull-request checkouts are
//     detached, and the remote is chosen by name (origin, else the only
//     one, else the branch's upstream);
//   - in Actions, HEAD must be the workflow's commit and, on a tag, the
//     tag's commit; with a token, GitHub itself is asked for the commit;
//   - a shallow checkout (actions/checkout's default) is deepened before
//     revisions are counted, where Flox would report a wrong count;
//   - in a dry run, "not pushed" and "not the workflow's commit" are
//     warnings, since a pull request's merge commit is never pushed; a
//     dirty tree stays an error, because the build would silently use the
//     commit and not the files the user sees.
//
// Every git command runs with the repository marked safe through its
// environment (package git), so a root container can read a checkout owned
// by the runner's user without any config file being written. Verify never
// changes the user's refs; the only write is the deepening of a shallow
// checkout.
package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/flox-publish/publish-action/internal/git"
	"github.com/flox-publish/publish-action/internal/workflow"
)

// Options configures Verify.
type Options struct {
	EnvDir string // the environment directory (holds .flox/), as the user gave it
	DryRun bool
	// Run is the workflow run the commit must be the one of; zero
	// outside Actions.
	Run workflow.Run
	// GitHubToken can read the repository; "" skips asking GitHub.
	GitHubToken string
	HTTPClient  *http.Client // for the GitHub API; nil = default
	// Env is the environment git runs with; nil = os.Environ(). Tests pass
	// their own so they need not change the process's environment.
	Env []string
}

// Source is the verified commit.
type Source struct {
	RepoRoot  string    // absolute top-level directory of the work tree
	EnvDir    string    // env dir relative to RepoRoot, "." at the root (slash-separated)
	Rev       string    // full 40-hex commit of HEAD
	RevCount  int       // git rev-list --count Rev, on the full history
	RevDate   time.Time // committer date
	Ref       string    // refs/tags/v1.2.3, refs/heads/main, refs/pull/7/merge; "" outside Actions when detached
	Remote    string    // remote name used
	RemoteURL string    // the remote's URL without password (and without user, except for ssh)
	Warnings  []string  // dry-run downgrades: shown as warnings and in the summary
	Notes     []string  // what verification did, such as deepening a shallow checkout
}

const lockFile = ".flox/env/manifest.lock"

type verifier struct {
	opts   Options
	git    *git.Git
	envAbs string
	src    Source
}

// Verify runs the checks in order and returns the first failure, as one of
// this package's error types where the condition is the user's to fix.
func Verify(ctx context.Context, opts Options) (*Source, error) {
	v := &verifier{opts: opts}
	steps := []func(context.Context) error{
		v.findRepository, // 1. a git work tree with .flox/ in it
		v.checkTracked,   // 2. the environment, lock included, is committed
		v.checkClean,     // 3. tracked files are as committed
		v.checkHead,      // 4. HEAD is the workflow's commit and tag
		v.checkPushed,    // 5. the remote has HEAD
		v.checkGitHub,    // 6. GitHub has HEAD
		v.describe,       // 7. full history: count, date, ref
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return &v.src, nil
}

// soft reports err as a warning in a dry run and as the error otherwise.
func (v *verifier) soft(err error) error {
	if v.opts.DryRun {
		v.src.Warnings = append(v.src.Warnings, "dry run, continuing although: "+err.Error())
		return nil
	}
	return err
}

func (v *verifier) findRepository(ctx context.Context) error {
	dir := v.opts.EnvDir
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return &ErrNoEnvironment{Dir: dir, Err: err}
	}
	fi, err := os.Stat(abs)
	if err == nil && !fi.IsDir() {
		err = errors.New("not a directory")
	}
	if err != nil {
		return &ErrNoEnvironment{Dir: dir, Err: err}
	}
	v.envAbs = abs
	opts := []git.Option{git.TrustRepository()}
	if v.opts.Env != nil {
		opts = append(opts, git.WithEnv(v.opts.Env))
	}
	if v.git, err = git.New(abs, opts...); err != nil {
		return err
	}

	out, err := v.git.Run(ctx, "rev-parse", "--show-toplevel")
	if err != nil {
		var ge *git.Error
		if errors.As(err, &ge) && strings.Contains(ge.Stderr, "not a git repository") {
			return &ErrNotGit{Dir: dir, Detail: firstLine(ge.Stderr)}
		}
		return fmt.Errorf("finding the git repository of %s: %w", dir, err)
	}
	top := strings.TrimSpace(out)
	if top == "" { // inside a .git directory
		return &ErrNotGit{Dir: dir}
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", dir, err)
	}
	rel, err := filepath.Rel(top, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return &ErrNotGit{Dir: dir, Detail: "git names " + top + " as the work tree, which does not contain it"}
	}
	v.src.RepoRoot = top
	v.src.EnvDir = filepath.ToSlash(rel)

	if fi, err := os.Stat(filepath.Join(abs, ".flox")); err != nil || !fi.IsDir() {
		return &ErrNoEnvironment{Dir: dir}
	}
	return nil
}

// repoPath names a path under the environment relative to the repository
// root, as git prints it with --full-name.
func (v *verifier) repoPath(rel string) string {
	if v.src.EnvDir == "." {
		return rel
	}
	return v.src.EnvDir + "/" + rel
}

func (v *verifier) checkTracked(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(v.envAbs, filepath.FromSlash(lockFile))); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return &ErrNotLocked{Lock: v.repoPath(lockFile), Missing: true}
		}
		return fmt.Errorf("reading the lock file: %w", err)
	}
	// The lock is checked on its own, before the listing below, because
	// --exclude-standard would hide a lock file that .gitignore matches.
	out, err := v.git.Run(ctx, "ls-files", "-z", "--full-name", "--", lockFile)
	if err != nil {
		return fmt.Errorf("checking that the lock file is tracked: %w", err)
	}
	if len(splitZ(out)) == 0 {
		return &ErrNotLocked{Lock: v.repoPath(lockFile)}
	}
	// Ignored files (Flox's own .flox/.gitignore covers run/, cache/, log/)
	// are not part of the environment; everything else must be committed.
	out, err = v.git.Run(ctx, "ls-files", "-z", "--full-name", "--others", "--exclude-standard", "--", ".flox")
	if err != nil {
		return fmt.Errorf("listing untracked environment files: %w", err)
	}
	if paths := splitZ(out); len(paths) > 0 {
		return &ErrUntracked{Dir: v.repoPath(".flox"), Paths: paths}
	}
	return nil
}

func (v *verifier) checkClean(ctx context.Context) error {
	// The whole work tree, not only the environment: the build clones the
	// repository, and may read any tracked file.
	out, err := v.git.Run(ctx, "status", "--porcelain=v1", "-z", "--untracked-files=no")
	if err != nil {
		return fmt.Errorf("checking for uncommitted changes: %w", err)
	}
	var paths []string
	fields := splitZ(out)
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if len(f) < 4 {
			continue
		}
		paths = append(paths, f[3:])
		if f[0] == 'R' || f[0] == 'C' { // the next field is the old name
			i++
		}
	}
	if len(paths) > 0 {
		return &ErrDirty{RepoRoot: v.src.RepoRoot, Paths: paths}
	}
	return nil
}

func (v *verifier) checkHead(ctx context.Context) error {
	out, err := v.git.Run(ctx, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
	if err != nil {
		if git.ExitCode(err) == 1 {
			return &ErrNoCommit{RepoRoot: v.src.RepoRoot}
		}
		return fmt.Errorf("reading HEAD: %w", err)
	}
	head := strings.TrimSpace(out)
	v.src.Rev = head

	gh := v.opts.Run
	if !gh.InActions {
		return nil
	}
	if gh.SHA != "" && !strings.EqualFold(gh.SHA, head) {
		if err := v.soft(&ErrWrongCommit{Head: head, Expected: strings.ToLower(gh.SHA)}); err != nil {
			return err
		}
	}
	if tag, ok := strings.CutPrefix(gh.Ref, "refs/tags/"); ok {
		tagCommit, err := v.tagCommit(ctx, tag)
		if err != nil {
			return err
		}
		if tagCommit != head {
			return &ErrTagMismatch{Tag: tag, TagCommit: tagCommit, Head: head}
		}
	}
	return nil
}

// tagCommit returns the commit tag points at, peeling annotated tags: the
// local tag if the checkout has it, else the remote's.
func (v *verifier) tagCommit(ctx context.Context, tag string) (string, error) {
	ref := "refs/tags/" + tag
	out, err := v.git.Run(ctx, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}")
	if err == nil {
		return strings.TrimSpace(out), nil
	}
	if git.ExitCode(err) != 1 {
		return "", fmt.Errorf("reading tag %s: %w", tag, err)
	}
	remote, _, err := v.remote(ctx)
	if err != nil {
		return "", err
	}
	out, err = v.git.Run(ctx, "ls-remote", remote, ref, ref+"^{}")
	if err != nil {
		return "", fmt.Errorf("asking remote %q for tag %s: %w", remote, tag, err)
	}
	// ls-remote matches patterns against the ends of ref names, so keep
	// only the exact names; the ^{} line, present for annotated tags only,
	// is the commit.
	var direct, peeled string
	for _, line := range strings.Split(out, "\n") {
		sha, name, ok := strings.Cut(strings.TrimSpace(line), "\t")
		switch {
		case !ok:
		case name == ref:
			direct = sha
		case name == ref+"^{}":
			peeled = sha
		}
	}
	switch {
	case peeled != "":
		return peeled, nil
	case direct != "":
		return direct, nil
	}
	return "", &ErrTagNotFound{Tag: tag, Remote: remote}
}

func (v *verifier) describe(ctx context.Context) error {
	out, err := v.git.Run(ctx, "rev-parse", "--is-shallow-repository")
	if err != nil {
		return fmt.Errorf("checking for a shallow checkout: %w", err)
	}
	if strings.TrimSpace(out) == "true" {
		if err := v.deepen(ctx); err != nil {
			return err
		}
	}
	rev := v.src.Rev
	out, err = v.git.Run(ctx, "rev-list", "--count", rev)
	if err != nil {
		return fmt.Errorf("counting the revisions of %s: %w", rev, err)
	}
	if v.src.RevCount, err = strconv.Atoi(strings.TrimSpace(out)); err != nil {
		return fmt.Errorf("counting the revisions of %s: git printed %q", rev, out)
	}
	// log, not Flox's `show -s`: in a partial clone show computes the
	// commit's diff even when told not to print it, and fetches the trees
	// it needs from the remote.
	out, err = v.git.Run(ctx, "log", "-1", "--format=%cI", rev)
	if err != nil {
		return fmt.Errorf("reading the date of %s: %w", rev, err)
	}
	if v.src.RevDate, err = time.Parse(time.RFC3339, strings.TrimSpace(out)); err != nil {
		return fmt.Errorf("reading the date of %s: %w", rev, err)
	}

	if v.opts.Run.InActions {
		v.src.Ref = v.opts.Run.Ref
		return nil
	}
	out, err = v.git.Run(ctx, "symbolic-ref", "--quiet", "HEAD")
	switch {
	case err == nil:
		v.src.Ref = strings.TrimSpace(out)
	case git.ExitCode(err) == 1: // detached
	default:
		return fmt.Errorf("reading the current branch: %w", err)
	}
	return nil
}

// deepen fetches the history a shallow checkout lacks, so that rev-list
// counts every commit.
//
// It asks the remote for the history behind the shallow boundary (the
// commits listed in .git/shallow) rather than behind HEAD: those commits
// came from the remote, while HEAD may not be on it (a pull request's merge
// commit in a dry run). Nothing is written to refs (explicit commits,
// --no-write-fetch-head, --no-tags).
//
// In Actions it fetches with --filter=tree:0, commits only, which is all
// that counting and dating need. Measured against a local bare copy of
// flox/flox (6041 commits) deepened from depth 1: the full history adds
// 21 MB in 4.0 s, blob:none 8 MB in 0.7 s, tree:0 4.4 MB in 0.3 s. A
// filter makes the repository a partial clone (git records the remote as a
// promisor in .git/config and fetches missing objects on demand), which is
// fine for a throwaway CI checkout but would be a surprise on a user's own
// machine, so outside Actions the whole history is fetched.
func (v *verifier) deepen(ctx context.Context) error {
	remote := v.src.Remote
	out, err := v.git.Run(ctx, "rev-parse", "--git-path", "shallow")
	if err != nil {
		return &ErrShallow{Remote: remote, Err: err}
	}
	path := strings.TrimSpace(out)
	if !filepath.IsAbs(path) {
		path = filepath.Join(v.envAbs, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return &ErrShallow{Remote: remote, Err: err}
	}
	boundary := strings.Fields(string(data))
	args := []string{"fetch", "--quiet", "--unshallow", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules"}
	if v.opts.Run.InActions {
		args = append(args, "--filter=tree:0")
	}
	args = append(append(args, remote), boundary...)
	start := time.Now()
	_, err = v.git.Run(ctx, args...)
	v.restoreOwnership(ctx)
	if err != nil {
		return &ErrShallow{Remote: remote, Err: err}
	}
	out, err = v.git.Run(ctx, "rev-parse", "--is-shallow-repository")
	if err != nil {
		return &ErrShallow{Remote: remote, Err: err}
	}
	if strings.TrimSpace(out) != "false" {
		return &ErrShallow{Remote: remote, Err: errors.New("the checkout is still shallow after fetching")}
	}
	v.src.Notes = append(v.src.Notes, fmt.Sprintf(
		"the checkout was shallow: fetched the commit history from remote %q in %s so the revision count is exact (actions/checkout with `fetch-depth: 0` avoids this step)",
		remote, time.Since(start).Round(time.Millisecond)))
	return nil
}

// restoreOwnership hands back what git wrote as root to the repository's
// owner (see restoreOwnership in owner_unix.go).
func (v *verifier) restoreOwnership(ctx context.Context) {
	out, err := v.git.Run(context.WithoutCancel(ctx), "rev-parse", "--git-common-dir")
	if err != nil {
		return
	}
	dir := strings.TrimSpace(out)
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(v.envAbs, dir)
	}
	restoreOwnership(dir)
}

func splitZ(s string) []string {
	var out []string
	for _, f := range strings.Split(s, "\x00") {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "fatal: ")
	line, _, _ := strings.Cut(s, "\n")
	return line
}
