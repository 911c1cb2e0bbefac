package store_test

import (
	"context"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// stream is a NAR as the store sees it: a reader of unknown length that
// cannot seek (the compressor's pipe), of incompressible bytes.
func stream(seed uint64, size int64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	return struct{ io.Reader }{io.LimitReader(rand.NewChaCha8(s), size)}
}

// BenchmarkUploader compares this store's multipart uploader with
// aws-sdk-go-v2's feature/s3/transfermanager in the same run, against the
// same MinIO: 4 objects of 48 MiB uploaded at once from unseekable
// streams, 8 MiB parts, 4 parts in flight (DefaultMemory: five parts, one
// of them filling; Concurrency 4 per upload for the transfer manager,
// which has no shared budget), reporting MB/s and the process's peak RSS.
// Run it with:
//
//	go test ./internal/store -run '^$' -bench Uploader -benchtime 3x
func BenchmarkUploader(b *testing.B) {
	const objects, size = 4, 48 << 20
	m := testenv.StartMinIO(b, testenv.MinIOOptions{})
	ctx := context.Background()
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(m.Endpoint), UsePathStyle: true, Credentials: m.RootCredentials(),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
	})
	uploaders := map[string]func(bucket string) func(key string, r io.Reader) error{
		"store": func(bucket string) func(string, io.Reader) error {
			loc, _ := store.ParseLocation("s3://" + bucket + "?endpoint=" + m.Endpoint)
			st, err := store.Open(ctx, loc, store.Options{Jobs: 4, Credentials: m.RootCredentials()})
			s, _ := st.(store.DigestStore)
			if err != nil {
				b.Fatal(err)
			}
			return func(key string, r io.Reader) error {
				_, err := s.PutWith(ctx, key, r, store.PutOptions{ContentType: "application/x-nix-nar", MaxSize: size})
				return err
			}
		},
		"transfermanager": func(bucket string) func(string, io.Reader) error {
			tm := transfermanager.New(client, func(o *transfermanager.Options) {
				o.PartSizeBytes = 8 << 20
				o.Concurrency = 4
				o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			})
			return func(key string, r io.Reader) error {
				_, err := tm.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: &bucket, Key: &key, Body: r, ContentType: aws.String("application/x-nix-nar")})
				return err
			}
		},
	}
	for _, name := range []string{"store", "transfermanager", "store", "transfermanager"} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(objects * size)
			var peak int64
			for range b.N {
				b.StopTimer()
				put := uploaders[name](m.CreateBucket(b))
				resetPeakRSS(b)
				b.StartTimer()
				errs := make(chan error, objects)
				for i := range objects {
					go func() { errs <- put("nar/"+strconv.Itoa(i)+".nar", stream(uint64(i), size)) }()
				}
				for range objects {
					if err := <-errs; err != nil {
						b.Fatal(err)
					}
				}
				peak = max(peak, peakRSS(b))
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
		})
	}
}
