// Package retry is the one retry policy of the action's network clients:
// the FloxHub API, the HTTP store, the upstream caches' narinfos, S3 reads
// resumed mid-body, and (through store's SDK retryer) every S3 request.
// A Policy says how many tries, how long to wait between them and how a
// server's Retry-After is honoured; Do runs the loop. Which failures a
// second try can fix is each caller's own rule, passed to Do; Status and
// Transient are what those rules share: a reset connection or a 503 means
// the same to all of them.
package retry

import (
	"context"
	"errors"
	"fmt"
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
	if err := ctx.Err(); err != nil {
		return err
	}
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

// Policy is how a failed request is tried again.
type Policy struct {
	// Attempts counts every try, the first included.
	Attempts int
	// Base is the first wait, doubled after each try up to Max; each wait
	// is drawn from [d/2, d] (see Backoff).
	Base, Max time.Duration
	// MaxRetryAfter caps a server's Retry-After, so that a misconfigured
	// server or proxy cannot hold the run for hours.
	MaxRetryAfter time.Duration
	// Sleep waits d or until ctx ends; nil waits on a timer. Tests replace
	// it to run without waiting.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Or fills the fields p leaves zero from def: callers keep their own
// defaults and let their users (and tests) set any field.
func (p Policy) Or(def Policy) Policy {
	if p.Attempts <= 0 {
		p.Attempts = def.Attempts
	}
	if p.Base <= 0 {
		p.Base = def.Base
	}
	if p.Max <= 0 {
		p.Max = def.Max
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = def.MaxRetryAfter
	}
	if p.Sleep == nil {
		p.Sleep = def.Sleep
	}
	return p
}

// Wait is the wait before try attempt+1 (attempt counts from 1): the
// backoff, or the server's Retry-After when it asks for longer, capped at
// MaxRetryAfter. A request is never sent again sooner than the server
// asked, nor sooner than the backoff.
func (p Policy) Wait(attempt int, retryAfter time.Duration) time.Duration {
	d := Backoff(p.Base, p.Max, attempt)
	if retryAfter > 0 {
		d = max(d, min(retryAfter, p.MaxRetryAfter))
	}
	return d
}

// Do calls try until it succeeds, fails with an error that transient
// does not accept, or has been called p.Attempts times, waiting p.Wait
// between the calls (with the Retry-After an error carries, see
// WithRetryAfter). retrying, when set, is told of each retry before its
// wait: the error, the wait and the number of the try to come.
//
// When the tries run out, the last error comes back as "<err> (after N
// tries)". When ctx ends during a wait, the context's error comes back,
// joined with the last failure (both match errors.Is and errors.As).
func (p Policy) Do(ctx context.Context, try func() error, transient func(error) bool, retrying func(err error, wait time.Duration, next int)) error {
	sleep := p.Sleep
	if sleep == nil {
		sleep = Sleep
	}
	for attempt := 1; ; attempt++ {
		err := try()
		if err == nil || !transient(err) {
			return err
		}
		if attempt >= p.Attempts {
			if attempt > 1 {
				return fmt.Errorf("%w (after %d tries)", err, attempt)
			}
			return err
		}
		var ra *retryAfterError
		var after time.Duration
		if errors.As(err, &ra) {
			after = ra.after
		}
		wait := p.Wait(attempt, after)
		if retrying != nil {
			retrying(err, wait, attempt+1)
		}
		if serr := sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%w, while waiting to try again after: %w", serr, err)
		}
	}
}

// WithRetryAfter marks err with the wait a server asked for (its
// Retry-After), for Do; err's message is unchanged.
func WithRetryAfter(err error, d time.Duration) error {
	if err == nil || d <= 0 {
		return err
	}
	return &retryAfterError{err: err, after: d}
}

type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }
