package publish

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/report"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/upstream"
)

// uploadStage asks the catalog where store paths go, then signs every path
// of every closure and writes them there, and gathers the narinfos the
// catalog's records carry. The store is opened only now, after the builds,
// so that no credential (neither the store's nor FloxHub's ingress
// credentials) exists while repository code runs. A dry run opens no
// store at all: it signs and reports what it would upload.
type uploadStage struct{}

func (uploadStage) String() string    { return "Sign and upload" }
func (uploadStage) Part() report.Part { return report.PartUpload }

// Skip: every selected package is published already; nothing was built.
func (uploadStage) Skip(r *Release) bool { return len(r.Built.Packages) == 0 }

func (uploadStage) Run(ctx context.Context, r *Release) error {
	cfg := r.Inputs
	closure := r.Built.Closure()
	var dest catalog.Destination
	if !r.Mode.DryRun {
		var err error
		if dest, err = r.destination(ctx); err != nil {
			return err
		}
	}
	up := &Uploaded{Destination: dest}
	r.share(func() { r.Uploaded = up })
	if !r.Mode.DryRun {
		var err error
		if up.Store, err = r.openStore(ctx, dest); err != nil {
			return err
		}
		if up.Store == nil {
			// meta-only or null without store-url: nothing is uploaded, and
			// the narinfos come from the local store, as the Flox CLI's
			// daemon:// ones do.
			if dest.SendNarInfos {
				up.NarInfos, err = r.localNarInfos(closure)
			}
			return err
		}
	}
	var err error
	if up.Upstream, err = r.findUpstream(ctx, closure); err != nil {
		return err
	}
	served := make(map[string]*narinfo.NarInfo, len(up.Upstream))
	for p, s := range up.Upstream {
		served[p] = s.NarInfo
	}
	key := r.Checked.Key
	written, err := cache.Publish(ctx, cache.Options{
		Store: up.Store, Key: key, Compression: cfg.Compression, Level: cfg.Level, Jobs: cfg.Jobs, DryRun: r.Mode.DryRun,
		Upstream: served, Logf: r.UI.Printf,
		OnPath: func(p cache.PathResult) {
			r.UI.Printf("%-12s %s (%s)", p.Status, p.StorePath, report.Size(p.NarSize))
			if p.Status == cache.Uploaded {
				r.share(func() { up.Paths = append(up.Paths, p.StorePath) })
			}
		},
	}, closure)
	if err == nil && up.Store != nil {
		err = cache.Verify(ctx, up.Store, key.PublicKey(), written)
	}
	if err != nil {
		return dest.Wrap(err)
	}
	up.Written = written
	narInfos := writtenNarInfos(written)
	if up.Store != nil && dest.SendNarInfos {
		if narInfos, err = storeNarInfos(ctx, up); err != nil {
			return dest.Wrap(err)
		}
		up.NarInfos = narInfos
	}
	up.Manifests, err = r.closureManifests(ctx, up, narInfos)
	return dest.Wrap(err)
}

// writtenNarInfos are the narinfos of written (as written, or as they
// would be in a dry run), by store path.
func writtenNarInfos(written []cache.PathResult) map[string]*narinfo.NarInfo {
	narInfos := map[string]*narinfo.NarInfo{}
	for _, w := range written {
		if w.NarInfo != nil {
			narInfos[w.StorePath] = w.NarInfo
		}
	}
	return narInfos
}

// openStore opens the store d names; nil when it names none.
func (r *Release) openStore(ctx context.Context, d catalog.Destination) (store.Store, error) {
	if d.Store.IsZero() {
		return nil, nil
	}
	creds := r.Checked.Credentials
	if creds == nil && d.Store.IsS3() && d.Type != catalog.StorePublisher {
		// The catalog's store, which the check stage did not know.
		var err error
		if creds, err = store.EnvironmentCredentials(ctx, d.Store, r.Env.Getenv); err != nil {
			return nil, d.Wrap(err)
		}
	}
	st, err := store.Open(ctx, d.Store, r.storeOptions(creds))
	return st, d.Wrap(err)
}

// storeOptions are the run's settings for opening a store, with creds
// signing S3 requests (nil: none found yet). The upload and the catalog
// index's look-up open stores with them alike.
func (r *Release) storeOptions(creds aws.CredentialsProvider) store.Options {
	cfg := r.Inputs
	opts := store.Options{Jobs: cfg.Jobs, Getenv: r.Env.Getenv, Region: cfg.AWSRegion, Credentials: creds, Logf: r.UI.Printf}
	if cfg.RoleToAssume != "" {
		opts.Principal = "role " + cfg.RoleToAssume
	}
	return opts
}

// storeNarInfos gathers the narinfo of every closure path for the
// records: as written for the paths this run uploaded, the upstream's for
// those an upstream serves, and as the store has them for the paths it
// had already (a re-publish), whose narinfos this run did not write.
func storeNarInfos(ctx context.Context, up *Uploaded) (map[string]*narinfo.NarInfo, error) {
	narInfos := map[string]*narinfo.NarInfo{}
	var present []string
	for _, w := range up.Written {
		if w.NarInfo != nil {
			narInfos[w.StorePath] = w.NarInfo
		} else {
			present = append(present, w.StorePath)
		}
	}
	read, err := cache.ReadNarInfos(ctx, up.Store, present)
	if err != nil {
		return nil, err
	}
	for _, n := range read {
		narInfos[n.StorePath] = n
	}
	return narInfos, nil
}

// localNarInfos makes the narinfos of the closure from what the local
// store says of each path, signed with the run's key.
func (r *Release) localNarInfos(closure []nixpath.PathInfo) (map[string]*narinfo.NarInfo, error) {
	narInfos := map[string]*narinfo.NarInfo{}
	for _, p := range closure {
		n := narinfo.New(p, narinfo.NAR{})
		if k := r.Checked.Key; k != nil && n.NarHash != nil {
			if err := narinfo.Sign(n, k); err != nil {
				return nil, err
			}
		}
		narInfos[p.StorePath] = n
	}
	return narInfos, nil
}

// findUpstream asks the upstream caches which paths of the closure they
// serve signed by a trusted key: those are not uploaded. An upstream that
// cannot be asked is a warning, and everything is uploaded.
func (r *Release) findUpstream(ctx context.Context, closure []nixpath.PathInfo) (map[string]upstream.Served, error) {
	cfg := r.Inputs
	if len(cfg.UpstreamCaches) == 0 {
		return nil, nil
	}
	keys, err := upstream.ParseKeys(strings.Join(cfg.UpstreamKeys, " "))
	if err != nil {
		return nil, err
	}
	return upstream.Find(ctx, upstream.Options{Caches: cfg.UpstreamCaches, Keys: keys, Warnf: r.UI.Warning}, closure)
}
