package builder_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/flox-publish/publish-action/internal/builder"
	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/manifest"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// reproManifest holds builds that record what usually differs between
// runs: their paths, their environment, and their own $out.
const reproManifest = `version = 1
[vars]
GREETING = "hello"
[build.recorder]
version = "1.0"
command = '''
mkdir -p $out
env | sort > $out/env
pwd > $out/pwd
ls -la > $out/listing-of-cwd
echo "$HOME $TMPDIR $SOURCE_DATE_EPOCH" > $out/paths
touch $TMPDIR/t; stat -c %a $TMPDIR/t > $out/umask
'''
[build.wrapped]
version = "2.0"
command = '''
mkdir -p $out/bin $out/libexec
cat > $out/libexec/greet <<WRAPPER
#!/bin/sh
echo "$GREETING from \$0"
WRAPPER
cat > $out/bin/hello <<WRAPPER
#!/bin/sh
exec $out/libexec/greet "\$@"
WRAPPER
chmod +x $out/bin/hello $out/libexec/greet
ln -s $out/libexec/greet $out/bin/greet
'''
`

// checkout writes the environment into a new directory, as a fresh clone
// of one commit would hold it, and returns the clone's top and the
// environment directory.
func checkout(t *testing.T) (top, env string) {
	top = t.TempDir()
	env = filepath.Join(top, "sub", "env")
	os.MkdirAll(filepath.Join(env, ".flox", "env"), 0o755)
	os.WriteFile(filepath.Join(env, ".flox", "env", "manifest.toml"), []byte(reproManifest), 0o644)
	os.WriteFile(filepath.Join(top, "README"), []byte("a file of the commit\n"), 0o644)
	return top, env
}

func buildAllLocal(t *testing.T, root string, environ []string, commit time.Time) map[string]*builder.Result {
	t.Helper()
	top, env := checkout(t)
	path := filepath.Join(env, ".flox", "env", "manifest.toml")
	m, err := manifest.ParseManifest(t.Context(), path, []byte(reproManifest))
	if err != nil {
		t.Fatal(err)
	}
	builds, err := m.Select(nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*builder.Result{}
	for _, b := range builds {
		var log bytes.Buffer
		res, err := builder.Local{Root: root}.Build(context.Background(), builder.Request{
			EnvDir: env, SourceRoot: top, Build: b, Version: b.Version.Literal, Vars: m.Vars(),
			Scratch: t.TempDir(), Log: &log, Environ: environ, CommitTime: commit,
		})
		if err != nil {
			t.Fatalf("%s: %v\n%s", b.Name, err, log.String())
		}
		out[b.Name] = res
	}
	return out
}

// testRoot is a fixed root of the test's own, so that it does not wait
// for the builds of other packages' tests under build.DefaultRoot.
func testRoot(t *testing.T, name string) string {
	root := filepath.Join(os.TempDir(), name)
	os.RemoveAll(root)
	t.Cleanup(func() { os.RemoveAll(root) })
	return root
}

// TestLocalBuildsAreReproducible builds one commit twice, from two
// checkouts into two scratch directories, with environments that differ
// the way two runs' do, and expects the same store paths.
func TestLocalBuildsAreReproducible(t *testing.T) {
	root := testRoot(t, "fp-test-repro")
	commit := time.Date(2026, 11, 5, 12, 0, 0, 0, time.UTC)
	first := buildAllLocal(t, root, append(os.Environ(), "GITHUB_RUN_ID=1", "GITHUB_REF=refs/heads/main", "TERM=xterm", "LANG=de_DE.UTF-8", "TZ=Europe/Paris"), commit)
	second := buildAllLocal(t, root, append(os.Environ(), "GITHUB_RUN_ID=2", "GITHUB_REF=refs/tags/v1.0", "TERM=dumb"), commit)

	for name, a := range first {
		b := second[name]
		if a.Outputs[0].StorePath != b.Outputs[0].StorePath {
			diff, _ := exec.Command("diff", "-r", a.Closure[0].Source, b.Closure[0].Source).CombinedOutput()
			t.Errorf("%s: %s, then %s:\n%s", name, a.Outputs[0].StorePath, b.Outputs[0].StorePath, diff)
		}
		if a.Closure[0].Source == b.Closure[0].Source {
			t.Errorf("%s: both runs left their output in %s", name, a.Closure[0].Source)
		}
	}

	rec := first["recorder"].Closure[0].Source
	read := func(f string) string {
		data, err := os.ReadFile(filepath.Join(rec, f))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if got, want := read("paths"), root+"/home "+root+"/tmp 1793880000\n"; got != want {
		t.Errorf("HOME TMPDIR SOURCE_DATE_EPOCH = %q, want %q", got, want)
	}
	if got, want := read("pwd"), root+"/src/sub/env\n"; got != want {
		t.Errorf("pwd = %q, want %q", got, want)
	}
	if got := read("umask"); got != "644\n" {
		t.Errorf("a new file has mode %q, want 644 (umask 022)", got)
	}
	env := read("env")
	for _, want := range []string{"LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TZ=UTC", "GREETING=hello"} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("the build's environment lacks %s:\n%s", want, env)
		}
	}
	for _, unwanted := range []string{"GITHUB_RUN_ID", "GITHUB_REF=", "TERM="} {
		if strings.Contains(env, unwanted) {
			t.Errorf("the build saw %s, which differs between runs:\n%s", unwanted, env)
		}
	}
	// Its environment dump holds out=…: a self-reference, rewritten.
	if p := first["recorder"].Closure[0]; len(p.References) != 1 || !strings.Contains(env, "out="+p.StorePath+"\n") {
		t.Errorf("recorder: references %v, want itself (%s), and out= naming it in:\n%s", p.References, p.StorePath, env)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 1 {
		t.Errorf("the builds left %d entries in %s, want only the lock", len(entries), root)
	}
}

// TestLocalSelfReferenceWorksOnceInstalled builds a wrapper that calls
// $out/libexec/…, publishes it, installs it with real Nix (which checks
// its content address modulo its self-references) and runs it.
func TestLocalSelfReferenceWorksOnceInstalled(t *testing.T) {
	testenv.RequireTool(t, "nix-store")
	root := testRoot(t, "fp-test-selfref")
	res := buildAllLocal(t, root, os.Environ(), time.Unix(1700000000, 0))["wrapped"]
	p := res.Closure[0]
	if len(p.References) != 1 || p.References[0] != p.StorePath {
		t.Fatalf("references %v, want only itself (%s)", p.References, p.StorePath)
	}
	if !strings.HasPrefix(p.CA, "fixed:r:sha256:") || p.CA == nixpath.SourceCA(p.NarHash) {
		t.Errorf("CA %q: want the hash modulo the self-references, not the NAR hash", p.CA)
	}
	wrapper, err := os.ReadFile(filepath.Join(p.Source, "bin", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(wrapper), "exec "+p.StorePath+"/libexec/greet") || strings.Contains(string(wrapper), root) {
		t.Fatalf("the wrapper was not rewritten to its store path:\n%s", wrapper)
	}
	if link, _ := os.Readlink(filepath.Join(p.Source, "bin", "greet")); link != p.StorePath+"/libexec/greet" {
		t.Errorf("the symlink points at %q, want %s/libexec/greet", link, p.StorePath)
	}
	h, n, err := nixpath.HashNAR(p.Source, nil)
	if err != nil || !bytes.Equal(h, p.NarHash) || n != p.NarSize {
		t.Fatalf("the recorded NAR hash is not the output's: %v", err)
	}

	sec, pub, err := signing.Generate("selfref-test-1")
	if err != nil {
		t.Fatal(err)
	}
	key, err := signing.Parse(sec)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "cache")
	st, err := store.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Publish(context.Background(), cache.Options{Store: st, Key: key, Jobs: 1}, res.Closure); err != nil {
		t.Fatal(err)
	}
	nixOpts := []string{"--option", "substituters", "file://" + dir, "--option", "trusted-public-keys", pub}

	// Into an empty store of its own: Nix recomputes the content address
	// modulo the self-reference and refuses a mismatch.
	chroot := t.TempDir()
	cmd := exec.Command("nix-store", append([]string{"--store", chroot, "--realise", p.StorePath}, nixOpts...)...)
	cmd.Env = testenv.NixEnv(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nix-store --realise into %s: %v\n%s", chroot, err, out)
	}

	// The check above is real: with the plain NAR hash as content address
	// (the signature does not cover it), Nix refuses the path.
	niPath := filepath.Join(dir, nixpath.HashPart(p.StorePath)+".narinfo")
	ni, err := os.ReadFile(niPath)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(ni), "CA: "+p.CA, "CA: "+nixpath.SourceCA(p.NarHash), 1)
	if bad == string(ni) {
		t.Fatalf("the narinfo has no CA line %q:\n%s", p.CA, ni)
	}
	badDir := filepath.Join(t.TempDir(), "cache")
	if err := os.CopyFS(badDir, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(badDir, filepath.Base(niPath)), []byte(bad), 0o644)
	cmd = exec.Command("nix-store", "--store", t.TempDir(), "--realise", p.StorePath,
		"--option", "substituters", "file://"+badDir, "--option", "trusted-public-keys", pub)
	cmd.Env = testenv.NixEnv(t)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "ca hash mismatch") {
		t.Errorf("Nix accepted a wrong content address (err %v):\n%s", err, out)
	}

	// Into the machine's store, where the wrapper's path is real: run it.
	if err := writable("/nix/store"); err != nil {
		testenv.Missing(t, "cannot install into /nix/store to run the wrapper: %v", err)
	}
	cmd = exec.Command("nix-store", append([]string{"--realise", p.StorePath}, nixOpts...)...)
	cmd.Env = testenv.NixEnv(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nix-store --realise: %v\n%s", err, out)
	}
	out, err := exec.Command(p.StorePath + "/bin/hello").CombinedOutput()
	if err != nil || string(out) != "hello from "+p.StorePath+"/libexec/greet\n" {
		t.Fatalf("the installed wrapper printed %q (%v)", out, err)
	}
}

func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".flox-publish-probe-")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// TestLocalBuildsTakeTurns starts two builds on one root at once: the
// second waits for the first, and both give the same path.
func TestLocalBuildsTakeTurns(t *testing.T) {
	root := testRoot(t, "fp-test-turns")
	commit := time.Unix(1700000000, 0)
	results := make(chan string, 2)
	for range 2 {
		go func() {
			var log bytes.Buffer
			top, env := checkout(t)
			m, err := manifest.ParseManifest(t.Context(), filepath.Join(env, ".flox", "env", "manifest.toml"), []byte(reproManifest))
			if err != nil {
				results <- err.Error()
				return
			}
			b, _ := m.Build("wrapped")
			res, err := builder.Local{Root: root}.Build(context.Background(), builder.Request{
				EnvDir: env, SourceRoot: top, Build: b, Version: "2.0", Vars: m.Vars(),
				Scratch: t.TempDir(), Log: &log, Environ: os.Environ(), CommitTime: commit,
			})
			if err != nil {
				results <- err.Error()
				return
			}
			results <- res.Outputs[0].StorePath
		}()
	}
	a, b := <-results, <-results
	if a != b || !strings.HasPrefix(a, nixpath.StoreDir) {
		t.Errorf("two builds at once gave %q and %q", a, b)
	}
}

func TestLocalRootIsChecked(t *testing.T) {
	world := testRoot(t, "fp-test-world")
	os.Mkdir(world, 0o777)
	os.Chmod(world, 0o777)
	for _, tc := range []struct{ root, want string }{
		{"/tmp/" + strings.Repeat("r", 40), "at most 32 bytes"},
		{"relative/root", "must be an absolute path"},
		{world, "writable by other users"},
	} {
		_, _, err := buildOneAt(t, tc.root)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("root %s: err %v, want %q", tc.root, err, tc.want)
		}
	}
}

// TestLocalBuildWaitsWithinContext: a build waiting for the root's lock
// gives up when its context ends.
func TestLocalBuildWaitsWithinContext(t *testing.T) {
	root := testRoot(t, "fp-test-wait")
	os.Mkdir(root, 0o755)
	// A build that holds the lock until it is told to finish.
	release := filepath.Join(t.TempDir(), "release")
	holder := make(chan error, 1)
	go func() {
		top, env := checkout(t)
		b := manifest.Build{Name: "holder", Command: "while [ ! -e " + release + " ]; do sleep 0.05; done; echo x > $out/x"}
		_, err := builder.Local{Root: root}.Build(context.Background(), builder.Request{
			EnvDir: env, SourceRoot: top, Build: b, Version: "1", Scratch: t.TempDir(), Log: &bytes.Buffer{}, Environ: os.Environ(),
		})
		holder <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if entries, _ := os.ReadDir(filepath.Join(root, "out")); len(entries) > 0 || time.Now().After(deadline) {
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	top, env := checkout(t)
	var log bytes.Buffer
	start := time.Now()
	_, err := builder.Local{Root: root}.Build(ctx, builder.Request{
		EnvDir: env, SourceRoot: top, Build: manifest.Build{Name: "waiter", Command: "echo x > $out/x"}, Version: "1",
		Scratch: t.TempDir(), Log: &log, Environ: os.Environ(),
	})
	if err == nil || time.Since(start) > 5*time.Second || !strings.Contains(log.String(), "Waiting for another build") {
		t.Errorf("err %v after %v, log %q; want a bounded wait that says so", err, time.Since(start), log.String())
	}
	os.WriteFile(release, nil, 0o644)
	if err := <-holder; err != nil {
		t.Errorf("the holding build: %v", err)
	}
}

func buildOneAt(t *testing.T, root string) (*builder.Result, string, error) {
	top, env := checkout(t)
	var log bytes.Buffer
	res, err := builder.Local{Root: root}.Build(context.Background(), builder.Request{
		EnvDir: env, SourceRoot: top, Build: manifest.Build{Name: "x", Command: "echo x > $out/x"}, Version: "1",
		Scratch: t.TempDir(), Log: &log, Environ: os.Environ(),
	})
	return res, log.String(), err
}

// TestLocalBuildMovesTheLastSource builds from a checkout whose files the
// builder may move rather than copy, and expects what the build sees, and
// so its store path, to be what a copy gives, and the checkout's .git to
// stay where it was.
func TestLocalBuildMovesTheLastSource(t *testing.T) {
	root := testRoot(t, "fp-test-move")
	b := manifest.Build{Name: "lister", Command: "mkdir -p $out; pwd > $out/pwd; cd ../..; find . -path ./.git -prune -o -print | sort > $out/files; cat README > $out/readme"}
	paths := map[bool]string{}
	for _, move := range []bool{false, true} {
		top, env := checkout(t)
		os.MkdirAll(filepath.Join(top, ".git"), 0o755)
		var log bytes.Buffer
		res, err := builder.Local{Root: root}.Build(context.Background(), builder.Request{
			EnvDir: env, SourceRoot: top, MoveSource: move, Build: b, Version: "1",
			Scratch: t.TempDir(), Log: &log, Environ: os.Environ(),
		})
		if err != nil {
			t.Fatalf("move %v: %v\n%s", move, err, log.String())
		}
		paths[move] = res.Outputs[0].StorePath
		var left []string
		entries, _ := os.ReadDir(top)
		for _, e := range entries {
			left = append(left, e.Name())
		}
		want := "README .git sub"
		if move {
			want = ".git"
		}
		sort.Strings(left)
		if got := strings.Join(left, " "); got != strings.Join(sortedFields(want), " ") {
			t.Errorf("move %v: the checkout holds %q after the build, want %q", move, got, want)
		}
	}
	if paths[false] != paths[true] {
		t.Errorf("moving the sources gave %s, copying them %s", paths[true], paths[false])
	}
}

func sortedFields(s string) []string {
	f := strings.Fields(s)
	sort.Strings(f)
	return f
}
