package store

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"golang.org/x/sync/errgroup"
)

// metaSHA256 is the user metadata (x-amz-meta-sha256) that holds an
// object's SHA-256, in hex, when it was written in one PutObject.
const metaSHA256 = "sha256"

// digestSuffix names the small object that holds the SHA-256 of an object
// written by a multipart upload: S3 takes metadata when an upload starts,
// before its content, so the digest cannot go on the object itself. It is
// written after the upload completes, so its presence says the object is
// whole.
const digestSuffix = ".sha256"

// Put writes r at key: one PutObject when it fits in a part, else a
// multipart upload streamed part by part.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, contentType string) (int64, error) {
	return s.PutWith(ctx, key, r, PutOptions{ContentType: contentType})
}

// partSizeFor is the part size for an object of at most maxSize bytes:
// the store's part size, or the smallest whole number of MiB that fits
// maxSize in 10,000 parts (525 MiB for 5 TiB).
//
// Memory: parts are read into memory so that a failed part can be sent
// again. The store's budget is (Jobs+1)×PartSize bytes, shared by every
// Put; a part takes min(its size, the budget) of it. Up to ~78 GiB
// (8 MiB parts) nothing changes. Above, larger parts mean fewer in flight
// (one at a time once a part is as large as the budget), so memory stays
// at max(budget, one part): at most 525 MiB for the largest object S3
// takes, rather than (Jobs+1)×525 MiB. Such objects upload with less
// parallelism; they are rare enough that bounded memory matters more.
func (s *S3) partSizeFor(maxSize int64) (int, error) {
	if maxSize > MaxObjectSize {
		return 0, fmt.Errorf("it may be up to %d bytes, more than the 5 TiB S3 stores in one object", maxSize)
	}
	size := int64(s.partSize)
	if need := (maxSize + maxParts - 1) / maxParts; need > size {
		size = (need + 1<<20 - 1) &^ (1<<20 - 1)
	}
	return int(min(size, maxPartSize)), nil
}

// inMemory is a body already held in memory whole, which PutWith sends as
// it is: no copy into the store's buffers, and none of their budget, since
// its holder counts it. The SDK seeks it back to send it again.
type inMemory interface {
	io.ReadSeeker
	Len() int
}

// PutWith is Put with a size bound, a digest to record and a condition
// (PutOptions).
func (s *S3) PutWith(ctx context.Context, key string, r io.Reader, opts PutOptions) (int64, error) {
	k, err := s.loc.key(key)
	if err != nil {
		return 0, err
	}
	if m, ok := r.(inMemory); ok && m.Len() <= s.partSize {
		return s.putObject(ctx, k, r, int64(m.Len()), opts)
	}
	partSize, err := s.partSizeFor(opts.MaxSize)
	if err != nil {
		return 0, fmt.Errorf("upload %s: %w", s.show(k), err)
	}
	u := &upload{s: s, key: k, partSize: partSize, opts: opts}
	if opts.MaxSize > 0 && opts.MaxSize < int64(partSize) {
		// It fits in one PutObject: a buffer of its size, not a part's,
		// so that many small objects can be in flight in the budget. One
		// byte more than it may hold tells a body that broke its bound.
		u.single = int(opts.MaxSize) + 1
	}
	buf, err := u.acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("upload %s: %w", s.show(k), err)
	}
	n, err := io.ReadFull(contextReader{ctx, r}, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		defer u.release(buf)
		return s.putObject(ctx, k, bytes.NewReader(buf[:n]), int64(n), opts)
	case err != nil:
		u.release(buf)
		return 0, fmt.Errorf("upload %s: reading the data: %w", s.show(k), err)
	case u.single > 0:
		u.release(buf)
		return 0, fmt.Errorf("upload %s: the data is larger than the %d bytes it was said to hold at most", s.show(k), opts.MaxSize)
	}
	return u.multipart(ctx, r, buf)
}

// putObject writes body, of n bytes, in one PutObject.
func (s *S3) putObject(ctx context.Context, k string, body io.Reader, n int64, opts PutOptions) (int64, error) {
	in := &s3.PutObjectInput{
		Bucket:        &s.loc.Bucket,
		Key:           &k,
		Body:          body,
		ContentLength: aws.Int64(n),
		ContentType:   &opts.ContentType,
	}
	if opts.IfAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	if opts.Digest != nil {
		in.Metadata = map[string]string{metaSHA256: hex.EncodeToString(opts.Digest())}
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		if opts.IfAbsent && preconditionFailed(err) {
			// A retried request whose first try landed fails here too:
			// the caller's Stat then finds its own object.
			return 0, fmt.Errorf("upload %s: %w", s.show(k), ErrExists)
		}
		return 0, s.fail("upload", k, err)
	}
	return n, nil
}

// preconditionFailed is S3's answer to If-None-Match: * where an object
// exists: 412, or 409 ConditionalRequestConflict while another conditional
// write of the key is in progress (AWS), which also means "not yours".
func preconditionFailed(err error) bool {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	switch re.HTTPStatusCode() {
	case http.StatusPreconditionFailed, http.StatusConflict:
		return true
	}
	return false
}

// upload is one multipart upload in progress.
type upload struct {
	s        *S3
	key      string
	partSize int
	opts     PutOptions
	// single, when set, is the size of the one buffer of an object that
	// fits in a PutObject (its MaxSize and a byte).
	single int
	// own holds this upload's free buffers when its parts are larger than
	// the store's, so that they are reused rather than left to the GC.
	own chan []byte
}

func (u *upload) weight() int64 {
	if u.single > 0 {
		return min(int64(u.single), u.s.capacity)
	}
	return min(int64(u.partSize), u.s.capacity)
}

// acquire waits for room in the store's budget and returns a buffer of
// one part (or of the one object, for a small one).
func (u *upload) acquire(ctx context.Context) ([]byte, error) {
	if err := u.s.budget.Acquire(ctx, u.weight()); err != nil {
		return nil, context.Cause(ctx)
	}
	if u.single > 0 {
		// A part's buffer left free by a larger object serves, rather
		// than one more of this size beside the parts the pool keeps:
		// fresh buffers for the 1–8 MiB NARs of the benchmark's closure
		// took MinIO's peak RSS from 89 to 140–145 MiB.
		select {
		case b := <-u.s.bufs:
			return b[:u.single], nil
		default:
			return make([]byte, u.single), nil
		}
	}
	pool := u.s.bufs
	if u.partSize != u.s.partSize {
		if u.own == nil {
			u.own = make(chan []byte, max(1, int(u.s.capacity/int64(u.partSize))))
		}
		pool = u.own
	}
	select {
	case b := <-pool:
		return b, nil
	default:
		return make([]byte, u.partSize), nil
	}
}

func (u *upload) release(b []byte) {
	if u.single > 0 {
		if cap(b) == u.s.partSize {
			select {
			case u.s.bufs <- b[:cap(b)]:
			default:
			}
		}
		u.s.budget.Release(u.weight())
		return
	}
	pool := u.s.bufs
	if u.partSize != u.s.partSize {
		pool = u.own
	}
	select {
	case pool <- b:
	default:
	}
	u.s.budget.Release(u.weight())
}

// multipart uploads first (a full part) and the rest of r.
//
// This uploader, not aws-sdk-go-v2's feature/s3/transfermanager (v0.4.1),
// because it is as fast and holds a quarter of the memory: its budget of
// buffers is shared by all the uploads of a run, where the transfer
// manager takes Concurrency+1 parts per upload. BenchmarkUploader, same
// run, same MinIO, 4 unseekable 48 MiB streams at once, 8 MiB parts, 4 in
// flight, 2 cores: this store 241 and 282 MB/s at 60 and 61 MiB peak RSS;
// the transfer manager 242 and 167 MB/s at 288 and 296 MiB. It also has
// no hook for the digest and size bound a NAR needs here. Parts are
// uploaded while the next ones are read; acquire blocks while the budget
// is in use, which is what keeps memory bounded.
func (u *upload) multipart(ctx context.Context, r io.Reader, first []byte) (int64, error) {
	s, k := u.s, u.key
	started := time.Now()
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:      &s.loc.Bucket,
		Key:         &k,
		ContentType: &u.opts.ContentType,
	})
	if err != nil {
		u.release(first)
		return 0, s.fail("upload", k+" (starting the multipart upload)", err)
	}
	uploadID := aws.ToString(created.UploadId)
	// A retried CreateMultipartUpload whose first answer was lost left
	// an upload nobody will complete: abort it, whatever happens next.
	if attempts(created.ResultMetadata) > 1 {
		defer s.abortOrphans(ctx, k, uploadID, started, time.Now())
	}

	total, parts, err := u.sendParts(ctx, uploadID, r, first)
	if err == nil {
		err = u.complete(ctx, uploadID, parts, total)
	}
	if err != nil {
		s.abort(ctx, k, uploadID)
		var se *S3Error
		if errors.As(err, &se) {
			return 0, err
		}
		return 0, fmt.Errorf("upload %s: %w", s.show(k), err)
	}
	if u.opts.Digest != nil {
		sum := hex.EncodeToString(u.opts.Digest())
		if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        &s.loc.Bucket,
			Key:           aws.String(k + digestSuffix),
			Body:          strings.NewReader(sum),
			ContentLength: aws.Int64(int64(len(sum))),
			ContentType:   aws.String("text/plain"),
		}); err != nil {
			// The object is whole; without its digest a later run
			// uploads it again rather than reusing it.
			if s.logf != nil {
				s.logf("could not record the SHA-256 of %s beside it: %v", s.show(k), describeFailure(err))
			}
		}
	}
	return total, nil
}

// sendParts reads r part by part and uploads the parts, up to the budget
// at a time. The first failure (a part's, the reader's, or the caller's
// cancellation) stops the rest.
func (u *upload) sendParts(ctx context.Context, uploadID string, r io.Reader, first []byte) (int64, []types.CompletedPart, error) {
	s, k := u.s, u.key
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	g, gctx := errgroup.WithContext(pctx)
	var (
		mu    sync.Mutex
		parts []types.CompletedPart
		total int64
	)
	send := func(num int32, buf []byte, n int) {
		g.Go(func() error {
			defer u.release(buf)
			out, err := s.client.UploadPart(gctx, &s3.UploadPartInput{
				Bucket:        &s.loc.Bucket,
				Key:           &k,
				UploadId:      &uploadID,
				PartNumber:    aws.Int32(num),
				Body:          bytes.NewReader(buf[:n]),
				ContentLength: aws.Int64(int64(n)),
			})
			if err != nil {
				return s.fail("upload", fmt.Sprintf("%s (part %d)", k, num), err)
			}
			mu.Lock()
			parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
			mu.Unlock()
			return nil
		})
	}
	readErr := func() error {
		buf, n, last := first, len(first), false
		for num := int32(1); ; num++ {
			if num > maxParts {
				u.release(buf)
				return fmt.Errorf("the data needs more than %d parts of %d bytes, the most S3 takes", maxParts, u.partSize)
			}
			total += int64(n)
			send(num, buf, n)
			if last {
				return nil
			}
			var err error
			if buf, err = u.acquire(gctx); err != nil {
				return context.Cause(gctx)
			}
			n, err = io.ReadFull(contextReader{gctx, r}, buf)
			switch {
			case err == io.EOF:
				u.release(buf)
				return nil
			case err == io.ErrUnexpectedEOF:
				last = true
			case err != nil:
				u.release(buf)
				return fmt.Errorf("reading the data: %w", err)
			}
		}
	}()
	if readErr != nil {
		// Stop the parts in flight: this upload is abandoned.
		cancel(readErr)
	}
	err := g.Wait()
	if readErr != nil && (err == nil || errors.Is(err, context.Canceled) || errors.Is(err, readErr)) {
		err = readErr
	}
	if err == nil {
		err = context.Cause(ctx)
	}
	if err != nil {
		return 0, nil, err
	}
	slices.SortFunc(parts, func(a, b types.CompletedPart) int { return int(*a.PartNumber - *b.PartNumber) })
	return total, parts, nil
}

// complete completes the upload. Completing is idempotent but the retry
// of one whose answer was lost finds the upload gone (NoSuchUpload): then
// a HEAD tells whether the object is there, whole, at the expected size.
//
// With IfAbsent the condition is on the completion (S3 checks it there, not
// when the upload starts). A 412 is then either another writer's object or
// this upload's own, completed by a try whose answer was lost: the object's
// ETag, which S3 makes from its parts' (the MD5 of their MD5s, and their
// number), tells which.
func (u *upload) complete(ctx context.Context, uploadID string, parts []types.CompletedPart, total int64) error {
	s, k := u.s, u.key
	in := &s3.CompleteMultipartUploadInput{
		Bucket:          &s.loc.Bucket,
		Key:             &k,
		UploadId:        &uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	if u.opts.IfAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	_, err := s.client.CompleteMultipartUpload(ctx, in)
	if err == nil {
		return nil
	}
	if u.opts.IfAbsent && preconditionFailed(err) {
		out, herr := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.loc.Bucket, Key: &k})
		if herr == nil && aws.ToInt64(out.ContentLength) == total && aws.ToString(out.ETag) == multipartETag(parts) {
			return nil
		}
		return ErrExists
	}
	// NoSuchUpload is a 404; MinIO's answer to a repeated Complete does
	// not always carry the code, so any 404 is checked the same way.
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
		out, herr := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.loc.Bucket, Key: &k})
		if herr == nil && aws.ToInt64(out.ContentLength) == total {
			return nil
		}
	}
	return s.fail("upload", k+" (completing the multipart upload)", err)
}

// multipartETag is the ETag S3 gives the object completed from parts: the
// MD5 of their MD5s (their ETags), a dash and their number.
func multipartETag(parts []types.CompletedPart) string {
	h := md5.New()
	for _, p := range parts {
		b, err := hex.DecodeString(strings.Trim(aws.ToString(p.ETag), `"`))
		if err != nil {
			return ""
		}
		h.Write(b)
	}
	return fmt.Sprintf(`"%x-%d"`, h.Sum(nil), len(parts))
}

// abort drops the parts of a failed upload, even when ctx was cancelled:
// they are invisible to readers but are stored, and billed, until then.
// It runs on a fresh context bounded by Timeouts.Abort, so a cancelled run
// still aborts, within seconds.
func (s *S3) abort(ctx context.Context, k, uploadID string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeouts.Abort)
	defer cancel()
	_, err := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.loc.Bucket, Key: &k, UploadId: &uploadID})
	if err != nil && s.logf != nil {
		s.logf("could not abort the failed multipart upload of %s (a later run aborts it, or a lifecycle rule for incomplete uploads): %v", s.show(k), describeFailure(err))
	}
}

// abortOrphans aborts the uploads of k other than keep started between
// from and to: those a retried CreateMultipartUpload made before the
// answer that got through. The window is the seconds of those retries, so
// a concurrent publisher's upload of the same key is all but never in it.
func (s *S3) abortOrphans(ctx context.Context, k, keep string, from, to time.Time) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeouts.Abort)
	defer cancel()
	out, err := s.client.ListMultipartUploads(actx, &s3.ListMultipartUploadsInput{Bucket: &s.loc.Bucket, Prefix: &k})
	// (With a prefix that is exactly the key, MinIO lists its uploads.)
	if err != nil {
		return
	}
	for _, up := range out.Uploads {
		t := aws.ToTime(up.Initiated)
		if aws.ToString(up.Key) != k || aws.ToString(up.UploadId) == keep ||
			t.Before(from.Add(-2*time.Second)) || t.After(to.Add(2*time.Second)) {
			continue
		}
		s.abort(actx, k, aws.ToString(up.UploadId))
	}
}

// attempts is how many tries a request took.
func attempts(md middleware.Metadata) int {
	if r, ok := awsretry.GetAttemptResults(md); ok {
		return len(r.Results)
	}
	return 1
}

func contentMD5(b []byte) string {
	sum := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}
