// Package narinfo makes, signs, reads and checks the .narinfo of a store
// path: what a Nix binary cache says of each path it serves, at
// <hash>.narinfo beside the NAR. The cache writer, the catalog's records
// and the upstream look-up all use it, so a narinfo has one shape
// wherever it goes: go-nix's NarInfo, whose String gives back the bytes
// that were parsed or will be written.
//
// A narinfo lists its references as base names (<hash>-<name>), sorted:
// Nix refuses full paths there, and the signature's fingerprint (which
// go-nix builds in the order given) is over the sorted list, as Nix signs
// it.
package narinfo

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"sort"

	gonix "github.com/nix-community/go-nix/pkg/narinfo"
	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/signing"
)

// NarInfo is a parsed or made narinfo.
type NarInfo = gonix.NarInfo

// ContentType is the MIME type Nix serves narinfos with.
const ContentType = "text/x-nix-narinfo"

// Key is the object key of a store path's narinfo in a binary cache.
func Key(storePath string) string { return nixpath.HashPart(storePath) + ".narinfo" }

// NAR is the object a narinfo points at: the NAR as the cache stores it.
type NAR struct {
	URL         string // nar/<file hash>.nar.zst
	Compression string // zstd, xz or none
	FileHash    []byte // SHA-256 of the object
	FileSize    int64
}

// New makes the narinfo of p, pointing at nar. With a zero NAR it says
// what the local store knows of p and nothing of an object: the
// narinfos a catalog record carries when nothing is uploaded.
func New(p nixpath.PathInfo, nar NAR) *NarInfo {
	refs := make([]string, 0, len(p.References))
	for _, r := range p.References {
		refs = append(refs, nixpath.Base(r))
	}
	sort.Strings(refs)
	ni := &NarInfo{
		StorePath:   p.StorePath,
		URL:         nar.URL,
		Compression: nar.Compression,
		FileSize:    uint64(nar.FileSize),
		NarSize:     p.NarSize,
		References:  refs,
		CA:          p.CA,
	}
	if p.Deriver != "" {
		ni.Deriver = nixpath.Base(p.Deriver)
	}
	if len(nar.FileHash) > 0 {
		ni.FileHash = nixhash.MustNewHashWithEncoding(nixhash.SHA256, nar.FileHash, nixhash.NixBase32, true)
	}
	if len(p.NarHash) > 0 {
		ni.NarHash = nixhash.MustNewHashWithEncoding(nixhash.SHA256, p.NarHash, nixhash.NixBase32, true)
	}
	return ni
}

// Sign adds k's signature of ni's fingerprint.
func Sign(ni *NarInfo, k *signing.Key) error {
	sig, err := k.Sign(ni.Fingerprint())
	if err != nil {
		return fmt.Errorf("%s: %w", ni.StorePath, err)
	}
	ni.Signatures = append(ni.Signatures, sig)
	return nil
}

// Parse reads a narinfo.
func Parse(r io.Reader) (*NarInfo, error) { return gonix.Parse(r) }

// Trusted says whether ni carries a valid signature by one of keys. The
// fingerprint lists references sorted, as Nix signs them, whatever order
// the narinfo gives.
func Trusted(ni *NarInfo, keys []signature.PublicKey) bool {
	if ni.NarHash == nil {
		return false
	}
	c := *ni
	c.References = append([]string(nil), ni.References...)
	sort.Strings(c.References)
	return signature.VerifyFirst(c.Fingerprint(), c.Signatures, keys)
}

// Matches says whether ni describes p: the same store path, NAR hash, NAR
// size and references.
func Matches(ni *NarInfo, p nixpath.PathInfo) bool {
	if ni.StorePath != p.StorePath || ni.NarSize != p.NarSize || ni.NarHash == nil || !bytes.Equal(ni.NarHash.Digest(), p.NarHash) {
		return false
	}
	got := append([]string(nil), ni.References...)
	want := make([]string, 0, len(p.References))
	for _, r := range p.References {
		want = append(want, nixpath.Base(r))
	}
	sort.Strings(got)
	sort.Strings(want)
	return slices.Equal(got, want)
}
