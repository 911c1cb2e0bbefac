package catalog

import (
	"context"
	"encoding/json"
	"fmt"
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
	loc, err := store.ParseLocation(storeURL)
	if err != nil {
		return err
	}
	s, err := store.Open(context.Background(), loc, opts)
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
	s, err := store.OpenFile(dir)
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
		Record:               "catalog/acme/hello/x86_64-linux/" + testRev + ".json",
	}
	if g, w := fmt.Sprintf("%+v", *e), fmt.Sprintf("%+v", want); g != w {
		t.Errorf("entry\n got %s\nwant %s", g, w)
	}

	other := target
	other.System = "x86_64-darwin"
	if e, err := idx.Lookup(ctx, other); err != nil || e != nil {
		t.Errorf("Lookup of an unpublished system: %+v, %v; want nothing", e, err)
	}

	// Each build is a plain JSON object of its own, which a listing finds.
	keys, err := s.List(ctx, "catalog/")
	if err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{
		"catalog/acme/hello.json",
		"catalog/acme/hello/aarch64-darwin/" + testRev + ".json",
		"catalog/acme/hello/x86_64-linux/" + rev(2) + ".json",
		"catalog/acme/hello/x86_64-linux/" + testRev + ".json",
	}
	if strings.Join(keys, "\n") != strings.Join(wantKeys, "\n") {
		t.Errorf("keys\n%s\nwant\n%s", strings.Join(keys, "\n"), strings.Join(wantKeys, "\n"))
	}
	entries, err := idx.Entries(ctx, "acme", "hello")
	if err != nil || len(entries) != 3 {
		t.Errorf("Entries: %d, %v; want 3", len(entries), err)
	}
	// The summary is derived from them, for people.
	sum := readSummary(t, s.Root(), "hello")
	if sum.Schema != 2 || sum.Catalog != "acme" || sum.Package != "hello" || len(sum.Builds) != 3 || sum.Note == "" {
		t.Errorf("summary: schema %d, %s/%s, %d builds, note %q; want 2, acme/hello, 3 and a note", sum.Schema, sum.Catalog, sum.Package, len(sum.Builds), sum.Note)
	}
	for _, k := range wantKeys {
		raw, _ := os.ReadFile(filepath.Join(s.Root(), filepath.FromSlash(k)))
		if strings.Contains(string(raw), "ghs_notforthecatalog") {
			t.Errorf("%s holds the remote URL's credentials", k)
		}
	}
}

// TestIndexConcurrentRecords has runs record at once, in one process:
// several publishing the same package (different revisions), several
// publishing other packages, and several re-running one build.
func TestIndexConcurrentRecords(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		open func(t *testing.T, dir string) store.Store
	}{
		{"conditional writes", func(t *testing.T, dir string) store.Store { return openTestStore(t, dir) }},
		// What s3rver and some S3-compatibles do: accept If-None-Match and
		// write anyway.
		{"conditions ignored", func(t *testing.T, dir string) store.Store { return ignoringStore{openTestStore(t, dir)} }},
		{"no conditional writes", func(t *testing.T, dir string) store.Store {
			f := openTestStore(t, dir)
			return listingStore{f, f}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
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
					idx := newTestIndex(t, tc.open(t, dir))
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

			idx := newTestIndex(t, tc.open(t, dir))
			for _, r := range runs {
				target := testTarget()
				target.Package, target.Source.Rev = r.pkg, r.rev
				if e, err := idx.Lookup(ctx, target); err != nil || e == nil {
					t.Errorf("%s at %s is not recorded: %v", r.pkg, r.rev, err)
				}
			}
			if added["hello"] != 8 || added["rerun"] < 1 {
				t.Errorf("added %v: want all 8 hello builds and the re-run build at least once", added)
			}
			if tc.name == "conditional writes" && added["rerun"] != 1 {
				t.Errorf("the re-run build was added %d times on a store that honours If-None-Match", added["rerun"])
			}
			if got := entryRevs(t, idx, "hello"); got != revList(100, 8) {
				t.Errorf("hello's entries %s, want %s", got, revList(100, 8))
			}
			if n := len(mustEntries(t, idx, "rerun")); n != 1 {
				t.Errorf("the re-run build is listed %d times", n)
			}
		})
	}
}

// TestIndexConcurrentProcesses has runs, each its own process, record
// builds of the same package at once; all must end up in the index.
func TestIndexConcurrentProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	revs := []string{rev(1), rev(2), rev(3), rev(4)}
	runPublishers(t, "file://"+dir, "", revs)
	idx := newTestIndex(t, openTestStore(t, dir))
	if got := entryRevs(t, idx, "hello"); got != strings.Join(revs, " ") {
		t.Errorf("recorded revisions %q, want %q", got, revs)
	}
}

// TestIndexSummaryLosesNothing: the summary is a cache. Deleted, stale or
// garbled, the index still has every build, and the next publish writes it
// anew.
func TestIndexSummaryLosesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, damage := range []struct {
		name string
		do   func(path string) error
	}{
		{"deleted", os.Remove},
		{"garbled", func(p string) error { return os.WriteFile(p, []byte("<html>"), 0o644) }},
		{"stale", func(p string) error {
			return os.WriteFile(p, []byte(`{"schema":2,"catalog":"acme","package":"hello","builds":[]}`), 0o644)
		}},
	} {
		t.Run(damage.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			idx := newTestIndex(t, openTestStore(t, dir))
			for n := range 3 {
				b := testBuild(testTarget())
				b.Source.Rev = rev(n + 1)
				if _, err := idx.Record(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			if err := damage.do(filepath.Join(dir, "catalog", "acme", "hello.json")); err != nil {
				t.Fatal(err)
			}
			if got := entryRevs(t, idx, "hello"); got != revList(1, 3) {
				t.Errorf("entries after the summary was %s: %s, want %s", damage.name, got, revList(1, 3))
			}
			target := testTarget()
			target.Source.Rev = rev(2)
			if e, err := idx.Lookup(ctx, target); err != nil || e == nil {
				t.Errorf("Lookup after the summary was %s: %v, %v", damage.name, e, err)
			}
			b := testBuild(testTarget())
			b.Source.Rev = rev(4)
			if _, err := idx.Record(ctx, b); err != nil {
				t.Fatal(err)
			}
			if n := len(readSummary(t, dir, "hello").Builds); n != 4 {
				t.Errorf("the summary written anew has %d builds, want 4", n)
			}
		})
	}
}

// TestIndexCarriesOverTheOneObjectIndex: builds recorded by earlier
// versions in one object per package are found, and the next publish
// writes them as records of their own.
func TestIndexCarriesOverTheOneObjectIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	old := testBuild(testTarget())
	old.Source.Rev = rev(7)
	e1, err := newEntry(old)
	if err != nil {
		t.Fatal(err)
	}
	e2 := e1
	e2.System = "aarch64-linux"
	data, _ := json.Marshal(summaryObject{Schema: 1, Catalog: "acme", Package: "hello", Builds: []Entry{e1, e2}})
	p := filepath.Join(dir, "catalog", "acme", "hello.json")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	idx := newTestIndex(t, openTestStore(t, dir))
	if e, err := idx.Lookup(ctx, old.Target); err != nil || e == nil || e.Rev != rev(7) {
		t.Fatalf("Lookup of a build in the one-object index: %+v, %v", e, err)
	}
	if added, err := idx.Record(ctx, old); err != nil || added {
		t.Errorf("Record of a build the one-object index has: %v, %v; want not added", added, err)
	}
	for _, system := range []string{"x86_64-linux", "aarch64-linux"} {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(RecordKey("acme", "hello", system, rev(7))))); err != nil {
			t.Errorf("the earlier index's %s entry was not carried over: %v", system, err)
		}
	}
	if entries := mustEntries(t, idx, "hello"); len(entries) != 2 {
		t.Errorf("%d entries, want 2", len(entries))
	}
	sum := readSummary(t, dir, "hello")
	if sum.Schema != 2 || len(sum.Builds) != 2 || sum.Builds[0].Record == "" {
		t.Errorf("summary after the carry-over: %+v", sum)
	}
}

func TestIndexRefusesWhatItCannotRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		wantIn  string
	}{
		{"not JSON", "<html>", "is not a catalog record"},
		{"a newer layout", `{"schema": 3, "catalog": "acme", "package": "hello", "system": "x86_64-linux", "rev": "` + testRev + `"}`, "newer version of this action"},
		{"another package's record", `{"schema": 2, "catalog": "acme", "package": "other", "system": "x86_64-linux", "rev": "` + testRev + `"}`, "record of acme/other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := filepath.Join(dir, filepath.FromSlash(RecordKey("acme", "hello", "x86_64-linux", testRev)))
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
				t.Errorf("the record was rewritten: %s", after)
			}
			// A listing leaves it out and says so, rather than fail.
			if entries := mustEntries(t, idx, "hello"); len(entries) != 0 {
				t.Errorf("entries %+v, want none", entries)
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
	if _, err := idx.Entries(context.Background(), "acme", ".."); err == nil {
		t.Error("Entries of package .. accepted")
	}
}

// plainStore is a store that can neither list nor write conditionally.
type plainStore struct{ store.Store }

// listingStore lists but has no conditional writes.
type listingStore struct {
	store.Store
	store.Lister
}

// ignoringStore takes conditional writes and ignores the condition, as
// s3rver does.
type ignoringStore struct{ *store.File }

func (i ignoringStore) PutIf(ctx context.Context, key string, data []byte, contentType, _ string) error {
	_, err := i.File.Put(ctx, key, strings.NewReader(string(data)), contentType)
	return err
}

func TestNewIndexNeedsListing(t *testing.T) {
	t.Parallel()
	_, err := NewIndex(plainStore{openTestStore(t, t.TempDir())})
	if err == nil || !strings.Contains(err.Error(), "cannot list") {
		t.Errorf("NewIndex of a store that cannot list: %v", err)
	}
	if _, ok := any(listingStore{}).(store.Conditional); ok {
		t.Fatal("listingStore is conditional")
	}
}

// conflictingStore answers ErrConflict to every conditional write, as a
// store does when another run wrote the record first.
type conflictingStore struct {
	*store.File
	puts int
}

func (c *conflictingStore) PutIf(ctx context.Context, key string, data []byte, contentType, ifVersion string) error {
	c.puts++
	return fmt.Errorf("%s: %w", key, store.ErrConflict)
}

func TestIndexConflictMeansRecordedFirst(t *testing.T) {
	t.Parallel()
	s := &conflictingStore{File: openTestStore(t, t.TempDir())}
	added, err := newTestIndex(t, s).Record(context.Background(), testBuild(testTarget()))
	if err != nil || added {
		t.Errorf("Record on a conflict: %v, %v; want not added, no error", added, err)
	}
	if s.puts != 1 {
		t.Errorf("%d conditional writes: a record is written once, never retried over another", s.puts)
	}
}

func readSummary(t *testing.T, dir, pkg string) summaryObject {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "catalog", "acme", pkg+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var obj summaryObject
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func mustEntries(t *testing.T, idx *Index, pkg string) []Entry {
	t.Helper()
	entries, err := idx.Entries(context.Background(), "acme", pkg)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// entryRevs lists the index's revisions of pkg, sorted.
func entryRevs(t *testing.T, idx *Index, pkg string) string {
	t.Helper()
	var revs []string
	for _, e := range mustEntries(t, idx, pkg) {
		revs = append(revs, e.Rev)
	}
	sort.Strings(revs)
	return strings.Join(revs, " ")
}

func revList(from, n int) string {
	var revs []string
	for k := range n {
		revs = append(revs, rev(from+k))
	}
	return strings.Join(revs, " ")
}
