package ui

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/workflow"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestRedactsSecretsSplitAcrossWrites(t *testing.T) {
	var buf bytes.Buffer
	u := New(workflow.Read(env(nil)), &buf)
	u.Mask("key-1:c2VjcmV0c2VjcmV0")
	w := u.Writer()
	fmt.Fprint(w, "before key-1:c2Vj")
	fmt.Fprint(w, "cmV0c2VjcmV0 after\nnext line key-1:c2VjcmV0c2VjcmV0")
	u.Flush()
	got := buf.String()
	if strings.Contains(got, "c2VjcmV0") {
		t.Fatalf("secret shown: %q", got)
	}
	if got != "before *** after\nnext line ***\n" {
		t.Fatalf("got %q", got)
	}
}

func TestActionsMaskCommand(t *testing.T) {
	var buf bytes.Buffer
	u := New(workflow.Read(env(map[string]string{"GITHUB_ACTIONS": "true"})), &buf)
	u.Mask("s3cr3t-token")
	u.Printf("token is s3cr3t-token")
	u.Flush()
	if !strings.Contains(buf.String(), "::add-mask::") || strings.Count(buf.String(), "s3cr3t-token") != 1 {
		// The one occurrence is in the add-mask command itself, which the
		// runner consumes and never shows.
		t.Fatalf("got %q", buf.String())
	}
}

type located struct{ file string }

func (l located) Error() string      { return l.file + ":3:5: bad key" }
func (l located) Location() Location { return Location{File: l.file, Line: 3, Col: 5} }

func TestErrorAnnotations(t *testing.T) {
	ws := t.TempDir()
	var buf bytes.Buffer
	u := New(workflow.Read(env(map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": ws})), &buf)
	u.Error(fmt.Errorf("loading: %w", errors.Join(located{filepath.Join(ws, "env/.flox/env/manifest.toml")}, located{filepath.Join(ws, "x.toml")})))
	got := buf.String()
	for _, want := range []string{"::error col=5,file=env/.flox/env/manifest.toml,line=3,title=flox publish::", "::error col=5,file=x.toml,line=3"} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
	buf.Reset()
	New(workflow.Read(env(nil)), &buf).Error(errors.New("plain"))
	if buf.String() != "error: plain\n" {
		t.Fatalf("terminal error: %q", buf.String())
	}
}

func TestOutputsUseRandomDelimiters(t *testing.T) {
	file := filepath.Join(t.TempDir(), "out")
	u := New(workflow.Read(env(map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": file})), &bytes.Buffer{})
	u.Mask("hidden-value")
	evil := "x\nghadelimiter_\ninjected=1\nhidden-value"
	if err := u.SetOutputs([][2]string{{"a", "one\ntwo"}, {"b", evil}}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(file)
	lines := strings.Split(string(data), "\n")
	name, delim, _ := strings.Cut(lines[0], "<<")
	if name != "a" || !strings.HasPrefix(delim, "ghadelimiter_") || len(delim) < 40 {
		t.Fatalf("first line %q", lines[0])
	}
	if strings.Contains(string(data), "hidden-value") {
		t.Fatal("a masked value reached the outputs")
	}
	// Outside Actions, outputs are a no-op.
	if err := New(workflow.Read(env(nil)), &bytes.Buffer{}).SetOutputs([][2]string{{"a", "b"}}); err != nil {
		t.Fatal(err)
	}
}
