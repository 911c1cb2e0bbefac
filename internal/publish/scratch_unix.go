//go:build unix

package publish

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

const lockName = ".lock"

// lockDir takes the lock of a directory just made.
func lockDir(dir string) (*os.File, error) {
	f, err := tryLockDir(dir, true)
	if err == nil && f == nil {
		err = fmt.Errorf("lock %s: held already", dir)
	}
	return f, err
}

// tryLockDir takes dir's lock; nil, nil when another process holds it, or
// when dir has no lock file (a directory this code did not make), unless
// dir is empty and create is set.
func tryLockDir(dir string, create bool) (*os.File, error) {
	flags := os.O_RDWR
	if entries, err := os.ReadDir(dir); create && err == nil && len(entries) == 0 {
		flags |= os.O_CREATE // a directory just made
	}
	f, err := os.OpenFile(filepath.Join(dir, lockName), flags, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, err
	}
	return f, nil
}

// ownedByMe: only this user's directories are swept.
func ownedByMe(dir string) bool {
	fi, err := os.Lstat(dir)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}
