package report

import (
	"fmt"
	"slices"
	"strings"
)

// Systems is, for the job summary, which of the manifest's systems this
// job built: one job builds for its runner's system only, so a release
// for every system of `[options] systems` is one job per system, each on
// a runner of that system (README, "One release for every system").
type Systems struct {
	Manifest []string // [options] systems; empty when the manifest sets none
	This     string   // the runner's Nix system, such as aarch64-darwin
	DryRun   bool
}

// Markdown is the summary's section, "" when there is nothing to say.
func (s Systems) Markdown() string {
	if s.This == "" {
		return ""
	}
	did := "published"
	if s.DryRun {
		did = "built (a dry run)"
	}
	var b strings.Builder
	if len(s.Manifest) == 0 {
		fmt.Fprintf(&b, "\n**Systems**: this job %s the builds for `%s`, its runner's system. The manifest sets no `[options] systems`.\n", did, s.This)
		return b.String()
	}
	fmt.Fprintf(&b, "\n**Systems**: the manifest's `[options] systems` are %s. This job %s `%s`, its runner's system.\n\n", codeList(s.Manifest), did, s.This)
	b.WriteString("| system | built by |\n|---|---|\n")
	for _, sys := range s.Manifest {
		by := "another job, on a runner of that system (none, if the workflow has no such runner)"
		if sys == s.This {
			by = "this job"
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", sys, by)
	}
	if !slices.Contains(s.Manifest, s.This) {
		fmt.Fprintf(&b, "\n⚠️ `%s`, this runner's system, is not one of them: add it to `[options] systems`, or run this job on a runner of one of them.\n", s.This)
	}
	return b.String()
}

func codeList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = "`" + s + "`"
	}
	return strings.Join(q, ", ")
}
