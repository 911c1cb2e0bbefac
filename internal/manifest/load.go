// Package manifest reads a Flox environment: .flox/env/manifest.toml and
// .flox/env/manifest.lock, for publishing its builds.
//
// The manifest is strict where publishing reads it and tolerant elsewhere.
// The schema version, [install], [vars], [options] and [build] are checked
// the way Flox checks them (its serde types in cli/flox-manifest are the
// reference): against the schema the manifest declares, unknown keys refused.
// The other tables ([hook], [profile], [services], [containerize],
// [include], [plugins]) are Flox's business and are only checked to be
// tables; a misspelt top-level key is still an error. Unlike Flox, every
// error carries the file, line and column of the key or value at fault
// (*Error, or ErrorList for several, all at once), so CI can annotate the
// exact line. To have positions for checks that run after decoding, the
// TOML is rebuilt from go-toml's position-keeping parser into a small tree
// that the decoder walks (tree.go, decode.go).
//
// The lock is written by Flox, not by people, and gains fields over time: it
// is read leniently and only the fields used here are typed. Builds are
// published as the lock records them, as Flox does (Environment.Select).
//
// Both files come from the repository being published, which on a pull
// request may be anyone's, so their size is bounded before any work that
// grows faster than it: a manifest is at most MaxManifestBytes and
// MaxManifestKeys keys (go-toml's check for duplicate keys takes time
// quadratic in the number of keys), a lock at most MaxLockBytes and
// MaxLockKeys keys. The largest real environments known (the test corpus)
// have 67 KB and 65 keys of manifest, 180 KB and 1,502 keys of lock. Parsing
// stops early when its context is cancelled.
package manifest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Input limits; see the package comment.
const (
	MaxManifestBytes = 1 << 20
	MaxManifestKeys  = 10_000
	MaxLockBytes     = 16 << 20
	MaxLockKeys      = 200_000
)

// Environment is a Flox environment directory: the directory that holds .flox.
type Environment struct {
	Dir          string
	ManifestPath string
	LockPath     string
	Manifest     *Manifest
	Lock         *Lock
}

// Load reads and checks the manifest and the lock of the environment in envDir.
func Load(ctx context.Context, envDir string) (*Environment, error) {
	env := &Environment{
		Dir:          envDir,
		ManifestPath: filepath.Join(envDir, ".flox", "env", "manifest.toml"),
		LockPath:     filepath.Join(envDir, ".flox", "env", "manifest.lock"),
	}
	data, err := readLimited(env.ManifestPath, MaxManifestBytes)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no Flox environment in %s: %s does not exist (dir, --dir in a terminal, must name the directory that holds .flox/): %w", envDir, env.ManifestPath, err)
		}
		return nil, fmt.Errorf("read the manifest: %w", err)
	}
	if env.Manifest, err = ParseManifest(ctx, env.ManifestPath, data); err != nil {
		return nil, err
	}
	data, err = readLimited(env.LockPath, MaxLockBytes)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the environment in %s is not locked: %s does not exist; run `flox lock` (or `flox install`) and commit .flox/env/manifest.lock: %w", envDir, env.LockPath, err)
		}
		return nil, fmt.Errorf("read the lock: %w", err)
	}
	if env.Lock, err = ParseLock(ctx, env.LockPath, data); err != nil {
		return nil, err
	}
	return env, nil
}

// readLimited reads a file, but no more than one byte past limit: enough for
// the parser to refuse it by its size.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}

// tooLarge refuses data over limit bytes before it is parsed.
func tooLarge(path, what string, data []byte, limit int) error {
	if len(data) <= limit {
		return nil
	}
	return &Error{Pos: Position{File: path}, Msg: fmt.Sprintf("the %s is larger than %d bytes, the most this action reads (real ones are far smaller): remove what is not needed to publish", what, limit)}
}

// ParseManifest parses and checks a manifest.toml; path is used in errors.
// Errors about the content are an *Error or an ErrorList; a cancelled ctx
// stops it with ctx's error.
func ParseManifest(ctx context.Context, path string, data []byte) (*Manifest, error) {
	if err := tooLarge(path, "manifest", data, MaxManifestBytes); err != nil {
		return nil, err
	}
	src := newSource(path, data)
	root, plain, err := parseTOML(ctx, src)
	if err != nil {
		return nil, err
	}
	return decodeManifest(src, root, plain)
}
