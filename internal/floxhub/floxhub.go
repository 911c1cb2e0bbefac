// Package floxhub is the client of FloxHub's catalog API: what `flox
// publish` asks and tells FloxHub, with its retries, waits and
// authentication.
//
// The calls follow the catalog API of the Flox CLI
// (catalog-api-v1/openapi.json) and the order the CLI makes them in
// (cli/flox/src/commands/publish.rs):
//
//  1. POST /api/v1/catalog/catalogs/{catalog}/packages?name={package}
//  2. POST …/packages/{package}/check-build; stop here when published
//  3. (the build)
//  4. POST …/packages/{package}/publish/info
//  5. (the store paths are uploaded, as the store type says)
//  6. POST …/packages/{package}/builds
//  7. publisher stores only: POST /api/v1/catalog/store/status until
//     FloxHub knows every output
//
// Steps 1–2 are Check, 4 is PublishInfo (catalog.Plan.Destination then
// says where to upload, and store.Open opens it), 6 is Record, 7 is
// WaitPublished. Prepare makes 1, 2 and 4 at once.
package floxhub

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/retry"
	"github.com/flox-publish/publish-action/internal/store"
)

// Client is a client of the FloxHub catalog API, acting with one token.
type Client struct {
	base *url.URL
	// token is behind a pointer so that printing a FloxHub, even with
	// reflection on its fields, shows an address rather than the token.
	token      *secret
	client     *http.Client
	retry      retry.Policy
	timeout    time.Duration
	logf       func(format string, args ...any)
	userAgent  string
	storeHosts []string
}

// Options configure a FloxHub client.
type Options struct {
	// HTTPClient sends the requests; nil uses a client of its own.
	HTTPClient *http.Client
	// Retry is how calls are retried; its zero fields are DefaultRetry's.
	Retry retry.Policy
	// Timeout bounds one try, answer included; 0 means DefaultTimeout.
	Timeout time.Duration
	// Logf receives a line for each retry; nil discards them.
	Logf func(format string, args ...any)
	// UserAgent is sent with each request; "" sends flox-publish-action.
	UserAgent string
	// StoreHosts are hosts (host or host:port) of https:// catalog stores
	// that may get the token, besides FloxHub's own and catalog-url's.
	StoreHosts []string
}

// ErrNoToken and ErrTokenText are New's errors for a token it cannot
// send; BaseURLError for a base URL it cannot call.
var (
	ErrNoToken   = errors.New("the FloxHub token is empty")
	ErrTokenText = errors.New("the FloxHub token has spaces or control characters; paste the token alone")
)

// BaseURLError says why the API's base URL cannot be called.
type BaseURLError struct {
	URL string // redacted
	Why string
}

func (e *BaseURLError) Error() string { return "FloxHub's API URL " + e.URL + " " + e.Why }

// New returns a client of the catalog API at baseURL (the catalog-url
// input, https://api.flox.dev) using token.
func New(baseURL, token string, opts Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &BaseURLError{URL: store.RedactURL(baseURL), Why: "is not an http(s) URL"}
	}
	if u.User != nil {
		return nil, &BaseURLError{URL: store.RedactURL(baseURL), Why: "carries credentials; FloxHub takes only its token"}
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, &BaseURLError{URL: store.RedactURL(baseURL), Why: "takes no query or fragment"}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, ErrNoToken
	}
	for _, c := range token {
		// The token goes into a header; a control character would let it
		// end the header early, and the error must not say what the token is.
		if c < 0x21 || c == 0x7f {
			return nil, ErrTokenText
		}
	}
	h := &Client{
		base:       u,
		token:      &secret{value: token},
		client:     opts.HTTPClient,
		retry:      opts.Retry.Or(DefaultRetry),
		timeout:    cmp.Or(opts.Timeout, DefaultTimeout),
		logf:       opts.Logf,
		userAgent:  opts.UserAgent,
		storeHosts: opts.StoreHosts,
	}
	if h.client == nil {
		h.client = &http.Client{}
	}
	if h.logf == nil {
		h.logf = func(string, ...any) {}
	}
	if h.userAgent == "" {
		h.userAgent = "flox-publish-action"
	}
	return h, nil
}

// String names the client without its token.
func (f *Client) String() string { return "FloxHub at " + f.base.String() }

// GoString keeps %#v from printing the token's field.
func (f *Client) GoString() string { return "floxhub.Client{" + f.base.String() + "}" }

// Prepare makes steps 1 to 3 of a publish at once: Check, then, unless
// the build is already published, PublishInfo. A run that builds should
// call Check before the build and PublishInfo after it, as the Flox CLI
// does: FloxHub's ingress credentials are then fetched only once the
// build, which runs repository code, is over.
func (f *Client) Prepare(ctx context.Context, t catalog.Target) (catalog.Plan, error) {
	plan, err := f.Check(ctx, t)
	if err != nil || plan.AlreadyPublished {
		return plan, err
	}
	plan.Store, err = f.PublishInfo(ctx, t)
	if err != nil {
		return catalog.Plan{}, err
	}
	return plan, nil
}

// Check makes steps 1 and 2 of a publish, before anything is built: it
// creates the package in the catalog (a no-op when it exists; this is also
// where a token that may not write the catalog is refused) and asks
// whether this source revision is already published for this system.
// Names are checked against the API's patterns before any call. A failed
// already-published check does not stop the publish (Plan.CheckErr), as
// in the Flox CLI.
func (f *Client) Check(ctx context.Context, t catalog.Target) (catalog.Plan, error) {
	if err := t.Validate(); err != nil {
		return catalog.Plan{}, fmt.Errorf("publish %s/%s: %w", t.Catalog, t.Package, err)
	}
	src, _ := catalog.PublicSourceURL(t.Source.URL) // validated above
	pkgPath := f.packagePath(t)

	create := op{verb: "create package " + t.Package + " in catalog " + t.Catalog, catalog: t.Catalog}
	var created userPackage
	err := f.call(ctx, create, f.catalogPath(t)+"/packages", url.Values{"name": {t.Package}}, userPackageCreate{OriginalURL: src}, &created)
	var apiErr *APIError
	// 409 is documented as "the package already exists", like 200.
	if err != nil && !(errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict) {
		return catalog.Plan{}, err
	}

	var plan catalog.Plan
	check := op{verb: "check whether " + t.Catalog + "/" + t.Package + " is already published", catalog: t.Catalog}
	var cb checkBuildResponse
	err = f.call(ctx, check, pkgPath+"/check-build", nil, checkBuildRequest{
		SourceURL:    src,
		SourceRev:    t.Source.Rev,
		NixpkgsRev:   baseNixpkgsRev(t),
		System:       t.System,
		LockedInputs: map[string]lockedInputEntry{},
	}, &cb)
	switch {
	case err == nil && cb.AlreadyPublished == nil:
		plan.CheckErr = fmt.Errorf("%s: FloxHub's answer has no already_published", check.verb)
	case err == nil && *cb.AlreadyPublished:
		plan.AlreadyPublished = true
		plan.Published = catalog.Published{PublishedAt: parseAPITime(cb.PublishedAt), SourceRevDate: parseAPITime(cb.SourceRevDate)}
		if cb.SourceRev != nil {
			plan.Published.SourceRev = *cb.SourceRev
		}
	case errors.As(err, &apiErr) && (apiErr.Status == http.StatusUnauthorized || apiErr.Status == http.StatusForbidden):
		return catalog.Plan{}, err
	case err != nil && ctx.Err() != nil:
		return catalog.Plan{}, err
	case err != nil:
		plan.CheckErr = err
	}
	return plan, nil
}

// PublishInfo makes step 3: it asks where the store paths go. For a
// publisher store the answer carries short-lived upload credentials, so
// call it after the build and right before the upload.
func (f *Client) PublishInfo(ctx context.Context, t catalog.Target) (catalog.StoreConfig, error) {
	if err := t.Validate(); err != nil {
		return catalog.StoreConfig{}, fmt.Errorf("publish %s/%s: %w", t.Catalog, t.Package, err)
	}
	info := op{verb: "ask FloxHub where " + t.Catalog + "/" + t.Package + "'s store paths go", catalog: t.Catalog}
	var pi publishInfoResponse
	if err := f.call(ctx, info, f.packagePath(t)+"/publish/info", nil, publishInfoRequest{}, &pi); err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnprocessableEntity {
			apiErr.Hint = "the catalog may have no store configured; configure one for catalog " + t.Catalog + " in FloxHub"
		}
		return catalog.StoreConfig{}, err
	}
	sc, err := storeConfig(t.Catalog, pi)
	if err != nil {
		return catalog.StoreConfig{}, err
	}
	// The token goes to FloxHub's own hosts whatever the store type: a
	// nix-copy store may be one of them.
	sc.Access.BasicAuth = f.storeAuth().basicAuth
	return sc, nil
}

// storeAuth is the FloxHub token for FloxHub's own store hosts and the
// catalog API's host.
func (f *Client) storeAuth() *hubAuth {
	named := []string{strings.ToLower(f.base.Host)}
	for _, h := range f.storeHosts {
		named = append(named, strings.ToLower(h))
	}
	return &hubAuth{hosts: floxHubStoreHosts, anyScheme: named, token: f.token}
}

// storeConfig reads FloxHub's publish information for catalog name: the
// one place a store URL FloxHub gives is parsed.
func storeConfig(name string, pi publishInfoResponse) (catalog.StoreConfig, error) {
	c := pi.CatalogStoreConfig
	if c == nil {
		return catalog.StoreConfig{}, fmt.Errorf("catalog %s: FloxHub's publish information has no catalog_store_config", name)
	}
	sc := catalog.StoreConfig{Type: catalog.StoreType(c.StoreType), Catalog: name}
	switch sc.Type {
	case catalog.StoreNixCopy:
		if c.IngressURI == "" || c.EgressURI == "" {
			return catalog.StoreConfig{}, fmt.Errorf("catalog %s (store type nix-copy): FloxHub's answer has no ingress_uri or egress_uri", name)
		}
		sc.IngressURI, sc.EgressURI = c.IngressURI, c.EgressURI
	case catalog.StoreMetaOnly, catalog.StoreNull:
		return sc, nil
	case catalog.StorePublisher:
		// The publisher's ingress is the answer's top-level ingress_uri,
		// as the Flox CLI reads it (publish.rs).
		if pi.IngressURI == nil || *pi.IngressURI == "" {
			return catalog.StoreConfig{}, fmt.Errorf("catalog %s (store type publisher): FloxHub's answer has no ingress_uri to upload to", name)
		}
		auth, err := parseIngressAuth(pi.IngressAuth)
		if err != nil {
			return catalog.StoreConfig{}, fmt.Errorf("catalog %s (store type publisher): %w", name, err)
		}
		sc.IngressURI = *pi.IngressURI
		if auth != nil {
			sc.Access = store.Access{Credentials: auth.Credentials(), Getenv: auth.Getenv, Principal: "FloxHub's ingress credentials for catalog " + name}
			sc.Secrets = auth.Secrets()
		}
	default:
		return catalog.StoreConfig{}, fmt.Errorf("catalog %s: FloxHub answered with store type %q, which this action does not know; update the action", name, c.StoreType)
	}
	var err error
	if sc.Ingress, sc.Notes, err = ingressLocation(sc.IngressURI); err != nil {
		return catalog.StoreConfig{}, fmt.Errorf("catalog %s (store type %s): %w", name, sc.Type, err)
	}
	return sc, nil
}

// Record makes the last step of a publish: it records b in the catalog,
// once its store paths are where d says. Recording a build the catalog
// already has succeeds.
func (f *Client) Record(ctx context.Context, d catalog.Destination, b catalog.Build) error {
	if err := b.Validate(); err != nil {
		return fmt.Errorf("record %s/%s: %w", b.Catalog, b.Package, err)
	}
	req, err := buildRequest(b, d)
	if err != nil {
		return fmt.Errorf("record %s/%s: %w", b.Catalog, b.Package, err)
	}
	o := op{verb: "record the build of " + b.Catalog + "/" + b.Package + " in the catalog", catalog: b.Catalog}
	return f.call(ctx, o, f.packagePath(b.Target)+"/builds", nil, req, nil)
}

func (f *Client) catalogPath(t catalog.Target) string {
	return "/api/v1/catalog/catalogs/" + url.PathEscape(t.Catalog)
}

func (f *Client) packagePath(t catalog.Target) string {
	return f.catalogPath(t) + "/packages/" + url.PathEscape(t.Package)
}

// op names a call for messages.
type op struct {
	verb    string
	catalog string
}

// call POSTs in as JSON to path and decodes a 2xx answer into out, retrying
// as f.retry says.
func (f *Client) call(ctx context.Context, o op, path string, query url.Values, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: %w", o.verb, err)
	}
	u := *f.base
	u.Path += path
	u.RawQuery = query.Encode()
	target := u.String()

	var answer []byte
	err = f.retry.Do(ctx, func() error {
		resp, err := f.attempt(ctx, target, body)
		if err != nil {
			return fmt.Errorf("%s: %w", o.verb, err)
		}
		if resp.status < 200 || resp.status >= 300 {
			apiErr := &APIError{Op: o.verb, Catalog: o.catalog, Status: resp.status, Detail: f.token.scrub(errorDetail(resp.body))}
			after, _ := retry.After(resp.retryAfter, time.Now())
			return retry.WithRetryAfter(apiErr, after)
		}
		answer = resp.body
		return nil
	}, retryable(ctx), func(err error, wait time.Duration, next int) {
		f.logf("FloxHub: %v; retrying in %s (try %d of %d)", err, wait.Round(10*time.Millisecond), next, f.retry.Attempts)
	})
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("%s: FloxHub's answer is not the JSON the API describes: %w", o.verb, err)
	}
	return nil
}

type response struct {
	status     int
	body       []byte
	retryAfter string
}

// maxBody bounds what is read of an answer: the API's answers are small.
const maxBody = 4 << 20

func (f *Client) attempt(ctx context.Context, target string, body []byte) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Authorization", "bearer "+f.token.value)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", f.userAgent)
	resp, err := f.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return response{}, fmt.Errorf("reading FloxHub's answer (%s): %w", resp.Status, err)
	}
	return response{status: resp.StatusCode, body: data, retryAfter: resp.Header.Get("Retry-After")}, nil
}

// APIError is an answer from FloxHub other than success.
type APIError struct {
	Op      string // what was being done
	Catalog string
	Status  int
	Detail  string // the API's "detail", or the start of the answer
	// Hint says what to do about it, where the status alone does not.
	Hint string
	// Fix says what to do in the words of where the run is (the inputs
	// in Actions, the flags in a terminal), for the statuses whose fix is
	// an input; the edge sets it (see publish's phrase).
	Fix string
}

func (e *APIError) Error() string {
	var msg string
	switch e.Status {
	case http.StatusUnauthorized:
		msg = fmt.Sprintf("%s: FloxHub rejected the token (401 Unauthorized): it is invalid or expired. Make a new one: "+
			"a FloxHub personal access token, or `flox auth login` then `flox auth token`", e.Op)
		if e.Fix != "" {
			msg += ", and " + e.Fix
		}
	case http.StatusForbidden:
		msg = fmt.Sprintf("%s: not permitted to write to catalog %s (403 Forbidden): the token's account must own the catalog or belong to the organisation it is named after; %s", e.Op, e.Catalog, cmp.Or(e.Fix, "check the catalog's name and whose token this is"))
	case http.StatusNotFound:
		msg = fmt.Sprintf("%s: FloxHub has no catalog %s, or no such package in it (404 Not Found); %s", e.Op, e.Catalog, cmp.Or(e.Fix, "check the catalog's name"))
	case http.StatusUnprocessableEntity:
		msg = fmt.Sprintf("%s: FloxHub refused the request as invalid (422)", e.Op)
	default:
		msg = fmt.Sprintf("%s: FloxHub answered %d %s", e.Op, e.Status, http.StatusText(e.Status))
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// errorDetail reads an error answer: {"detail": "…"} as the API documents,
// {"detail": [{"loc": […], "msg": "…"}]} as FastAPI answers a request that
// fails validation, or else the answer's first line.
func errorDetail(body []byte) string {
	var withText struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &withText) == nil && withText.Detail != "" {
		return limit(withText.Detail)
	}
	var withList struct {
		Detail []struct {
			Loc []any  `json:"loc"`
			Msg string `json:"msg"`
		} `json:"detail"`
	}
	if json.Unmarshal(body, &withList) == nil && len(withList.Detail) > 0 {
		var parts []string
		for _, d := range withList.Detail {
			loc := make([]string, 0, len(d.Loc))
			for _, l := range d.Loc {
				loc = append(loc, fmt.Sprint(l))
			}
			parts = append(parts, strings.Join(loc, ".")+": "+d.Msg)
		}
		return limit(strings.Join(parts, "; "))
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	return limit(line)
}

func limit(s string) string {
	const n = 500
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// secret holds the token so that no formatting of it prints the token.
type secret struct{ value string }

func (*secret) String() string               { return "[redacted]" }
func (*secret) GoString() string             { return "[redacted]" }
func (s *secret) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }
func (*secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// scrub hides the token in text from elsewhere, such as a server's answer
// that quotes the request.
func (s *secret) scrub(text string) string {
	return strings.ReplaceAll(text, s.value, "[redacted]")
}
