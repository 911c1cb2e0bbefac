package cache_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// TestRequestsPerPath publishes a closure of small paths, as the pipeline
// does (publish, then the read-back of the roots), through a proxy that
// logs every request, to the three S3 servers, and counts what each new
// path cost: the requests naming its narinfo or its NAR. MinIO and
// versitygw honour conditional writes: three (the narinfo's existence
// check, the NAR written If-None-Match, the narinfo); s3rver ignores them:
// four (the NAR is asked for before it is written). Besides the paths, a
// run costs a few requests of its own (nix-cache-info read and probed, the
// leftover uploads listed) and the read-back of the root. Publishing again
// costs one request a path.
func TestRequestsPerPath(t *testing.T) {
	testenv.Slow(t)
	t.Parallel()
	type server struct {
		endpoint string
		creds    aws.CredentialsProvider
		bucket   string
	}
	servers := []struct {
		name    string
		perPath int
		start   func(t *testing.T) server
	}{
		{"minio", 3, func(t *testing.T) server {
			m := testenv.StartMinIO(t, testenv.MinIOOptions{})
			return server{m.Endpoint, m.RootCredentials(), m.CreateBucket(t)}
		}},
		{"versitygw", 3, func(t *testing.T) server {
			s := testenv.StartS3Server(t, testenv.VersityGW)
			return server{s.Endpoint, s.Credentials(), s.CreateBucket(t)}
		}},
		{"s3rver", 4, func(t *testing.T) server {
			s := testenv.StartS3Server(t, testenv.S3rver)
			return server{s.Endpoint, awscreds.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""), s.CreateBucket(t)}
		}},
	}
	key := testenv.SigningKey(t, "requests")
	paths := faultClosure(t, 2300, 60)
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			s3srv := srv.start(t)
			proxy, err := testenv.StartFaultProxy(s3srv.endpoint)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(proxy.Close)
			loc, _ := store.ParseLocation("s3://" + s3srv.bucket + "?endpoint=" + proxy.URL)
			st, err := store.Open(context.Background(), loc, store.Options{Jobs: 16, Credentials: s3srv.creds})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			res, err := cache.Publish(ctx, cache.Options{Store: st, Key: key, Jobs: 16}, paths)
			if err != nil {
				t.Fatal(err)
			}
			if err := cache.Verify(ctx, st, key.PublicKey(), res); err != nil {
				t.Fatal(err)
			}
			log := proxy.Log()
			perPath := map[string][]string{}
			owner := map[string]string{} // object key → store path
			for _, r := range res {
				if r.Status != cache.Uploaded || r.Reused {
					t.Errorf("%s: %s (reused %v), want uploaded", r.StorePath, r.Status, r.Reused)
				}
				owner[narinfo.Key(r.StorePath)] = r.StorePath
				owner[r.NarInfo.URL] = r.StorePath
			}
			var own []string
			for _, q := range log {
				k := strings.TrimPrefix(q.Path, "/"+s3srv.bucket+"/")
				if p, ok := owner[k]; ok {
					perPath[p] = append(perPath[p], q.Op+" "+k)
				} else {
					own = append(own, q.Op+" "+k)
				}
			}
			counts := map[int]int{}
			for _, r := range res {
				n := len(perPath[r.StorePath])
				counts[n]++
				// The root is read back: two requests more.
				if limit := srv.perPath + 2; n > limit || (n > srv.perPath && !isRoot(r, res)) {
					t.Errorf("%s cost %d requests: %v", r.StorePath, n, perPath[r.StorePath])
				}
			}
			t.Logf("%s: %d paths, %d requests: paths by requests each %v; the run's own %d: %v",
				srv.name, len(res), len(log), counts, len(own), own)
			if len(own) > 4 {
				t.Errorf("the run made %d requests of its own, want at most 4: %v", len(own), own)
			}

			proxy.ResetLog()
			again, err := cache.Publish(ctx, cache.Options{Store: st, Key: key, Jobs: 16}, paths)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range again {
				if r.Status != cache.Present {
					t.Errorf("re-publish: %s is %s", r.StorePath, r.Status)
				}
			}
			ops := map[string]int{}
			for _, q := range proxy.Log() {
				ops[q.Op]++
			}
			if heads := ops["HeadObject"]; heads != len(paths) {
				t.Errorf("re-publish: %d HEAD requests for %d paths", heads, len(paths))
			}
			t.Logf("re-publish: %s", fmtOps(ops))
		})
	}
}

func isRoot(r cache.PathResult, all []cache.PathResult) bool {
	for _, o := range all {
		for _, ref := range o.NarInfo.References {
			if o.StorePath != r.StorePath && strings.HasSuffix(r.StorePath, "/"+ref) {
				return false
			}
		}
	}
	return true
}

func fmtOps(ops map[string]int) string {
	var parts []string
	for op, n := range ops {
		parts = append(parts, fmt.Sprintf("%s %d", op, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
