//go:build unix

package publish

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestScratchOfKilledRunsIsSwept(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	mk := func(name string, lock bool) string {
		dir := filepath.Join(tmp, name)
		os.MkdirAll(filepath.Join(dir, "src"), 0o755)
		if lock {
			os.WriteFile(filepath.Join(dir, lockName), nil, 0o600)
		}
		return dir
	}
	mk("flox-publish-run-killed", true)               // a killed run's: its lock is free
	mk(".new-flox-publish-run-killed", true)          // killed before the rename
	young := mk(".new-flox-publish-run-young", false) // about to be locked: kept
	old := mk(".new-flox-publish-run-old", false)     // a minute old, never locked
	past := time.Now().Add(-2 * stagingAge)
	os.Chtimes(old, past, past)
	running, lock, removed, err := newScratch()
	if err != nil || removed != 3 {
		t.Fatalf("first run: removed %d, err %v; want the killed run's directory removed", removed, err)
	}
	defer lock.Close()
	mk("flox-publish-run-nolock", false) // not made by this code: kept
	mk("flox-publish-build", true)       // the local builder's root: kept
	mk("other-tool-123", true)           // not ours: kept

	second, lock2, removed, err := newScratch()
	if err != nil {
		t.Fatal(err)
	}
	defer lock2.Close()
	if removed != 0 {
		t.Errorf("the second run removed %d directories, want 0 (the first already swept the killed one)", removed)
	}
	var names []string
	for _, e := range must(os.ReadDir(tmp)) {
		names = append(names, e.Name())
	}
	want := []string{filepath.Base(running), filepath.Base(second), filepath.Base(young), "flox-publish-build", "flox-publish-run-nolock", "other-tool-123"}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("TMPDIR holds %v, want %v", names, want)
	}

	// Once the first run's lock is free, the next run removes its directory.
	lock.Close()
	var lock3 *os.File
	_, lock3, removed, err = newScratch()
	if err != nil {
		t.Fatal(err)
	}
	defer lock3.Close()
	if removed != 1 {
		t.Errorf("removed %d, want 1", removed)
	}
	if _, err := os.Stat(running); !os.IsNotExist(err) {
		t.Errorf("the stopped run's scratch is still there: %v", err)
	}
	if _, err := os.Stat(second); err != nil {
		t.Errorf("a running run's scratch was removed: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
