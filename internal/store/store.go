// Package store holds the places a binary cache can be written to. A Store
// is a flat key/value space of immutable objects ("nix-cache-info",
// "<hash>.narinfo", "nar/<hash>.nar.zst"); what the keys mean is the cache
// package's business, not the store's.
//
// Every Put is all-or-nothing: a reader either sees the whole object or no
// object at all. That is what lets the cache writer promise that a narinfo
// is never visible before its NAR.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// ErrNotFound is returned by Get for a key that does not exist.
var ErrNotFound = errors.New("object not found")

// Store is an object store holding a Nix binary cache.
type Store interface {
	// Exists reports whether an object exists at key.
	Exists(ctx context.Context, key string) (bool, error)
	// Put writes r at key, atomically. contentType is the MIME type Nix
	// uses for that kind of object. Put returns the number of bytes stored.
	Put(ctx context.Context, key string, r io.Reader, contentType string) (int64, error)
	// Get opens the object at key; ErrNotFound when it does not exist.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Size returns the size of the object at key; ErrNotFound when absent.
	Size(ctx context.Context, key string) (int64, error)
	// URL is the store's URL as users should see it: without credentials,
	// usable as a Nix substituter where the scheme allows.
	URL() string
}

// ErrConflict is returned by PutIf when the object changed since it was read.
var ErrConflict = errors.New("object changed since it was read")

// Conditional is implemented by stores that can replace a small object
// only if nobody else replaced it first (S3 If-Match / If-None-Match; a
// lock and an atomic rename on file://). The catalog index needs it: two
// runs publishing at once must both end up recorded.
type Conditional interface {
	// GetVersion reads the object at key and an opaque version of it
	// (an ETag); ErrNotFound when absent.
	GetVersion(ctx context.Context, key string) (data []byte, version string, err error)
	// PutIf writes data at key if the object's version is still ifVersion;
	// ifVersion "" means the object must not exist yet. ErrConflict when
	// the condition fails.
	PutIf(ctx context.Context, key string, data []byte, contentType, ifVersion string) error
}

// Options configure the stores that need more than a URL.
type Options struct {
	// Jobs bounds parallel transfers (S3 multipart parts in flight).
	Jobs int
	// Getenv reads the process environment (injected for tests).
	Getenv func(string) string

	// Region is the region of an s3:// store whose URL names none (the
	// aws-region input); "" means us-east-1.
	Region string
	// Credentials sign S3 requests (see package credentials for GitHub
	// OIDC); nil means the AWS SDK's default chain: environment, profile.
	Credentials aws.CredentialsProvider
	// Principal names who the credentials stand for in error messages,
	// such as "role arn:aws:iam::123456789012:role/publish".
	Principal string
	// HTTPClient carries S3 requests; nil means the AWS SDK's.
	HTTPClient aws.HTTPClient
	// PartSize is the size of the parts of S3 multipart uploads; 0 means
	// DefaultPartSize. Memory use is about (Jobs+1)×PartSize.
	PartSize int64
	// Retry is the retry policy of S3 requests; the zero value is the
	// default policy.
	Retry RetryPolicy
	// Logf, when set, receives notes such as retries. Never secrets.
	Logf func(format string, args ...any)
}

// Open returns the Store for a store URL: file:///path or s3://bucket[/prefix]?….
func Open(ctx context.Context, rawURL string, opts Options) (Store, error) {
	loc, err := ParseLocation(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store-url %w", err)
	}
	return OpenLocation(ctx, loc, opts)
}

// OpenLocation returns the Store at loc. It sends no request.
func OpenLocation(ctx context.Context, loc Location, opts Options) (Store, error) {
	switch {
	case loc.s3 != nil:
		s3loc, err := loc.s3At(opts.Region)
		if err != nil {
			return nil, fmt.Errorf("store-url %w", err)
		}
		return openS3(ctx, s3loc, opts)
	case loc.dir != "":
		return OpenFile(&url.URL{Scheme: "file", Path: loc.dir})
	}
	return nil, errors.New("no store-url")
}
