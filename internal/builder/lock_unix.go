//go:build unix

package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockRoot takes the exclusive lock of root, waiting (within ctx) while
// another run builds there: two runs on one machine share the fixed paths,
// so they take turns. The lock dies with the process that holds it, so a
// killed run never leaves it held.
func lockRoot(ctx context.Context, root string, log io.Writer) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(root, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", root, err)
		}
		if !told {
			fmt.Fprintf(log, "Waiting for another build using %s to finish\n", root)
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, context.Cause(ctx)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkRoot refuses a root another user could have prepared: the build's
// output is read from it, so only this user may write there.
func checkRoot(root string) error {
	fi, err := os.Lstat(root)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", root)
	case ok && int(st.Uid) != os.Getuid():
		return fmt.Errorf("%s belongs to user %d, not to this user (%d)", root, st.Uid, os.Getuid())
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s is writable by other users (mode %v)", root, fi.Mode().Perm())
	}
	return nil
}
