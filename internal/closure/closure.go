// Package closure is the closure manifest: for each published package,
// one object in the binary cache, beside its narinfos, that lists every
// store path of the package's closure with its NAR's hash and size, signed
// with the cache's key. Its SHA-256 is what an attestation names, so that
// one attestation subject covers the whole closure however many paths it
// has (actions/attest-build-provenance takes at most 1,024 subjects), and
// a consumer checks any path's NAR against the manifest.
//
// A manifest is deterministic: it says only what the narinfos the cache
// serves say (paths in order, no time, no run, no source revision), so
// every run that publishes the same outputs makes the same bytes with the
// same key, and the first one written stands. Its key in the store is
// closure/<hash>-<name>.closure.json, after the package's first output
// (in sorted order).
package closure

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/signing"
)

// Type and Version say what a manifest is, in its first fields.
const (
	Type    = "flox-publish closure manifest"
	Version = 1
)

// ContentType is the MIME type manifests are stored with.
const ContentType = "application/json"

// Manifest is a package's closure: its outputs and every path they need.
type Manifest struct {
	// Outputs are the package's output store paths, sorted.
	Outputs []string
	// Paths are the closure's paths, sorted by store path; the outputs
	// are among them.
	Paths      []Path
	Signatures []signature.Signature
}

// Path is one store path and its NAR, as its narinfo describes it.
type Path struct {
	StorePath string
	NarHash   []byte // SHA-256 of the NAR
	NarSize   uint64
}

// New makes the manifest of the closure of outputs, from the narinfos of
// every path of it (those the cache, or an upstream cache, serves).
func New(outputs []string, closure []*narinfo.NarInfo) (*Manifest, error) {
	if len(outputs) == 0 {
		return nil, errors.New("a closure manifest needs at least one output")
	}
	m := &Manifest{Outputs: slices.Clone(outputs)}
	sort.Strings(m.Outputs)
	m.Outputs = slices.Compact(m.Outputs)
	seen := map[string]bool{}
	for _, n := range closure {
		if seen[n.StorePath] {
			continue
		}
		seen[n.StorePath] = true
		if n.NarHash == nil || n.NarHash.Algo() != nixhash.SHA256 {
			return nil, fmt.Errorf("the narinfo of %s has no SHA-256 NAR hash", n.StorePath)
		}
		m.Paths = append(m.Paths, Path{StorePath: n.StorePath, NarHash: n.NarHash.Digest(), NarSize: n.NarSize})
	}
	sort.Slice(m.Paths, func(a, b int) bool { return m.Paths[a].StorePath < m.Paths[b].StorePath })
	for _, o := range m.Outputs {
		if _, ok := m.Path(o); !ok {
			return nil, fmt.Errorf("the closure has no narinfo of its output %s", o)
		}
	}
	return m, nil
}

// Path returns the closure's entry for storePath.
func (m *Manifest) Path(storePath string) (Path, bool) {
	i, ok := slices.BinarySearchFunc(m.Paths, storePath, func(p Path, s string) int { return strings.Compare(p.StorePath, s) })
	if !ok {
		return Path{}, false
	}
	return m.Paths[i], true
}

// NarSize is the NAR size of the whole closure.
func (m *Manifest) NarSize() uint64 {
	var n uint64
	for _, p := range m.Paths {
		n += p.NarSize
	}
	return n
}

// Name is the manifest's file name: closure/Name() is its key in the
// store, and Name() the subject an attestation gives it.
func (m *Manifest) Name() string { return Name(m.Outputs) }

// Name is the file name of the manifest of a package with outputs.
func Name(outputs []string) string {
	return nixpath.Base(slices.Min(outputs)) + ".closure.json"
}

// Key is the store key of the manifest of a package with outputs.
func Key(outputs []string) string { return "closure/" + Name(outputs) }

// Fingerprint is what a signature signs: the outputs and every path with
// its NAR hash and size, as
//
//	flox-publish-closure-1;<outputs, comma-separated>;<path>:<sha256:nix32>:<size>,…
func (m *Manifest) Fingerprint() string {
	var b strings.Builder
	b.WriteString("flox-publish-closure-" + strconv.Itoa(Version) + ";" + strings.Join(m.Outputs, ",") + ";")
	for i, p := range m.Paths {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s:%s:%d", p.StorePath, nixHash(p.NarHash), p.NarSize)
	}
	return b.String()
}

// Sign adds k's signature.
func (m *Manifest) Sign(k *signing.Key) error {
	sig, err := k.Sign(m.Fingerprint())
	if err != nil {
		return err
	}
	m.Signatures = append(m.Signatures, sig)
	return nil
}

// Trusted says whether the manifest carries a valid signature by one of
// keys.
func (m *Manifest) Trusted(keys []signature.PublicKey) bool {
	return signature.VerifyFirst(m.Fingerprint(), m.Signatures, keys)
}

// Same says whether two manifests describe the same closure, whoever
// signed them.
func (m *Manifest) Same(o *Manifest) bool {
	return slices.Equal(m.Outputs, o.Outputs) && slices.EqualFunc(m.Paths, o.Paths, func(a, b Path) bool {
		return a.StorePath == b.StorePath && a.NarSize == b.NarSize && bytes.Equal(a.NarHash, b.NarHash)
	})
}

func nixHash(digest []byte) string {
	return nixhash.MustNewHashWithEncoding(nixhash.SHA256, digest, nixhash.NixBase32, true).String()
}

// The JSON shapes. A path's NAR hash is given twice: as Nix writes it
// (narinfo's NarHash, `nix-store --query --hash`) and in hex, as
// sha256sum prints it.
type (
	document struct {
		Type       string    `json:"type"`
		Version    int       `json:"version"`
		Outputs    []string  `json:"outputs"`
		NarSize    uint64    `json:"nar_size"`
		Paths      []pathDoc `json:"paths"`
		Signatures []string  `json:"signatures"`
	}
	pathDoc struct {
		Path      string `json:"path"`
		NarHash   string `json:"nar_hash"`
		NarSHA256 string `json:"nar_sha256"`
		NarSize   uint64 `json:"nar_size"`
	}
)

// Encode writes the manifest, one path a line, the same bytes for the
// same manifest every time.
func (m *Manifest) Encode() []byte {
	field := func(v any) string {
		b, _ := json.Marshal(v) // strings and numbers
		return string(b)
	}
	sigs := make([]string, 0, len(m.Signatures))
	for _, s := range m.Signatures {
		sigs = append(sigs, s.String())
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\n  \"type\": %s,\n  \"version\": %d,\n  \"outputs\": %s,\n  \"nar_size\": %d,\n  \"paths\": [\n",
		field(Type), Version, field(m.Outputs), m.NarSize())
	for i, p := range m.Paths {
		line := field(pathDoc{Path: p.StorePath, NarHash: nixHash(p.NarHash), NarSHA256: hex.EncodeToString(p.NarHash), NarSize: p.NarSize})
		sep := ","
		if i == len(m.Paths)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    %s%s\n", line, sep)
	}
	fmt.Fprintf(&b, "  ],\n  \"signatures\": %s\n}\n", field(sigs))
	return b.Bytes()
}

// Parse reads a manifest that Encode wrote, and checks it is whole: its
// NAR hashes agree with each other, and its outputs are in its paths.
func Parse(data []byte) (*Manifest, error) {
	var d document
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("not a closure manifest: %w", err)
	}
	switch {
	case d.Type != Type:
		return nil, fmt.Errorf("not a closure manifest: its type is %q", d.Type)
	case d.Version > Version:
		return nil, fmt.Errorf("a closure manifest of version %d, newer than this action reads (%d); update the action", d.Version, Version)
	}
	m := &Manifest{Outputs: d.Outputs}
	for _, p := range d.Paths {
		h, err := nixhash.ParseAny(p.NarHash, nil)
		if err != nil || h.Algo() != nixhash.SHA256 || hex.EncodeToString(h.Digest()) != p.NarSHA256 {
			return nil, fmt.Errorf("closure manifest: the NAR hash of %s does not read (%q, %q)", p.Path, p.NarHash, p.NarSHA256)
		}
		m.Paths = append(m.Paths, Path{StorePath: p.Path, NarHash: h.Digest(), NarSize: p.NarSize})
	}
	for _, s := range d.Signatures {
		sig, err := signature.ParseSignature(s)
		if err != nil {
			return nil, fmt.Errorf("closure manifest: signature %q: %w", s, err)
		}
		m.Signatures = append(m.Signatures, sig)
	}
	if !slices.IsSorted(m.Outputs) || !slices.IsSortedFunc(m.Paths, func(a, b Path) int { return strings.Compare(a.StorePath, b.StorePath) }) {
		return nil, errors.New("closure manifest: its outputs or paths are not in order")
	}
	for _, o := range m.Outputs {
		if _, ok := m.Path(o); !ok {
			return nil, fmt.Errorf("closure manifest: its output %s is not among its paths", o)
		}
	}
	if len(m.Outputs) == 0 || d.NarSize != m.NarSize() {
		return nil, errors.New("closure manifest: no outputs, or a NAR size that is not its paths' sum")
	}
	return m, nil
}
