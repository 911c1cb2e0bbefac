package nixdaemon_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flox-publish/publish-action/internal/nixdaemon"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// TestStartStop starts Debian's nix-daemon on a socket of the test's own
// and stops it; the container test runs it as the action does.
func TestStartStop(t *testing.T) {
	if os.Geteuid() != 0 {
		d, err := nixdaemon.Start(context.Background(), nixdaemon.Options{Socket: filepath.Join(t.TempDir(), "s")})
		if d != nil || err != nil {
			t.Fatalf("not root: want no daemon and no error, got %v, %v", d, err)
		}
		return
	}
	testenv.RequireTool(t, "nix-daemon")
	sock := filepath.Join(t.TempDir(), "socket")
	d, err := nixdaemon.Start(context.Background(), nixdaemon.Options{Socket: sock, GitHubToken: "ghs_test"})
	if err != nil || d == nil {
		t.Fatalf("Start: %v, %v", d, err)
	}
	if c, err := net.Dial("unix", sock); err != nil {
		t.Fatalf("the daemon does not answer on %s: %v", sock, err)
	} else {
		c.Close()
	}
	start := time.Now()
	d.Stop()
	if time.Since(start) > 6*time.Second {
		t.Errorf("Stop took %s", time.Since(start))
	}
	if c, err := net.Dial("unix", sock); err == nil {
		c.Close()
		t.Error("the daemon still answers after Stop")
	}
	// A second Start while one answers starts none.
	d1, _ := nixdaemon.Start(context.Background(), nixdaemon.Options{Socket: sock})
	defer d1.Stop()
	if d2, err := nixdaemon.Start(context.Background(), nixdaemon.Options{Socket: sock}); d2 != nil || err != nil {
		d2.Stop()
		t.Errorf("a second daemon was started on a live socket: %v", err)
	}
}
