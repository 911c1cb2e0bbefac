package cache

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/nix-community/go-nix/pkg/narinfo"
	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixhash"
	"golang.org/x/sync/errgroup"

	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/store"
)

// newNarInfo makes the narinfo of p. References are written as sorted
// basenames: Nix refuses full paths there, and the signature's fingerprint
// (which go-nix builds in the order given) must list them sorted.
func newNarInfo(p nixpath.PathInfo, url, compression string, fileHash []byte, fileSize int64) *narinfo.NarInfo {
	refs := make([]string, 0, len(p.References))
	for _, r := range p.References {
		refs = append(refs, nixpath.Base(r))
	}
	sort.Strings(refs)
	deriver := ""
	if p.Deriver != "" {
		deriver = nixpath.Base(p.Deriver)
	}
	return &narinfo.NarInfo{
		StorePath:   p.StorePath,
		URL:         url,
		Compression: compression,
		FileHash:    nixhash.MustNewHashWithEncoding(nixhash.SHA256, fileHash, nixhash.NixBase32, true),
		FileSize:    uint64(fileSize),
		NarHash:     nixhash.MustNewHashWithEncoding(nixhash.SHA256, p.NarHash, nixhash.NixBase32, true),
		NarSize:     p.NarSize,
		References:  refs,
		Deriver:     deriver,
		CA:          p.CA,
	}
}

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
	key := NarInfoKey(r.StorePath)
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
	if !signature.VerifyFirst(r.NarInfo.Fingerprint(), r.NarInfo.Signatures, []signature.PublicKey{pub}) {
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
