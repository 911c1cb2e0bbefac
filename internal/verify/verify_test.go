package verify_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/git/gittest"
	"github.com/flox-publish/publish-action/internal/verify"
	"github.com/flox-publish/publish-action/internal/workflow"
)

func TestVerifyPasses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		sub        string
		setup      func(r *repo, o *verify.Options)
		wantRef    string
		wantRemote string
	}{
		{name: "environment at the root", sub: ".", wantRef: "refs/heads/main"},
		{name: "environment in a subdirectory", sub: "pkgs/hello", wantRef: "refs/heads/main"},
		{
			name: "environment named through a symlink", sub: "pkgs/hello", wantRef: "refs/heads/main",
			setup: func(r *repo, o *verify.Options) {
				link := filepath.Join(r.t.TempDir(), "link")
				if err := os.Symlink(r.envDir, link); err != nil {
					r.t.Fatal(err)
				}
				o.EnvDir = link
			},
		},
		{
			name: "detached HEAD without upstream", sub: ".", wantRef: "",
			setup: func(r *repo, o *verify.Options) { r.git("checkout", "--quiet", "--detach") },
		},
		{
			name: "several remotes, the branch's upstream chosen", sub: ".", wantRef: "refs/heads/main", wantRemote: "upstream",
			setup: func(r *repo, o *verify.Options) {
				r.git("remote", "rename", "origin", "upstream")
				r.git("remote", "add", "mirror", filepath.Join(r.t.TempDir(), "elsewhere.git"))
			},
		},
		{
			name: "one remote, not named origin", sub: ".", wantRef: "refs/heads/main", wantRemote: "github",
			setup: func(r *repo, o *verify.Options) {
				r.git("remote", "rename", "origin", "github")
				r.git("branch", "--unset-upstream")
			},
		},
		{
			name: "Actions push to a branch", sub: "pkgs/hello", wantRef: "refs/heads/main",
			setup: func(r *repo, o *verify.Options) {
				r.git("checkout", "--quiet", "--detach")
				o.Run = workflow.Run{InActions: true, Event: "push", Ref: "refs/heads/main", SHA: strings.ToUpper(r.head())}
			},
		},
		{
			name: "Actions annotated tag at HEAD", sub: ".", wantRef: "refs/tags/v1.0.0",
			setup: func(r *repo, o *verify.Options) {
				r.git("tag", "-a", "-m", "release", "v1.0.0")
				r.git("push", "--quiet", "origin", "v1.0.0")
				o.Run = workflow.Run{InActions: true, Event: "push", Ref: "refs/tags/v1.0.0", SHA: r.head()}
			},
		},
		{
			name: "Actions lightweight tag only on the remote", sub: ".", wantRef: "refs/tags/v2",
			setup: func(r *repo, o *verify.Options) {
				r.git("tag", "v2")
				r.git("push", "--quiet", "origin", "v2")
				r.git("tag", "-d", "v2")
				o.Run = workflow.Run{InActions: true, Event: "release", Ref: "refs/tags/v2", SHA: r.head()}
			},
		},
		{
			name: "Actions annotated tag only on the remote", sub: ".", wantRef: "refs/tags/v3",
			setup: func(r *repo, o *verify.Options) {
				r.git("tag", "-a", "-m", "release", "v3")
				r.git("push", "--quiet", "origin", "v3")
				r.git("tag", "-d", "v3")
				o.Run = workflow.Run{InActions: true, Event: "push", Ref: "refs/tags/v3", SHA: r.head()}
			},
		},
		{
			name: "ignored files under .flox", sub: ".", wantRef: "refs/heads/main",
			setup: func(r *repo, o *verify.Options) {
				gittest.WriteFile(r.t, r.envDir, ".flox/run/x86_64-linux.hello.dev/bin/hello", "x")
				gittest.WriteFile(r.t, r.envDir, ".flox/cache/state", "x")
			},
		},
		{
			name: "untracked file outside .flox", sub: ".", wantRef: "refs/heads/main",
			setup: func(r *repo, o *verify.Options) { gittest.WriteFile(r.t, r.work, "notes.txt", "x") },
		},
		{
			// A remote that only speaks protocol v0 cannot negotiate; the
			// commit is found from the remote's refs instead. HEAD is an
			// ancestor of the remote's main, not a ref tip.
			name: "pushed, found without negotiation", sub: ".", wantRef: "",
			setup: func(r *repo, o *verify.Options) {
				r.git("config", "remote.origin.uploadpack", "env -u GIT_PROTOCOL git-upload-pack")
				r.commit("one more")
				r.git("push", "--quiet", "origin", "main")
				r.git("checkout", "--quiet", "--detach", "HEAD~1")
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t, tc.sub)
			opts := r.options()
			if tc.setup != nil {
				tc.setup(r, &opts)
			}
			refsBefore := r.refs()
			src, err := verify.Verify(t.Context(), opts)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			wantRemote := tc.wantRemote
			if wantRemote == "" {
				wantRemote = "origin"
			}
			head := r.head()
			want := verify.Source{
				RepoRoot:  r.work,
				EnvDir:    tc.sub,
				Rev:       head,
				RevCount:  len(strings.Fields(r.git("rev-list", head))),
				RevDate:   r.commitDate(head),
				Ref:       tc.wantRef,
				Remote:    wantRemote,
				RemoteURL: r.remote,
			}
			if !src.RevDate.Equal(want.RevDate) {
				t.Errorf("RevDate = %v, want %v", src.RevDate, want.RevDate)
			}
			src.RevDate = want.RevDate
			if !reflect.DeepEqual(*src, want) {
				t.Errorf("Source =\n%+v\nwant\n%+v", *src, want)
			}
			if after := r.refs(); after != refsBefore {
				t.Errorf("Verify changed the refs:\nbefore %s\nafter  %s", refsBefore, after)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup func(r *repo, o *verify.Options)
		check func(t *testing.T, r *repo, err error)
		// warnInDryRun: a dry run turns the failure into a warning
		// containing this text; "" means it stays an error.
		warnInDryRun string
	}{
		{
			name: "not a git repository",
			setup: func(r *repo, o *verify.Options) {
				dir := r.t.TempDir()
				gittest.WriteFile(r.t, dir, ".flox/env/manifest.toml", manifestTOML)
				o.EnvDir = dir
			},
			check: func(t *testing.T, r *repo, err error) {
				e := as[*verify.ErrNotGit](t, err)
				if !strings.Contains(e.Detail, "not a git repository") {
					t.Errorf("Detail = %q", e.Detail)
				}
			},
		},
		{
			name:  "directory missing",
			setup: func(r *repo, o *verify.Options) { o.EnvDir = filepath.Join(r.work, "nope") },
			check: func(t *testing.T, r *repo, err error) {
				if e := as[*verify.ErrNoEnvironment](t, err); e.Err == nil {
					t.Error("ErrNoEnvironment.Err is nil for a missing directory")
				}
			},
		},
		{
			name: "no .flox in the directory",
			setup: func(r *repo, o *verify.Options) {
				gittest.WriteFile(r.t, r.work, "docs/index.md", "x")
				r.commit("docs")
				r.git("push", "--quiet")
				o.EnvDir = filepath.Join(r.work, "docs")
			},
			check: func(t *testing.T, r *repo, err error) { as[*verify.ErrNoEnvironment](t, err) },
		},
		{
			name: "untracked environment file",
			setup: func(r *repo, o *verify.Options) {
				gittest.WriteFile(r.t, r.envDir, ".flox/env/extra.nix", "{}")
				gittest.WriteFile(r.t, r.envDir, ".flox/log/ignored.log", "x")
			},
			check: func(t *testing.T, r *repo, err error) {
				e := as[*verify.ErrUntracked](t, err)
				if want := []string{r.path(".flox/env/extra.nix")}; !equalStrings(e.Paths, want) {
					t.Errorf("Paths = %q, want %q", e.Paths, want)
				}
				if !strings.Contains(err.Error(), "git add "+r.path(".flox")) {
					t.Errorf("message does not say what to run: %s", err)
				}
			},
		},
		{
			name: "lock file missing",
			setup: func(r *repo, o *verify.Options) {
				r.git("rm", "--quiet", filepath.Join(r.envDir, ".flox/env/manifest.lock"))
				r.commit("unlock")
				r.git("push", "--quiet")
			},
			check: func(t *testing.T, r *repo, err error) {
				e := as[*verify.ErrNotLocked](t, err)
				if !e.Missing || e.Lock != r.path(".flox/env/manifest.lock") {
					t.Errorf("got %+v", e)
				}
			},
		},
		{
			name: "lock file ignored and untracked",
			setup: func(r *repo, o *verify.Options) {
				r.git("rm", "--quiet", "--cached", filepath.Join(r.envDir, ".flox/env/manifest.lock"))
				gittest.WriteFile(r.t, r.work, ".gitignore", "manifest.lock\n")
				r.commit("ignore the lock")
				r.git("push", "--quiet")
			},
			check: func(t *testing.T, r *repo, err error) {
				if e := as[*verify.ErrNotLocked](t, err); e.Missing {
					t.Errorf("got %+v, want present but untracked", e)
				}
			},
		},
		{
			name: "dirty tracked file in the environment",
			setup: func(r *repo, o *verify.Options) {
				gittest.WriteFile(r.t, r.envDir, ".flox/env/manifest.toml", manifestTOML+"# edited\n")
			},
			check: func(t *testing.T, r *repo, err error) {
				e := as[*verify.ErrDirty](t, err)
				if want := []string{r.path(".flox/env/manifest.toml")}; !equalStrings(e.Paths, want) {
					t.Errorf("Paths = %q, want %q", e.Paths, want)
				}
			},
		},
		{
			name: "staged rename outside the environment",
			setup: func(r *repo, o *verify.Options) {
				r.git("mv", "README.md", "README.txt")
			},
			check: func(t *testing.T, r *repo, err error) {
				e := as[*verify.ErrDirty](t, err)
				if want := []string{"README.txt"}; !equalStrings(e.Paths, want) {
					t.Errorf("Paths = %q, want %q", e.Paths, want)
				}
			},
		},
		{
			name: "HEAD is not GITHUB_SHA",
			setup: func(r *repo, o *verify.Options) {
				o.Run = workflow.Run{InActions: true, Event: "push", Ref: "refs/heads/main", SHA: r.git("rev-parse", "HEAD~1")}
			},
			check: func(t *testing.T, r *repo, err error) {
				e := as[*verify.ErrWrongCommit](t, err)
				if e.Head != r.head() || e.Expected != r.git("rev-parse", "HEAD~1") {
					t.Errorf("got %+v", e)
				}
			},
			warnInDryRun: "is not the commit this workflow run is for",
		},
		{
			name: "annotated tag on another commit",
			setup: func(r *repo, o *verify.Options) {
				r.git("tag", "-a", "-m", "release", "v1.0.0", "HEAD~1")
				r.git("push", "--quiet", "origin", "v1.0.0")
				o.Run = workflow.Run{InActions: true, Event: "push", Ref: "refs/tags/v1.0.0", SHA: r.head()}
			},
			check: func(t *testing.T, r *repo, err error) {
				e := as[*verify.ErrTagMismatch](t, err)
				// The commit, not the tag object: the tag was peeled.
				if e.Tag != "v1.0.0" || e.TagCommit != r.git("rev-parse", "HEAD~1") || e.Head != r.head() {
					t.Errorf("got %+v", e)
				}
			},
		},
		{
			name: "annotated tag on another commit, only on the remote",
			setup: func(r *repo, o *verify.Options) {
				r.git("tag", "-a", "-m", "release", "v1.0.0", "HEAD~2")
				r.git("push", "--quiet", "origin", "v1.0.0")
				r.git("tag", "-d", "v1.0.0")
				o.Run = workflow.Run{InActions: true, Event: "push", Ref: "refs/tags/v1.0.0", SHA: r.head()}
			},
			check: func(t *testing.T, r *repo, err error) {
				if e := as[*verify.ErrTagMismatch](t, err); e.TagCommit != r.git("rev-parse", "HEAD~2") {
					t.Errorf("got %+v", e)
				}
			},
		},
		{
			name: "tag nowhere",
			setup: func(r *repo, o *verify.Options) {
				o.Run = workflow.Run{InActions: true, Event: "push", Ref: "refs/tags/v9", SHA: r.head()}
			},
			check: func(t *testing.T, r *repo, err error) {
				if e := as[*verify.ErrTagNotFound](t, err); e.Tag != "v9" || e.Remote != "origin" {
					t.Errorf("got %+v", e)
				}
			},
		},
		{
			name:  "no remote",
			setup: func(r *repo, o *verify.Options) { r.git("remote", "remove", "origin") },
			check: func(t *testing.T, r *repo, err error) {
				if e := as[*verify.ErrNoRemote](t, err); len(e.Remotes) != 0 {
					t.Errorf("got %+v", e)
				}
			},
		},
		{
			name: "several remotes, none origin, no upstream",
			setup: func(r *repo, o *verify.Options) {
				r.git("remote", "rename", "origin", "a")
				r.git("remote", "add", "b", r.remote)
				r.git("branch", "--unset-upstream")
			},
			check: func(t *testing.T, r *repo, err error) {
				if e := as[*verify.ErrNoRemote](t, err); !equalStrings(e.Remotes, []string{"a", "b"}) {
					t.Errorf("got %+v", e)
				}
			},
		},
		{
			name:  "not pushed",
			setup: func(r *repo, o *verify.Options) { r.commit("local only") },
			check: func(t *testing.T, r *repo, err error) {
				e := as[*verify.ErrNotPushed](t, err)
				if e.Rev != r.head() || e.Remote != "origin" || e.URL != r.remote {
					t.Errorf("got %+v", e)
				}
			},
			warnInDryRun: "is not on remote \"origin\"",
		},
		{
			name: "not pushed, remote cannot negotiate",
			setup: func(r *repo, o *verify.Options) {
				r.git("config", "remote.origin.uploadpack", "env -u GIT_PROTOCOL git-upload-pack")
				r.commit("local only")
			},
			check: func(t *testing.T, r *repo, err error) {
				if e := as[*verify.ErrNotPushed](t, err); e.Rev != r.head() {
					t.Errorf("got %+v", e)
				}
			},
			warnInDryRun: "is not on remote \"origin\"",
		},
	}
	for _, tc := range cases {
		for _, dryRun := range []bool{false, true} {
			name := tc.name
			if dryRun {
				name += " (dry run)"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				r := newRepo(t, "pkgs/hello")
				opts := r.options()
				tc.setup(r, &opts)
				opts.DryRun = dryRun
				refsBefore := r.refs()
				src, err := verify.Verify(t.Context(), opts)
				if dryRun && tc.warnInDryRun != "" {
					if err != nil {
						t.Fatalf("dry run: Verify: %v", err)
					}
					if !strings.Contains(strings.Join(src.Warnings, "\n"), tc.warnInDryRun) {
						t.Errorf("Warnings = %q, want one containing %q", src.Warnings, tc.warnInDryRun)
					}
					if src.Rev != r.head() || src.RevCount == 0 {
						t.Errorf("dry run Source = %+v", src)
					}
				} else {
					if err == nil {
						t.Fatalf("Verify passed, Source %+v", src)
					}
					tc.check(t, r, err)
				}
				if after := r.refs(); after != refsBefore {
					t.Errorf("Verify changed the refs:\nbefore %s\nafter  %s", refsBefore, after)
				}
			})
		}
	}
}

// A shallow checkout (actions/checkout's default fetch-depth 1) must give
// the same revision count as the full history.
func TestShallowCheckoutIsDeepened(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		inActions   bool
		localCommit bool // a pull request's merge commit: not on the remote
	}{
		{name: "outside Actions"},
		{name: "in Actions", inActions: true},
		{name: "in Actions, dry run of an unpushed merge commit", inActions: true, localCommit: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t, "pkgs/hello")
			for i := range 5 {
				gittest.WriteFile(t, r.work, "history.txt", strings.Repeat("x", i+1))
				r.commit("history")
			}
			r.git("push", "--quiet")
			full := len(strings.Fields(r.git("rev-list", "HEAD")))

			shallow := gittest.Clone(t, r.env, "file://"+r.remote, "--depth", "1", "--branch", "main")
			if got := gittest.Git(t, r.env, shallow, "rev-list", "--count", "HEAD"); got != "1" {
				t.Fatalf("setup: the clone has %s commits, want a shallow clone of 1", got)
			}
			want := full
			opts := verify.Options{EnvDir: filepath.Join(shallow, "pkgs", "hello"), Env: r.env}
			if tc.localCommit {
				gittest.Git(t, r.env, shallow, "checkout", "--quiet", "--detach")
				gittest.Git(t, r.env, shallow, "commit", "--quiet", "--allow-empty", "-m", "merge")
				opts.DryRun = true
				want++
			}
			head := gittest.Git(t, r.env, shallow, "rev-parse", "HEAD")
			if tc.inActions {
				opts.Run = workflow.Run{InActions: true, Event: "pull_request", Ref: "refs/pull/7/merge", SHA: head}
			}
			src, err := verify.Verify(t.Context(), opts)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if src.RevCount != want {
				t.Errorf("RevCount = %d, want %d (the full history's)", src.RevCount, want)
			}
			if got := gittest.Git(t, r.env, shallow, "rev-parse", "--is-shallow-repository"); got != "false" {
				t.Errorf("still shallow after Verify")
			}
			if !strings.Contains(strings.Join(src.Notes, "\n"), "the checkout was shallow") {
				t.Errorf("Warnings = %q, want a deepening notice", src.Warnings)
			}
			// In Actions only commits are fetched (a partial clone);
			// elsewhere the user's clone stays complete.
			promisor, _ := gittest.TryGit(r.env, shallow, "config", "remote.origin.promisor")
			if got := promisor == "true"; got != tc.inActions {
				t.Errorf("remote.origin.promisor = %q, want a filtered fetch only in Actions", promisor)
			}
			if tc.localCommit != strings.Contains(strings.Join(src.Warnings, "\n"), "is not on remote") {
				t.Errorf("Warnings = %q", src.Warnings)
			}
		})
	}
}

// The Actions workspace belongs to the runner's user while the action runs
// as root: Verify must pass without any git configuration file changing,
// and leave no root-owned files in the checkout.
func TestDubiousOwnership(t *testing.T) {
	t.Parallel()
	r := newRepo(t, "pkgs/hello")
	before := gittest.FileState(t, r.env)
	shallow := gittest.Clone(t, r.env, "file://"+r.remote, "--depth", "1", "--branch", "main")
	configBefore, err := os.ReadFile(filepath.Join(shallow, ".git", "config"))
	if err != nil {
		t.Fatal(err)
	}
	gittest.Chown(t, shallow, 65534, 65534)
	envDir := filepath.Join(shallow, "pkgs", "hello")
	if _, err := gittest.TryGit(r.env, envDir, "status"); err == nil || !strings.Contains(err.Error(), "dubious ownership") {
		t.Fatalf("setup: plain git status = %v, want git's dubious ownership refusal", err)
	}
	head := gittest.Git(t, append(r.env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=safe.directory", "GIT_CONFIG_VALUE_0=*"), shallow, "rev-parse", "HEAD")

	src, err := verify.Verify(t.Context(), verify.Options{
		EnvDir: envDir,
		Env:    r.env,
		Run:    workflow.Run{InActions: true, Event: "push", Ref: "refs/heads/main", SHA: head},
	})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if want := len(strings.Fields(r.git("rev-list", "HEAD"))); src.RevCount != want || src.Rev != head {
		t.Errorf("Source = %+v, want Rev %s RevCount %d", src, head, want)
	}
	if after := gittest.FileState(t, r.env); !reflect.DeepEqual(before, after) {
		t.Errorf("git configuration files changed:\nbefore %v\nafter  %v", before, after)
	}
	configAfter, err := os.ReadFile(filepath.Join(shallow, ".git", "config"))
	if err != nil {
		t.Fatal(err)
	}
	// Deepening in Actions adds the promisor settings; nothing else may
	// change, safe.directory least of all.
	kept := true
	for _, line := range strings.Split(string(configBefore), "\n") {
		kept = kept && (strings.Contains(line, "repositoryformatversion") || strings.Contains(string(configAfter), line))
	}
	if strings.Contains(string(configAfter), "safe") || !kept {
		t.Errorf("repository config changed beyond the partial-clone settings:\nbefore\n%s\nafter\n%s", configBefore, configAfter)
	}
	if wrong := ownersOtherThan(t, shallow, 65534); len(wrong) > 0 {
		t.Errorf("files left owned by another user than the checkout's: %q", wrong)
	}
}

func TestRemoteURLWithoutCredentials(t *testing.T) {
	t.Parallel()
	r := newRepo(t, ".")
	srv := smartHTTPRemote(t, r.env, filepath.Dir(r.remote), "x-access-token", "s3cret-token")
	host := strings.TrimPrefix(srv.URL, "http://")
	r.git("remote", "set-url", "origin", "http://x-access-token:s3cret-token@"+host+"/"+filepath.Base(r.remote))

	src, err := verify.Verify(t.Context(), r.options())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if want := srv.URL + "/" + filepath.Base(r.remote); src.RemoteURL != want {
		t.Errorf("RemoteURL = %q, want %q", src.RemoteURL, want)
	}

	r.commit("local only")
	_, err = verify.Verify(t.Context(), r.options())
	as[*verify.ErrNotPushed](t, err)
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows the password: %s", err)
	}
}

func TestPublicURL(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"https://github.com/o/r.git", "https://github.com/o/r.git"},
		{"https://x-access-token:ghs_abc@github.com/o/r.git", "https://github.com/o/r.git"},
		{"https://ghp_abc@github.com/o/r", "https://github.com/o/r"},
		{"http://user:pa%40ss@git.example.com:8080/o/r", "http://git.example.com:8080/o/r"},
		{"ssh://git@github.com/o/r.git", "ssh://git@github.com/o/r.git"},
		{"ssh://git:secret@github.com:2222/o/r.git", "ssh://git@github.com:2222/o/r.git"},
		{"git+ssh://me:pw@host/r", "git+ssh://me@host/r"},
		{"git@github.com:o/r.git", "git@github.com:o/r.git"},
		{"/srv/git/r.git", "/srv/git/r.git"},
		{"file:///srv/git/r.git", "file:///srv/git/r.git"},
		{"https://user:p ass@host/%zz", "https://host/%zz"}, // unparseable: stripped by pattern
	}
	for _, tc := range cases {
		if got := verify.PublicURL(tc.in); got != tc.want {
			t.Errorf("PublicURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
