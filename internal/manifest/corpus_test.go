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

// locklessEnv was committed without its manifest.lock.
const locklessEnv = "8BitTacoSupreme__floxybot2__support-bot-api"

// corpusDir finds the corpus: $FLOX_ENV_CORPUS, else ../shared beside the
// checkout, where CI always has it. Missing under CI=true fails; in a
// clone elsewhere the tests say why they do not run (scripts/test.sh says
// so too).
func corpusDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FLOX_ENV_CORPUS")
	if dir == "" {
		dir = filepath.Join(testenv.SharedDir(t), "corpus", "flox-envs")
	}
	if _, err := os.Stat(filepath.Join(dir, "SOURCES.md")); err != nil {
		testenv.Missing(t, "the Flox environment corpus is not at %s (set FLOX_ENV_CORPUS to its folder; CI always has it): %v", dir, err)
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
			m, err := ParseManifest(t.Context(), mpath, data)
			if name == refusedEnv {
				checkRefused(t, mpath, data, err)
			} else if err != nil {
				t.Fatalf("ParseManifest: %v", err)
			} else if m.Schema == 0 {
				t.Fatalf("no schema recorded")
			}

			lpath := filepath.Join(envDir, "manifest.lock")
			ldata, err := os.ReadFile(lpath)
			if errors.Is(err, os.ErrNotExist) && name == locklessEnv {
				return
			}
			if err != nil {
				t.Fatalf("read lock: %v", err)
			}
			l, err := ParseLock(t.Context(), lpath, ldata)
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

// TestCorpusDetails checks what was read from the notable corpus
// environments, not only that they parse.
func TestCorpusDetails(t *testing.T) {
	dir := corpusDir(t)
	load := func(t *testing.T, name string) (*Manifest, *Lock) {
		t.Helper()
		envDir := filepath.Join(dir, name)
		data, err := os.ReadFile(filepath.Join(envDir, "manifest.toml"))
		if err != nil {
			t.Fatalf("read manifest: %v", err)
		}
		m, err := ParseManifest(t.Context(), filepath.Join(envDir, "manifest.toml"), data)
		if err != nil {
			t.Fatalf("ParseManifest: %v", err)
		}
		data, err = os.ReadFile(filepath.Join(envDir, "manifest.lock"))
		if err != nil {
			t.Fatalf("read lock: %v", err)
		}
		l, err := ParseLock(t.Context(), filepath.Join(envDir, "manifest.lock"), data)
		if err != nil {
			t.Fatalf("ParseLock: %v", err)
		}
		return m, l
	}
	tests := []struct {
		env   string
		check func(t *testing.T, m *Manifest, l *Lock)
	}{
		{"flox__flox__test_data-generated-envs-build-noop", func(t *testing.T, m *Manifest, l *Lock) {
			bs := m.Builds()
			if len(bs) != 1 || bs[0].Name != "hello" || bs[0].Command != "echo hello" || !bs[0].Version.IsDefault() {
				t.Errorf("builds %+v", bs)
			}
			if bs[0].Pos.Line != 4 || bs[0].Pos.Col != 1 {
				t.Errorf("hello at %v", bs[0].Pos)
			}
			if len(l.ToplevelPackages()) != 0 || l.BaseCatalogURL() != "" {
				t.Errorf("an empty lock has toplevel packages")
			}
		}},
		{"flox__flox__test_data-generated-envs-publish-simple", func(t *testing.T, m *Manifest, l *Lock) {
			if got := buildNames(m.Builds()); strings.Join(got, " ") != "mypkg mypkg_missing_fields" {
				t.Fatalf("builds %v", got)
			}
			b, _ := m.Build("mypkg")
			if b.Version.Literal != "1.0.2a" || b.Description != "Some sample package description from our tests" ||
				len(b.License) != 1 || !strings.Contains(b.Command, `echo -n "echo Happy Floxing!"`) {
				t.Errorf("mypkg %+v", b)
			}
			if m.Schema != Schema1_14_0 {
				t.Errorf("schema %v", m.Schema)
			}
			if !strings.HasPrefix(l.BaseCatalogURL(), "https://github.com/flox/nixpkgs?rev=") {
				t.Errorf("base catalog %q", l.BaseCatalogURL())
			}
			if ids := l.ToplevelPackages(); len(ids) != 1 || ids[0].InstallID != "hello" {
				t.Errorf("toplevel %+v", ids)
			}
		}},
		{"flox__flox-build-examples__quotes-app-rust", func(t *testing.T, m *Manifest, l *Lock) {
			if got := buildNames(m.Builds()); strings.Join(got, " ") != "quotes-app-rust quotes-app-rust-deps quotes-app-rust-pure" {
				t.Fatalf("builds %v", got)
			}
			pure, _ := m.Build("quotes-app-rust-pure")
			if pure.Sandbox != SandboxPure || !strings.Contains(pure.Command, "[source.crates-io]\n") ||
				strings.Join(pure.RuntimePackages, ",") != "libiconv,gcc" {
				t.Errorf("pure %+v", pure)
			}
			ra, _ := m.Package("rust-analyzer")
			if ra.Group() != "extra" {
				t.Errorf("rust-analyzer group %q", ra.Group())
			}
			for _, p := range l.ToplevelPackages() {
				if p.InstallID == "rust-analyzer" {
					t.Errorf("rust-analyzer is in group %q, not toplevel", p.Group)
				}
			}
		}},
		{"flox__sandflox", func(t *testing.T, m *Manifest, l *Lock) {
			if _, err := m.Select(nil); err == nil || !strings.Contains(err.Error(), "[build.<name>]") {
				t.Errorf("Select on a manifest with an empty [build]: %v", err)
			}
		}},
		{"flox__flox__test_data-generated-envs-composer_before_three_system_relock", func(t *testing.T, m *Manifest, l *Lock) {
			if !m.includes {
				t.Errorf("[include] not seen")
			}
		}},
		{"8BitTacoSupreme__dr-flox", func(t *testing.T, m *Manifest, l *Lock) {
			b, ok := m.Build("grimoire-page")
			if !ok || b.Sandbox != SandboxOff || b.Pos.Line != 1758 {
				t.Errorf("grimoire-page %+v", b)
			}
			if !m.includes {
				t.Errorf("[include] not seen")
			}
		}},
		{"flox__flox__test_data-generated-envs-flake_hello", func(t *testing.T, m *Manifest, l *Lock) {
			if len(m.Install) != 1 || m.Install[0].Kind != KindFlake {
				t.Errorf("install %+v", m.Install)
			}
			for _, p := range l.Packages {
				if p.Kind != KindFlake || !strings.HasPrefix(p.LockedURL, "github:NixOS/nixpkgs/") || len(p.Outputs) == 0 || p.Group != DefaultGroup {
					t.Errorf("flake package %+v", p)
				}
			}
			if l.BaseCatalogURL() != "" {
				t.Errorf("a flake is taken for the base catalog")
			}
		}},
		{"flox__flox__test_data-generated-envs-bash_v1_10_0_all", func(t *testing.T, m *Manifest, l *Lock) {
			if p, _ := m.Package("bash"); p.Outputs == nil || !p.Outputs.All {
				t.Errorf("bash outputs %+v", p.Outputs)
			}
		}},
		{"flox__flox__test_data-generated-envs-kitchen_sink", func(t *testing.T, m *Manifest, l *Lock) {
			if m.Vars()["VARS_SECTION_VAR"] != "vars_section_var" {
				t.Errorf("manifest %+v", m)
			}
		}},
		{"barstoolbluz__build-flox-bubblewrapped", func(t *testing.T, m *Manifest, l *Lock) {
			if p, _ := m.Package("libseccomp"); p.Outputs == nil || strings.Join(p.Outputs.Names, ",") != "out,lib,dev" {
				t.Errorf("libseccomp outputs %+v", p.Outputs)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			m, l := load(t, tt.env)
			tt.check(t, m, l)
		})
	}
}
