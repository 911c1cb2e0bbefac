package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flox-publish/publish-action/internal/retry"
	"github.com/flox-publish/publish-action/internal/testenv"
)

func TestHTTPStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cache := testenv.StartHTTPCache(t, "token")
	cache.FailNext(2)
	host := cache.Host()
	u, _ := url.Parse(cache.URL + "/cache?want-mass-query=true&priority=30")
	h, err := openHTTP(u, httpOptions{
		BasicAuth: func(u *url.URL) (string, string, bool) { return "unused", "token", u.Host == host },
		Retry:     retry.Policy{Base: time.Millisecond, Max: time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	if h.URL() != cache.URL+"/cache" {
		t.Errorf("URL %s", h.URL())
	}
	if ok, err := h.Exists(ctx, "nix-cache-info"); err != nil || ok {
		t.Errorf("Exists before the upload: %v, %v", ok, err)
	}
	big := bytes.Repeat([]byte("nar"), SpoolInMemory/3+1000) // spooled to a file
	for key, data := range map[string][]byte{"nix-cache-info": []byte("StoreDir: /nix/store\n"), "nar/x.nar.zst": big} {
		n, err := h.Put(ctx, key, io.MultiReader(bytes.NewReader(data)), "application/x-nix-nar")
		if err != nil || n != int64(len(data)) {
			t.Fatalf("Put %s: %d, %v", key, n, err)
		}
		r, err := h.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(got, data) {
			t.Errorf("%s read back %d bytes, want %d", key, len(got), len(data))
		}
		if size, err := h.Size(ctx, key); err != nil || size != int64(len(data)) {
			t.Errorf("Size %s: %d, %v", key, size, err)
		}
	}
	if _, err := h.Get(ctx, "absent"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of an absent key: %v", err)
	}
	for _, a := range cache.Authorizations() {
		if a == "" {
			t.Fatal("a request went without the credentials")
		}
	}

	// Another host gets no credentials, and the error says so.
	other, _ := openHTTP(u, httpOptions{BasicAuth: func(*url.URL) (string, string, bool) { return "", "", false }})
	seen := len(cache.Authorizations())
	_, err = other.Put(ctx, "x", strings.NewReader("x"), "text/plain")
	if err == nil || !strings.Contains(err.Error(), "No credentials were sent") {
		t.Errorf("Put without credentials: %v", err)
	}
	if cache.Authorizations()[seen] != "" {
		t.Error("credentials were sent to a host BasicAuth did not name")
	}
}

// TestHTTPStoreRedirectDropsCredentials: a redirect to another host does
// not carry the token there.
func TestHTTPStoreRedirectDropsCredentials(t *testing.T) {
	t.Parallel()
	var got string
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		w.WriteHeader(http.StatusOK)
	}))
	defer elsewhere.Close()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusFound)
	}))
	defer origin.Close()
	host := strings.TrimPrefix(origin.URL, "http://")
	u, _ := url.Parse(origin.URL)
	h, _ := openHTTP(u, httpOptions{BasicAuth: func(u *url.URL) (string, string, bool) { return "unused", "token", u.Host == host }})
	if _, err := h.Exists(context.Background(), "x.narinfo"); err != nil {
		t.Fatal(err)
	}
	if got != "" {
		t.Errorf("the redirect target got Authorization %q", got)
	}
}

// TestHTTPStoreCutsHeldRequests: a server that holds a request open
// costs a small request Answer, then it is tried again; before Timeouts
// reached the HTTP store, such a request waited forever.
func TestHTTPStoreCutsHeldRequests(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Method]++
		first := seen[r.Method] == 1
		mu.Unlock()
		io.Copy(io.Discard, r.Body)
		if first {
			<-r.Context().Done() // held open, once per method
			return
		}
		w.Write([]byte("StoreDir: /nix/store\n"))
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL + "/cache")
	h, err := openHTTP(u, httpOptions{Timeouts: Timeouts{Answer: 300 * time.Millisecond}, Retry: retry.Policy{Attempts: 3, Base: 10 * time.Millisecond, Max: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if ok, err := h.Exists(context.Background(), "nix-cache-info"); err != nil || !ok {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
	if _, err := h.Put(context.Background(), "x.narinfo", strings.NewReader("StorePath: x\n"), "text/x-nix-narinfo"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("two held requests cost %s, want about 2 × 300ms", d)
	}
	if seen["HEAD"] != 2 || seen["PUT"] != 2 {
		t.Errorf("requests %v, want each method tried twice", seen)
	}
}
