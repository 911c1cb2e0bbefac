package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/flox-publish/publish-action/internal/build"
	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/manifest"
	"github.com/flox-publish/publish-action/internal/report"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/ui"
	"github.com/flox-publish/publish-action/internal/verify"
)

// githubContext reads the workflow's context; zero outside Actions.
func githubContext(getenv func(string) string, cfg inputs.Config) verify.GitHub {
	if !cfg.InActions {
		return verify.GitHub{}
	}
	return verify.GitHub{
		InActions:  true,
		EventName:  getenv("GITHUB_EVENT_NAME"),
		Ref:        getenv("GITHUB_REF"),
		SHA:        getenv("GITHUB_SHA"),
		Repository: getenv("GITHUB_REPOSITORY"),
		APIURL:     getenv("GITHUB_API_URL"),
		ServerURL:  getenv("GITHUB_SERVER_URL"),
		Token:      cfg.GitHubToken,
	}
}

// mode is whether the run writes to the store, and why.
type mode struct {
	dryRun bool
	reason string
}

// prEvents are the events whose checkout is a merge commit that was never
// pushed, and which forks can trigger: they validate, they never publish.
var prEvents = map[string]bool{"pull_request": true, "pull_request_target": true, "merge_group": true}

func decideMode(cfg inputs.Config, gh verify.GitHub) mode {
	switch {
	case prEvents[gh.EventName]:
		why := "Dry run: a " + gh.EventName + " event validates the change without publishing"
		if cfg.DryRun == inputs.DryRunFalse {
			why += " (dry-run: false does not apply to pull requests)"
		}
		return mode{true, why + "."}
	case cfg.DryRun == inputs.DryRunTrue:
		return mode{true, "Dry run: dry-run is true; everything is built and signed, nothing is uploaded."}
	case gh.EventName == "push" && strings.HasPrefix(gh.Ref, "refs/tags/"):
		return mode{false, "Publishing: tag " + strings.TrimPrefix(gh.Ref, "refs/tags/") + " was pushed."}
	case gh.EventName == "push":
		return mode{false, "Publishing: branch " + strings.TrimPrefix(gh.Ref, "refs/heads/") + " was pushed."}
	case gh.EventName != "":
		return mode{false, "Publishing: the " + gh.EventName + " event publishes (dry-run is " + string(cfg.DryRun) + ")."}
	}
	return mode{false, "Publishing from a local run."}
}

var versionTagRe = regexp.MustCompile(`^v?([0-9]+\.[0-9]+\.[0-9]+(?:[-+][0-9A-Za-z.+-]*)?)$`)

// checkTagVersion refuses, before anything is built, a release whose tag
// reads as a version that a build does not have: publishing v1.2.3 of a
// package that says 1.2.2 is almost always a forgotten version bump.
func checkTagVersion(cfg inputs.Config, gh verify.GitHub, builds []manifest.Build, versions []string) error {
	tag, ok := strings.CutPrefix(gh.Ref, "refs/tags/")
	if !ok || !cfg.CheckVersion {
		return nil
	}
	m := versionTagRe.FindStringSubmatch(tag)
	if m == nil {
		return nil
	}
	want := m[1]
	var errs []error
	for i, b := range builds {
		if b.Version.IsDefault() {
			// A build that sets no version takes the tag's.
			versions[i] = want
			continue
		}
		if versions[i] != want {
			errs = append(errs, fmt.Errorf("build %q has version %s (%s) but the tag %s says %s: set version = %q in [build.%s], or turn the check off with check-version: false",
				b.Name, versions[i], b.Version.Pos, tag, want, want, b.Name))
		}
	}
	return errors.Join(errs...)
}

// locatedError turns manifest errors into ui.Located so that they become
// annotations on their lines.
type locatedError struct{ e *manifest.Error }

func (l locatedError) Error() string { return l.e.Error() }
func (l locatedError) Location() ui.Location {
	return ui.Location{File: l.e.Pos.File, Line: l.e.Pos.Line, Col: l.e.Pos.Col}
}

func locate(err error) error {
	errs := manifest.Errors(err)
	if len(errs) == 0 {
		return err
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = locatedError{e}
	}
	return errors.Join(out...)
}

func newReport(cfg inputs.Config, gh verify.GitHub, src *verify.Source, m mode, builder string,
	key *signing.Key, st store.Store, results []*build.Result, written []cache.PathResult,
	links map[string]string, published map[string]catalog.Published) *report.Report {
	status := map[string]cache.PathResult{}
	for _, w := range written {
		status[w.StorePath] = w
	}
	rep := &report.Report{
		DryRun: m.dryRun, Mode: m.reason, Rev: src.Rev, Ref: src.Ref, RevCount: src.RevCount,
		Builder: builder, Warnings: src.Warnings, Catalog: cfg.Catalog,
	}
	if gh.ServerURL != "" && gh.Repository != "" {
		rep.RepoURL = strings.TrimSuffix(gh.ServerURL, "/") + "/" + gh.Repository
	}
	if key != nil {
		rep.PublicKey = key.Public
	}
	if st != nil {
		rep.StoreURL = st.URL()
	} else if cfg.StoreURL != "" {
		rep.StoreURL = cfg.StoreURL
	}
	for _, r := range results {
		p := report.Package{Name: r.Name, Version: r.Version, System: r.System, NarSize: r.NarSize()}
		for _, o := range r.Outputs {
			p.StorePaths = append(p.StorePaths, o.StorePath)
		}
		for _, c := range r.Closure {
			switch status[c.StorePath].Status {
			case cache.Uploaded:
				p.PathsUploaded++
			case cache.Present:
				p.PathsPresent++
			}
		}
		p.CatalogURL = links[r.Name]
		if pub, ok := published[r.Name]; ok {
			p.Note = pub.String()
		}
		switch {
		case m.dryRun:
			p.Status = report.WouldUpload
		case p.PathsUploaded > 0:
			p.Status = report.Uploaded
		default:
			p.Status = report.Present
		}
		rep.Packages = append(rep.Packages, p)
	}
	return rep
}
