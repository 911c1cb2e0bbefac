// Package workspace leaves the workspace as the runner left it.
//
// The action runs as root in its container, on a workspace that belongs to
// the runner's user (uid 1001 on GitHub's runners). What it writes there —
// git's index and objects while verifying, a file:// cache — would belong
// to root, which a self-hosted runner's next checkout cannot clean. And
// verification may deepen a shallow checkout into a partial clone (a
// promisor remote in .git/config), which the user did not ask for.
//
// Snapshot is taken before anything touches the workspace; Restore, run on
// every exit, gives every path root created or changed there to the
// workspace's owner and undoes the deepening.
package workspace

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Snapshot is the workspace's state before the run.
type Snapshot struct {
	dir      string
	uid, gid int
	// rootOwned are the paths that already belonged to the action's uid.
	rootOwned map[string]bool
	gitDir    string
	config    []byte // .git/config, nil when absent
	shallow   []byte // .git/shallow, nil when absent (not shallow)
}

// Take records dir's owner, which of its paths the action's uid owns, and
// the checkout's git config and shallow boundary. Outside a container
// (dir owned by the action's own uid) there is nothing to give back, but
// the deepening is still undone.
func Take(dir string) (*Snapshot, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return nil, fmt.Errorf("workspace %s: %w", dir, err)
	}
	s := &Snapshot{dir: dir, uid: int(st.Uid), gid: int(st.Gid), rootOwned: map[string]bool{}}
	if s.uid != os.Geteuid() {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // unreadable parts stay as they are
			}
			if owner(p) == os.Geteuid() {
				s.rootOwned[p] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	s.gitDir = filepath.Join(dir, ".git")
	s.config = readOrNil(filepath.Join(s.gitDir, "config"))
	s.shallow = readOrNil(filepath.Join(s.gitDir, "shallow"))
	return s, nil
}

// Result is what Restore did, for the report.
type Result struct {
	// Chowned is how many paths were given to the workspace's owner.
	Chowned int
	// Owner is the workspace's owner uid.
	Owner int
	// Undeepened says the checkout had been deepened (and made a partial
	// clone) and is shallow again, with its git config as it was.
	Undeepened bool
}

// Restore gives the workspace's owner every path under it that the
// action's uid owns now but did not before, and puts back .git/config and
// .git/shallow when verification changed them: the commits fetched while
// deepening stay in the object store, unreachable past the restored
// shallow boundary, and git's gc removes them.
func (s *Snapshot) Restore() (Result, error) {
	res := Result{Owner: s.uid}
	var errs []error
	if s.shallow != nil {
		now := readOrNil(filepath.Join(s.gitDir, "shallow"))
		cfg := readOrNil(filepath.Join(s.gitDir, "config"))
		if !bytes.Equal(now, s.shallow) || !bytes.Equal(cfg, s.config) {
			if err := os.WriteFile(filepath.Join(s.gitDir, "shallow"), s.shallow, 0o644); err != nil {
				errs = append(errs, err)
			}
			if s.config != nil {
				if err := os.WriteFile(filepath.Join(s.gitDir, "config"), s.config, 0o644); err != nil {
					errs = append(errs, err)
				}
			}
			res.Undeepened = true
		}
	}
	if s.uid != os.Geteuid() {
		err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if owner(p) == os.Geteuid() && !s.rootOwned[p] {
				if err := os.Lchown(p, s.uid, s.gid); err != nil {
					errs = append(errs, err)
					return nil
				}
				res.Chowned++
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("give the workspace %s back to uid %d: %w", s.dir, s.uid, err)
	}
	return res, nil
}

func owner(p string) int {
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		return -1
	}
	return int(st.Uid)
}

func readOrNil(p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	return b
}
