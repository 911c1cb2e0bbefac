package credentials

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/flox-publish/publish-action/internal/testenv"
)

func TestDecodeClaims(t *testing.T) {
	t.Parallel()
	enc := func(payload string) string {
		return "e30." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
	}
	tests := []struct {
		token string
		want  claims
	}{
		{enc(`{"sub":"repo:a/b:ref:refs/heads/main","aud":"sts.amazonaws.com","iss":"https://token.actions.githubusercontent.com","exp":1700000000}`),
			claims{Subject: "repo:a/b:ref:refs/heads/main", Audience: "sts.amazonaws.com", Issuer: "https://token.actions.githubusercontent.com", Expires: time.Unix(1700000000, 0)}},
		{enc(`{"sub":"s","aud":["a","b"]}`), claims{Subject: "s", Audience: "a,b"}},
		{"not-a-jwt", claims{}},
		{"a.!!!.c", claims{}},
		{enc(`[1,2]`), claims{}},
	}
	for _, tt := range tests {
		if got := decodeClaims(tt.token); got != tt.want {
			t.Errorf("decodeClaims(%q) = %+v, want %+v", tt.token, got, tt.want)
		}
	}
}

// fakeSTS answers AssumeRoleWithWebIdentity like AWS: credentials, or the
// refusal AWS gives when a trust policy does not match.
type fakeSTS struct {
	mu     sync.Mutex
	calls  []map[string]string
	refuse bool
	status int // answer with this status instead, when set
}

func (f *fakeSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	call := map[string]string{}
	for k := range r.PostForm {
		call[k] = r.PostForm.Get(k)
	}
	f.mu.Lock()
	f.calls = append(f.calls, call)
	n := len(f.calls)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	switch {
	case f.status != 0:
		w.WriteHeader(f.status)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>try later</Message></Error><RequestId>r</RequestId></ErrorResponse>`)
	case f.refuse:
		w.WriteHeader(403)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error><RequestId>r</RequestId></ErrorResponse>`)
	default:
		fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>
<Credentials><AccessKeyId>ASIAFAKE%d</AccessKeyId><SecretAccessKey>secret-%d</SecretAccessKey><SessionToken>session-%d</SessionToken><Expiration>%s</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/publish/flox-publish</Arn><AssumedRoleId>AROA:flox-publish</AssumedRoleId></AssumedRoleUser>
</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`,
			n, n, n, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}
}

const role = "arn:aws:iam::123456789012:role/publish"

func TestRetrieveExchangesAFreshTokenEachTime(t *testing.T) {
	t.Parallel()
	issuer := testenv.StartOIDCIssuerStandIn(t)
	ep := issuer.Endpoint(testenv.TokenOptions{Subject: "repo:acme/widgets:ref:refs/tags/v1.0.0"})
	sts := &fakeSTS{}
	srv := httptest.NewServer(sts)
	defer srv.Close()
	var masked []string
	creds, err := New(Config{
		RoleARN: role, SessionName: "run-42", Audience: "sts.amazonaws.com", STSEndpoint: srv.URL,
		Getenv: ep.Getenv(nil), Mask: func(s string) { masked = append(masked, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c1, err := creds.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := creds.Retrieve(ctx); err != nil { // cached
		t.Fatal(err)
	}
	creds.Invalidate()
	c2, err := creds.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c1.AccessKeyID == c2.AccessKeyID {
		t.Error("Invalidate did not fetch new credentials")
	}
	tokens := ep.Tokens()
	if len(tokens) != 2 || tokens[0] == tokens[1] {
		t.Fatalf("tokens %d (distinct: %v), want two distinct ones", len(tokens), len(tokens) == 2 && tokens[0] != tokens[1])
	}
	if len(sts.calls) != 2 {
		t.Fatalf("%d STS calls, want 2", len(sts.calls))
	}
	for i, call := range sts.calls {
		want := map[string]string{
			"Action": "AssumeRoleWithWebIdentity", "RoleArn": role, "RoleSessionName": "run-42",
			"DurationSeconds": "3600", "WebIdentityToken": tokens[i],
		}
		for k, v := range want {
			if call[k] != v {
				t.Errorf("STS call %d: %s = %q, want %q", i, k, call[k], v)
			}
		}
	}
	for _, s := range []string{tokens[0], tokens[1], c1.AccessKeyID, c1.SecretAccessKey, c1.SessionToken, c2.SecretAccessKey, c2.SessionToken} {
		found := false
		for _, m := range masked {
			found = found || m == s
		}
		if !found {
			t.Errorf("a secret of %d chars was not masked", len(s))
		}
	}
}

func TestRetrieveErrors(t *testing.T) {
	t.Parallel()
	issuer := testenv.StartOIDCIssuerStandIn(t)
	const sub = "repo:acme/widgets:pull_request"
	tests := []struct {
		name string
		sts  *fakeSTS
		want []string
		as   any
	}{
		{"AWS refuses the trust policy", &fakeSTS{refuse: true},
			[]string{"STS refused to let this job assume the role " + role, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", `sub "` + sub + `"`, `aud "sts.amazonaws.com"`, "token.actions.githubusercontent.com:sub"},
			new(*RefusedError)},
		{"STS unavailable", &fakeSTS{status: 503},
			[]string{"exchange the OIDC token for the credentials of role " + role, "check the STS endpoint and the region", "ServiceUnavailable"},
			new(*ExchangeError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.sts)
			defer srv.Close()
			ep := issuer.Endpoint(testenv.TokenOptions{Subject: sub})
			creds, err := New(Config{RoleARN: role, STSEndpoint: srv.URL, Getenv: ep.Getenv(nil), Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 2
				o.MaxBackoff = 10 * time.Millisecond
			})})
			if err != nil {
				t.Fatal(err)
			}
			_, err = creds.Retrieve(context.Background())
			if err == nil {
				t.Fatal("Retrieve succeeded")
			}
			if !errors.As(err, tt.as) {
				t.Errorf("error %T, want %T", err, tt.as)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, tok := range ep.Tokens() {
				if strings.Contains(err.Error(), tok) {
					t.Error("the error shows the token")
				}
			}
		})
	}
}

func TestNewFailsFastWithoutTheIDTokenPermission(t *testing.T) {
	t.Parallel()
	_, err := New(Config{RoleARN: role, Getenv: func(string) string { return "" }})
	var mp *MissingPermissionError
	if !errors.As(err, &mp) {
		t.Fatalf("New = %v, want a MissingPermissionError", err)
	}
	for _, w := range []string{"ACTIONS_ID_TOKEN_REQUEST_URL is not set", "permissions:\n      id-token: write", role, "forks"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if _, err := New(Config{Getenv: func(string) string { return "" }}); err == nil {
		t.Error("New without a role succeeded")
	}
}
