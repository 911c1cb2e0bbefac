package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/flox-publish/publish-action/internal/credentials"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// secrets records what the credentials provider masked, and every line
// logged, to check that no secret ever reaches a log or an error.
type secrets struct {
	mu     sync.Mutex
	masked []string
	logs   []string
}

func (s *secrets) mask(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.masked = append(s.masked, v)
}

func (s *secrets) logf(format string, a ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs = append(s.logs, fmt.Sprintf(format, a...))
}

// assertNoLeak fails when a masked value appears in a log line or in texts.
func (s *secrets) assertNoLeak(t *testing.T, texts ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.masked {
		for _, txt := range append(slices.Clone(s.logs), texts...) {
			if strings.Contains(txt, v) {
				t.Errorf("a secret (%d chars, masked) appears in %q", len(v), txt)
			}
		}
	}
}

type oidcSetup struct {
	endpoint *testenv.TokenEndpoint
	secrets  *secrets
	creds    aws.CredentialsProvider
	store    *S3
}

// openOIDC opens bucket[/prefix] on m with credentials from the OIDC token
// exchange, as the action does with role-to-assume.
func openOIDC(t *testing.T, m *testenv.MinIO, issuer *testenv.OIDCIssuerStandIn, bucket, prefix string, tok testenv.TokenOptions, cfg credentials.Config) (*oidcSetup, error) {
	t.Helper()
	o := &oidcSetup{endpoint: issuer.Endpoint(tok), secrets: &secrets{}}
	o.secrets.masked = append(o.secrets.masked, o.endpoint.RequestToken, m.RootPassword)
	if cfg.RoleARN == "" {
		cfg.RoleARN = m.RoleARN
	}
	if cfg.Getenv == nil {
		cfg.Getenv = o.endpoint.Getenv(nil)
	}
	cfg.STSEndpoint = m.Endpoint
	cfg.Mask = o.secrets.mask
	cfg.Logf = o.secrets.logf
	creds, err := credentials.New(cfg)
	if err != nil {
		return o, err
	}
	o.creds = creds
	raw := "s3://" + bucket
	if prefix != "" {
		raw += "/" + prefix
	}
	u, _ := url.Parse(raw + "?endpoint=" + m.Endpoint)
	o.store, err = openS3URL(context.Background(), u, Options{
		Jobs: 2, PartSize: 5 << 20, Credentials: creds, Principal: "role " + cfg.RoleARN, Logf: o.secrets.logf,
	})
	return o, err
}

func TestOIDCUploadEndToEnd(t *testing.T) {
	t.Parallel()
	m, issuer := minio.Get(t)
	bucket := m.CreateBucket(t)
	o, err := openOIDC(t, m, issuer, bucket, "acme/cache", testenv.TokenOptions{}, credentials.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(o.endpoint.Tokens()); n != 0 {
		t.Fatalf("%d OIDC tokens requested before the first upload", n)
	}
	ctx := context.Background()
	if _, err := o.store.Put(ctx, "nix-cache-info", strings.NewReader("StoreDir: /nix/store\n"), "text/x-nix-cache-info"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.store.Put(ctx, "nar/big.nar.zst", newGenReader(5, 12<<20), "application/x-nix-nar"); err != nil {
		t.Fatal(err)
	}
	if ok, err := o.store.Exists(ctx, "nar/big.nar.zst"); !ok || err != nil {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
	tokens := o.endpoint.Tokens()
	if len(tokens) != 1 {
		t.Errorf("%d tokens requested for one session, want 1", len(tokens))
	}
	want := []string{"acme/cache/nar/big.nar.zst", "acme/cache/nix-cache-info"}
	if got := listKeys(t, m, bucket); !slices.Equal(got, want) {
		t.Errorf("keys %q, want %q", got, want)
	}

	// The token and all three parts of the credentials were masked.
	c, err := o.creds.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o.secrets.mu.Lock()
	for _, v := range []string{tokens[0], c.AccessKeyID, c.SecretAccessKey, c.SessionToken} {
		if !slices.Contains(o.secrets.masked, v) {
			t.Errorf("a secret of %d chars was not masked", len(v))
		}
	}
	if len(o.secrets.logs) == 0 || !strings.Contains(o.secrets.logs[0], "assumed role "+m.RoleARN) {
		t.Errorf("logs: %q", o.secrets.logs)
	}
	o.secrets.mu.Unlock()
	if time.Until(c.Expires) < 50*time.Minute {
		t.Errorf("credentials expire at %s: want the one-hour session, not the token's few minutes", c.Expires)
	}
	o.secrets.assertNoLeak(t)
}

func TestOIDCRefreshesCredentialsNearExpiry(t *testing.T) {
	t.Parallel()
	m, issuer := minio.Get(t)
	bucket := m.CreateBucket(t)
	// Fifteen-minute credentials (STS's minimum) refreshed when less than
	// fifteen minutes minus two seconds remain: stale two seconds in.
	o, err := openOIDC(t, m, issuer, bucket, "", testenv.TokenOptions{}, credentials.Config{
		Duration: 15 * time.Minute, ExpiryWindow: 15*time.Minute - 2*time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(key string) {
		t.Helper()
		if _, err := o.store.Put(ctx, key, strings.NewReader(key), "text/plain"); err != nil {
			t.Fatal(err)
		}
	}
	put("a")
	put("b")
	if n := len(o.endpoint.Tokens()); n != 1 {
		t.Fatalf("%d tokens for fresh credentials, want 1 (cached)", n)
	}
	time.Sleep(2200 * time.Millisecond)
	put("c")
	tokens := o.endpoint.Tokens()
	if len(tokens) != 2 {
		t.Fatalf("%d tokens after the credentials neared expiry, want 2", len(tokens))
	}
	if tokens[0] == tokens[1] {
		t.Error("the refresh reused the old token")
	}
	o.secrets.assertNoLeak(t)
}

func TestOIDCRefusals(t *testing.T) {
	t.Parallel()
	m, issuer := minio.Get(t)
	bucket := m.CreateBucket(t)
	const sub = "repo:acme/widgets:ref:refs/tags/v1.2.0"
	tests := []struct {
		name string
		tok  testenv.TokenOptions
		role string
		want []string
	}{
		{"wrong audience", testenv.TokenOptions{Subject: sub, Audience: "https://github.com/acme"}, "",
			[]string{`aud "https://github.com/acme"`, `sub "` + sub + `"`, "must match configured OpenID Client ID", "aud (the audience the token was asked for)"}},
		{"expired token", testenv.TokenOptions{Subject: sub, Expired: true}, "",
			[]string{"Token is expired", `sub "` + sub + `"`, `aud "sts.amazonaws.com"`, "expiring "}},
		{"unknown role", testenv.TokenOptions{Subject: sub}, "arn:minio:iam:::role/no-such-role",
			[]string{"arn:minio:iam:::role/no-such-role", "is not defined", `sub "` + sub + `"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := openOIDC(t, m, issuer, bucket, "", tt.tok, credentials.Config{RoleARN: tt.role})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = o.store.Put(context.Background(), "abc.narinfo", strings.NewReader("x"), "text/x-nix-narinfo")
			if err == nil {
				t.Fatal("Put succeeded")
			}
			role := tt.role
			if role == "" {
				role = m.RoleARN
			}
			var refused *credentials.RefusedError
			if !errors.As(err, &refused) {
				t.Errorf("error %v (%T) is not a RefusedError", err, err)
			}
			for _, w := range append(tt.want, "STS refused to let this job assume the role "+role, "s3://"+bucket+"/abc.narinfo") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			// Retried, a refusal would wait out the store's back-off
			// (8 tries from 250 ms, doubling, each wait at least half its
			// step): 15 s at the least. The bound leaves room for a
			// loaded machine, where 4 s has been seen without a retry.
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s: a refusal must not be retried", d)
			}
			o.secrets.assertNoLeak(t, err.Error())
			if ok, _ := openMinIO(t, m, bucket, "", Options{}).Exists(context.Background(), "abc.narinfo"); ok {
				t.Error("the narinfo was written anyway")
			}
		})
	}
}

func TestOIDCMissingPermission(t *testing.T) {
	t.Parallel()
	m, issuer := minio.Get(t)
	ep := issuer.Endpoint(testenv.TokenOptions{})
	for _, missing := range []string{"ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"} {
		getenv := func(k string) string {
			if k == missing {
				return ""
			}
			return ep.Getenv(nil)(k)
		}
		_, err := openOIDC(t, m, issuer, "any-bucket", "", testenv.TokenOptions{}, credentials.Config{Getenv: getenv})
		var mp *credentials.MissingPermissionError
		if !errors.As(err, &mp) {
			t.Fatalf("without %s: %v, want a MissingPermissionError", missing, err)
		}
		for _, w := range []string{missing + " is not set", "permissions:", "id-token: write", m.RoleARN} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not contain %q", err, w)
			}
		}
	}
	if n := len(ep.Tokens()); n != 0 {
		t.Errorf("%d tokens requested", n)
	}
}

func TestOIDCBadRequestToken(t *testing.T) {
	t.Parallel()
	m, issuer := minio.Get(t)
	ep := issuer.Endpoint(testenv.TokenOptions{})
	getenv := func(k string) string {
		if k == "ACTIONS_ID_TOKEN_REQUEST_TOKEN" {
			return "a-stale-request-token"
		}
		return ep.Getenv(nil)(k)
	}
	o, err := openOIDC(t, m, issuer, m.CreateBucket(t), "", testenv.TokenOptions{}, credentials.Config{Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	_, err = o.store.Put(context.Background(), "x", strings.NewReader("x"), "text/plain")
	var te *credentials.TokenError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), `get an OIDC token (audience "sts.amazonaws.com") from GitHub`) || !strings.Contains(err.Error(), "Bad credentials") {
		t.Fatalf("error %v, want a TokenError saying what GitHub answered", err)
	}
	if strings.Contains(err.Error(), "a-stale-request-token") {
		t.Errorf("the request token leaked: %v", err)
	}
}

// MinIO enforces no Deny in bucket policies for authenticated callers
// (checked: such a policy changes nothing), so the refusal comes from the
// role's own policy, readonly. To the action it is the same answer AWS
// gives under a denying bucket policy: 403 AccessDenied on PutObject.
func TestOIDCRoleDeniedByPolicyNamesTheBucket(t *testing.T) {
	t.Parallel()
	m, issuer := minio.Get(t)
	bucket := m.CreateBucket(t)
	role := m.RoleARNs[1]
	o, err := openOIDC(t, m, issuer, bucket, "cache", testenv.TokenOptions{}, credentials.Config{RoleARN: role, Audience: readonlyAudience})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if ok, err := o.store.Exists(ctx, "abc.narinfo"); ok || err != nil {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
	_, err = o.store.Put(ctx, "nar/abc.nar.zst", newGenReader(6, 7<<20), "application/x-nix-nar")
	if err == nil {
		t.Fatal("a read-only role could upload")
	}
	for _, w := range []string{
		"upload s3://" + bucket + "/cache/nar/abc.nar.zst", "AccessDenied", "HTTP 403",
		`The bucket "` + bucket + `" refused the write by the credentials of role ` + role,
		"s3:PutObject on arn:aws:s3:::" + bucket + "/cache/*",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	o.secrets.assertNoLeak(t, err.Error())
	if keys := listKeys(t, m, bucket); len(keys) != 0 {
		t.Errorf("objects left: %q", keys)
	}
	if p := pendingUploads(t, m, bucket); p != 0 {
		t.Errorf("%d multipart uploads left", p)
	}
}
