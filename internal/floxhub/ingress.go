package floxhub

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/flox-publish/publish-action/internal/store"
)

// floxHubStoreHosts are the hosts the Flox CLI sends the FloxHub token to
// when it copies to or from a catalog store (FLOXHUB_AUTHENTICATED_HOSTNAMES
// in flox's nix_auth.rs, less "localhost"). The catalog-url input's host is
// added: the token goes there anyway. No other host ever gets the token,
// whatever URL FloxHub or a redirect names.
var floxHubStoreHosts = []string{
	"publisher.flox.dev",
	"publisher.preview.flox.dev",
	"api.preview2.flox.dev",
	"experimental-warehouse.production2.flox.dev",
	"experimental-warehouse.preview2.flox.dev",
}

// hubAuth authenticates to FloxHub's own stores as nix_auth.rs's netrc
// does: basic authentication, login "unused", the token as password.
type hubAuth struct {
	// hosts get the token over https only (FloxHub's store hosts).
	hosts []string
	// anyScheme get it over http too: catalog-url's host, which gets the
	// token over its own scheme anyway, and Options.StoreHosts.
	anyScheme []string
	token     *secret
}

// basicAuth is a store.Access.BasicAuth: host or host:port must be
// one of FloxHub's, over https, or one the user named.
func (h *hubAuth) basicAuth(u *url.URL) (string, string, bool) {
	if h == nil {
		return "", "", false
	}
	name := strings.ToLower(u.Host)
	match := func(allowed string) bool {
		return name == allowed || !strings.Contains(allowed, ":") && hostOnly(name) == allowed && isDefaultPort(name)
	}
	for _, allowed := range h.anyScheme {
		if match(allowed) {
			return "unused", h.token.value, true
		}
	}
	if u.Scheme != "https" {
		return "", "", false
	}
	for _, allowed := range h.hosts {
		if match(allowed) {
			return "unused", h.token.value, true
		}
	}
	return "", "", false
}

func hostOnly(hostport string) string {
	if h, _, ok := strings.Cut(hostport, ":"); ok {
		return h
	}
	return hostport
}

func isDefaultPort(hostport string) bool {
	_, port, ok := strings.Cut(hostport, ":")
	return !ok || port == "443"
}

// IngressAuth is what FloxHub hands out in ingress_auth["aws-s3"].envs
// for a publisher store: AWS credentials (and possibly a region or an
// endpoint) for one upload. It is never put in the process environment,
// so nothing but that upload sees it; print it and you get the names only.
type IngressAuth struct {
	envs map[string]string
}

// parseIngressAuth reads ingress_auth as nix_auth.rs's catalog_auth_to_envs
// does: aws-s3 is the only kind, its envs a map of strings; other kinds
// beside it are ignored for forward compatibility.
func parseIngressAuth(raw map[string]json.RawMessage) (*IngressAuth, error) {
	if raw == nil {
		return nil, nil // a publisher store may be public
	}
	s3, ok := raw["aws-s3"]
	if !ok {
		kinds := make([]string, 0, len(raw))
		for k := range raw {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		return nil, fmt.Errorf("FloxHub's ingress_auth has no aws-s3 credentials (it has %s), the only kind this action and the Flox CLI know", strings.Join(kinds, ", "))
	}
	var body struct {
		Envs map[string]string `json:"envs"`
	}
	if err := json.Unmarshal(s3, &body); err != nil || body.Envs == nil {
		return nil, fmt.Errorf("FloxHub's ingress_auth[\"aws-s3\"] has no envs map of strings")
	}
	return &IngressAuth{envs: body.Envs}, nil
}

// Secrets are the values to mask: all of them but region and endpoint
// settings, which are not secret and which masking would hide in messages.
func (a *IngressAuth) Secrets() []string {
	if a == nil {
		return nil
	}
	var out []string
	for k, v := range a.envs {
		if v != "" && !strings.Contains(k, "REGION") && !strings.Contains(k, "ENDPOINT") {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

// Names lists the variables FloxHub set, for messages.
func (a *IngressAuth) Names() []string {
	if a == nil {
		return nil
	}
	names := make([]string, 0, len(a.envs))
	for k := range a.envs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func (a *IngressAuth) String() string {
	return "ingress credentials (" + strings.Join(a.Names(), ", ") + ")"
}

// GoString keeps %#v from printing the values.
func (a *IngressAuth) GoString() string { return a.String() }

// Credentials are the AWS credentials of the upload.
func (a *IngressAuth) Credentials() aws.CredentialsProvider {
	return awscreds.NewStaticCredentialsProvider(a.envs["AWS_ACCESS_KEY_ID"], a.envs["AWS_SECRET_ACCESS_KEY"], a.envs["AWS_SESSION_TOKEN"])
}

// Getenv reads FloxHub's variables, and nothing of the process's: the
// upload to Flox's store must not pick up the user's AWS settings.
func (a *IngressAuth) Getenv(name string) string { return a.envs[name] }

// nixParamNotes say why a Nix store parameter on a catalog's ingress URI
// is not passed to the upload. Nix takes any of them on any store URL;
// this action writes the cache itself, so each is either honoured by its
// own input or does not apply.
var nixParamNotes = map[string]string{
	"want-mass-query":      "it tells Nix clients how to query the cache, not how to write it",
	"priority":             "it orders substituters on Nix clients, not how to write the cache",
	"trusted":              "it is a client-side trust setting",
	"compression":          "NARs are compressed as the run's compression setting says (zstd by default, as the Flox CLI uploads)",
	"compression-level":    "the run's compression level setting sets it",
	"parallel-compression": "the action always compresses in parallel",
	"secret-key":           "store paths are signed with the run's signing key",
	"secret-keys":          "store paths are signed with the run's signing key",
	"write-nar-listing":    "the action does not write NAR listings",
	"ls-compression":       "the action does not write NAR listings",
	"narinfo-compression":  "narinfos are written uncompressed",
	"log-compression":      "the action does not upload build logs",
	"multipart-upload":     "large NARs are always uploaded in parts",
	"buffer-size":          "the action sizes its upload parts itself",
	"index-debug-info":     "the action does not upload debug info",
	"local-nar-cache":      "it is a client-side cache",
	"path-info-cache-size": "it is a client-side cache",
}

// ingressLocation reads a catalog's ingress URI as this action's stores open
// it: s3:// keeps its S3 parameters (region, endpoint, scheme, profile,
// addressing-style), http(s):// keeps none, and every other Nix store
// parameter is left out with a note saying why.
func ingressLocation(ingress string) (loc store.Location, notes []string, err error) {
	u, err := url.Parse(ingress)
	if err != nil || u.Host == "" {
		return store.Location{}, nil, fmt.Errorf("ingress URI %s is not a store URL", store.RedactURL(ingress))
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return store.Location{}, nil, fmt.Errorf("ingress URI %s: the query does not parse: %w", store.RedactURL(ingress), err)
	}
	var keep []string
	switch u.Scheme {
	case "s3":
		keep = store.S3Params()
	case "http", "https":
	default:
		return store.Location{}, nil, fmt.Errorf("ingress URI %s: scheme %q is not one this action uploads to (s3, https, http)", store.RedactURL(ingress), u.Scheme)
	}
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	kept := url.Values{}
	for _, k := range names {
		if slices.Contains(keep, k) {
			kept[k] = q[k]
			continue
		}
		why, ok := nixParamNotes[k]
		if !ok {
			why = "this action does not know it"
		}
		notes = append(notes, fmt.Sprintf("%s= on the catalog's ingress URI is ignored: %s", k, why))
	}
	out := *u
	out.RawQuery = ""
	if len(kept) > 0 {
		// Keep the order and the unescaped endpoints of the original.
		var parts []string
		for _, part := range strings.Split(u.RawQuery, "&") {
			k, _, _ := strings.Cut(part, "=")
			if name, err := url.QueryUnescape(k); err == nil && kept.Has(name) {
				parts = append(parts, part)
			}
		}
		out.RawQuery = strings.Join(parts, "&")
	}
	loc, err = store.ParseLocation(out.String())
	if err != nil {
		return store.Location{}, nil, fmt.Errorf("ingress URI %w", err)
	}
	return loc, notes, nil
}
