package nixdaemon

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

func TestSandboxSetting(t *testing.T) {
	for _, tc := range []struct{ conf, goos, want string }{
		{"", "linux", "true"},
		{"", "darwin", "false"},
		{"build-users-group = nixbld\nsandbox = false\n", "linux", "false"},
		{"sandbox = relaxed # for macOS\n", "darwin", "relaxed"},
		{"sandbox = false\nsandbox = true\n", "linux", "true"},
		{"sandbox-fallback = false\nextra-sandbox-paths = /bin\n", "darwin", "false"},
		{"# sandbox = true\n", "darwin", "false"},
	} {
		if got := sandboxSetting(tc.conf, tc.goos); got != tc.want {
			t.Errorf("sandboxSetting(%q, %s) = %q, want %q", tc.conf, tc.goos, got, tc.want)
		}
	}
}

// TestSystemAt finds a daemon on a socket that answers and that a user
// without groups can reach, and none otherwise; Stop leaves it running.
func TestSystemAt(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "socket")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	os.Chmod(dir, 0o755)
	os.Chmod(sock, 0o666)
	d := systemAt(sock)
	if d == nil || !d.IsSystem() {
		t.Fatalf("systemAt(%s) = %+v, want the daemon", sock, d)
	}
	if env := d.Env(); !slices.Contains(env, "NIX_DAEMON_SOCKET_PATH="+sock) {
		t.Errorf("Env() = %v", env)
	}
	if !strings.Contains(d.Describe(), "the system's nix-daemon") {
		t.Errorf("Describe() = %q", d.Describe())
	}
	d.Stop()
	if !answers(sock) {
		t.Error("Stop stopped the system's daemon")
	}
	os.Chmod(dir, 0o750)
	if d := systemAt(sock); d != nil {
		t.Error("a socket whose directory others cannot search was taken")
	}
	if d := systemAt(filepath.Join(dir, "none")); d != nil {
		t.Error("a missing socket was taken")
	}
}
