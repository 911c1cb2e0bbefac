package git

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// Clone makes the clean copy Flox builds from: a clone of repoRoot that
// borrows its objects (--shared, so nothing is copied) with rev checked
// out, which holds only what is committed.
//
// The source repository is trusted (see TrustRepository). A local clone
// reads the source through git upload-pack, which git starts with the
// GIT_CONFIG_* variables removed from its environment, so the source's git
// directory is marked safe on the upload-pack command line instead.
func Clone(ctx context.Context, repoRoot, rev, dst string, opts ...Option) error {
	src, err := New(repoRoot, append(opts, TrustRepository())...)
	if err != nil {
		return err
	}
	out, err := src.Run(ctx, "rev-parse", "--absolute-git-dir")
	if err != nil {
		return fmt.Errorf("cloning %s: %w", repoRoot, err)
	}
	gitDir := strings.TrimSpace(out)
	absDst, err := filepath.Abs(dst)
	if err != nil {
		return fmt.Errorf("cloning %s: %w", repoRoot, err)
	}
	uploadPack := "git -c safe.directory=" + shellQuote(gitDir) + " upload-pack"
	if _, err := src.Run(ctx, "clone", "--quiet", "--shared", "--no-checkout",
		"--upload-pack", uploadPack, "--", src.Dir(), absDst); err != nil {
		return fmt.Errorf("cloning %s: %w", repoRoot, err)
	}
	c := config{}
	for _, o := range opts {
		o(&c)
	}
	var dstOpts []Option
	if c.env != nil {
		dstOpts = append(dstOpts, WithEnv(c.env))
	}
	clone, err := New(absDst, dstOpts...)
	if err != nil {
		return err
	}
	// The trailing -- makes git read rev as a revision, never a path.
	// Writing the files is most of a clone's time where creating a file
	// is slow (about 0.5 ms each on a shared runner's disk); git writes
	// them in parallel, one worker per core, from 100 files up.
	if _, err := clone.Run(ctx, "-c", "checkout.workers=0", "checkout", "--quiet", rev, "--"); err != nil {
		return fmt.Errorf("checking out %s in the clone of %s: %w", rev, repoRoot, err)
	}
	return nil
}

// shellQuote quotes s for the POSIX shell git runs --upload-pack with.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
