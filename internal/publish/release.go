// Package publish is the release: one Release holding the run's state, and
// an ordered list of stages that fill it in (see Stages). Run reads the
// inputs, then runs the stages one after the other, each in a log group
// and timed, and stops at the first error, which it reports and returns
// as a *StageError naming the stage.
package publish

import (
	"context"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/flox-publish/publish-action/internal/builder"
	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/floxhub"
	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/manifest"
	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/report"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/ui"
	"github.com/flox-publish/publish-action/internal/upstream"
	"github.com/flox-publish/publish-action/internal/verify"
	"github.com/flox-publish/publish-action/internal/workflow"
)

// Env is the process's world, injected so that tests run in parallel.
type Env struct {
	Getenv  func(string) string
	Environ []string
	Stdout  io.Writer
	// Progress, when set, is kept up to date as the run goes, for the
	// process to read while the run goes on (see Abandon).
	Progress *Progress
}

// Mode is whether the run writes to the store, and why.
type Mode struct {
	DryRun bool
	Reason string // the first line of the summary
}

// Release is the state of one run. Each stage reads what earlier stages
// set and sets its own part; a field is zero until its stage has run.
type Release struct {
	Env    Env
	UI     *ui.UI
	Inputs inputs.Config
	// Run is the workflow run's context, read once.
	Run  workflow.Run
	Mode Mode

	// Set by the check stage.
	Source      *verify.Source
	Environment *manifest.Environment
	Builds      []manifest.Build // the selected builds, in manifest order
	Key         *signing.Key     // nil in pull requests and unsigned dry runs
	Builder     builder.Builder
	// Credentials is the OIDC → STS provider when role-to-assume is set,
	// else the credentials found in the environment; it holds no OIDC
	// token yet: the first one is fetched at the first upload.
	Credentials aws.CredentialsProvider

	// Set by the version stage: the clean clone and each build's version.
	Scratch  string // removed when Run returns
	CloneDir string // the environment directory inside the clone
	Versions []string

	// Set by the build stage, one per build.
	Results []*builder.Result

	// Set by the catalog-check stage, before the builds.
	Hub *floxhub.Client // nil without floxhub-token, and in a dry run
	// Published are the packages already published from this commit for
	// this system (FloxHub's check-build, or a file:// catalog index):
	// they are not built.
	Published map[string]catalog.Published

	// Set by the upload stage. Store is nil in a dry run, and when the
	// catalog takes no store paths (meta-only, null) and store-url is
	// empty.
	Destination catalog.Destination // where the catalog says paths go
	Store       store.Store
	StoreAt     store.Location // where Store is, when it is file:// or s3://
	Written     []cache.PathResult
	// NarInfos are the closure's narinfos for the catalog's records, when
	// Destination.SendNarInfos; by store path.
	NarInfos map[string]*narinfo.NarInfo
	// Upstream are the closure's paths that upstream caches serve signed,
	// which are not uploaded.
	Upstream map[string]upstream.Served
	// Uploaded are the store paths written so far, as they are written:
	// a failure summary lists them (harmless, reused by the next run).
	Uploaded []string

	// Set by the catalog-record stage: each package's catalog link, and
	// the packages recorded so far (in FloxHub or the store's index), and
	// those FloxHub recorded.
	Links             map[string]string
	Recorded          []string
	RecordedInFloxHub map[string]bool

	// Set by the report stage.
	Report *report.Report

	// iso keeps the builds from the action's secrets and the workspace.
	iso *isolation

	// Timings are the stages that ran, in order, with how long each took.
	Timings []Timing
	// Failed is the stage that stopped the run, nil when none did.
	Failed *StageError

	progress *Progress
}

// Timing is how long one stage took.
type Timing struct {
	Stage string
	Took  time.Duration
}

// Stage is one step of the release.
type Stage interface {
	// String is the stage's name as people read it, e.g. "Sign and upload".
	String() string
	// Part is the part of the release it belongs to, as the failure
	// summary names it.
	Part() report.Part
	Run(ctx context.Context, r *Release) error
}

// Skipper is a Stage that does not apply to every release (a dry run does
// not write to FloxHub, say).
type Skipper interface {
	Skip(r *Release) bool
}

// selfGrouped is a Stage that opens its own log groups (one per build):
// GitHub's log has no nested groups.
type selfGrouped interface {
	groupsItself()
}

// StageError is the error that stopped a release, and the stage it stopped
// in.
type StageError struct {
	Stage string
	Err   error
}

func (e *StageError) Error() string { return e.Err.Error() }
func (e *StageError) Unwrap() error { return e.Err }
