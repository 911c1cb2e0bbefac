package cache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/publish"
	"github.com/flox-publish/publish-action/internal/retry"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/testenv"
	"github.com/flox-publish/publish-action/internal/testenv/fixture"
)

// faultClosure is a closure of n synthetic paths made as the local builder
// makes them (no Nix needed): each refers to a few earlier ones, and the
// first ones hold incompressible data of the given sizes, so that their
// NARs go up in several parts.
func faultClosure(t testing.TB, seed uint64, n int, bigSizes ...int) []nixpath.PathInfo {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	var paths []nixpath.PathInfo
	for i := range n {
		dir := filepath.Join(t.TempDir(), "out")
		if err := os.MkdirAll(filepath.Join(dir, "lib"), 0o755); err != nil {
			t.Fatal(err)
		}
		data := []byte(fmt.Sprintf("path %d of closure %d\n", i, seed))
		if i < len(bigSizes) {
			data = make([]byte, bigSizes[i])
			for j := 0; j+8 <= len(data); j += 8 {
				v := rng.Uint64()
				for b := range 8 {
					data[j+b] = byte(v >> (8 * b))
				}
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "lib", "data"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		h, size, err := nixpath.HashNAR(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("fault-%d-%d", seed, i)
		p := nixpath.PathInfo{StorePath: nixpath.SourcePath(h, name, nil), NarHash: h, NarSize: size, CA: nixpath.SourceCA(h), Source: dir}
		for j := range i {
			if rng.IntN(3) == 0 {
				p.References = append(p.References, paths[j].StorePath)
			}
		}
		paths = append(paths, p)
	}
	return paths
}

// faultRig is MinIO behind a FaultProxy, and a store that talks to it
// through the proxy with short timeouts.
type faultRig struct {
	m     *testenv.MinIO
	proxy *testenv.FaultProxy
}

func startFaultRig(t *testing.T) *faultRig {
	t.Helper()
	m := testenv.StartMinIO(t, testenv.MinIOOptions{})
	p, err := testenv.StartFaultProxy(m.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p.StallFor = 3 * time.Second
	p.HoldFor = 3 * time.Minute
	t.Cleanup(p.Close)
	return &faultRig{m: m, proxy: p}
}

func (r *faultRig) open(t *testing.T, bucket string, logs *strings.Builder) *store.S3 {
	t.Helper()
	loc, err := store.ParseLocation("s3://" + bucket + "?endpoint=" + r.proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	s, err := store.Open(context.Background(), loc, store.Options{
		Jobs: 2, PartSize: 5 << 20, Credentials: r.m.RootCredentials(),
		Timeouts: store.Timeouts{Answer: 500 * time.Millisecond, Stall: time.Second, Drain: 200 * time.Millisecond, Abort: 5 * time.Second},
		Retry:    retry.Policy{Attempts: 6, Base: 20 * time.Millisecond, Max: 300 * time.Millisecond, MaxRetryAfter: time.Second},
		Logf: func(f string, a ...any) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(logs, f+"\n", a...)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s.(*store.S3)
}

// publishAndVerify is what the pipeline does: publish, then read back.
func publishAndVerify(ctx context.Context, s store.Store, key *signing.Key, paths []nixpath.PathInfo) ([]cache.PathResult, error) {
	res, err := cache.Publish(ctx, cache.Options{Store: s, Key: key, Jobs: 2, Compression: "zstd"}, paths)
	if err != nil {
		return res, err
	}
	return res, cache.Verify(ctx, s, key.PublicKey(), res)
}

// invariants lists what is wrong in the bucket: a narinfo whose NAR is
// missing or of another size, or whose references have no narinfo; an
// unfinished multipart upload.
func invariants(t *testing.T, c *s3.Client, bucket string) (violations, leftovers []string) {
	t.Helper()
	ctx := context.Background()
	objects := map[string]int64{}
	in := &s3.ListObjectsV2Input{Bucket: &bucket}
	for {
		out, err := c.ListObjectsV2(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			objects[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	for k := range objects {
		if !strings.HasSuffix(k, ".narinfo") {
			continue
		}
		got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(got.Body)
		got.Body.Close()
		ni, err := narinfo.Parse(bytes.NewReader(data))
		if err != nil {
			violations = append(violations, fmt.Sprintf("%s does not parse: %v", k, err))
			continue
		}
		if size, ok := objects[ni.URL]; !ok || uint64(size) != ni.FileSize {
			violations = append(violations, fmt.Sprintf("%s: its NAR %s is missing or not %d bytes", k, ni.URL, ni.FileSize))
		}
		for _, ref := range ni.References {
			if _, ok := objects[strings.SplitN(ref, "-", 2)[0]+".narinfo"]; !ok {
				violations = append(violations, fmt.Sprintf("%s: its reference %s has no narinfo", k, ref))
			}
		}
	}
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ups.Uploads {
		leftovers = append(leftovers, "unfinished multipart upload of "+aws.ToString(u.Key))
	}
	return violations, leftovers
}

// narKeys lists the NAR objects in the bucket.
func narKeys(t *testing.T, c *s3.Client, bucket string) map[string]bool {
	t.Helper()
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("nar/")})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, o := range out.Contents {
		if k := aws.ToString(o.Key); strings.HasSuffix(k, ".zst") {
			keys[k] = true
		}
	}
	return keys
}

// TestPublishUnderInjectedFaults puts a fault-injecting proxy between the
// store and real MinIO and publishes a closure through cache.Publish (and
// reads it back with cache.Verify, as the pipeline does) under each fault
// at fixed seeds. After each case: no narinfo is visible without its NAR
// and its references' narinfos, no multipart upload is left open, and a
// re-run without faults completes without uploading a complete NAR again.
// A run may fail only when the case says so, with an error that names the
// object and the cause.
func TestPublishUnderInjectedFaults(t *testing.T) {
	testenv.Slow(t)
	rig := startFaultRig(t)
	c := rig.m.Client()
	key := testenv.SigningKey(t, "fault-test")
	all := []testenv.Fault{testenv.Status500, testenv.SlowDown, testenv.ResetMidBody, testenv.CutResponse, testenv.ResetResponse, testenv.Stall}
	cases := []struct {
		name   string
		policy testenv.Policy
		// fail: the run is expected to fail, with an error holding these.
		fail []string
		held bool
		// example runs the action (publish.Run, its own timeouts and
		// retries) on the example environment, rather than cache.Publish
		// with the rig's short timeouts.
		example bool
	}{
		{name: "mixed seed 1", policy: testenv.RandomFaults(1, 0.15, all)},
		{name: "mixed seed 2", policy: testenv.RandomFaults(2, 0.15, all)},
		{name: "mixed seed 3", policy: testenv.RandomFaults(3, 0.2, all)},
		{name: "mixed seed 4 with held-open", policy: testenv.RandomFaults(4, 0.15, append(all, testenv.HoldOpen)), held: true},
		{name: "cut answer to CreateMultipartUpload", policy: testenv.FirstOf("CreateMultipartUpload", 1, testenv.CutResponse)},
		{name: "cut answer to CompleteMultipartUpload", policy: testenv.FirstOf("CompleteMultipartUpload", 1, testenv.CutResponse)},
		{name: "reset answer to CompleteMultipartUpload", policy: testenv.FirstOf("CompleteMultipartUpload", 2, testenv.ResetResponse)},
		{name: "read-back cut", policy: testenv.FirstOf("GetObject", 3, testenv.CutResponse)},
		{name: "read-back reset", policy: testenv.FirstOf("GetObject", 3, testenv.ResetResponse)},
		{name: "read-back stalled", policy: testenv.FirstOf("GetObject", 2, testenv.Stall)},
		{name: "UploadPart reset mid-body", policy: testenv.FirstOf("UploadPart", 2, testenv.ResetMidBody)},
		{name: "UploadPart held open", policy: testenv.FirstOf("UploadPart", 1, testenv.HoldOpen), held: true},
		{name: "HeadObject held open", policy: testenv.FirstOf("HeadObject", 2, testenv.HoldOpen), held: true},
		{name: "CompleteMultipartUpload held open", policy: testenv.FirstOf("CompleteMultipartUpload", 1, testenv.HoldOpen), held: true},
		{name: "narinfo writes always 500 (NARs left complete)", policy: testenv.OnSuffix("PutObject", ".narinfo", testenv.Status500),
			fail: []string{"upload s3://", ".narinfo", "InternalError", "HTTP 500"}},
		{name: "PutObject always 500", policy: testenv.RandomFaults(5, 1, []testenv.Fault{testenv.Status500}, "PutObject"),
			fail: []string{"upload s3://", "InternalError", "HTTP 500"}},
		{name: "UploadPart always held open", policy: testenv.RandomFaults(6, 1, []testenv.Fault{testenv.HoldOpen}, "UploadPart"), held: true,
			fail: []string{"upload s3://", "part", "no answer", "stalled"}},
		// What a user meets with a server that holds requests open: the
		// whole action, with the timeouts and retries it ships with.
		{name: "example env, action's timeouts, 25% held", policy: testenv.RandomFaults(7, 0.25, []testenv.Fault{testenv.HoldOpen}), held: true, example: true},
	}
	type row struct {
		name                           string
		injected                       int
		completed, clearFail           bool
		violations, leftovers, rerunUp int
		reused                         int
		wall, worstWait                time.Duration
		held                           bool
	}
	var rows []row
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bucket := rig.m.CreateBucket(t)
			var logs strings.Builder
			s := rig.open(t, bucket, &logs)
			paths := faultClosure(t, uint64(100+i), 8, 11<<20, 6<<20)
			limit, run := 60*time.Second, func(ctx context.Context) error {
				_, err := publishAndVerify(ctx, s, key, paths)
				return err
			}
			if tc.example {
				limit, run = 2*time.Minute, exampleRun(t, rig, bucket, &logs)
			}
			before, heldBefore := rig.proxy.Injected(), len(rig.proxy.Holds())
			rig.proxy.SetPolicy(tc.policy)
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			start := time.Now()
			err := run(ctx)
			wall := time.Since(start)
			cancel()
			rig.proxy.SetPolicy(nil)
			r := row{name: tc.name, wall: wall, held: tc.held, completed: err == nil}
			for f, n := range rig.proxy.Injected() {
				r.injected += n - before[f]
			}
			for _, w := range rig.proxy.Holds()[heldBefore:] {
				r.worstWait = max(r.worstWait, w)
			}
			switch {
			case tc.fail == nil && err != nil:
				t.Errorf("publish failed after %s: %v\nstore log:\n%s", wall, err, logs.String())
			case tc.fail != nil && err == nil:
				t.Errorf("publish succeeded, want a failure")
			case tc.fail != nil:
				t.Logf("failed as expected after %s: %v", wall, err)
				r.clearFail = true
				for _, want := range tc.fail {
					if !strings.Contains(err.Error(), want) {
						r.clearFail = false
						t.Errorf("error %q does not contain %q", err, want)
					}
				}
			}
			v, l := invariants(t, c, bucket)
			r.violations, r.leftovers = len(v), len(l)
			for _, x := range append(v, l...) {
				t.Error(x)
			}

			if tc.example {
				// The re-run, without faults, completes.
				if err := run(context.Background()); err != nil {
					t.Fatalf("re-run: %v\nlog:\n%s", err, logs.String())
				}
				rows = append(rows, r)
				return
			}
			// The re-run, without faults, completes and uploads no NAR
			// that was already complete.
			complete := narKeys(t, c, bucket)
			res, err := publishAndVerify(context.Background(), s, key, paths)
			if err != nil {
				t.Fatalf("re-run: %v", err)
			}
			for _, p := range res {
				if p.Status != cache.Uploaded || p.NarInfo == nil {
					continue
				}
				if p.Reused {
					r.reused++
				}
				if complete[p.NarInfo.URL] && !p.Reused {
					r.rerunUp++
					t.Errorf("re-run uploaded %s again, though it was complete", p.NarInfo.URL)
				}
			}
			v, l = invariants(t, c, bucket)
			for _, x := range append(v, l...) {
				t.Errorf("after the re-run: %s", x)
			}
			rows = append(rows, r)
		})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-42s %8s %9s %10s %10s %9s %7s %12s %8s %10s\n", "case", "injected", "completed", "clear-fail", "violations", "leftovers", "reused", "re-uploaded", "wall", "worst-wait")
	var maxHeld, maxWait time.Duration
	tot := row{}
	for _, r := range rows {
		worst := "-"
		if r.worstWait > 0 {
			worst = r.worstWait.Round(10 * time.Millisecond).String()
		}
		fmt.Fprintf(&b, "%-42s %8d %9v %10v %10d %9d %7d %12d %8s %10s\n", r.name, r.injected, r.completed, r.clearFail, r.violations, r.leftovers, r.reused, r.rerunUp, r.wall.Round(10*time.Millisecond), worst)
		tot.injected += r.injected
		tot.violations += r.violations
		tot.leftovers += r.leftovers
		if r.held {
			maxHeld = max(maxHeld, r.wall)
		}
		maxWait = max(maxWait, r.worstWait)
	}
	fmt.Fprintf(&b, "total: %d faults injected in %d runs; %d violations, %d leftovers; longest run with a held-open request %s; longest a held-open request waited %s\n",
		tot.injected, len(rows), tot.violations, tot.leftovers, maxHeld.Round(10*time.Millisecond), maxWait.Round(10*time.Millisecond))
	t.Log("\n" + b.String())
}

// exampleRun returns a run of the whole action, as a tag release in
// Actions runs it with its own timeouts and retries, publishing the
// example environment (examples/hello) to bucket through the rig's proxy.
// Its log goes to logs.
func exampleRun(t *testing.T, rig *faultRig, bucket string, logs *strings.Builder) func(context.Context) error {
	t.Helper()
	r := fixture.NewExampleRepo(t)
	secret, _ := fixture.NewSecretKey(t)
	return func(ctx context.Context) error {
		a := fixture.NewActionsEnv(t, r, "push", "refs/heads/main")
		a["INPUT_STORE-URL"] = "s3://" + bucket + "?endpoint=" + rig.proxy.URL + "&region=us-east-1"
		a["INPUT_SIGNING-KEY"] = secret
		a["INPUT_UPSTREAM-CACHES"] = ""
		a["AWS_ACCESS_KEY_ID"], a["AWS_SECRET_ACCESS_KEY"] = rig.m.RootUser, rig.m.RootPassword
		var out bytes.Buffer
		_, err := publish.Run(ctx, publish.Env{Getenv: a.Getenv, Environ: a.Environ(), Stdout: &out}, nil)
		logs.WriteString(out.String())
		return err
	}
}

// TestCancelAbortsMultipartUploads cancels a publish while its parts are
// stalled and checks that it returns within seconds and leaves no
// multipart upload open: the abort runs on a fresh context.
func TestCancelAbortsMultipartUploads(t *testing.T) {
	rig := startFaultRig(t)
	bucket := rig.m.CreateBucket(t)
	var logs strings.Builder
	s := rig.open(t, bucket, &logs)
	paths := faultClosure(t, 9, 3, 11<<20, 11<<20)
	rig.proxy.SetPolicy(testenv.RandomFaults(9, 1, []testenv.Fault{testenv.HoldOpen}, "UploadPart"))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1500*time.Millisecond, cancel)
	start := time.Now()
	_, err := cache.Publish(ctx, cache.Options{Store: s, Key: testenv.SigningKey(t, "cancel"), Jobs: 2}, paths)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("publish returned %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("publish took %s to return after its context was cancelled", d)
	}
	rig.proxy.SetPolicy(nil)
	_, leftovers := invariants(t, rig.m.Client(), bucket)
	for _, l := range leftovers {
		t.Error(l)
	}
}

// TestConcurrentPublishersUploadSharedPathsOnce runs three publishers at
// once on closures of 60 paths that share 40, against MinIO, and counts
// the NAR objects written: MinIO honours conditional writes, so each of the
// 100 distinct NARs is stored once (whoever comes second reuses it), not
// up to three times.
func TestConcurrentPublishersUploadSharedPathsOnce(t *testing.T) {
	testenv.Slow(t)
	m := testenv.StartMinIO(t, testenv.MinIOOptions{})
	bucket := m.CreateBucket(t)
	key := testenv.SigningKey(t, "concurrent")
	shared := faultClosure(t, 500, 40)
	var closures [3][]nixpath.PathInfo
	for i := range closures {
		own := faultClosure(t, uint64(600+i), 20)
		closures[i] = append(append([]nixpath.PathInfo(nil), shared...), own...)
	}
	loc, _ := store.ParseLocation("s3://" + bucket + "?endpoint=" + m.Endpoint)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		uploads int
		reused  int
	)
	for i := range closures {
		s, err := store.Open(context.Background(), loc, store.Options{Jobs: 4, Credentials: m.RootCredentials()})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := cache.Publish(context.Background(), cache.Options{Store: s, Key: key, Jobs: 4}, closures[i])
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, r := range res {
				switch {
				case r.Status == cache.Uploaded && r.Reused:
					reused++
				case r.Status == cache.Uploaded:
					uploads++
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("3 publishers, 60 paths each, 100 distinct: %d NAR uploads, %d NARs reused", uploads, reused)
	if uploads != 100 {
		t.Errorf("%d NAR uploads for 100 distinct paths, want 100", uploads)
	}
	v, l := invariants(t, m.Client(), bucket)
	for _, x := range append(v, l...) {
		t.Error(x)
	}
}

// TestRerunReusesCompleteNARs: a run killed after its NARs but before
// their narinfos (the narinfos are deleted here) leaves complete NARs; the
// next run writes the narinfos without uploading them again, to file://
// (digest computed from the file) as to S3 (digest kept with the object;
// TestPublishUnderInjectedFaults).
func TestRerunReusesCompleteNARs(t *testing.T) {
	s := fileStore(t)
	key := testenv.SigningKey(t, "rerun")
	paths := faultClosure(t, 77, 5, 1<<20)
	first, err := cache.Publish(context.Background(), cache.Options{Store: s, Key: key, Jobs: 2}, paths)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		os.Remove(filepath.Join(s.Root(), narinfo.Key(p.StorePath)))
	}
	again, err := cache.Publish(context.Background(), cache.Options{Store: s, Key: key, Jobs: 2}, paths)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range again {
		if !r.Reused || r.Status != cache.Uploaded {
			t.Errorf("%s: status %s, reused %v; want its NAR reused", r.StorePath, r.Status, r.Reused)
		}
		if r.NarInfo.String() != first[i].NarInfo.String() {
			t.Errorf("%s: the narinfo differs from the first run's:\n%s\nvs\n%s", r.StorePath, r.NarInfo, first[i].NarInfo)
		}
	}
	if err := cache.Verify(context.Background(), s, key.PublicKey(), again); err != nil {
		t.Error(err)
	}
}

// TestPublishRemovesStaleTemporaryFiles: a publish to file:// starts by
// removing the temporary files killed runs left (older than an hour), and
// leaves a younger one, which may be a concurrent run's.
func TestPublishRemovesStaleTemporaryFiles(t *testing.T) {
	s := fileStore(t)
	os.MkdirAll(filepath.Join(s.Root(), "nar"), 0o755)
	stale := filepath.Join(s.Root(), "nar", ".tmp-x.nar.zst-1")
	young := filepath.Join(s.Root(), "nar", ".tmp-y.nar.zst-2")
	for _, p := range []string{stale, young} {
		os.WriteFile(p, []byte("partial"), 0o644)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stale, old, old)
	var notes []string
	_, err := cache.Publish(context.Background(), cache.Options{Store: s, Key: testenv.SigningKey(t, "stale"), Jobs: 1,
		Logf: func(f string, a ...any) { notes = append(notes, fmt.Sprintf(f, a...)) }}, faultClosure(t, 88, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale temporary file is still there (%v)", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("the young temporary file was removed: %v", err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "removed 1 leftovers") {
		t.Errorf("notes %q, want one saying what was removed", notes)
	}
}
