package cache

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"golang.org/x/sync/errgroup"

	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/store"
)

// Verify reads back the narinfos of the paths a publish wrote, many at a
// time, and checks each against what was meant: byte for byte what was
// written, signed by pub, and its NAR object of the size it claims. A
// store that silently dropped or mangled an object fails the run here
// rather than on a user's machine.
func Verify(ctx context.Context, s store.Store, pub signature.PublicKey, written []PathResult) error {
	var uploaded []PathResult
	for _, r := range written {
		if r.Status == Uploaded && r.NarInfo != nil {
			uploaded = append(uploaded, r)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(presenceJobs)
	for _, r := range uploaded {
		g.Go(func() error { return verifyOne(gctx, s, pub, r) })
	}
	return g.Wait()
}

func verifyOne(ctx context.Context, s store.Store, pub signature.PublicKey, r PathResult) error {
	key := narinfo.Key(r.StorePath)
	rc, err := s.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read back %s: %w", key, err)
	}
	data, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	rc.Close()
	if err != nil {
		return fmt.Errorf("read back %s: %w", key, err)
	}
	if string(data) != r.NarInfo.String() {
		return fmt.Errorf("read back %s: it differs from what was written (%d bytes read, %d written)", key, len(data), len(r.NarInfo.String()))
	}
	if !narinfo.Trusted(r.NarInfo, []signature.PublicKey{pub}) {
		return fmt.Errorf("read back %s: no valid signature by %s", key, pub.Name)
	}
	size, err := s.Size(ctx, r.NarInfo.URL)
	if err != nil {
		return fmt.Errorf("read back %s: its NAR %s: %w", key, r.NarInfo.URL, err)
	}
	if uint64(size) != r.NarInfo.FileSize {
		return fmt.Errorf("read back %s: its NAR %s is %d bytes, the narinfo says %d", key, r.NarInfo.URL, size, r.NarInfo.FileSize)
	}
	return nil
}

// ReadNarInfos reads the narinfo of each path from s, a few at a time, in
// the order of paths. A missing narinfo is an error: whoever asks would
// name a path its store does not have.
func ReadNarInfos(ctx context.Context, s store.Store, paths []string) ([]*narinfo.NarInfo, error) {
	out := make([]*narinfo.NarInfo, len(paths))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, p := range paths {
		g.Go(func() (err error) {
			out[i], err = readNarInfo(gctx, s, p)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func readNarInfo(ctx context.Context, s store.Store, path string) (*narinfo.NarInfo, error) {
	key := narinfo.Key(path)
	r, err := s.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read the narinfo of %s from %s: %w", path, s.URL(), err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s from %s: %w", key, s.URL(), err)
	}
	ni, err := narinfo.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s in %s: %w", key, s.URL(), err)
	}
	if ni.StorePath != path {
		return nil, fmt.Errorf("%s in %s describes %s, not %s", key, s.URL(), ni.StorePath, path)
	}
	return ni, nil
}
