package publish

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// scratchPrefix names the scratch directories of runs in TMPDIR; nothing
// else of the action's is named so (the local builder's root and the Nix
// daemon's socket directory may be in TMPDIR too). A directory is made as
// stagingPrefix+random, locked, then renamed to scratchPrefix+random.
const (
	scratchPrefix = "flox-publish-run-"
	stagingPrefix = ".new-" + scratchPrefix
)

// newScratch makes the run's scratch directory in TMPDIR, locked for as
// long as the run holds the returned file open, and first removes the
// scratch directories of runs that are gone (see sweepScratch). Runs on
// one host, started together, never remove each other's: a directory
// carries its lock from before it has its final name, and a sweep removes
// a directory only once it holds that lock itself and has proof that the
// owner held it first (see the sweep).
func newScratch() (dir string, lock *os.File, removed int, err error) {
	tmp := os.TempDir()
	removed = sweepScratch(tmp)
	// A sweep removes a staging directory under its owner only when the
	// owner took a minute between making it and locking it; the owner
	// then sees its lock file gone and starts again.
	for attempt := 1; ; attempt++ {
		dir, lock, err = makeScratch(tmp)
		if !errors.Is(err, errLockLost) || attempt == 3 {
			return dir, lock, removed, err
		}
	}
}

// errLockLost: the staging directory was swept before its lock was held.
var errLockLost = errors.New("the staging directory was removed before it was locked")

// makeScratch makes and locks one staging directory and gives it its
// final name.
func makeScratch(tmp string) (string, *os.File, error) {
	staging, err := os.MkdirTemp(tmp, stagingPrefix)
	if err != nil {
		return "", nil, err
	}
	lock, err := lockNew(staging)
	if err != nil {
		os.RemoveAll(staging)
		return "", nil, err
	}
	dir := filepath.Join(tmp, strings.TrimPrefix(filepath.Base(staging), ".new-"))
	if err := os.Rename(staging, dir); err != nil {
		lock.Close()
		os.RemoveAll(staging)
		return "", nil, err
	}
	return dir, lock, nil
}

// stagingAge is how old a staging directory whose lock holds no owner
// must be to be swept: younger, it may be a run's that is about to lock
// it. A run takes microseconds between the two.
const stagingAge = time.Minute

// sweepScratch removes the scratch directories in tmp whose run is
// provably gone, and says how many it removed. For each, in this order:
// its lock is taken (a run holds its own lock for as long as it lives,
// and a lock dies with its process, SIGKILL included), then
//
//   - a directory with its final name is gone for good: it was renamed
//     only once its run held the lock;
//   - a staging directory whose lock file names an owner is too: the
//     owner writes its name only once it holds the lock;
//   - a staging directory without a lock file, or whose lock file is
//     still empty, may be a run's between its mkdir and its lock, and is
//     removed only once it is older than stagingAge.
//
// Directories of other users, and those without a lock file under their
// final name (not made by this code), are left alone.
func sweepScratch(tmp string) int {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		staging := strings.HasPrefix(e.Name(), stagingPrefix)
		if !e.IsDir() || !staging && !strings.HasPrefix(e.Name(), scratchPrefix) {
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		if !ownedByMe(dir) {
			continue
		}
		if sweepOne(dir, staging) {
			n++
		}
	}
	return n
}

// sweepOne removes dir if its run is gone (see sweepScratch).
func sweepOne(dir string, staging bool) bool {
	f, owner, err := tryLockDir(dir)
	switch {
	case err != nil:
		return false // not ours to judge
	case f == nil && errors.Is(owner, os.ErrNotExist):
		// No lock file: a staging directory may be about to get one.
		return staging && olderThan(dir, stagingAge) && os.RemoveAll(dir) == nil
	case f == nil:
		return false // held: a live run's
	}
	defer f.Close()
	if staging && owner != nil && !olderThan(dir, stagingAge) {
		return false // no owner written yet: its run may be about to lock it
	}
	return os.RemoveAll(dir) == nil
}

func olderThan(dir string, age time.Duration) bool {
	fi, err := os.Stat(dir)
	return err == nil && time.Since(fi.ModTime()) > age
}

// ownerLine is what a run writes into its lock file once it holds it.
func ownerLine() string { return fmt.Sprintf("pid %d\n", os.Getpid()) }
