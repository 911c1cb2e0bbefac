package floxhub

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// TestHTTPSIngressWithNix publishes a real closure to a nix-copy catalog
// whose ingress is an http(s) binary cache behind token authentication:
// the upload authenticates with the FloxHub token, the record carries the
// narinfos of the whole closure (read back from the store), and real Nix,
// given a netrc holding the token as the Flox CLI writes one
// (nix_auth.rs), installs the closure from that cache with only the
// signing key trusted.
func TestHTTPSIngressWithNix(t *testing.T) {
	t.Parallel()
	top, closure := testenv.NixClosure(t, "https", "")
	httpCache := testenv.StartHTTPCache(t, testToken)
	s := testenv.StartFloxHubStandIn(t)
	s.StrictClosure = true
	s.AddUser(testToken, "alice")
	s.AddCatalog(testCatalog, map[string]any{"store_type": "nix-copy", "ingress_uri": httpCache.URL + "/cache?want-mass-query=true", "egress_uri": httpCache.URL + "/cache"}, "alice")
	hub, err := New(s.URL(), testToken, Options{StoreHosts: []string{httpCache.Host()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	target := testTarget()
	plan, err := hub.Check(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Store, err = hub.PublishInfo(ctx, target); err != nil {
		t.Fatal(err)
	}
	d, err := plan.Destination(store.Location{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, d.Store, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sec, pub, err := signing.Generate("https-test-1")
	if err != nil {
		t.Fatal(err)
	}
	key, err := signing.Parse(sec)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cache.Publish(ctx, cache.Options{Store: st, Key: key, Compression: "zstd", Jobs: 2}, closure)
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.Verify(ctx, st, key.PublicKey(), res); err != nil {
		t.Fatal(err)
	}
	b := testBuild(target)
	b.Outputs = []catalog.Output{{Name: "out", StorePath: top}}
	b.DrvPath = catalog.DrvPath(b.Outputs, closure)
	if !strings.HasSuffix(b.DrvPath, ".drv") {
		t.Errorf("DrvPath of a Nix build: %q", b.DrvPath)
	}
	var paths []string
	for _, p := range closure {
		paths = append(paths, p.StorePath)
	}
	if b.NarInfos, err = cache.ReadNarInfos(ctx, st, paths); err != nil {
		t.Fatal(err)
	}
	if err := hub.Record(ctx, d, b); err != nil {
		t.Fatal(err)
	}
	body := s.Builds()[0].Body
	if n := len(body["narinfos"].(map[string]any)); n != len(closure) {
		t.Errorf("%d narinfos recorded, want the closure's %d", n, len(closure))
	}

	netrc := filepath.Join(t.TempDir(), "netrc")
	if err := os.WriteFile(netrc, []byte("machine 127.0.0.1\nlogin unused\npassword "+testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "root")
	cmd := exec.Command("nix", "copy", "--from", httpCache.URL+"/cache", "--to", root,
		"--option", "netrc-file", netrc, "--option", "trusted-public-keys", pub, "--option", "require-sigs", "true", top)
	cmd.Env = testenv.NixEnv(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nix copy from the https ingress: %v\n%s", err, out)
	}
	for _, p := range closure {
		if _, err := os.Stat(filepath.Join(root, p.StorePath)); err != nil {
			t.Errorf("%s not installed: %v", p.StorePath, err)
		}
	}
}
