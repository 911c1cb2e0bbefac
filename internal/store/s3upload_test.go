package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestPartSizeFor(t *testing.T) {
	s := &S3{partSize: DefaultPartSize}
	tests := []struct {
		maxSize int64
		want    int
		err     bool
	}{
		{maxSize: 0, want: DefaultPartSize},
		{maxSize: 1 << 30, want: DefaultPartSize},
		{maxSize: maxParts * DefaultPartSize, want: DefaultPartSize},
		{maxSize: maxParts*DefaultPartSize + 1, want: 9 << 20},
		{maxSize: 100 << 30, want: 11 << 20},
		{maxSize: MaxObjectSize, want: 525 << 20},
		{maxSize: MaxObjectSize + 1, err: true},
	}
	for _, tt := range tests {
		got, err := s.partSizeFor(tt.maxSize)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("partSizeFor(%d) = %d, %v; want %d (error %v)", tt.maxSize, got, err, tt.want, tt.err)
		}
		if err == nil && int64(got)*maxParts < tt.maxSize {
			t.Errorf("partSizeFor(%d) = %d: 10,000 parts hold only %d bytes", tt.maxSize, got, int64(got)*maxParts)
		}
	}
}

// untouchable fails the test when read: the object must be refused first.
type untouchable struct{ t *testing.T }

func (u untouchable) Read([]byte) (int, error) {
	u.t.Error("the data was read, though the object cannot fit in S3")
	return 0, nil
}

func TestTooLargeRefusedBeforeTheFirstByte(t *testing.T) {
	u, _ := url.Parse("s3://bucket?endpoint=http://127.0.0.1:1")
	s, err := openS3URL(context.Background(), u, Options{Credentials: awscreds.NewStaticCredentialsProvider("a", "b", "")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.PutWith(context.Background(), "nar/x.nar.zst", untouchable{t}, PutOptions{MaxSize: 6 << 40})
	if err == nil || !strings.Contains(err.Error(), "5 TiB") || !strings.Contains(err.Error(), "s3://bucket/nar/x.nar.zst") {
		t.Errorf("got %v, want a refusal naming the object and S3's 5 TiB limit", err)
	}
}

// TestDigestKeptWithTheObject: what PutWith is given as the digest, Stat
// returns, for an object written in one request (metadata) and for one
// written in parts (the object beside it).
func TestDigestKeptWithTheObject(t *testing.T) {
	m, _ := minio.Get(t)
	bucket := m.CreateBucket(t)
	s := openMinIO(t, m, bucket, "p", Options{Jobs: 2, PartSize: 5 << 20})
	for _, size := range []int{1000, 12 << 20} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rand.N(256))
		}
		sum := sha256.Sum256(data)
		key := "nar/" + strings.Repeat("a", 5) + string(rune('0'+size%10)) + ".nar"
		if _, err := s.Stat(context.Background(), key); err == nil {
			t.Fatalf("Stat of an absent object succeeded")
		}
		n, err := s.PutWith(context.Background(), key, bytes.NewReader(data), PutOptions{MaxSize: int64(size), Digest: func() []byte { return sum[:] }})
		if err != nil || n != int64(size) {
			t.Fatalf("PutWith: %d, %v", n, err)
		}
		info, err := s.Stat(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != int64(size) || !bytes.Equal(info.SHA256, sum[:]) {
			t.Errorf("Stat of a %d-byte object: size %d, sha256 %x; want %x", size, info.Size, info.SHA256, sum)
		}
	}
}

// TestS3CleanStale aborts the multipart uploads of NARs older than asked,
// under the store's prefix only.
func TestS3CleanStale(t *testing.T) {
	m, _ := minio.Get(t)
	bucket := m.CreateBucket(t)
	s := openMinIO(t, m, bucket, "cache", Options{})
	c := m.Client()
	for _, k := range []string{"cache/nar/a.nar.zst", "cache/nar/b.nar.zst", "other/nar/c.nar.zst"} {
		if _, err := c.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.CleanStale(context.Background(), time.Hour); err != nil || n != 0 {
		t.Errorf("CleanStale(1h) removed %d, %v; want 0: the uploads are new", n, err)
	}
	time.Sleep(1100 * time.Millisecond)
	if n, err := s.CleanStale(context.Background(), time.Second); err != nil || n != 2 {
		t.Errorf("CleanStale(1s) removed %d, %v; want the 2 under the prefix", n, err)
	}
	if got := pendingUploads(t, m, bucket); got != 1 {
		t.Errorf("%d uploads left, want 1 (outside the prefix)", got)
	}
}
