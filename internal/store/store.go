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
	"bytes"
	"context"
	"errors"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/flox-publish/publish-action/internal/retry"
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

// ErrExists is returned by PutWith with PutOptions.IfAbsent when an object
// exists at the key already; the store left it as it was.
var ErrExists = errors.New("an object exists at the key already")

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

// PutOptions say more about an object than Put's arguments can.
type PutOptions struct {
	// ContentType is the MIME type Nix uses for that kind of object.
	ContentType string
	// MaxSize is the most bytes r can hold; 0 when unknown. S3 chooses its
	// part size from it, and refuses an object it could not store before
	// reading a byte of it.
	MaxSize int64
	// Digest, when set, is called once r has been read to its end (never
	// before), and returns the SHA-256 of what r held. The store keeps it
	// with the object, where Stat finds it, so that a later run can reuse
	// the object without reading it.
	Digest func() []byte
	// IfAbsent writes the object only if none exists at the key, in the
	// same request that writes it: S3's If-None-Match: * (on the
	// PutObject, or on the CompleteMultipartUpload, after the parts), a
	// hard link on file://. When one exists, PutWith fails with ErrExists
	// and leaves it as it was. Servers that ignore the header (s3rver,
	// older Ceph RGW, some hosted S3-compatibles) write anyway: see
	// ProbeIfAbsent.
	IfAbsent bool
}

// ObjectInfo is what a store knows about an object without reading it.
type ObjectInfo struct {
	Size int64
	// SHA256 is the object's SHA-256, as recorded when it was written;
	// nil when the store has none for it.
	SHA256 []byte
}

// DigestStore is implemented by stores that take PutOptions and keep an
// object's SHA-256 with it (S3 and file:// both do). Callers fall back to
// Put for a Store that does not.
type DigestStore interface {
	Store
	PutWith(ctx context.Context, key string, r io.Reader, opts PutOptions) (int64, error)
	// Stat describes the object at key; ErrNotFound when it is absent.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
}

// Cleaner is implemented by stores a killed run can leave garbage in: the
// temporary files of a file:// cache, the unfinished multipart uploads of
// an S3 one. A publish calls CleanStale before it writes; only what is
// older than olderThan goes, so that a run still writing is not harmed.
type Cleaner interface {
	// CleanStale removes this action's leftovers older than olderThan
	// and returns how many it removed.
	CleanStale(ctx context.Context, olderThan time.Duration) (int, error)
}

// StaleAfter is the age after which a temporary file or an unfinished
// multipart upload is taken for a killed run's: far longer than any
// progress-less wait a live run allows (Timeouts.Stall).
const StaleAfter = time.Hour

// Timeouts bound the waits of a store's requests, by what a request
// carries. S3 and its look-alikes answer a request whose body is small
// (SmallBody or less: HEAD, GET, the PUT of a narinfo, a catalog record
// or nix-cache-info, a multipart upload's create and complete) within
// well under a second, however large the object behind it: such a
// request that gets no answer within Answer is abandoned and tried again.
// A large body is cut only when it stops moving (Stall), so a slow link
// that still progresses is never cut, whatever the transfer's length;
// the body of an answer (a NAR read back) follows the same rule.
//
// With the retry policy they bound what a failing request costs: a small
// request held open costs Answer a try, 8 × 5s with backoffs of at most
// 20s between them (about 2.5 minutes) if every try is held; a large one
// Stall+Drain a try (8 × (30s+8s) + 7 × 20s ≈ 7.5 minutes). A refused
// connection or a 4xx fails at once.
type Timeouts struct {
	// Answer is how long a request whose body is SmallBody or less may
	// wait for its answer (its status and headers), from its start.
	// Default 5s.
	Answer time.Duration
	// Stall is how long a request with a large body may go without
	// sending or receiving a byte (the answer included) before it is
	// abandoned and tried again, and how long any answer's body may go
	// without a byte; a slow transfer that moves is never cut. Default
	// 30s.
	Stall time.Duration
	// Drain is added to Stall once a request's whole body is handed to
	// the network: its last bytes (up to 128 KiB unsent, plus what is in
	// flight) may still be on their way, and on a slow link take longer
	// than Stall. Default 8s (128 KiB at 16 KiB/s).
	Drain time.Duration
	// Abort bounds the AbortMultipartUpload sent after a failure or a
	// cancellation; it runs on a fresh context. Default 10s.
	Abort time.Duration
}

// SmallBody is the largest request body that Timeouts.Answer bounds: it
// is in the connection's buffers the moment it is written (a narinfo is
// about 1 KiB, a catalog record a few, a multipart completion 100 bytes a
// part), so a server that has not answered it within seconds holds it.
const SmallBody = 64 << 10

func (t Timeouts) withDefaults() Timeouts {
	if t.Answer <= 0 {
		t.Answer = 5 * time.Second
	}
	if t.Stall <= 0 {
		t.Stall = 30 * time.Second
	}
	if t.Drain <= 0 {
		t.Drain = 8 * time.Second
	}
	if t.Abort <= 0 {
		t.Abort = 10 * time.Second
	}
	return t
}

// DefaultMemory is Options.Memory's default: five 8 MiB parts, what the
// part buffers of S3 uploads held when they were sized by jobs 4.
const DefaultMemory = 5 * DefaultPartSize

// Options configure the stores that need more than a URL.
type Options struct {
	// Jobs is how many requests the caller keeps in flight at once: an
	// S3 store keeps that many connections open for reuse, so that a wide
	// upload of small objects does not dial again for each.
	Jobs int
	// Memory bounds the bytes of request bodies an S3 store holds, so that
	// a failed request can be sent again (multipart parts, and objects
	// streamed into one PutObject); 0 means DefaultMemory. Bodies already
	// in memory (a *bytes.Reader or *strings.Reader) are sent as they are,
	// outside it: their holder counts them.
	Memory int64
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
	// PartSize is the smallest part of S3 multipart uploads; 0 means
	// DefaultPartSize. An object whose PutOptions.MaxSize needs more than
	// 10,000 such parts gets larger ones. Memory use is about Memory, or
	// one part when parts are larger than that.
	PartSize int64
	// Timeouts bound every S3 and HTTP store request; the zero value is
	// the defaults.
	Timeouts Timeouts
	// Retry is how failed requests are tried again; its zero fields are
	// DefaultRetry's.
	Retry retry.Policy
	// Logf, when set, receives notes such as retries. Never secrets.
	Logf func(format string, args ...any)
}

// Open returns the Store at loc: the one way the action opens a store,
// for the upload and for reading the catalog index alike. loc's Access,
// where it has one, takes the place of opts's credentials. It sends no
// request: an S3 store fetches credentials at its first request, so a
// GitHub OIDC token is only asked for once there is something to do.
func Open(ctx context.Context, loc Location, opts Options) (Store, error) {
	switch {
	case loc.s3 != nil:
		s3loc, err := loc.s3At(opts.Region)
		if err != nil {
			return nil, err
		}
		if a := loc.access; a.Credentials != nil {
			opts.Credentials, opts.Getenv, opts.Principal = a.Credentials, a.Getenv, a.Principal
		}
		return openS3(ctx, s3loc, opts)
	case loc.http != nil:
		return openHTTP(loc.http, httpOptions{BasicAuth: loc.access.BasicAuth, Retry: opts.Retry, Timeouts: opts.Timeouts, Logf: opts.Logf})
	case loc.dir != "":
		return OpenFile(loc.dir)
	}
	return nil, errors.New("no store to open")
}

// ProbeIfAbsent tells whether s honours PutOptions.IfAbsent. It writes data
// with IfAbsent at key, where an object holding exactly data must exist
// already: a store that honours it refuses (ErrExists); one that ignores it
// writes the same bytes over themselves, which changes nothing a reader
// sees. Any other failure (a server that rejects the header) is returned,
// and means the caller should not send IfAbsent to this store.
func ProbeIfAbsent(ctx context.Context, s DigestStore, key string, data []byte, contentType string) (bool, error) {
	_, err := s.PutWith(ctx, key, bytes.NewReader(data), PutOptions{ContentType: contentType, MaxSize: int64(len(data)), IfAbsent: true})
	switch {
	case errors.Is(err, ErrExists):
		return true, nil
	case err != nil:
		return false, err
	}
	return false, nil
}
