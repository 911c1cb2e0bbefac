package testenv

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// OIDCIssuerStandIn stands in for GitHub's OIDC side of a workflow run:
// the issuer https://token.actions.githubusercontent.com (discovery
// document, JWKS, RS256 tokens with a kid and GitHub's claims) and the
// runner's ACTIONS_ID_TOKEN_REQUEST_URL endpoint that hands a job its
// tokens. MinIO is pointed at it as its OpenID provider, so the action's
// OIDC → STS path runs end to end on loopback.
//
// Each test takes its own request endpoint (Endpoint), with its own request
// token, token options and counters, so one issuer serves parallel tests.
type OIDCIssuerStandIn struct {
	// URL is the issuer's base URL (http://127.0.0.1:PORT).
	URL string

	srv *httptest.Server
	key *rsa.PrivateKey
	kid string

	mu        sync.Mutex
	endpoints map[string]*TokenEndpoint
	seq       int
}

// TokenOptions shape the tokens an endpoint mints.
type TokenOptions struct {
	// Subject is the sub claim; default repo:acme/widgets:ref:refs/heads/main.
	Subject string
	// Audience, when set, replaces the audience the caller asked for (a
	// wrong-audience token).
	Audience string
	// Lifetime of each token; default 5 minutes, as GitHub's.
	Lifetime time.Duration
	// Expired mints tokens that expired a minute ago.
	Expired bool
	// Claims are added to (or replace) the standard ones.
	Claims map[string]any
}

// TokenEndpoint is one ACTIONS_ID_TOKEN_REQUEST_URL with its request token.
type TokenEndpoint struct {
	// URL is the value for ACTIONS_ID_TOKEN_REQUEST_URL. Like GitHub's, it
	// already carries a query, so callers must add audience properly.
	URL string
	// RequestToken is the value for ACTIONS_ID_TOKEN_REQUEST_TOKEN.
	RequestToken string

	opts   TokenOptions
	issuer *OIDCIssuerStandIn

	mu     sync.Mutex
	tokens []string
}

// NewOIDCIssuerStandIn starts an issuer on a loopback port; Close stops it.
func NewOIDCIssuerStandIn() (*OIDCIssuerStandIn, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	kidSum := sha256.Sum256(key.PublicKey.N.Bytes())
	o := &OIDCIssuerStandIn{key: key, kid: hex.EncodeToString(kidSum[:8]), endpoints: map[string]*TokenEndpoint{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", o.discovery)
	mux.HandleFunc("GET /.well-known/jwks", o.jwks)
	mux.HandleFunc("GET /token/{id}", o.token)
	// The URL is set before the server starts: handlers read it, and
	// setting it after (as NewServer would have it) is a data race.
	o.srv = httptest.NewUnstartedServer(mux)
	o.URL = "http://" + o.srv.Listener.Addr().String()
	o.srv.Start()
	return o, nil
}

// StartOIDCIssuerStandIn starts an issuer stopped when t ends.
func StartOIDCIssuerStandIn(t testing.TB) *OIDCIssuerStandIn {
	t.Helper()
	o, err := NewOIDCIssuerStandIn()
	if err != nil {
		t.Fatalf("start the OIDC issuer stand-in: %v", err)
	}
	t.Cleanup(o.Close)
	return o
}

// Close stops the issuer.
func (o *OIDCIssuerStandIn) Close() { o.srv.Close() }

// ConfigURL is the discovery document's URL, for MinIO's
// MINIO_IDENTITY_OPENID_CONFIG_URL.
func (o *OIDCIssuerStandIn) ConfigURL() string {
	return o.URL + "/.well-known/openid-configuration"
}

// Endpoint registers a token request endpoint minting tokens shaped by opts.
func (o *OIDCIssuerStandIn) Endpoint(opts TokenOptions) *TokenEndpoint {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq++
	id := fmt.Sprintf("%d", o.seq)
	e := &TokenEndpoint{
		URL:          o.URL + "/token/" + id + "?api-version=2.0",
		RequestToken: "request-token-" + id + "-" + randomHex(8),
		opts:         opts,
		issuer:       o,
	}
	o.endpoints[id] = e
	return e
}

// Getenv returns a getenv that answers the two variables the runner sets
// for a job with `permissions: id-token: write`, and env for the others.
func (e *TokenEndpoint) Getenv(env map[string]string) func(string) string {
	return func(k string) string {
		switch k {
		case "ACTIONS_ID_TOKEN_REQUEST_URL":
			return e.URL
		case "ACTIONS_ID_TOKEN_REQUEST_TOKEN":
			return e.RequestToken
		}
		return env[k]
	}
}

// Tokens returns the tokens minted so far, oldest first.
func (e *TokenEndpoint) Tokens() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.tokens...)
}

func (o *OIDCIssuerStandIn) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{
		"issuer":                                o.URL,
		"jwks_uri":                              o.URL + "/.well-known/jwks",
		"subject_types_supported":               []string{"public", "pairwise"},
		"response_types_supported":              []string{"id_token"},
		"claims_supported":                      []string{"sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "repository", "repository_owner", "run_id", "sha", "actor"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid"},
	})
}

func (o *OIDCIssuerStandIn) jwks(w http.ResponseWriter, r *http.Request) {
	pub := o.key.PublicKey
	writeJSON(w, map[string]any{"keys": []map[string]string{{
		"kty": "RSA",
		"use": "sig",
		"alg": "RS256",
		"kid": o.kid,
		"n":   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// token answers like the runner: a bearer request token, an optional
// audience query parameter, {"value": JWT}.
func (o *OIDCIssuerStandIn) token(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	e := o.endpoints[r.PathValue("id")]
	o.mu.Unlock()
	if e == nil {
		http.Error(w, `{"message":"unknown token endpoint"}`, http.StatusNotFound)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+e.RequestToken {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	if r.URL.Query().Get("api-version") != "2.0" {
		http.Error(w, `{"message":"api-version lost: the audience was not added to the existing query"}`, http.StatusBadRequest)
		return
	}
	aud := r.URL.Query().Get("audience")
	if aud == "" {
		aud = "https://github.com/acme"
	}
	tok, err := o.Mint(e.opts, aud)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	e.mu.Lock()
	e.tokens = append(e.tokens, tok)
	e.mu.Unlock()
	writeJSON(w, map[string]string{"value": tok})
}

// Mint signs a token with GitHub's claims for audience aud (unless opts
// override it).
func (o *OIDCIssuerStandIn) Mint(opts TokenOptions, aud string) (string, error) {
	now := time.Now()
	life := opts.Lifetime
	if life == 0 {
		life = 5 * time.Minute
	}
	iat := now
	if opts.Expired {
		iat = now.Add(-life - time.Minute)
	}
	if opts.Audience != "" {
		aud = opts.Audience
	}
	sub := opts.Subject
	if sub == "" {
		sub = "repo:acme/widgets:ref:refs/heads/main"
	}
	claims := map[string]any{
		"iss":                   o.URL,
		"sub":                   sub,
		"aud":                   aud,
		"jti":                   randomHex(16),
		"iat":                   iat.Unix(),
		"nbf":                   iat.Add(-5 * time.Second).Unix(),
		"exp":                   iat.Add(life).Unix(),
		"repository":            "acme/widgets",
		"repository_owner":      "acme",
		"repository_id":         "123456",
		"ref":                   "refs/heads/main",
		"ref_type":              "branch",
		"sha":                   "0123456789abcdef0123456789abcdef01234567",
		"event_name":            "push",
		"workflow_ref":          "acme/widgets/.github/workflows/publish.yml@refs/heads/main",
		"job_workflow_ref":      "acme/widgets/.github/workflows/publish.yml@refs/heads/main",
		"run_id":                "4242",
		"run_attempt":           "1",
		"actor":                 "octocat",
		"runner_environment":    "github-hosted",
		"repository_visibility": "private",
	}
	for k, v := range opts.Claims {
		claims[k] = v
	}
	header := map[string]string{"alg": "RS256", "typ": "JWT", "kid": o.kid}
	hb, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, o.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(hex.EncodeToString(b))
}
