package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	imdsClient "github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"golang.org/x/sync/semaphore"
)

// DefaultPartSize is the size of the parts a large object is uploaded in,
// unless its PutOptions.MaxSize needs more than 10,000 of them.
const DefaultPartSize = 8 << 20

const (
	minPartSize = 5 << 20 // S3's minimum for every part but the last
	maxPartSize = 5 << 30 // and its maximum
	maxParts    = 10000
	// MaxObjectSize is the largest object S3 stores.
	MaxObjectSize = 5 << 40
)

// S3 is a binary cache in an S3 bucket, on AWS or an S3-compatible server
// (s3://BUCKET[/PREFIX]?region=…&endpoint=…).
//
// Objects smaller than a part are written with one PutObject; larger ones
// are streamed as a multipart upload, which S3 makes visible all at once
// when it completes, so a reader never sees part of an object. Parts, and
// streamed objects that fit in one PutObject, are read into buffers shared
// by the whole store: at most Options.Memory bytes are in use, whatever the
// number of concurrent Puts, which bounds both memory and the parts in
// flight (see partSizeFor for larger parts). Every request is signed with SigV4 over the SHA-256
// of its body, which S3 and its look-alikes check before they store a byte
// (XAmzContentSHA256Mismatch); a Content-MD5 on top would hash every
// byte of every NAR a second time to check the same thing, so only the
// small conditional writes of the catalog index carry one.
type S3 struct {
	loc       s3Location
	client    *s3.Client
	partSize  int
	bufs      chan []byte // free buffers of partSize bytes
	budget    *semaphore.Weighted
	capacity  int64 // of budget, in bytes
	timeouts  Timeouts
	principal string
	logf      func(string, ...any)
}

var (
	_ Store       = (*S3)(nil)
	_ Conditional = (*S3)(nil)
	_ DigestStore = (*S3)(nil)
	_ Cleaner     = (*S3)(nil)
)

func openS3(ctx context.Context, loc s3Location, opts Options) (*S3, error) {
	var err error
	partSize := opts.PartSize
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	if partSize < minPartSize || partSize > 1<<30 {
		return nil, fmt.Errorf("part size %d: S3 needs parts of at least 5 MiB, and more than 1 GiB is not useful", partSize)
	}
	memory := opts.Memory
	if memory <= 0 {
		memory = DefaultMemory
	}
	// At least two parts: one filling while the other is sent.
	memory = max(memory, 2*partSize)

	creds := opts.Credentials
	if creds == nil {
		creds, err = defaultCredentials(ctx, loc, opts.Getenv, true)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", loc, err)
		}
	}
	s3opts := s3.Options{
		Region:       loc.Region,
		Credentials:  creds,
		UsePathStyle: loc.PathStyle,
		Retryer:      Retryer(opts.Retry, opts.Logf),
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
		c := newHTTPClient()
		if bc, ok := c.(*awshttp.BuildableClient); ok {
			// The SDK keeps 10 idle connections a host; a caller with more
			// requests in flight would close and dial the rest again for
			// each (a TCP and TLS handshake: round trips a far server
			// makes dear).
			conns := max(opts.Jobs, awshttp.DefaultHTTPTransportMaxIdleConnsPerHost)
			c = bc.WithTransportOptions(func(t *http.Transport) {
				t.MaxIdleConnsPerHost = conns
				t.MaxIdleConns = max(t.MaxIdleConns, conns)
			})
		}
		s3opts.HTTPClient = c
	}
	timeouts := opts.Timeouts.withDefaults()
	s3opts.HTTPClient = newStallClient(s3opts.HTTPClient, timeouts)
	if loc.Endpoint != "" {
		s3opts.BaseEndpoint = aws.String(loc.Endpoint)
	}
	s := &S3{
		loc:       loc,
		client:    s3.New(s3opts),
		partSize:  int(partSize),
		bufs:      make(chan []byte, memory/partSize),
		budget:    semaphore.NewWeighted(memory),
		capacity:  memory,
		timeouts:  timeouts,
		principal: opts.Principal,
		logf:      opts.Logf,
	}
	return s, nil
}

// defaultCredentials is the AWS SDK's default chain, as Nix uses it:
// static keys from the environment, else the profile (profile= in the URL,
// else AWS_PROFILE), SSO, the container role, and the instance role when
// imds is true.
func defaultCredentials(ctx context.Context, loc s3Location, getenv func(string) string, imds bool) (aws.CredentialsProvider, error) {
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
	if !imds {
		lo = append(lo, config.WithEC2IMDSClientEnableState(imdsClient.ClientDisabled))
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
	return &resumingBody{s: s, ctx: ctx, key: k, etag: aws.ToString(out.ETag), body: out.Body}, nil
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
	body := &resumingBody{s: s, ctx: ctx, key: k, etag: aws.ToString(out.ETag), body: out.Body}
	defer body.Close()
	data, err := io.ReadAll(body)
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
