package floxhub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// The request sequences the Flox CLI makes (cli/flox/src/commands/publish.rs
// and flox-rust-sdk's providers/publish.rs): create and check-build before
// the build; publish/info after it; the upload; builds; and, for a
// publisher store only, store/status until FloxHub knows every output.
var (
	cliSequence          = []string{"create acme/hello", "check-build acme/hello", "publish/info acme/hello", "builds acme/hello"}
	cliAlreadyPublished  = []string{"create acme/hello", "check-build acme/hello"}
	cliPublisherSequence = append(slices.Clone(cliSequence), "store/status")
)

// replayRun is one publish as the pipeline makes it, step by step in the
// CLI's order, against the stand-in. upload writes the closure's narinfos
// to the destination's store, as the cache package would.
func replayRun(t *testing.T, hub *Client, storeURL string, opts store.Options, wait Wait) (catalog.Destination, store.Store, error) {
	t.Helper()
	ctx := context.Background()
	target := testTarget()
	target.Source.Ref = "refs/heads/main" // as verify gives it; Flox sends "main"
	plan, err := hub.Check(ctx, target)
	if err != nil || plan.AlreadyPublished {
		return catalog.Destination{}, nil, err
	}
	// (the build runs here)
	if plan.Store, err = hub.PublishInfo(ctx, target); err != nil {
		return catalog.Destination{}, nil, err
	}
	d, err := plan.Destination(location(t, storeURL))
	if err != nil {
		return catalog.Destination{}, nil, err
	}
	b := testBuild(target)
	b.Outputs[1].StorePath = helloLog // a hash of its own, as real outputs have
	var st store.Store
	if !d.Store.IsZero() {
		if st, err = store.Open(ctx, d.Store, opts); err != nil {
			return d, nil, err
		}
	}
	if st != nil {
		for _, n := range closureNarInfos() {
			text := fmt.Sprintf("StorePath: %s\nURL: nar/x.nar\nCompression: none\nNarHash: sha256:1jpg5v8rcf4d08rlpq51vnd1w800l64h34r0bw4vkb6z3qlk089k\nNarSize: 288\nReferences: %s\n",
				n.StorePath, strings.Join(baseNames(n.References), " "))
			if _, err := st.Put(ctx, nixpath.HashPart(n.StorePath)+".narinfo", strings.NewReader(text), "text/x-nix-narinfo"); err != nil {
				return d, st, err
			}
		}
	}
	switch {
	case !d.SendNarInfos:
		b.NarInfos = nil
	case st != nil:
		var paths []string
		for _, n := range closureNarInfos() {
			paths = append(paths, n.StorePath)
		}
		if b.NarInfos, err = cache.ReadNarInfos(ctx, st, paths); err != nil {
			return d, st, err
		}
	default:
		b.NarInfos = closureNarInfos()
	}
	if err := hub.Record(ctx, d, b); err != nil {
		return d, st, err
	}
	if d.WaitForPublisher {
		var outs []string
		for _, o := range b.Outputs {
			outs = append(outs, o.StorePath)
		}
		return d, st, hub.WaitPublished(ctx, b.Catalog, outs, wait)
	}
	return d, st, nil
}

const helloLog = "/nix/store/1w25jdlc0qnv8mizc64h30pzk9x3qyan-hello-1.2.3-log"

// closureNarInfos is the whole closure of testBuild's outputs.
func closureNarInfos() []*narinfo.NarInfo {
	h := "sha256:1jpg5v8rcf4d08rlpq51vnd1w800l64h34r0bw4vkb6z3qlk089k"
	return []*narinfo.NarInfo{
		{StorePath: helloOut, NarHash: mustHash(h), NarSize: 288, References: baseNames([]string{helloDep, helloOut})},
		{StorePath: helloLog, NarHash: mustHash(h), NarSize: 288},
		{StorePath: helloDep, NarHash: mustHash(h), NarSize: 288},
	}
}

func baseNames(paths []string) []string {
	var out []string
	for _, p := range paths {
		out = append(out, strings.TrimPrefix(p, nixpath.StoreDir+"/"))
	}
	return out
}

// TestReplayCLISequences replays, against the stand-in and real stores,
// the requests the Flox CLI makes for a nix-copy catalog (s3:// on MinIO,
// and https:// on an HTTP binary cache), a publisher catalog (MinIO, with
// the credentials FloxHub hands out) and a meta-only catalog, then a
// re-run of each, which stops after check-build.
func TestReplayCLISequences(t *testing.T) {
	t.Parallel()
	m := testenv.StartMinIO(t, testenv.MinIOOptions{})
	runCreds := store.Options{Credentials: m.RootCredentials(), Getenv: func(string) string { return "" }}
	// The run's own credentials, which must not be what a publisher
	// upload uses.
	wrongCreds := store.Options{Credentials: awscreds.NewStaticCredentialsProvider("not-the-ingress-key", "not-the-ingress-secret", ""), Getenv: func(string) string { return "" }}

	httpCache := testenv.StartHTTPCache(t, testToken)

	tests := []struct {
		name     string
		setup    func(t *testing.T, s *testenv.FloxHubStandIn, bucket string) (storeURL string, opts store.Options)
		want     []string
		stored   func(t *testing.T, bucket string)
		checkDst func(t *testing.T, d catalog.Destination)
	}{
		{
			name: "nix-copy to s3",
			setup: func(t *testing.T, s *testenv.FloxHubStandIn, bucket string) (string, store.Options) {
				in := fmt.Sprintf("s3://%s?endpoint=%s&want-mass-query=true", bucket, m.Endpoint)
				s.AddCatalog(testCatalog, map[string]any{"store_type": "nix-copy", "ingress_uri": in, "egress_uri": "https://cache.acme.example"}, "alice")
				return "", runCreds
			},
			want: cliSequence,
			checkDst: func(t *testing.T, d catalog.Destination) {
				if len(d.Notes) != 1 || !strings.Contains(d.Notes[0], "want-mass-query=") {
					t.Errorf("notes %q, want one on want-mass-query", d.Notes)
				}
			},
		},
		{
			name: "nix-copy to https, authenticated with the FloxHub token",
			setup: func(t *testing.T, s *testenv.FloxHubStandIn, _ string) (string, store.Options) {
				s.AddCatalog(testCatalog, map[string]any{"store_type": "nix-copy", "ingress_uri": httpCache.URL + "/cache?priority=30", "egress_uri": httpCache.URL + "/cache"}, "alice")
				return "", wrongCreds
			},
			want: cliSequence,
		},
		{
			name: "publisher",
			setup: func(t *testing.T, s *testenv.FloxHubStandIn, bucket string) (string, store.Options) {
				c := s.AddCatalog(testCatalog, map[string]any{"store_type": "publisher", "publisher_url": nil}, "alice")
				c.IngressURI = fmt.Sprintf("s3://%s/ingest?endpoint=%s", bucket, m.Endpoint)
				c.IngressAuth = map[string]any{"aws-s3": map[string]any{"envs": map[string]any{
					"AWS_ACCESS_KEY_ID": m.RootUser, "AWS_SECRET_ACCESS_KEY": m.RootPassword, "AWS_SESSION_TOKEN": "",
				}}, "future-kind": map[string]any{}}
				s.IngestPolls = 2
				s.Ingested = func(p string) bool {
					_, err := m.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("ingest/" + nixpath.HashPart(p) + ".narinfo")})
					return err == nil
				}
				return "", wrongCreds
			},
			want: append(slices.Clone(cliPublisherSequence), "store/status", "store/status"),
			checkDst: func(t *testing.T, d catalog.Destination) {
				if !d.WaitForPublisher || d.SendNarInfos {
					t.Errorf("publisher destination %+v", exportedDestination(d))
				}
			},
		},
		{
			name: "meta-only",
			setup: func(t *testing.T, s *testenv.FloxHubStandIn, _ string) (string, store.Options) {
				s.AddCatalog(testCatalog, map[string]any{"store_type": "meta-only"}, "alice")
				return "", wrongCreds
			},
			want: cliSequence,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testenv.StartFloxHubStandIn(t)
			s.StrictClosure = true
			s.AddUser(testToken, "alice")
			bucket := m.CreateBucket(t)
			storeURL, opts := tt.setup(t, s, bucket)
			hub, err := New(s.URL(), testToken, Options{StoreHosts: []string{httpCache.Host()}})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var progress []string
			wait := Wait{Interval: 10 * time.Millisecond, Timeout: 10 * time.Second, Progress: func(known, total int, _ time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				progress = append(progress, fmt.Sprintf("%d/%d", known, total))
			}}
			d, _, err := replayRun(t, hub, storeURL, opts, wait)
			if err != nil {
				t.Fatal(err)
			}
			if tt.checkDst != nil {
				tt.checkDst(t, d)
			}
			if got := s.Calls(); !slices.Equal(got, tt.want) {
				t.Errorf("requests\n%q\nwant (as the Flox CLI)\n%q", got, tt.want)
			}
			if d.WaitForPublisher && strings.Join(progress, " ") != "0/2 0/2 2/2" {
				t.Errorf("progress %q", progress)
			}
			if len(s.Builds()) != 1 {
				t.Fatalf("%d builds recorded", len(s.Builds()))
			}
			if ref := s.Builds()[0].Body["ref"]; ref != "main" {
				t.Errorf("ref %v, want main as the Flox CLI sends it", ref)
			}

			// A re-run stops after check-build: nothing is built or sent again.
			before := len(s.Calls())
			if _, _, err := replayRun(t, hub, storeURL, opts, wait); err != nil {
				t.Fatal(err)
			}
			if got := s.Calls()[before:]; !slices.Equal(got, cliAlreadyPublished) {
				t.Errorf("re-run requests %q, want %q", got, cliAlreadyPublished)
			}
		})
	}
}

// TestWaitPublishedTimesOut: a publisher that never confirms ends the wait
// at the timeout, with what to do.
func TestWaitPublishedTimesOut(t *testing.T) {
	t.Parallel()
	s := testenv.StartFloxHubStandIn(t)
	s.AddUser(testToken, "alice")
	hub, _ := newTestHub(t, s, testToken, t.Logf)
	start := time.Now()
	err := hub.WaitPublished(context.Background(), "acme", []string{helloOut}, Wait{Interval: 20 * time.Millisecond, Timeout: 200 * time.Millisecond})
	// How to wait longer is said at the edge, for where the run is
	// (publish's TestErrorsArePhrasedForWhereTheRunIs).
	var timeout *PublisherTimeoutError
	if !errors.As(err, &timeout) || !errors.Is(err, ErrPublisherTimeout) || timeout.Total != 1 || !strings.Contains(err.Error(), "catalog acme (store type publisher)") {
		t.Errorf("WaitPublished: %v", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("the wait lasted %s past a 200ms timeout", waited)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := hub.WaitPublished(ctx, "acme", []string{helloOut}, Wait{}); err == nil || errors.Is(err, ErrPublisherTimeout) {
		t.Errorf("WaitPublished when cancelled: %v", err)
	}
}
