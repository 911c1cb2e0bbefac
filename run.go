package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/flox-publish/publish-action/internal/build"
	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/credentials"
	"github.com/flox-publish/publish-action/internal/git"
	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/manifest"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/report"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/ui"
	"github.com/flox-publish/publish-action/internal/verify"
)

// env is the process's world, injected so tests run in parallel.
type env struct {
	getenv  func(string) string
	environ []string
	stdout  io.Writer
}

// errReported marks an error already shown to the user.
var errReported = errors.New("reported")

// run is the whole pipeline: inputs → verify → build → sign and upload →
// report. Each stage hands a typed result to the next; any error stops the
// run before the next stage, so nothing is written after a failure.
func run(ctx context.Context, e env, args []string) error {
	u := ui.New(e.getenv, e.stdout)
	defer u.Flush()
	fail := func(err error) error {
		u.Error(err)
		return errReported
	}

	cfg, err := inputs.Parse(e.getenv, args)
	for _, s := range cfg.Secrets() {
		u.Mask(s)
	}
	if err != nil {
		return fail(err)
	}
	gh := githubContext(e.getenv, cfg)
	iso, err := startIsolation(ctx, u, e.getenv, cfg)
	if err != nil {
		return fail(err)
	}
	defer iso.close(u)
	mode := decideMode(cfg, gh)
	if u.InActions() { // a terminal gets the mode in the report's first line
		u.Notice("%s", mode.reason)
	}

	src, plan, err := check(ctx, e, u, cfg, gh, mode)
	if err != nil {
		return fail(err)
	}
	scratch, err := os.MkdirTemp("", "flox-publish-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(scratch)
	results, err := buildAll(ctx, e, u, cfg, gh, src, plan, scratch, iso)
	if err != nil {
		return fail(err)
	}
	cat, err := prepareCatalog(ctx, u, cfg, src, plan, mode, results)
	if err != nil {
		return fail(err)
	}
	st, written, err := upload(ctx, e, u, cfg, mode, plan, cat, results)
	if err != nil {
		return fail(err)
	}
	links, err := recordCatalog(ctx, u, cfg, runURL(e.getenv), src, plan, cat, st, results, written)
	if err != nil {
		return fail(err)
	}

	rep := newReport(cfg, gh, src, mode, plan.builder.Name(), plan.key, st, results, written, links, cat.published)
	outputs, err := rep.Outputs()
	if err == nil {
		err = u.SetOutputs(outputs)
	}
	if err == nil {
		err = u.AddSummary(rep.Markdown())
	}
	if err != nil {
		return fail(err)
	}
	if !u.InActions() {
		fmt.Fprint(u.Writer(), "\n"+rep.Text())
	}
	return nil
}

// plan is what the checks settled before anything is built.
type plan struct {
	env     *manifest.Environment
	builds  []manifest.Build
	key     *signing.Key
	builder build.Builder
	// creds is the OIDC → STS provider when aws-role-arn is set. It holds
	// no credential yet: the first one is fetched at the first upload.
	creds aws.CredentialsProvider
}

// check verifies the commit, the manifest and the inputs that only make
// sense together, so that a bad release fails in seconds, before any
// build.
func check(ctx context.Context, e env, u *ui.UI, cfg inputs.Config, gh verify.GitHub, m mode) (*verify.Source, *plan, error) {
	src, err := verify.Verify(ctx, verify.Options{EnvDir: cfg.Dir, DryRun: m.dryRun, GitHub: gh, Env: build.GitEnv(e.environ)})
	if err != nil {
		return nil, nil, err
	}
	for _, w := range src.Warnings {
		u.Warning("%s", w)
	}
	for _, n := range src.Notes {
		u.Printf("%s", n)
	}
	p := &plan{}
	if p.env, err = manifest.Load(filepath.Join(src.RepoRoot, filepath.FromSlash(src.EnvDir))); err != nil {
		return nil, nil, locate(err)
	}
	if len(p.env.Lock.ToplevelPackages()) == 0 {
		return nil, nil, fmt.Errorf("%s: the environment has no installed packages; install at least one (flox install <package>) and commit .flox/env/manifest.lock, as flox publish requires", p.env.LockPath)
	}
	if p.builds, err = p.env.Manifest.Select(cfg.Packages); err != nil {
		return nil, nil, locate(err)
	}
	if !m.dryRun && cfg.StoreURL == "" && cfg.FloxHubToken == "" {
		return nil, nil, &inputs.Error{Input: inputName(cfg, "store-url"), Msg: "is required to publish: give the binary cache to upload to (s3://BUCKET?region=… or file:///path), or run with dry-run: true"}
	}
	// In a pull request the key is neither read nor needed: forks have no
	// secrets, and a dry run must pass without them.
	if !prEvents[gh.EventName] {
		if p.key, err = signing.Load(cfg.SigningKey, cfg.SigningKeyFile); err != nil {
			return nil, nil, err
		}
	}
	if p.key != nil {
		u.Mask(p.key.String())
		_, data, _ := strings.Cut(p.key.String(), ":")
		u.Mask(data)
	}
	if p.key == nil && !m.dryRun {
		return nil, nil, &inputs.Error{Input: inputName(cfg, "signing-key"), Msg: "no signing key: publishing needs the secret key that signs the store paths; pass signing-key: ${{ secrets.NIX_SIGNING_KEY }} (a key from `nix key generate-secret`) or signing-key-file"}
	}
	if p.builder, err = build.Select(cfg.Builder); err != nil {
		return nil, nil, err
	}
	if !m.dryRun && cfg.AWSRoleARN != "" {
		// Built now so that a missing id-token permission fails before
		// the builds; it asks for a token only at the first upload.
		if p.creds, err = credentials.New(credentials.Config{
			RoleARN: cfg.AWSRoleARN, SessionName: cfg.AWSRoleSessionName, Audience: cfg.OIDCAudience,
			Region: cfg.AWSRegion, STSEndpoint: cfg.STSEndpoint, Getenv: e.getenv, Mask: u.Mask, Logf: u.Printf,
			Retryer: store.RetryPolicy{}.Retryer(),
		}); err != nil {
			return nil, nil, err
		}
	}
	return src, p, nil
}

// buildAll clones the verified commit and builds every selected package in
// the clone. Versions are resolved (and checked against a version tag)
// before the first build starts.
func buildAll(ctx context.Context, e env, u *ui.UI, cfg inputs.Config, gh verify.GitHub, src *verify.Source, p *plan, scratch string, iso *isolation) ([]*build.Result, error) {
	clone := filepath.Join(scratch, "src")
	if err := git.Clone(ctx, src.RepoRoot, src.Rev, clone, git.TrustRepository(), git.WithEnv(build.GitEnv(e.environ))); err != nil {
		return nil, fmt.Errorf("clone %s at %s for a clean build: %w", src.RepoRoot, src.Rev, err)
	}
	if err := iso.prepareClone(scratch, clone); err != nil {
		return nil, err
	}
	envDir := filepath.Join(clone, filepath.FromSlash(src.EnvDir))
	vars := p.env.Manifest.Vars()
	versions := make([]string, len(p.builds))
	for i, b := range p.builds {
		var err error
		if versions[i], err = build.ResolveVersionIn(ctx, iso.sb, envDir, b, e.environ, vars); err != nil {
			return nil, err
		}
	}
	if err := checkTagVersion(cfg, gh, p.builds, versions); err != nil {
		return nil, err
	}
	var results []*build.Result
	for i, b := range p.builds {
		if w := build.UnsandboxedWarning(p.builder.Name(), b, !iso.sb.Dropped()); w != "" {
			iso.warn(u, w)
		}
		end := u.Group(fmt.Sprintf("Build %s %s (%s builder)", b.Name, versions[i], p.builder.Name()))
		res, err := p.builder.Build(ctx, build.Request{
			EnvDir: envDir, Build: b, Version: versions[i], Vars: vars,
			Scratch: scratch, Log: u.Writer(), Environ: e.environ, Sandbox: iso.sb,
		})
		end()
		if err != nil {
			return nil, fmt.Errorf("%w; nothing was uploaded", err)
		}
		results = append(results, res)
	}
	return results, nil
}

// upload signs every path of every closure and writes them to the store,
// then reads the narinfos back. The store is opened only now, after the
// builds, so that no credential exists while repository code runs. A dry
// run opens no store at all.
func upload(ctx context.Context, e env, u *ui.UI, cfg inputs.Config, m mode, p *plan, cat *catalogPlan, results []*build.Result) (store.Store, []cache.PathResult, error) {
	var st store.Store
	storeURL := cat.storeURL(cfg)
	if !m.dryRun && storeURL == "" {
		// The catalog stores metadata only (meta-only or null) and no
		// store-url was given: there is nothing to upload to.
		return nil, nil, nil
	}
	if !m.dryRun {
		opts := store.Options{Jobs: cfg.Jobs, Getenv: e.getenv, Region: cfg.AWSRegion, Credentials: p.creds, Logf: u.Printf}
		if cfg.AWSRoleARN != "" {
			opts.Principal = "role " + cfg.AWSRoleARN
		}
		var err error
		if st, err = store.Open(ctx, storeURL, opts); err != nil {
			return nil, nil, err
		}
	}
	var closure []nixpath.PathInfo
	for _, r := range results {
		if _, done := cat.published[r.Name]; !done {
			closure = append(closure, r.Closure...)
		}
	}
	end := u.Group("Sign and upload")
	defer end()
	written, err := cache.Publish(ctx, cache.Options{
		Store: st, Key: p.key, Compression: cfg.Compression, Level: cfg.Level, Jobs: cfg.Jobs, DryRun: m.dryRun,
		OnPath: func(r cache.PathResult) { u.Printf("%-12s %s (%s)", r.Status, r.StorePath, report.Size(r.NarSize)) },
	}, closure)
	if err == nil && st != nil {
		err = cache.Verify(ctx, st, p.key.PublicKey(), written)
	}
	if err != nil {
		return nil, nil, err
	}
	return st, written, nil
}

// runURL is the web page of the workflow run, "" outside Actions.
func runURL(getenv func(string) string) string {
	server, repo, id := getenv("GITHUB_SERVER_URL"), getenv("GITHUB_REPOSITORY"), getenv("GITHUB_RUN_ID")
	if server == "" || repo == "" || id == "" {
		return ""
	}
	return strings.TrimSuffix(server, "/") + "/" + repo + "/actions/runs/" + id
}

// inputName names an input as the user gave it.
func inputName(cfg inputs.Config, name string) string {
	if cfg.InActions {
		return "input " + name
	}
	return "--" + name
}

// keygen writes a new signing key pair: PATH.sec (secret, mode 0600) and
// PATH.pub, as `nix key generate-secret` and `nix key
// convert-secret-to-public` would, for users without Nix.
func keygen(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("name", "", "key name, e.g. cache.example.org-1")
	out := fs.String("out", "", "path prefix of the key files: writes PREFIX.sec and PREFIX.pub")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("keygen: %w (usage: keygen --name NAME --out PREFIX)", err)
	}
	if *name == "" || *out == "" {
		return errors.New("keygen: --name and --out are required (usage: keygen --name NAME --out PREFIX)")
	}
	if _, err := os.Stat(*out + ".sec"); err == nil {
		pub, err := os.ReadFile(*out + ".pub")
		if err != nil {
			return fmt.Errorf("keygen: %s.sec exists but %s.pub cannot be read: %w", *out, *out, err)
		}
		fmt.Fprintf(stdout, "Keeping the existing key %s.sec; public key: %s\n", *out, strings.TrimSpace(string(pub)))
		return nil
	}
	sec, pub, err := signing.Generate(*name)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out+".sec", []byte(sec), 0o600); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if err := os.WriteFile(*out+".pub", []byte(pub+"\n"), 0o644); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	fmt.Fprintf(stdout, "Wrote %s.sec (secret: store it as a repository secret) and %s.pub\nPublic key: %s\n", *out, *out, pub)
	return nil
}
