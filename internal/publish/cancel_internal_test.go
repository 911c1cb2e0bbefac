package publish

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/flox-publish/publish-action/internal/manifest"
	"github.com/flox-publish/publish-action/internal/report"
)

func TestAbandonSaysWhatWasPublishedAndRemovesTheScratch(t *testing.T) {
	scratch := filepath.Join(t.TempDir(), "flox-publish-1")
	os.MkdirAll(filepath.Join(scratch, "src"), 0o755)
	for _, tc := range []struct {
		name   string
		set    func(*Release)
		want   string
		inline bool // in Actions, with a summary
	}{
		{
			name: "uploading, in a terminal",
			set: func(r *Release) {
				r.part, r.Cloned = report.PartUpload, &Cloned{Scratch: scratch}
				r.Uploaded = &Uploaded{Paths: []string{"/nix/store/aaa-x", "/nix/store/bbb-y"}}
			},
			want: "Cancelled by SIGTERM during the upload stage: 2 store paths uploaded, nothing published.",
		},
		{
			name: "recording, in Actions",
			set: func(r *Release) {
				r.part = report.PartCatalog
				for _, name := range []string{"a", "b", "c"} {
					r.Packages = append(r.Packages, &Package{Build: manifest.Build{Name: name}, Recorded: name == "b"})
				}
			},
			want:   "::error::Cancelled by SIGTERM during the catalog stage: published b; not published: a, c.",
			inline: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			summary := filepath.Join(t.TempDir(), "summary")
			env := map[string]string{"GITHUB_STEP_SUMMARY": summary}
			if tc.inline {
				env["GITHUB_ACTIONS"] = "true"
			}
			var out bytes.Buffer
			r := New(Env{Getenv: func(k string) string { return env[k] }, Stdout: &out})
			tc.set(r)
			r.Abandon(Interrupted{Signal: syscall.SIGTERM})
			if got := strings.TrimSuffix(out.String(), "\n"); got != tc.want {
				t.Errorf("printed %q, want the one line %q", got, tc.want)
			}
			data, _ := os.ReadFile(summary)
			if tc.inline != strings.Contains(string(data), "### Cancelled by SIGTERM") {
				t.Errorf("summary (written: %v):\n%s", tc.inline, data)
			}
		})
	}
	if _, err := os.Stat(scratch); !os.IsNotExist(err) {
		t.Errorf("the scratch directory is still there: %v", err)
	}
}
