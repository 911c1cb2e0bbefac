package catalog

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/flox-publish/publish-action/internal/retry"
)

// Retry is how FloxHub calls are retried. A call is retried when the
// failure says nothing about the request itself: a 5xx, 429 or 408 answer,
// a connection reset or closed early, a timeout. Any other 4xx fails at
// once, because sending the same request again gets the same answer.
//
// Retrying a POST is safe here: creating a package that exists answers 200
// or 409, recording a build that exists answers 200, and the other calls
// only read.
type Retry struct {
	// Attempts is the number of tries in all; 0 means 5.
	Attempts int
	// Base is the first backoff, doubled after each try up to Max; 0 means
	// 500ms and 20s. Each wait is drawn from [d/2, d] so that runs failing
	// together do not retry together.
	Base, Max time.Duration
	// MaxRetryAfter caps a server's Retry-After, so that a misconfigured
	// proxy cannot hold the run for hours; 0 means 2 minutes.
	MaxRetryAfter time.Duration
	// AttemptTimeout bounds one try, answer included; 0 means 60s, as the
	// Flox CLI's client does.
	AttemptTimeout time.Duration
	// Sleep waits d or until ctx ends; nil waits on a timer. Tests replace
	// it to run without waiting.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 5
	}
	if r.Base <= 0 {
		r.Base = 500 * time.Millisecond
	}
	if r.Max <= 0 {
		r.Max = 20 * time.Second
	}
	if r.MaxRetryAfter <= 0 {
		r.MaxRetryAfter = 2 * time.Minute
	}
	if r.AttemptTimeout <= 0 {
		r.AttemptTimeout = 60 * time.Second
	}
	if r.Sleep == nil {
		r.Sleep = retry.Sleep
	}
	return r
}

// backoff is the wait before try number attempt+1 (attempt counts from 1),
// at least the server's Retry-After when it gave one.
func (r Retry) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := retry.Backoff(r.Base, r.Max, attempt)
	if retryAfter > 0 {
		d = max(d, min(retryAfter, r.MaxRetryAfter))
	}
	return d
}

// retryableStatus reports whether an HTTP answer is worth asking again.
func retryableStatus(code int) bool { return retry.Status(code) }

// retryableError reports whether a failure to get an answer is transient.
// A try's own deadline passing is a timeout worth retrying; the caller's
// context ending is not.
func retryableError(callerCtx context.Context, err error) bool {
	if callerCtx.Err() != nil {
		return false
	}
	if retry.Transient(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNABORTED) {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && (dnsErr.IsTimeout || dnsErr.IsTemporary)
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date.
func parseRetryAfter(h string, now time.Time) time.Duration {
	d, _ := retry.After(h, now)
	return d
}
