package publish

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/flox-publish/publish-action/internal/builder"
	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/manifest"
	"github.com/flox-publish/publish-action/internal/nixdaemon"
	"github.com/flox-publish/publish-action/internal/report"
	"github.com/flox-publish/publish-action/internal/sandbox"
	"github.com/flox-publish/publish-action/internal/ui"
	"github.com/flox-publish/publish-action/internal/workflow"
	"github.com/flox-publish/publish-action/internal/workspace"
)

// isolation is what keeps repository code away from the action's secrets
// and the workspace as the runner left it: the build user, the Nix daemon
// it builds through, and the workspace snapshot. Run starts it before the
// stages (before verification may deepen the checkout) and closes it on
// every exit; the version stage gives the clean clone to the build user;
// notes go to the log and the summary.
type isolation struct {
	sb     *sandbox.Sandbox
	daemon *nixdaemon.Daemon
	ws     *workspace.Snapshot
	reopen func() error // gives back what HideFor closed
	notes  []string
}

// runnerWorkDir is the runner's work directory (the parent of
// RUNNER_WORKSPACE) when the action runs on the runner itself, "" in the
// container, whose /github is closed to builds instead.
func runnerWorkDir(run workflow.Run) string {
	ws := run.RunnerWorkspace
	if ws == "" || !filepath.IsAbs(ws) || strings.HasPrefix(filepath.Clean(ws)+"/", sandbox.RunnerDir+"/") {
		return ""
	}
	work := filepath.Dir(filepath.Clean(ws))
	if work == "/" {
		return ""
	}
	return work
}

// startIsolation snapshots the workspace (before verification may deepen
// it), picks the build user, closes /github to it and, for the flox
// builder as root, starts the Nix daemon with the GitHub token as its
// access-tokens.
func startIsolation(ctx context.Context, u *ui.UI, run workflow.Run, getenv func(string) string, cfg inputs.Config, b builder.Builder) (*isolation, error) {
	iso := &isolation{}
	if dir := run.Workspace; run.InActions && dir != "" {
		ws, err := workspace.Take(dir)
		if err != nil {
			return nil, err
		}
		iso.ws = ws
	}
	var err error
	// Only the flox builder builds through Nix. On a runner (the native
	// action, as root through sudo) the system's daemon, which
	// flox/install-flox-action set up, serves the build user; in the
	// container there is none, and the action starts one.
	if b.Name() == "flox" && os.Geteuid() == 0 {
		if iso.daemon = nixdaemon.System(); iso.daemon == nil {
			if iso.daemon, err = nixdaemon.Start(ctx, nixdaemon.Options{GitHubToken: cfg.GitHubToken}); err != nil {
				return nil, err
			}
		}
	}
	if iso.sb, err = sandbox.New(sandbox.Options{Timeout: cfg.BuildTimeout, Env: iso.daemon.Env()}); err != nil {
		iso.daemon.Stop()
		return nil, err
	}
	if err := iso.sb.Hide(sandbox.RunnerDir); err != nil {
		iso.daemon.Stop()
		return nil, err
	}
	// On a runner, the directory of every job's files (the workspaces,
	// RUNNER_TEMP with the event and file-command files, the actions'
	// code) is closed to builds while they run, and opened again after.
	if work := runnerWorkDir(run); work != "" {
		if iso.reopen, err = iso.sb.HideFor(work); err != nil {
			iso.daemon.Stop()
			return nil, err
		}
	}
	iso.notes = append(iso.notes, iso.sb.Describe())
	if u := getenv("SUDO_USER"); u != "" && iso.sb.Dropped() {
		iso.notes = append(iso.notes, fmt.Sprintf("the action ran as root through sudo, for the runner's user %s, so that builds could run as a user of their own", u))
	}
	if d := iso.daemon.Describe(); d != "" {
		iso.notes = append(iso.notes, d)
	}
	return iso, nil
}

// unsandboxedWarning is the warning for a build that asks for Nix's
// sandbox where it will not have it, "" when there is nothing to say. On
// a runner the system's daemon decides, by its nix.conf.
func (iso *isolation) unsandboxedWarning(name string, b manifest.Build) string {
	if name != "flox" || b.Sandbox != manifest.SandboxPure || !iso.daemon.IsSystem() {
		return builder.UnsandboxedWarning(name, b, !iso.sb.Dropped())
	}
	if s := iso.daemon.Sandbox(); s == "true" || s == "relaxed" {
		return ""
	}
	return fmt.Sprintf(`build %q (%s) asks for sandbox = "pure", but the system's Nix daemon runs builds without Nix's sandbox (its nix.conf says sandbox = %s, or says nothing and that is Nix's default here), so the build could reach the network and files outside its inputs; set sandbox = true (Linux) or sandbox = relaxed (macOS) in /etc/nix/nix.conf and restart the daemon in a step before this one; it still ran as a user of its own, apart from the action's secrets`, b.Name, b.Pos, iso.daemon.Sandbox())
}

// prepareClone gives the clean clone's files (not its .git) to the build
// user; scratch is the run's scratch directory holding it.
func (iso *isolation) prepareClone(scratch, clone string) error {
	return iso.sb.OwnWorktree(scratch, clone)
}

// warn records a warning for the log (an annotation) and the summary.
func (iso *isolation) warn(u *ui.UI, msg string) {
	u.Warning("%s", msg)
	iso.notes = append(iso.notes, "⚠️ "+msg)
}

// close stops the daemon and gives the workspace back, then adds the
// notes to the summary.
func (iso *isolation) close(u *ui.UI) {
	if iso == nil {
		return
	}
	iso.daemon.Stop()
	if iso.reopen != nil {
		if err := iso.reopen(); err != nil {
			u.Warning("%v", err)
		}
	}
	if iso.ws != nil {
		res, err := iso.ws.Restore()
		if err != nil {
			u.Warning("%v", err)
		}
		if res.Undeepened {
			iso.notes = append(iso.notes, "the checkout was deepened to verify the commit; its .git/config and .git/shallow are as they were before the run")
		}
		if res.Chowned > 0 {
			iso.notes = append(iso.notes, fmt.Sprintf("%d paths the run created or changed in the workspace were given to its owner (uid %d)", res.Chowned, res.Owner))
		}
	}
	if len(iso.notes) == 0 {
		return
	}
	// In Actions the first note (whom builds ran as) is in the summary;
	// a terminal has no summary, so it is printed with the rest.
	notes := iso.notes
	if u.InActions() {
		notes = notes[1:]
	}
	for _, n := range notes {
		u.Printf("%s", n)
	}
	if u.InActions() {
		_ = u.AddSummary("\n**Isolation**\n\n- " + strings.Join(iso.notes, "\n- ") + "\n")
	}
}

// isolationStage names a failure to set up the isolation, which happens
// before the stages.
type isolationStage struct{}

func (isolationStage) String() string                      { return "Prepare the build user" }
func (isolationStage) Part() report.Part                   { return report.PartSetUp }
func (isolationStage) Run(context.Context, *Release) error { return nil }
