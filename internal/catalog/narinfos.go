package catalog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/nix-community/go-nix/pkg/narinfo"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/store"
)

// A build record carries the narinfos of the outputs' whole closure, as
// the Flox CLI's `nix path-info --recursive` gathers them, whether this
// run uploaded a path or found it in the store already. ReadNarInfos
// gathers them from the store (nix-copy, and meta-only or null with a
// store-url); FromPathInfo makes them from the local store's information
// when nothing is uploaded (meta-only without a store, as the CLI's
// daemon:// narinfos).

// FromNarInfo converts a parsed .narinfo.
func FromNarInfo(ni *narinfo.NarInfo) NarInfo {
	n := NarInfo{
		StorePath: ni.StorePath, URL: ni.URL, Compression: ni.Compression, FileSize: ni.FileSize,
		NarSize: ni.NarSize, CA: ni.CA, Deriver: absStorePath(ni.Deriver),
	}
	if ni.FileHash != nil {
		n.FileHash = ni.FileHash.String()
	}
	if ni.NarHash != nil {
		n.NarHash = ni.NarHash.String()
	}
	for _, r := range ni.References {
		n.References = append(n.References, absStorePath(r))
	}
	for _, s := range ni.Signatures {
		n.Sigs = append(n.Sigs, s.String())
	}
	return n
}

// FromPathInfo makes a narinfo from what the local store knows of a path;
// sigs are its signatures, if the run made any.
func FromPathInfo(p nixpath.PathInfo, sigs []string) (NarInfo, error) {
	n := NarInfo{StorePath: p.StorePath, NarSize: p.NarSize, CA: p.CA, Deriver: p.Deriver, Sigs: sigs}
	if len(p.NarHash) > 0 {
		h, err := nixhash.NewHash(nixhash.SHA256, p.NarHash)
		if err != nil {
			return NarInfo{}, fmt.Errorf("narinfo of %s: %w", p.StorePath, err)
		}
		n.NarHash = h.Format(nixhash.SRI, true)
	}
	n.References = append(n.References, p.References...)
	return n, nil
}

// ReadNarInfos reads the narinfo of each path from s, a few at a time.
// A missing narinfo is an error: the record would name a path its store
// does not have.
func ReadNarInfos(ctx context.Context, s store.Store, paths []string) ([]NarInfo, error) {
	out := make([]NarInfo, len(paths))
	errs := make([]error, len(paths))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i], errs[i] = readNarInfo(ctx, s, p)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func readNarInfo(ctx context.Context, s store.Store, path string) (NarInfo, error) {
	key := nixpath.HashPart(path) + ".narinfo"
	r, err := s.Get(ctx, key)
	if err != nil {
		return NarInfo{}, fmt.Errorf("read the narinfo of %s from %s: %w", path, s.URL(), err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return NarInfo{}, fmt.Errorf("read %s from %s: %w", key, s.URL(), err)
	}
	ni, err := narinfo.Parse(bytes.NewReader(data))
	if err != nil {
		return NarInfo{}, fmt.Errorf("%s in %s: %w", key, s.URL(), err)
	}
	if ni.StorePath != path {
		return NarInfo{}, fmt.Errorf("%s in %s describes %s, not %s", key, s.URL(), ni.StorePath, path)
	}
	return FromNarInfo(ni), nil
}
