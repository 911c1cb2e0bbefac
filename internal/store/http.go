package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/flox-publish/publish-action/internal/retry"
)

// HTTP is a binary cache served over HTTP(S) that takes uploads by PUT, as
// Nix's HttpBinaryCacheStore writes one (`nix copy --to https://…`): GET
// and HEAD read <base>/<key>, PUT writes it. FloxHub hands out such stores
// as nix-copy ingress URIs, behind a proxy that authenticates the FloxHub
// token with HTTP basic authentication.
//
// A PUT replaces the object at once on the servers Nix writes to, so Put
// is as atomic as the server makes it. Bodies are sent with their length:
// a streamed NAR is spooled to memory, or to a temporary file beyond
// SpoolInMemory, so that a failed upload can be sent again.
type HTTP struct {
	base   *url.URL
	client *http.Client
	auth   func(u *url.URL) (user, password string, ok bool)
	retry  retry.Policy
	logf   func(string, ...any)
}

// httpOptions configure an HTTP store.
type httpOptions struct {
	// Client sends the requests; nil means a client of its own.
	Client *http.Client
	// BasicAuth returns the credentials for a request's URL, if any. It is
	// asked for every request, and again on a redirect, so credentials
	// only go where (host and scheme) BasicAuth says.
	BasicAuth func(u *url.URL) (user, password string, ok bool)
	// Retry is how failed requests are tried again; its zero fields are
	// DefaultRetry's.
	Retry retry.Policy
	// Timeouts bound each request as they bound S3's (see Timeouts).
	Timeouts Timeouts
	Logf     func(format string, args ...any)
}

// SpoolInMemory is the largest body Put keeps in memory before it spools
// to a temporary file.
const SpoolInMemory = 16 << 20

var _ Store = (*HTTP)(nil)

// openHTTP opens the HTTP(S) store at u (a Location's: no query, no
// credentials). It sends no request.
func openHTTP(u *url.URL, opts httpOptions) (*HTTP, error) {
	base := *u
	base.RawQuery, base.Fragment = "", ""
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawPath = ""
	h := &HTTP{base: &base, client: opts.Client, auth: opts.BasicAuth, retry: opts.Retry.Or(DefaultRetry), logf: opts.Logf}
	if h.client == nil {
		h.client = &http.Client{}
	}
	if h.logf == nil {
		h.logf = func(string, ...any) {}
	}
	// Never follow a redirect with a body to replay, and ask BasicAuth
	// again for the new host. Each request is bounded as an S3 one is.
	client := *h.client
	next := client.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	client.Transport = stallTransport{newStallClient(transportClient{next}, opts.Timeouts)}
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		req.Header.Del("Authorization")
		h.authorize(req)
		return nil
	}
	h.client = &client
	return h, nil
}

// URL is the store's URL without its query.
func (h *HTTP) URL() string { return h.base.String() }

func (h *HTTP) objectURL(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains("/"+key+"/", "/../") || strings.Contains("/"+key+"/", "/./") {
		return "", fmt.Errorf("invalid object key %q", key)
	}
	u := *h.base
	u.Path += "/" + key
	return u.String(), nil
}

func (h *HTTP) authorize(req *http.Request) {
	if h.auth == nil {
		return
	}
	if user, password, ok := h.auth(req.URL); ok {
		req.SetBasicAuth(user, password)
	}
}

// Exists reports whether key exists. Like Nix, it takes 403 for "absent".
func (h *HTTP) Exists(ctx context.Context, key string) (bool, error) {
	_, err := h.Size(ctx, key)
	var he *HTTPError
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound), errors.As(err, &he) && he.Status == http.StatusForbidden:
		return false, nil
	}
	return false, err
}

// Size is the object's Content-Length.
func (h *HTTP) Size(ctx context.Context, key string) (int64, error) {
	resp, err := h.do(ctx, http.MethodHead, key, nil, "")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.ContentLength, nil
}

// Get opens the object at key.
func (h *HTTP) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	resp, err := h.do(ctx, http.MethodGet, key, nil, "")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Put uploads r to key with one PUT.
func (h *HTTP) Put(ctx context.Context, key string, r io.Reader, contentType string) (int64, error) {
	body, n, cleanup, err := spool(ctx, r)
	if err != nil {
		return 0, fmt.Errorf("upload %s: reading the data: %w", key, err)
	}
	defer cleanup()
	resp, err := h.do(ctx, http.MethodPut, key, body, contentType)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return n, nil
}

// spool makes r re-readable: in memory up to SpoolInMemory, else in a
// temporary file removed by cleanup.
func spool(ctx context.Context, r io.Reader) (io.ReadSeeker, int64, func(), error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(contextReader{ctx, r}, SpoolInMemory+1))
	if err != nil {
		return nil, 0, func() {}, err
	}
	if n <= SpoolInMemory {
		return bytes.NewReader(buf.Bytes()), n, func() {}, nil
	}
	f, err := os.CreateTemp("", "flox-publish-put-*")
	if err != nil {
		return nil, 0, func() {}, err
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	if _, err := f.Write(buf.Bytes()); err != nil {
		cleanup()
		return nil, 0, func() {}, err
	}
	m, err := io.Copy(f, contextReader{ctx, r})
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		cleanup()
		return nil, 0, func() {}, err
	}
	return f, n + m, cleanup, nil
}

// do sends one request, retrying transient failures as the S3 store does.
func (h *HTTP) do(ctx context.Context, method, key string, body io.ReadSeeker, contentType string) (*http.Response, error) {
	target, err := h.objectURL(key)
	if err != nil {
		return nil, err
	}
	op := map[string]string{http.MethodHead: "check", http.MethodGet: "read", http.MethodPut: "upload"}[method]
	var resp *http.Response
	transient := func(err error) bool {
		var he *HTTPError
		if errors.As(err, &he) {
			return retry.Status(he.Status)
		}
		return ctx.Err() == nil && retry.Transient(err)
	}
	err = h.retry.Do(ctx, func() error {
		var rd io.Reader
		var size int64
		if body != nil {
			var err error
			if size, err = body.Seek(0, io.SeekEnd); err == nil {
				_, err = body.Seek(0, io.SeekStart)
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", op, h.show(key), err)
			}
			rd = io.NopCloser(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, target, rd)
		if err != nil {
			return err
		}
		if body != nil {
			req.ContentLength = size
			req.Header.Set("Content-Type", contentType)
		}
		req.Header.Set("User-Agent", "flox-publish-action")
		h.authorize(req)
		r, err := h.client.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %w", op, h.show(key), err)
		}
		if r.StatusCode >= 200 && r.StatusCode < 300 {
			resp = r
			return nil
		}
		msg, _ := io.ReadAll(io.LimitReader(r.Body, 512))
		r.Body.Close()
		if r.StatusCode == http.StatusNotFound && method != http.MethodPut {
			return fmt.Errorf("%s %s: %w", op, h.show(key), ErrNotFound)
		}
		herr := &HTTPError{Op: op, URL: h.show(key), Status: r.StatusCode, Message: strings.TrimSpace(string(msg)), authorized: req.Header.Get("Authorization") != ""}
		after, _ := retry.After(r.Header.Get("Retry-After"), time.Now())
		return retry.WithRetryAfter(herr, after)
	}, transient, func(err error, wait time.Duration, next int) {
		h.logf("%v; retrying in %s (attempt %d of %d)", err, wait.Round(time.Millisecond), next, h.retry.Attempts)
	})
	return resp, err
}

func (h *HTTP) show(key string) string { return h.base.String() + "/" + key }

// HTTPError is an answer from an HTTP store other than success.
type HTTPError struct {
	Op      string // check, read, upload
	URL     string
	Status  int
	Message string // the start of the answer's body
	// authorized tells whether credentials were sent, for the hint.
	authorized bool
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s %s: the server answered %d %s", e.Op, e.URL, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		line, _, _ := strings.Cut(e.Message, "\n")
		msg += ": " + line
	}
	switch {
	case (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden) && e.authorized:
		msg += ". The credentials sent were refused: check the token"
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		msg += ". No credentials were sent to this host: it is not one the action authenticates to"
	case e.Status == http.StatusMethodNotAllowed && e.Op == "upload":
		msg += ". The server does not take uploads (PUT)"
	}
	return msg
}
