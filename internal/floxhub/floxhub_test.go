package floxhub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/retry"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// testToken looks like a FloxHub personal access token; tests check that
// it never shows in a message.
const testToken = "flox_pat_c2VjcmV0LXRva2VuLWZvci10ZXN0cy0xMjM0NTY3ODkw"

const (
	testRev     = "0123456789abcdef0123456789abcdef01234567"
	nixpkgsRev  = "99dc8785f6a0adac95f5e2ab05cc2e1bf666d172"
	helloOut    = "/nix/store/mh869f5y41gicsc4l49ghi31c0j0pjsw-hello-1.2.3"
	helloDep    = "/nix/store/0w25jdlc0qnv8mizc64h30pzk9x3qyan-dep-1.0"
	nixCopyIn   = "s3://acme-flox-store?region=eu-west-1"
	nixCopyOut  = "https://cache.acme.example/store"
	testCatalog = "acme"
)

func testTarget() catalog.Target {
	return catalog.Target{
		Catalog: testCatalog,
		Package: "hello",
		System:  "x86_64-linux",
		Source: catalog.Source{
			// actions/checkout can leave a token in the remote URL; it must
			// not reach the catalog.
			URL:      "https://x-access-token:ghs_notforthecatalog@github.com/acme/hello.git",
			Rev:      testRev,
			Ref:      "v1.2.3",
			RevCount: 42,
			RevDate:  time.Date(2026, 4, 1, 12, 30, 0, 0, time.FixedZone("CEST", 2*3600)),
		},
		LockedBaseCatalogURL: "https://github.com/flox/nixpkgs?rev=" + nixpkgsRev,
	}
}

// testBuild's narinfo hashes are the ones Nix 2.8 wrote for a real path,
// with the SRI forms `nix path-info --json` printed for them.
func testBuild(t catalog.Target) catalog.Build {
	return catalog.Build{
		Target:      t,
		Version:     "1.2.3",
		Description: "Says hello",
		License:     []string{"MIT", "Apache-2.0"},
		DrvPath:     "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.2.3.drv",
		Outputs:     []catalog.Output{{Name: "out", StorePath: helloOut}, {Name: "log", StorePath: helloOut + "-log"}},
		NarInfos: []*narinfo.NarInfo{
			{
				StorePath:   helloOut,
				URL:         "nar/0w25jdlc0qnv8mizc64h30pzk9x3qyan3ahjgqq5yp0p1804mw26.nar.xz",
				Compression: "xz",
				FileHash:    mustHash("sha256:0w25jdlc0qnv8mizc64h30pzk9x3qyan3ahjgqq5yp0p1804mw26"),
				FileSize:    168,
				NarHash:     mustHash("sha256:1jpg5v8rcf4d08rlpq51vnd1w800l64h34r0bw4vkb6z3qlk089k"),
				NarSize:     288,
				References:  []string{"mh869f5y41gicsc4l49ghi31c0j0pjsw-hello-1.2.3", "0w25jdlc0qnv8mizc64h30pzk9x3qyan-dep-1.0"},
				Deriver:     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.2.3.drv",
				Signatures:  []signature.Signature{{Name: "acme-1", Data: []byte("signature")}},
				CA:          "fixed:r:sha256:1jpg5v8rcf4d08rlpq51vnd1w800l64h34r0bw4vkb6z3qlk089k",
			},
			{
				StorePath: helloDep,
				NarHash:   mustHash("sha256-MyEwKR7frLkJXyCTAYmhACAemt2h4EszAo04ltEu78o="),
				NarSize:   288,
			},
		},
		RunURL:  "https://github.com/acme/hello/actions/runs/1",
		KeyName: "acme-1",
	}
}

// mustHash reads a hash as a narinfo or `nix path-info --json` writes it.
func mustHash(s string) *nixhash.HashWithEncoding {
	h, err := nixhash.ParseAny(s, nil)
	if err != nil {
		panic(err)
	}
	return h
}

// newTestHub returns a client of s whose retries do not wait; the waits
// they would have made are appended to *waits.
func newTestHub(t *testing.T, s *testenv.FloxHubStandIn, token string, logf func(string, ...any)) (*Client, *[]time.Duration) {
	t.Helper()
	var mu sync.Mutex
	waits := &[]time.Duration{}
	hub, err := New(s.URL()+"/", token, Options{
		Logf:    logf,
		Timeout: 2 * time.Second,
		Retry: retry.Policy{
			Sleep: func(ctx context.Context, d time.Duration) error {
				mu.Lock()
				defer mu.Unlock()
				*waits = append(*waits, d)
				return ctx.Err()
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return hub, waits
}

func TestPublishByStoreType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		store    map[string]any
		ingress  any // publish/info's top-level ingress_uri and ingress_auth
		auth     any
		storeURL string
		// want is the destination, and what the build record says of it.
		want            destView
		wantPrepareErr  error
		wantDestErr     string
		wantNarInfos    bool
		wantCacheURI    any
		wantNarInfosSrc any
	}{
		{
			name:            "nix-copy: the catalog's ingress is the store",
			store:           map[string]any{"store_type": "nix-copy", "ingress_uri": nixCopyIn, "egress_uri": nixCopyOut},
			want:            destView{Store: nixCopyIn, CacheURI: nixCopyIn, SendNarInfos: true, NarInfosSourceURL: nixCopyOut},
			wantNarInfos:    true,
			wantCacheURI:    nixCopyIn,
			wantNarInfosSrc: nixCopyOut,
		},
		{
			name:            "nix-copy: store-url naming the same bucket is used for how to reach it",
			store:           map[string]any{"store_type": "nix-copy", "ingress_uri": nixCopyIn, "egress_uri": nixCopyOut},
			storeURL:        "s3://acme-flox-store/?region=eu-west-1&endpoint=https://s3.internal",
			want:            destView{Store: "s3://acme-flox-store?region=eu-west-1&endpoint=https://s3.internal", CacheURI: nixCopyIn, SendNarInfos: true, NarInfosSourceURL: nixCopyOut},
			wantNarInfos:    true,
			wantCacheURI:    nixCopyIn,
			wantNarInfosSrc: nixCopyOut,
		},
		{
			name:        "nix-copy: store-url naming another store is refused",
			store:       map[string]any{"store_type": "nix-copy", "ingress_uri": nixCopyIn, "egress_uri": nixCopyOut},
			storeURL:    "s3://someone-elses-bucket?region=eu-west-1",
			wantDestErr: "is not the catalog's store s3://acme-flox-store",
		},
		{
			name:            "meta-only without store-url: narinfos only, nothing uploaded",
			store:           map[string]any{"store_type": "meta-only"},
			want:            destView{SendNarInfos: true, NarInfosSourceURL: "daemon://"},
			wantNarInfos:    true,
			wantNarInfosSrc: "daemon://",
		},
		{
			name:            "meta-only with store-url: uploaded to the user's cache",
			store:           map[string]any{"store_type": "meta-only"},
			storeURL:        "file:///srv/cache",
			want:            destView{Store: "file:///srv/cache", SendNarInfos: true, NarInfosSourceURL: "file:///srv/cache"},
			wantNarInfos:    true,
			wantNarInfosSrc: "file:///srv/cache",
		},
		{
			name:  "null: metadata only",
			store: map[string]any{"store_type": "null"},
			want:  destView{},
		},
		{
			name:     "null with store-url: the user's cache still gets the paths",
			store:    map[string]any{"store_type": "null"},
			storeURL: "file:///srv/cache",
			want:     destView{Store: "file:///srv/cache"},
		},
		{
			name:         "publisher: Flox's store, with FloxHub's credentials, no narinfos",
			store:        map[string]any{"store_type": "publisher", "publisher_url": nil},
			ingress:      "s3://flox-publisher-store?region=us-east-1&want-mass-query=true",
			auth:         map[string]any{"aws-s3": map[string]any{"envs": map[string]any{"AWS_ACCESS_KEY_ID": "AKIAFLOX", "AWS_SECRET_ACCESS_KEY": "ingress-secret", "AWS_SESSION_TOKEN": "ingress-session"}}},
			want:         destView{Store: "s3://flox-publisher-store?region=us-east-1", CacheURI: "s3://flox-publisher-store?region=us-east-1&want-mass-query=true", WaitForPublisher: true, Notes: []string{"want-mass-query= on the catalog's ingress URI is ignored: it tells Nix clients how to query the cache, not how to write it"}},
			wantCacheURI: "s3://flox-publisher-store?region=us-east-1&want-mass-query=true",
		},
		{
			name:        "publisher: store-url is refused, naming the catalog and store type",
			store:       map[string]any{"store_type": "publisher", "publisher_url": nil},
			ingress:     "s3://flox-publisher-store",
			storeURL:    "s3://mine",
			wantDestErr: "catalog acme (store type publisher): the store s3://mine cannot be used",
		},
		{
			name:            "nix-copy over https: no store parameter is passed on, each noted",
			store:           map[string]any{"store_type": "nix-copy", "ingress_uri": "https://publisher.flox.dev/acme?priority=30&want-mass-query=true", "egress_uri": nixCopyOut},
			want:            destView{Store: "https://publisher.flox.dev/acme", CacheURI: "https://publisher.flox.dev/acme?priority=30&want-mass-query=true", SendNarInfos: true, NarInfosSourceURL: nixCopyOut, Notes: []string{"priority= on the catalog's ingress URI is ignored: it orders substituters on Nix clients, not how to write the cache", "want-mass-query= on the catalog's ingress URI is ignored: it tells Nix clients how to query the cache, not how to write it"}},
			wantNarInfos:    true,
			wantCacheURI:    "https://publisher.flox.dev/acme?priority=30&want-mass-query=true",
			wantNarInfosSrc: nixCopyOut,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := testenv.StartFloxHubStandIn(t)
			s.AddUser(testToken, "alice")
			c := s.AddCatalog(testCatalog, tt.store, "alice")
			c.IngressURI, c.IngressAuth = tt.ingress, tt.auth
			hub, _ := newTestHub(t, s, testToken, t.Logf)
			ctx := context.Background()

			plan, err := hub.Prepare(ctx, testTarget())
			if !errors.Is(err, tt.wantPrepareErr) {
				t.Fatalf("Prepare: got %v, want %v", err, tt.wantPrepareErr)
			}
			wantCalls := []string{"create acme/hello", "check-build acme/hello", "publish/info acme/hello"}
			if err != nil {
				if got := s.Calls(); !slices.Equal(got, wantCalls) {
					t.Errorf("calls %q, want %q", got, wantCalls)
				}
				return
			}
			if plan.AlreadyPublished || plan.CheckErr != nil {
				t.Fatalf("plan %+v: a first publish is neither published nor unchecked", plan)
			}
			d, err := plan.Destination(location(t, tt.storeURL))
			if tt.wantDestErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantDestErr) {
					t.Fatalf("Destination: got %v, want an error with %q", err, tt.wantDestErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Type != catalog.StoreType(tt.store["store_type"].(string)) || d.Catalog != testCatalog {
				t.Errorf("Destination names catalog %q, store type %q", d.Catalog, d.Type)
			}
			if got := exportedDestination(d); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Destination:\n got %+v\nwant %+v", got, tt.want)
			}
			if d.Type == catalog.StorePublisher && len(d.Secrets()) != 3 {
				t.Errorf("secrets to mask: %d, want the key id, the secret key and the session token", len(d.Secrets()))
			}
			b := testBuild(testTarget())
			if !d.SendNarInfos {
				b.NarInfos = nil // what the pipeline gathers for no one
			}
			if err := hub.Record(ctx, d, b); err != nil {
				t.Fatal(err)
			}
			if got, want := s.Calls(), append(wantCalls, "builds acme/hello"); !slices.Equal(got, want) {
				t.Errorf("calls %q, want %q", got, want)
			}
			builds := s.Builds()
			if len(builds) != 1 {
				t.Fatalf("%d builds recorded, want 1", len(builds))
			}
			body := plain(t, builds[0].Body)
			if _, got := body["narinfos"]; got != tt.wantNarInfos {
				t.Errorf("narinfos sent: %v, want %v", got, tt.wantNarInfos)
			}
			if got := body["cache_uri"]; got != tt.wantCacheURI {
				t.Errorf("cache_uri %v, want %v", got, tt.wantCacheURI)
			}
			if got := body["narinfos_source_url"]; got != tt.wantNarInfosSrc {
				t.Errorf("narinfos_source_url %v, want %v", got, tt.wantNarInfosSrc)
			}
		})
	}
}

// destView is a Destination as the tests compare it: its store as a URL,
// without what reaching it takes and without its names, which the tests
// check apart.
type destView struct {
	Store             string
	CacheURI          string
	SendNarInfos      bool
	NarInfosSourceURL string
	Notes             []string
	WaitForPublisher  bool
}

func exportedDestination(d catalog.Destination) destView {
	return destView{Store: d.Store.String(), CacheURI: d.CacheURI, SendNarInfos: d.SendNarInfos, NarInfosSourceURL: d.NarInfosSourceURL, Notes: d.Notes, WaitForPublisher: d.WaitForPublisher}
}

// location parses a store URL as the store-url input does; "" is none.
func location(t *testing.T, raw string) store.Location {
	t.Helper()
	if raw == "" {
		return store.Location{}
	}
	l, err := store.ParseLocation(raw)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestRecordBody checks every field of the build record against what the
// Flox CLI sends for a manifest build.
func TestRecordBody(t *testing.T) {
	t.Parallel()
	s := testenv.StartFloxHubStandIn(t)
	s.AddUser(testToken, "alice")
	s.AddCatalog(testCatalog, map[string]any{"store_type": "nix-copy", "ingress_uri": nixCopyIn, "egress_uri": nixCopyOut}, "alice")
	hub, _ := newTestHub(t, s, testToken, t.Logf)
	ctx := context.Background()
	plan, err := hub.Prepare(ctx, testTarget())
	if err != nil {
		t.Fatal(err)
	}
	d, err := plan.Destination(store.Location{})
	if err != nil {
		t.Fatal(err)
	}
	if err := hub.Record(ctx, d, testBuild(testTarget())); err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal([]byte(`{
		"url": "https://github.com/acme/hello.git",
		"rev": "`+testRev+`",
		"rev_count": 42,
		"rev_date": "2026-04-01T10:30:00Z",
		"ref": "v1.2.3",
		"locked_base_catalog_url": "https://github.com/flox/nixpkgs?rev=`+nixpkgsRev+`",
		"cache_uri": "`+nixCopyIn+`",
		"dot_flox_dir": ".flox",
		"build_type": "manifest",
		"locked_inputs": {},
		"narinfos_source_url": "`+nixCopyOut+`",
		"derivation": {
			"drv_path": "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.2.3.drv",
			"system": "x86_64-linux",
			"name": "hello-1.2.3",
			"pname": "hello",
			"version": "1.2.3",
			"description": "Says hello",
			"license": "[ MIT, Apache-2.0 ]",
			"outputs": [
				{"name": "out", "store_path": "`+helloOut+`"},
				{"name": "log", "store_path": "`+helloOut+`-log"}
			],
			"outputs_to_install": ["out"]
		},
		"narinfos": {
			"`+helloOut+`": {
				"narHash": "sha256-MyEwKR7frLkJXyCTAYmhACAemt2h4EszAo04ltEu78o=",
				"narSize": 288,
				"references": ["`+helloDep+`", "`+helloOut+`"],
				"deriver": "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.2.3.drv",
				"signatures": ["acme-1:c2lnbmF0dXJl"],
				"ca": "fixed:r:sha256:1jpg5v8rcf4d08rlpq51vnd1w800l64h34r0bw4vkb6z3qlk089k",
				"url": "nar/0w25jdlc0qnv8mizc64h30pzk9x3qyan3ahjgqq5yp0p1804mw26.nar.xz",
				"compression": "xz",
				"downloadHash": "sha256-RvBKAAoXXF8wfhKqYZXHo6f5LxiQGPZjRdtiwGiTRXA=",
				"downloadSize": 168
			},
			"`+helloDep+`": {
				"narHash": "sha256-MyEwKR7frLkJXyCTAYmhACAemt2h4EszAo04ltEu78o=",
				"narSize": 288,
				"references": []
			}
		}
	}`), &want); err != nil {
		t.Fatal(err)
	}
	got := plain(t, s.Builds()[0].Body)
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("build record:\n%s\nwant:\n%s", g, w)
	}
}

// plain turns a body decoded with json.Numbers into one decoded plainly.
func plain(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAlreadyPublished(t *testing.T) {
	t.Parallel()
	s := testenv.StartFloxHubStandIn(t)
	s.AddUser(testToken, "alice")
	s.AddCatalog(testCatalog, map[string]any{"store_type": "null"}, "alice")
	hub, _ := newTestHub(t, s, testToken, t.Logf)
	ctx := context.Background()
	plan, err := hub.Prepare(ctx, testTarget())
	if err != nil {
		t.Fatal(err)
	}
	d, _ := plan.Destination(store.Location{})
	if err := hub.Record(ctx, d, testBuild(testTarget())); err != nil {
		t.Fatal(err)
	}

	// A re-run of the same release.
	plan, err = hub.Prepare(ctx, testTarget())
	if err != nil {
		t.Fatal(err)
	}
	want := catalog.Published{
		SourceRev:     testRev,
		SourceRevDate: time.Date(2026, 4, 1, 10, 30, 0, 0, time.UTC),
		PublishedAt:   time.Date(2026, 5, 1, 12, 0, 0, 123456000, time.UTC),
	}
	if !plan.AlreadyPublished || !plan.Published.SourceRevDate.Equal(want.SourceRevDate) || !plan.Published.PublishedAt.Equal(want.PublishedAt) || plan.Published.SourceRev != want.SourceRev {
		t.Errorf("re-run plan %+v, want already published as %+v", plan, want)
	}
	if got, want := plan.Published.String(), "already published on 2026-05-01 12:00 UTC from source revision "+testRev; got != want {
		t.Errorf("Published.String() = %q, want %q", got, want)
	}
	if _, err := plan.Destination(store.Location{}); err == nil {
		t.Error("Destination of an already published build: want an error")
	}
	// The same revision for another system is a new build.
	other := testTarget()
	other.System = "aarch64-linux"
	if plan, err := hub.Prepare(ctx, other); err != nil || plan.AlreadyPublished {
		t.Errorf("another system: plan %+v, %v; want a new build", plan, err)
	}
	// A re-run that records anyway is answered 200 and recorded once.
	if err := hub.Record(ctx, d, testBuild(testTarget())); err != nil {
		t.Errorf("recording a recorded build: %v", err)
	}
	if n := len(s.Builds()); n != 1 {
		t.Errorf("%d builds recorded, want 1", n)
	}
}

func TestFloxHubErrors(t *testing.T) {
	t.Parallel()
	nixCopy := map[string]any{"store_type": "nix-copy", "ingress_uri": nixCopyIn, "egress_uri": nixCopyOut}
	tests := []struct {
		name    string
		setup   func(s *testenv.FloxHubStandIn)
		token   string
		catalog string
		record  bool // go on to Record
		// wantStatus is the APIError's status; 0 for success.
		wantStatus int
		wantIn     []string
		wantCalls  int
	}{
		{
			name:       "401: a token FloxHub does not know",
			setup:      func(s *testenv.FloxHubStandIn) { s.AddCatalog(testCatalog, nixCopy, "alice") },
			token:      "flox_pat_expired",
			wantStatus: http.StatusUnauthorized,
			// Where the token goes is said at the edge (publish's
			// TestErrorsArePhrasedForWhereTheRunIs).
			wantIn:    []string{"create package hello in catalog acme", "invalid or expired", "flox auth token"},
			wantCalls: 1,
		},
		{
			name:       "403: a catalog the token may not write",
			setup:      func(s *testenv.FloxHubStandIn) { s.AddCatalog(testCatalog, nixCopy, "bob") },
			wantStatus: http.StatusForbidden,
			wantIn:     []string{"not permitted to write to catalog acme", "You are not permitted to write to this catalog."},
			wantCalls:  1,
		},
		{
			name:       "404: no such catalog",
			setup:      func(s *testenv.FloxHubStandIn) {},
			wantStatus: http.StatusNotFound,
			wantIn:     []string{"no catalog acme", "Catalog not found"},
			wantCalls:  1,
		},
		{
			name:      "the user's own catalog is created with the package",
			setup:     func(s *testenv.FloxHubStandIn) { s.UserStore = map[string]any{"store_type": "meta-only"} },
			catalog:   "alice",
			wantCalls: 3,
		},
		{
			name: "409 on create means the package exists",
			setup: func(s *testenv.FloxHubStandIn) {
				c := s.AddCatalog(testCatalog, nixCopy, "alice")
				c.AddPackage("hello")
				c.ConflictOnCreate = true
			},
			wantCalls: 3,
		},
		{
			name:       "422: a catalog without a store",
			setup:      func(s *testenv.FloxHubStandIn) { s.AddCatalog(testCatalog, nil, "alice") },
			wantStatus: http.StatusUnprocessableEntity,
			wantIn:     []string{"No catalog store is configured", "configure one for catalog acme in FloxHub"},
			wantCalls:  3,
		},
		{
			name: "422 with FastAPI's validation detail",
			setup: func(s *testenv.FloxHubStandIn) {
				s.AddCatalog(testCatalog, nixCopy, "alice")
				s.Fault(testenv.FloxHubFault{Step: "builds", Status: 422, Body: `{"detail":[{"loc":["body","rev_count"],"msg":"Input should be a valid integer","type":"int_parsing"}]}`})
			},
			record:     true,
			wantStatus: http.StatusUnprocessableEntity,
			wantIn:     []string{"record the build of acme/hello", "body.rev_count: Input should be a valid integer"},
			wantCalls:  4,
		},
		{
			name: "400 from builds",
			setup: func(s *testenv.FloxHubStandIn) {
				s.AddCatalog(testCatalog, nixCopy, "alice")
				s.Fault(testenv.FloxHubFault{Step: "builds", Status: 400, Body: `{"detail":"The build cannot be published as requested"}`})
			},
			record:     true,
			wantStatus: http.StatusBadRequest,
			wantIn:     []string{"400 Bad Request", "The build cannot be published as requested"},
			wantCalls:  4,
		},
		{
			name: "403 from check-build stops the publish",
			setup: func(s *testenv.FloxHubStandIn) {
				s.AddCatalog(testCatalog, nixCopy, "alice")
				s.Fault(testenv.FloxHubFault{Step: "check-build", Status: 403, Body: `{"detail":"You are not permitted to write to this catalog."}`})
			},
			wantStatus: http.StatusForbidden,
			wantCalls:  2,
		},
		{
			name: "another check-build failure does not",
			setup: func(s *testenv.FloxHubStandIn) {
				s.AddCatalog(testCatalog, nixCopy, "alice")
				s.Fault(testenv.FloxHubFault{Step: "check-build", Status: 404, Body: `{"detail":"Catalog or package not found"}`})
			},
			record:    true,
			wantCalls: 4,
		},
		{
			name: "an answer that is not the API's JSON",
			setup: func(s *testenv.FloxHubStandIn) {
				s.AddCatalog(testCatalog, nixCopy, "alice")
				s.Fault(testenv.FloxHubFault{Step: "publish/info", Status: 200, Body: `<html>proxy login</html>`})
			},
			wantIn:    []string{"not the JSON the API describes"},
			wantCalls: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := testenv.StartFloxHubStandIn(t)
			s.AddUser(testToken, "alice")
			tt.setup(s)
			token := tt.token
			if token == "" {
				token = testToken
			}
			hub, _ := newTestHub(t, s, token, t.Logf)
			target := testTarget()
			if tt.catalog != "" {
				target.Catalog = tt.catalog
			}
			ctx := context.Background()
			plan, err := hub.Prepare(ctx, target)
			if err == nil && tt.record {
				var d catalog.Destination
				if d, err = plan.Destination(store.Location{}); err == nil {
					err = hub.Record(ctx, d, testBuild(target))
				}
			}
			var apiErr *APIError
			switch {
			case tt.wantStatus == 0 && len(tt.wantIn) == 0:
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
			case tt.wantStatus == 0:
				if err == nil || errors.As(err, &apiErr) {
					t.Fatalf("got %v, want an error that is not an APIError", err)
				}
			case !errors.As(err, &apiErr) || apiErr.Status != tt.wantStatus:
				t.Fatalf("got %v, want an APIError with status %d", err, tt.wantStatus)
			}
			for _, w := range tt.wantIn {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if n := len(s.Calls()); n != tt.wantCalls {
				t.Errorf("%d calls (%q), want %d", n, s.Calls(), tt.wantCalls)
			}
		})
	}
}

func TestCheckFailureIsAWarning(t *testing.T) {
	t.Parallel()
	s := testenv.StartFloxHubStandIn(t)
	s.AddUser(testToken, "alice")
	s.AddCatalog(testCatalog, map[string]any{"store_type": "null"}, "alice")
	s.Fault(testenv.FloxHubFault{Step: "check-build", Status: 404, Body: `{"detail":"Catalog or package not found"}`})
	hub, _ := newTestHub(t, s, testToken, t.Logf)
	plan, err := hub.Prepare(context.Background(), testTarget())
	if err != nil {
		t.Fatal(err)
	}
	if plan.CheckErr == nil || !strings.Contains(plan.CheckErr.Error(), "Catalog or package not found") || plan.Store.Type != catalog.StoreNull {
		t.Errorf("plan %+v: want the check's failure kept and the store type read", plan)
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	nixCopy := map[string]any{"store_type": "nix-copy", "ingress_uri": nixCopyIn, "egress_uri": nixCopyOut}
	tests := []struct {
		name      string
		faults    []testenv.FloxHubFault
		wantErr   string
		wantCalls int // calls of the create step
		// wantWaitAtLeast is the least the longest wait may be.
		wantWaitAtLeast time.Duration
		wantWaits       int
		// retryAfterDate, when set, makes the first fault's Retry-After
		// that far from when the subtest starts, as a date (parallel
		// subtests wait their turn: a date fixed with the table would be
		// near when this one runs).
		retryAfterDate time.Duration
	}{
		{
			name:      "5xx then success",
			faults:    []testenv.FloxHubFault{{Step: "create", Status: 503, Body: "upstream unavailable"}, {Step: "create", Status: 502}},
			wantCalls: 3, wantWaits: 2,
		},
		{
			name:      "429 honours Retry-After in seconds",
			faults:    []testenv.FloxHubFault{{Step: "create", Status: 429, RetryAfter: "7", Body: `{"detail":"slow down"}`}},
			wantCalls: 2, wantWaits: 1, wantWaitAtLeast: 7 * time.Second,
		},
		{
			name:      "429 honours Retry-After as a date",
			faults:    []testenv.FloxHubFault{{Step: "create", Status: 429}},
			wantCalls: 2, wantWaits: 1, wantWaitAtLeast: 80 * time.Second, retryAfterDate: 90 * time.Second,
		},
		{
			name:      "408 is retried",
			faults:    []testenv.FloxHubFault{{Step: "create", Status: 408}},
			wantCalls: 2, wantWaits: 1,
		},
		{
			name:      "a connection reset is retried",
			faults:    []testenv.FloxHubFault{{Step: "create", Reset: true}},
			wantCalls: 2, wantWaits: 1,
		},
		{
			name:      "a timeout is retried",
			faults:    []testenv.FloxHubFault{{Step: "create", Delay: 5 * time.Second, Status: 200}},
			wantCalls: 2, wantWaits: 1,
		},
		{
			name:      "another 4xx is not",
			faults:    []testenv.FloxHubFault{{Step: "create", Status: 400, Body: `{"detail":"bad"}`}},
			wantErr:   "400 Bad Request: bad",
			wantCalls: 1,
		},
		{
			name: "5 tries in all",
			faults: []testenv.FloxHubFault{
				{Step: "create", Status: 500}, {Step: "create", Status: 500}, {Step: "create", Status: 500},
				{Step: "create", Status: 500}, {Step: "create", Status: 500}, {Step: "create", Status: 500},
			},
			wantErr:   "500 Internal Server Error (after 5 tries)",
			wantCalls: 5, wantWaits: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := testenv.StartFloxHubStandIn(t)
			s.AddUser(testToken, "alice")
			s.AddCatalog(testCatalog, nixCopy, "alice")
			for i, f := range tt.faults {
				if i == 0 && tt.retryAfterDate > 0 {
					f.RetryAfter = time.Now().Add(tt.retryAfterDate).UTC().Format(http.TimeFormat)
				}
				s.Fault(f)
			}
			var logged []string
			var mu sync.Mutex
			hub, waits := newTestHub(t, s, testToken, func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				logged = append(logged, fmt.Sprintf(format, args...))
			})
			hub.timeout = 200 * time.Millisecond
			_, err := hub.Prepare(context.Background(), testTarget())
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Prepare: got %v, want an error with %q", err, tt.wantErr)
			}
			creates := 0
			for _, c := range s.Calls() {
				if strings.HasPrefix(c, "create ") {
					creates++
				}
			}
			if creates != tt.wantCalls {
				t.Errorf("%d create calls, want %d", creates, tt.wantCalls)
			}
			if len(*waits) != tt.wantWaits || len(logged) != tt.wantWaits {
				t.Errorf("%d waits and %d log lines (%q), want %d", len(*waits), len(logged), logged, tt.wantWaits)
			}
			if tt.wantWaitAtLeast > 0 && slices.Max(*waits) < tt.wantWaitAtLeast {
				t.Errorf("waits %v, want one of at least %s", *waits, tt.wantWaitAtLeast)
			}
		})
	}
}

func TestRetryStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	s := testenv.StartFloxHubStandIn(t)
	s.AddUser(testToken, "alice")
	s.AddCatalog(testCatalog, map[string]any{"store_type": "null"}, "alice")
	s.Fault(testenv.FloxHubFault{Step: "create", Status: 503})
	hub, err := New(s.URL(), testToken, Options{Retry: retry.Policy{Base: time.Hour, Max: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = hub.Prepare(ctx, testTarget())
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Errorf("got %v after %s, want the context's end, promptly", err, time.Since(start))
	}
}

// TestValidationBeforeCalls checks that names and values the API would
// refuse are refused before anything is sent.
func TestValidationBeforeCalls(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(t *catalog.Target)
		wantIn string
	}{
		{"catalog too short", func(t *catalog.Target) { t.Catalog = "ab" }, `"ab" is not a catalog name`},
		{"catalog with a dot", func(t *catalog.Target) { t.Catalog = "acme.org" }, "not a catalog name"},
		{"catalog too long", func(t *catalog.Target) { t.Catalog = strings.Repeat("a", 64) }, "not a catalog name"},
		{"package with a slash", func(t *catalog.Target) { t.Package = "a/b" }, `"a/b" is not a package name`},
		{"package empty", func(t *catalog.Target) { t.Package = "" }, "not a package name"},
		{"package ..", func(t *catalog.Target) { t.Package = ".." }, `".." cannot name a package`},
		{"package too long", func(t *catalog.Target) { t.Package = strings.Repeat("p", 129) }, "not a package name"},
		{"system unknown", func(t *catalog.Target) { t.System = "riscv64-linux" }, `"riscv64-linux" is not a system`},
		{"abbreviated rev", func(t *catalog.Target) { t.Source.Rev = "0123456" }, "not a full git commit hash"},
		{"no remote", func(t *catalog.Target) { t.Source.URL = "" }, "no git remote URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := testenv.StartFloxHubStandIn(t)
			s.AddUser(testToken, "alice")
			hub, _ := newTestHub(t, s, testToken, t.Logf)
			target := testTarget()
			tt.change(&target)
			_, err := hub.Prepare(context.Background(), target)
			if err == nil || !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("Prepare: got %v, want an error with %q", err, tt.wantIn)
			}
			err = hub.Record(context.Background(), catalog.Destination{}, testBuild(target))
			if err == nil || !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("Record: got %v, want an error with %q", err, tt.wantIn)
			}
			if calls := s.Calls(); len(calls) > 0 {
				t.Errorf("calls were made: %q", calls)
			}
		})
	}
}

func TestRecordValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(b *catalog.Build)
		wantIn string
	}{
		{"no outputs", func(b *catalog.Build) { b.Outputs = nil }, "at least one output"},
		{"output outside the store", func(b *catalog.Build) { b.Outputs[0].StorePath = "/tmp/out" }, `"/tmp/out" is not a store path`},
		{"no rev date", func(b *catalog.Build) { b.Source.RevDate = time.Time{} }, "date is missing"},
		{"shallow clone", func(b *catalog.Build) { b.Source.RevCount = 0 }, "full history"},
		{"no nar hash", func(b *catalog.Build) { b.NarInfos[0].NarHash = nil }, "NarHash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := testenv.StartFloxHubStandIn(t)
			s.AddUser(testToken, "alice")
			hub, _ := newTestHub(t, s, testToken, t.Logf)
			b := testBuild(testTarget())
			tt.change(&b)
			err := hub.Record(context.Background(), catalog.Destination{SendNarInfos: true}, b)
			if err == nil || !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("Record: got %v, want an error with %q", err, tt.wantIn)
			}
			if calls := s.Calls(); len(calls) > 0 {
				t.Errorf("calls were made: %q", calls)
			}
		})
	}
}

// TestTokenNeverShown drives every failure with a token the server even
// echoes back, and checks that no error, log line or formatting of the
// client contains it.
func TestTokenNeverShown(t *testing.T) {
	t.Parallel()
	echo := `{"detail":"token ` + testToken + ` is not valid here"}`
	faults := []testenv.FloxHubFault{
		{Step: "create", Status: 401, Body: echo},
		{Step: "create", Status: 403, Body: echo},
		{Step: "create", Status: 404, Body: echo},
		{Step: "create", Status: 422, Body: `{"detail":[{"loc":["header","authorization"],"msg":"bearer ` + testToken + `"}]}`},
		{Step: "create", Status: 400, Body: "plain text " + testToken},
		{Step: "create", Status: 503, Body: echo},
		{Step: "create", Status: 200, Body: echo},
		{Step: "create", Reset: true},
	}
	var shown []string
	var mu sync.Mutex
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		shown = append(shown, fmt.Sprintf(format, args...))
	}
	for _, f := range faults {
		s := testenv.StartFloxHubStandIn(t)
		s.AddUser(testToken, "alice")
		s.AddCatalog(testCatalog, nil, "alice")
		s.Fault(f)
		hub, _ := newTestHub(t, s, testToken, logf)
		hub.retry.Attempts = 2
		_, err := hub.Prepare(context.Background(), testTarget())
		if err != nil {
			shown = append(shown, err.Error())
		}
		shown = append(shown, fmt.Sprintf("%v %+v %#v %s %q", hub, hub, hub, hub, hub), fmt.Sprintf("%v %+v %#v", *hub, *hub, *hub))
		data, _ := json.Marshal(hub)
		shown = append(shown, string(data))
	}
	// A malformed token is refused without being quoted.
	for _, bad := range []string{"flox_pat_abc\nInjected: header", "flox pat with spaces"} {
		_, err := New("https://api.flox.dev", bad, Options{})
		if err == nil {
			t.Errorf("token %q accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "flox_pat_abc") || strings.Contains(err.Error(), "with spaces") {
			t.Errorf("the error quotes the token: %v", err)
		}
	}
	if len(shown) < len(faults) {
		t.Fatalf("only %d messages to check", len(shown))
	}
	for _, m := range shown {
		if strings.Contains(m, testToken) {
			t.Errorf("the token shows in %q", m)
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		baseURL, token string
		wantIn         string
	}{
		{"https://api.flox.dev", testToken, ""},
		{"http://localhost:8080/prefix/", testToken, ""},
		{"ftp://api.flox.dev", testToken, "not an http(s) URL"},
		{"api.flox.dev", testToken, "not an http(s) URL"},
		{"https://user:hunter2@api.flox.dev", testToken, "carries credentials"},
		{"https://api.flox.dev?x=1", testToken, "no query"},
		{"https://api.flox.dev", "  ", "the FloxHub token is empty"},
	}
	for _, tt := range tests {
		_, err := New(tt.baseURL, tt.token, Options{})
		var baseURL *BaseURLError
		switch {
		case tt.wantIn != "" && !errors.As(err, &baseURL) && !errors.Is(err, ErrNoToken):
			t.Errorf("New(%q, %q): %v is not one of the errors the edge phrases", tt.baseURL, tt.token, err)
		case tt.wantIn == "" && err != nil:
			t.Errorf("New(%q): %v", tt.baseURL, err)
		case tt.wantIn != "" && (err == nil || !strings.Contains(err.Error(), tt.wantIn)):
			t.Errorf("New(%q): got %v, want an error with %q", tt.baseURL, err, tt.wantIn)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("New(%q): the error shows the password: %v", tt.baseURL, err)
		}
	}
}

func TestPublicSourceURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want, wantErr string
	}{
		{"https://github.com/acme/hello.git", "https://github.com/acme/hello.git", ""},
		{"https://x-access-token:ghs_secret@github.com/acme/hello", "https://github.com/acme/hello", ""},
		{"https://user@example.com/r.git", "https://example.com/r.git", ""},
		{"ssh://git:pw@github.com/acme/hello.git", "ssh://git@github.com/acme/hello.git", ""},
		{"git+ssh://git@github.com/acme/hello.git", "git+ssh://git@github.com/acme/hello.git", ""},
		{"git@github.com:acme/hello.git", "ssh://git@github.com/acme/hello.git", ""},
		{"github.com:acme/hello.git", "ssh://github.com/acme/hello.git", ""},
		{"/srv/git/hello.git", "file:///srv/git/hello.git", ""},
		{"file:///srv/git/hello.git", "file:///srv/git/hello.git", ""},
		{"user:secret@host:path", "", "password"},
		{"", "", "no git remote"},
		{"https:///nohost", "", "no host"},
		{"relative/path", "", "neither a URL"},
	}
	for _, tt := range tests {
		got, err := catalog.PublicSourceURL(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("PublicSourceURL(%q): got %q, %v; want an error with %q", tt.in, got, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("PublicSourceURL(%q): the error shows the password: %v", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("PublicSourceURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
