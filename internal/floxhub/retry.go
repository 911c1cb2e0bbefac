package floxhub

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/flox-publish/publish-action/internal/retry"
)

// DefaultRetry is how FloxHub calls are retried. A call is retried when
// the failure says nothing about the request itself: a 5xx, 429 or 408
// answer, a connection reset or closed early, a timeout (see retryable).
// Any other 4xx fails at once, because sending the same request again
// gets the same answer.
//
// Retrying a POST is safe here: creating a package that exists answers 200
// or 409, recording a build that exists answers 200, and the other calls
// only read.
var DefaultRetry = retry.Policy{Attempts: 5, Base: 500 * time.Millisecond, Max: 20 * time.Second, MaxRetryAfter: 2 * time.Minute}

// DefaultTimeout bounds one try of a call, answer included, as the Flox
// CLI's client does.
const DefaultTimeout = 60 * time.Second

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

// retryable is FloxHub's rule for which failures are transient, for a
// call made on callerCtx.
func retryable(callerCtx context.Context) func(error) bool {
	return func(err error) bool {
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			return retryableStatus(apiErr.Status)
		}
		return retryableError(callerCtx, err)
	}
}
