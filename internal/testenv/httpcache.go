package testenv

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// HTTPCache stands in for an HTTP binary cache that takes uploads by PUT,
// as FloxHub's https ingress stores do behind their authenticating proxy
// (nix_auth.rs: basic authentication, the token as password). Objects live
// in memory under the server's root path. When Password is set, every
// request must carry it, else 401.
type HTTPCache struct {
	URL string

	mu       sync.Mutex
	password string
	objects  map[string][]byte
	auths    []string
	fail     int
}

// StartHTTPCache starts a cache stopped when t ends.
func StartHTTPCache(t testing.TB, password string) *HTTPCache {
	c := &HTTPCache{password: password, objects: map[string][]byte{}}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// Host is the cache's host:port.
func (c *HTTPCache) Host() string { return strings.TrimPrefix(c.URL, "http://") }

// FailNext answers 503 to the next n requests.
func (c *HTTPCache) FailNext(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = n
}

// Authorizations are the Authorization headers received, in order.
func (c *HTTPCache) Authorizations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.auths...)
}

// Has reports whether an object exists at path (without the leading /).
func (c *HTTPCache) Has(path string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.objects[path]
	return ok
}

func (c *HTTPCache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.auths = append(c.auths, r.Header.Get("Authorization"))
	if c.fail > 0 {
		c.fail--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if _, password, ok := r.BasicAuth(); c.password != "" && (!ok || password != c.password) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	key := strings.TrimPrefix(r.URL.Path, "/")
	switch r.Method {
	case http.MethodPut:
		if r.ContentLength < 0 {
			http.Error(w, "length required", http.StatusLengthRequired)
			return
		}
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		c.objects[key] = data
	case http.MethodGet, http.MethodHead:
		data, ok := c.objects[key]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(data)
		}
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}
