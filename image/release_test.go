package image_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/testenv"
)

// ActionlintVersion is the actionlint scripts/install-actionlint.sh
// installs.
const ActionlintVersion = "v1.7.12"

// actionlint finds the binary: ACTIONLINT_BIN (scripts/test.sh sets it),
// the tools cache, PATH. Under CI=true a missing one fails the test.
func actionlint(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ACTIONLINT_BIN"); p != "" {
		return p
	}
	tools := os.Getenv("FLOX_PUBLISH_TOOLS")
	if tools == "" {
		home, _ := os.UserHomeDir()
		tools = filepath.Join(home, ".cache", "flox-publish-tools")
	}
	if p := filepath.Join(tools, "bin", "actionlint"); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath("actionlint"); err == nil {
		return p
	}
	testenv.Missing(t, "actionlint is not installed: run bash scripts/install-actionlint.sh (scripts/test.sh does)")
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestActionlint checks every workflow of the repository and the examples
// users copy; actionlint also checks each `uses: ./` step's inputs against
// action.yml.
func TestActionlint(t *testing.T) {
	bin := actionlint(t)
	root := testenv.ProjectRoot(t)
	var files []string
	for _, glob := range []string{".github/workflows/*.yml", "examples/workflows/*.yml"} {
		m, _ := filepath.Glob(filepath.Join(root, glob))
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no workflows found")
	}
	cmd := exec.Command(bin, append([]string{"-no-color"}, files...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("actionlint: %v\n%s", err, out)
	}
}

// TestPinnedActionLints is the release commit's action.yml: pinned by
// scripts/pin-image.sh to an image digest, it still lints, with a
// workflow using the action from it.
func TestPinnedActionLints(t *testing.T) {
	bin := actionlint(t)
	root := testenv.ProjectRoot(t)
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "action.yml"), data, 0o644)
	ref := "ghcr.io/acme/flox-publish@sha256:" + strings.Repeat("ab", 32)
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "pin-image.sh"), ref, filepath.Join(dir, "action.yml"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pin-image.sh: %v\n%s", err, out)
	}
	pinned, _ := os.ReadFile(filepath.Join(dir, "action.yml"))
	if !strings.Contains(string(pinned), "\n  image: docker://"+ref+"\n") {
		t.Fatalf("pinned action.yml has no image: docker://%s", ref)
	}
	if strings.Replace(string(pinned), "docker://"+ref, "Dockerfile", 1) != string(data) {
		t.Error("pin-image.sh changed more than runs.image")
	}
	// A bad reference is refused.
	if err := exec.Command("bash", filepath.Join(root, "scripts", "pin-image.sh"), "ghcr.io/acme/x:latest", filepath.Join(dir, "action.yml")).Run(); err == nil {
		t.Error("pin-image.sh accepted a tag instead of a digest")
	}
	// A workflow in that repository, using the pinned action as `./`.
	os.MkdirAll(filepath.Join(dir, ".github", "workflows"), 0o755)
	os.WriteFile(filepath.Join(dir, ".github", "workflows", "use.yml"), []byte(`name: use
on: push
jobs:
  publish:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: ./
        with:
          dir: examples/hello
          dry-run: "true"
          build-timeout: 2h
`), 0o644)
	exec.Command("git", "init", "-q", dir).Run()
	lint := exec.Command(bin, "-no-color")
	lint.Dir = dir
	if out, err := lint.CombinedOutput(); err != nil {
		t.Errorf("actionlint on a workflow using the pinned action: %v\n%s", err, out)
	}
}
