// Package upstream finds the store paths of a closure that upstream binary
// caches (such as cache.nixos.org) already serve, so that they need not be
// uploaded again.
//
// A path counts as served only when an upstream's narinfo for it carries a
// valid signature by one of the trusted keys and describes the same NAR
// (hash, size and references) as the local path: the consumer's Nix will
// check the same signature and the same hash, so a path skipped here is a
// path the consumer can install. Anything less (no narinfo, a narinfo
// signed by nobody trusted, another NAR, an upstream that does not answer)
// means the path is uploaded as usual: asking upstreams only ever saves
// work, it never fails a publish.
package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/retry"
)

// DefaultCache and DefaultKey are Nix's own defaults: every Nix
// installation substitutes from this cache and trusts this key. FloxCache
// and FloxKey are Flox's, where its catalog's packages are: Flox's
// installer adds them to every Flox user's Nix. The action's
// upstream-caches and upstream-keys default to both (inputs.All).
const (
	DefaultCache = "https://cache.nixos.org"
	DefaultKey   = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="
	FloxCache    = "https://cache.flox.dev"
	FloxKey      = "flox-cache-public-1:7F4OyH7ZCnFhcze3fJdfyXYLQw/aV7GEed86nQ7IsOs="
)

// Defaults of Options.
const (
	DefaultTimeout = 10 * time.Second
	DefaultJobs    = 16
)

// Options configure Find.
type Options struct {
	// Caches are the upstream substituter URLs (http or https).
	Caches []string
	// Keys are the public keys whose signatures make an upstream narinfo
	// trusted.
	Keys []signature.PublicKey
	// Timeout bounds each request; 0 means DefaultTimeout.
	Timeout time.Duration
	// Jobs bounds the requests in flight per cache; 0 means DefaultJobs.
	Jobs int
	// Client makes the requests; nil means a default client.
	Client *http.Client
	// Warnf reports an upstream that was left out (unreachable, not a
	// cache, for another store directory). It may be nil.
	Warnf func(format string, args ...any)
}

// Served is a path an upstream serves.
type Served struct {
	// Cache is the URL of the upstream that serves it.
	Cache string
	// NarInfo is the upstream's narinfo, as fetched.
	NarInfo *narinfo.NarInfo
}

// ParseKeys parses `name:base64` public keys separated by white space.
func ParseKeys(s string) ([]signature.PublicKey, error) {
	var keys []signature.PublicKey
	for _, f := range strings.Fields(s) {
		k, err := signature.ParsePublicKey(f)
		if err != nil {
			return nil, fmt.Errorf("public key %q: %w; give keys as NAME:BASE64, as in nix.conf's trusted-public-keys", f, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// Find asks every cache, in parallel, for the narinfos of paths and
// returns the paths one of them serves with a trusted signature, keyed by
// store path. It returns an error only when ctx ends; an upstream that
// fails is left out with a warning.
func Find(ctx context.Context, opts Options, paths []nixpath.PathInfo) (map[string]Served, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Jobs <= 0 {
		opts.Jobs = DefaultJobs
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.Warnf == nil {
		opts.Warnf = func(string, ...any) {}
	}
	served := map[string]Served{}
	if len(opts.Caches) == 0 || len(opts.Keys) == 0 || len(paths) == 0 {
		return served, nil
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range opts.Caches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			found, err := askCache(ctx, opts, strings.TrimSuffix(c, "/"), paths)
			if err != nil {
				if ctx.Err() == nil {
					opts.Warnf("upstream cache %s is left out, so the paths it may serve are uploaded: %v", c, err)
				}
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for p, s := range found {
				if _, dup := served[p]; !dup || earlier(opts.Caches, s.Cache, served[p].Cache) {
					served[p] = s
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return served, nil
}

// earlier says whether cache a comes before b in caches, so that the
// answer does not depend on which upstream answered first.
func earlier(caches []string, a, b string) bool {
	for _, c := range caches {
		switch strings.TrimSuffix(c, "/") {
		case a:
			return true
		case b:
			return false
		}
	}
	return false
}

// errUnavailable marks a failed request: the upstream is left out as a
// whole rather than trusted for some paths and not others at random.
var errUnavailable = errors.New("unavailable")

func askCache(ctx context.Context, opts Options, base string, paths []nixpath.PathInfo) (map[string]Served, error) {
	info, err := get(ctx, opts, base+"/nix-cache-info")
	var status httpStatus
	if errors.As(err, &status) {
		return nil, fmt.Errorf("GET %s/nix-cache-info: HTTP %d; it does not appear to be a binary cache", base, int(status))
	}
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(info), "\n") {
		if v, ok := strings.CutPrefix(line, "StoreDir:"); ok && strings.TrimSpace(v) != nixpath.StoreDir {
			return nil, fmt.Errorf("it is a cache for store %q, not %s", strings.TrimSpace(v), nixpath.StoreDir)
		}
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	found := map[string]Served{}
	var mu sync.Mutex
	sem := make(chan struct{}, opts.Jobs)
	var wg sync.WaitGroup
	for _, p := range paths {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ni, err := askPath(ctx, opts, base, p)
			if err != nil {
				cancel(err)
				return
			}
			if ni != nil {
				mu.Lock()
				found[p.StorePath] = Served{Cache: base, NarInfo: ni}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return found, nil
}

// askPath returns the upstream's narinfo of p when it is trusted and
// describes p's NAR; nil when the upstream has no such narinfo.
func askPath(ctx context.Context, opts Options, base string, p nixpath.PathInfo) (*narinfo.NarInfo, error) {
	var body []byte
	u := base + "/" + nixpath.HashPart(p.StorePath) + ".narinfo"
	err := lookupRetry.Do(ctx, func() (err error) {
		body, err = get(ctx, opts, u)
		return err
	}, transient, nil)
	var status httpStatus
	switch {
	case errors.As(err, &status) && (status == http.StatusNotFound || status == http.StatusForbidden):
		// S3 answers 403 for a missing key when listing is not allowed;
		// Nix reads both as "not there".
		return nil, nil
	case errors.As(err, &status):
		return nil, fmt.Errorf("GET %s: HTTP %d: %w", u, int(status), errUnavailable)
	case err != nil:
		return nil, err
	}
	ni, err := narinfo.Parse(bytes.NewReader(body))
	if err != nil || !narinfo.Matches(ni, p) || !narinfo.Trusted(ni, opts.Keys) {
		// A narinfo that does not parse, describes another NAR or is not
		// signed by a trusted key is not a reason to distrust the whole
		// upstream: the path is simply uploaded.
		return nil, nil
	}
	return ni, nil
}

// lookupRetry is how one narinfo is asked for again: a 5xx or a reset
// connection may pass, so a few tries before the whole upstream is left
// out, with short waits, a server's Retry-After honoured up to the same
// bound: the look-up only ever saves work.
var lookupRetry = retry.Policy{Attempts: 3, Base: 200 * time.Millisecond, Max: 2 * time.Second, MaxRetryAfter: 2 * time.Second}

// transient is the look-up's rule for a failure worth another try. A
// timeout is not tried again: an upstream that does not answer would only
// cost more time.
func transient(err error) bool {
	var status httpStatus
	if errors.As(err, &status) {
		return retry.Status(int(status))
	}
	return retry.Transient(err) && !isTimeout(err)
}

// httpStatus is an answer other than 200 OK.
type httpStatus int

func (s httpStatus) Error() string { return "HTTP " + strconv.Itoa(int(s)) }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// maxBody bounds what is read of an answer: narinfos are a few KiB.
const maxBody = 1 << 20

// get fetches u; an answer other than 200 OK is an httpStatus error,
// carrying the server's Retry-After.
func get(ctx context.Context, opts Options, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := opts.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		after, _ := retry.After(resp.Header.Get("Retry-After"), time.Now())
		return nil, retry.WithRetryAfter(httpStatus(resp.StatusCode), after)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	return body, nil
}

// Summary is what a publish tells about upstream paths.
type Summary struct {
	Paths int
	// NarBytes is the total NAR size of the paths skipped.
	NarBytes uint64
	// Caches are the upstreams that serve at least one skipped path, in
	// the order given: consumers need them as substituters.
	Caches []string
}

// Summarize counts served in the order of caches.
func Summarize(caches []string, served map[string]Served) Summary {
	var s Summary
	used := map[string]bool{}
	for _, v := range served {
		s.Paths++
		s.NarBytes += v.NarInfo.NarSize
		used[v.Cache] = true
	}
	for _, c := range caches {
		if c = strings.TrimSuffix(c, "/"); used[c] {
			s.Caches = append(s.Caches, c)
			delete(used, c)
		}
	}
	return s
}
