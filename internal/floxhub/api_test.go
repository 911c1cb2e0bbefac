package floxhub

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/store"
)

func TestStoreConfig(t *testing.T) {
	t.Parallel()
	str := func(s string) *string { return &s }
	tests := []struct {
		name    string
		info    publishInfoResponse
		want    catalog.StoreConfig
		wantErr string
		wantIs  error
	}{
		{
			name: "nix-copy",
			info: publishInfoResponse{CatalogStoreConfig: &catalogStoreConfig{StoreType: "nix-copy", IngressURI: nixCopyIn, EgressURI: nixCopyOut}},
			want: catalog.StoreConfig{Type: catalog.StoreNixCopy, Catalog: "acme", IngressURI: nixCopyIn, EgressURI: nixCopyOut},
		},
		{
			name:    "nix-copy without egress",
			info:    publishInfoResponse{CatalogStoreConfig: &catalogStoreConfig{StoreType: "nix-copy", IngressURI: nixCopyIn}},
			wantErr: "no ingress_uri or egress_uri",
		},
		{
			name: "meta-only",
			info: publishInfoResponse{CatalogStoreConfig: &catalogStoreConfig{StoreType: "meta-only"}},
			want: catalog.StoreConfig{Type: catalog.StoreMetaOnly, Catalog: "acme"},
		},
		{
			name: "null",
			info: publishInfoResponse{CatalogStoreConfig: &catalogStoreConfig{StoreType: "null"}},
			want: catalog.StoreConfig{Type: catalog.StoreNull, Catalog: "acme"},
		},
		{
			name: "publisher without credentials (a public store)",
			info: publishInfoResponse{IngressURI: str("https://publisher.flox.dev"), CatalogStoreConfig: &catalogStoreConfig{StoreType: "publisher"}},
			want: catalog.StoreConfig{Type: catalog.StorePublisher, Catalog: "acme", IngressURI: "https://publisher.flox.dev"},
		},
		{
			name:    "publisher without ingress_uri",
			info:    publishInfoResponse{CatalogStoreConfig: &catalogStoreConfig{StoreType: "publisher"}},
			wantErr: "catalog acme (store type publisher): FloxHub's answer has no ingress_uri",
		},
		{
			name: "publisher with credentials of an unknown kind",
			info: publishInfoResponse{IngressURI: str("s3://flox-store"), IngressAuth: map[string]json.RawMessage{"gcs": json.RawMessage(`{}`)},
				CatalogStoreConfig: &catalogStoreConfig{StoreType: "publisher"}},
			wantErr: "no aws-s3 credentials (it has gcs)",
		},
		{
			name:    "a store type from the future",
			info:    publishInfoResponse{CatalogStoreConfig: &catalogStoreConfig{StoreType: "quantum"}},
			wantErr: `store type "quantum"`,
		},
		{
			name:    "no store config",
			info:    publishInfoResponse{},
			wantErr: "no catalog_store_config",
		},
	}
	for _, tt := range tests {
		got, err := storeConfig("acme", tt.info)
		switch {
		case tt.wantIs != nil:
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("%s: got %v, want %v", tt.name, err, tt.wantIs)
			}
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: got %v, want an error with %q", tt.name, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.name, err)
		default:
			// The ingress is read where the answer is (see ingressLocation).
			if got.IngressURI != "" && got.Ingress.String() != tt.want.IngressURI {
				t.Errorf("%s: ingress read as %s, want %s", tt.name, got.Ingress, tt.want.IngressURI)
			}
			got.Ingress, got.Notes = store.Location{}, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s: got %+v; want %+v", tt.name, got, tt.want)
			}
		}
	}
}

func TestDerivationFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		build       catalog.Build
		wantName    string
		wantInstall []string
		wantLicense string
	}{
		{
			name:        "manifest build with an out output",
			build:       catalog.Build{Target: catalog.Target{Package: "hello"}, Version: "1.0", License: []string{"MIT"}, Outputs: []catalog.Output{{Name: "log"}, {Name: "out"}}},
			wantName:    "hello-1.0",
			wantInstall: []string{"out"},
			wantLicense: "[ MIT ]",
		},
		{
			name:        "no out output, no version, no license",
			build:       catalog.Build{Target: catalog.Target{Package: "tool"}, Outputs: []catalog.Output{{Name: "bin"}, {Name: "man"}}},
			wantName:    "tool",
			wantInstall: []string{"bin", "man"},
		},
		{
			name:        "outputs to install given",
			build:       catalog.Build{Target: catalog.Target{Package: "tool"}, Version: "2", OutputsToInstall: []string{"man"}, Outputs: []catalog.Output{{Name: "out"}, {Name: "man"}}},
			wantName:    "tool-2",
			wantInstall: []string{"man"},
		},
	}
	for _, tt := range tests {
		if got := derivationName(tt.build); got != tt.wantName {
			t.Errorf("%s: name %q, want %q", tt.name, got, tt.wantName)
		}
		if got := outputsToInstall(tt.build); !slices.Equal(got, tt.wantInstall) {
			t.Errorf("%s: outputs to install %q, want %q", tt.name, got, tt.wantInstall)
		}
		if got := catalogLicense(tt.build.License); got != tt.wantLicense {
			t.Errorf("%s: license %q, want %q", tt.name, got, tt.wantLicense)
		}
	}
}

func TestNixpkgsRev(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://github.com/flox/nixpkgs?rev=" + nixpkgsRev: nixpkgsRev,
		"https://github.com/flox/nixpkgs":                   "",
		"":                                                  "",
		"%zz":                                               "",
	} {
		if got := baseNixpkgsRev(catalog.Target{LockedBaseCatalogURL: in}); got != want {
			t.Errorf("baseNixpkgsRev(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNarInfoHashesInSRIForm(t *testing.T) {
	t.Parallel()
	// Nix 2.8 printed these for one path: the .narinfo form and the
	// `nix path-info --json` form.
	tests := []struct{ in, want string }{
		{"sha256:1jpg5v8rcf4d08rlpq51vnd1w800l64h34r0bw4vkb6z3qlk089k", "sha256-MyEwKR7frLkJXyCTAYmhACAemt2h4EszAo04ltEu78o="},
		{"sha256:0w25jdlc0qnv8mizc64h30pzk9x3qyan3ahjgqq5yp0p1804mw26", "sha256-RvBKAAoXXF8wfhKqYZXHo6f5LxiQGPZjRdtiwGiTRXA="},
		{"sha256-MyEwKR7frLkJXyCTAYmhACAemt2h4EszAo04ltEu78o=", "sha256-MyEwKR7frLkJXyCTAYmhACAemt2h4EszAo04ltEu78o="},
		{"sha256:332130291edfacb9095f20930189a100201e9adda1e04b33028d3896d12eefca", "sha256-MyEwKR7frLkJXyCTAYmhACAemt2h4EszAo04ltEu78o="},
	}
	for _, tt := range tests {
		j, err := narInfoToJSON(&narinfo.NarInfo{StorePath: helloOut, NarHash: mustHash(tt.in), FileHash: mustHash(tt.in)})
		if err != nil || j.NarHash != tt.want || j.DownloadHash != tt.want {
			t.Errorf("%s: narHash %q, downloadHash %q, %v; want %q", tt.in, j.NarHash, j.DownloadHash, err, tt.want)
		}
	}
	if j, err := narInfoToJSON(&narinfo.NarInfo{StorePath: helloOut}); err == nil {
		t.Errorf("a narinfo without a NAR hash was written: %+v", j)
	}
	if _, err := nixhash.ParseAny("md5:abc", nil); err == nil {
		t.Error("a bad hash was accepted")
	}
}
