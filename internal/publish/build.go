package publish

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/flox-publish/publish-action/internal/builder"
	"github.com/flox-publish/publish-action/internal/git"
	"github.com/flox-publish/publish-action/internal/manifest"
	"github.com/flox-publish/publish-action/internal/report"
)

// versionStage clones the verified commit and resolves each build's version
// (and checks it against a version tag) before the first build starts.
type versionStage struct{}

func (versionStage) String() string    { return "Clone the commit and resolve versions" }
func (versionStage) Part() report.Part { return report.PartBuild }

func (versionStage) Run(ctx context.Context, r *Release) error {
	scratch, lock, removed, err := newScratch()
	if removed > 0 {
		r.UI.Printf("Removed %s of killed runs from %s", plural(removed, "scratch directory", "scratch directories"), os.TempDir())
	}
	if err != nil {
		return fmt.Errorf("make a scratch directory in %s (TMPDIR): %w", os.TempDir(), err)
	}
	c := &Cloned{Scratch: scratch, lock: lock}
	r.share(func() { r.Cloned = c })
	src := r.Checked.Source
	clone := filepath.Join(scratch, "src")
	if err := git.Clone(ctx, src.RepoRoot, src.Rev, clone, git.TrustRepository(), git.WithEnv(r.Env.Environ)); err != nil {
		return fmt.Errorf("clone %s at %s for a clean build: %w", src.RepoRoot, src.Rev, err)
	}
	if err := r.iso.prepareClone(scratch, clone); err != nil {
		return err
	}
	c.Dir = filepath.Join(clone, filepath.FromSlash(src.EnvDir))
	vars := r.Checked.Environment.Manifest.Vars()
	builds := make([]manifest.Build, len(r.Packages))
	versions := make([]string, len(r.Packages))
	for i, p := range r.Packages {
		builds[i] = p.Build
		if versions[i], err = builder.ResolveVersion(ctx, r.iso.sb, c.Dir, p.Build, r.Env.Environ, vars); err != nil {
			return err
		}
	}
	if tag, ok := r.Workflow.Tag(); ok && r.Inputs.CheckVersion {
		err = checkTagVersion(tag, builds, versions)
	}
	for i, p := range r.Packages {
		p.Version = versions[i]
	}
	return err
}

// buildStage builds every selected package in the clone.
type buildStage struct{}

func (buildStage) String() string    { return "Build" }
func (buildStage) Part() report.Part { return report.PartBuild }
func (buildStage) groupsItself()     {}

func (buildStage) Run(ctx context.Context, r *Release) error {
	vars := r.Checked.Environment.Manifest.Vars()
	scratch := r.Cloned.Scratch
	built := &Built{}
	for _, p := range r.Packages {
		if p.Published == nil {
			built.Packages = append(built.Packages, p)
		}
	}
	for i, p := range built.Packages {
		b := p.Build
		title := fmt.Sprintf("Build %s %s (%s builder)", b.Name, p.Version, r.Builder.Name())
		end := r.UI.Group(title)
		start := time.Now()
		if w := r.iso.unsandboxedWarning(r.Builder.Name(), b); w != "" {
			r.iso.warn(r.UI, w)
		}
		res, err := r.Builder.Build(ctx, builder.Request{
			EnvDir: r.Cloned.Dir, Build: b, Version: p.Version, Vars: vars,
			Scratch: scratch, Log: r.UI.Writer(), Environ: r.Env.Environ,
			// The last build to run may take the clone's files rather than
			// a copy of them: nothing reads the clone after it.
			SourceRoot: filepath.Join(scratch, "src"), MoveSource: i == len(built.Packages)-1,
			CommitTime: r.Checked.Source.RevDate, Sandbox: r.iso.sb,
		})
		// Each build has a group of its own, so its time is printed
		// there, as the loop prints the other stages'.
		r.UI.Printf("%s: %s", title, time.Since(start).Round(time.Millisecond))
		end()
		if err != nil {
			return fmt.Errorf("%w; nothing was uploaded", err)
		}
		p.Result = res
	}
	r.Built = built
	return nil
}

var versionTagRe = regexp.MustCompile(`^v?([0-9]+\.[0-9]+\.[0-9]+(?:[-+][0-9A-Za-z.+-]*)?)$`)

// checkTagVersion refuses, before anything is built, a release whose tag
// reads as a version that a build does not have: publishing v1.2.3 of a
// package that says 1.2.2 is almost always a forgotten version bump. A
// build that sets no version takes the tag's (versions is updated).
func checkTagVersion(tag string, builds []manifest.Build, versions []string) error {
	m := versionTagRe.FindStringSubmatch(tag)
	if m == nil {
		return nil
	}
	want := m[1]
	var errs []error
	for i, b := range builds {
		if b.Version.IsDefault() {
			versions[i] = want
			continue
		}
		if versions[i] == want {
			continue
		}
		var fix string
		switch v := b.Version; {
		case v.File != "":
			fix = fmt.Sprintf("write %s into %s (the version file of [build.%s])", want, v.File, b.Name)
		case v.Command != "":
			fix = fmt.Sprintf("make the version command of [build.%s] (%s) print %s", b.Name, v.Command, want)
		default:
			fix = fmt.Sprintf("set version = %q in [build.%s]", want, b.Name)
		}
		errs = append(errs, locatedError{
			msg: fmt.Sprintf("build %q has version %s (%s) but the tag %s says %s: %s, or turn the check off with check-version: false",
				b.Name, versions[i], b.Version.Pos, tag, want, fix),
			pos: b.Version.Pos,
		})
	}
	return errors.Join(errs...)
}

// plural is "1 thing" or "n things".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
