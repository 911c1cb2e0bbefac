package cache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/testenv"
)

func fileStore(t *testing.T) *store.File {
	t.Helper()
	s, err := store.OpenFile(filepath.Join(t.TempDir(), "cache"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func nixClosure(t *testing.T) (string, []nixpath.PathInfo) {
	t.Helper()
	return testenv.NixClosure(t, "", "echo x > $out/lib/x")
}

// localPath is a path as the local builder makes it: content in a scratch
// directory, named by its NAR hash.
func localPath(t *testing.T, name string) nixpath.PathInfo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "out")
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "bin", name), []byte("#!/bin/sh\necho "+name+" "+filepath.Base(t.TempDir())+"\n"), 0o755)
	h, n, err := nixpath.HashNAR(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return nixpath.PathInfo{StorePath: nixpath.SourcePath(h, name, nil), NarHash: h, NarSize: n, CA: nixpath.SourceCA(h), Source: dir}
}

// nixInstall copies path from the cache into a fresh chroot store with only
// pub trusted, and verifies its signatures there.
func nixInstall(t *testing.T, cacheURL, pub, path string) error {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	env := testenv.NixEnv(t)
	run := func(args ...string) error {
		cmd := exec.Command("nix", args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return &nixError{args: args, out: string(out), err: err}
		}
		return nil
	}
	if err := run("copy", "--from", cacheURL, "--to", root, "--option", "trusted-public-keys", pub, "--option", "require-sigs", "true", path); err != nil {
		return err
	}
	return run("store", "verify", "--store", root, "--sigs-needed", "1", "--option", "trusted-public-keys", pub, "--recursive", path)
}

type nixError struct {
	args []string
	out  string
	err  error
}

func (e *nixError) Error() string {
	return "nix " + strings.Join(e.args, " ") + ": " + e.err.Error() + "\n" + e.out
}

func TestPublishedClosureInstallsWithRealNix(t *testing.T) {
	// The library's NAR spans several compression chunks, so real Nix
	// reads a NAR made of several zstd frames.
	top, closure := testenv.NixClosure(t, "big", "head -c 2500000 /dev/urandom > $out/lib/random; seq 1 400000 > $out/lib/seq")
	if closure[0].NarSize < 3*cache.ChunkSize && closure[1].NarSize < 3*cache.ChunkSize {
		t.Fatalf("the closure's NARs (%d, %d bytes) fit in fewer than 3 chunks", closure[0].NarSize, closure[1].NarSize)
	}
	for _, compression := range []string{"zstd", "xz", "none"} {
		t.Run(compression, func(t *testing.T) {
			s := fileStore(t)
			key := testenv.SigningKey(t, "test-cache-1")
			res, err := cache.Publish(context.Background(), cache.Options{Store: s, Key: key, Compression: compression, Jobs: 2}, closure)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if r.Status != cache.Uploaded {
					t.Fatalf("%s: status %s, want uploaded", r.StorePath, r.Status)
				}
			}
			if err := cache.Verify(context.Background(), s, key.PublicKey(), res); err != nil {
				t.Fatal(err)
			}
			if err := nixInstall(t, s.URL(), key.Public, top); err != nil {
				t.Fatal(err)
			}

			// A second run finds everything present and writes nothing.
			again, err := cache.Publish(context.Background(), cache.Options{Store: s, Key: key, Compression: compression, Jobs: 2}, closure)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range again {
				if r.Status != cache.Present {
					t.Fatalf("re-run: %s: status %s, want present", r.StorePath, r.Status)
				}
			}
		})
	}
}

func TestLocalBuildPathInstallsWithRealNix(t *testing.T) {
	p := localPath(t, "hello-1.0")
	s := fileStore(t)
	key := testenv.SigningKey(t, "test-cache-1")
	if _, err := cache.Publish(context.Background(), cache.Options{Store: s, Key: key, Compression: "zstd", Jobs: 1}, []nixpath.PathInfo{p}); err != nil {
		t.Fatal(err)
	}
	if err := nixInstall(t, s.URL(), key.Public, p.StorePath); err != nil {
		t.Fatal(err)
	}
}

func TestRealNixRefusesBadCaches(t *testing.T) {
	top, closure := nixClosure(t)
	key := testenv.SigningKey(t, "test-cache-1")
	other := testenv.SigningKey(t, "test-cache-1") // same name, another key

	t.Run("untrusted key", func(t *testing.T) {
		s := fileStore(t)
		if _, err := cache.Publish(context.Background(), cache.Options{Store: s, Key: key, Compression: "zstd", Jobs: 2}, closure); err != nil {
			t.Fatal(err)
		}
		if err := nixInstall(t, s.URL(), other.Public, top); err == nil {
			t.Fatal("nix installed paths signed by a key it does not trust")
		}
	})
	t.Run("tampered narinfo", func(t *testing.T) {
		s := fileStore(t)
		if _, err := cache.Publish(context.Background(), cache.Options{Store: s, Key: key, Compression: "zstd", Jobs: 2}, closure); err != nil {
			t.Fatal(err)
		}
		// Claim another reference set: the signature no longer matches.
		f := filepath.Join(s.Root(), narinfo.Key(top))
		data, _ := os.ReadFile(f)
		tampered := regexpReplaceLine(string(data), "References:", "References: ")
		if tampered == string(data) {
			t.Fatal("tampering changed nothing")
		}
		os.WriteFile(f, []byte(tampered), 0o644)
		if err := nixInstall(t, s.URL(), key.Public, top); err == nil {
			t.Fatal("nix installed a path whose narinfo was tampered with")
		}
		res := []cache.PathResult{{StorePath: top, Status: cache.Uploaded, NarInfo: mustParse(t, data)}}
		if err := cache.Verify(context.Background(), s, key.PublicKey(), res); err == nil {
			t.Fatal("Verify accepted a tampered narinfo")
		}
	})
}

func regexpReplaceLine(s, prefix, repl string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			lines[i] = repl
		}
	}
	return strings.Join(lines, "\n")
}

func mustParse(t *testing.T, data []byte) *narinfo.NarInfo {
	t.Helper()
	ni, err := narinfo.Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return ni
}

// recordingStore wraps a store and records the order of writes.
type recordingStore struct {
	store.Store
	mu   sync.Mutex
	puts []string
}

func (r *recordingStore) Put(ctx context.Context, key string, rd io.Reader, ct string) (int64, error) {
	n, err := r.Store.Put(ctx, key, rd, ct)
	if err == nil {
		r.mu.Lock()
		r.puts = append(r.puts, key)
		r.mu.Unlock()
	}
	return n, err
}

func TestWriteOrder(t *testing.T) {
	_, closure := nixClosure(t)
	rec := &recordingStore{Store: fileStore(t)}
	key := testenv.SigningKey(t, "k")
	if _, err := cache.Publish(context.Background(), cache.Options{Store: rec, Key: key, Compression: "zstd", Jobs: 4}, closure); err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, k := range rec.puts {
		pos[k] = i
	}
	if pos["nix-cache-info"] != 0 {
		t.Errorf("nix-cache-info written at %d, want first: %v", pos["nix-cache-info"], rec.puts)
	}
	for _, p := range closure {
		ni := narinfo.Key(p.StorePath)
		for k, i := range pos {
			if strings.HasPrefix(k, "nar/") && strings.Contains(k, nixpathNar(p)) && i > pos[ni] {
				t.Errorf("NAR %s written after its narinfo", k)
			}
		}
		for _, ref := range p.References {
			if ref != p.StorePath && pos[narinfo.Key(ref)] > pos[ni] {
				t.Errorf("%s written before the narinfo of its reference %s", ni, ref)
			}
		}
	}
}

// TestLargestNARFirst: NARs start largest first, so that the biggest
// path is not left to finish alone on one core at the end.
func TestLargestNARFirst(t *testing.T) {
	var paths []nixpath.PathInfo
	for i, size := range []int{10 << 10, 3 << 20, 300 << 10} {
		dir := filepath.Join(t.TempDir(), "out")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "data"), bytes.Repeat([]byte{byte(i)}, size), 0o644)
		h, n, err := nixpath.HashNAR(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, nixpath.PathInfo{StorePath: nixpath.SourcePath(h, fmt.Sprintf("p%d", i), nil), NarHash: h, NarSize: n, CA: nixpath.SourceCA(h), Source: dir})
	}
	rec := &recordingStore{Store: fileStore(t)}
	// Room for one NAR at a time: the order they start in is the order
	// they are written in.
	if _, err := cache.Publish(context.Background(), cache.Options{Store: rec, Key: testenv.SigningKey(t, "k"), Compression: "zstd", Jobs: 1, Memory: 1}, paths); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range rec.puts {
		if strings.HasPrefix(k, "nar/") {
			got = append(got, k)
		}
	}
	want := []nixpath.PathInfo{paths[1], paths[2], paths[0]}
	for i, p := range want {
		if i >= len(got) || !strings.Contains(got[i], nixpathNar(p)) {
			t.Fatalf("NARs written in the order %v, want largest first", got)
		}
	}
}

func nixpathNar(p nixpath.PathInfo) string {
	return strings.TrimPrefix(p.NarHashString(), "sha256:")
}

func TestDryRunWritesNothing(t *testing.T) {
	p := localPath(t, "hello-1.0")
	s := fileStore(t)
	res, err := cache.Publish(context.Background(), cache.Options{Store: s, DryRun: true, Compression: "zstd", Jobs: 1}, []nixpath.PathInfo{p})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != cache.WouldUpload || res[0].FileSize == 0 {
		t.Fatalf("dry run result %+v", res[0])
	}
	entries, _ := os.ReadDir(s.Root())
	if len(entries) != 0 {
		t.Fatalf("dry run wrote %d entries", len(entries))
	}
	// No store at all is fine in a dry run.
	if _, err := cache.Publish(context.Background(), cache.Options{DryRun: true, Compression: "zstd"}, []nixpath.PathInfo{p}); err != nil {
		t.Fatal(err)
	}
}

func TestPublishFailures(t *testing.T) {
	good := localPath(t, "good-1.0")
	changed := localPath(t, "changed-1.0")
	os.WriteFile(filepath.Join(changed.Source, "bin", "changed-1.0"), []byte("other content"), 0o755)
	orphan := localPath(t, "orphan-1.0")
	orphan.References = []string{"/nix/store/00000000000000000000000000000000-missing"}

	for _, tc := range []struct {
		name    string
		opts    cache.Options
		paths   []nixpath.PathInfo
		wantErr string
	}{
		{"no key", cache.Options{Compression: "zstd"}, []nixpath.PathInfo{good}, "no signing key"},
		{"bad compression", cache.Options{Compression: "bzip2"}, []nixpath.PathInfo{good}, "not one of zstd, xz, none"},
		{"content changed after build", cache.Options{Compression: "zstd"}, []nixpath.PathInfo{changed}, "the path changed after it was built"},
		{"incomplete closure", cache.Options{Compression: "zstd"}, []nixpath.PathInfo{orphan}, "not in the closure to publish"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fileStore(t)
			tc.opts.Store = s
			if tc.name != "no key" {
				tc.opts.Key = testenv.SigningKey(t, "k")
			}
			_, err := cache.Publish(context.Background(), tc.opts, tc.paths)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			matches, _ := filepath.Glob(filepath.Join(s.Root(), "*.narinfo"))
			if len(matches) != 0 {
				t.Fatalf("a failed publish left narinfos: %v", matches)
			}
		})
	}
}

func TestForeignStoreDirRefused(t *testing.T) {
	s := fileStore(t)
	s.Put(context.Background(), "nix-cache-info", strings.NewReader("StoreDir: /gnu/store\n"), cache.ContentTypeCacheInfo)
	_, err := cache.Publish(context.Background(), cache.Options{Store: s, Key: testenv.SigningKey(t, "k"), Compression: "zstd"}, []nixpath.PathInfo{localPath(t, "x-1")})
	if err == nil || !strings.Contains(err.Error(), "/gnu/store") {
		t.Fatalf("err = %v", err)
	}
}

// TestVerifyCatchesWhatTheStoreLost: the read-back of the closure's root
// fails, naming the object, when the store lost or changed its narinfo or
// its NAR, or when the narinfos are not signed by the key the run meant.
// What happened to a path beneath it is not read back.
func TestVerifyCatchesWhatTheStoreLost(t *testing.T) {
	top, closure := nixClosure(t)
	var dep string
	for _, p := range closure {
		if p.StorePath != top {
			dep = p.StorePath
		}
	}
	key := testenv.SigningKey(t, "test-cache-1")
	for _, tc := range []struct {
		name   string
		damage func(s *store.File, r cache.PathResult)
		pub    *signing.Key
		want   string
		path   string // damaged; the root when ""
	}{
		{"intact", func(*store.File, cache.PathResult) {}, nil, "", ""},
		{"narinfo changed", func(s *store.File, r cache.PathResult) {
			os.WriteFile(filepath.Join(s.Root(), narinfo.Key(r.StorePath)), []byte(r.NarInfo.String()+"\n"), 0o644)
		}, nil, "differs from what was written", ""},
		{"narinfo lost", func(s *store.File, r cache.PathResult) {
			os.Remove(filepath.Join(s.Root(), narinfo.Key(r.StorePath)))
		}, nil, "read back " + narinfo.Key(top), ""},
		{"NAR truncated", func(s *store.File, r cache.PathResult) {
			os.Truncate(filepath.Join(s.Root(), r.NarInfo.URL), 10)
		}, nil, "is 10 bytes, the narinfo says", ""},
		{"another key", func(*store.File, cache.PathResult) {}, testenv.SigningKey(t, "test-cache-2"), "no valid signature by test-cache-2", ""},
		{"a reference's narinfo lost: not read back", func(s *store.File, r cache.PathResult) {
			os.Remove(filepath.Join(s.Root(), narinfo.Key(r.StorePath)))
		}, nil, "", dep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fileStore(t)
			res, err := cache.Publish(context.Background(), cache.Options{Store: s, Key: key, Compression: "zstd", Jobs: 2}, closure)
			if err != nil {
				t.Fatal(err)
			}
			damaged := tc.path
			if damaged == "" {
				damaged = top
			}
			for _, r := range res {
				if r.StorePath == damaged {
					tc.damage(s, r)
				}
			}
			pub := key.PublicKey()
			if tc.pub != nil {
				pub = tc.pub.PublicKey()
			}
			err = cache.Verify(context.Background(), s, pub, res)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Verify: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Verify: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// failingStore fails every NAR upload after reading part of it, as a
// store that drops the connection would.
type failingStore struct{ store.Store }

func (f failingStore) Put(ctx context.Context, key string, r io.Reader, ct string) (int64, error) {
	if strings.HasPrefix(key, "nar/") {
		io.CopyN(io.Discard, r, 100<<10)
		return 0, errors.New("connection reset by peer")
	}
	return f.Store.Put(ctx, key, r, ct)
}

// TestPublishStoreFailsMidNAR: with many multi-piece NARs in flight, a
// store failing mid-upload fails the publish with its error, promptly,
// and leaves no narinfo behind.
func TestPublishStoreFailsMidNAR(t *testing.T) {
	var paths []nixpath.PathInfo
	for i := range 12 {
		dir := filepath.Join(t.TempDir(), "out")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "data"), sampleBytes(5*cache.ChunkSize/2, i), 0o644)
		h, n, err := nixpath.HashNAR(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, nixpath.PathInfo{StorePath: nixpath.SourcePath(h, fmt.Sprintf("p%d", i), nil), NarHash: h, NarSize: n, CA: nixpath.SourceCA(h), Source: dir})
	}
	s := fileStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := cache.Publish(ctx, cache.Options{Store: failingStore{s}, Key: testenv.SigningKey(t, "k"), Compression: "zstd", Jobs: 3}, paths)
	if err == nil || !strings.Contains(err.Error(), "connection reset by peer") || strings.Contains(err.Error(), "compressed stream") || ctx.Err() != nil {
		t.Fatalf("err = %v (context: %v), want the store's error", err, ctx.Err())
	}
	if matches, _ := filepath.Glob(filepath.Join(s.Root(), "*.narinfo")); len(matches) != 0 {
		t.Fatalf("a failed publish left narinfos: %v", matches)
	}
}

func sampleBytes(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((i*seed + i/7) % 251)
	}
	return b
}
