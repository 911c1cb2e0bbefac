package publish_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/flox-publish/publish-action/internal/publish"
)

func TestAbandonReportsOnce(t *testing.T) {
	dir := t.TempDir()
	summary := filepath.Join(dir, "summary")
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": summary}
	var out bytes.Buffer
	// A run that never returns: the release is all there is.
	r := publish.New(publish.Env{Getenv: func(k string) string { return env[k] }, Stdout: &out})
	if err := r.Run(context.Background(), []string{"--jobs", "0"}); err == nil {
		t.Fatal("the run with bad inputs did not fail")
	}
	// That run reported its own end: Abandon says nothing more.
	out.Reset()
	r.Abandon(publish.Interrupted{Signal: syscall.SIGTERM})
	if out.Len() != 0 {
		t.Errorf("Abandon reported a run that had reported its end:\n%s", out.String())
	}
	os.Remove(summary)

	r = publish.New(publish.Env{Getenv: func(k string) string { return env[k] }, Stdout: &out})
	r.Abandon(publish.Interrupted{Signal: syscall.SIGTERM})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "::error::Cancelled by SIGTERM") || !strings.Contains(lines[0], "nothing was published") {
		t.Errorf("Abandon printed %q, want one line saying the run was cancelled and nothing was published", lines)
	}
	data, _ := os.ReadFile(summary)
	if !strings.Contains(string(data), "### Cancelled by SIGTERM") {
		t.Errorf("summary:\n%s", data)
	}
}
