package publish

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/flox-publish/publish-action/internal/builder"
	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/closure"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/report"
	"github.com/flox-publish/publish-action/internal/upstream"
)

// reportStage sets the step outputs and writes the job summary; in a
// terminal it prints the same facts as text.
type reportStage struct{}

func (reportStage) String() string    { return "Report" }
func (reportStage) Part() report.Part { return report.PartReport }

// groupsItself: the report is the run's last word, not a section to fold.
func (reportStage) groupsItself() {}

func (reportStage) Run(ctx context.Context, r *Release) error {
	r.Report = newReport(r)
	outputs, err := r.Report.Outputs()
	if err != nil {
		return err
	}
	if err := r.UI.SetOutputs(outputs); err != nil {
		return err
	}
	systems := report.Systems{Manifest: r.Checked.Environment.Manifest.Options.Systems, This: builder.System(), DryRun: r.Mode.DryRun}
	if err := r.UI.AddSummary(r.Report.Markdown() + systems.Markdown()); err != nil {
		return err
	}
	if !r.UI.InActions() {
		fmt.Fprint(r.UI.Writer(), "\n"+r.Report.Text())
	}
	return nil
}

// manifestReport is what the report says of a closure manifest.
func manifestReport(m *closure.Stored, up *Uploaded) *report.ClosureManifest {
	c := &report.ClosureManifest{Key: m.Key, SHA256: hex.EncodeToString(m.SHA256), Paths: len(m.Paths)}
	if up.Store != nil && up.Destination.Type != catalog.StorePublisher {
		c.URL = up.Destination.Store.Link(m.Key)
	}
	return c
}

// subjects are the attestation subjects of a package published with the
// closure manifest m: each output's NAR, and the manifest itself when a
// consumer can fetch it (stored), which covers every other path of the
// closure.
func subjects(m *closure.Stored, stored bool) []report.Subject {
	var subs []report.Subject
	for _, o := range m.Outputs {
		p, _ := m.Path(o)
		subs = append(subs, report.Subject{Name: nixpath.Base(o) + ".nar", SHA256: p.NarHash})
	}
	if stored {
		subs = append(subs, report.Subject{Name: m.Name(), SHA256: m.SHA256})
	}
	return subs
}

// recalled fills in p, a package published already, from what its
// earlier publish left in the store, as that publish reported it, and
// returns its attestation subjects. What is not known is said in its note.
func recalled(p *report.Package, rec *Record, dest catalog.Destination) []report.Subject {
	if rec.StorePaths != nil {
		p.StorePaths = rec.StorePaths
	}
	if rec.Lacks != "" {
		p.Note += "; " + rec.Lacks
	}
	if m := rec.Manifest; m != nil {
		p.NarSize, p.PathsPresent = m.NarSize(), len(m.Paths)
		p.ClosureManifest = &report.ClosureManifest{Key: m.Key, URL: dest.Store.Link(m.Key), SHA256: hex.EncodeToString(m.SHA256), Paths: len(m.Paths)}
		return subjects(m, true)
	}
	var subs []report.Subject
	for _, n := range rec.NarInfos {
		if n.NarHash != nil {
			subs = append(subs, report.Subject{Name: nixpath.Base(n.StorePath) + ".nar", SHA256: n.NarHash.Digest()})
		}
	}
	return subs
}

// isOutput says whether storePath is one of res's outputs.
func isOutput(res *builder.Result, storePath string) bool {
	for _, o := range res.Outputs {
		if o.StorePath == storePath {
			return true
		}
	}
	return false
}

// newReport says what the release did, from its packages' records and
// the stages' results.
func newReport(r *Release) *report.Report {
	up := r.Uploaded
	if up == nil {
		up = &Uploaded{}
	}
	status := map[string]cache.PathResult{}
	for _, w := range up.Written {
		status[w.StorePath] = w
	}
	src := r.Checked.Source
	rep := &report.Report{
		DryRun: r.Mode.DryRun, Mode: r.Mode.Reason, Rev: src.Rev, Ref: src.Ref, RevCount: src.RevCount,
		Builder: r.Builder.Name(), Warnings: src.Warnings, Catalog: r.Inputs.Catalog, FloxHub: r.Inputs.FloxHubToken != "",
		RepoURL: r.Workflow.RepoURL(), RunURL: r.Workflow.URL(),
	}
	if sum := upstream.Summarize(r.Inputs.UpstreamCaches, up.Upstream); sum.Paths > 0 {
		rep.Upstream = report.UpstreamSummary{Paths: sum.Paths, NarBytes: sum.NarBytes, Caches: sum.Caches, Keys: r.Inputs.UpstreamKeys}
	}
	if k := r.Checked.Key; k != nil {
		rep.PublicKey = k.Public
	}
	// The store consumers install from: this run's, else the one the
	// packages published already went to.
	dest, st := up.Destination, up.Store
	if rc := r.Recalled; st == nil && rc != nil {
		dest, st = rc.Destination, rc.Store
	}
	if st != nil {
		rep.StoreURL = st.URL()
		if sub := dest.Substituter(); sub != rep.StoreURL {
			rep.InstallFrom = sub
		}
		rep.NoNixInstall = rep.InstallFrom == "" && dest.Type == catalog.StorePublisher
	} else if !r.Inputs.Store.IsZero() && r.Mode.DryRun {
		rep.StoreURL = r.Inputs.Store.String()
	}
	for _, pkg := range r.Packages {
		res := pkg.Result
		if res == nil {
			// Not built: published already (a failed run does not report).
			p := report.Package{Name: pkg.Name(), Version: pkg.Version, System: builder.System(), StorePaths: []string{}, Status: report.Present, CatalogURL: pkg.Link}
			if pkg.Published != nil {
				// FloxHub's answer, or the store's catalog index's.
				p.Note, p.InFloxHub = pkg.Published.String(), r.hub() != nil
			}
			if rec := pkg.Record; rec != nil {
				rep.Subjects = append(rep.Subjects, recalled(&p, rec, dest)...)
			}
			rep.Packages = append(rep.Packages, p)
			continue
		}
		p := report.Package{Name: res.Name, Version: res.Version, System: res.System, NarSize: res.NarSize(), CatalogURL: pkg.Link}
		for _, o := range res.Outputs {
			p.StorePaths = append(p.StorePaths, o.StorePath)
		}
		for _, c := range res.Closure {
			st := status[c.StorePath].Status
			switch st {
			case cache.Uploaded:
				p.PathsUploaded++
			case cache.Present:
				p.PathsPresent++
			case cache.Upstream:
				p.PathsUpstream++
				p.NarSizeUpstream += c.NarSize
			}
		}
		m := up.Manifests[pkg.Name()]
		if m != nil {
			p.ClosureManifest = manifestReport(m, up)
		}
		switch {
		case r.Mode.DryRun || up.Store == nil: // nothing published
		case m != nil:
			rep.Subjects = append(rep.Subjects, subjects(m, p.ClosureManifest.URL != "")...)
		default:
			for _, c := range res.Closure {
				if isOutput(res, c.StorePath) && c.NarHash != nil {
					rep.Subjects = append(rep.Subjects, report.Subject{Name: nixpath.Base(c.StorePath) + ".nar", SHA256: c.NarHash})
				}
			}
		}
		if pkg.Published != nil {
			p.Note = pkg.Published.String()
		}
		switch {
		case r.Mode.DryRun:
			p.Status = report.WouldUpload
		case up.Store == nil:
			// Nothing to upload to: the catalog takes metadata only.
			p.Status = report.Present
			p.Note = fmt.Sprintf("nothing uploaded: catalog %s takes metadata only (store type %s)", r.Inputs.Catalog, up.Destination.Type)
		case p.PathsUploaded > 0:
			p.Status = report.Uploaded
		default:
			p.Status = report.Present
		}
		p.InFloxHub = pkg.InFloxHub || pkg.Published != nil
		rep.Packages = append(rep.Packages, p)
	}
	return rep
}
