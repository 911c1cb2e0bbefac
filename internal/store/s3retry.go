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

// DefaultRetry is how failed store requests are tried again (S3's, through
// Retryer, and the HTTP store's). Only failures a retry can fix are
// retried (see retryable): 5xx answers, throttling (429, SlowDown), 408
// and S3's RequestTimeout, connection resets and timeouts. Any other 4xx,
// a refused connection or an unknown host fails at once, so a wrong
// bucket, region, endpoint or policy is reported in a second, not after
// minutes of retries.
var DefaultRetry = retry.Policy{Attempts: 8, Base: 250 * time.Millisecond, Max: 20 * time.Second, MaxRetryAfter: 60 * time.Second}

// Retryer is p (its zero fields DefaultRetry's) as the AWS SDK's retryer,
// for S3 and STS clients: the same tries and waits as retry.Policy.Do,
// S3's rule for which failures are transient. logf, when set, is told
// about each retry; it never receives credentials or signed URLs.
func Retryer(p retry.Policy, logf func(format string, args ...any)) aws.Retryer {
	p = p.Or(DefaultRetry)
	return awsretry.NewStandard(func(o *awsretry.StandardOptions) {
		o.MaxAttempts = p.Attempts
		o.MaxBackoff = p.Max
		o.Retryables = []awsretry.IsErrorRetryable{
			awsretry.NoRetryCanceledError{},
			awsretry.IsErrorRetryableFunc(func(err error) aws.Ternary { return aws.BoolTernary(retryable(err)) }),
		}
		o.Backoff = awsretry.BackoffDelayerFunc(func(attempt int, err error) (time.Duration, error) {
			d := p.Wait(attempt, retryAfter(err))
			if logf != nil {
				logf("S3 %s: %s; retrying in %s (attempt %d of %d)", operation(err), describeFailure(err), d.Round(time.Millisecond), attempt+1, p.Attempts)
			}
			return d, nil
		})
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

// retryAfter reads the Retry-After header of the answer err carries, in
// seconds or as an HTTP date; 0 when there is none.
func retryAfter(err error) time.Duration {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil {
		return 0
	}
	d, _ := retry.After(re.Response.Header.Get("Retry-After"), time.Now())
	return d
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
