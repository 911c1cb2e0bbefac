package publish

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/flox-publish/publish-action/internal/build"
	"github.com/flox-publish/publish-action/internal/git"
	"github.com/flox-publish/publish-action/internal/manifest"
)

// versionStage clones the verified commit and resolves each build's version
// (and checks it against a version tag) before the first build starts.
type versionStage struct{}

func (versionStage) String() string { return "Clone the commit and resolve versions" }

func (versionStage) Run(ctx context.Context, r *Release) error {
	scratch, lock, removed, err := newScratch()
	if removed > 0 {
		r.UI.Printf("Removed %s of killed runs from %s", plural(removed, "scratch directory", "scratch directories"), os.TempDir())
	}
	if err != nil {
		return fmt.Errorf("make a scratch directory in %s (TMPDIR): %w", os.TempDir(), err)
	}
	r.Scratch = scratch
	r.progress.update(func(p *Progress) {
		p.scratch = append(p.scratch, scratch)
		p.locks = append(p.locks, lock)
	})
	clone := filepath.Join(scratch, "src")
	if err := git.Clone(ctx, r.Source.RepoRoot, r.Source.Rev, clone, git.TrustRepository(), git.WithEnv(build.GitEnv(r.Env.Environ))); err != nil {
		return fmt.Errorf("clone %s at %s for a clean build: %w", r.Source.RepoRoot, r.Source.Rev, err)
	}
	if err := r.iso.prepareClone(scratch, clone); err != nil {
		return err
	}
	r.CloneDir = filepath.Join(clone, filepath.FromSlash(r.Source.EnvDir))
	vars := r.Environment.Manifest.Vars()
	r.Versions = make([]string, len(r.Builds))
	for i, b := range r.Builds {
		if r.Versions[i], err = build.ResolveVersion(ctx, r.iso.sb, r.CloneDir, b, r.Env.Environ, vars); err != nil {
			return err
		}
	}
	tag, ok := strings.CutPrefix(r.GitHub.Ref, "refs/tags/")
	if !ok || !r.Inputs.CheckVersion {
		return nil
	}
	return checkTagVersion(tag, r.Builds, r.Versions)
}

// buildStage builds every selected package in the clone.
type buildStage struct{}

func (buildStage) String() string { return "Build" }
func (buildStage) groupsItself()  {}

func (buildStage) Run(ctx context.Context, r *Release) error {
	vars := r.Environment.Manifest.Vars()
	// The last build to run may take the clone's files rather than a copy
	// of them: nothing reads the clone after it.
	last := -1
	for i, b := range r.Builds {
		if _, done := r.Published[b.Name]; !done {
			last = i
		}
	}
	for i, b := range r.Builds {
		if _, done := r.Published[b.Name]; done {
			continue
		}
		end := r.UI.Group(fmt.Sprintf("Build %s %s (%s builder)", b.Name, r.Versions[i], r.Builder.Name()))
		if w := r.iso.unsandboxedWarning(r.Builder.Name(), b); w != "" {
			r.iso.warn(r.UI, w)
		}
		res, err := r.Builder.Build(ctx, build.Request{
			EnvDir: r.CloneDir, Build: b, Version: r.Versions[i], Vars: vars,
			Scratch: r.Scratch, Log: r.UI.Writer(), Environ: r.Env.Environ,
			SourceRoot: filepath.Join(r.Scratch, "src"), MoveSource: i == last,
			CommitTime: r.Source.RevDate, Sandbox: r.iso.sb,
		})
		end()
		if err != nil {
			return fmt.Errorf("%w; nothing was uploaded", err)
		}
		r.Results = append(r.Results, res)
	}
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
