package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	awscreds "github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/flox-publish/publish-action/internal/store"
)

// indexChildEnv, when set, makes the test binary a publisher process for
// the concurrent-process tests: "<store URL> <rev>". An s3:// store is
// reached with the credentials in indexChildCredsEnv ("<user> <password>").
const (
	indexChildEnv      = "CATALOG_INDEX_TEST_CHILD"
	indexChildCredsEnv = "CATALOG_INDEX_TEST_CHILD_CREDENTIALS"
)

func TestMain(m *testing.M) {
	if arg := os.Getenv(indexChildEnv); arg != "" {
		if err := indexChild(arg, os.Getenv(indexChildCredsEnv)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// indexChild records one build, as one run of the action would.
func indexChild(arg, creds string) error {
	storeURL, rev, ok := strings.Cut(arg, " ")
	if !ok {
		return fmt.Errorf("bad %s %q", indexChildEnv, arg)
	}
	opts := store.Options{Getenv: func(string) string { return "" }}
	if user, password, ok := strings.Cut(creds, " "); ok {
		opts.Credentials = awscreds.NewStaticCredentialsProvider(user, password, "")
	}
	s, err := store.Open(context.Background(), storeURL, opts)
	if err != nil {
		return err
	}
	idx, err := NewIndex(s)
	if err != nil {
		return err
	}
	b := testBuild(testTarget())
	b.Source.Rev = rev
	added, err := idx.Record(context.Background(), b)
	if err != nil {
		return err
	}
	if !added {
		return fmt.Errorf("rev %s was not added", rev)
	}
	return nil
}

// runPublishers runs one publisher process per rev against storeURL, all
// at once, and waits for them.
func runPublishers(t *testing.T, storeURL, creds string, revs []string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for _, r := range revs {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), indexChildEnv+"="+storeURL+" "+r, indexChildCredsEnv+"="+creds)
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("publisher of %s: %v\n%s", revs[i], err, outs[i])
		}
	}
}

func openTestStore(t *testing.T, dir string) *store.File {
	t.Helper()
	s, err := store.OpenFile(&url.URL{Scheme: "file", Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestIndex(t *testing.T, s store.Store) *Index {
	t.Helper()
	idx, err := NewIndex(s)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func rev(n int) string { return fmt.Sprintf("%040x", n) }

func TestIndexRecordAndLookup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	idx := newTestIndex(t, s)
	target := testTarget()

	if e, err := idx.Lookup(ctx, target); err != nil || e != nil {
		t.Fatalf("Lookup in an empty store: %+v, %v; want nothing", e, err)
	}
	b := testBuild(target)
	b.PublishedAt = time.Date(2026, 4, 2, 8, 0, 0, 0, time.UTC)
	steps := []struct {
		name      string
		build     func() Build
		wantAdded bool
	}{
		{"first publish", func() Build { return b }, true},
		{"re-run of the same build", func() Build { return b }, false},
		{"same revision, another system", func() Build {
			o := b
			o.System = "aarch64-darwin"
			return o
		}, true},
		{"next revision", func() Build {
			o := b
			o.Source.Rev = rev(2)
			return o
		}, true},
		{"re-run with other outputs keeps the first record", func() Build {
			o := b
			o.Outputs = []Output{{Name: "out", StorePath: "/nix/store/ffffffffffffffffffffffffffffffff-hello-1.2.3"}}
			return o
		}, false},
	}
	for _, st := range steps {
		added, err := idx.Record(ctx, st.build())
		if err != nil || added != st.wantAdded {
			t.Errorf("%s: Record = %v, %v; want %v", st.name, added, err, st.wantAdded)
		}
	}

	e, err := idx.Lookup(ctx, target)
	if err != nil || e == nil {
		t.Fatalf("Lookup: %+v, %v", e, err)
	}
	want := Entry{
		Version:              "1.2.3",
		System:               "x86_64-linux",
		Outputs:              b.Outputs,
		DrvPath:              b.DrvPath,
		SourceURL:            "https://github.com/acme/hello.git",
		Rev:                  testRev,
		Ref:                  "v1.2.3",
		RevCount:             42,
		RevDate:              time.Date(2026, 4, 1, 10, 30, 0, 0, time.UTC),
		LockedBaseCatalogURL: b.LockedBaseCatalogURL,
		PublishedAt:          b.PublishedAt,
		RunURL:               "https://github.com/acme/hello/actions/runs/1",
		KeyName:              "acme-1",
	}
	if g, w := fmt.Sprintf("%+v", *e), fmt.Sprintf("%+v", want); g != w {
		t.Errorf("entry\n got %s\nwant %s", g, w)
	}

	other := target
	other.System = "x86_64-darwin"
	if e, err := idx.Lookup(ctx, other); err != nil || e != nil {
		t.Errorf("Lookup of an unpublished system: %+v, %v; want nothing", e, err)
	}

	// The object is plain JSON a person can read, with every build.
	raw, err := os.ReadFile(filepath.Join(s.Root(), "catalog", "acme", "hello.json"))
	if err != nil {
		t.Fatal(err)
	}
	var obj indexObject
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	if obj.Schema != 1 || obj.Catalog != "acme" || obj.Package != "hello" || len(obj.Builds) != 3 {
		t.Errorf("index object: schema %d, %s/%s, %d builds; want 1, acme/hello, 3", obj.Schema, obj.Catalog, obj.Package, len(obj.Builds))
	}
	if strings.Contains(string(raw), "ghs_notforthecatalog") {
		t.Error("the index holds the remote URL's credentials")
	}
}

// TestIndexConcurrentRecords has runs record at once, in one process:
// several publishing the same package (different revisions), several
// publishing other packages, and several re-running one build.
func TestIndexConcurrentRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	type run struct {
		pkg string
		rev string
	}
	var runs []run
	for i := range 8 {
		runs = append(runs, run{"hello", rev(100 + i)})
	}
	for i := range 4 {
		runs = append(runs, run{fmt.Sprintf("other-%d", i), rev(200)})
	}
	for range 4 {
		runs = append(runs, run{"rerun", rev(300)})
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	added := map[string]int{}
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each run opens the store itself, as separate runs do.
			idx := newTestIndex(t, openTestStore(t, dir))
			b := testBuild(testTarget())
			b.Package, b.Source.Rev = r.pkg, r.rev
			ok, err := idx.Record(ctx, b)
			if err != nil {
				t.Errorf("%s at %s: %v", r.pkg, r.rev, err)
				return
			}
			if ok {
				mu.Lock()
				added[r.pkg]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	idx := newTestIndex(t, openTestStore(t, dir))
	for _, r := range runs {
		target := testTarget()
		target.Package, target.Source.Rev = r.pkg, r.rev
		if e, err := idx.Lookup(ctx, target); err != nil || e == nil {
			t.Errorf("%s at %s is not recorded: %v", r.pkg, r.rev, err)
		}
	}
	if added["hello"] != 8 || added["rerun"] != 1 {
		t.Errorf("added %v: want all 8 hello builds and the re-run build once", added)
	}
	if n := len(readIndex(t, dir, "rerun").Builds); n != 1 {
		t.Errorf("the re-run build is recorded %d times", n)
	}
}

// TestIndexConcurrentProcesses has runs, each its own process, record
// builds of the same package at once; all must end up in the index.
func TestIndexConcurrentProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	revs := []string{rev(1), rev(2), rev(3), rev(4)}
	runPublishers(t, "file://"+dir, "", revs)
	var got []string
	for _, e := range readIndex(t, dir, "hello").Builds {
		got = append(got, e.Rev)
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(revs, " ") {
		t.Errorf("recorded revisions %q, want %q", got, revs)
	}
}

func readIndex(t *testing.T, dir, pkg string) indexObject {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "catalog", "acme", pkg+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var obj indexObject
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func TestIndexRefusesWhatItCannotRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		wantIn  string
	}{
		{"not JSON", "<html>", "is not a catalog index"},
		{"a newer layout", `{"schema": 2, "catalog": "acme", "package": "hello", "builds": []}`, "newer version of this action"},
		{"another package's index", `{"schema": 1, "catalog": "acme", "package": "other", "builds": []}`, "index of acme/other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := filepath.Join(dir, "catalog", "acme", "hello.json")
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			idx := newTestIndex(t, openTestStore(t, dir))
			_, err := idx.Record(context.Background(), testBuild(testTarget()))
			if err == nil || !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("Record: got %v, want an error with %q", err, tt.wantIn)
			}
			if after, _ := os.ReadFile(p); string(after) != tt.content {
				t.Errorf("the index was rewritten: %s", after)
			}
		})
	}
}

func TestIndexValidation(t *testing.T) {
	t.Parallel()
	idx := newTestIndex(t, openTestStore(t, t.TempDir()))
	for _, change := range []func(*Target){
		func(t *Target) { t.Catalog = "../x" },
		func(t *Target) { t.Package = "../../etc/passwd" },
		func(t *Target) { t.Package = ".." },
		func(t *Target) { t.Source.Rev = "HEAD" },
		func(t *Target) { t.System = "" },
	} {
		target := testTarget()
		change(&target)
		if _, err := idx.Lookup(context.Background(), target); err == nil {
			t.Errorf("Lookup(%+v) accepted", target)
		}
		if _, err := idx.Record(context.Background(), testBuild(target)); err == nil {
			t.Errorf("Record(%+v) accepted", target)
		}
	}
}

// plainStore is a store without conditional writes.
type plainStore struct{ store.Store }

func TestNewIndexNeedsConditionalWrites(t *testing.T) {
	t.Parallel()
	_, err := NewIndex(plainStore{openTestStore(t, t.TempDir())})
	if err == nil || !strings.Contains(err.Error(), "conditionally") {
		t.Errorf("NewIndex of a store without conditional writes: %v", err)
	}
}

// conflictingStore answers ErrConflict to every conditional write, as a
// store would under endless contention.
type conflictingStore struct {
	*store.File
	puts int
}

func (c *conflictingStore) PutIf(ctx context.Context, key string, data []byte, contentType, ifVersion string) error {
	c.puts++
	return fmt.Errorf("%s: %w", key, store.ErrConflict)
}

func TestIndexGivesUpOnEndlessConflicts(t *testing.T) {
	t.Parallel()
	s := &conflictingStore{File: openTestStore(t, t.TempDir())}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := newTestIndex(t, s).Record(ctx, testBuild(testTarget()))
	if !errors.Is(err, store.ErrConflict) && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Record under endless conflicts: %v", err)
	}
	if s.puts < 2 {
		t.Errorf("%d conditional writes: a conflict must be retried", s.puts)
	}
}
