package store

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// DefaultPartSize is the size of the parts a large object is uploaded in.
// S3 allows 10,000 parts, so the largest NAR it can take is about 78 GiB.
const DefaultPartSize = 8 << 20

const (
	minPartSize = 5 << 20 // S3's minimum for every part but the last
	maxParts    = 10000
)

// S3 is a binary cache in an S3 bucket, on AWS or an S3-compatible server
// (s3://BUCKET[/PREFIX]?region=…&endpoint=…).
//
// Objects smaller than a part are written with one PutObject; larger ones
// are streamed as a multipart upload, which S3 makes visible all at once
// when it completes, so a reader never sees part of an object. Parts are
// read into buffers shared by the whole store: at most Jobs+1 are in use,
// whatever the number of concurrent Puts, which bounds both memory and the
// requests in flight. Every request is signed with SigV4 over the SHA-256
// of its body, which S3 and its look-alikes check before they store a byte
// (XAmzContentSHA256Mismatch); a Content-MD5 on top would hash every
// byte of every NAR a second time to check the same thing, so only the
// small conditional writes of the catalog index carry one.
type S3 struct {
	loc       s3Location
	client    *s3.Client
	partSize  int
	bufs      chan []byte
	principal string
	logf      func(string, ...any)
}

var (
	_ Store       = (*S3)(nil)
	_ Conditional = (*S3)(nil)
)

// OpenS3 opens the S3 store at u. It sends no request: credentials are
// fetched on the first request, so a GitHub OIDC token is only asked for
// once there is something to upload.
func OpenS3(ctx context.Context, u *url.URL, opts Options) (*S3, error) {
	loc, err := parseS3URL(u, opts.Region)
	if err != nil {
		return nil, fmt.Errorf("store-url %w", err)
	}
	return openS3(ctx, loc, opts)
}

func openS3(ctx context.Context, loc s3Location, opts Options) (*S3, error) {
	var err error
	partSize := opts.PartSize
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	if partSize < minPartSize || partSize > 1<<30 {
		return nil, fmt.Errorf("part size %d: S3 needs parts of at least 5 MiB, and more than 1 GiB is not useful", partSize)
	}
	jobs := max(opts.Jobs, 1)

	creds := opts.Credentials
	if creds == nil {
		creds, err = defaultCredentials(ctx, loc, opts.Getenv)
		if err != nil {
			return nil, fmt.Errorf("store-url %s: %w", loc, err)
		}
	}
	retry := opts.Retry
	if retry.Logf == nil {
		retry.Logf = opts.Logf
	}
	s3opts := s3.Options{
		Region:       loc.Region,
		Credentials:  creds,
		UsePathStyle: loc.PathStyle,
		Retryer:      retry.Retryer(),
		// The signed SHA-256 of each body is the integrity check every
		// S3-compatible server understands; the SDK's newer default
		// checksums are rejected by some, and make it send unsigned
		// aws-chunked bodies.
		RequestChecksumCalculation:                aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation:                aws.ResponseChecksumValidationWhenSupported,
		DisableLogOutputChecksumValidationSkipped: true,
		HTTPClient: opts.HTTPClient,
	}
	if s3opts.HTTPClient == nil {
		s3opts.HTTPClient = awshttp.NewBuildableClient()
	}
	if loc.Endpoint != "" {
		s3opts.BaseEndpoint = aws.String(loc.Endpoint)
	}
	s := &S3{
		loc:       loc,
		client:    s3.New(s3opts),
		partSize:  int(partSize),
		bufs:      make(chan []byte, jobs+1),
		principal: opts.Principal,
		logf:      opts.Logf,
	}
	for range jobs + 1 {
		s.bufs <- nil // allocated on first use
	}
	return s, nil
}

// defaultCredentials is the AWS SDK's default chain, as Nix uses it:
// static keys from the environment, else the profile (profile= in the URL,
// else AWS_PROFILE), SSO, the container or instance role.
func defaultCredentials(ctx context.Context, loc s3Location, getenv func(string) string) (aws.CredentialsProvider, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if loc.Profile == "" && id != "" && secret != "" {
		return awscreds.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN")), nil
	}
	lo := []func(*config.LoadOptions) error{config.WithRegion(loc.Region)}
	profile := loc.Profile
	if profile == "" {
		profile = getenv("AWS_PROFILE")
	}
	if profile != "" {
		lo = append(lo, config.WithSharedConfigProfile(profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		if profile != "" {
			return nil, fmt.Errorf("load the AWS profile %q: %w", profile, err)
		}
		return nil, fmt.Errorf("load the AWS configuration: %w", err)
	}
	return cfg.Credentials, nil
}

// URL returns the store URL, without credentials.
func (s *S3) URL() string { return s.loc.String() }

// Bucket returns the bucket's name.
func (s *S3) Bucket() string { return s.loc.Bucket }

// Exists reports whether an object exists at key. Like Nix, it takes 403
// for "absent": S3 answers 403 instead of 404 to callers that may not list
// the bucket, and a writer need not be allowed to. A real refusal then
// surfaces on the Put that follows.
func (s *S3) Exists(ctx context.Context, key string) (bool, error) {
	_, err := s.head(ctx, key)
	if err == nil {
		return true, nil
	}
	var se *S3Error
	if errors.Is(err, ErrNotFound) || (errors.As(err, &se) && se.Status == http.StatusForbidden) {
		return false, nil
	}
	return false, err
}

// Size returns the size of the object at key.
func (s *S3) Size(ctx context.Context, key string) (int64, error) {
	out, err := s.head(ctx, key)
	if err != nil {
		return 0, err
	}
	return aws.ToInt64(out.ContentLength), nil
}

func (s *S3) head(ctx context.Context, key string) (*s3.HeadObjectOutput, error) {
	k, err := s.loc.key(key)
	if err != nil {
		return nil, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.loc.Bucket, Key: &k})
	if err != nil {
		return nil, s.fail("check", k, err)
	}
	return out, nil
}

// Get opens the object at key.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	k, err := s.loc.key(key)
	if err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.loc.Bucket, Key: &k})
	if err != nil {
		return nil, s.fail("read", k, err)
	}
	return out.Body, nil
}

// GetVersion reads a small object and its ETag.
func (s *S3) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	k, err := s.loc.key(key)
	if err != nil {
		return nil, "", err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.loc.Bucket, Key: &k})
	if err != nil {
		return nil, "", s.fail("read", k, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", s.show(k), err)
	}
	return data, aws.ToString(out.ETag), nil
}

// PutIf writes data at key with If-Match (or If-None-Match: * when
// ifVersion is ""). A failed condition is ErrConflict. A retried request
// whose first try did land also reports ErrConflict: the caller re-reads
// and finds its own write.
func (s *S3) PutIf(ctx context.Context, key string, data []byte, contentType, ifVersion string) error {
	k, err := s.loc.key(key)
	if err != nil {
		return err
	}
	in := &s3.PutObjectInput{
		Bucket:        &s.loc.Bucket,
		Key:           &k,
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   &contentType,
		ContentMD5:    aws.String(contentMD5(data)),
	}
	if ifVersion == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(ifVersion)
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) {
			switch re.HTTPStatusCode() {
			case http.StatusPreconditionFailed, http.StatusConflict:
				return fmt.Errorf("write %s: %w", s.show(k), ErrConflict)
			case http.StatusNotFound:
				// If-Match on an object deleted since it was read.
				var api smithy.APIError
				if ifVersion != "" && errors.As(err, &api) && api.ErrorCode() == "NoSuchKey" {
					return fmt.Errorf("write %s: %w", s.show(k), ErrConflict)
				}
			}
		}
		return s.fail("write", k, err)
	}
	return nil
}

// Put writes r at key: one PutObject when it fits in a part, else a
// multipart upload streamed part by part.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, contentType string) (int64, error) {
	k, err := s.loc.key(key)
	if err != nil {
		return 0, err
	}
	buf, err := s.acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("upload %s: %w", s.show(k), err)
	}
	n, err := io.ReadFull(contextReader{ctx, r}, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		defer s.release(buf)
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        &s.loc.Bucket,
			Key:           &k,
			Body:          bytes.NewReader(buf[:n]),
			ContentLength: aws.Int64(int64(n)),
			ContentType:   &contentType,
		})
		if err != nil {
			return 0, s.fail("upload", k, err)
		}
		return int64(n), nil
	case err != nil:
		s.release(buf)
		return 0, fmt.Errorf("upload %s: reading the data: %w", s.show(k), err)
	}
	return s.putMultipart(ctx, k, r, buf, contentType)
}

// putMultipart uploads first (a full part) and the rest of r. Parts are
// uploaded while the next ones are read; acquire blocks when all buffers
// are in flight, which is what keeps memory bounded.
func (s *S3) putMultipart(ctx context.Context, k string, r io.Reader, first []byte, contentType string) (int64, error) {
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:      &s.loc.Bucket,
		Key:         &k,
		ContentType: &contentType,
	})
	if err != nil {
		s.release(first)
		return 0, s.fail("upload", k, err)
	}
	uploadID := created.UploadId

	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		parts []types.CompletedPart
	)
	send := func(num int32, buf []byte, n int) {
		defer wg.Done()
		defer s.release(buf)
		out, err := s.client.UploadPart(pctx, &s3.UploadPartInput{
			Bucket:        &s.loc.Bucket,
			Key:           &k,
			UploadId:      uploadID,
			PartNumber:    aws.Int32(num),
			Body:          bytes.NewReader(buf[:n]),
			ContentLength: aws.Int64(int64(n)),
		})
		if err != nil {
			cancel(s.fail("upload", fmt.Sprintf("%s (part %d)", k, num), err))
			return
		}
		mu.Lock()
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		mu.Unlock()
	}

	var (
		total   int64
		num     int32
		readErr error
		buf     = first
		n       = len(first)
		last    = false
	)
	for {
		num++
		if num > maxParts {
			s.release(buf)
			readErr = fmt.Errorf("the object is larger than %d parts of %d MiB", maxParts, s.partSize>>20)
			break
		}
		total += int64(n)
		wg.Add(1)
		go send(num, buf, n)
		if last {
			break
		}
		if buf, readErr = s.acquire(pctx); readErr != nil {
			break
		}
		n, readErr = io.ReadFull(contextReader{pctx, r}, buf)
		if readErr == io.EOF {
			s.release(buf)
			readErr = nil
			break
		}
		if readErr == io.ErrUnexpectedEOF {
			readErr, last = nil, true
			continue
		}
		if readErr != nil {
			s.release(buf)
			readErr = fmt.Errorf("reading the data: %w", readErr)
			break
		}
	}
	// The first failure wins: a part's S3Error, the reader's error, or
	// the caller's cancellation. Cancelling stops the parts in flight.
	if readErr != nil {
		cancel(readErr)
	}
	wg.Wait()
	err = context.Cause(pctx)
	if err == nil {
		slices.SortFunc(parts, func(a, b types.CompletedPart) int { return int(*a.PartNumber - *b.PartNumber) })
		_, cerr := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket:          &s.loc.Bucket,
			Key:             &k,
			UploadId:        uploadID,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
		if cerr == nil {
			return total, nil
		}
		err = s.fail("upload", k, cerr)
	}
	s.abort(ctx, k, uploadID)
	var se *S3Error
	if errors.As(err, &se) {
		return 0, err
	}
	return 0, fmt.Errorf("upload %s: %w", s.show(k), err)
}

// abort drops the parts of a failed upload, even when ctx was cancelled:
// they are invisible to readers but are stored, and billed, until then.
func (s *S3) abort(ctx context.Context, k string, uploadID *string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.loc.Bucket, Key: &k, UploadId: uploadID})
	if err != nil && s.logf != nil {
		s.logf("could not abort the failed multipart upload of %s (a lifecycle rule for incomplete uploads removes it): %v", s.show(k), describeFailure(err))
	}
}

func (s *S3) acquire(ctx context.Context) ([]byte, error) {
	select {
	case b := <-s.bufs:
		if b == nil {
			b = make([]byte, s.partSize)
		}
		return b, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func (s *S3) release(b []byte) { s.bufs <- b }

func contentMD5(b []byte) string {
	sum := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

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
	Err       error
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
		case errors.As(err, &send):
			e.Message = fmt.Sprintf("cannot reach %s: %s", where, describeFailure(err))
			e.Hint = "Check endpoint= and scheme= in store-url"
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
	var api smithy.APIError
	if errors.As(err, &api) {
		e.Code, e.Message = api.ErrorCode(), api.ErrorMessage()
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
		e.Hint = fmt.Sprintf("The bucket %q does not exist at %s: check the bucket name in store-url", s.loc.Bucket, where)
	case region != "" && region != s.loc.Region,
		e.Code == "AuthorizationHeaderMalformed", e.Code == "PermanentRedirect", e.Code == "IllegalLocationConstraintException",
		e.Status == http.StatusMovedPermanently:
		if region != "" && region != s.loc.Region {
			e.Hint = fmt.Sprintf("The bucket %q is in region %s, not %s: add ?region=%s to store-url", s.loc.Bucket, region, s.loc.Region, region)
		} else {
			e.Hint = fmt.Sprintf("The bucket %q is not in region %s at %s: set region= (and endpoint=) in store-url to the bucket's", s.loc.Bucket, s.loc.Region, where)
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

func opVerb(op string) string {
	switch op {
	case "upload", "write":
		return "the write"
	case "list":
		return "the listing"
	}
	return "the read"
}

func opAction(op string) string {
	switch op {
	case "upload", "write":
		return "s3:PutObject"
	case "list":
		return "s3:ListBucket"
	}
	return "s3:GetObject"
}

func prefixPattern(prefix string) string {
	if prefix == "" {
		return "*"
	}
	return prefix + "/*"
}
