package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/ui"
	"github.com/flox-publish/publish-action/internal/workflow"
)

type locErr struct {
	file      string
	line, col int
}

func (e locErr) Error() string { return fmt.Sprintf("%s:%d:%d: unknown key", e.file, e.line, e.col) }
func (e locErr) Location() ui.Location {
	return ui.Location{File: e.file, Line: e.line, Col: e.col}
}

func TestFailure(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name      string
		f         Failure
		firstLine string
		want      []string
		notWant   []string
		text      []string
	}{
		{
			name:      "input error, nothing published",
			f:         Failure{Stage: "inputs", Err: errors.New(`input jobs: "0" is not a number from 1 to 256`)},
			firstLine: "### Failed at the inputs stage: nothing was published.",
			want:      []string{"```text\ninput jobs: \"0\" is not a number from 1 to 256\n```", "**What to do:** Fix the input", "Nothing was published: no store path was uploaded"},
			notWant:   []string{"**Where**"},
			text:      []string{"Failed at the inputs stage: nothing was published.", "Fix the input named above in the workflow's with:"},
		},
		{
			name: "manifest error with its location, linked to the commit",
			f: Failure{Stage: "verify", Mode: "Publishing: tag v1.0.0 was pushed.", Root: "/github/workspace",
				RepoURL: "https://github.com/acme/widgets", Rev: rev,
				Err: fmt.Errorf("load: %w", errors.Join(locErr{"/github/workspace/.flox/env/manifest.toml", 12, 3}))},
			firstLine: "### Failed at the verify stage: nothing was published.",
			want: []string{"**Mode:** Publishing: tag v1.0.0 was pushed.\n",
				"- [`.flox/env/manifest.toml:12:3`](https://github.com/acme/widgets/blob/" + rev + "/.flox/env/manifest.toml#L12)"},
			text: []string{"at .flox/env/manifest.toml:12:3"},
		},
		{
			name:      "location outside the workspace is not linked",
			f:         Failure{Stage: "verify", Root: "/ws", RepoURL: "https://github.com/acme/widgets", Rev: rev, Err: locErr{"/etc/x.toml", 1, 0}},
			firstLine: "### Failed at the verify stage: nothing was published.",
			want:      []string{"- `/etc/x.toml:1`\n"},
		},
		{
			name: "upload failed after some paths",
			f: Failure{Stage: "upload", StoreURL: "s3://cache?region=eu-west-1", Err: errors.New("put nar/x.nar.zst: 503 Slow Down"),
				Uploaded: []string{"/nix/store/bbbb-b", "/nix/store/aaaa-a"}},
			firstLine: "### Failed at the upload stage: 2 store paths uploaded, nothing published.",
			want: []string{"2 store paths were uploaded to `s3://cache?region=eu-west-1` before the run stopped; they are harmless",
				"the next run finds them and does not upload them again", "- `/nix/store/aaaa-a`\n- `/nix/store/bbbb-b`\n", "paths already uploaded are reused"},
			text: []string{"2 store paths uploaded, nothing published", "- /nix/store/aaaa-a"},
		},
		{
			name:      "cancelled",
			f:         Failure{Stage: "build", Cancelled: true, Err: context.Canceled},
			firstLine: "### Cancelled during the build stage: nothing was published.",
			want:      []string{"The run was cancelled", "Re-run the job"},
			text:      []string{"Cancelled during the build stage"},
		},
		{
			name: "cancelled by a signal while recording",
			f: Failure{Stage: "catalog", Cancelled: true, Signal: "SIGTERM", Err: context.Canceled,
				Uploaded: []string{"/nix/store/aaaa-a"}, Recorded: []string{"greeter"}, NotRecorded: []string{"motd", "tools"}},
			firstLine: "### Cancelled by SIGTERM during the catalog stage: published greeter; not published: motd, tools.",
			want:      []string{"Published (recorded in the catalog): greeter. Not published: motd, tools; re-run the job to publish the rest"},
			text:      []string{"Cancelled by SIGTERM during the catalog stage"},
		},
		{
			name:      "dry run",
			f:         Failure{Stage: "build", DryRun: true, Err: errors.New(`build "greeter" failed: exit status 3`)},
			firstLine: "### Failed at the build stage: nothing published (dry run).",
			want:      []string{"Nothing was published: this run was a dry run."},
		},
		{
			name:      "unknown stage",
			f:         Failure{Err: errors.New("boom")},
			firstLine: "### Failed: nothing was published.",
			want:      []string{"Fix what the error names and re-run."},
		},
		{
			name:      "an error holding a fence keeps the block closed",
			f:         Failure{Stage: "build", Err: errors.New("log:\n```\nrm -rf\n```")},
			firstLine: "### Failed at the build stage: nothing was published.",
			want:      []string{"````text\nlog:\n```\nrm -rf\n```\n````"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := tc.f.Markdown()
			if got, _, _ := strings.Cut(md, "\n"); got != tc.firstLine {
				t.Errorf("first line %q, want %q", got, tc.firstLine)
			}
			for _, w := range tc.want {
				if !strings.Contains(md, w) {
					t.Errorf("markdown lacks %q:\n%s", w, md)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(md, w) {
					t.Errorf("markdown has %q:\n%s", w, md)
				}
			}
			text := tc.f.Text()
			for _, w := range tc.text {
				if !strings.Contains(text, w) {
					t.Errorf("text lacks %q:\n%s", w, text)
				}
			}
			if tc.f.Err != nil && strings.Contains(text, tc.f.Err.Error()) {
				t.Errorf("text repeats the error, which ui.Error printed already:\n%s", text)
			}
		})
	}
}

func TestFailureEmit(t *testing.T) {
	summary := filepath.Join(t.TempDir(), "summary")
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary}
	var log bytes.Buffer
	u := ui.New(workflow.Read(func(k string) string { return env[k] }), &log)
	u.Mask("sekrit-token-value")
	f := &Failure{Stage: "upload", Err: errors.New("PUT denied for sekrit-token-value"), StoreURL: "s3://c", Uploaded: []string{"/nix/store/a-a"}}
	if err := f.Emit(u); err != nil {
		t.Fatal(err)
	}
	u.Flush()
	md, _ := os.ReadFile(summary)
	if !strings.HasPrefix(string(md), "### Failed at the upload stage") || strings.Contains(string(md), "sekrit") {
		t.Errorf("summary:\n%s", md)
	}
	if !strings.Contains(log.String(), "::error::PUT denied for ***") {
		t.Errorf("log:\n%s", log.String())
	}

	log.Reset()
	u = ui.New(workflow.Run{}, &log)
	if err := (&Failure{Stage: "inputs", Err: errors.New("--jobs: bad")}).Emit(u); err != nil {
		t.Fatal(err)
	}
	if want := "error: --jobs: bad\n\nFailed at the inputs stage: nothing was published.\n"; !strings.HasPrefix(log.String(), want) {
		t.Errorf("terminal:\n%s\nwant it to start with:\n%s", log.String(), want)
	}
}
