package store

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/flox-publish/publish-action/internal/retry"
)

// RetryPolicy says which failed S3 requests are tried again and when.
// Only failures a retry can fix are retried: 5xx answers, throttling (429,
// SlowDown), 408 and S3's RequestTimeout, connection resets and timeouts.
// Any other 4xx, a refused connection or an unknown host fails at once, so
// a wrong bucket, region, endpoint or policy is reported in a second, not
// after minutes of retries.
type RetryPolicy struct {
	// MaxAttempts counts the first try; default 8.
	MaxAttempts int
	// BaseDelay is the first backoff; it doubles each attempt up to
	// MaxDelay. Defaults 250ms and 20s.
	BaseDelay, MaxDelay time.Duration
	// MaxRetryAfter caps a server's Retry-After; default 60s.
	MaxRetryAfter time.Duration
	// Logf, when set, is told about each retry. It never receives
	// credentials or signed URLs.
	Logf func(format string, args ...any)
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 8
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 250 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 20 * time.Second
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = 60 * time.Second
	}
	return p
}

// Retryer returns the policy as an SDK retryer.
func (p RetryPolicy) Retryer() aws.Retryer {
	p = p.withDefaults()
	return awsretry.NewStandard(func(o *awsretry.StandardOptions) {
		o.MaxAttempts = p.MaxAttempts
		o.MaxBackoff = p.MaxDelay
		o.Retryables = []awsretry.IsErrorRetryable{
			awsretry.NoRetryCanceledError{},
			awsretry.IsErrorRetryableFunc(func(err error) aws.Ternary { return aws.BoolTernary(retryable(err)) }),
		}
		o.Backoff = awsretry.BackoffDelayerFunc(p.delay)
		// The SDK's retry quota would turn a burst of 503s across many
		// parallel parts into failures; the per-request cap is enough.
		o.RateLimiter = ratelimit.None
	})
}

// retryable reports whether trying err's request again may succeed.
func retryable(err error) bool {
	// Fetching credentials retries on its own, with a fresh token.
	var ce credentialsError
	if errors.As(err, &ce) {
		return false
	}
	// The SDK wraps a request that got no answer in a ResponseError with
	// status 0: look for the send error first.
	var send *smithyhttp.RequestSendError
	if errors.As(err, &send) {
		return retryableSend(err)
	}
	// A stall, a reset or a cut while the answer was read: the request
	// got through but its answer did not (a CompleteMultipartUpload's
	// 200 cut short is one), and asking again is safe for every
	// operation this store sends. An error status is judged by its
	// status and code below, even when its (often empty) body was short.
	var re *smithyhttp.ResponseError
	failedStatus := errors.As(err, &re) && re.HTTPStatusCode() >= 300
	if !failedStatus && (errors.Is(err, errStalled) || retry.Transient(err)) {
		return true
	}
	if !errors.As(err, &re) {
		// Failures before sending (signing, credentials, a body that
		// cannot be re-read) come out the same on a second try.
		return false
	}
	status := re.HTTPStatusCode()
	switch {
	case status == http.StatusNotImplemented, status == http.StatusHTTPVersionNotSupported:
		return false
	case retry.Status(status):
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		// S3 answers 400 RequestTimeout when it waited too long for the
		// body: the connection stalled, not the request.
		case "RequestTimeout", "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded":
			return true
		}
	}
	return false
}

// retryableSend: resets and timeouts are worth another try; a refused
// connection or an unknown host means a wrong endpoint.
func retryableSend(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) && !dns.IsTimeout {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return false
	}
	if retry.Transient(err) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection reset") || strings.Contains(msg, "use of closed network connection") ||
		strings.Contains(msg, "server closed idle connection")
}

// delay is capped exponential backoff with jitter, or the server's
// Retry-After when it gives one (capped too).
func (p RetryPolicy) delay(attempt int, err error) (time.Duration, error) {
	d := retry.Backoff(p.BaseDelay, p.MaxDelay, attempt)
	if ra, ok := retryAfter(err); ok {
		d = min(ra, p.MaxRetryAfter)
	}
	if p.Logf != nil {
		p.Logf("S3 %s: %s; retrying in %s (attempt %d of %d)", operation(err), describeFailure(err), d.Round(time.Millisecond), attempt+1, p.MaxAttempts)
	}
	return d, nil
}

// retryAfter reads a Retry-After header, in seconds or as an HTTP date.
func retryAfter(err error) (time.Duration, bool) {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil {
		return 0, false
	}
	return retry.After(re.Response.Header.Get("Retry-After"), time.Now())
}

func operation(err error) string {
	var oe *smithy.OperationError
	if errors.As(err, &oe) {
		return oe.Operation()
	}
	return "request"
}

// describeFailure names a failure briefly: status and code, or the
// network error, without the SDK's request ids.
func describeFailure(err error) string {
	var send *smithyhttp.RequestSendError
	if errors.As(err, &send) && send.Err != nil {
		// Drop url.Error's method and URL: the caller names the object.
		var ue *url.Error
		if errors.As(send.Err, &ue) {
			return ue.Err.Error()
		}
		return send.Err.Error()
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		s := "HTTP " + strconv.Itoa(re.HTTPStatusCode())
		var api smithy.APIError
		if errors.As(err, &api) && api.ErrorCode() != "" {
			s += " " + api.ErrorCode()
		}
		return s
	}
	return err.Error()
}
