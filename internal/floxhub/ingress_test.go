package floxhub

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/testenv"
)

func TestIngressLocation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ingress   string
		want      string
		wantNotes []string
		wantErr   string
	}{
		{ingress: "s3://bucket", want: "s3://bucket"},
		{ingress: "s3://bucket/pfx?region=eu-west-1&endpoint=https://s3.example&want-mass-query=true&compression=xz",
			want: "s3://bucket/pfx?region=eu-west-1&endpoint=https://s3.example",
			wantNotes: []string{"compression= on the catalog's ingress URI is ignored: NARs are compressed as the run's compression setting says (zstd by default, as the Flox CLI uploads)",
				"want-mass-query= on the catalog's ingress URI is ignored: it tells Nix clients how to query the cache, not how to write it"}},
		{ingress: "https://publisher.flox.dev/acme?priority=30", want: "https://publisher.flox.dev/acme",
			wantNotes: []string{"priority= on the catalog's ingress URI is ignored: it orders substituters on Nix clients, not how to write the cache"}},
		{ingress: "https://cache.example?frobnicate=1", want: "https://cache.example",
			wantNotes: []string{"frobnicate= on the catalog's ingress URI is ignored: this action does not know it"}},
		{ingress: "ssh://host", wantErr: `scheme "ssh" is not one this action uploads to`},
		{ingress: "not a url", wantErr: "is not a store URL"},
	}
	for _, tt := range tests {
		got, notes, err := ingressLocation(tt.ingress)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: got %v, want an error with %q", tt.ingress, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.String() != tt.want || !slices.Equal(notes, tt.wantNotes) {
			t.Errorf("%s: got %s %q %v, want %s %q", tt.ingress, got, notes, err, tt.want, tt.wantNotes)
		}
	}
}

// TestTokenOnlyForFloxHubHosts: an https ingress on a host that is not
// FloxHub's gets no token, and the error names the catalog and store type.
func TestTokenOnlyForFloxHubHosts(t *testing.T) {
	t.Parallel()
	cache := testenv.StartHTTPCache(t, testToken)
	s := testenv.StartFloxHubStandIn(t)
	s.AddUser(testToken, "alice")
	s.AddCatalog(testCatalog, map[string]any{"store_type": "nix-copy", "ingress_uri": cache.URL + "/c", "egress_uri": cache.URL + "/c"}, "alice")
	hub, _ := newTestHub(t, s, testToken, t.Logf) // no StoreHosts
	ctx := context.Background()
	plan, err := hub.Prepare(ctx, testTarget())
	if err != nil {
		t.Fatal(err)
	}
	d, err := plan.Destination(store.Location{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, d.Store, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Put(ctx, "nix-cache-info", strings.NewReader("StoreDir: /nix/store\n"), "text/x-nix-cache-info")
	if err == nil || !strings.Contains(err.Error(), "No credentials were sent") {
		t.Errorf("Put: %v", err)
	}
	for _, a := range cache.Authorizations() {
		if a != "" {
			t.Errorf("the token went to %s, not a FloxHub host", cache.Host())
		}
	}
	if err != nil && strings.Contains(err.Error(), testToken) {
		t.Error("the error shows the token")
	}

	auth := hub.storeAuth()
	for raw, want := range map[string]bool{
		"https://publisher.flox.dev/x": true, "https://publisher.flox.dev:443/x": true, "https://PUBLISHER.flox.dev": true,
		"http://publisher.flox.dev/x": false, "https://publisher.flox.dev:8443": false, "https://publisher.flox.dev.evil.example": false,
		"https://localhost": false, "https://evil.example": false, "http://" + cache.Host(): false,
		s.URL() + "/x": true, // catalog-url's host, over its own scheme
	} {
		u, _ := url.Parse(raw)
		if _, _, ok := auth.basicAuth(u); ok != want {
			t.Errorf("token for %s: %v, want %v", raw, ok, want)
		}
	}
	if shown := fmt.Sprintf("%v %+v %#v", auth, *auth, auth); strings.Contains(shown, testToken) {
		t.Error("printing the store authentication shows the token")
	}
}

func TestCatalogRef(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"refs/heads/main": "main", "refs/heads/release/1.x": "release/1.x", "refs/tags/v1.2.3": "v1.2.3",
		"main": "main", "": "", "refs/pull/7/merge": "refs/pull/7/merge",
	} {
		if got := CatalogRef(in); got != want {
			t.Errorf("CatalogRef(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLocalNarInfoJSON(t *testing.T) {
	t.Parallel()
	digest := make([]byte, 32)
	n := narinfo.New(nixpath.PathInfo{StorePath: helloOut, NarHash: digest, NarSize: 288, References: []string{helloDep}, Deriver: "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.2.3.drv"}, narinfo.NAR{})
	n.Signatures = []signature.Signature{{Name: "acme-1", Data: []byte("sig")}}
	j, err := narInfoToJSON(n)
	if err != nil {
		t.Fatal(err)
	}
	if j.NarHash != "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" || j.NarSize != 288 || !slices.Equal(j.References, []string{helloDep}) || j.Deriver == "" || len(j.Signatures) != 1 {
		t.Errorf("narinfo %+v", j)
	}
}
