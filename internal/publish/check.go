package publish

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/flox-publish/publish-action/internal/credentials"
	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/manifest"
	"github.com/flox-publish/publish-action/internal/report"
	"github.com/flox-publish/publish-action/internal/retry"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/verify"
)

// checkStage verifies the commit, the manifest and the inputs that only make
// sense together, so that a bad release fails in seconds, before any
// build.
type checkStage struct{}

// gitHubTimeout bounds the question to GitHub's API whether it has the
// commit.
const gitHubTimeout = 30 * time.Second

func (checkStage) String() string    { return "Check the commit, the manifest and the inputs" }
func (checkStage) Part() report.Part { return report.PartVerify }

func (checkStage) Run(ctx context.Context, r *Release) error {
	cfg := r.Inputs
	// GitHub's answer is bounded: a request it holds open must not hold
	// the release (a cancel ends it sooner, through ctx).
	client := &http.Client{Timeout: gitHubTimeout}
	src, err := verify.Verify(ctx, verify.Options{EnvDir: cfg.Dir, DryRun: r.Mode.DryRun, Run: r.Workflow, GitHubToken: cfg.GitHubToken, Env: r.Env.Environ, HTTPClient: client})
	if err != nil {
		return err
	}
	c := &Checked{Source: src}
	r.share(func() { r.Checked = c })
	for _, w := range src.Warnings {
		r.UI.Warning("%s", w)
	}
	for _, n := range src.Notes {
		r.UI.Printf("%s", n)
	}
	if c.Environment, err = manifest.Load(ctx, filepath.Join(src.RepoRoot, filepath.FromSlash(src.EnvDir))); err != nil {
		return locate(err)
	}
	if len(c.Environment.Lock.CatalogPackages()) == 0 {
		return fmt.Errorf("%s: the toplevel group has no catalog package; install one (flox install <package>) and commit .flox/env/manifest.lock: flox publish takes the base catalog of the builds from it (flake and store-path packages do not count)", c.Environment.LockPath)
	}
	builds, err := c.Environment.Select(cfg.Packages)
	if err != nil {
		return locate(err)
	}
	if cfg.FloxHubToken != "" && cfg.Catalog == "" {
		return cfg.Errorf("catalog", inputs.Fix{Workflow: "add catalog: NAME to the step's with:", Terminal: "pass --catalog NAME"}, "is required with floxhub-token: name the catalog to publish into")
	}
	pkgs := make([]*Package, len(builds))
	for i, b := range builds {
		pkgs[i] = &Package{Build: b}
	}
	r.share(func() { r.Packages = pkgs })
	if !r.Mode.DryRun && cfg.Store.IsZero() && cfg.FloxHubToken == "" {
		return cfg.StoreURLRequired()
	}
	// In a pull request the key is neither read nor needed: forks have no
	// secrets, and a dry run must pass without them.
	if !r.Workflow.PullRequest() {
		if c.Key, err = cfg.LoadSigningKey(); err != nil {
			return err
		}
	}
	if c.Key != nil {
		for _, s := range c.Key.MaskValues() {
			r.UI.Mask(s)
		}
	}
	if c.Key == nil && !r.Mode.DryRun {
		return cfg.SigningKeyRequired()
	}
	if r.Mode.DryRun {
		return nil
	}
	if cfg.RoleToAssume != "" {
		// Built now so that a missing id-token permission fails before
		// the builds; it asks for a token only at the first upload.
		c.Credentials, err = credentials.New(credentials.Config{
			RoleARN: cfg.RoleToAssume, SessionName: cfg.RoleSessionName, Audience: cfg.Audience,
			Region: cfg.AWSRegion, STSEndpoint: cfg.STSEndpoint, Getenv: r.Env.Getenv, Mask: r.UI.Mask, Logf: r.UI.Printf,
			Retryer: store.Retryer(retry.Policy{}, nil),
		})
		return err
	}
	if loc := cfg.Store; loc.IsS3() {
		// Found now, from the environment alone, so that a run without
		// credentials fails before the builds and says so, rather than
		// as an access error at the first upload.
		c.Credentials, err = store.EnvironmentCredentials(ctx, loc, r.Env.Getenv)
	}
	return err
}
