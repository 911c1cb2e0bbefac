package publish

import (
	"context"
	"fmt"
	"time"

	"github.com/flox-publish/publish-action/internal/builder"
	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/floxhub"
	"github.com/flox-publish/publish-action/internal/report"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/upstream"
)

// checkCatalogStage makes FloxHub's first two steps for each package before
// anything is built, as the Flox CLI does: create the package (where a
// token that may not write the catalog is refused) and ask whether this
// commit is already published for this system. A package that is is not
// built again, unless the rebuild input says so. Without a token, a
// file:// store's catalog index answers the second question.
type checkCatalogStage struct{}

func (checkCatalogStage) String() string    { return "Check the catalog" }
func (checkCatalogStage) Part() report.Part { return report.PartCatalog }

// Skip: a dry run writes nothing to FloxHub (create is a write), and
// without a catalog name there is nothing to look up.
func (checkCatalogStage) Skip(r *Release) bool {
	return r.Mode.DryRun || r.Inputs.Catalog == "" || r.Inputs.FloxHubToken == "" && !r.Inputs.Store.IsFile()
}

func (checkCatalogStage) Run(ctx context.Context, r *Release) error {
	cfg := r.Inputs
	if cfg.FloxHubToken == "" {
		r.Catalog = &CatalogChecked{}
		return r.lookUpIndex(ctx)
	}
	hub, err := floxhub.New(cfg.CatalogURL, cfg.FloxHubToken, floxhub.Options{Logf: r.UI.Printf})
	if err != nil {
		return err
	}
	r.Catalog = &CatalogChecked{Hub: hub}
	for _, p := range r.Packages {
		t, err := r.catalogTarget(p.Name(), builder.System())
		if err != nil {
			return err
		}
		plan, err := hub.Check(ctx, t)
		if err != nil {
			return err
		}
		if plan.CheckErr != nil {
			// As in the Flox CLI, the check is an optimisation: it warns.
			r.UI.Warning("FloxHub could not say whether %s/%s is already published (it will be built and published): %v", cfg.Catalog, p.Name(), plan.CheckErr)
			continue
		}
		if !plan.AlreadyPublished {
			r.UI.Printf("%s/%s %s for %s: not yet published from %.12s", cfg.Catalog, p.Name(), p.Version, t.System, r.Checked.Source.Rev)
			continue
		}
		if cfg.Rebuild {
			r.UI.Printf("%s/%s: %s; building it again, as rebuild is true", cfg.Catalog, p.Name(), plan.Published)
			continue
		}
		p.Published = &plan.Published
		r.UI.Notice("%s/%s: %s; not built again (%s to build and publish it anyway)", cfg.Catalog, p.Name(), plan.Published, cfg.Set("rebuild", "true"))
	}
	return nil
}

// hub is FloxHub's client, nil when the catalog check did not make one
// (no floxhub-token, a dry run).
func (r *Release) hub() *floxhub.Client {
	if r.Catalog == nil {
		return nil
	}
	return r.Catalog.Hub
}

// lookUpIndex is the already-published check of a run without FloxHub:
// the catalog index in the store. Only a file:// store is read this early.
// Reading an S3 store needs credentials (with role-to-assume, an OIDC
// token exchanged for STS credentials), and none may exist in this process
// while the builds, which run the repository's code, do: so on S3 a re-run
// builds again, finds every path present, and its index record already
// there.
func (r *Release) lookUpIndex(ctx context.Context) error {
	st, err := store.Open(ctx, r.Inputs.Store, r.storeOptions(nil))
	if err != nil {
		return err
	}
	idx, err := catalog.NewIndex(st, catalog.WithIndexLog(r.UI.Printf))
	if err != nil {
		return err
	}
	for _, p := range r.Packages {
		t, err := r.catalogTarget(p.Name(), builder.System())
		if err != nil {
			return err
		}
		e, err := idx.Lookup(ctx, t)
		if err != nil {
			return err
		}
		if e == nil || r.Inputs.Rebuild {
			continue
		}
		p.Published = &catalog.Published{SourceRev: e.Rev, SourceRevDate: e.RevDate, PublishedAt: e.PublishedAt}
		r.UI.Notice("%s/%s: %s (the catalog index in %s says so); not built again (%s to build and publish it anyway)", r.Inputs.Catalog, p.Name(), p.Published, st.URL(), r.Inputs.Set("rebuild", "true"))
	}
	return nil
}

// catalogTarget names a package of the release in the catalog.
func (r *Release) catalogTarget(pkg, system string) (catalog.Target, error) {
	src := r.Checked.Source
	url, err := catalog.PublicSourceURL(src.RemoteURL)
	if err != nil {
		return catalog.Target{}, err
	}
	return catalog.Target{
		Catalog: r.Inputs.Catalog, Package: pkg, System: system,
		Source:               catalog.Source{URL: url, Rev: src.Rev, Ref: src.Ref, RevCount: src.RevCount, RevDate: src.RevDate},
		LockedBaseCatalogURL: r.Checked.Environment.Lock.BaseCatalogURL(),
	}, nil
}

// destination asks FloxHub where the store paths of every built package go
// (publish/info, after the builds: a publisher store's answer carries
// upload credentials, which must not exist while builds run) and masks the
// credentials before anything about them is printed. Without FloxHub the
// store is store-url's.
func (r *Release) destination(ctx context.Context) (catalog.Destination, error) {
	hub := r.hub()
	if hub == nil {
		return catalog.Destination{Store: r.Inputs.Store}, nil
	}
	var dests []catalog.Destination
	for _, p := range r.Built.Packages {
		t, err := r.catalogTarget(p.Name(), p.Result.System)
		if err != nil {
			return catalog.Destination{}, err
		}
		var plan catalog.Plan
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
		dests = append(dests, d)
	}
	d := dests[0]
	for _, o := range dests[1:] {
		// One catalog has one store; two answers that differ would need two
		// uploads, and more likely mean a change in FloxHub mid-run.
		if o.Store.String() != d.Store.String() || o.Type != d.Type {
			return catalog.Destination{}, fmt.Errorf("catalog %s: FloxHub named two stores for the packages of this run (%s %s, %s %s); re-run the release", d.Catalog, d.Type, d.Store.Base(), o.Type, o.Store.Base())
		}
	}
	r.UI.Printf("catalog %s: store type %s%s", d.Catalog, d.Type, func() string {
		if d.Store.IsZero() {
			return ", nothing to upload"
		}
		return ", uploading to " + d.Store.Base()
	}())
	for _, n := range d.Notes {
		r.UI.Printf("%s", n)
	}
	return d, nil
}

// recordCatalogStage records each published build in FloxHub (with a token)
// and in the store's own catalog index, and sets each package's catalog
// link.
type recordCatalogStage struct{}

func (recordCatalogStage) String() string    { return "Record in the catalog" }
func (recordCatalogStage) Part() report.Part { return report.PartCatalog }

// Skip: without a catalog name there is nothing to record nor to link.
func (recordCatalogStage) Skip(r *Release) bool { return r.Inputs.Catalog == "" }

func (recordCatalogStage) Run(ctx context.Context, r *Release) error {
	cfg := r.Inputs
	r.setLinks()
	if r.Mode.DryRun || r.Built == nil {
		return nil
	}
	up := r.Uploaded
	var dest catalog.Destination
	var st store.Store
	if up != nil {
		dest, st = up.Destination, up.Store
	}
	var idx *catalog.Index
	if _, ok := st.(store.Lister); ok && dest.Type != catalog.StorePublisher {
		var err error
		if idx, err = catalog.NewIndex(st, catalog.WithIndexLog(r.UI.Printf)); err != nil {
			return err
		}
	}
	hub := r.hub()
	for _, p := range r.Built.Packages {
		res := p.Result
		t, err := r.catalogTarget(res.Name, res.System)
		if err != nil {
			return err
		}
		b := catalog.Build{Target: t, Version: res.Version, DotFloxDir: dotFlox(r.Checked.Source.EnvDir), RunURL: r.Workflow.URL()}
		if mb, ok := r.Checked.Environment.Manifest.Build(res.Name); ok {
			b.Description, b.License = mb.Description, mb.License
		}
		for _, o := range res.Outputs {
			b.Outputs = append(b.Outputs, catalog.Output{Name: o.Name, StorePath: o.StorePath})
		}
		b.DrvPath = catalog.DrvPath(b.Outputs, res.Closure)
		if dest.SendNarInfos {
			for _, cp := range res.Closure {
				b.NarInfos = append(b.NarInfos, up.NarInfos[cp.StorePath])
			}
		}
		if k := r.Checked.Key; k != nil {
			b.KeyName = k.Name
		}
		if up != nil {
			b.Substituters = upstream.Summarize(cfg.UpstreamCaches, up.Upstream).Caches
		}
		if hub != nil {
			if err := hub.Record(ctx, dest, b); err != nil {
				return err
			}
			p.InFloxHub = true
			r.UI.Printf("%s/%s %s: recorded in FloxHub (catalog store type %s)", cfg.Catalog, res.Name, res.Version, dest.Type)
			if dest.WaitForPublisher {
				if err := r.waitForPublisher(ctx, b); err != nil {
					return err
				}
			}
		}
		if idx != nil {
			added, err := idx.Record(ctx, b)
			if err != nil {
				return err
			}
			p.InIndex = true
			if added {
				r.UI.Printf("%s/%s %s: recorded in the catalog index in %s", cfg.Catalog, res.Name, res.Version, st.URL())
			} else {
				r.UI.Printf("%s/%s %s from %.12s is already in the catalog index", cfg.Catalog, res.Name, res.Version, r.Checked.Source.Rev)
			}
		}
		r.share(func() { p.Recorded = true })
		r.UI.Printf("%-12s %s/%s %s", "recorded", cfg.Catalog, res.Name, res.Version)
	}
	return nil
}

// waitForPublisher waits, within publisher-timeout, until FloxHub has
// ingested b's outputs from its own store, printing how far it got.
func (r *Release) waitForPublisher(ctx context.Context, b catalog.Build) error {
	var outs []string
	for _, o := range b.Outputs {
		outs = append(outs, o.StorePath)
	}
	limit := "--publisher-timeout"
	if r.Inputs.InActions {
		limit = "the publisher-timeout input"
	}
	r.UI.Printf("%s/%s: waiting for FloxHub to ingest %d store paths (at most %s, %s)", b.Catalog, b.Package, len(outs), r.Inputs.PublisherTimeout, limit)
	last := -1
	return r.hub().WaitPublished(ctx, b.Catalog, outs, floxhub.Wait{
		Timeout: r.Inputs.PublisherTimeout,
		Progress: func(known, total int, waited time.Duration) {
			if known != last {
				last = known
				r.UI.Printf("%s/%s: FloxHub has %d of %d store paths (%s)", b.Catalog, b.Package, known, total, waited.Round(time.Second))
			}
		},
	})
}

// setLinks sets each package's catalog link: its FloxHub page when FloxHub
// has it (or, in a dry run, would), else its summary in the store's
// catalog index.
func (r *Release) setLinks() {
	cfg := r.Inputs
	var uploadedTo store.Location
	var dest catalog.Destination
	if r.Uploaded != nil {
		dest = r.Uploaded.Destination
		uploadedTo = dest.Store
	} else if rc := r.Recalled; rc != nil && rc.Store != nil {
		// Nothing built: the store the packages were published to.
		dest = rc.Destination
		uploadedTo = dest.Store
	}
	for _, p := range r.Packages {
		key := catalog.IndexKey(cfg.Catalog, p.Name())
		switch {
		case r.hub() != nil || cfg.FloxHubToken != "":
			p.Link = "https://hub.flox.dev/packages/" + cfg.Catalog + "/" + p.Name()
		case !uploadedTo.IsZero() && dest.Type != catalog.StorePublisher:
			p.Link = uploadedTo.Link(key)
		case r.Mode.DryRun && !cfg.Store.IsZero(): // the link the publish would create
			p.Link = cfg.Store.Link(key)
		}
	}
}

// substituter is the binary cache consumers read the published paths
// from, "" when there is none they can read.
func (r *Release) substituter() string {
	if r.Uploaded == nil || r.Uploaded.Store == nil {
		return ""
	}
	return r.Uploaded.Destination.Substituter()
}

func dotFlox(envDir string) string {
	if envDir == "." || envDir == "" {
		return ".flox"
	}
	return envDir + "/.flox"
}
