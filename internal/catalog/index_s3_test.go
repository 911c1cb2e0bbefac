package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// s3Server is what the index tests need of a running S3 server.
type s3Server struct {
	endpoint       string
	access, secret string
	client         *s3.Client
	bucket         string
}

// TestIndexOnS3Servers records builds in an index on three independent S3
// servers: MinIO and versitygw, which honour If-Match / If-None-Match, and
// s3rver, which ignores them (as older Ceph RGW and several hosted
// S3-compatibles do). Publishers of the same package at once, in one
// process and in separate ones, all end up in the index on every one of
// them, and re-runs of one build are listed once.
func TestIndexOnS3Servers(t *testing.T) {
	t.Parallel()
	servers := []struct {
		name  string
		start func(t *testing.T) s3Server
	}{
		{"minio", func(t *testing.T) s3Server {
			m := testenv.StartMinIO(t, testenv.MinIOOptions{})
			return s3Server{m.Endpoint, m.RootUser, m.RootPassword, m.Client(), m.CreateBucket(t)}
		}},
		{"versitygw", func(t *testing.T) s3Server {
			s := testenv.StartS3Server(t, testenv.VersityGW)
			return s3Server{s.Endpoint, s.AccessKey, s.SecretKey, s.Client(), s.CreateBucket(t)}
		}},
		{"s3rver", func(t *testing.T) s3Server {
			s := testenv.StartS3Server(t, testenv.S3rver)
			return s3Server{s.Endpoint, s.AccessKey, s.SecretKey, s.Client(), s.CreateBucket(t)}
		}},
	}
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			testIndexOnS3(t, srv.start(t))
		})
	}
}

func testIndexOnS3(t *testing.T, srv s3Server) {
	storeURL := fmt.Sprintf("s3://%s/cache?endpoint=%s", srv.bucket, srv.endpoint)
	ctx := context.Background()
	open := func(t *testing.T) *Index {
		t.Helper()
		loc, _ := store.ParseLocation(storeURL)
		s, err := store.Open(ctx, loc, store.Options{Credentials: staticCreds(srv.access, srv.secret), Getenv: func(string) string { return "" }})
		if err != nil {
			t.Fatal(err)
		}
		return newTestIndex(t, s)
	}

	// Goroutines, each a run with its own store client: eight publish new
	// revisions of hello, four re-run the same build of hello.
	var wg sync.WaitGroup
	var mu sync.Mutex
	added := 0
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := testBuild(testTarget())
			if i < 8 {
				b.Source.Rev = rev(10 + i)
			} else {
				b.Source.Rev = rev(99)
			}
			ok, err := open(t).Record(ctx, b)
			if err != nil {
				t.Errorf("run %d: %v", i, err)
				return
			}
			if ok {
				mu.Lock()
				added++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if added < 9 {
		t.Errorf("%d builds added, want the 8 revisions and the re-run build", added)
	}

	// Separate processes, as separate workflow runs are.
	runPublishers(t, storeURL, srv.access+" "+srv.secret, []string{rev(20), rev(21), rev(22), rev(23)})

	idx := open(t)
	want := append(strings.Fields(revList(10, 8)), rev(20), rev(21), rev(22), rev(23), rev(99))
	sort.Strings(want)
	for _, r := range want {
		target := testTarget()
		target.Source.Rev = r
		if e, err := idx.Lookup(ctx, target); err != nil || e == nil {
			t.Errorf("%s is not recorded: %v", r, err)
		}
	}
	if got := entryRevs(t, idx, "hello"); got != strings.Join(want, " ") {
		t.Errorf("the index lists\n%s\nwant\n%s", got, strings.Join(want, " "))
	}

	// What `aws s3 ls --recursive s3://BUCKET/cache/catalog/acme/hello/`
	// shows: one object per build.
	list, err := srv.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &srv.bucket, Prefix: aws.String("cache/" + RecordPrefix("acme", "hello"))})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(list.Contents); n != len(want) {
		t.Errorf("%d record objects, want %d", n, len(want))
	}

	// The summary, derived once more after the last run, holds them all.
	if err := idx.Summarize(ctx, "acme", "hello"); err != nil {
		t.Fatal(err)
	}
	obj, err := srv.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &srv.bucket, Key: aws.String("cache/" + IndexKey("acme", "hello"))})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	var sum summaryObject
	if err := json.NewDecoder(obj.Body).Decode(&sum); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range sum.Builds {
		got = append(got, e.Rev)
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("the summary holds %q, want %q", got, want)
	}
	if ct := aws.ToString(obj.ContentType); ct != "application/json" {
		t.Errorf("content type %q, want application/json", ct)
	}
}

func staticCreds(access, secret string) aws.CredentialsProvider {
	return awscreds.NewStaticCredentialsProvider(access, secret, "")
}
