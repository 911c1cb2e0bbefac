// Package publish is the release: an ordered list of stages (see Stages),
// each handing the next a typed result, and one record per package that
// the stages fill in as it goes. Run reads the inputs, then runs the
// stages one after the other, each in a log group and timed, and stops at
// the first error, which it reports and returns as a *StageError naming
// the stage. The report, the failure summary and a cancellation's summary
// all read what the stages wrote; nothing is written twice.
package publish

import (
	"context"
	"io"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/flox-publish/publish-action/internal/builder"
	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/closure"
	"github.com/flox-publish/publish-action/internal/floxhub"
	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/manifest"
	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/nixpath"
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
}

// Mode is whether the run writes to the store, and why.
type Mode struct {
	DryRun bool
	Reason string // the first line of the summary
}

// Release is one run: what was decided before the stages, each stage's
// result, and one record per package. Each result is set by its stage
// alone and is nil until that stage has run.
type Release struct {
	Env Env
	UI  *ui.UI
	// Workflow is the workflow run's context, read once by New.
	Workflow workflow.Run
	// Inputs, Mode and Builder are decided once, before the stages.
	Inputs  inputs.Config
	Mode    Mode
	Builder builder.Builder

	// Packages are the selected builds, in manifest order: the check
	// stage makes one record each, the later stages fill in their parts.
	Packages []*Package

	Checked  *Checked        // check
	Cloned   *Cloned         // versions
	Catalog  *CatalogChecked // catalog check
	Built    *Built          // build
	Recalled *Recalled       // read the earlier publish
	Uploaded *Uploaded       // sign and upload
	Report   *report.Report  // report

	// Timings are the stages that ran, in order, with how long each took.
	Timings []Timing
	// Failed is the stage that stopped the run, nil when none did.
	Failed *StageError

	// iso keeps the builds from the action's secrets and the workspace.
	iso *isolation

	// mu guards what a cancellation reads while the stages still run
	// (see Abandon): the part running, Mode, the results' pointers, the
	// paths uploaded and which packages are recorded. Stages set those
	// with share.
	mu   sync.Mutex
	part report.Part
	// reported is set by whichever of the run's own end and Abandon
	// reports first; the other says nothing.
	reported bool
	// removing is held while the scratch directory is removed, so that a
	// second caller returns only once it is gone.
	removing sync.Mutex
}

// Package is one selected build on its way through the release. Each
// field is set by one stage.
type Package struct {
	Build manifest.Build // check
	// Version is the build's version (the version tag's for a build that
	// sets none). Set by the versions stage.
	Version string
	// Published is the catalog's record of this commit's build for this
	// system, when it has one: the package is not built again. Set by the
	// catalog check.
	Published *catalog.Published
	// Result is what the builder made; nil when the package was published
	// already. Set by the build stage.
	Result *builder.Result
	// Link is the package's catalog page, or its object in the store's
	// catalog index (in a dry run, the one it would have). The rest say
	// where the catalog record stage recorded it: FloxHub, the store's
	// index, and whether it is recorded at all.
	Link string
	// Record is what the earlier publish left in the store, when the
	// package was published already. Set by the recall stage.
	Record    *Record
	InFloxHub bool
	InIndex   bool
	Recorded  bool
}

// Name is the package's name, its [build] key.
func (p *Package) Name() string { return p.Build.Name }

// Checked is what the check stage found: the verified commit, its
// environment, and what publishing it takes.
type Checked struct {
	Source      *verify.Source
	Environment *manifest.Environment
	Key         *signing.Key // nil in pull requests and unsigned dry runs
	// Credentials is the OIDC → STS provider when role-to-assume is set,
	// else the credentials found in the environment for an s3:// store;
	// nil when there is no such store yet (a catalog's, named after the
	// builds). It holds no OIDC token yet: the first one is fetched at the
	// first upload.
	Credentials aws.CredentialsProvider
}

// Cloned is the clean clone the builds run in.
type Cloned struct {
	Scratch string // the run's scratch directory, removed when it ends
	Dir     string // the environment directory inside the clone
	lock    *os.File
}

// CatalogChecked is what the catalog check left for the later stages.
type CatalogChecked struct {
	// Hub is FloxHub's client; nil without floxhub-token (the store's
	// catalog index was asked instead).
	Hub *floxhub.Client
}

// Built is what the build stage built.
type Built struct {
	Packages []*Package // in manifest order
}

// Closure is every path the built packages need, in order (a path two
// packages share comes twice: the cache writes it once).
func (b *Built) Closure() []nixpath.PathInfo {
	var closure []nixpath.PathInfo
	for _, p := range b.Packages {
		closure = append(closure, p.Result.Closure...)
	}
	return closure
}

// Recalled is the store the packages published already went to.
type Recalled struct {
	Destination catalog.Destination
	// Store is Destination's store, opened; nil when it has no catalog
	// index to read (Unreadable says why).
	Store      store.Store
	Unreadable string
}

// Record is what an earlier publish of a package left in the store.
type Record struct {
	// StorePaths are its outputs, as its catalog index record names them.
	StorePaths []string
	// NarInfos are the outputs' narinfos, as the store serves them.
	NarInfos []*narinfo.NarInfo
	// Manifest is its closure manifest; nil when the store has none.
	Manifest *closure.Stored
	// Lacks says what of the above is not known, and why; "" when all is.
	Lacks string
}

// Uploaded is where the store paths went and what the store now holds.
type Uploaded struct {
	// Destination is where the catalog says paths go (zero in a dry run).
	Destination catalog.Destination
	// Store is Destination's store, opened; nil in a dry run and when the
	// catalog takes no store paths (meta-only, null) and store-url is
	// empty.
	Store   store.Store
	Written []cache.PathResult
	// NarInfos are the closure's narinfos for the catalog's records, when
	// Destination.SendNarInfos; by store path.
	NarInfos map[string]*narinfo.NarInfo
	// Upstream are the closure's paths that upstream caches serve
	// signed, which are not uploaded.
	Upstream map[string]upstream.Served
	// Paths are the store paths written so far, as they are written: a
	// failure summary lists them (harmless, reused by the next run).
	Paths []string
	// Manifests are the built packages' closure manifests, by package
	// name: written to Store (in a dry run, made and not written). None
	// when the catalog takes no store paths.
	Manifests map[string]*closure.Stored
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

// share runs f, which sets what a cancellation reads, under the lock.
func (r *Release) share(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
}
