package publish

import (
	"context"
	"strings"

	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/report"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/upstream"
	"github.com/nix-community/go-nix/pkg/narinfo"
)

// uploadStage signs every path of every closure and writes them to the store,
// then reads the narinfos back. The store is opened only now, after the
// builds, so that no credential is fetched while repository code runs. A
// dry run opens no store at all: it signs and reports what it would upload.
type uploadStage struct{}

func (uploadStage) String() string { return "Sign and upload" }

// Skip: the catalog stores metadata only (meta-only or null) and no
// store-url was given: there is nothing to upload to.
func (uploadStage) Skip(r *Release) bool {
	return !r.Mode.DryRun && r.Inputs.Store.IsZero() && r.Destination.StoreURL == ""
}

func (uploadStage) Run(ctx context.Context, r *Release) error {
	cfg := r.Inputs
	if !r.Mode.DryRun {
		loc, err := r.storeLocation()
		if err != nil {
			return err
		}
		if r.Credentials == nil && loc.IsS3() {
			// The catalog's store, which the check stage did not know.
			if r.Credentials, err = store.EnvironmentCredentials(ctx, loc, r.Env.Getenv); err != nil {
				return err
			}
		}
		opts := store.Options{Jobs: cfg.Jobs, Getenv: r.Env.Getenv, Region: cfg.AWSRegion, Credentials: r.Credentials, Logf: r.UI.Printf}
		if cfg.RoleToAssume != "" {
			opts.Principal = "role " + cfg.RoleToAssume
		}
		if r.Store, err = store.OpenLocation(ctx, loc, opts); err != nil {
			return err
		}
		r.StoreAt = loc
		r.progress.update(func(p *Progress) { p.storeURL = loc.String() })
	}
	var closure []nixpath.PathInfo
	for _, res := range r.Results {
		if _, done := r.Published[res.Name]; !done {
			closure = append(closure, res.Closure...)
		}
	}
	if err := r.findUpstream(ctx, closure); err != nil {
		return err
	}
	served := make(map[string]*narinfo.NarInfo, len(r.Upstream))
	for p, s := range r.Upstream {
		served[p] = s.NarInfo
	}
	written, err := cache.Publish(ctx, cache.Options{
		Store: r.Store, Key: r.Key, Compression: cfg.Compression, Level: cfg.Level, Jobs: cfg.Jobs, DryRun: r.Mode.DryRun,
		Upstream: served,
		OnPath: func(p cache.PathResult) {
			r.UI.Printf("%-12s %s (%s)", p.Status, p.StorePath, report.Size(p.NarSize))
			if p.Status == cache.Uploaded {
				r.Uploaded = append(r.Uploaded, p.StorePath)
				r.progress.update(func(pr *Progress) { pr.uploaded = append(pr.uploaded, p.StorePath) })
			}
		},
	}, closure)
	if err == nil && r.Store != nil {
		err = cache.Verify(ctx, r.Store, r.Key.PublicKey(), written)
	}
	if err != nil {
		return err
	}
	r.Written = written
	return nil
}

// findUpstream asks the upstream caches which paths of the closure they
// serve signed by a trusted key: those are not uploaded. An upstream that
// cannot be asked is a warning, and everything is uploaded.
func (r *Release) findUpstream(ctx context.Context, closure []nixpath.PathInfo) error {
	cfg := r.Inputs
	if len(cfg.UpstreamCaches) == 0 {
		return nil
	}
	keys, err := upstream.ParseKeys(strings.Join(cfg.UpstreamKeys, " "))
	if err != nil {
		return err
	}
	r.Upstream, err = upstream.Find(ctx, upstream.Options{Caches: cfg.UpstreamCaches, Keys: keys, Warnf: r.UI.Warning}, closure)
	return err
}
