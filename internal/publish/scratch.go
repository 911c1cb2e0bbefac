package publish

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// scratchPrefix names the scratch directories of runs in TMPDIR; nothing
// else of the action's is named so (the local builder's root and the Nix
// daemon's socket directory may be in TMPDIR too).
const scratchPrefix = "flox-publish-run-"

// newScratch makes the run's scratch directory in TMPDIR, locked for as
// long as the run holds the returned file open, and first removes the
// scratch directories of killed runs: those whose lock nobody holds (a
// lock dies with its process, SIGKILL included). A running run's
// directory is never touched. The directory is made under a name the
// sweep ignores and renamed once locked, so a sweep never sees it
// unlocked.
func newScratch() (dir string, lock *os.File, removed int, err error) {
	tmp := os.TempDir()
	removed = sweepScratch(tmp)
	staging, err := os.MkdirTemp(tmp, ".new-"+scratchPrefix)
	if err != nil {
		return "", nil, removed, err
	}
	lock, err = lockDir(staging)
	if err != nil {
		os.RemoveAll(staging)
		return "", nil, removed, err
	}
	dir = filepath.Join(tmp, strings.TrimPrefix(filepath.Base(staging), ".new-"))
	if err := os.Rename(staging, dir); err != nil {
		lock.Close()
		os.RemoveAll(staging)
		return "", nil, removed, err
	}
	return dir, lock, removed, nil
}

// stagingAge is how old a staging directory without a lock file must be
// to be swept: younger, it may be a run's that is about to lock it.
const stagingAge = time.Minute

// sweepScratch removes the scratch directories in tmp that no run holds,
// and says how many it removed.
func sweepScratch(tmp string) int {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		staging := strings.HasPrefix(e.Name(), ".new-"+scratchPrefix)
		if !e.IsDir() || !staging && !strings.HasPrefix(e.Name(), scratchPrefix) {
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		if !ownedByMe(dir) {
			continue
		}
		f, err := tryLockDir(dir, !staging)
		if f == nil && err == nil && staging {
			if fi, err := os.Stat(dir); err == nil && time.Since(fi.ModTime()) > stagingAge && !hasLock(dir) && os.RemoveAll(dir) == nil {
				n++
			}
			continue
		}
		if err != nil || f == nil {
			continue // held by a running run, or not ours to judge
		}
		if os.RemoveAll(dir) == nil {
			n++
		}
		f.Close()
	}
	return n
}

func hasLock(dir string) bool {
	_, err := os.Lstat(filepath.Join(dir, lockName))
	return err == nil
}
