// Package manifest reads a Flox environment: .flox/env/manifest.toml into
// typed structs covering the whole manifest schema, and
// .flox/env/manifest.lock into the packages and composition this action
// needs.
//
// The manifest is checked the way Flox checks it (its serde types in
// cli/flox-manifest are the reference): against the schema the manifest
// declares, with unknown keys refused. Unlike Flox, every error carries the
// file, line and column of the key or value at fault (*Error, or ErrorList
// for several), so CI can annotate the exact line. To have positions for
// checks that run after decoding, the TOML is first validated by go-toml and
// then rebuilt from go-toml's position-keeping parser into a small tree that
// the schema decoder walks (tree.go, decode.go).
//
// The lock is written by Flox, not by people, and gains fields over time: it
// is read leniently and only the fields used here are typed.
package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
func Load(envDir string) (*Environment, error) {
	env := &Environment{
		Dir:          envDir,
		ManifestPath: filepath.Join(envDir, ".flox", "env", "manifest.toml"),
		LockPath:     filepath.Join(envDir, ".flox", "env", "manifest.lock"),
	}
	data, err := os.ReadFile(env.ManifestPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no Flox environment in %s: %s does not exist (dir, --dir in a terminal, must name the directory that holds .flox/): %w", envDir, env.ManifestPath, err)
		}
		return nil, fmt.Errorf("read the manifest: %w", err)
	}
	if env.Manifest, err = ParseManifest(env.ManifestPath, data); err != nil {
		return nil, err
	}
	data, err = os.ReadFile(env.LockPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the environment in %s is not locked: %s does not exist; run `flox lock` (or `flox install`) and commit .flox/env/manifest.lock: %w", envDir, env.LockPath, err)
		}
		return nil, fmt.Errorf("read the lock: %w", err)
	}
	if env.Lock, err = ParseLock(env.LockPath, data); err != nil {
		return nil, err
	}
	return env, nil
}

// ParseManifest parses and checks a manifest.toml; path is used in errors.
// Errors about the content are an *Error or an ErrorList.
func ParseManifest(path string, data []byte) (*Manifest, error) {
	src := newSource(path, data)
	root, err := parseTOML(src)
	if err != nil {
		return nil, err
	}
	return decodeManifest(src, root)
}
