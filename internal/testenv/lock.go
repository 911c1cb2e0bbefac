package testenv

import (
	"encoding/json"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// LockFor returns lock with manifestTOML as the manifest it records: what
// `flox build` or `flox edit` would write after the manifest was edited, as
// far as the manifest part goes (the packages are left as they are). It is
// a stand-in for Flox, which cannot run here; the manifest package checks
// that the builds of manifest.toml and of the lock agree.
func LockFor(t testing.TB, manifestTOML string, lock []byte) string {
	t.Helper()
	var m, l map[string]any
	if err := toml.Unmarshal([]byte(manifestTOML), &m); err != nil {
		t.Fatalf("LockFor: the manifest is not TOML: %v", err)
	}
	if err := json.Unmarshal(lock, &l); err != nil {
		t.Fatalf("LockFor: the lock is not JSON: %v", err)
	}
	l["manifest"] = m
	out, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		t.Fatalf("LockFor: %v", err)
	}
	return string(out) + "\n"
}
