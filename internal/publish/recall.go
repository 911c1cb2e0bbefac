package publish

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/flox-publish/publish-action/internal/builder"
	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/closure"
	"github.com/flox-publish/publish-action/internal/report"
	"github.com/flox-publish/publish-action/internal/store"
)

// recallStage reads, for each package the catalog says is published
// already (and so was not built), what the earlier publish put in the
// store: its record in the store's catalog index (the outputs' store
// paths), the outputs' narinfos and the package's closure manifest. A
// re-run then reports what the first run did, in every output. It runs
// after the builds: reading an S3 store takes credentials, which must not
// exist while a build runs. With FloxHub, whose answer says only that the
// build is published, the catalog's store is asked of FloxHub first
// (publish/info).
type recallStage struct{}

func (recallStage) String() string    { return "Read the earlier publish" }
func (recallStage) Part() report.Part { return report.PartCatalog }

// Skip: every package was built (or the catalog was not asked).
func (recallStage) Skip(r *Release) bool {
	for _, p := range r.Packages {
		if p.Published != nil {
			return false
		}
	}
	return true
}

func (recallStage) Run(ctx context.Context, r *Release) error {
	rc := &Recalled{}
	r.share(func() { r.Recalled = rc })
	for _, p := range r.Packages {
		if p.Published == nil {
			continue
		}
		rec, err := r.recall(ctx, rc, p)
		if err != nil {
			return err
		}
		p.Record = rec
		if rec.Lacks != "" {
			r.UI.Printf("%s/%s: %s", r.Inputs.Catalog, p.Name(), rec.Lacks)
		} else {
			r.UI.Printf("%s/%s: published as %s; its closure manifest %s lists a closure of %d", r.Inputs.Catalog, p.Name(), strings.Join(rec.StorePaths, " "), rec.Manifest.Key, len(rec.Manifest.Paths))
		}
	}
	return nil
}

// recall reads what the earlier publish of p left in the store. What
// cannot be found is said in the record's Lacks, not as an error: the
// package is published, and the run goes on; only a store that cannot be
// reached stops it.
func (r *Release) recall(ctx context.Context, rc *Recalled, p *Package) (*Record, error) {
	rec := &Record{}
	t, err := r.catalogTarget(p.Name(), builder.System())
	if err != nil {
		return nil, err
	}
	if rc.Store == nil && rc.Unreadable == "" {
		if rc.Destination, err = r.recallDestination(ctx, t); err != nil {
			return nil, err
		}
		d := rc.Destination
		if d.Store.IsZero() || d.Type == catalog.StorePublisher {
			rc.Unreadable = unreadable(d)
		} else if rc.Store, err = r.openStore(ctx, d); err != nil {
			return nil, err
		} else if _, ok := rc.Store.(store.Lister); !ok {
			rc.Unreadable = unreadable(d)
		}
	}
	if rc.Unreadable != "" {
		rec.Lacks = "its store paths are not known: " + rc.Unreadable
		return rec, nil
	}
	st := rc.Store
	idx, err := catalog.NewIndex(st, catalog.WithIndexLog(r.UI.Printf))
	if err != nil {
		return nil, err
	}
	e, err := idx.Lookup(ctx, t)
	if err != nil {
		return nil, rc.Destination.Wrap(err)
	}
	if e == nil || len(e.Outputs) == 0 {
		rec.Lacks = fmt.Sprintf("its store paths are not known: the catalog index in %s has no record of this build (%s to publish it again)", st.URL(), r.Inputs.Set("rebuild", "true"))
		return rec, nil
	}
	for _, o := range e.Outputs {
		rec.StorePaths = append(rec.StorePaths, o.StorePath)
	}
	if rec.NarInfos, err = cache.ReadNarInfos(ctx, st, rec.StorePaths); err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			return nil, rc.Destination.Wrap(err)
		}
		rec.Lacks = fmt.Sprintf("the store %s no longer has the narinfos of its outputs (%s to publish them again)", st.URL(), r.Inputs.Set("rebuild", "true"))
		return rec, nil
	}
	var keys []signature.PublicKey
	if k := r.Checked.Key; k != nil {
		keys = append(keys, k.PublicKey())
	}
	rec.Manifest, err = closure.Read(ctx, st, rec.StorePaths, keys)
	switch {
	case errors.Is(err, store.ErrNotFound):
		rec.Lacks = fmt.Sprintf("its closure's size and closure manifest are not known: it was published before this action wrote closure manifests (%s to publish it again with one)", r.Inputs.Set("rebuild", "true"))
	case err != nil:
		rec.Manifest = nil
		rec.Lacks = fmt.Sprintf("its closure manifest is not used: %v", err)
	}
	return rec, nil
}

// recallDestination is the store the earlier publish went to: the
// catalog's, as FloxHub names it, or store-url's.
func (r *Release) recallDestination(ctx context.Context, t catalog.Target) (catalog.Destination, error) {
	hub := r.hub()
	if hub == nil {
		return catalog.Destination{Store: r.Inputs.Store}, nil
	}
	var plan catalog.Plan
	var err error
	if plan.Store, err = hub.PublishInfo(ctx, t); err != nil {
		return catalog.Destination{}, err
	}
	d, err := plan.Destination(r.Inputs.Store)
	if err != nil {
		return catalog.Destination{}, err
	}
	for _, s := range d.Secrets() {
		r.UI.Mask(s)
	}
	return d, nil
}

// unreadable says why the earlier publish's store holds no index to read.
func unreadable(d catalog.Destination) string {
	switch {
	case d.Type == catalog.StorePublisher:
		return "the catalog's store is Flox's own (publisher), which keeps no catalog index this action can read"
	case d.Store.IsZero():
		return fmt.Sprintf("the catalog takes metadata only (store type %s)", d.Type)
	}
	return fmt.Sprintf("the store %s cannot be listed, and so has no catalog index", d.Store.Base())
}
