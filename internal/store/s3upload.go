package store

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

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
