//go:build unix

package publish

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestScratchOfKilledRunsIsSwept(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	mk := func(name, lock string) string {
		dir := filepath.Join(tmp, name)
		os.MkdirAll(filepath.Join(dir, "src"), 0o755)
		if lock != "-" {
			os.WriteFile(filepath.Join(dir, lockName), []byte(lock), 0o600)
		}
		return dir
	}
	past := time.Now().Add(-2 * stagingAge)
	mk("flox-publish-run-killed", "")                // a killed run's: renamed once locked, its lock is free
	mk(".new-flox-publish-run-killed", ownerLine())  // killed before the rename, after its lock
	young := mk(".new-flox-publish-run-young", "-")  // about to get its lock file: kept
	locking := mk(".new-flox-publish-run-lock", "")  // its lock file made, not yet locked: kept
	old := mk(".new-flox-publish-run-old", "-")      // a minute old, never locked
	oldEmpty := mk(".new-flox-publish-run-old2", "") // a minute old, its lock never held
	os.Chtimes(old, past, past)
	os.Chtimes(oldEmpty, past, past)
	running, lock, removed, err := newScratch()
	if err != nil || removed != 4 {
		t.Fatalf("first run: removed %d, err %v; want the killed runs' and the old staging directories removed", removed, err)
	}
	defer lock.Close()
	if data, _ := os.ReadFile(filepath.Join(running, lockName)); string(data) != ownerLine() {
		t.Errorf("the run's lock file holds %q, want its owner %q", data, ownerLine())
	}
	mk("flox-publish-run-nolock", "-") // not made by this code: kept
	mk("flox-publish-build", "")       // the local builder's root: kept
	mk("other-tool-123", ownerLine())  // not ours: kept

	second, lock2, removed, err := newScratch()
	if err != nil {
		t.Fatal(err)
	}
	defer lock2.Close()
	if removed != 0 {
		t.Errorf("the second run removed %d directories, want 0 (the first already swept the killed ones)", removed)
	}
	var names []string
	for _, e := range must(os.ReadDir(tmp)) {
		names = append(names, e.Name())
	}
	want := []string{filepath.Base(running), filepath.Base(second), filepath.Base(young), filepath.Base(locking), "flox-publish-build", "flox-publish-run-nolock", "other-tool-123"}
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

// scratchRunEnv makes the test binary a run's start: TestScratchRun makes
// a scratch directory at the time the variable names, as a run does,
// keeps it a moment, and removes it.
const scratchRunEnv = "FLOX_PUBLISH_TEST_SCRATCH_RUN"

func TestScratchRun(t *testing.T) {
	at := os.Getenv(scratchRunEnv)
	if at == "" {
		t.Skip("a helper process of TestConcurrentRunsKeepTheirScratch")
	}
	ns, _ := strconv.ParseInt(at, 10, 64)
	time.Sleep(time.Until(time.Unix(0, ns)))
	dir, lock, _, err := newScratch()
	if err != nil {
		fmt.Println("FAIL:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(filepath.Join(dir, "src"), []byte("work"), 0o644); err != nil {
		fmt.Println("FAIL: the scratch directory went away under its run:", err)
		os.Exit(1)
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(dir, "src")); err != nil {
		fmt.Println("FAIL: the scratch directory went away under its run:", err)
		os.Exit(1)
	}
	os.RemoveAll(dir)
	lock.Close()
}

// TestConcurrentRunsKeepTheirScratch starts 16 runs at the same instant
// on one TMPDIR, as self-hosted runners sharing /tmp do, round after
// round: each makes its scratch directory (sweeping the others' if it
// thinks them gone), works in it and removes it. None may fail or lose
// its directory, and none is left at the end. On main before the sweep
// took its lock first, 16 runs × 10 rounds of the action failed 4 times.
func TestConcurrentRunsKeepTheirScratch(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	tmp := t.TempDir()
	const runs, rounds = 16, 25
	failed := 0
	for round := range rounds {
		start := time.Now().Add(300 * time.Millisecond).UnixNano()
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range runs {
			cmd := exec.Command(os.Args[0], "-test.run=^TestScratchRun$", "-test.count=1")
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp, scratchRunEnv+"="+strconv.FormatInt(start, 10))
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := cmd.CombinedOutput()
				if err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
					t.Errorf("round %d: a run failed: %v\n%s", round, err, strings.TrimSpace(string(out)))
				}
			}()
		}
		wg.Wait()
	}
	left, _ := os.ReadDir(tmp)
	t.Logf("%d runs, %d at once, %d failed; %d directories left in TMPDIR", runs*rounds, runs, failed, len(left))
	for _, e := range left {
		t.Errorf("left in TMPDIR: %s", e.Name())
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
