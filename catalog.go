package main

import (
	"context"
	"strings"

	"github.com/flox-publish/publish-action/internal/build"
	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/ui"
	"github.com/flox-publish/publish-action/internal/verify"
)

// catalogPlan is what FloxHub said before the upload: where store paths
// go, and which packages it already has from this revision.
type catalogPlan struct {
	hub       *catalog.FloxHub
	dest      catalog.Destination
	published map[string]catalog.Published
}

// storeURL is where to upload: the catalog's store when FloxHub names one
// and store-url agrees with it (see catalog.Plan.Destination), else
// store-url.
func (c *catalogPlan) storeURL(cfg inputs.Config) string {
	if c.dest.StoreURL != "" {
		return c.dest.StoreURL
	}
	return cfg.StoreURL
}

func catalogTarget(cfg inputs.Config, src *verify.Source, p *plan, r *build.Result) (catalog.Target, error) {
	url, err := catalog.PublicSourceURL(src.RemoteURL)
	if err != nil {
		return catalog.Target{}, err
	}
	return catalog.Target{
		Catalog: cfg.Catalog, Package: r.Name, System: r.System,
		Source:               catalog.Source{URL: url, Rev: src.Rev, Ref: src.Ref, RevCount: src.RevCount, RevDate: src.RevDate},
		LockedBaseCatalogURL: p.env.Lock.BaseCatalogURL(),
	}, nil
}

// prepareCatalog runs FloxHub's first three steps for each package (create
// the package, check-build, publish/info). It writes to FloxHub, so a dry
// run skips it.
func prepareCatalog(ctx context.Context, u *ui.UI, cfg inputs.Config, src *verify.Source, p *plan, m mode, results []*build.Result) (*catalogPlan, error) {
	c := &catalogPlan{published: map[string]catalog.Published{}}
	if cfg.FloxHubToken == "" || m.dryRun {
		return c, nil
	}
	if cfg.Catalog == "" {
		return nil, &inputs.Error{Input: inputName(cfg, "catalog"), Msg: "is required with floxhub-token: name the catalog to publish into"}
	}
	hub, err := catalog.NewFloxHub(cfg.CatalogURL, cfg.FloxHubToken, catalog.Options{Logf: u.Printf})
	if err != nil {
		return nil, err
	}
	c.hub = hub
	for _, r := range results {
		t, err := catalogTarget(cfg, src, p, r)
		if err != nil {
			return nil, err
		}
		plan, err := hub.Prepare(ctx, t)
		if err != nil {
			return nil, err
		}
		if plan.CheckErr != nil {
			u.Warning("FloxHub could not say whether %s/%s is already published: %v", cfg.Catalog, r.Name, plan.CheckErr)
		}
		if plan.AlreadyPublished {
			c.published[r.Name] = plan.Published
			u.Notice("%s/%s: %s; nothing to do", cfg.Catalog, r.Name, plan.Published)
			continue
		}
		if c.dest, err = plan.Destination(cfg.StoreURL); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// recordCatalog records each published build in FloxHub (with a token) and
// in the store's own catalog index, and returns each package's catalog
// link.
func recordCatalog(ctx context.Context, u *ui.UI, cfg inputs.Config, runURL string, src *verify.Source, p *plan, c *catalogPlan,
	st store.Store, results []*build.Result, written []cache.PathResult) (map[string]string, error) {
	links := map[string]string{}
	narinfos := map[string]catalog.NarInfo{}
	for _, w := range written {
		if w.NarInfo != nil {
			narinfos[w.StorePath] = catalogNarInfo(w)
		}
	}
	var idx *catalog.Index
	if st != nil && cfg.Catalog != "" {
		if _, ok := st.(store.Conditional); ok {
			var err error
			if idx, err = catalog.NewIndex(st); err != nil {
				return nil, err
			}
		}
	}
	for _, r := range results {
		if cfg.Catalog == "" {
			continue
		}
		switch {
		case c.hub != nil || cfg.FloxHubToken != "":
			links[r.Name] = "https://hub.flox.dev/packages/" + cfg.Catalog + "/" + r.Name
		case st != nil:
			links[r.Name] = strings.TrimSuffix(st.URL(), "/") + "/" + catalog.IndexKey(cfg.Catalog, r.Name)
		case cfg.StoreURL != "": // a dry run: the link the publish would create
			base, _, _ := strings.Cut(cfg.StoreURL, "?")
			links[r.Name] = strings.TrimSuffix(base, "/") + "/" + catalog.IndexKey(cfg.Catalog, r.Name)
		}
		if _, done := c.published[r.Name]; done || st == nil && c.hub == nil {
			continue
		}
		t, err := catalogTarget(cfg, src, p, r)
		if err != nil {
			return nil, err
		}
		b := catalog.Build{Target: t, Version: r.Version, DotFloxDir: dotFlox(src)}
		if mb, ok := p.env.Manifest.Build(r.Name); ok {
			b.Description, b.License = mb.Description, mb.License
		}
		for _, o := range r.Outputs {
			b.Outputs = append(b.Outputs, catalog.Output{Name: o.Name, StorePath: o.StorePath})
		}
		for _, cp := range r.Closure {
			if n, ok := narinfos[cp.StorePath]; ok {
				b.NarInfos = append(b.NarInfos, n)
			}
		}
		b.RunURL = runURL
		if p.key != nil {
			b.KeyName = p.key.Name
		}
		if c.hub != nil {
			if err := c.hub.Record(ctx, c.dest, b); err != nil {
				return nil, err
			}
		}
		if idx != nil {
			added, err := idx.Record(ctx, b)
			if err != nil {
				return nil, err
			}
			if !added {
				u.Printf("%s/%s %s from %.12s is already in the catalog index", cfg.Catalog, r.Name, r.Version, src.Rev)
			}
		}
	}
	return links, nil
}

func dotFlox(src *verify.Source) string {
	if src.EnvDir == "." || src.EnvDir == "" {
		return ".flox"
	}
	return src.EnvDir + "/.flox"
}

func catalogNarInfo(w cache.PathResult) catalog.NarInfo {
	ni := w.NarInfo
	n := catalog.NarInfo{
		StorePath: ni.StorePath, URL: ni.URL, Compression: ni.Compression, FileSize: ni.FileSize,
		NarSize: ni.NarSize, CA: ni.CA,
	}
	if ni.FileHash != nil {
		n.FileHash = ni.FileHash.String()
	}
	if ni.NarHash != nil {
		n.NarHash = ni.NarHash.String()
	}
	for _, r := range ni.References {
		n.References = append(n.References, nixpath.StoreDir+"/"+r)
	}
	if ni.Deriver != "" {
		n.Deriver = nixpath.StoreDir + "/" + ni.Deriver
	}
	for _, s := range ni.Signatures {
		n.Sigs = append(n.Sigs, s.String())
	}
	return n
}
