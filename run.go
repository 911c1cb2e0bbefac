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

	"github.com/flox-publish/publish-action/internal/build"
	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/git"
	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/manifest"
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
// report. Each stage hands a typed result to the next.
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
	mode := decideMode(cfg, gh)
	if u.InActions() { // a terminal gets the mode in the report's first line
		u.Notice("%s", mode.reason)
	}

	// Verify: the commit, then the manifest, before anything is built.
	src, err := verify.Verify(ctx, verify.Options{EnvDir: cfg.Dir, DryRun: mode.dryRun, GitHub: gh})
	if err != nil {
		return fail(err)
	}
	for _, w := range src.Warnings {
		u.Warning("%s", w)
	}
	envDir := filepath.Join(src.RepoRoot, filepath.FromSlash(src.EnvDir))
	fenv, err := manifest.Load(envDir)
	if err != nil {
		return fail(locate(err))
	}
	if len(fenv.Lock.ToplevelPackages()) == 0 {
		return fail(fmt.Errorf("%s: the environment has no installed packages; install at least one (flox install <package>) and commit .flox/env/manifest.lock, as flox publish requires", fenv.LockPath))
	}
	builds, err := fenv.Manifest.Select(cfg.Packages)
	if err != nil {
		return fail(locate(err))
	}
	if !mode.dryRun && cfg.StoreURL == "" {
		return fail(&inputs.Error{Input: inputName(cfg, "store-url"), Msg: "is required to publish: give the binary cache to upload to (s3://BUCKET?region=… or file:///path), or run with dry-run: true"})
	}
	key, err := signing.Load(cfg.SigningKey, cfg.SigningKeyFile)
	if err != nil {
		return fail(err)
	}
	if key != nil {
		u.Mask(key.String())
		_, data, _ := strings.Cut(key.String(), ":")
		u.Mask(data)
	}
	if key == nil && !mode.dryRun {
		return fail(&inputs.Error{Input: inputName(cfg, "signing-key"), Msg: "no signing key: publishing needs the secret key that signs the store paths; pass signing-key: ${{ secrets.NIX_SIGNING_KEY }} (a key from `nix key generate-secret`) or signing-key-file"})
	}
	builder, err := build.Select(cfg.Builder)
	if err != nil {
		return fail(err)
	}

	// Build in a clean clone of the verified commit.
	scratch, err := os.MkdirTemp("", "flox-publish-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(scratch)
	clone := filepath.Join(scratch, "src")
	if err := git.Clone(ctx, src.RepoRoot, src.Rev, clone, git.TrustRepository()); err != nil {
		return fail(fmt.Errorf("clone %s at %s for a clean build: %w", src.RepoRoot, src.Rev, err))
	}
	cloneEnv := filepath.Join(clone, filepath.FromSlash(src.EnvDir))
	vars := fenv.Manifest.Vars()
	versions := make([]string, len(builds))
	for i, b := range builds {
		if versions[i], err = build.ResolveVersion(ctx, cloneEnv, b, e.environ, vars); err != nil {
			return fail(err)
		}
	}
	if err := checkTagVersion(cfg, gh, builds, versions); err != nil {
		return fail(err)
	}
	var results []*build.Result
	for i, b := range builds {
		end := u.Group(fmt.Sprintf("Build %s %s (%s builder)", b.Name, versions[i], builder.Name()))
		res, err := builder.Build(ctx, build.Request{
			EnvDir: cloneEnv, Build: b, Version: versions[i], Vars: vars,
			Scratch: scratch, Log: u.Writer(), Environ: e.environ,
		})
		end()
		if err != nil {
			return fail(fmt.Errorf("%w; nothing was uploaded", err))
		}
		results = append(results, res)
	}

	// Sign and upload: the store is opened only now, after the builds, so
	// that no credential exists while repository code runs.
	var st store.Store
	if !mode.dryRun {
		if st, err = store.Open(ctx, cfg.StoreURL, store.Options{Jobs: cfg.Jobs, Getenv: e.getenv}); err != nil {
			return fail(err)
		}
	}
	var closure []nixpathInfo
	for _, r := range results {
		closure = append(closure, r.Closure...)
	}
	end := u.Group("Sign and upload")
	written, err := cache.Publish(ctx, cache.Options{
		Store: st, Key: key, Compression: cfg.Compression, Jobs: cfg.Jobs, DryRun: mode.dryRun,
		OnPath: func(r cache.PathResult) { u.Printf("%-12s %s (%s)", r.Status, r.StorePath, report.Size(r.NarSize)) },
	}, closure)
	if err == nil && st != nil {
		err = cache.Verify(ctx, st, key.PublicKey(), written)
	}
	end()
	if err != nil {
		return fail(err)
	}

	rep := newReport(cfg, gh, src, mode, builder.Name(), key, st, results, written)
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

// inputName names an input as the user gave it.
func inputName(cfg inputs.Config, name string) string {
	if cfg.InActions {
		return "input " + name
	}
	return "--" + name
}

func usage(w io.Writer) { inputs.Usage(w) }

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
