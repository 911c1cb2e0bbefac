package nixdaemon

import (
	"io/fs"
	"testing"
)

func TestReachableByOthers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		dir, sock fs.FileMode
		want      bool
	}{
		{"Nix's installer (0755, 0666)", fs.ModeDir | 0o755, fs.ModeSocket | 0o666, true},
		{"Debian's nix-bin (root:nix-users 0770)", fs.ModeDir | 0o770, fs.ModeSocket | 0o666, false},
		{"a socket only its group may write", fs.ModeDir | 0o755, fs.ModeSocket | 0o660, false},
		{"searchable, not listable", fs.ModeDir | 0o711, fs.ModeSocket | 0o666, true},
		{"a plain file", fs.ModeDir | 0o755, 0o666, false},
	} {
		if got := reachableByOthers(tc.dir, tc.sock); got != tc.want {
			t.Errorf("%s: reachableByOthers = %v, want %v", tc.name, got, tc.want)
		}
	}
}
