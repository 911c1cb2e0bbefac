//go:build unix

package verify

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// restoreOwnership gives back to the repository's owner what git just
// wrote into gitDir as root. In a container action the checkout belongs to
// the runner's user; root-owned pack files and object directories left
// behind would make that user's later git commands (and the next job's
// workspace cleanup on a self-hosted runner) fail with "permission
// denied". Best effort: a failure here does not make the commit any less
// verified.
func restoreOwnership(gitDir string) {
	if os.Geteuid() != 0 {
		return
	}
	fi, err := os.Stat(gitDir)
	if err != nil {
		return
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return
	}
	uid, gid := int(st.Uid), int(st.Gid)
	_ = filepath.WalkDir(gitDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if s, ok := info.Sys().(*syscall.Stat_t); ok && s.Uid == 0 {
			_ = os.Lchown(p, uid, gid)
		}
		return nil
	})
}
