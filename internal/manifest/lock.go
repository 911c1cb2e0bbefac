package manifest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The lock is machine-written and Flox adds fields to it over time, so it is
// read leniently: unknown fields are ignored, and only what this action uses
// is typed and checked.

// Lock is a parsed .flox/env/manifest.lock.
type Lock struct {
	Path    string
	Version int // lockfile-version
	// Manifest is the manifest as locked (for an environment with
	// [include], the merged one), as Flox wrote it: what Flox publishes.
	Manifest json.RawMessage
	Packages []LockedPackage
}

// LockedPackage is one package of the lock, resolved for one system. Only
// what publishing uses is kept.
type LockedPackage struct {
	Kind      PackageKind `json:"-"`
	InstallID string      `json:"install_id"`
	System    string      `json:"system"`
	// Group is the package group; "toplevel" when the lock has none (flake
	// and store-path packages never do).
	Group     string            `json:"group"`
	LockedURL string            `json:"locked_url"` // catalog: https://github.com/flox/nixpkgs?rev=...; flake: the locked flake ref
	Rev       string            `json:"rev"`
	RevCount  int64             `json:"rev_count"`
	RevDate   string            `json:"rev_date"` // RFC 3339
	Outputs   map[string]string `json:"outputs"`  // output name to store path
	StorePath string            `json:"-"`        // store-path packages
	Pos       Position          `json:"-"`
}

// RevTime parses RevDate.
func (p LockedPackage) RevTime() (time.Time, error) {
	t, err := time.Parse(time.RFC3339, p.RevDate)
	if err != nil {
		return time.Time{}, fmt.Errorf("rev_date of %q (%s): %w", p.InstallID, p.System, err)
	}
	return t, nil
}

// ToplevelPackages returns the packages of the toplevel group, one per
// install id (the first system the lock lists), in lock order.
func (l *Lock) ToplevelPackages() []LockedPackage {
	var out []LockedPackage
	seen := map[string]bool{}
	for _, p := range l.Packages {
		if p.Group != DefaultGroup || seen[p.InstallID] {
			continue
		}
		seen[p.InstallID] = true
		out = append(out, p)
	}
	return out
}

// BaseCatalog returns the first catalog package of the toplevel group: its
// locked_url, rev, rev_count and rev_date describe the nixpkgs a manifest
// build is based on. Flox picks the same package.
func (l *Lock) BaseCatalog() (LockedPackage, bool) {
	if c := l.CatalogPackages(); len(c) > 0 {
		return c[0], true
	}
	return LockedPackage{}, false
}

// BaseCatalogURL returns BaseCatalog's locked_url, or "" when the toplevel
// group has no catalog package.
func (l *Lock) BaseCatalogURL() string {
	p, _ := l.BaseCatalog()
	return p.LockedURL
}

// CatalogPackages returns the catalog packages of the toplevel group, one
// per install id (the first system the lock lists), in lock order. Flox
// publishes only from an environment with at least one: the base catalog
// of a build is taken from it (flake and store-path packages do not count).
func (l *Lock) CatalogPackages() []LockedPackage {
	return slices.DeleteFunc(l.ToplevelPackages(), func(p LockedPackage) bool { return p.Kind != KindCatalog })
}

// ParseLock parses a manifest.lock; a cancelled ctx stops it with ctx's
// error.
func ParseLock(ctx context.Context, path string, data []byte) (*Lock, error) {
	if err := tooLarge(path, "lock", data, MaxLockBytes); err != nil {
		return nil, err
	}
	src := newSource(path, data)
	if off := jsonKeyOver(data, MaxLockKeys); off >= 0 {
		return nil, src.errorf(off, "the lock has more than %d keys, the most this action reads (real ones have a few thousand): regenerate it with Flox", MaxLockKeys)
	}
	l := &Lock{Path: path}
	if err := l.decode(ctx, src); err != nil {
		return nil, jsonError(src, 0, err)
	}
	return l, nil
}

// decode reads the lock's object; errors it cannot place are positioned by
// jsonError.
func (l *Lock) decode(ctx context.Context, src *source) error {
	dec := json.NewDecoder(bytes.NewReader(src.data))
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	var haveVersion, havePackages bool
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		off := skipSpace(src.data, int(dec.InputOffset()))
		switch key {
		case "lockfile-version":
			haveVersion = true
			if err = dec.Decode(&l.Version); err == nil && l.Version != 1 {
				return src.errorf(off, "lockfile-version %d is not supported: this action reads version 1; lock the environment with a Flox release this action supports", l.Version)
			}
		case "manifest":
			err = dec.Decode(&l.Manifest)
		case "packages":
			havePackages = true
			err = l.decodePackages(ctx, src, dec)
		default:
			err = dec.Decode(&json.RawMessage{})
		}
		if err != nil {
			return err
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return err
	}
	switch end := skipSpace(src.data, int(dec.InputOffset())); {
	case end < len(src.data):
		return src.errorf(end, "unexpected data after the lock's JSON object")
	case !haveVersion:
		return src.errorf(0, "the lock has no lockfile-version: regenerate it with `flox lock`")
	case !havePackages:
		return src.errorf(0, "the lock has no packages list: regenerate it with `flox lock`")
	}
	return nil
}

func (l *Lock) decodePackages(ctx context.Context, src *source, dec *json.Decoder) error {
	if err := expectDelim(dec, '['); err != nil {
		return err
	}
	for i := 0; dec.More(); i++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("parse %s: %w", src.file, err)
		}
		off := skipSpace(src.data, int(dec.InputOffset()))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		p := LockedPackage{Kind: KindCatalog, Pos: src.pos(off)}
		// Flake packages keep the kebab-case of Flox's Nix plugin.
		var other struct {
			FlakeURL      *string `json:"locked-url"`
			FlakeAttrPath *string `json:"locked-flake-attr-path"`
			StorePath     *string `json:"store_path"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return jsonError(src, off, err)
		}
		if err := json.Unmarshal(raw, &other); err != nil {
			return jsonError(src, off, err)
		}
		switch {
		case other.StorePath != nil:
			p.Kind, p.StorePath = KindStorePath, *other.StorePath
		case other.FlakeURL != nil || other.FlakeAttrPath != nil:
			p.Kind = KindFlake
			if other.FlakeURL != nil {
				p.LockedURL = *other.FlakeURL
			}
		case p.LockedURL == "":
			return src.errorf(off, "package %q (%s) has no locked_url: the lock is damaged; regenerate it with `flox lock`", p.InstallID, p.System)
		}
		if p.Group == "" || p.Kind != KindCatalog {
			p.Group = DefaultGroup
		}
		if p.InstallID == "" || p.System == "" {
			return src.errorf(off, "packages[%d] lacks install_id or system: the lock is damaged; regenerate it with `flox lock`", i)
		}
		l.Packages = append(l.Packages, p)
	}
	return expectDelim(dec, ']')
}

// jsonKeyOver returns the offset of key number max+1 of a JSON document, or
// -1 when it has no more than max keys. A key is a string followed by ':'.
func jsonKeyOver(data []byte, max int) int {
	keys, inString, start := 0, false, 0
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			if !inString {
				start = i
			}
			inString = !inString
		case !inString && c == ':':
			if keys++; keys > max {
				return start
			}
		}
	}
	return -1
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("expected %q, found %v", string(want), tok)
	}
	return nil
}

// skipSpace skips what separates JSON values: blanks, ',' and ':'.
func skipSpace(data []byte, off int) int {
	return len(data) - len(bytes.TrimLeft(data[off:], " \t\n\r,:"))
}

// jsonError positions a decoding error; base is the offset of the bytes
// that were decoded when they are a part of the file.
func jsonError(src *source, base int, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, new(*Error)), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &syn):
		return src.errorf(base+int(syn.Offset), "invalid JSON: %v", err)
	case errors.As(err, &typ):
		what := typ.Field
		if what == "" {
			what = "a value"
		}
		return src.errorf(valueStart(src.data, base, base+int(typ.Offset), typ.Field), "invalid lock: %s is a JSON %s, expected %s", what, typ.Value, typ.Type)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return src.errorf(len(src.data), "invalid JSON: the lock ends early")
	}
	return &Error{Pos: src.pos(base), Msg: "invalid lock: " + err.Error()}
}

// valueStart finds where the value of field starts, given that it ends at
// end: encoding/json reports the offset after a mistyped value.
func valueStart(data []byte, base, end int, field string) int {
	key := []byte(strconv.Quote(field[strings.LastIndexByte(field, '.')+1:]))
	if field != "" && end <= len(data) {
		if i := bytes.LastIndex(data[base:end], key); i >= 0 {
			return skipSpace(data, base+i+len(key))
		}
	}
	return end
}
