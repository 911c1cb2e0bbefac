package upstream_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/testenv"
	"github.com/flox-publish/publish-action/internal/upstream"
)

// upstreamCache is a binary cache written by real `nix copy` and served
// over loopback http, as cache.nixos.org serves its own.
type upstreamCache struct {
	url string
	pub string // NAME:BASE64
	dir string
}

// upstreams counts the caches newUpstream made.
var upstreams atomic.Int32

// newUpstream copies paths into a new file:// cache with `nix copy`,
// signed by a new key, and serves it on loopback. tamper, when set,
// rewrites each narinfo as it is served.
func newUpstream(t *testing.T, tamper func(string) string, paths ...string) upstreamCache {
	t.Helper()
	dir := t.TempDir()
	// Each cache's key has a name of its own, as real caches' keys do
	// (keys are told apart by name, as in Nix).
	sec, pub, err := signing.Generate(fmt.Sprintf("upstream-test-%d", upstreams.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	secFile := filepath.Join(dir, "key.sec")
	if err := os.WriteFile(secFile, []byte(sec), 0o600); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "cache")
	args := append([]string{"nix", "copy", "--to", "file://" + root + "?compression=zstd&secret-key=" + secFile}, paths...)
	testenv.Nix(t, args...)
	files := http.FileServer(http.Dir(root))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tamper != nil && strings.HasSuffix(r.URL.Path, ".narinfo") {
			data, err := os.ReadFile(filepath.Join(root, filepath.Base(r.URL.Path)))
			if err != nil {
				http.NotFound(w, r)
				return
			}
			w.Write([]byte(tamper(string(data))))
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return upstreamCache{url: srv.URL, pub: pub, dir: root}
}

func keys(t *testing.T, s ...string) []signature.PublicKey {
	t.Helper()
	k, err := upstream.ParseKeys(strings.Join(s, " "))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func byName(closure []nixpath.PathInfo, top string) (app, lib nixpath.PathInfo) {
	for _, p := range closure {
		if p.StorePath == top {
			app = p
		} else {
			lib = p
		}
	}
	return app, lib
}

// publish runs cache.Publish of closure into a new file:// cache, skipping
// what served holds, and returns the cache's directory, its public key
// and the results.
func publish(t *testing.T, closure []nixpath.PathInfo, served map[string]upstream.Served) (string, string, []cache.PathResult) {
	t.Helper()
	sec, pub, err := signing.Generate("ours-test-1")
	if err != nil {
		t.Fatal(err)
	}
	key, err := signing.Parse(sec)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ours")
	st, err := store.OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	skip := map[string]*narinfo.NarInfo{}
	for p, s := range served {
		skip[p] = s.NarInfo
	}
	res, err := cache.Publish(context.Background(), cache.Options{Store: st, Key: key, Jobs: 2, Upstream: skip}, closure)
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.Verify(context.Background(), st, key.PublicKey(), res); err != nil {
		t.Fatal(err)
	}
	return dir, pub, res
}

func TestPublishSkipsWhatUpstreamServes(t *testing.T) {
	top, closure := testenv.NixClosure(t, "upstream-", "")
	app, lib := byName(closure, top)
	up := newUpstream(t, nil, lib.StorePath)

	served, err := upstream.Find(context.Background(), upstream.Options{
		Caches: []string{up.url}, Keys: keys(t, up.pub),
		Warnf: func(f string, a ...any) { t.Errorf("unexpected warning: "+f, a...) },
	}, closure)
	if err != nil {
		t.Fatal(err)
	}
	if len(served) != 1 || served[lib.StorePath].Cache != up.url {
		t.Fatalf("served = %v, want only %s from %s", served, lib.StorePath, up.url)
	}
	sum := upstream.Summarize([]string{up.url + "/"}, served)
	if sum.Paths != 1 || sum.NarBytes != lib.NarSize || len(sum.Caches) != 1 || sum.Caches[0] != up.url {
		t.Errorf("summary = %+v", sum)
	}

	ours, ourPub, res := publish(t, closure, served)
	status := map[string]cache.Status{}
	for _, r := range res {
		status[r.StorePath] = r.Status
		if r.NarInfo == nil {
			t.Errorf("%s: no narinfo in the result; the catalog lists every path's", r.StorePath)
		}
	}
	if status[app.StorePath] != cache.Uploaded || status[lib.StorePath] != cache.Upstream {
		t.Errorf("statuses = %v, want the app uploaded and the library upstream", status)
	}
	if _, err := os.Stat(filepath.Join(ours, nixpath.HashPart(lib.StorePath)+".narinfo")); !os.IsNotExist(err) {
		t.Errorf("the library's narinfo was written to our cache (err %v)", err)
	}
	nars, _ := filepath.Glob(filepath.Join(ours, "nar", "*"))
	if len(nars) != 1 {
		t.Errorf("our cache holds %d NARs, want 1 (the app's)", len(nars))
	}

	// Real Nix installs the whole closure from the two caches together
	// into an empty store, checking each cache's signatures.
	root := t.TempDir()
	cmd := exec.Command("nix-store", "--store", root, "--realise", top,
		"--option", "substituters", up.url+" file://"+ours,
		"--option", "trusted-public-keys", up.pub+" "+ourPub)
	cmd.Env = testenv.NixEnv(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nix-store --realise from both caches: %v\n%s", err, out)
	}
	for _, p := range closure {
		if _, err := os.Stat(filepath.Join(root, p.StorePath)); err != nil {
			t.Errorf("%s was not installed: %v\n%s", p.StorePath, err, out)
		}
	}
	if !strings.Contains(string(out), "copying path '"+lib.StorePath+"' from '"+up.url) {
		t.Errorf("the library did not come from upstream:\n%s", out)
	}
}

func TestFindDoesNotTrust(t *testing.T) {
	top, closure := testenv.NixClosure(t, "upstream-distrust-", "")
	_, lib := byName(closure, top)
	sigRe := regexp.MustCompile(`(?m)^Sig: ([^:]+):(.)`)
	flip := func(s string) string {
		return sigRe.ReplaceAllStringFunc(s, func(m string) string {
			last := m[len(m)-1]
			if last == 'A' {
				return m[:len(m)-1] + "B"
			}
			return m[:len(m)-1] + "A"
		})
	}
	good := newUpstream(t, nil, lib.StorePath)
	tampered := newUpstream(t, flip, lib.StorePath)
	otherSize := newUpstream(t, func(s string) string {
		return regexp.MustCompile(`(?m)^NarSize: \d+`).ReplaceAllString(s, "NarSize: 1")
	}, lib.StorePath)
	_, otherPub, _ := signing.Generate("someone-else-1")

	for _, tc := range []struct {
		name  string
		cache string
		keys  []string
	}{
		{"tampered signature", tampered.url, []string{tampered.pub}},
		{"untrusted key", good.url, []string{otherPub}},
		{"another NAR", otherSize.url, []string{otherSize.pub}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			served, err := upstream.Find(context.Background(), upstream.Options{Caches: []string{tc.cache}, Keys: keys(t, tc.keys...)}, closure)
			if err != nil {
				t.Fatal(err)
			}
			if len(served) != 0 {
				t.Errorf("served = %v, want nothing trusted", served)
			}
		})
	}
}

func TestUnreachableUpstreamUploadsEverything(t *testing.T) {
	top, closure := testenv.NixClosure(t, "upstream-down-", "")
	_, lib := byName(closure, top)
	up := newUpstream(t, nil, lib.StorePath)
	// A closed port, and a server that is not a binary cache.
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	notCache := httptest.NewServer(http.NotFoundHandler())
	defer notCache.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/nix-cache-info" {
			w.Write([]byte("StoreDir: /nix/store\n"))
			return
		}
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer failing.Close()

	for _, c := range []string{down.URL, notCache.URL, failing.URL} {
		var mu sync.Mutex
		var warnings []string
		served, err := upstream.Find(context.Background(), upstream.Options{
			Caches: []string{c}, Keys: keys(t, up.pub),
			Warnf: func(f string, a ...any) {
				mu.Lock()
				warnings = append(warnings, f)
				mu.Unlock()
			},
		}, closure)
		if err != nil {
			t.Fatalf("%s: Find failed: %v; an unreachable upstream must never fail a publish", c, err)
		}
		if len(served) != 0 || len(warnings) != 1 {
			t.Errorf("%s: served %v, warnings %q; want nothing served and one warning", c, served, warnings)
		}
		_, _, res := publish(t, closure, served)
		for _, r := range res {
			if r.Status != cache.Uploaded {
				t.Errorf("%s: %s is %s, want uploaded", c, r.StorePath, r.Status)
			}
		}
	}

	// With a working upstream beside the broken ones, its paths are still
	// skipped.
	served, err := upstream.Find(context.Background(), upstream.Options{Caches: []string{down.URL, up.url}, Keys: keys(t, up.pub)}, closure)
	if err != nil || len(served) != 1 {
		t.Errorf("with one upstream down: served %v, err %v; want the library from %s", served, err, up.url)
	}
}

// TestFlakyUpstreamIsAskedAgain: a 503 that passes does not cost the
// upstream's paths.
func TestFlakyUpstreamIsAskedAgain(t *testing.T) {
	top, closure := testenv.NixClosure(t, "upstream-flaky-", "")
	_, lib := byName(closure, top)
	up := newUpstream(t, nil, lib.StorePath)
	files := http.FileServer(http.Dir(up.dir))
	var mu sync.Mutex
	failed := map[string]bool{}
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := !failed[r.URL.Path]
		failed[r.URL.Path] = true
		mu.Unlock()
		if first && strings.HasSuffix(r.URL.Path, ".narinfo") {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		files.ServeHTTP(w, r)
	}))
	defer flaky.Close()
	served, err := upstream.Find(context.Background(), upstream.Options{
		Caches: []string{flaky.URL}, Keys: keys(t, up.pub),
		Warnf: func(f string, a ...any) { t.Errorf("unexpected warning: "+f, a...) },
	}, closure)
	if err != nil || len(served) != 1 {
		t.Errorf("served %v, err %v; want the library", served, err)
	}
}

// TestDefaultUpstreamsEachServe stands in, on loopback, for each cache of
// the action's default upstream-caches (cache.nixos.org and
// cache.flox.dev): a path either serves is not uploaded. The stand-ins
// sign with keys of their own, in the place of the real keys, which the
// test checks are the defaults beside them.
func TestDefaultUpstreamsEachServe(t *testing.T) {
	var defCaches, defKeys []string
	for _, in := range inputs.All {
		switch in.Name {
		case "upstream-caches":
			defCaches = strings.Fields(in.ActionDefault)
		case "upstream-keys":
			defKeys = strings.Fields(in.Default)
		}
	}
	if !slices.Equal(defCaches, []string{upstream.DefaultCache, upstream.FloxCache}) || !slices.Equal(defKeys, []string{upstream.DefaultKey, upstream.FloxKey}) {
		t.Fatalf("the action's default upstreams are %q with keys %q, want cache.nixos.org's and cache.flox.dev's", defCaches, defKeys)
	}
	keys(t, defKeys...)

	type part struct{ app, lib nixpath.PathInfo }
	var closure []nixpath.PathInfo
	var parts []part
	var standIns []upstreamCache
	for _, name := range []string{"nixos", "flox"} {
		top, c := testenv.NixClosure(t, "upstream-"+name+"-", "")
		app, lib := byName(c, top)
		closure = append(closure, c...)
		parts = append(parts, part{app, lib})
		standIns = append(standIns, newUpstream(t, nil, lib.StorePath))
	}
	served, err := upstream.Find(context.Background(), upstream.Options{
		Caches: []string{standIns[0].url, standIns[1].url}, Keys: keys(t, standIns[0].pub, standIns[1].pub),
		Warnf: func(f string, a ...any) { t.Errorf("unexpected warning: "+f, a...) },
	}, closure)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range parts {
		if got := served[p.lib.StorePath].Cache; got != standIns[i].url {
			t.Errorf("%s served by %q, want the stand-in for %s (%s)", p.lib.StorePath, got, defCaches[i], standIns[i].url)
		}
	}
	if sum := upstream.Summarize([]string{standIns[0].url, standIns[1].url}, served); sum.Paths != 2 || !slices.Equal(sum.Caches, []string{standIns[0].url, standIns[1].url}) {
		t.Errorf("summary = %+v, want 2 paths from both caches", sum)
	}

	ours, _, res := publish(t, closure, served)
	status := map[string]cache.Status{}
	for _, r := range res {
		status[r.StorePath] = r.Status
	}
	for i, p := range parts {
		if status[p.lib.StorePath] != cache.Upstream || status[p.app.StorePath] != cache.Uploaded {
			t.Errorf("stand-in for %s: %s is %s, %s is %s; want the library upstream and the app uploaded",
				defCaches[i], p.lib.StorePath, status[p.lib.StorePath], p.app.StorePath, status[p.app.StorePath])
		}
		if _, err := os.Stat(filepath.Join(ours, nixpath.HashPart(p.lib.StorePath)+".narinfo")); !os.IsNotExist(err) {
			t.Errorf("%s's narinfo was written to our cache (err %v)", p.lib.StorePath, err)
		}
	}
	if nars, _ := filepath.Glob(filepath.Join(ours, "nar", "*")); len(nars) != 2 {
		t.Errorf("our cache holds %d NARs, want 2 (the apps')", len(nars))
	}
}
