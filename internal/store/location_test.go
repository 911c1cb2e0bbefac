package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestLocation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw, str, base, link string
	}{
		{"s3://cache", "s3://cache", "s3://cache", "s3://cache/catalog/acme/hello.json"},
		{"s3://cache/team/nix/?region=eu-west-1&endpoint=localhost:9000", "s3://cache/team/nix?region=eu-west-1&endpoint=localhost:9000", "s3://cache/team/nix", "s3://cache/team/nix/catalog/acme/hello.json"},
		{"file:///srv/cache/", "file:///srv/cache", "file:///srv/cache", "file:///srv/cache/catalog/acme/hello.json"},
		{"file://localhost/srv/cache", "file:///srv/cache", "file:///srv/cache", "file:///srv/cache/catalog/acme/hello.json"},
	}
	for _, tt := range tests {
		l, err := ParseLocation(tt.raw)
		if err != nil {
			t.Fatalf("%s: %v", tt.raw, err)
		}
		if l.String() != tt.str || l.Base() != tt.base || l.Link("catalog/acme/hello.json") != tt.link {
			t.Errorf("%s: String %q, Base %q, Link %q; want %q, %q, %q", tt.raw, l.String(), l.Base(), l.Link("catalog/acme/hello.json"), tt.str, tt.base, tt.link)
		}
	}
}

func TestLocationRefusals(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"s3://t1?unknown=1":          "not a bucket name",
		"s3://cache?unknown=1":       `unknown parameter "unknown"`,
		"s3:///nobucket":             "no bucket",
		"file://relative":            "not a host",
		"file:relative":              "must be absolute",
		"file:///srv?x=1":            "no query",
		"gs://bucket":                `scheme "gs" is not supported`,
		"/srv/cache":                 "no scheme",
		"s3://cache?access-key=SEKR": `unknown parameter "access-key"`,
	} {
		_, err := ParseLocation(raw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", raw, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "SEKR") {
			t.Errorf("%s: the error shows a query value: %v", raw, err)
		}
	}
}

func TestLocationSame(t *testing.T) {
	t.Parallel()
	parse := func(s string) Location {
		l, err := ParseLocation(s)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a := parse("s3://cache/nix?region=eu-west-1")
	for other, same := range map[string]bool{
		"s3://cache/nix/?endpoint=https://s3.internal": true,
		"s3://cache/nix":     true,
		"s3://cache":         false,
		"s3://cache/other":   false,
		"s3://elsewhere/nix": false,
		"file:///cache/nix":  false,
	} {
		if got := a.Same(parse(other)); got != same {
			t.Errorf("Same(%s) = %v, want %v", other, got, same)
		}
	}
	if (Location{}).Same(Location{}) {
		t.Error("no store is the same as no store")
	}
	// What a catalog's ingress and a store-url are compared by.
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"s3://bucket", "s3://bucket?region=us-east-1", true},
		{"s3://bucket/", "s3://bucket", true},
		{"s3://bucket/prefix/", "s3://bucket/prefix?endpoint=https://minio:9000", true},
		{"S3://bucket", "s3://bucket", true},
		{"s3://bucket/a", "s3://bucket/b", false},
		{"s3://bucket", "s3://other", false},
		{"file:///srv/cache", "file:///srv/cache/", true},
		{"file:///srv/cache", "s3://srv/cache", false},
		{"https://cache.example/nix", "https://cache.example/nix/", true},
		{"https://cache.example/nix", "http://cache.example/nix", false},
	} {
		if got := parse(tt.a).Same(parse(tt.b)); got != tt.want {
			t.Errorf("Same(%q, %q) = %v; want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestOpenAppliesTheDefaultRegion(t *testing.T) {
	t.Parallel()
	l, _ := ParseLocation("s3://cache")
	s, err := Open(context.Background(), l, Options{Region: "eu-north-1", Credentials: noCreds{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.(*S3).loc.Region; got != "eu-north-1" {
		t.Errorf("region %s, want the default eu-north-1", got)
	}
	l, _ = ParseLocation("s3://cache?region=ap-south-1")
	s, _ = Open(context.Background(), l, Options{Region: "eu-north-1", Credentials: noCreds{}})
	if got := s.(*S3).loc.Region; got != "ap-south-1" {
		t.Errorf("region %s, want the URL's ap-south-1", got)
	}
}

func TestNoCredentialsIsItsOwnError(t *testing.T) {
	t.Parallel()
	l, _ := ParseLocation("s3://cache/nix?region=eu-west-1")
	env := map[string]string{"HOME": t.TempDir()}
	_, err := EnvironmentCredentials(context.Background(), l, func(k string) string { return env[k] })
	var nc *NoCredentialsError
	// Where credentials come from is said at the edge, for where the run
	// is (publish's TestErrorsArePhrasedForWhereTheRunIs).
	if !errors.As(err, &nc) || nc.Store != "s3://cache/nix" || !strings.Contains(err.Error(), "no AWS credentials found for s3://cache/nix") {
		t.Fatalf("err = %v", err)
	}
	env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = "AKIAEXAMPLE", "secret"
	p, err := EnvironmentCredentials(context.Background(), l, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c, err := p.Retrieve(context.Background()); err != nil || c.AccessKeyID != "AKIAEXAMPLE" {
		t.Errorf("static keys: %v %v", c.AccessKeyID, err)
	}
}

// noCreds is a credentials provider that is never asked: Open
// sends no request.
type noCreds struct{}

func (noCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{}, errors.New("not asked")
}
