package catalog

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// TestOneCommitFromThreeJobs is the release of one commit by the example
// workflow's three jobs (examples/workflows/release-all-systems.yml): a
// Linux x64 runner, a Linux arm64 runner and a macOS runner, each
// recording its own system's build of the commit into one store at once.
// The catalog keeps the three records side by side, one per system, and
// the package's summary lists them all.
func TestOneCommitFromThreeJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	systems := []string{"x86_64-linux", "aarch64-linux", "aarch64-darwin"}
	var wg sync.WaitGroup
	for i, sys := range systems {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each job has its own index on the shared store, as each
			// runner has its own process.
			idx := newTestIndex(t, openTestStore(t, dir))
			target := testTarget()
			target.System = sys
			b := testBuild(target)
			b.Outputs = []Output{{Name: "out", StorePath: "/nix/store/" + string(rune('a'+i)) + "bcdefghijklmnopqrstuvwxyzabcdef-hello-1.2.3"}}
			if added, err := idx.Record(ctx, b); err != nil || !added {
				t.Errorf("job on %s: Record = %v, %v", sys, added, err)
			}
		}()
	}
	wg.Wait()
	idx := newTestIndex(t, openTestStore(t, dir))
	entries, err := idx.Entries(ctx, testCatalog, "hello")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if e.Rev != testRev {
			t.Errorf("entry of rev %s, want %s", e.Rev, testRev)
		}
		got = append(got, e.System)
		// Each record is the object of its system.
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(RecordKey(testCatalog, "hello", e.System, testRev))))
		if err != nil {
			t.Errorf("the record of %s: %v", e.System, err)
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(data, &rec); err != nil {
			t.Errorf("the record of %s: %v", e.System, err)
		}
	}
	slices.Sort(got)
	want := slices.Clone(systems)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the catalog has %v for one commit, want the three jobs' %v", got, want)
	}
	for _, sys := range systems {
		e, err := idx.Lookup(ctx, Target{Catalog: testCatalog, Package: "hello", System: sys, Source: Source{Rev: testRev}})
		if err != nil || e == nil || e.System != sys {
			t.Errorf("Lookup of %s: %+v, %v", sys, e, err)
		}
	}
	if err := idx.Summarize(ctx, testCatalog, "hello"); err != nil {
		t.Fatal(err)
	}
	summary, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(IndexKey(testCatalog, "hello"))))
	if err != nil {
		t.Fatal(err)
	}
	for _, sys := range systems {
		if !json.Valid(summary) || !slices.Contains(systemsIn(t, summary), sys) {
			t.Errorf("the package summary does not list %s:\n%s", sys, summary)
		}
	}
}

// systemsIn returns the system of each entry of a summary object.
func systemsIn(t *testing.T, summary []byte) []string {
	t.Helper()
	var s struct {
		Builds []struct {
			System string `json:"system"`
		} `json:"builds"`
	}
	if err := json.Unmarshal(summary, &s); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range s.Builds {
		out = append(out, e.System)
	}
	return out
}
