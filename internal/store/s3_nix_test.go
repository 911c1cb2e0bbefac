package store_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// countingStore counts writes, to prove a re-run writes nothing.
type countingStore struct {
	store.Store
	puts atomic.Int32
}

func (c *countingStore) Put(ctx context.Context, key string, r io.Reader, ct string) (int64, error) {
	c.puts.Add(1)
	return c.Store.Put(ctx, key, r, ct)
}

// buildClosure builds, with real Nix, a library holding 12 MB of random
// bytes (a multipart NAR whatever the compression) and an app referring to
// it, and returns the app and its closure.
func buildClosure(t *testing.T) (string, []nixpath.PathInfo) {
	t.Helper()
	return testenv.NixClosure(t, "s3", "head -c 12000000 /dev/urandom > $out/lib/blob")
}

func TestPublishToMinIOInstallsWithRealNix(t *testing.T) {
	t.Parallel()
	top, closure := buildClosure(t)
	m := testenv.StartMinIO(t, testenv.MinIOOptions{})
	bucket := m.CreateBucket(t)
	m.AllowAnonymousRead(t, bucket)
	ctx := context.Background()

	loc, _ := store.ParseLocation("s3://" + bucket + "/nix?endpoint=" + m.Endpoint)
	st, err := store.Open(ctx, loc, store.Options{
		Jobs: 2, PartSize: 5 << 20, Credentials: m.RootCredentials(),
	})
	if err != nil {
		t.Fatal(err)
	}
	sec, pub, err := signing.Generate("s3-test-1")
	if err != nil {
		t.Fatal(err)
	}
	key, err := signing.Parse(sec)
	if err != nil {
		t.Fatal(err)
	}

	counting := &countingStore{Store: st}
	res, err := cache.Publish(ctx, cache.Options{Store: counting, Key: key, Compression: "zstd", Jobs: 2}, closure)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Status != cache.Uploaded {
			t.Errorf("%s: %s, want uploaded", r.StorePath, r.Status)
		}
	}
	if err := cache.Verify(ctx, st, key.PublicKey(), res); err != nil {
		t.Fatal(err)
	}

	// The objects carry Nix's content types and no Content-Encoding.
	list, err := m.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 5 { // nix-cache-info, 2 narinfos, 2 NARs
		t.Errorf("%d objects, want 5", len(list.Contents))
	}
	for _, o := range list.Contents {
		k := aws.ToString(o.Key)
		if !strings.HasPrefix(k, "nix/") {
			t.Errorf("object %s is outside the prefix", k)
		}
		h, err := m.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &k})
		if err != nil {
			t.Fatal(err)
		}
		want := cache.ContentTypeNAR
		switch {
		case k == "nix/nix-cache-info":
			want = cache.ContentTypeCacheInfo
		case strings.HasSuffix(k, ".narinfo"):
			want = narinfo.ContentType
		}
		if aws.ToString(h.ContentType) != want {
			t.Errorf("%s: Content-Type %q, want %q", k, aws.ToString(h.ContentType), want)
		}
		if aws.ToString(h.ContentEncoding) != "" {
			t.Errorf("%s: Content-Encoding %q", k, aws.ToString(h.ContentEncoding))
		}
	}

	// A second publish finds everything and uploads nothing.
	counting.puts.Store(0)
	again, err := cache.Publish(ctx, cache.Options{Store: counting, Key: key, Compression: "zstd", Jobs: 2}, closure)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range again {
		if r.Status != cache.Present {
			t.Errorf("re-run: %s: %s, want present", r.StorePath, r.Status)
		}
	}
	if n := counting.puts.Load(); n != 0 {
		t.Errorf("the re-run wrote %d objects", n)
	}

	// Real Nix installs the closure from the bucket, read over plain http
	// (Debian's Nix has no S3 support), into a fresh store, and checks the
	// signatures with only our key trusted.
	root := filepath.Join(t.TempDir(), "root")
	env := testenv.NixEnv(t)
	nix := func(args ...string) {
		t.Helper()
		cmd := exec.Command("nix", args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nix %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	cacheURL := m.Endpoint + "/" + bucket + "/nix"
	nix("copy", "--from", cacheURL, "--to", root, "--option", "trusted-public-keys", pub, "--option", "require-sigs", "true", top)
	nix("store", "verify", "--store", root, "--sigs-needed", "1", "--option", "trusted-public-keys", pub, "--recursive", top)
	for _, p := range closure {
		if _, err := os.Stat(filepath.Join(root, p.StorePath)); err != nil {
			t.Errorf("%s not installed: %v", p.StorePath, err)
		}
	}
}
