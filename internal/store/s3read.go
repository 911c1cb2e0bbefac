package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/flox-publish/publish-action/internal/retry"
)

// resumeAttempts bounds how often one read picks up a cut answer again,
// with resumeRetry's waits between.
const resumeAttempts = 5

var resumeRetry = retry.Policy{Base: 100 * time.Millisecond, Max: 2 * time.Second}

// resumingBody is the body of a GetObject that survives a cut: when the
// connection resets, the answer stops short or stalls, it asks for the
// rest (Range from the offset reached, If-Match the same ETag, so the rest
// is of the same object) rather than failing the read. The SDK retries
// requests, but a body read after the request returned is the caller's.
type resumingBody struct {
	s     *S3
	ctx   context.Context
	key   string
	etag  string
	body  io.ReadCloser
	off   int64
	tries int
}

func (b *resumingBody) Read(p []byte) (int, error) {
	for {
		n, err := b.body.Read(p)
		b.off += int64(n)
		if err == nil || err == io.EOF || n > 0 {
			return n, err
		}
		if !(retry.Transient(err) || errors.Is(err, errStalled)) || b.tries >= resumeAttempts || b.ctx.Err() != nil {
			return 0, fmt.Errorf("read %s: %w", b.s.show(b.key), err)
		}
		b.tries++
		b.body.Close()
		if b.s.logf != nil {
			b.s.logf("S3 GetObject %s: the answer was cut after %d bytes (%v); asking for the rest (attempt %d of %d)", b.s.show(b.key), b.off, err, b.tries+1, resumeAttempts+1)
		}
		if retry.Sleep(b.ctx, resumeRetry.Wait(b.tries, 0)) != nil {
			return 0, context.Cause(b.ctx)
		}
		in := &s3.GetObjectInput{Bucket: &b.s.loc.Bucket, Key: &b.key, Range: aws.String(fmt.Sprintf("bytes=%d-", b.off))}
		if b.etag != "" {
			in.IfMatch = &b.etag
		}
		out, gerr := b.s.client.GetObject(b.ctx, in)
		if gerr != nil {
			b.body = io.NopCloser(eofReader{})
			return 0, fmt.Errorf("read %s: the answer was cut after %d bytes (%v), and asking for the rest failed: %w", b.s.show(b.key), b.off, err, b.s.fail("read", b.key, gerr))
		}
		b.body = out.Body
	}
}

func (b *resumingBody) Close() error { return b.body.Close() }

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// Stat returns the object's size and the SHA-256 recorded with it: its
// x-amz-meta-sha256 when it was written in one request, else the small
// object beside it (digestSuffix) that a completed multipart upload left.
func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	out, err := s.head(ctx, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	info := ObjectInfo{Size: aws.ToInt64(out.ContentLength)}
	sum := out.Metadata[metaSHA256]
	if sum == "" {
		data, _, err := s.GetVersion(ctx, key+digestSuffix)
		switch {
		case errors.Is(err, ErrNotFound):
			return info, nil
		case err != nil:
			return ObjectInfo{}, err
		}
		sum = string(data)
	}
	if h, err := hex.DecodeString(sum); err == nil && len(h) == 32 {
		info.SHA256 = h
	}
	return info, nil
}

// CleanStale aborts the multipart uploads of NARs under the store's
// prefix that started more than olderThan ago: a killed run's, whose
// parts are billed until someone aborts them. Nothing else uploads in
// parts here, and a live run's uploads are younger (StaleAfter).
func (s *S3) CleanStale(ctx context.Context, olderThan time.Duration) (int, error) {
	prefix, err := s.loc.key("nar/x")
	if err != nil {
		return 0, err
	}
	prefix = prefix[:len(prefix)-1]
	cutoff := time.Now().Add(-olderThan)
	// No Prefix in the request: MinIO lists only the uploads of the one
	// key a prefix names exactly, so the uploads are filtered here.
	in := &s3.ListMultipartUploadsInput{Bucket: &s.loc.Bucket}
	removed := 0
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return removed, s.fail("list the unfinished uploads under", prefix, err)
		}
		for _, up := range out.Uploads {
			if !strings.HasPrefix(aws.ToString(up.Key), prefix) || !aws.ToTime(up.Initiated).Before(cutoff) {
				continue
			}
			_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.loc.Bucket, Key: up.Key, UploadId: up.UploadId})
			if err != nil {
				return removed, s.fail("abort the stale upload of", aws.ToString(up.Key), err)
			}
			removed++
		}
		if !aws.ToBool(out.IsTruncated) {
			return removed, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
