package manifest

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnvironmentSelect(t *testing.T) {
	const toml = "version = 1\n[install]\nhello.pkg-path = \"hello\"\n[build.a]\ncommand = \"make a\"\n[build.b]\ncommand = \"make b\"\nversion = \"1.0\"\n"
	lockWith := func(build string) string {
		return `{"lockfile-version": 1, "manifest": {"version": 1, "build": ` + build + `}, "packages": []}`
	}
	tests := []struct {
		name  string
		lock  string
		names []string
		want  []string // positions of the errors; none: the builds a, b
	}{
		{"agree", lockWith(`{"a": {"command": "make a"}, "b": {"version": "1.0", "command": "make b"}}`), nil, nil},
		{"one selected agrees", lockWith(`{"a": {"command": "make a"}}`), []string{"a"}, nil},
		{"absent from the lock", lockWith(`{"a": {"command": "make a"}}`), nil, []string{":6:8"}},
		{"edited since locked", lockWith(`{"a": {"command": "make"}, "b": {"version": "1.0", "command": "make b"}}`), nil, []string{":4:8"}},
		{"only in the lock", lockWith(`{"a": {"command": "make a"}, "b": {"version": "1.0", "command": "make b"}, "c": {"command": "x"}}`), nil, []string{"manifest.lock"}},
		{"a lock without builds", `{"lockfile-version": 1, "manifest": {"version": 1}, "packages": []}`, nil, []string{":4:8", ":6:8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := Load(t.Context(), writeEnv(t, toml, tt.lock))
			if err != nil {
				t.Fatal(err)
			}
			builds, err := env.Select(tt.names)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Select: %v", err)
				}
				if len(builds) == 0 || builds[0].Name != "a" || builds[0].Pos.Line != 4 {
					t.Errorf("builds %+v", builds)
				}
				return
			}
			errs := Errors(err)
			if len(errs) != len(tt.want) {
				t.Fatalf("errors %v, want at %v", err, tt.want)
			}
			for i, e := range errs {
				if !strings.HasSuffix(e.Pos.String(), tt.want[i]) || !strings.Contains(e.Msg, "the lock is stale: run `flox build`") {
					t.Errorf("error %d: %v, want at %s saying the lock is stale", i, e, tt.want[i])
				}
			}
		})
	}
}

func TestCatalogPackages(t *testing.T) {
	flake := `{"install_id": "fh", "locked-url": "github:NixOS/nixpkgs/abc", "system": "x86_64-linux", "outputs": {"out": "/nix/store/o"}}`
	store := `{"install_id": "sp", "store_path": "/nix/store/zzz-thing", "system": "x86_64-linux"}`
	for _, tt := range []struct {
		name string
		pkgs []string
		want int
	}{
		{"flake and store path only", []string{flake, store}, 0},
		{"catalog package in another group", []string{catalogPkg("x", "x86_64-linux", "other"), flake}, 0},
		{"catalog package on two systems", []string{flake, catalogPkg("hello", "x86_64-linux", ""), catalogPkg("hello", "aarch64-darwin", "")}, 1},
	} {
		l, err := ParseLock(t.Context(), lockFile, []byte(lockJSON(tt.pkgs...)))
		if err != nil {
			t.Fatal(err)
		}
		if got := l.CatalogPackages(); len(got) != tt.want {
			t.Errorf("%s: %d catalog packages, want %d", tt.name, len(got), tt.want)
		}
	}
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name, what string
		parse      func() error
		contains   string
	}{
		{"manifest bytes", "manifest", func() error {
			_, err := ParseManifest(t.Context(), file, append([]byte("version = 1\n#"), make([]byte, MaxManifestBytes)...))
			return err
		}, "larger than 1048576 bytes"},
		{"manifest keys", "manifest", func() error {
			_, err := ParseManifest(t.Context(), file, manyVars(MaxManifestKeys))
			return err
		}, "more than 10000 keys"},
		{"lock bytes", "lock", func() error {
			_, err := ParseLock(t.Context(), lockFile, make([]byte, MaxLockBytes+1))
			return err
		}, "larger than 16777216 bytes"},
		{"lock keys", "lock", func() error {
			var b strings.Builder
			b.WriteString(`{"lockfile-version": 1, "packages": [], "x": {`)
			for i := range MaxLockKeys {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(`"k\"` + strings.Repeat("a", i%7) + `": 1`)
			}
			b.WriteString("}}")
			_, err := ParseLock(t.Context(), lockFile, []byte(b.String()))
			return err
		}, "more than 200000 keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.parse()
			var perr *Error
			if !errors.As(err, &perr) || !strings.Contains(perr.Msg, tt.contains) || !strings.Contains(perr.Msg, "the most this action reads") {
				t.Errorf("error %v, want one saying %q", err, tt.contains)
			}
		})
	}
	// Just under the limits is accepted: the key limit counts keys, not
	// lines ("version" is one, so the [vars] hold one fewer).
	if _, err := ParseManifest(t.Context(), file, manyVars(MaxManifestKeys-2)); err != nil {
		t.Errorf("a manifest within the limits: %v", err)
	}
}

// TestCancel checks a cancelled context stops parsing the largest accepted
// manifest at once, with the context's error.
func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	data := manyVars(MaxManifestKeys - 2)
	start := time.Now()
	_, err := ParseManifest(ctx, file, data)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ParseManifest with a cancelled context: %v", err)
	}
	if _, err := ParseLock(ctx, lockFile, []byte(lockJSON(catalogPkg("hello", "x86_64-linux", "")))); !errors.Is(err, context.Canceled) {
		t.Errorf("ParseLock with a cancelled context: %v", err)
	}
	if _, err := Load(ctx, writeEnv(t, string(data), lockJSON())); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with a cancelled context: %v", err)
	}
	t.Logf("refused in %v", time.Since(start))
}

// TestCorpusLockAgreement selects every build of every corpus environment
// from its lock: one environment (quotes-app-pip) was committed with a
// stale lock and must be refused as such.
func TestCorpusLockAgreement(t *testing.T) {
	dir := corpusDir(t)
	const stale = "flox__flox-build-examples__quotes-app-pip"
	envs, _ := filepath.Glob(filepath.Join(dir, "*", "manifest.lock"))
	for _, lockPath := range envs {
		name := filepath.Base(filepath.Dir(lockPath))
		if name == refusedEnv {
			continue
		}
		t.Run(name, func(t *testing.T) {
			env := loadCorpusEnv(t, filepath.Dir(lockPath))
			if len(env.Manifest.Builds()) == 0 {
				return
			}
			_, err := env.Select(nil)
			switch {
			case name == stale && (err == nil || !strings.Contains(err.Error(), "the lock is stale")):
				t.Errorf("a stale lock is accepted: %v", err)
			case name != stale && err != nil:
				t.Errorf("Select: %v", err)
			}
		})
	}
}

// loadCorpusEnv reads a corpus environment, whose two files lie side by side.
func loadCorpusEnv(t *testing.T, dir string) *Environment {
	t.Helper()
	env := &Environment{Dir: dir, ManifestPath: filepath.Join(dir, "manifest.toml"), LockPath: filepath.Join(dir, "manifest.lock")}
	data, err := readLimited(env.ManifestPath, MaxManifestBytes)
	if err == nil {
		env.Manifest, err = ParseManifest(t.Context(), env.ManifestPath, data)
	}
	if err != nil {
		t.Fatal(err)
	}
	if data, err = readLimited(env.LockPath, MaxLockBytes); err == nil {
		env.Lock, err = ParseLock(t.Context(), env.LockPath, data)
	}
	if err != nil {
		t.Fatal(err)
	}
	return env
}
