package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/flox-publish/publish-action/internal/testenv"
)

// TestIfAbsentOnEveryStore writes objects with PutOptions.IfAbsent, in one
// PutObject and in parts, where none exists and where one does, on the
// three S3 servers and on file://: MinIO, versitygw and file:// refuse the
// second write with ErrExists and keep the first object; s3rver ignores
// the condition and takes the second. ProbeIfAbsent tells them apart. Of
// eight writers racing for one key, one wins where the store honours it.
func TestIfAbsentOnEveryStore(t *testing.T) {
	t.Parallel()
	stores := []struct {
		name      string
		honours   bool
		multipart bool
		open      func(t *testing.T) DigestStore
	}{
		{"minio", true, true, func(t *testing.T) DigestStore {
			m, _ := minio.Get(t)
			return openMinIO(t, m, m.CreateBucket(t), "pre", Options{PartSize: 5 << 20})
		}},
		{"versitygw", true, true, func(t *testing.T) DigestStore { return openServer(t, testenv.VersityGW) }},
		{"s3rver", false, true, func(t *testing.T) DigestStore { return openServer(t, testenv.S3rver) }},
		{"file", true, false, func(t *testing.T) DigestStore {
			f, err := OpenFile(filepath.Join(t.TempDir(), "cache"))
			if err != nil {
				t.Fatal(err)
			}
			return f
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			s := st.open(t)
			ctx := context.Background()
			sizes := map[string]int64{"small": 1000}
			if st.multipart {
				sizes["multipart"] = 11 << 20
			}
			for kind, size := range sizes {
				key := "nar/" + kind + ".nar"
				first := newGenReader(1, size)
				if _, err := s.PutWith(ctx, key, first, PutOptions{IfAbsent: true}); err != nil {
					t.Fatalf("%s: first write: %v", kind, err)
				}
				_, err := s.PutWith(ctx, key, newGenReader(2, size), PutOptions{IfAbsent: true})
				want := genSum(1, size)
				if !st.honours {
					want = genSum(2, size)
				}
				switch {
				case st.honours && !errors.Is(err, ErrExists):
					t.Errorf("%s: second write returned %v, want ErrExists", kind, err)
				case !st.honours && err != nil:
					t.Errorf("%s: second write returned %v, want it written over the first", kind, err)
				}
				if got := readSum(t, s, key); got != want {
					t.Errorf("%s: the object holds the wrong write after a conditional second one", kind)
				}
				if s3, ok := s.(*S3); ok && st.honours { // s3rver cannot list uploads
					out, err := s3.client.ListMultipartUploads(ctx, &s3api.ListMultipartUploadsInput{Bucket: &s3.loc.Bucket})
					if err != nil || len(out.Uploads) != 0 {
						t.Errorf("%s: multipart uploads left open: %v, %v", kind, out, err)
					}
				}
			}

			data := []byte("StoreDir: /nix/store\n")
			if _, err := s.PutWith(ctx, "nix-cache-info", bytes.NewReader(data), PutOptions{}); err != nil {
				t.Fatal(err)
			}
			honoured, err := ProbeIfAbsent(ctx, s, "nix-cache-info", data, "text/x-nix-cache-info")
			if err != nil || honoured != st.honours {
				t.Errorf("ProbeIfAbsent = %v, %v; want %v", honoured, err, st.honours)
			}
			if got := readAll(t, s, "nix-cache-info"); got != string(data) {
				t.Errorf("the probe changed nix-cache-info to %q", got)
			}

			if !st.honours {
				return
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			won, lost := 0, 0
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.PutWith(ctx, "race.narinfo", strings.NewReader(strings.Repeat("x", 100+i)), PutOptions{IfAbsent: true})
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						won++
					case errors.Is(err, ErrExists):
						lost++
					default:
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if won != 1 || lost != 7 {
				t.Errorf("8 conditional writers of one key: %d won, %d refused; want 1 and 7", won, lost)
			}
		})
	}
}

// openServer opens an S3 store on a bucket of a new server of spec.
func openServer(t *testing.T, spec testenv.S3ServerSpec) *S3 {
	t.Helper()
	srv := testenv.StartS3Server(t, spec)
	u, _ := url.Parse("s3://" + srv.CreateBucket(t) + "/pre?endpoint=" + srv.Endpoint)
	s, err := openS3URL(context.Background(), u, Options{PartSize: 5 << 20,
		Credentials: awscreds.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readAll(t *testing.T, s Store, key string) string {
	t.Helper()
	r, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func readSum(t *testing.T, s Store, key string) [32]byte {
	t.Helper()
	return sha256.Sum256([]byte(readAll(t, s, key)))
}
