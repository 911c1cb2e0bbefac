package store

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Location is where a binary cache lives: a store URL parsed and checked
// once, at the edge (the store-url input, or the store a catalog names).
// The zero Location is "no store".
type Location struct {
	dir string      // file://: the absolute directory
	s3  *s3Location // s3://
}

// ParseLocation parses and checks a store URL: file:///absolute/path or
// s3://BUCKET[/PREFIX]?region=…&endpoint=…&scheme=…&profile=…&addressing-style=….
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
	case "":
		return Location{}, fmt.Errorf("%s has no scheme: use file:///absolute/path or s3://BUCKET", shown)
	default:
		return Location{}, fmt.Errorf("%s: scheme %q is not supported: use file:///absolute/path or s3://BUCKET[/PREFIX]?region=…", shown, u.Scheme)
	}
}

// IsZero reports whether l is no store.
func (l Location) IsZero() bool { return l.dir == "" && l.s3 == nil }

// IsFile reports whether l is a file:// store.
func (l Location) IsFile() bool { return l.dir != "" }

// IsS3 reports whether l is an s3:// store.
func (l Location) IsS3() bool { return l.s3 != nil }

// String is the store URL in its canonical form, with the parameters the
// user set: usable as a Nix substituter. It never holds credentials (a URL
// with some does not parse).
func (l Location) String() string {
	switch {
	case l.s3 != nil:
		return l.s3.String()
	case l.dir != "":
		return "file://" + l.dir
	}
	return ""
}

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
