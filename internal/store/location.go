package store

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Location is where a binary cache lives: a store URL parsed and checked
// once, at the edge (the store-url input, or the ingress URI a catalog
// names), and what it takes to reach it (Access). Open opens it; nothing
// after the edge parses a store URL again. The zero Location is "no
// store".
type Location struct {
	dir    string      // file://: the absolute directory
	s3     *s3Location // s3://
	http   *url.URL    // http(s)://: the base, without query
	access Access
}

// Access is how to reach a store beyond the run's own settings (Options):
// what a catalog's planning adds for a store FloxHub names.
type Access struct {
	// Credentials, with Getenv and Principal, replace the run's for an
	// s3:// store: FloxHub's ingress credentials for Flox's own store,
	// which must not be mixed with the user's AWS settings.
	Credentials aws.CredentialsProvider
	Getenv      func(string) string
	// Principal names who the credentials stand for, in error messages.
	Principal string
	// BasicAuth gives the credentials of an http(s):// store for a
	// request's URL, if any: it is asked for every request and again on a
	// redirect, so credentials only go where (host and scheme) it says.
	BasicAuth func(u *url.URL) (user, password string, ok bool)
}

// With is l reached with a.
func (l Location) With(a Access) Location {
	l.access = a
	return l
}

// Dir is the file:// store in directory dir, for callers that hold a
// directory rather than a URL.
func Dir(dir string) Location { return Location{dir: filepath.Clean(dir)} }

// ParseLocation parses and checks a store URL: file:///absolute/path,
// s3://BUCKET[/PREFIX]?region=…&endpoint=…&scheme=…&profile=…&addressing-style=…,
// or http(s)://HOST[/PATH] (a binary cache that takes uploads by PUT).
// Every part is checked (scheme, bucket, each parameter, region), so a
// store URL that parses here opens. Errors show the URL without
// credentials.
func ParseLocation(raw string) (Location, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Location{}, fmt.Errorf("%s is not a URL; use s3://BUCKET[/PREFIX]?region=… or file:///absolute/path", RedactURL(raw))
	}
	shown := RedactURL(raw)
	switch u.Scheme {
	case "s3":
		loc, err := parseS3URL(u, "")
		if err != nil {
			return Location{}, err
		}
		return Location{s3: &loc}, nil
	case "file":
		switch {
		case u.User != nil || (u.Host != "" && u.Host != "localhost"):
			return Location{}, fmt.Errorf("%s: a file:// URL needs an absolute path (file:///path), not a host %q", shown, u.Host)
		case u.RawQuery != "" || u.Fragment != "":
			return Location{}, fmt.Errorf("%s: file:// stores take no query parameters", shown)
		case u.Opaque != "" || !filepath.IsAbs(u.Path):
			return Location{}, fmt.Errorf("%s: the path must be absolute (file:///path)", shown)
		}
		return Location{dir: filepath.Clean(u.Path)}, nil
	case "http", "https":
		switch {
		case u.Host == "" || u.Opaque != "":
			return Location{}, fmt.Errorf("%s: an %s:// store needs a host", shown, u.Scheme)
		case u.User != nil:
			return Location{}, fmt.Errorf("%s carries credentials in the URL; they are given separately", shown)
		case u.RawQuery != "" || u.Fragment != "":
			return Location{}, fmt.Errorf("%s: %s:// stores take no query parameters", shown, u.Scheme)
		}
		base := *u
		base.Path = strings.TrimSuffix(base.Path, "/")
		base.RawPath = ""
		return Location{http: &base}, nil
	case "":
		return Location{}, fmt.Errorf("%s has no scheme: use file:///absolute/path or s3://BUCKET", shown)
	default:
		return Location{}, fmt.Errorf("%s: scheme %q is not supported: use file:///absolute/path or s3://BUCKET[/PREFIX]?region=…", shown, u.Scheme)
	}
}

// IsZero reports whether l is no store.
func (l Location) IsZero() bool { return l.dir == "" && l.s3 == nil && l.http == nil }

// IsFile reports whether l is a file:// store.
func (l Location) IsFile() bool { return l.dir != "" }

// IsS3 reports whether l is an s3:// store.
func (l Location) IsS3() bool { return l.s3 != nil }

// IsHTTP reports whether l is an http(s):// store.
func (l Location) IsHTTP() bool { return l.http != nil }

// String is the store URL in its canonical form, with the parameters the
// user set: usable as a Nix substituter. It never holds credentials (a URL
// with some does not parse, and Access is never shown).
func (l Location) String() string {
	switch {
	case l.s3 != nil:
		return l.s3.String()
	case l.http != nil:
		return l.http.String()
	case l.dir != "":
		return "file://" + l.dir
	}
	return ""
}

// GoString keeps %#v from printing the credentials of l's Access.
func (l Location) GoString() string { return "store.Location(" + l.String() + ")" }

// Base is the store without how to reach it (no query): scheme, bucket or
// directory, and prefix. It names the store in links and records.
func (l Location) Base() string {
	switch {
	case l.s3 != nil:
		u := url.URL{Scheme: "s3", Host: l.s3.Bucket}
		if l.s3.Prefix != "" {
			u.Path = "/" + l.s3.Prefix
		}
		return u.String()
	case l.http != nil:
		return l.http.String()
	case l.dir != "":
		return "file://" + l.dir
	}
	return ""
}

// Link is the URL of the object at key in the store, such as
// s3://bucket/prefix/catalog/acme/hello.json.
func (l Location) Link(key string) string {
	return strings.TrimSuffix(l.Base(), "/") + "/" + strings.TrimPrefix(key, "/")
}

// Same reports whether l and o are the same store: the same scheme, bucket
// or directory, and prefix. How to reach it (region, endpoint, profile)
// may differ: that depends on where a client runs, not on which store it
// is.
func (l Location) Same(o Location) bool {
	return !l.IsZero() && l.Base() == o.Base()
}

// s3At is the s3:// location, with defaultRegion when the URL names none.
func (l Location) s3At(defaultRegion string) (s3Location, error) {
	loc := *l.s3
	if !loc.regionSet && defaultRegion != "" {
		if !s3Region.MatchString(defaultRegion) {
			return s3Location{}, fmt.Errorf("%s: %q is not a region name such as us-east-1", loc, defaultRegion)
		}
		loc.Region = defaultRegion
	}
	return loc, nil
}

// RedactURL is a URL for messages: without its password and its query,
// where a store URL may carry keys; "(a URL that does not parse)" when it
// does not parse (the parser's error would quote it, password and all).
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a URL that does not parse)"
	}
	u.RawQuery = ""
	u.Fragment = ""
	return u.Redacted()
}
