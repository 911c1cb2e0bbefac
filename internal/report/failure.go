package report

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/flox-publish/publish-action/internal/ui"
)

// Part is the part of the release a stage belongs to, as the failure
// summary names it ("Failed at the build stage") and picks its advice by.
type Part string

// The parts of the release, in order.
const (
	PartInputs  Part = "inputs"  // reading the inputs
	PartSetUp   Part = "set-up"  // preparing the build user
	PartVerify  Part = "verify"  // checking the commit, the manifest and the inputs
	PartBuild   Part = "build"   // cloning, resolving versions, building
	PartCatalog Part = "catalog" // asking and telling the catalog
	PartUpload  Part = "upload"  // signing and uploading
	PartReport  Part = "report"  // the outputs and the job summary
)

// Failure is what a run that stopped early tells its reader: at which
// stage and why, where the error points, what to do, and what was and was
// not published. The pipeline writes its Markdown to the job summary on
// every failed or cancelled exit, so the summary is never empty.
type Failure struct {
	// Stage is the part of the release that failed; "" when unknown.
	Stage Part
	// Err is the error, as phrased for where the run is (see inputs.Error).
	Err error
	// Cancelled is true when the run was cancelled (the job was cancelled
	// or timed out, or Ctrl-C in a terminal) rather than failing.
	Cancelled bool
	// Signal is the signal that cancelled the run ("SIGTERM"), when known.
	Signal string
	// Mode is the mode line of the run ("Publishing: tag v1.2.3 was
	// pushed."), "" when the run failed before the mode was decided.
	Mode   string
	DryRun bool
	// StoreURL is the store written to, "" when none was opened.
	StoreURL string
	// Uploaded are the store paths written before the failure.
	Uploaded []string
	// Recorded are the packages recorded in the catalog before the
	// failure (published), NotRecorded those that were not; both empty
	// when the run stopped before recording anything.
	Recorded, NotRecorded []string
	// Root is the directory that Err's file positions are shown relative
	// to (the workspace in Actions); "" shows them as they are.
	Root string
	// RepoURL and Rev, when known, turn file positions into links to the
	// file at that commit.
	RepoURL string
	Rev     string
}

// Headline is the first line: that the run failed (or was cancelled) and
// at which stage, and whether anything was published.
func (f *Failure) Headline() string {
	what := "Failed"
	if f.Cancelled {
		what = "Cancelled"
		if f.Signal != "" {
			what += " by " + f.Signal
		}
	}
	where := ""
	if f.Stage != "" {
		where = " at the " + string(f.Stage) + " stage"
		if f.Cancelled {
			where = " during the " + string(f.Stage) + " stage"
		}
	}
	return what + where + ": " + f.publishedShort() + "."
}

func (f *Failure) publishedShort() string {
	switch {
	case len(f.Recorded) > 0:
		s := "published " + strings.Join(f.Recorded, ", ")
		if len(f.NotRecorded) > 0 {
			s += "; not published: " + strings.Join(f.NotRecorded, ", ")
		}
		return s
	case len(f.Uploaded) > 0:
		return fmt.Sprintf("%s uploaded, nothing published", plural(len(f.Uploaded), "store path"))
	case f.DryRun:
		return "nothing published (dry run)"
	}
	return "nothing was published"
}

// published says in full what was and was not published.
func (f *Failure) published(code func(string) string) string {
	switch {
	case len(f.Recorded) > 0:
		var b strings.Builder
		fmt.Fprintf(&b, "Published (recorded in the catalog): %s.", strings.Join(f.Recorded, ", "))
		if len(f.NotRecorded) > 0 {
			fmt.Fprintf(&b, " Not published: %s; re-run the job to publish the rest (the paths already uploaded are reused).", strings.Join(f.NotRecorded, ", "))
		}
		b.WriteString("\n")
		return b.String()
	case len(f.Uploaded) > 0:
		store := "the store"
		if f.StoreURL != "" {
			store = code(f.StoreURL)
		}
		paths := append([]string(nil), f.Uploaded...)
		sort.Strings(paths)
		var b strings.Builder
		fmt.Fprintf(&b, "Nothing was published: no package was recorded in the catalog. %s uploaded to %s before the run stopped; they are harmless (signed, complete, and nothing points users at them) and the next run finds them and does not upload them again:\n",
			wasWere(len(paths)), store)
		for _, p := range paths {
			b.WriteString("- " + code(p) + "\n")
		}
		return b.String()
	case f.DryRun:
		return "Nothing was published: this run was a dry run.\n"
	}
	return "Nothing was published: no store path was uploaded and no catalog was changed.\n"
}

// advice says what to do, by stage; the error itself says what was wrong.
func (f *Failure) advice() string {
	if f.Cancelled {
		return "The run was cancelled before it finished (the job was cancelled or timed out). Re-run the job; nothing needs cleaning up."
	}
	switch f.Stage {
	case PartInputs:
		return "Fix the input named above in the workflow's `with:` (or the flag, in a terminal) and re-run."
	case PartVerify:
		return "Fix what the error names, commit and push, then re-run on the new commit."
	case PartBuild:
		return "Fix what the error names (a failed build's own output is in the log, in that build's group), commit and push, then re-run on the new commit."
	case PartUpload, PartCatalog:
		return "If the error is a network, permission or quota problem, fix it and re-run the job: the paths already uploaded are reused."
	}
	return "Fix what the error names and re-run."
}

// locations are the file positions the error carries, relative to Root.
func (f *Failure) locations() []ui.Location {
	locs := ui.Locations(f.Err)
	for i, l := range locs {
		if f.Root != "" && filepath.IsAbs(l.File) {
			if rel, err := filepath.Rel(f.Root, l.File); err == nil && !strings.HasPrefix(rel, "..") {
				locs[i].File = rel
			}
		}
		locs[i].File = filepath.ToSlash(locs[i].File)
	}
	return locs
}

func locText(l ui.Location) string {
	s := l.File
	if l.Line > 0 {
		s += fmt.Sprintf(":%d", l.Line)
		if l.Col > 0 {
			s += fmt.Sprintf(":%d", l.Col)
		}
	}
	return s
}

// errorText is the error's message; a cancellation shows as such.
func (f *Failure) errorText() string {
	if f.Err == nil {
		return ""
	}
	return f.Err.Error()
}

// Markdown is the job summary of the failed run.
func (f *Failure) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", f.Headline())
	if f.Mode != "" {
		fmt.Fprintf(&b, "**Mode:** %s\n\n", f.Mode)
	}
	if msg := f.errorText(); msg != "" {
		fence := "```"
		for strings.Contains(msg, fence) {
			fence += "`"
		}
		fmt.Fprintf(&b, "**Error**\n\n%stext\n%s\n%s\n\n", fence, msg, fence)
	}
	if locs := f.locations(); len(locs) > 0 {
		b.WriteString("**Where**\n\n")
		for _, l := range locs {
			text := "`" + locText(l) + "`"
			if f.RepoURL != "" && f.Rev != "" && !filepath.IsAbs(l.File) {
				link := strings.TrimSuffix(f.RepoURL, "/") + "/blob/" + f.Rev + "/" + l.File
				if l.Line > 0 {
					link += fmt.Sprintf("#L%d", l.Line)
				}
				text = "[" + text + "](" + link + ")"
			}
			b.WriteString("- " + text + "\n")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "**What to do:** %s\n\n", f.advice())
	b.WriteString(f.published(func(s string) string { return "`" + s + "`" }))
	return b.String()
}

// Text is the report of the failed run for a terminal. It does not repeat
// the error, which the caller has printed already (ui.Error), only where
// it points, what to do and what was published.
func (f *Failure) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", f.Headline())
	for _, l := range f.locations() {
		fmt.Fprintf(&b, "at %s\n", locText(l))
	}
	fmt.Fprintf(&b, "%s\n", strings.ReplaceAll(f.advice(), "`", ""))
	b.WriteString(f.published(func(s string) string { return s }))
	return b.String()
}

func wasWere(n int) string {
	if n == 1 {
		return "1 store path was"
	}
	return fmt.Sprintf("%d store paths were", n)
}

// Emit tells the user about the failure through u: the error (an
// annotation on its file and line in Actions), then the job summary in
// Actions, or the text report in a terminal. Call it once, on every exit
// that is not a success, cancellations included. An error writing the
// summary is returned for the caller to log; the run has failed already.
func (f *Failure) Emit(u *ui.UI) error {
	if f.Err != nil {
		u.Error(f.Err)
	}
	if !u.InActions() {
		fmt.Fprint(u.Writer(), "\n"+f.Text())
		u.Flush()
		return nil
	}
	return u.AddSummary(f.Markdown())
}
