package store

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// show names an object for messages.
func (s *S3) show(k string) string { return "s3://" + s.loc.Bucket + "/" + k }

// expectingRegion finds the bucket's region in an
// AuthorizationHeaderMalformed message (AWS and MinIO both say it so).
var expectingRegion = regexp.MustCompile(`expecting '([a-z0-9-]+)'`)

// S3Error is an S3 request that failed, told once and plainly: which
// bucket and key, what was being done, what the server (or the network)
// said, and what to change.
type S3Error struct {
	Bucket string
	Key    string // the full key in the bucket
	Op     string // check, read, upload, write
	// Status is the HTTP status; 0 when no answer came.
	Status    int
	Code      string // S3's error code, such as AccessDenied
	Message   string
	RequestID string
	Hint      string
	// Attempts counts the tries when the request was retried.
	Attempts int
	Err      error
}

func (e *S3Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s s3://%s/%s: ", e.Op, e.Bucket, e.Key)
	switch {
	case e.Status != 0:
		b.WriteString("the server answered ")
		if e.Code != "" {
			b.WriteString(e.Code + " ")
		}
		fmt.Fprintf(&b, "(HTTP %d", e.Status)
		if e.RequestID != "" {
			b.WriteString(", request id " + e.RequestID)
		}
		if e.Attempts > 1 {
			fmt.Fprintf(&b, ", the last of %d attempts", e.Attempts)
		}
		b.WriteString(")")
		if e.Message != "" {
			b.WriteString(": " + strings.TrimSuffix(e.Message, "."))
		}
	default:
		b.WriteString(e.Message)
	}
	if e.Hint != "" {
		b.WriteString(". " + e.Hint)
	}
	return b.String()
}

func (e *S3Error) Unwrap() error { return e.Err }

// credentialsError is how the credentials package marks its errors, which
// already say what to do.
type credentialsError interface {
	error
	CredentialsError() bool
}

// fail turns an SDK error into an S3Error (or ErrNotFound).
func (s *S3) fail(op, k string, err error) error {
	e := &S3Error{Bucket: s.loc.Bucket, Key: k, Op: op, Err: err}
	where := "AWS region " + s.loc.Region
	if s.loc.Endpoint != "" {
		where = s.loc.Endpoint
	}
	who := "the credentials in use"
	if s.principal != "" {
		who = "the credentials of " + s.principal
	}
	// A credentials error may hold STS's answer: look for it before any
	// HTTP response.
	var ce credentialsError
	if errors.As(err, &ce) {
		e.Message = "no credentials: " + ce.Error()
		return e
	}
	var re *smithyhttp.ResponseError
	var send *smithyhttp.RequestSendError
	if !errors.As(err, &re) || errors.As(err, &send) {
		switch {
		case errors.As(err, &send) && retryableSend(err):
			// It was reached before, or might be: the network failed
			// this request every time, and the last cause says how.
			e.Message = fmt.Sprintf("no answer from %s%s: %s", where, afterAttempts(err), describeFailure(err))
		case errors.As(err, &send):
			e.Message = fmt.Sprintf("cannot reach %s: %s", where, describeFailure(err))
			e.Hint = "Check endpoint= and scheme= in the store URL"
		default:
			var oe *smithy.OperationError
			if errors.As(err, &oe) {
				e.Message = oe.Err.Error()
			} else {
				e.Message = err.Error()
			}
		}
		return e
	}
	e.Status = re.HTTPStatusCode()
	var me *awsretry.MaxAttemptsError
	if errors.As(err, &me) {
		e.Attempts = me.Attempt
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		e.Code, e.Message = api.ErrorCode(), api.ErrorMessage()
	}
	// An answer whose body was cut or unreadable has a status but no
	// error code: its cause is the read's, keep it.
	var de *smithy.DeserializationError
	if e.Code == "" && e.Message == "" && errors.As(err, &de) {
		e.Message = fmt.Sprintf("its answer could not be read%s: %v", afterAttempts(err), de.Err)
	}
	var are *awshttp.ResponseError
	if errors.As(err, &are) {
		e.RequestID = are.ServiceRequestID()
	}
	region := ""
	if re.Response != nil && re.Response.Response != nil {
		region = re.Response.Header.Get("X-Amz-Bucket-Region")
	}
	if m := expectingRegion.FindStringSubmatch(e.Message); region == "" && m != nil {
		region = m[1]
	}
	switch {
	case e.Code == "NoSuchKey" || (e.Status == http.StatusNotFound && (e.Code == "NotFound" || e.Code == "")):
		// A HEAD answer has no body, so a missing bucket looks like a
		// missing key here; the Put that follows tells them apart.
		return fmt.Errorf("%s: %w", s.show(k), ErrNotFound)
	case e.Code == "NoSuchBucket":
		e.Hint = fmt.Sprintf("The bucket %q does not exist at %s: check the bucket name in the store URL", s.loc.Bucket, where)
	case region != "" && region != s.loc.Region,
		e.Code == "AuthorizationHeaderMalformed", e.Code == "PermanentRedirect", e.Code == "IllegalLocationConstraintException",
		e.Status == http.StatusMovedPermanently:
		if region != "" && region != s.loc.Region {
			e.Hint = fmt.Sprintf("The bucket %q is in region %s, not %s: add ?region=%s to the store URL", s.loc.Bucket, region, s.loc.Region, region)
		} else {
			e.Hint = fmt.Sprintf("The bucket %q is not in region %s at %s: set region= (and endpoint=) in the store URL to the bucket's", s.loc.Bucket, s.loc.Region, where)
		}
	case e.Code == "InvalidAccessKeyId", e.Code == "SignatureDoesNotMatch", e.Code == "InvalidToken":
		e.Hint = fmt.Sprintf("%s did not accept %s: check the AWS credentials, and that endpoint= is the server that issued them", where, who)
	case e.Code == "ExpiredToken" || e.Code == "TokenRefreshRequired":
		e.Hint = fmt.Sprintf("The session credentials of %s expired", who)
	case op == "check" && e.Status == http.StatusBadRequest:
		// HEAD answers carry no body, so no reason either.
		e.Hint = fmt.Sprintf("A HEAD answer gives no reason; the usual one is a region= that is not the bucket's (%s here)", s.loc.Region)
	case e.Status == http.StatusForbidden:
		e.Hint = fmt.Sprintf("The bucket %q refused %s by %s: allow %s on arn:aws:s3:::%s/%s in the IAM policy and the bucket policy",
			s.loc.Bucket, opVerb(op), who, opAction(op), s.loc.Bucket, prefixPattern(s.loc.Prefix))
	}
	return e
}

// afterAttempts says how many tries a request took, when it was retried.
func afterAttempts(err error) string {
	var me *awsretry.MaxAttemptsError
	if errors.As(err, &me) {
		return fmt.Sprintf(" after %d attempts", me.Attempt)
	}
	return ""
}

func isWrite(op string) bool {
	return op == "write" || strings.Contains(op, "upload") && !strings.HasPrefix(op, "list") && !strings.HasPrefix(op, "abort")
}

func opVerb(op string) string {
	switch {
	case isWrite(op):
		return "the write"
	case strings.HasPrefix(op, "list"):
		return "the listing"
	case strings.HasPrefix(op, "abort"):
		return "the abort"
	}
	return "the read"
}

func opAction(op string) string {
	switch {
	case isWrite(op):
		return "s3:PutObject"
	case op == "list":
		return "s3:ListBucket"
	case strings.HasPrefix(op, "list"):
		return "s3:ListBucketMultipartUploads"
	case strings.HasPrefix(op, "abort"):
		return "s3:AbortMultipartUpload"
	}
	return "s3:GetObject"
}

func prefixPattern(prefix string) string {
	if prefix == "" {
		return "*"
	}
	return prefix + "/*"
}
