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
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// TestIndexOnMinIO records builds in an index on S3 (MinIO), where
// concurrent runs are kept apart by If-Match / If-None-Match: publishers
// of the same package at once, in one process and in separate ones, all
// end up recorded, and re-runs of one build are recorded once.
func TestIndexOnMinIO(t *testing.T) {
	t.Parallel()
	m := testenv.StartMinIO(t, testenv.MinIOOptions{})
	bucket := m.CreateBucket(t)
	storeURL := fmt.Sprintf("s3://%s/cache?endpoint=%s", bucket, m.Endpoint)
	ctx := context.Background()
	open := func(t *testing.T) *Index {
		t.Helper()
		s, err := store.Open(ctx, storeURL, store.Options{Credentials: m.RootCredentials(), Getenv: func(string) string { return "" }})
		if err != nil {
			t.Fatal(err)
		}
		return newTestIndex(t, s)
	}

	// Goroutines, each a run with its own store client: four publish new
	// revisions of hello, four re-run the same build of hello.
	var wg sync.WaitGroup
	var mu sync.Mutex
	added := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := testBuild(testTarget())
			if i < 4 {
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
	if added != 5 {
		t.Errorf("%d builds added, want 4 revisions and the re-run build once", added)
	}

	// Separate processes, as two workflow runs are.
	runPublishers(t, storeURL, m.RootUser+" "+m.RootPassword, []string{rev(20), rev(21)})

	idx := open(t)
	want := []string{rev(10), rev(11), rev(12), rev(13), rev(20), rev(21), rev(99)}
	for _, r := range want {
		target := testTarget()
		target.Source.Rev = r
		if e, err := idx.Lookup(ctx, target); err != nil || e == nil {
			t.Errorf("%s is not recorded: %v", r, err)
		}
	}
	obj, err := m.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("cache/" + IndexKey("acme", "hello"))})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	var index indexObject
	if err := json.NewDecoder(obj.Body).Decode(&index); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range index.Builds {
		got = append(got, e.Rev)
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("the index on S3 holds %q, want %q", got, want)
	}
	if ct := aws.ToString(obj.ContentType); ct != "application/json" {
		t.Errorf("content type %q, want application/json", ct)
	}
}
