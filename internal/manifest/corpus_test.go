package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/testenv"
)

// refusedEnv is the corpus environment whose manifest Flox's schema does
// not accept: its [include] has an `ollama = ...` key.
const refusedEnv = "floxrox__agentic-development-with-flox__claude-code-router"

func corpusDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(testenv.SharedDir(t), "corpus", "flox-envs")
	if _, err := os.Stat(filepath.Join(dir, "SOURCES.md")); err != nil {
		t.Fatalf("the Flox environment corpus is missing at %s: %v", dir, err)
	}
	return dir
}

// TestCorpus parses every real environment of the corpus.
func TestCorpus(t *testing.T) {
	dir := corpusDir(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	var envs int
	for _, de := range entries {
		if !de.IsDir() {
			continue
		}
		envs++
		name := de.Name()
		t.Run(name, func(t *testing.T) {
			envDir := filepath.Join(dir, name)
			mpath := filepath.Join(envDir, "manifest.toml")
			data, err := os.ReadFile(mpath)
			if err != nil {
				t.Fatalf("read manifest: %v", err)
			}
			m, err := ParseManifest(mpath, data)
			if name == refusedEnv {
				checkRefused(t, mpath, data, err)
			} else if err != nil {
				t.Fatalf("ParseManifest: %v", err)
			} else if m.Schema == 0 {
				t.Fatalf("no schema recorded")
			}

			lpath := filepath.Join(envDir, "manifest.lock")
			ldata, err := os.ReadFile(lpath)
			if errors.Is(err, os.ErrNotExist) {
				return // some corpus environments were committed without a lock
			}
			if err != nil {
				t.Fatalf("read lock: %v", err)
			}
			l, err := ParseLock(lpath, ldata)
			if err != nil {
				t.Fatalf("ParseLock: %v", err)
			}
			if l.Version != 1 {
				t.Errorf("lockfile-version = %d", l.Version)
			}
			for _, p := range l.Packages {
				if p.InstallID == "" || p.System == "" || p.Kind == 0 || p.Group == "" {
					t.Errorf("incomplete package %+v", p)
				}
				if p.Kind != KindStorePath && len(p.Outputs) == 0 {
					t.Errorf("package %s/%s has no outputs", p.InstallID, p.System)
				}
			}
			if len(l.ToplevelPackages()) > 0 && m != nil && l.BaseCatalogURL() == "" {
				hasCatalog := false
				for _, p := range l.ToplevelPackages() {
					hasCatalog = hasCatalog || p.Kind == KindCatalog
				}
				if hasCatalog {
					t.Errorf("toplevel catalog packages but no base catalog URL")
				}
			}
		})
	}
	if envs < 36 {
		t.Fatalf("found %d environments in %s, want the 36 of SOURCES.md", envs, dir)
	}
}

func checkRefused(t *testing.T, path string, data []byte, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("ParseManifest accepted %s; its [include] has an unknown key ollama", path)
	}
	var perr *Error
	if !errors.As(err, &perr) {
		t.Fatalf("error is not a positioned *Error: %v", err)
	}
	// Find where `ollama` is written under [include] to check the position.
	lines := strings.Split(string(data), "\n")
	wantLine := 0
	for i, l := range lines {
		if strings.HasPrefix(l, "ollama =") && i > 0 {
			wantLine = i + 1
			break
		}
	}
	if perr.Pos.File != path || perr.Pos.Line != wantLine || perr.Pos.Col != 1 {
		t.Errorf("error at %v, want %s:%d:1", perr.Pos, path, wantLine)
	}
	if !strings.Contains(perr.Msg, `unknown key "ollama" in [include]`) {
		t.Errorf("message %q does not name the unknown key", perr.Msg)
	}
	t.Logf("refused as expected: %v", err)
}
