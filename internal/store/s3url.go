package store

import (
	"cmp"
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// s3Location is an s3:// store URL, parsed the way Nix reads it:
// s3://BUCKET[/PREFIX]?region=…&endpoint=…&scheme=…&profile=…&addressing-style=…
type s3Location struct {
	Bucket string
	// Prefix is the folder inside the bucket holding the cache, without
	// slashes at either end; "" for the bucket's root.
	Prefix string
	Region string
	// Endpoint is the endpoint's URL (scheme://host[:port]); "" for AWS.
	Endpoint string
	// PathStyle puts the bucket in the URL path instead of the host name.
	PathStyle bool
	Profile   string

	// What the user wrote, for URL().
	regionSet bool
	scheme    string
	endpoint  string
	style     string
}

// s3Params are the query parameters an s3:// store URL accepts.
var s3Params = []string{"region", "endpoint", "scheme", "profile", "addressing-style"}

// S3Params are the query parameters an s3:// store URL accepts, for what
// turns another party's store URL into one of this package's.
func S3Params() []string { return slices.Clone(s3Params) }

// nixCacheParams are Nix's binary-cache settings that Nix accepts in a store
// URL but that this action takes elsewhere: silently ignoring them would
// publish something other than what the user asked for. The first four
// are the run's own settings (inputs, which the edge names: see
// NixSettingError).
var nixCacheParams = map[string]string{
	"compression":          "the run's compression setting says how NARs are compressed",
	"compression-level":    "the run's compression level setting sets it",
	"secret-key":           "the run's signing key signs the store paths",
	"secret-keys":          "the run's signing key signs the store paths",
	"parallel-compression": "the action always compresses in parallel",
	"write-nar-listing":    "the action does not write NAR listings",
	"multipart-upload":     "the action always uploads large NARs in parts",
	"narinfo-compression":  "narinfos are stored uncompressed",
	"ls-compression":       "the action does not write NAR listings",
	"log-compression":      "the action does not upload build logs",
	"buffer-size":          "the action sizes its upload parts itself",
}

// NixSettingError is a store URL carrying one of Nix's binary-cache
// settings, which this action takes elsewhere.
type NixSettingError struct {
	URL   string // redacted
	Param string
	Why   string
	// Fix names, in the words of where the run is, the input to use
	// instead; the edge sets it.
	Fix string
}

func (e *NixSettingError) Error() string {
	return fmt.Sprintf("%s: %s= is a Nix binary-cache setting, not an S3 one: %s", e.URL, e.Param, cmp.Or(e.Fix, e.Why))
}

var (
	bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$`)
	s3Region = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)
)

// parseS3URL reads u, an s3:// store URL. defaultRegion applies when the URL
// names no region (the aws-region input); "" means us-east-1.
func parseS3URL(u *url.URL, defaultRegion string) (s3Location, error) {
	// The query is left out: an unknown parameter may be a key.
	shown := RedactURL(u.String())
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s: %s", shown, fmt.Sprintf(format, a...))
	}
	if u.Scheme != "s3" {
		return s3Location{}, bad("not an s3:// URL")
	}
	if u.User != nil {
		return s3Location{}, bad("credentials do not belong in the URL: they come from an assumed role, the AWS environment variables or a profile")
	}
	if u.Opaque != "" || u.Host == "" {
		return s3Location{}, bad("no bucket: write s3://BUCKET[/PREFIX]")
	}
	if u.Port() != "" {
		return s3Location{}, bad("a bucket has no port: give the server as endpoint=HOST:PORT")
	}
	loc := s3Location{Bucket: u.Host}
	if !bucketRe.MatchString(loc.Bucket) || strings.Contains(loc.Bucket, "..") {
		return s3Location{}, bad("%q is not a bucket name (3 to 63 lower-case letters, digits, dots and hyphens)", loc.Bucket)
	}
	if u.Fragment != "" {
		return s3Location{}, bad("unexpected #%s", u.Fragment)
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		for _, seg := range strings.Split(p, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return s3Location{}, bad("the prefix %q must be plain folder names separated by single slashes", u.Path)
			}
		}
		loc.Prefix = path.Clean(p)
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return s3Location{}, bad("the query does not parse: %v", err)
	}
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if why, ok := nixCacheParams[k]; ok {
			return s3Location{}, &NixSettingError{URL: shown, Param: k, Why: why}
		}
		if !slices.Contains(s3Params, k) {
			return s3Location{}, bad("unknown parameter %q; the known ones are %s", k, strings.Join(s3Params, ", "))
		}
		if len(q[k]) > 1 {
			return s3Location{}, bad("%s= is given %d times", k, len(q[k]))
		}
		if q.Get(k) == "" {
			return s3Location{}, bad("%s= is empty", k)
		}
	}

	loc.Region = q.Get("region")
	loc.regionSet = loc.Region != ""
	if loc.Region == "" {
		loc.Region = defaultRegion
	}
	if loc.Region == "" {
		loc.Region = "us-east-1"
	}
	if !s3Region.MatchString(loc.Region) {
		return s3Location{}, bad("%q is not a region name such as us-east-1", loc.Region)
	}

	loc.Profile = q.Get("profile")

	loc.scheme = q.Get("scheme")
	switch loc.scheme {
	case "", "http", "https":
	default:
		return s3Location{}, bad("scheme=%s: use http or https", loc.scheme)
	}

	loc.endpoint = q.Get("endpoint")
	var host string
	if loc.endpoint != "" {
		ep, h, err := endpointURL(loc.endpoint, loc.scheme)
		if err != nil {
			return s3Location{}, bad("%v", err)
		}
		loc.Endpoint, host = ep, h
	} else if loc.scheme == "http" {
		return s3Location{}, bad("scheme=http needs an endpoint=: AWS is only reached over https")
	}

	loc.style = q.Get("addressing-style")
	switch loc.style {
	case "", "auto":
		// Virtual-host style needs BUCKET.HOST to resolve, which an IP
		// address or localhost never does.
		loc.PathStyle = host != "" && (net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost"))
	case "path":
		loc.PathStyle = true
	case "virtual":
	default:
		return s3Location{}, bad("addressing-style=%s: use auto, path or virtual", loc.style)
	}
	return loc, nil
}

// endpointURL turns endpoint=, a host[:port] or an http(s) URL, into a URL.
// It returns the URL and the host name.
func endpointURL(endpoint, scheme string) (string, string, error) {
	if strings.Contains(endpoint, "://") {
		e, err := url.Parse(endpoint)
		if err != nil {
			return "", "", fmt.Errorf("endpoint=%s is not a URL: %v", endpoint, err)
		}
		if e.Scheme != "http" && e.Scheme != "https" {
			return "", "", fmt.Errorf("endpoint=%s: the scheme must be http or https", endpoint)
		}
		if e.Host == "" || e.User != nil || (e.Path != "" && e.Path != "/") || e.RawQuery != "" || e.Fragment != "" {
			return "", "", fmt.Errorf("endpoint=%s: give only scheme://host[:port]", endpoint)
		}
		if scheme != "" && scheme != e.Scheme {
			return "", "", fmt.Errorf("endpoint=%s says %s but scheme=%s", endpoint, e.Scheme, scheme)
		}
		return e.Scheme + "://" + e.Host, e.Hostname(), nil
	}
	if scheme == "" {
		scheme = "https"
	}
	e, err := url.Parse(scheme + "://" + endpoint)
	if err != nil || e.Host != endpoint || e.Hostname() == "" {
		return "", "", fmt.Errorf("endpoint=%s is neither a host[:port] nor an http(s) URL", endpoint)
	}
	return e.Scheme + "://" + e.Host, e.Hostname(), nil
}

// String is the location as a store URL, with what the user set.
func (l s3Location) String() string {
	u := url.URL{Scheme: "s3", Host: l.Bucket}
	if l.Prefix != "" {
		u.Path = "/" + l.Prefix
	}
	// Keep Nix's parameter order and spelling so the URL can be pasted
	// back into a Nix configuration.
	var q []string
	add := func(k, v string) {
		if v != "" {
			// ':' and '/' are legal in a query: keep endpoints readable.
			e := strings.NewReplacer("%3A", ":", "%2F", "/").Replace(url.QueryEscape(v))
			q = append(q, k+"="+e)
		}
	}
	if l.regionSet || l.Region != "us-east-1" {
		add("region", l.Region)
	}
	add("endpoint", l.endpoint)
	add("scheme", l.scheme)
	add("profile", l.Profile)
	add("addressing-style", l.style)
	u.RawQuery = strings.Join(q, "&")
	return u.String()
}

// key is where the object key lives in the bucket.
func (l s3Location) key(key string) (string, error) {
	clean := path.Clean("/" + key)[1:]
	if clean == "" || clean != key || strings.HasPrefix(key, "../") {
		return "", fmt.Errorf("invalid object key %q", key)
	}
	if l.Prefix == "" {
		return key, nil
	}
	return l.Prefix + "/" + key, nil
}
