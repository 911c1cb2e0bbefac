// Package retry holds what the store's and the catalog's retry policies
// share: which failures a second try can fix, how long to wait, and how to
// read a server's Retry-After, and how to wait. Each caller keeps its own attempt loop and
// its own extra rules (S3 error codes, FloxHub's timeouts), but a reset
// connection or a 503 means the same to both.
package retry

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Status reports whether an HTTP answer is worth asking for again: a 5xx,
// 429 Too Many Requests or 408 Request Timeout. Any other status would come
// back the same.
func Status(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
}

// Transient reports whether a failure to get an answer is one a retry can
// fix: a connection reset or closed early, or a network timeout.
func Transient(err error) bool {
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Backoff is the wait before try attempt+1 (attempt counts from 1): base
// doubled after each try, capped at max, and drawn from [d/2, d] so that
// runs or parts failing together do not come back together.
func Backoff(base, max time.Duration, attempt int) time.Duration {
	d := base << min(attempt-1, 30)
	if d <= 0 || d > max {
		d = max
	}
	return d/2 + rand.N(d/2+1)
}

// Sleep waits d, or until ctx ends, and then returns ctx.Err().
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// After reads a Retry-After header, in seconds or as an HTTP date; false
// when there is none or it does not parse.
func After(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
