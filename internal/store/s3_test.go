package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/flox-publish/publish-action/internal/testenv"
)

// readonlyAudience is the client ID of a second MinIO role whose policy
// only reads: the stand-in for a bucket that refuses the role's writes.
const readonlyAudience = "readonly.flox-publish.test"

// minio is the package's MinIO, started on first use by a test that needs
// it, so URL and retry tests run without it.
var minio = &testenv.SharedMinIO{Roles: []testenv.OpenIDRole{
	{ClientID: "sts.amazonaws.com", Policy: "readwrite"},
	{ClientID: readonlyAudience, Policy: "readonly"},
}}

func TestMain(m *testing.M) {
	code := m.Run()
	minio.Stop()
	os.Exit(code)
}

// openMinIO opens the S3 store for bucket[/prefix] on m as its root user.
func openMinIO(t *testing.T, m *testenv.MinIO, bucket, prefix string, opts Options) *S3 {
	t.Helper()
	raw := "s3://" + bucket
	if prefix != "" {
		raw += "/" + prefix
	}
	u, err := url.Parse(raw + "?endpoint=" + m.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Credentials == nil {
		opts.Credentials = m.RootCredentials()
	}
	s, err := openS3URL(context.Background(), u, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func listKeys(t *testing.T, m *testenv.MinIO, bucket string) []string {
	t.Helper()
	out, err := m.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		t.Fatalf("list %s: %v", bucket, err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, *o.Key)
	}
	slices.Sort(keys)
	return keys
}

func pendingUploads(t *testing.T, m *testenv.MinIO, bucket string) int {
	t.Helper()
	out, err := m.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatalf("list the multipart uploads of %s: %v", bucket, err)
	}
	return len(out.Uploads)
}

func head(t *testing.T, m *testenv.MinIO, bucket, key string) *s3.HeadObjectOutput {
	t.Helper()
	out, err := m.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("head %s/%s: %v", bucket, key, err)
	}
	return out
}

func TestS3PutGetExistsSize(t *testing.T) {
	t.Parallel()
	m, _ := minio.Get(t)
	bucket := m.CreateBucket(t)
	s := openMinIO(t, m, bucket, "", Options{Jobs: 2})
	ctx := context.Background()

	if ok, err := s.Exists(ctx, "abc.narinfo"); err != nil || ok {
		t.Fatalf("Exists before Put = %v, %v", ok, err)
	}
	if _, err := s.Size(ctx, "abc.narinfo"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Size of a missing key: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, "abc.narinfo"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}

	body := "StorePath: /nix/store/abc-hello\nURL: nar/x.nar.zst\n"
	n, err := s.Put(ctx, "abc.narinfo", strings.NewReader(body), "text/x-nix-narinfo")
	if err != nil || n != int64(len(body)) {
		t.Fatalf("Put = %d, %v", n, err)
	}
	if ok, err := s.Exists(ctx, "abc.narinfo"); err != nil || !ok {
		t.Fatalf("Exists after Put = %v, %v", ok, err)
	}
	if size, err := s.Size(ctx, "abc.narinfo"); err != nil || size != int64(len(body)) {
		t.Fatalf("Size = %d, %v", size, err)
	}
	r, err := s.Get(ctx, "abc.narinfo")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(got) != body {
		t.Fatalf("Get = %q, %v", got, err)
	}

	// A compressed NAR: Nix's Content-Type, and no Content-Encoding, or
	// clients would decompress it twice.
	if _, err := s.Put(ctx, "nar/x.nar.zst", bytes.NewReader([]byte{0x28, 0xb5, 0x2f, 0xfd}), "application/x-nix-nar"); err != nil {
		t.Fatal(err)
	}
	for key, ct := range map[string]string{"abc.narinfo": "text/x-nix-narinfo", "nar/x.nar.zst": "application/x-nix-nar"} {
		h := head(t, m, bucket, key)
		if aws.ToString(h.ContentType) != ct {
			t.Errorf("%s: Content-Type %q, want %q", key, aws.ToString(h.ContentType), ct)
		}
		if h.ContentEncoding != nil && *h.ContentEncoding != "" {
			t.Errorf("%s: Content-Encoding %q, want none", key, *h.ContentEncoding)
		}
	}
	if got := s.URL(); got != "s3://"+bucket+"?endpoint="+m.Endpoint {
		t.Errorf("URL() = %s", got)
	}
	if _, err := s.Put(ctx, "../escape", strings.NewReader("x"), "text/plain"); err == nil {
		t.Error("Put accepted a key outside the store")
	}
}

func TestS3Conditional(t *testing.T) {
	t.Parallel()
	m, _ := minio.Get(t)
	s := openMinIO(t, m, m.CreateBucket(t), "pre", Options{Jobs: 4})
	ctx := context.Background()
	const key = "catalog/index.json"

	if _, _, err := s.GetVersion(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetVersion of a missing key: %v, want ErrNotFound", err)
	}
	if err := s.PutIf(ctx, key, []byte("0"), "application/json", ""); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := s.PutIf(ctx, key, []byte("x"), "application/json", ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("create over an existing object: %v, want ErrConflict", err)
	}
	data, v1, err := s.GetVersion(ctx, key)
	if err != nil || string(data) != "0" || v1 == "" {
		t.Fatalf("GetVersion = %q, %q, %v", data, v1, err)
	}
	if err := s.PutIf(ctx, key, []byte("1"), "application/json", v1); err != nil {
		t.Fatalf("replace at the read version: %v", err)
	}
	if err := s.PutIf(ctx, key, []byte("2"), "application/json", v1); !errors.Is(err, ErrConflict) {
		t.Fatalf("replace at a stale version: %v, want ErrConflict", err)
	}
	if err := s.PutIf(ctx, "catalog/gone.json", []byte("2"), "application/json", v1); !errors.Is(err, ErrConflict) {
		t.Fatalf("replace a missing object: %v, want ErrConflict", err)
	}

	// Writers racing on read-modify-write each land exactly once.
	const writers, rounds = 6, 3
	var wg sync.WaitGroup
	var conflicts atomic.Int32
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				for {
					data, v, err := s.GetVersion(ctx, key)
					if err != nil {
						t.Error(err)
						return
					}
					var n int
					fmt.Sscan(string(data), &n)
					err = s.PutIf(ctx, key, []byte(fmt.Sprint(n+1)), "application/json", v)
					if err == nil {
						break
					}
					if !errors.Is(err, ErrConflict) {
						t.Error(err)
						return
					}
					conflicts.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	data, _, _ = s.GetVersion(ctx, key)
	if want := fmt.Sprint(1 + writers*rounds); string(data) != want {
		t.Errorf("counter = %s, want %s (%d conflicts)", data, want, conflicts.Load())
	}
}

// genReader yields n pseudo-random bytes without holding them.
type genReader struct {
	rng  *rand.ChaCha8
	left int64
}

func newGenReader(seed byte, n int64) *genReader {
	return &genReader{rng: rand.NewChaCha8([32]byte{seed}), left: n}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n, _ := g.rng.Read(p)
	g.left -= int64(n)
	return n, nil
}

func genSum(seed byte, n int64) [32]byte {
	h := sha256.New()
	io.Copy(h, newGenReader(seed, n))
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// heapPeak samples the heap in use until stop is called, and returns the
// highest value above the starting one.
func heapPeak() (stop func() uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return peak.Load()
	}
}

func TestS3MultipartStreamsWithBoundedMemory(t *testing.T) {
	// Not parallel: it measures this process's heap.
	m, _ := minio.Get(t)
	bucket := m.CreateBucket(t)
	const size = 64 << 20
	const part = 5 << 20
	s := openMinIO(t, m, bucket, "", Options{Memory: 3 * part, PartSize: part})
	ctx := context.Background()

	stop := heapPeak()
	start := time.Now()
	n, err := s.Put(ctx, "nar/big.nar.zst", newGenReader(1, size), "application/x-nix-nar")
	elapsed := time.Since(start)
	peak := stop()
	if err != nil || n != size {
		t.Fatalf("Put = %d, %v", n, err)
	}
	t.Logf("64 MiB in %d parts of 5 MiB, 3 part buffers: %.0f MB/s, heap peak +%.1f MiB", (size+part-1)/part, float64(size)/1e6/elapsed.Seconds(), float64(peak)/(1<<20))
	// Memory's three part buffers, plus the SDK's and the HTTP client's own.
	if limit := uint64(3*part + 8<<20); peak > limit {
		t.Errorf("heap grew by %d MiB uploading 64 MiB, want at most %d MiB", peak>>20, limit>>20)
	}

	h := head(t, m, bucket, "nar/big.nar.zst")
	if aws.ToInt64(h.ContentLength) != size {
		t.Errorf("stored %d bytes, want %d", aws.ToInt64(h.ContentLength), size)
	}
	if etag := aws.ToString(h.ETag); !strings.HasSuffix(strings.Trim(etag, `"`), fmt.Sprintf("-%d", (size+part-1)/part)) {
		t.Errorf("ETag %s: not a multipart upload of %d parts", etag, (size+part-1)/part)
	}
	if aws.ToString(h.ContentType) != "application/x-nix-nar" || aws.ToString(h.ContentEncoding) != "" {
		t.Errorf("Content-Type %q, Content-Encoding %q", aws.ToString(h.ContentType), aws.ToString(h.ContentEncoding))
	}
	r, err := s.Get(ctx, "nar/big.nar.zst")
	if err != nil {
		t.Fatal(err)
	}
	hs := sha256.New()
	io.Copy(hs, r)
	r.Close()
	if !bytes.Equal(hs.Sum(nil), func() []byte { s := genSum(1, size); return s[:] }()) {
		t.Error("the stored object differs from what was uploaded")
	}
	if p := pendingUploads(t, m, bucket); p != 0 {
		t.Errorf("%d multipart uploads left behind", p)
	}
}

func TestS3ParallelPutsShareBoundedBuffers(t *testing.T) {
	t.Parallel()
	m, _ := minio.Get(t)
	bucket := m.CreateBucket(t)
	// Two part buffers for six concurrent multipart uploads.
	s := openMinIO(t, m, bucket, "", Options{Memory: 2 * 5 << 20, PartSize: 5 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			size := int64(11<<20 + i)
			if _, err := s.Put(ctx, fmt.Sprintf("nar/%d.nar", i), newGenReader(byte(i), size), "application/x-nix-nar"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := range 6 {
		if size, err := s.Size(ctx, fmt.Sprintf("nar/%d.nar", i)); err != nil || size != int64(11<<20+i) {
			t.Errorf("nar/%d.nar: %d, %v", i, size, err)
		}
	}
}

// failingReader fails after n bytes, like a NAR dump of a path that
// vanished.
type failingReader struct {
	r io.Reader
}

var errSourceBroke = errors.New("the store path vanished while it was read")

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errSourceBroke
	}
	return n, err
}

func TestS3FailedUploadLeavesNothing(t *testing.T) {
	t.Parallel()
	m, _ := minio.Get(t)
	bucket := m.CreateBucket(t)
	s := openMinIO(t, m, bucket, "", Options{Jobs: 2, PartSize: 5 << 20})
	ctx := context.Background()

	for _, size := range []int64{1 << 20, 12 << 20} { // single part, multipart
		key := fmt.Sprintf("nar/broken-%d.nar", size)
		_, err := s.Put(ctx, key, failingReader{newGenReader(2, size)}, "application/x-nix-nar")
		if !errors.Is(err, errSourceBroke) {
			t.Fatalf("Put of a failing reader (%d bytes): %v, want the reader's error", size, err)
		}
		if !strings.Contains(err.Error(), "s3://"+bucket+"/"+key) {
			t.Errorf("the error does not name the object: %v", err)
		}
		if ok, err := s.Exists(ctx, key); ok || err != nil {
			t.Errorf("after a failed Put, Exists = %v, %v", ok, err)
		}
	}

	// Cancelled half-way through a multipart upload.
	cctx, cancel := context.WithCancel(ctx)
	r := io.MultiReader(newGenReader(3, 11<<20), readerFunc(func(p []byte) (int, error) {
		cancel()
		return 0, cctx.Err()
	}))
	if _, err := s.Put(cctx, "nar/cancelled.nar", r, "application/x-nix-nar"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Put: %v", err)
	}
	if keys := listKeys(t, m, bucket); len(keys) != 0 {
		t.Errorf("objects left after failed uploads: %v", keys)
	}
	if p := pendingUploads(t, m, bucket); p != 0 {
		t.Errorf("%d multipart uploads left behind", p)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestS3PrefixKeepsEverythingUnderIt(t *testing.T) {
	t.Parallel()
	m, _ := minio.Get(t)
	bucket := m.CreateBucket(t)
	s := openMinIO(t, m, bucket, "team/nix-cache", Options{Jobs: 2, PartSize: 5 << 20})
	ctx := context.Background()
	for key, r := range map[string]io.Reader{
		"nix-cache-info":  strings.NewReader("StoreDir: /nix/store\n"),
		"abc.narinfo":     strings.NewReader("StorePath: /nix/store/abc-x\n"),
		"nar/abc.nar.zst": newGenReader(4, 6<<20), // multipart too
	} {
		if _, err := s.Put(ctx, key, r, "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"team/nix-cache/abc.narinfo", "team/nix-cache/nar/abc.nar.zst", "team/nix-cache/nix-cache-info"}
	if got := listKeys(t, m, bucket); !slices.Equal(got, want) {
		t.Errorf("keys in the bucket: %q, want %q", got, want)
	}
	root := openMinIO(t, m, bucket, "", Options{})
	if ok, _ := root.Exists(ctx, "nix-cache-info"); ok {
		t.Error("an object landed outside the prefix")
	}
	if ok, _ := s.Exists(ctx, "nix-cache-info"); !ok {
		t.Error("the prefixed store does not find its own object")
	}
	if !strings.HasPrefix(s.URL(), "s3://"+bucket+"/team/nix-cache?") {
		t.Errorf("URL() = %s", s.URL())
	}
}

func TestS3ClearErrors(t *testing.T) {
	t.Parallel()
	m, _ := minio.Get(t)
	bucket := m.CreateBucket(t)
	ctx := context.Background()
	const secret = "wrong-secret-for-the-test"
	tests := []struct {
		name   string
		bucket string
		opts   Options
		want   []string
	}{
		{"missing bucket", "no-such-bucket-here", Options{},
			[]string{"s3://no-such-bucket-here/nix-cache-info", "NoSuchBucket", `The bucket "no-such-bucket-here" does not exist at ` + m.Endpoint}},
		{"unknown access key", bucket, Options{Credentials: awscreds.NewStaticCredentialsProvider("AKIAUNKNOWNKEY", secret, "")},
			[]string{"s3://" + bucket + "/nix-cache-info", "InvalidAccessKeyId", m.Endpoint + " did not accept the credentials in use"}},
		{"wrong secret", bucket, Options{Credentials: awscreds.NewStaticCredentialsProvider(m.RootUser, secret, "")},
			[]string{"SignatureDoesNotMatch", "did not accept"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Every retry is logged (see Retryer): a refusal must log none.
			// Counted, not timed, so that a loaded machine cannot fail it.
			var mu sync.Mutex
			var retries []string
			tt.opts.Logf = func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				retries = append(retries, fmt.Sprintf(format, args...))
			}
			s := openMinIO(t, m, tt.bucket, "", tt.opts)
			_, err := s.Put(ctx, "nix-cache-info", strings.NewReader("StoreDir: /nix/store\n"), "text/x-nix-cache-info")
			if err == nil {
				t.Fatal("Put succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), m.RootPassword) {
				t.Errorf("the error shows a secret: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(retries) > 0 {
				t.Errorf("a refusal was retried: %q", retries)
			}
		})
	}
}

func TestS3WrongRegion(t *testing.T) {
	t.Parallel()
	// A server of its own: the shared one accepts any region.
	m := testenv.StartMinIO(t, testenv.MinIOOptions{Region: "eu-central-1"})
	bucket := m.CreateBucket(t)
	s := openMinIO(t, m, bucket, "", Options{Region: "us-east-1"})
	_, err := s.Put(context.Background(), "nix-cache-info", strings.NewReader("StoreDir: /nix/store\n"), "text/x-nix-cache-info")
	if err == nil {
		t.Fatal("Put signed for the wrong region succeeded")
	}
	for _, w := range []string{"s3://" + bucket + "/nix-cache-info", "AuthorizationHeaderMalformed", `The bucket "` + bucket + `" is in region eu-central-1, not us-east-1: add ?region=eu-central-1 to the store URL`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	s = openMinIO(t, m, bucket, "", Options{Region: "eu-central-1"})
	if _, err := s.Put(context.Background(), "nix-cache-info", strings.NewReader("StoreDir: /nix/store\n"), "text/x-nix-cache-info"); err != nil {
		t.Errorf("with the right region: %v", err)
	}
}

// openS3URL opens the S3 store at u, as Open opens a parsed Location.
func openS3URL(ctx context.Context, u *url.URL, opts Options) (*S3, error) {
	loc, err := parseS3URL(u, opts.Region)
	if err != nil {
		return nil, err
	}
	return openS3(ctx, loc, opts)
}
