package publish

import (
	"context"

	"github.com/flox-publish/publish-action/internal/build"
	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/upstream"
)

// prepareCatalogStage runs FloxHub's first three steps for each package (create
// the package, check-build, publish/info): it learns where store paths go
// and which packages FloxHub already has from this revision.
type prepareCatalogStage struct{}

func (prepareCatalogStage) String() string { return "Prepare the FloxHub catalog" }

// Skip: without a token there is no FloxHub; a dry run writes nothing to it.
func (prepareCatalogStage) Skip(r *Release) bool { return r.Inputs.FloxHubToken == "" || r.Mode.DryRun }

func (prepareCatalogStage) Run(ctx context.Context, r *Release) error {
	cfg := r.Inputs
	if cfg.Catalog == "" {
		return r.Inputs.Errorf("catalog", inputs.Fix{Workflow: "add catalog: NAME to the step's with:", Terminal: "pass --catalog NAME"}, "is required with floxhub-token: name the catalog to publish into")
	}
	hub, err := catalog.NewFloxHub(cfg.CatalogURL, cfg.FloxHubToken, catalog.Options{Logf: r.UI.Printf})
	if err != nil {
		return err
	}
	r.Hub = hub
	for _, res := range r.Results {
		t, err := r.catalogTarget(res)
		if err != nil {
			return err
		}
		plan, err := hub.Prepare(ctx, t)
		if err != nil {
			return err
		}
		if plan.CheckErr != nil {
			r.UI.Warning("FloxHub could not say whether %s/%s is already published: %v", cfg.Catalog, res.Name, plan.CheckErr)
		}
		if plan.AlreadyPublished {
			r.Published[res.Name] = plan.Published
			r.UI.Notice("%s/%s: %s; nothing to do", cfg.Catalog, res.Name, plan.Published)
			continue
		}
		if r.Destination, err = plan.Destination(cfg.Store.String()); err != nil {
			return err
		}
	}
	return nil
}

func (r *Release) catalogTarget(res *build.Result) (catalog.Target, error) {
	src := r.Source
	url, err := catalog.PublicSourceURL(src.RemoteURL)
	if err != nil {
		return catalog.Target{}, err
	}
	return catalog.Target{
		Catalog: r.Inputs.Catalog, Package: res.Name, System: res.System,
		Source:               catalog.Source{URL: url, Rev: src.Rev, Ref: src.Ref, RevCount: src.RevCount, RevDate: src.RevDate},
		LockedBaseCatalogURL: r.Environment.Lock.BaseCatalogURL(),
	}, nil
}

// recordCatalogStage records each published build in FloxHub (with a token) and
// in the store's own catalog index, and sets each package's catalog link.
type recordCatalogStage struct{}

func (recordCatalogStage) String() string { return "Record in the catalog" }

// Skip: without a catalog name there is nothing to record nor to link.
func (recordCatalogStage) Skip(r *Release) bool { return r.Inputs.Catalog == "" }

func (recordCatalogStage) Run(ctx context.Context, r *Release) error {
	cfg := r.Inputs
	narinfos := map[string]catalog.NarInfo{}
	for _, w := range r.Written {
		if w.NarInfo != nil {
			narinfos[w.StorePath] = catalogNarInfo(w)
		}
	}
	var idx *catalog.Index
	if _, ok := r.Store.(store.Conditional); ok {
		var err error
		if idx, err = catalog.NewIndex(r.Store); err != nil {
			return err
		}
	}
	runPage := runURL(r.Env.Getenv)
	for _, res := range r.Results {
		switch {
		case r.Hub != nil || cfg.FloxHubToken != "":
			r.Links[res.Name] = "https://hub.flox.dev/packages/" + cfg.Catalog + "/" + res.Name
		case r.Store != nil:
			r.Links[res.Name] = r.StoreAt.Link(catalog.IndexKey(cfg.Catalog, res.Name))
		case !cfg.Store.IsZero(): // a dry run: the link the publish would create
			r.Links[res.Name] = cfg.Store.Link(catalog.IndexKey(cfg.Catalog, res.Name))
		}
		if _, done := r.Published[res.Name]; done || r.Store == nil && r.Hub == nil {
			continue
		}
		t, err := r.catalogTarget(res)
		if err != nil {
			return err
		}
		b := catalog.Build{Target: t, Version: res.Version, DotFloxDir: dotFlox(r.Source.EnvDir), RunURL: runPage}
		if mb, ok := r.Environment.Manifest.Build(res.Name); ok {
			b.Description, b.License = mb.Description, mb.License
		}
		for _, o := range res.Outputs {
			b.Outputs = append(b.Outputs, catalog.Output{Name: o.Name, StorePath: o.StorePath})
		}
		for _, cp := range res.Closure {
			if n, ok := narinfos[cp.StorePath]; ok {
				b.NarInfos = append(b.NarInfos, n)
			}
		}
		if r.Key != nil {
			b.KeyName = r.Key.Name
		}
		b.Substituters = upstream.Summarize(cfg.UpstreamCaches, r.Upstream).Caches
		if r.Hub != nil {
			if err := r.Hub.Record(ctx, r.Destination, b); err != nil {
				return err
			}
		}
		if idx != nil {
			added, err := idx.Record(ctx, b)
			if err != nil {
				return err
			}
			if !added {
				r.UI.Printf("%s/%s %s from %.12s is already in the catalog index", cfg.Catalog, res.Name, res.Version, r.Source.Rev)
			}
		}
		r.Recorded = append(r.Recorded, res.Name)
		r.progress.update(func(p *Progress) { p.recorded = append(p.recorded, res.Name) })
		r.UI.Printf("%-12s %s/%s %s", "recorded", cfg.Catalog, res.Name, res.Version)
	}
	return nil
}

func dotFlox(envDir string) string {
	if envDir == "." || envDir == "" {
		return ".flox"
	}
	return envDir + "/.flox"
}

func catalogNarInfo(w cache.PathResult) catalog.NarInfo {
	ni := w.NarInfo
	n := catalog.NarInfo{
		StorePath: ni.StorePath, URL: ni.URL, Compression: ni.Compression, FileSize: ni.FileSize,
		NarSize: ni.NarSize, CA: ni.CA, References: ni.References, Deriver: ni.Deriver,
	}
	if ni.FileHash != nil {
		n.FileHash = ni.FileHash.String()
	}
	if ni.NarHash != nil {
		n.NarHash = ni.NarHash.String()
	}
	for _, s := range ni.Signatures {
		n.Sigs = append(n.Sigs, s.String())
	}
	return n
}
