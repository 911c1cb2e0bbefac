package builder_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/flox-publish/publish-action/internal/builder"
	"github.com/flox-publish/publish-action/internal/manifest"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/sandbox"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// envDir makes an environment directory with a manifest holding builds.
func envDir(t *testing.T, manifestTOML string) (string, *manifest.Manifest) {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, ".flox", "env"), 0o755)
	path := filepath.Join(dir, ".flox", "env", "manifest.toml")
	os.WriteFile(path, []byte(manifestTOML), 0o644)
	m, err := manifest.ParseManifest(t.Context(), path, []byte(manifestTOML))
	if err != nil {
		t.Fatal(err)
	}
	return dir, m
}

func buildOne(t *testing.T, b builder.Builder, manifestTOML string, environ []string) (*builder.Result, string, error) {
	t.Helper()
	dir, m := envDir(t, manifestTOML)
	return buildIn(t, b, dir, m, environ)
}

// buildIn builds the first build of m, whose environment is in dir.
func buildIn(t *testing.T, b builder.Builder, dir string, m *manifest.Manifest, environ []string) (*builder.Result, string, error) {
	t.Helper()
	builds, err := m.Select(nil)
	if err != nil {
		t.Fatal(err)
	}
	version, err := builder.ResolveVersion(context.Background(), sandbox.Current(), dir, builds[0], environ, m.Vars())
	if err != nil {
		return nil, "", err
	}
	var log bytes.Buffer
	res, err := b.Build(context.Background(), builder.Request{
		EnvDir: dir, Build: builds[0], Version: version, Vars: m.Vars(),
		Scratch: t.TempDir(), Log: &log, Environ: environ,
	})
	return res, log.String(), err
}

func TestLocalBuilder(t *testing.T) {
	environ := append(os.Environ(),
		"INPUT_SIGNING-KEY=key-1:c2VjcmV0", "GITHUB_TOKEN=ghs_secret", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=req",
		"AWS_SECRET_ACCESS_KEY=aws", "FLOX_FLOXHUB_TOKEN=fh")
	for _, tc := range []struct {
		name, manifest string
		wantErr        string
		version        string // the resolved version, when set
		check          func(t *testing.T, res *builder.Result, log string)
	}{
		{
			name: "vars, out and a scrubbed environment",
			manifest: `version = 1
[vars]
WHO = "world"
[build.hello]
version = "2.1"
command = '''
env | sort
mkdir -p $out/bin
echo "hello $WHO" > $out/bin/hello
'''`,
			check: func(t *testing.T, res *builder.Result, log string) {
				if res.Name != "hello" || res.Version != "2.1" || !strings.HasSuffix(res.Outputs[0].StorePath, "-hello-2.1") {
					t.Fatalf("result %+v", res)
				}
				for _, secret := range []string{"key-1:c2VjcmV0", "ghs_secret", "ACTIONS_ID_TOKEN", "AWS_SECRET", "FLOX_FLOXHUB_TOKEN"} {
					if strings.Contains(log, secret) {
						t.Errorf("the build saw %s", secret)
					}
				}
				if !strings.Contains(log, "WHO=world") || !strings.Contains(log, "out=") {
					t.Errorf("the build lacks its variables:\n%s", log)
				}
				p := res.Closure[0]
				h, n, err := nixpath.HashNAR(p.Source, nil)
				if err != nil || !bytes.Equal(h, p.NarHash) || n != p.NarSize || p.CA != nixpath.SourceCA(h) {
					t.Fatalf("closure %+v: %v", p, err)
				}
			},
		},
		{
			name:     "version from a file",
			manifest: "version = 1\n[build.v]\nversion.file = \"VERSION\"\ncommand = \"echo x > $out/f\"\n",
			version:  "3.4.5",
		},
		{
			name:     "version from a command without secrets",
			manifest: "version = 1\n[build.v]\nversion.command = \"echo 1.0-${GITHUB_TOKEN:-clean}\"\ncommand = \"echo x > $out/f\"\n",
			version:  "1.0-clean",
		},
		{
			name:     "default version",
			manifest: "version = 1\n[build.v]\ncommand = \"echo x > $out/f\"\n",
			version:  "0.0.0",
		},
		{
			name:     "a single file output",
			manifest: "version = 1\n[build.f]\ncommand = \"rmdir $out; echo data > $out\"\n",
		},
		{
			name:     "empty out",
			manifest: "version = 1\n[build.empty]\ncommand = \"true\"\n",
			wantErr:  `build "empty": the command did not write anything to $out`,
		},
		{
			name:     "failing command",
			manifest: "version = 1\n[build.bad]\ncommand = '''\necho step one\nfalse\necho never\n'''\n",
			wantErr:  `build "bad" failed`,
		},
		{
			name:     "store reference in a file",
			manifest: "version = 1\n[build.ref]\ncommand = \"mkdir -p $out/bin; echo '#!/nix/store/9vnrlzqnpgkkn6hg7zqw0a8vx3chkkgf-bash-5.2/bin/bash' > $out/bin/x\"\n",
			wantErr:  "$out/bin/x refers to /nix/store/9vnrlzqnpgkkn6hg7zqw0a8vx3chkkgf-bash-5.2",
		},
		{
			name:     "store reference in a symlink",
			manifest: "version = 1\n[build.ref]\ncommand = \"ln -s /nix/store/9vnrlzqnpgkkn6hg7zqw0a8vx3chkkgf-bash-5.2/bin/bash $out/sh\"\n",
			wantErr:  "use builder: flox",
		},
		{
			name:     "version that cannot name a store path",
			manifest: "version = 1\n[build.v]\nversion.command = \"echo 'not valid'\"\ncommand = \"echo x > $out/f\"\n",
			wantErr:  "cannot be part of a store path name",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, m := envDir(t, tc.manifest)
			os.WriteFile(filepath.Join(dir, "VERSION"), []byte("3.4.5\n"), 0o644)
			builds, err := m.Select(nil)
			if err != nil {
				t.Fatal(err)
			}
			var res *builder.Result
			var log bytes.Buffer
			version, err := builder.ResolveVersion(context.Background(), sandbox.Current(), dir, builds[0], environ, m.Vars())
			if err == nil {
				res, err = builder.Local{}.Build(context.Background(), builder.Request{
					EnvDir: dir, Build: builds[0], Version: version, Vars: m.Vars(),
					Scratch: t.TempDir(), Log: &log, Environ: environ,
				})
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, log.String())
			}
			if tc.version != "" && res.Version != tc.version {
				t.Fatalf("version %q, want %q", res.Version, tc.version)
			}
			if tc.check != nil {
				tc.check(t, res, log.String())
			}
		})
	}
}

func TestFloxBuilderWithStandIn(t *testing.T) {
	testenv.RequireTool(t, "nix-build")
	path := testenv.FloxStandInPATH(t)
	// A dependency built by real Nix, which the stand-in's output refers
	// to: the closure must hold both.
	depFile := filepath.Join(t.TempDir(), "dep.nix")
	os.WriteFile(depFile, []byte(`derivation { name = "dep-`+filepath.Base(t.TempDir())+`"; system = builtins.currentSystem; builder = "/bin/sh"; PATH = "/usr/bin:/bin"; args = ["-c" "echo dep > $out"]; }`), 0o644)
	dep := strings.TrimSpace(testenv.Nix(t, "nix-build", "--no-out-link", depFile))

	environ := append(testenv.NixEnv(t), "PATH="+path, "FLOX_STANDIN_REFERENCE="+dep, "INPUT_SIGNING-KEY=key-1:c2VjcmV0", "FLOX_FLOXHUB_TOKEN=fh-secret")
	res, log, err := buildOne(t, builder.Flox{}, `version = 1
[vars]
WHO = "flox"
[build.app]
version = "1.2.3"
command = '''
env | sort
mkdir -p $out/bin
echo "hello $WHO" > $out/bin/app
'''`, environ)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if strings.Contains(log, "key-1:c2VjcmV0") || strings.Contains(log, "fh-secret") {
		t.Fatalf("the build saw a secret:\n%s", log)
	}
	out := res.Outputs[0].StorePath
	if !strings.HasSuffix(out, "-app-1.2.3") || !strings.HasPrefix(out, "/nix/store/") {
		t.Fatalf("output %s", out)
	}
	var paths []string
	for _, p := range res.Closure {
		paths = append(paths, p.StorePath)
	}
	if len(res.Closure) != 2 || !strings.Contains(strings.Join(paths, " "), dep) {
		t.Fatalf("closure %v, want the output and %s", paths, dep)
	}
}

// The stand-in names its output with the version as Flox does, whichever
// way the manifest gives it; the action's own resolution must agree.
func TestFloxStandInVersions(t *testing.T) {
	testenv.RequireTool(t, "nix-build")
	environ := append(testenv.NixEnv(t), "PATH="+testenv.FloxStandInPATH(t))
	for _, tc := range []struct{ name, version, want string }{
		{"string", `version = "1.2.3"`, "1.2.3"},
		{"file", `version = { file = "VERSION" }`, "2.0.1"},
		{"command", `version = { command = "echo 3.1.4" }`, "3.1.4"},
		{"none", ``, "0.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, m := envDir(t, `version = 1
[build.app]
`+tc.version+`
command = 'mkdir -p $out; echo `+tc.name+` > $out/v; true'
`)
			os.WriteFile(filepath.Join(dir, "VERSION"), []byte("2.0.1\n"), 0o644)
			res, log, err := buildIn(t, builder.Flox{}, dir, m, environ)
			if err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			if out := res.Outputs[0].StorePath; !strings.HasSuffix(out, "-app-"+tc.want) {
				t.Fatalf("output %s, want a name ending in -app-%s", out, tc.want)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	withFlox := testenv.FloxStandInPATH(t)
	t.Setenv("PATH", t.TempDir()) // no flox
	if b, err := builder.Select("auto"); err != nil || b.Name() != "local" {
		t.Fatalf("auto without flox: %v %v", b, err)
	}
	if _, err := builder.Select("flox"); !errors.Is(err, builder.ErrNoFlox) || !strings.Contains(err.Error(), "flox is not on PATH") {
		t.Fatalf("flox without flox: %v", err)
	}
	var unknown *builder.UnknownError
	if _, err := builder.Select("nix"); !errors.As(err, &unknown) || unknown.Name != "nix" {
		t.Fatalf("an unknown builder: %v", err)
	}
	// How the errors read for where the run is: publish's
	// TestErrorsArePhrasedForWhereTheRunIs.
	t.Setenv("PATH", withFlox)
	if b, err := builder.Select("auto"); err != nil || b.Name() != "flox" {
		t.Fatalf("auto with flox: %v %v", b, err)
	}
}

// TestLocalBuilderAsBuildUser runs a build as root, as in the action's
// container: the command runs as a user of its own, its output is taken
// back by the action before it is read, and what it left running is ended.
func TestLocalBuilderAsBuildUser(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root to run the build as a user of its own (CI runs the suite as root)")
	}
	sb, err := sandbox.New(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir, m := envDir(t, `version = 1
[build.hello]
command = '''
  id -u > $out/uid
  (sleep 300 &)
'''
version.command = "id -u"
`)
	builds, _ := m.Select(nil)
	// As the pipeline does with the clean clone.
	if err := sb.OwnWorktree(filepath.Dir(dir), dir); err != nil {
		t.Fatal(err)
	}
	version, err := builder.ResolveVersion(context.Background(), sb, dir, builds[0], os.Environ(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if version != strconv.Itoa(sb.UID()) {
		t.Errorf("the version command ran as uid %s, want the build user %d", version, sb.UID())
	}
	var log bytes.Buffer
	res, err := builder.Local{}.Build(context.Background(), builder.Request{
		EnvDir: dir, Build: builds[0], Version: version, Scratch: t.TempDir(), Log: &log,
		Environ: os.Environ(), Sandbox: sb,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	src := res.Closure[0].Source
	data, _ := os.ReadFile(filepath.Join(src, "uid"))
	if strings.TrimSpace(string(data)) != strconv.Itoa(sb.UID()) {
		t.Errorf("the build ran as uid %q, want %d", data, sb.UID())
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(src, "uid"), &st); err != nil || st.Uid != 0 {
		t.Errorf("the output still belongs to uid %d after the build", st.Uid)
	}
	if n, _ := sandbox.Processes(sb.UID()); n > 0 {
		t.Errorf("%d processes of the build user outlived the build", n)
	}
}

func TestUnsandboxedWarning(t *testing.T) {
	pure := manifest.Build{Name: "app", Sandbox: manifest.SandboxPure}
	off := manifest.Build{Name: "app", Sandbox: manifest.SandboxOff}
	for _, tc := range []struct {
		name       string
		builder    string
		b          manifest.Build
		nixSandbox bool
		want       string // "" for no warning
	}{
		{"pure in the container", "flox", pure, false, "ran without Nix's sandbox"},
		{"pure where the sandbox works", "flox", pure, true, ""},
		{"pure with the local builder", "local", pure, true, "local builder runs without Nix's sandbox"},
		{"off", "flox", off, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := builder.UnsandboxedWarning(tc.builder, tc.b, tc.nixSandbox)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want one containing %q", got, tc.want)
			}
		})
	}
}
