package cache

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"golang.org/x/sync/errgroup"

	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/store"
)

// Verify reads back the narinfos of the roots of what a publish wrote (the
// paths no other written path refers to: the packages' outputs, which a
// consumer asks for first) and checks each against what was meant: byte
// for byte what was written, signed by pub, and its NAR object of the size
// it claims. A store that accepts writes and keeps nothing, or keeps them
// somewhere else (a gateway that answers 200 to anything, a prefix that
// maps elsewhere), fails the run here rather than on a user's machine.
//
// Only the roots: that is a property of the store, which a few objects
// show as well as all of them, and reading back every path cost two
// requests a path (a GET and a HEAD) on top of the writes' three. With
// 1,501 paths through a 25 ms proxy to MinIO, the read-back of all of them
// took 2.5 s of the upload stage's 33.7 s at 32 in flight. Each object's
// own integrity is the write's: S3 checks every body against the SHA-256
// its request was signed with before it stores a byte, and file:// writes
// by rename after an fsync.
func Verify(ctx context.Context, s store.Store, pub signature.PublicKey, written []PathResult) error {
	var uploaded []PathResult
	referenced := map[string]bool{}
	for _, r := range written {
		if r.Status == Uploaded && r.NarInfo != nil {
			uploaded = append(uploaded, r)
			for _, ref := range r.NarInfo.References {
				if ref != nixpath.Base(r.StorePath) {
					referenced[ref] = true
				}
			}
		}
	}
	var roots []PathResult
	for _, r := range uploaded {
		if !referenced[nixpath.Base(r.StorePath)] {
			roots = append(roots, r)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, r := range roots {
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
