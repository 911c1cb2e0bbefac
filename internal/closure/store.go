package closure

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/flox-publish/publish-action/internal/store"
)

// Stored is a manifest as the store holds it.
type Stored struct {
	*Manifest
	// Key is its key in the store.
	Key string
	// SHA256 is the SHA-256 of its bytes: the attestation's subject.
	SHA256 []byte
}

// maxSize bounds what is read of a manifest: about 250 bytes a path.
const maxSize = 64 << 20

// Write puts m in st, unless st has a manifest of the same closure
// already (written by an earlier run, perhaps signed with an earlier
// key): that one stands, so that what an earlier attestation names stays
// as it was. Either way it returns the manifest the store now holds.
func Write(ctx context.Context, st store.Store, m *Manifest) (*Stored, error) {
	key := Key(m.Outputs)
	have, data, err := read(ctx, st, key)
	switch {
	case err == nil && have.Same(m):
		return stored(key, have, data), nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		var bad *unreadable
		if !errors.As(err, &bad) {
			return nil, err
		}
		// Damaged, or of another closure: written again below.
	}
	data = m.Encode()
	if _, err := st.Put(ctx, key, bytes.NewReader(data), ContentType); err != nil {
		return nil, fmt.Errorf("write the closure manifest %s to %s: %w", key, st.URL(), err)
	}
	return stored(key, m, data), nil
}

// Read reads the manifest of the package with outputs from st and checks
// it: signed by one of keys, of those outputs. store.ErrNotFound when st
// has none (a package published before manifests were written).
func Read(ctx context.Context, st store.Store, outputs []string, keys []signature.PublicKey) (*Stored, error) {
	key := Key(outputs)
	m, data, err := read(ctx, st, key)
	if err != nil {
		return nil, err
	}
	want := slices.Clone(outputs)
	sort.Strings(want)
	if !slices.Equal(m.Outputs, slices.Compact(want)) {
		return nil, fmt.Errorf("the closure manifest %s in %s is of %v, not of %v", key, st.URL(), m.Outputs, want)
	}
	if !m.Trusted(keys) {
		return nil, fmt.Errorf("the closure manifest %s in %s carries no valid signature by the signing key", key, st.URL())
	}
	return stored(key, m, data), nil
}

// unreadable is a manifest in the store that does not parse.
type unreadable struct{ err error }

func (u *unreadable) Error() string { return u.err.Error() }
func (u *unreadable) Unwrap() error { return u.err }

func read(ctx context.Context, st store.Store, key string) (*Manifest, []byte, error) {
	r, err := st.Get(ctx, key)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, store.ErrNotFound
		}
		return nil, nil, fmt.Errorf("read the closure manifest %s from %s: %w", key, st.URL(), err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read the closure manifest %s from %s: %w", key, st.URL(), err)
	}
	if len(data) > maxSize {
		return nil, nil, &unreadable{fmt.Errorf("%s in %s is larger than %d MiB", key, st.URL(), maxSize>>20)}
	}
	m, err := Parse(data)
	if err != nil {
		return nil, nil, &unreadable{fmt.Errorf("%s in %s: %w", key, st.URL(), err)}
	}
	return m, data, nil
}

// Encoded is m as Write would store it, without a store: a dry run's
// manifest, or one for a store that takes store paths only.
func Encoded(m *Manifest) *Stored { return stored(Key(m.Outputs), m, m.Encode()) }

func stored(key string, m *Manifest, data []byte) *Stored {
	sum := sha256.Sum256(data)
	return &Stored{Manifest: m, Key: key, SHA256: sum[:]}
}
