package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const lockFile = "env/.flox/env/manifest.lock"

const nixpkgs = "https://github.com/flox/nixpkgs?rev=0123456789abcdef0123456789abcdef01234567"

func catalogPkg(id, system, group string) string {
	g := ""
	if group != "" {
		g = fmt.Sprintf(`"group": %q, `, group)
	}
	return fmt.Sprintf(`{"attr_path": %[1]q, "install_id": %[1]q, "system": %[2]q, %[3]s"locked_url": %[4]q,
      "rev": "0123456789abcdef0123456789abcdef01234567", "rev_count": 812345, "rev_date": "2025-06-07T08:35:48Z",
      "derivation": "/nix/store/xxx-%[1]s.drv", "name": "%[1]s-1.0", "pname": %[1]q, "version": "1.0",
      "outputs": {"out": "/nix/store/yyy-%[1]s-1.0"}, "outputs_to_install": ["out"], "license": "MIT",
      "priority": 5, "broken": false, "unfree": false, "scrape_date": "2025-06-08T00:00:00Z", "new_field": {"x": 1}}`,
		id, system, g, nixpkgs)
}

func lockJSON(pkgs ...string) string {
	return `{"lockfile-version": 1, "manifest": {"version": 1}, "packages": [` + strings.Join(pkgs, ",\n") + `]}`
}

func TestParseLock(t *testing.T) {
	flake := `{"install_id": "fh", "locked-url": "github:NixOS/nixpkgs/abc", "locked-flake-attr-path": "legacyPackages.x86_64-linux.hello",
      "derivation": "/nix/store/d.drv", "outputs": {"out": "/nix/store/o"}, "output-names": ["out"], "outputs-to-install": ["out"],
      "package-system": "x86_64-linux", "system": "x86_64-linux", "name": "hello-2", "pname": "hello", "version": "2",
      "licenses": ["GPL-3.0-or-later"], "priority": null}`
	store := `{"install_id": "sp", "store_path": "/nix/store/zzz-thing", "system": "x86_64-linux", "priority": 7}`
	data := lockJSON(
		catalogPkg("extra", "x86_64-linux", "other"),
		catalogPkg("hello", "x86_64-linux", "toplevel"),
		catalogPkg("hello", "aarch64-darwin", "toplevel"),
		catalogPkg("nogroup", "x86_64-linux", ""),
		flake, store,
	)
	l, err := ParseLock(t.Context(), lockFile, []byte(data))
	if err != nil {
		t.Fatalf("ParseLock: %v", err)
	}
	if l.Version != 1 || string(l.Manifest) != `{"version": 1}` {
		t.Errorf("lock %+v", l)
	}
	var ids []string
	for _, p := range l.ToplevelPackages() {
		ids = append(ids, p.InstallID+"/"+p.System)
	}
	if want := []string{"hello/x86_64-linux", "nogroup/x86_64-linux", "fh/x86_64-linux", "sp/x86_64-linux"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("toplevel %v, want %v", ids, want)
	}
	if got := l.BaseCatalogURL(); got != nixpkgs {
		t.Errorf("BaseCatalogURL %q", got)
	}
	base, _ := l.BaseCatalog()
	if base.InstallID != "hello" || base.RevCount != 812345 || base.Rev != "0123456789abcdef0123456789abcdef01234567" {
		t.Errorf("base %+v", base)
	}
	if tm, err := base.RevTime(); err != nil || tm.Year() != 2025 {
		t.Errorf("RevTime %v %v", tm, err)
	}
	hello := l.Packages[1]
	wantHello := LockedPackage{
		Kind: KindCatalog, InstallID: "hello", System: "x86_64-linux", Group: "toplevel", LockedURL: nixpkgs,
		Rev: "0123456789abcdef0123456789abcdef01234567", RevCount: 812345, RevDate: "2025-06-07T08:35:48Z",
		Outputs: map[string]string{"out": "/nix/store/yyy-hello-1.0"},
		Pos:     Position{File: lockFile, Line: 6, Col: 1},
	}
	if !reflect.DeepEqual(hello, wantHello) {
		t.Errorf("hello =\n%+v\nwant\n%+v", hello, wantHello)
	}
	fh := l.Packages[4]
	if fh.Kind != KindFlake || fh.LockedURL != "github:NixOS/nixpkgs/abc" || fh.Group != DefaultGroup || fh.Outputs["out"] != "/nix/store/o" {
		t.Errorf("flake %+v", fh)
	}
	sp := l.Packages[5]
	if sp.Kind != KindStorePath || sp.StorePath != "/nix/store/zzz-thing" {
		t.Errorf("store path %+v", sp)
	}
}

func TestParseLockNoCatalog(t *testing.T) {
	l, err := ParseLock(t.Context(), lockFile, []byte(lockJSON(catalogPkg("x", "x86_64-linux", "other"))))
	if err != nil {
		t.Fatal(err)
	}
	if l.BaseCatalogURL() != "" || len(l.ToplevelPackages()) != 0 {
		t.Errorf("toplevel %v, base %q", l.ToplevelPackages(), l.BaseCatalogURL())
	}
}

func TestLockErrors(t *testing.T) {
	tests := []struct {
		name      string
		json      string
		line, col int
		contains  string
	}{
		{"syntax", "{\n  \"lockfile-version\": 1,\n  \"packages\": [}\n", 3, 16, "invalid JSON"},
		{"not an object", "[]", 1, 1, "invalid lock"},
		{"truncated", "{\"lockfile-version\": 1, \"packages\": [", 1, 38, "ends early"},
		{"version 2", "{\n\"lockfile-version\": 2, \"packages\": []}", 2, 21, "lockfile-version 2 is not supported"},
		{"no version", "{\"packages\": []}", 1, 1, "no lockfile-version"},
		{"no packages", "{\"lockfile-version\": 1}", 1, 1, "no packages list"},
		{"wrong type", "{\"lockfile-version\": 1, \"packages\": [\n  {\"install_id\": \"a\", \"system\": \"x\", \"locked_url\": \"u\", \"rev_count\": \"many\"}]}", 2, 70, "rev_count is a JSON string, expected int64"},
		{"missing install_id", "{\"lockfile-version\": 1, \"packages\": [\n  {\"system\": \"x\", \"locked_url\": \"u\"}]}", 2, 3, "packages[0] lacks install_id or system"},
		{"catalog without url", "{\"lockfile-version\": 1, \"packages\": [\n  {\"install_id\": \"a\", \"system\": \"x\"}]}", 2, 3, `package "a" (x) has no locked_url`},
		{"trailing data", "{\"lockfile-version\": 1, \"packages\": []} {}", 1, 41, "unexpected data after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseLock(t.Context(), lockFile, []byte(tt.json))
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("not an *Error: %v", err)
			}
			want := fmt.Sprintf("%s:%d:%d", lockFile, tt.line, tt.col)
			if perr.Pos.String() != want || !strings.Contains(perr.Msg, tt.contains) {
				t.Errorf("got %v\nwant %s: ...%s...", err, want, tt.contains)
			}
		})
	}
}

func writeEnv(t *testing.T, manifest, lock string) string {
	t.Helper()
	dir := t.TempDir()
	envDir := filepath.Join(dir, ".flox", "env")
	if err := os.MkdirAll(envDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if manifest != "" {
		if err := os.WriteFile(filepath.Join(envDir, "manifest.toml"), []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if lock != "" {
		if err := os.WriteFile(filepath.Join(envDir, "manifest.lock"), []byte(lock), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoad(t *testing.T) {
	dir := writeEnv(t, "version = 1\n[install]\nhello.pkg-path = \"hello\"\n[build.hi]\ncommand = \"x\"\n",
		lockJSON(catalogPkg("hello", "x86_64-linux", "toplevel")))
	env, err := Load(t.Context(), dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if env.Dir != dir || env.ManifestPath != filepath.Join(dir, ".flox/env/manifest.toml") ||
		env.LockPath != filepath.Join(dir, ".flox/env/manifest.lock") || len(env.Manifest.Builds()) != 1 || len(env.Lock.Packages) != 1 {
		t.Errorf("env %+v", env)
	}
	if env.Manifest.Path != env.ManifestPath || env.Lock.Path != env.LockPath {
		t.Errorf("paths %q %q", env.Manifest.Path, env.Lock.Path)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Run("no lock", func(t *testing.T) {
		_, err := Load(t.Context(), writeEnv(t, "version = 1\n", ""))
		var perr *Error
		if err == nil || errors.As(err, &perr) || !errors.Is(err, fs.ErrNotExist) ||
			!strings.Contains(err.Error(), "run `flox lock` (or `flox install`) and commit .flox/env/manifest.lock") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("no manifest", func(t *testing.T) {
		_, err := Load(t.Context(), t.TempDir())
		if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no Flox environment in") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("bad manifest", func(t *testing.T) {
		dir := writeEnv(t, "version = 1\n[vars]\nA = 1\n", lockJSON())
		_, err := Load(t.Context(), dir)
		var perr *Error
		if !errors.As(err, &perr) || perr.Pos.File != filepath.Join(dir, ".flox/env/manifest.toml") || perr.Pos.Line != 3 {
			t.Errorf("error %v", err)
		}
	})
	t.Run("bad lock", func(t *testing.T) {
		dir := writeEnv(t, "version = 1\n", "{")
		_, err := Load(t.Context(), dir)
		var perr *Error
		if !errors.As(err, &perr) || perr.Pos.File != filepath.Join(dir, ".flox/env/manifest.lock") {
			t.Errorf("error %v", err)
		}
	})
}
