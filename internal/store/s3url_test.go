package store

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseS3URL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url, defRegion string
		want                 s3Location // compared on the exported fields
		canonical            string     // URL(); "" means the input
	}{
		{name: "bucket only", url: "s3://cache",
			want: s3Location{Bucket: "cache", Region: "us-east-1"}},
		{name: "default region from the aws-region input", url: "s3://cache", defRegion: "eu-west-3",
			want: s3Location{Bucket: "cache", Region: "eu-west-3"}, canonical: "s3://cache?region=eu-west-3"},
		{name: "region in the URL wins", url: "s3://cache?region=ap-south-1", defRegion: "eu-west-3",
			want: s3Location{Bucket: "cache", Region: "ap-south-1"}},
		{name: "prefix", url: "s3://cache/team/nix",
			want: s3Location{Bucket: "cache", Prefix: "team/nix", Region: "us-east-1"}},
		{name: "prefix trailing slash", url: "s3://cache/team/",
			want: s3Location{Bucket: "cache", Prefix: "team", Region: "us-east-1"}, canonical: "s3://cache/team"},
		{name: "endpoint host defaults to https, virtual style", url: "s3://cache?endpoint=minio.example.com:9000",
			want: s3Location{Bucket: "cache", Region: "us-east-1", Endpoint: "https://minio.example.com:9000"}},
		{name: "endpoint host with scheme=http", url: "s3://cache?endpoint=minio.example.com&scheme=http",
			want: s3Location{Bucket: "cache", Region: "us-east-1", Endpoint: "http://minio.example.com"}},
		{name: "endpoint URL", url: "s3://cache?endpoint=https://abc.r2.cloudflarestorage.com",
			want: s3Location{Bucket: "cache", Region: "us-east-1", Endpoint: "https://abc.r2.cloudflarestorage.com"},
		},
		{name: "endpoint URL with the same scheme", url: "s3://cache?endpoint=http://10.0.0.5:9000&scheme=http",
			want: s3Location{Bucket: "cache", Region: "us-east-1", Endpoint: "http://10.0.0.5:9000", PathStyle: true},
		},
		{name: "IP endpoint is path style", url: "s3://cache?endpoint=127.0.0.1:9000&scheme=http",
			want: s3Location{Bucket: "cache", Region: "us-east-1", Endpoint: "http://127.0.0.1:9000", PathStyle: true}},
		{name: "IPv6 endpoint is path style", url: "s3://cache?endpoint=[::1]:9000&scheme=http",
			want:      s3Location{Bucket: "cache", Region: "us-east-1", Endpoint: "http://[::1]:9000", PathStyle: true},
			canonical: "s3://cache?endpoint=%5B::1%5D:9000&scheme=http"},
		{name: "localhost endpoint is path style", url: "s3://cache?endpoint=localhost:9000&scheme=http",
			want: s3Location{Bucket: "cache", Region: "us-east-1", Endpoint: "http://localhost:9000", PathStyle: true}},
		{name: "addressing-style=path", url: "s3://cache?endpoint=minio.example.com&addressing-style=path",
			want: s3Location{Bucket: "cache", Region: "us-east-1", Endpoint: "https://minio.example.com", PathStyle: true}},
		{name: "addressing-style=virtual overrides localhost", url: "s3://cache?endpoint=localhost:9000&addressing-style=virtual",
			want: s3Location{Bucket: "cache", Region: "us-east-1", Endpoint: "https://localhost:9000"}},
		{name: "addressing-style=auto", url: "s3://cache?addressing-style=auto",
			want: s3Location{Bucket: "cache", Region: "us-east-1"}},
		{name: "profile", url: "s3://cache?profile=publisher",
			want: s3Location{Bucket: "cache", Region: "us-east-1", Profile: "publisher"}},
		{name: "everything, in Nix's order", url: "s3://my.cache/p?region=eu-central-1&endpoint=s3.example.com&scheme=https&profile=ci&addressing-style=path",
			want: s3Location{Bucket: "my.cache", Prefix: "p", Region: "eu-central-1", Endpoint: "https://s3.example.com", PathStyle: true, Profile: "ci"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseS3URL(u, tt.defRegion)
			if err != nil {
				t.Fatalf("parseS3URL(%s): %v", tt.url, err)
			}
			g := s3Location{Bucket: got.Bucket, Prefix: got.Prefix, Region: got.Region, Endpoint: got.Endpoint, PathStyle: got.PathStyle, Profile: got.Profile}
			if g != tt.want {
				t.Errorf("parseS3URL(%s) =\n %+v, want\n %+v", tt.url, g, tt.want)
			}
			want := tt.canonical
			if want == "" {
				want = tt.url
			}
			if got.String() != want {
				t.Errorf("String() = %s, want %s", got.String(), want)
			}
		})
	}
}

func TestParseS3URLErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want []string // all in the message
	}{
		{"s3://cache?regoin=us-east-1", []string{`unknown parameter "regoin"`, "region, endpoint, scheme, profile, addressing-style"}},
		// The input to use instead is named at the edge (inputs'
		// TestStoreURLIsCheckedWholeBeforeAnyBuild).
		{"s3://cache?compression=xz", []string{"compression= is a Nix binary-cache setting", "compression setting"}},
		{"s3://cache?secret-key=/tmp/k", []string{"secret-key=", "signing key"}},
		{"s3://cache?write-nar-listing=true", []string{"write-nar-listing="}},
		{"s3://cache?region=us-east-1&region=eu-west-1", []string{"region= is given 2 times"}},
		{"s3://cache?region=", []string{"region= is empty"}},
		{"s3://cache?region=US_EAST", []string{`"US_EAST" is not a region`}},
		{"s3://cache?scheme=ftp&endpoint=x", []string{"scheme=ftp"}},
		{"s3://cache?scheme=http", []string{"scheme=http needs an endpoint="}},
		{"s3://cache?endpoint=ftp://x", []string{"scheme must be http or https"}},
		{"s3://cache?endpoint=https://x/path", []string{"only scheme://host[:port]"}},
		{"s3://cache?endpoint=http://x&scheme=https", []string{"says http but scheme=https"}},
		{"s3://cache?endpoint=a/b", []string{"neither a host[:port] nor an http(s) URL"}},
		{"s3://cache?addressing-style=dns", []string{"addressing-style=dns", "auto, path or virtual"}},
		{"s3://Cache_Bucket!", []string{"is not a bucket name"}},
		{"s3://ab", []string{`"ab" is not a bucket name`}},
		{"s3://-cache", []string{"is not a bucket name"}},
		{"s3:///prefix", []string{"no bucket"}},
		{"s3://cache:9000", []string{"endpoint=HOST:PORT"}},
		{"s3://key:secret@cache", []string{"credentials do not belong in the URL"}},
		{"s3://cache/a//b", []string{"plain folder names"}},
		{"s3://cache/a/../b", []string{"plain folder names"}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatalf("url.Parse(%s): %v", tt.url, err)
			}
			_, err = parseS3URL(u, "")
			if err == nil {
				t.Fatalf("parseS3URL(%s) succeeded", tt.url)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("parseS3URL(%s) = %q, want it to contain %q", tt.url, err, w)
				}
			}
			if strings.Contains(err.Error(), "secret@") {
				t.Errorf("the error shows the URL's password: %v", err)
			}
		})
	}
}

func TestS3Key(t *testing.T) {
	t.Parallel()
	loc := s3Location{Bucket: "b", Prefix: "team/nix"}
	for key, want := range map[string]string{
		"nix-cache-info":     "team/nix/nix-cache-info",
		"nar/abc.nar.zst":    "team/nix/nar/abc.nar.zst",
		"../escape":          "",
		"/abs":               "",
		"nar/../x.narinfo":   "",
		"":                   "",
		"nar//double.nar":    "",
		"abc.narinfo":        "team/nix/abc.narinfo",
		"catalog/index.json": "team/nix/catalog/index.json",
	} {
		got, err := loc.key(key)
		if want == "" {
			if err == nil {
				t.Errorf("key(%q) = %q, want an error", key, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("key(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
}
