// Package nixpath holds what the pipeline knows about one Nix store path:
// its metadata (PathInfo), where its bytes live on disk, and the arithmetic
// Nix uses to name content-addressed paths.
//
// A store path's bytes do not have to live under /nix/store: the local
// builder produces them in a scratch directory and computes the store path
// they would have, exactly as `nix store add-path --name N DIR` would.
package nixpath

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"
	"github.com/nix-community/go-nix/pkg/storepath"
)

// StoreDir is the only store directory this action writes caches for: a
// cache's StoreDir must equal its clients'.
const StoreDir = storepath.StoreDir

// PathInfo describes one store path to publish.
type PathInfo struct {
	// StorePath is the absolute path, /nix/store/<hash>-<name>.
	StorePath string
	// References are the absolute store paths this path refers to, sorted,
	// including StorePath itself when it refers to itself.
	References []string
	// Deriver is the absolute path of the .drv that built it, or "".
	Deriver string
	// NarHash is the sha256 of the path's NAR serialisation. When known in
	// advance (from Nix's database, or from hashing a local build) it names
	// the NAR object before the NAR is streamed, and the stream is checked
	// against it.
	NarHash []byte
	// NarSize is the size of the NAR serialisation in bytes.
	NarSize uint64
	// CA is the content address ("fixed:r:sha256:…"), or "".
	CA string
	// Source is where the bytes are on this machine. It equals StorePath
	// for a path in the local Nix store.
	Source string
}

// HashPart returns the 32-character nix-base32 hash part of the store path.
func (p PathInfo) HashPart() string { return HashPart(p.StorePath) }

// NarHashString renders NarHash as Nix does in narinfo files: sha256:<nix32>.
func (p PathInfo) NarHashString() string {
	return "sha256:" + nixbase32.EncodeToString(p.NarHash)
}

// Fingerprint is what Nix signs for the path, and what a narinfo's
// signature covers: "1;<path>;<nar hash>;<nar size>;<references>".
func (p PathInfo) Fingerprint() string {
	return "1;" + p.StorePath + ";" + p.NarHashString() + ";" + strconv.FormatUint(p.NarSize, 10) + ";" + strings.Join(p.References, ",")
}

// HashPart returns the hash part of an absolute store path.
func HashPart(storePath string) string {
	base := strings.TrimPrefix(storePath, StoreDir+"/")
	if i := strings.IndexByte(base, '-'); i > 0 {
		return base[:i]
	}
	return base
}

// Base returns the store path without the store directory: <hash>-<name>.
func Base(storePath string) string {
	return strings.TrimPrefix(storePath, StoreDir+"/")
}

// ValidateName reports whether name can be the name part of a store path,
// with Nix's rules: 1 to 211 characters from [A-Za-z0-9+-._?=], not "." or
// "..", and not starting with ".-" or "..-".
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("a store path name cannot be empty")
	case len(name) > 211:
		return fmt.Errorf("%q is %d characters long; a store path name has at most 211", name, len(name))
	case name == "." || name == "..":
		return fmt.Errorf("%q cannot name a store path", name)
	case strings.HasPrefix(name, ".-") || strings.HasPrefix(name, "..-"):
		return fmt.Errorf("%q starts with %q, which Nix does not allow in a store path name", name, name[:strings.IndexByte(name, '-')+1])
	}
	for i, c := range name {
		if !validNameChar(c) {
			return fmt.Errorf("%q has %q at position %d; store path names allow only letters, digits and + - . _ ? =", name, c, i+1)
		}
	}
	return nil
}

func validNameChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.ContainsRune("+-._?=", c)
}

// MakeStorePath computes a store path the way Nix's makeStorePath does:
// the sha256 of "<kind>:sha256:<innerHex>:/nix/store:<name>", folded to 20
// bytes and printed in nix-base32.
func MakeStorePath(kind string, inner []byte, name string) string {
	s := kind + ":sha256:" + hex.EncodeToString(inner) + ":" + StoreDir + ":" + name
	h := sha256.Sum256([]byte(s))
	return StoreDir + "/" + nixbase32.EncodeToString(nixhash.CompressHash(h[:], storepath.PathHashSize)) + "-" + name
}

// SourcePath returns the store path of a directory or file added to the
// store as a NAR with references (`nix store add-path --name NAME`, or
// `nix-store --add`): the kind is "source", followed by each reference.
// Self-references are not supported; callers reject them first.
func SourcePath(narHash []byte, name string, references []string) string {
	refs := append([]string(nil), references...)
	sort.Strings(refs)
	kind := "source"
	for _, r := range refs {
		kind += ":" + r
	}
	return MakeStorePath(kind, narHash, name)
}

// SourceCA is the content address Nix records for a path added as a NAR.
func SourceCA(narHash []byte) string {
	return "fixed:r:sha256:" + nixbase32.EncodeToString(narHash)
}

// HashingWriter counts and hashes what is written to it.
type HashingWriter struct {
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n uint64
}

// NewHashingWriter returns a sha256 HashingWriter.
func NewHashingWriter() *HashingWriter { return &HashingWriter{h: sha256.New()} }

func (w *HashingWriter) Write(p []byte) (int, error) {
	w.n += uint64(len(p))
	return w.h.Write(p)
}

// Sum returns the sha256 of everything written.
func (w *HashingWriter) Sum() []byte { return w.h.Sum(nil) }

// Size returns the number of bytes written.
func (w *HashingWriter) Size() uint64 { return w.n }

// HashNAR serialises dir as a NAR and returns its sha256 and size, and
// writes the stream to also, when not nil (e.g. a reference scanner).
func HashNAR(dir string, also io.Writer) (hash []byte, size uint64, err error) {
	hw := NewHashingWriter()
	var w io.Writer = hw
	if also != nil {
		w = io.MultiWriter(hw, also)
	}
	if err := DumpNAR(w, dir); err != nil {
		return nil, 0, err
	}
	return hw.Sum(), hw.Size(), nil
}
