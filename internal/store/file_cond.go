package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

var _ Conditional = (*File)(nil)

// GetVersion reads the object at key. Its version is the hex sha256 of its
// content rather than its mtime and inode: a rename can reuse the inode of
// the file it replaced and mtimes are coarse on some file systems, so two
// different contents could share an mtime+inode version and a writer would
// overwrite a record it never read. With a content hash, equal versions
// mean equal bytes, so a conditional write never loses anything.
func (f *File) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, "", err
	}
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("%s: %w", p, ErrNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", p, err)
	}
	return data, contentVersion(data), nil
}

// PutIf replaces the object at key with data if its version is still
// ifVersion ("" meaning it must not exist). Writers serialise on an
// exclusive flock of the object's directory; readers take no lock,
// because the new content arrives by rename and a reader sees either the
// old file or the new one, never a partial write.
//
// The directory, not a lock file beside the object, because a lock file
// would have to stay behind (removing it lets a writer that opened the old
// one and a writer that created a new one hold "the" lock at once), and a
// served cache would hold an empty ".<key>.lock" for every such object.
// The directory is never replaced, so its lock is the same for every
// writer; the objects written this way are few and small, so writers of
// different objects in one directory waiting for each other costs nothing.
func (f *File) PutIf(ctx context.Context, key string, data []byte, contentType, ifVersion string) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	unlock, err := lockDir(ctx, dir)
	if err != nil {
		return fmt.Errorf("lock %s: %w", p, err)
	}
	defer unlock()

	current, err := os.ReadFile(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if ifVersion != "" {
			return fmt.Errorf("%s was removed since it was read: %w", p, ErrConflict)
		}
	case err != nil:
		return fmt.Errorf("read %s: %w", p, err)
	case ifVersion == "":
		return fmt.Errorf("%s was created since it was read: %w", p, ErrConflict)
	case contentVersion(current) != ifVersion:
		return fmt.Errorf("%s: %w", p, ErrConflict)
	}

	if _, err := writeAtomic(context.WithoutCancel(ctx), dir, p, bytes.NewReader(data), nil, false); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

func contentVersion(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// lockDir takes an exclusive flock on the directory dir, polling so that a
// cancelled context stops the wait (a blocking flock cannot be interrupted).
func lockDir(ctx context.Context, dir string) (unlock func(), err error) {
	lf, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	delay := time.Millisecond
	for {
		err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			lf.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			lf.Close()
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
	return func() {
		// Closing the descriptor releases the lock too; the explicit unlock
		// just makes the release not depend on that.
		_ = syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
		lf.Close()
	}, nil
}
