package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// FloxHubStandIn stands in for FloxHub's catalog API. It checks every
// request against the API's contract as the Flox CLI's
// catalog-api-v1/openapi.json states it (method, path, path and query
// parameters and their patterns, the bearer header, the body's required
// fields, their types and enums) and fails the test on any violation,
// answering 422 as the service's validation would. A field the schema does
// not have fails the test too: the service would ignore it silently, which
// is how a misspelt field goes unnoticed.
//
// Otherwise it answers as the service does: 401 for a token it does not
// know (expired or revoked), 403 for a catalog the token's user may not
// write, 404 for an unknown catalog, 200 or 201 (or 409, when set up so)
// for a package, check-build from the builds recorded so far, 422 from
// publish/info for a catalog without a store, and the configured
// catalog_store_config for each store type; for a publisher store also the
// top-level ingress_uri and ingress_auth, and store/status, which knows a
// recorded build's outputs once its publisher has ingested them (after
// IngestPolls polls, and only if Ingested says the upload is there).
//
// Beyond the schema, it holds the client to what the Flox CLI always sends
// (publish.rs), failing the test otherwise: locked_inputs on check-build;
// locked_base_catalog_url, a ref that is a branch's short name (not
// refs/heads/…), a drv_path that is a .drv store path when given, cache_uri
// equal to the ingress URI for nix-copy and publisher stores and absent
// otherwise, narinfos with narinfos_source_url for nix-copy (the egress
// URI) and meta-only stores and none for publisher and null stores; and,
// when StrictClosure is set, narinfos covering every output and every
// reference of every narinfo (the whole closure, as `nix path-info
// --recursive` gives it). A build recorded for a package no create call
// made is 404, as on the service.
type FloxHubStandIn struct {
	t   testing.TB
	srv *httptest.Server

	mu    sync.Mutex
	users map[string]string // token → user handle
	// UserStore is the catalog_store_config of a user's own catalog, which
	// FloxHub creates with the first package.
	UserStore map[string]any
	catalogs  map[string]*FloxHubCatalog
	calls     []string // "<step> <catalog>/<package>", in order
	faults    []FloxHubFault
	builds    []FloxHubBuild // accepted builds calls

	// StrictClosure requires the narinfos of the whole closure.
	StrictClosure bool
	// IngestPolls is how many store/status polls a publisher store takes
	// to ingest a recorded build; Ingested, when set, must also say the
	// path's narinfo is in the store.
	IngestPolls int
	Ingested    func(storePath string) bool
	polls       int
}

// FloxHubBuild is a builds call the stand-in accepted.
type FloxHubBuild struct {
	Catalog, Package, System string
	Body                     map[string]any // the request body as sent
}

// FloxHubCatalog is a catalog of the stand-in.
type FloxHubCatalog struct {
	writers  map[string]bool           // user handles allowed to write
	store    map[string]any            // catalog_store_config; nil: no store configured
	packages map[string]map[string]any // package → original_url etc.
	// ConflictOnCreate answers 409 rather than 200 for an existing package.
	ConflictOnCreate bool
	// IngressURI and IngressAuth are publish/info's top-level fields, which
	// a publisher store has.
	IngressURI  any
	IngressAuth any
}

// AddPackage creates a package in c, as an earlier run would have. Call it
// before the stand-in gets requests.
func (c *FloxHubCatalog) AddPackage(name string) { c.packages[name] = map[string]any{} }

// FloxHubFault is an answer given instead of the real one, once, to the
// next request whose step matches.
type FloxHubFault struct {
	Step       string // create, check-build, publish/info, builds
	Status     int
	Body       string
	RetryAfter string
	Reset      bool          // drop the connection without answering
	Delay      time.Duration // answer this late
}

// StartFloxHubStandIn starts a stand-in, closed when the test ends.
func StartFloxHubStandIn(t testing.TB) *FloxHubStandIn {
	t.Helper()
	s := &FloxHubStandIn{t: t, users: map[string]string{}, catalogs: map[string]*FloxHubCatalog{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// ServeHTTP answers as the stand-in, for a test that serves it beside
// something else on one host (a store on FloxHub's own host).
func (s *FloxHubStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(w, r) }

// URL is the stand-in's base URL, the catalog-url input.
func (s *FloxHubStandIn) URL() string { return s.srv.URL }

// AddUser lets token act as handle.
func (s *FloxHubStandIn) AddUser(token, handle string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[token] = handle
}

// AddCatalog creates a catalog that writers may write, with store as its
// catalog_store_config (nil for none).
func (s *FloxHubStandIn) AddCatalog(name string, store map[string]any, writers ...string) *FloxHubCatalog {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &FloxHubCatalog{writers: map[string]bool{}, store: store, packages: map[string]map[string]any{}}
	for _, w := range writers {
		c.writers[w] = true
	}
	s.catalogs[name] = c
	return c
}

// Fault makes the stand-in answer f once, to the next request of f.Step.
func (s *FloxHubStandIn) Fault(f FloxHubFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// Calls are the calls so far, "<step> <catalog>/<package>" ("store/status"), in order.
func (s *FloxHubStandIn) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// Builds are the builds calls accepted so far.
func (s *FloxHubStandIn) Builds() []FloxHubBuild {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]FloxHubBuild(nil), s.builds...)
}

var (
	standInPackagesPath = regexp.MustCompile(`^/api/v1/catalog/catalogs/([^/]+)/packages$`)
	standInPackagePath  = regexp.MustCompile(`^/api/v1/catalog/catalogs/([^/]+)/packages/([^/]+)/(check-build|publish/info|builds)$`)
	standInStatusPath   = "/api/v1/catalog/store/status"
	standInCatalogName  = regexp.MustCompile(`^[a-zA-Z0-9\-_]{3,63}$`)
	standInPackageName  = regexp.MustCompile(`^[a-zA-Z0-9.\-_]{1,128}$`)
	standInBearer       = regexp.MustCompile(`^(?i:bearer) (\S+)$`)
)

func (s *FloxHubStandIn) serve(w http.ResponseWriter, r *http.Request) {
	// What the contract fixes, checked in the order the service would.
	var catalog, pkg, step string
	if m := standInPackagesPath.FindStringSubmatch(r.URL.Path); m != nil {
		catalog, step = m[1], "create"
		pkg = r.URL.Query().Get("name")
		if !r.URL.Query().Has("name") {
			s.violation(w, "query", "name", "the name query parameter is required")
			return
		}
	} else if m := standInPackagePath.FindStringSubmatch(r.URL.Path); m != nil {
		catalog, pkg, step = m[1], m[2], m[3]
	} else if r.URL.Path == standInStatusPath {
		step = "store/status"
	} else {
		s.t.Errorf("FloxHub stand-in: %s %s is not an endpoint of the catalog API", r.Method, r.URL.Path)
		floxHubAnswer(w, http.StatusNotFound, map[string]any{"detail": "Not Found"})
		return
	}
	if r.Method != http.MethodPost {
		s.t.Errorf("FloxHub stand-in: %s %s: the API takes POST here", r.Method, r.URL.Path)
		floxHubAnswer(w, http.StatusMethodNotAllowed, map[string]any{"detail": "Method Not Allowed"})
		return
	}
	s.mu.Lock()
	if step == "store/status" {
		s.calls = append(s.calls, step)
	} else {
		s.calls = append(s.calls, step+" "+catalog+"/"+pkg)
	}
	s.mu.Unlock()
	// Reading the body first lets the server notice a client that hangs
	// up, which ends a delayed answer.
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}

	auth := standInBearer.FindStringSubmatch(r.Header.Get("Authorization"))
	if auth == nil {
		s.t.Errorf("FloxHub stand-in: %s %s: no bearer Authorization header (got %d bytes)", r.Method, r.URL.Path, len(r.Header.Get("Authorization")))
		floxHubAnswer(w, http.StatusUnauthorized, map[string]any{"detail": "Not authenticated"})
		return
	}
	if f, ok := s.takeFault(step); ok {
		if f.Delay > 0 {
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			}
		}
		if f.Reset {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				s.t.Errorf("FloxHub stand-in: hijack: %v", err)
				return
			}
			conn.Close()
			return
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		fmt.Fprint(w, f.Body)
		return
	}

	if step == "store/status" {
		s.storeStatus(w, r, raw)
		return
	}
	if !standInCatalogName.MatchString(catalog) {
		s.violation(w, "path", "catalog_name", "String should match pattern '^[a-zA-Z0-9\\-_]{3,63}$'")
		return
	}
	if !standInPackageName.MatchString(pkg) {
		where := "path"
		if step == "create" {
			where = "query"
		}
		s.violation(w, where, "package_name", "String should match pattern '^[a-zA-Z0-9.\\-_]{1,128}$'")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		s.violation(w, "header", "content-type", "the body must be sent as application/json, not "+ct)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var body any
	if err := dec.Decode(&body); err != nil {
		s.violation(w, "body", "", "the body is not JSON: "+err.Error())
		return
	}
	if problems := standInSchemas[step].check("body", body); len(problems) > 0 {
		for _, p := range problems {
			s.t.Errorf("FloxHub stand-in: %s %s: %s", r.Method, r.URL.Path, p)
		}
		floxHubAnswer(w, http.StatusUnprocessableEntity, map[string]any{"detail": []any{map[string]any{"loc": []any{"body"}, "msg": strings.Join(problems, "; "), "type": "value_error"}}})
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	user, known := s.users[auth[1]]
	if !known {
		floxHubAnswer(w, http.StatusUnauthorized, map[string]any{"detail": "Could not validate credentials"})
		return
	}
	c := s.catalogs[catalog]
	if c == nil && step == "create" && catalog == user {
		// Creating a package in one's own catalog creates the catalog.
		c = &FloxHubCatalog{writers: map[string]bool{user: true}, store: s.UserStore, packages: map[string]map[string]any{}}
		s.catalogs[catalog] = c
	}
	if c == nil {
		floxHubAnswer(w, http.StatusNotFound, map[string]any{"detail": "Catalog not found"})
		return
	}
	if !c.writers[user] {
		floxHubAnswer(w, http.StatusForbidden, map[string]any{"detail": "You are not permitted to write to this catalog."})
		return
	}
	fields := body.(map[string]any)
	if step == "create" {
		if _, exists := c.packages[pkg]; exists {
			if c.ConflictOnCreate {
				floxHubAnswer(w, http.StatusConflict, map[string]any{"detail": "Package already exists"})
				return
			}
			floxHubAnswer(w, http.StatusOK, map[string]any{"catalog": catalog, "name": pkg, "original_url": c.packages[pkg]["original_url"]})
			return
		}
		c.packages[pkg] = map[string]any{"original_url": fields["original_url"]}
		floxHubAnswer(w, http.StatusCreated, map[string]any{"catalog": catalog, "name": pkg, "original_url": fields["original_url"]})
		return
	}
	if _, exists := c.packages[pkg]; !exists {
		floxHubAnswer(w, http.StatusNotFound, map[string]any{"detail": "Package not found"})
		return
	}
	switch step {
	case "check-build":
		if _, ok := fields["locked_inputs"]; !ok {
			s.t.Errorf("FloxHub stand-in: check-build without locked_inputs, which the Flox CLI always sends ({} for a manifest build)")
		}
		for _, b := range s.builds {
			if b.Catalog == catalog && b.Package == pkg && b.System == fields["system"] && b.Body["url"] == fields["source_url"] && b.Body["rev"] == fields["source_rev"] {
				// Python's datetime without a zone, as the service may answer.
				floxHubAnswer(w, http.StatusOK, map[string]any{"already_published": true, "source_rev": b.Body["rev"], "source_rev_date": b.Body["rev_date"], "published_at": "2026-05-01T12:00:00.123456"})
				return
			}
		}
		floxHubAnswer(w, http.StatusOK, map[string]any{"already_published": false})
	case "publish/info":
		if c.store == nil {
			floxHubAnswer(w, http.StatusUnprocessableEntity, map[string]any{"detail": "No catalog store is configured for this catalog."})
			return
		}
		floxHubAnswer(w, http.StatusOK, map[string]any{"ingress_uri": c.IngressURI, "ingress_auth": c.IngressAuth, "catalog_store_config": c.store})
	case "builds":
		s.checkBuildSemantics(fields)
		if problems := s.checkAsTheCLISends(c, fields); len(problems) > 0 {
			floxHubAnswer(w, http.StatusUnprocessableEntity, map[string]any{"detail": strings.Join(problems, "; ")})
			return
		}
		system := fields["derivation"].(map[string]any)["system"].(string)
		for _, b := range s.builds {
			if b.Catalog == catalog && b.Package == pkg && b.System == system && b.Body["rev"] == fields["rev"] {
				floxHubAnswer(w, http.StatusOK, map[string]any{})
				return
			}
		}
		s.builds = append(s.builds, FloxHubBuild{Catalog: catalog, Package: pkg, System: system, Body: fields})
		floxHubAnswer(w, http.StatusCreated, map[string]any{})
	}
}

// checkBuildSemantics checks what the schema's types cannot: that store
// paths are store paths and that the URL carries no credentials.
func (s *FloxHubStandIn) checkBuildSemantics(b map[string]any) {
	if u, err := url.Parse(b["url"].(string)); err != nil {
		s.t.Errorf("FloxHub stand-in: builds: url %q does not parse", b["url"])
	} else if _, hasPassword := u.User.Password(); hasPassword || (u.User != nil && !strings.Contains(u.Scheme, "ssh")) {
		s.t.Errorf("FloxHub stand-in: builds: url %q carries credentials", u.Redacted())
	}
	d := b["derivation"].(map[string]any)
	for _, o := range d["outputs"].([]any) {
		if p := o.(map[string]any)["store_path"].(string); !strings.HasPrefix(p, "/nix/store/") {
			s.t.Errorf("FloxHub stand-in: builds: output store_path %q is not a store path", p)
		}
	}
	if n, ok := b["narinfos"].(map[string]any); ok {
		for p, info := range n {
			if !strings.HasPrefix(p, "/nix/store/") {
				s.t.Errorf("FloxHub stand-in: builds: narinfos key %q is not a store path", p)
			}
			if h, _ := info.(map[string]any)["narHash"].(string); !strings.HasPrefix(h, "sha256-") {
				s.t.Errorf("FloxHub stand-in: builds: narHash %q is not in the SRI form nix path-info --json gives", h)
			}
		}
	}
}

// checkAsTheCLISends holds a builds body to what the Flox CLI sends for
// the catalog's store type (see FloxHubStandIn), and refuses it (422) when
// it differs. Called with s.mu held.
func (s *FloxHubStandIn) checkAsTheCLISends(c *FloxHubCatalog, b map[string]any) (problems []string) {
	fail := func(format string, args ...any) {
		s.t.Errorf("FloxHub stand-in: builds: "+format, args...)
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	if u, _ := b["locked_base_catalog_url"].(string); u == "" {
		fail("no locked_base_catalog_url; the Flox CLI always sends the lock's catalog package's locked_url")
	}
	if ref, ok := b["ref"].(string); ok && strings.HasPrefix(ref, "refs/") {
		fail("ref %q: the Flox CLI sends the branch's short name (main), not a full ref", ref)
	}
	d := b["derivation"].(map[string]any)
	if drv, _ := d["drv_path"].(string); drv != "" && (!strings.HasPrefix(drv, "/nix/store/") || !strings.HasSuffix(drv, ".drv")) {
		fail("drv_path %q is not a derivation's store path", drv)
	}
	storeType, _ := c.store["store_type"].(string)
	narinfos, hasNarInfos := b["narinfos"].(map[string]any)
	cacheURI, hasCacheURI := b["cache_uri"].(string)
	source, _ := b["narinfos_source_url"].(string)
	switch storeType {
	case "nix-copy", "publisher":
		ingress := c.store["ingress_uri"]
		if storeType == "publisher" {
			ingress = c.IngressURI
		}
		if cacheURI != ingress {
			fail("cache_uri %q, want the ingress URI %v, as the Flox CLI sends for a %s store", cacheURI, ingress, storeType)
		}
	default:
		if hasCacheURI {
			fail("cache_uri %q for a %s store, which the Flox CLI sends none for", cacheURI, storeType)
		}
	}
	switch storeType {
	case "nix-copy", "meta-only":
		if !hasNarInfos || len(narinfos) == 0 {
			fail("no narinfos for a %s store: the Flox CLI always sends the closure's", storeType)
		}
		if storeType == "nix-copy" && source != c.store["egress_uri"] {
			fail("narinfos_source_url %q, want the egress URI %v", source, c.store["egress_uri"])
		}
		if source == "" {
			fail("narinfos without narinfos_source_url")
		}
	default:
		if hasNarInfos {
			fail("narinfos for a %s store, which the Flox CLI sends none for", storeType)
		}
	}
	if s.StrictClosure && hasNarInfos {
		for _, o := range d["outputs"].([]any) {
			if p := o.(map[string]any)["store_path"].(string); narinfos[p] == nil {
				fail("no narinfo for output %s", p)
			}
		}
		for p, info := range narinfos {
			refs, _ := info.(map[string]any)["references"].([]any)
			for _, r := range refs {
				if narinfos[r.(string)] == nil {
					fail("the narinfos are not the whole closure: %s refers to %s, which has none", p, r)
				}
			}
		}
	}
	return problems
}

// storeStatus answers POST /api/v1/catalog/store/status: for each asked
// path that is an output of a recorded build, its catalog and package and
// whether FloxHub knows its narinfo; nothing for other paths.
func (s *FloxHubStandIn) storeStatus(w http.ResponseWriter, r *http.Request, raw []byte) {
	var body struct {
		Outpaths []string `json:"outpaths"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Outpaths == nil {
		s.violation(w, "body", "outpaths", "StoreInfoRequest needs outpaths, a list of store paths")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polls++
	items := map[string]any{}
	for _, p := range body.Outpaths {
		var statuses []any
		for _, b := range s.builds {
			for _, o := range b.Body["derivation"].(map[string]any)["outputs"].([]any) {
				if o.(map[string]any)["store_path"] != p {
					continue
				}
				known := true
				if c := s.catalogs[b.Catalog]; c != nil && c.store["store_type"] == "publisher" {
					known = s.polls > s.IngestPolls && (s.Ingested == nil || s.Ingested(p))
				}
				statuses = append(statuses, map[string]any{"catalog": b.Catalog, "package": b.Package, "narinfo_known": known})
			}
		}
		if statuses != nil {
			items[p] = statuses
		}
	}
	floxHubAnswer(w, http.StatusOK, map[string]any{"items": items})
}

func (s *FloxHubStandIn) takeFault(step string) (FloxHubFault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Step == step {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			return f, true
		}
	}
	return FloxHubFault{}, false
}

// violation fails the test and answers as FastAPI answers a request that
// fails validation.
func (s *FloxHubStandIn) violation(w http.ResponseWriter, where, name, msg string) {
	s.t.Errorf("FloxHub stand-in: contract violation in %s %s: %s", where, name, msg)
	floxHubAnswer(w, http.StatusUnprocessableEntity, map[string]any{"detail": []any{map[string]any{"loc": []any{where, name}, "msg": msg, "type": "value_error"}}})
}

func floxHubAnswer(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(body)
	_, _ = w.Write(buf.Bytes())
}

// schema is the part of a JSON schema the API's request bodies use.
type schema struct {
	kind     string // object, map, array, string, integer, boolean, date-time
	nullable bool
	enum     []string
	props    map[string]schema // object
	required []string          // object
	elem     *schema           // array items, map values
}

func (sc schema) check(at string, v any) []string {
	if v == nil {
		if sc.nullable {
			return nil
		}
		return []string{at + ": null where the API wants " + sc.kind}
	}
	wrong := func() []string { return []string{fmt.Sprintf("%s: %T where the API wants %s", at, v, sc.kind)} }
	switch sc.kind {
	case "string", "date-time":
		str, ok := v.(string)
		if !ok {
			return wrong()
		}
		if sc.kind == "date-time" {
			if _, err := time.Parse(time.RFC3339, str); err != nil {
				return []string{fmt.Sprintf("%s: %q is not an RFC 3339 date-time", at, str)}
			}
		}
		if len(sc.enum) > 0 && !containsString(sc.enum, str) {
			return []string{fmt.Sprintf("%s: %q is not one of %v", at, str, sc.enum)}
		}
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return wrong()
		}
		if _, err := n.Int64(); err != nil {
			return []string{fmt.Sprintf("%s: %s is not an integer", at, n)}
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return wrong()
		}
	case "array":
		items, ok := v.([]any)
		if !ok {
			return wrong()
		}
		var problems []string
		for i, item := range items {
			problems = append(problems, sc.elem.check(fmt.Sprintf("%s[%d]", at, i), item)...)
		}
		return problems
	case "map":
		m, ok := v.(map[string]any)
		if !ok {
			return wrong()
		}
		var problems []string
		for k, item := range m {
			problems = append(problems, sc.elem.check(at+"."+k, item)...)
		}
		return problems
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return wrong()
		}
		var problems []string
		for _, r := range sc.required {
			if _, ok := m[r]; !ok {
				problems = append(problems, at+"."+r+": required field missing")
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p, ok := sc.props[k]
			if !ok {
				problems = append(problems, at+"."+k+": not a field of the API's schema")
				continue
			}
			problems = append(problems, p.check(at+"."+k, m[k])...)
		}
		return problems
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// The request schemas of catalog-api-v1/openapi.json, transcribed.
var (
	nullableString = schema{kind: "string", nullable: true}
	packageSystem  = schema{kind: "string", enum: []string{"aarch64-darwin", "aarch64-linux", "x86_64-darwin", "x86_64-linux", "invalid"}}
	buildType      = schema{kind: "string", enum: []string{"manifest", "nef"}}

	lockedInputEntrySchema = schema{kind: "object",
		required: []string{"catalog", "attr_path", "build_type", "source", "locked_inputs_hash"},
		props: map[string]schema{
			"catalog":            {kind: "string"},
			"attr_path":          {kind: "array", elem: &schema{kind: "string"}},
			"build_type":         buildType,
			"source":             {kind: "map", elem: &schema{kind: "string"}},
			"inputs":             {kind: "array", nullable: true, elem: &schema{kind: "string"}},
			"locked_inputs_hash": {kind: "string"},
		}}
	lockedInputs = schema{kind: "map", nullable: true, elem: &lockedInputEntrySchema}

	narInfoSchema = schema{kind: "object", nullable: true, props: map[string]schema{
		"ca":                  nullableString,
		"deriver":             nullableString,
		"downloadHash":        nullableString,
		"downloadSize":        {kind: "integer", nullable: true},
		"narHash":             nullableString,
		"narSize":             {kind: "integer", nullable: true},
		"references":          {kind: "array", nullable: true, elem: &schema{kind: "string"}},
		"registrationTime":    {kind: "integer", nullable: true},
		"signatures":          {kind: "array", nullable: true, elem: &schema{kind: "string"}},
		"url":                 nullableString,
		"ultimate":            {kind: "boolean", nullable: true},
		"compression":         nullableString,
		"path":                nullableString,
		"closureDownloadSize": {kind: "integer", nullable: true},
		"closureSize":         {kind: "integer", nullable: true},
	}}

	packageDerivationSchema = schema{kind: "object",
		required: []string{"drv_path", "system", "name", "outputs"},
		props: map[string]schema{
			"drv_path": {kind: "string"},
			"system":   packageSystem,
			"name":     {kind: "string"},
			"outputs": {kind: "array", elem: &schema{kind: "object", required: []string{"name", "store_path"}, props: map[string]schema{
				"name":       {kind: "string"},
				"store_path": {kind: "string"},
			}}},
			"outputs_to_install": {kind: "array", nullable: true, elem: &schema{kind: "string"}},
			"description":        nullableString,
			"pname":              nullableString,
			"version":            nullableString,
			"license":            nullableString,
			"licenses":           {kind: "array", nullable: true, elem: &schema{kind: "string"}},
			"broken":             {kind: "boolean", nullable: true},
			"unfree":             {kind: "boolean", nullable: true},
		}}

	standInSchemas = map[string]schema{
		"create": {kind: "object", props: map[string]schema{"original_url": nullableString}},
		"check-build": {kind: "object",
			required: []string{"source_url", "source_rev", "nixpkgs_rev", "system"},
			props: map[string]schema{
				"source_url":    {kind: "string"},
				"source_rev":    {kind: "string"},
				"nixpkgs_rev":   {kind: "string"},
				"system":        packageSystem,
				"locked_inputs": lockedInputs,
			}},
		"publish/info": {kind: "object", props: map[string]schema{}},
		"builds": {kind: "object",
			required: []string{"url", "rev", "rev_count", "rev_date", "derivation"},
			props: map[string]schema{
				"url":                     {kind: "string"},
				"rev":                     {kind: "string"},
				"rev_count":               {kind: "integer"},
				"rev_date":                {kind: "date-time"},
				"locked_base_catalog_url": nullableString,
				"base_catalog_rev_date":   {kind: "date-time", nullable: true},
				"base_catalog_rev_count":  {kind: "integer", nullable: true},
				"derivation":              packageDerivationSchema,
				"cache_uri":               nullableString,
				"ref":                     nullableString,
				"dot_flox_dir":            {kind: "string"},
				"build_type":              {kind: "string", nullable: true, enum: buildType.enum},
				"narinfos":                {kind: "map", nullable: true, elem: &narInfoSchema},
				"narinfos_source_url":     nullableString,
				"narinfos_source_version": {kind: "integer", nullable: true},
				"locked_inputs":           lockedInputs,
			}},
	}
)
