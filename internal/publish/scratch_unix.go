//go:build unix

package publish

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

const lockName = ".lock"

// lockWait bounds how long a run waits for the lock of the directory it
// just made: a sweep holds it for as long as it takes to look at it.
const lockWait = 5 * time.Second

// lockNew takes the lock of a directory just made: it creates the lock
// file, waits for its lock (a sweep may hold it a moment), checks that the
// file is still the directory's (a sweep may have removed the directory
// meanwhile: errLockLost), and writes the owner into it, which tells a
// later sweep that the lock was held.
func lockNew(dir string) (*os.File, error) {
	name := filepath.Join(dir, lockName)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errLockLost
		}
		return nil, err
	}
	deadline := time.Now().Add(lockWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		time.Sleep(time.Millisecond)
	}
	held, err1 := f.Stat()
	linked, err2 := os.Lstat(name)
	if err1 != nil || err2 != nil || !os.SameFile(held, linked) {
		f.Close()
		return nil, errLockLost
	}
	if _, err := f.WriteString(ownerLine()); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return f, nil
}

// tryLockDir takes the lock of dir without waiting, and reads who held
// it: owner is nil when the lock file names one, os.ErrNotExist when
// there is no lock file (f is then nil), another error when the file is
// empty. f is nil, with a nil err, when another process holds the lock.
func tryLockDir(dir string) (f *os.File, owner, err error) {
	f, err = os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, os.ErrNotExist, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	if fi, err := f.Stat(); err != nil || fi.Size() == 0 {
		return f, errors.New("no owner written"), nil
	}
	return f, nil, nil
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
