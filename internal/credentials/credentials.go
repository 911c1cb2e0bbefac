// Package credentials turns a GitHub Actions OIDC token into AWS
// credentials: the job asks the runner for a token
// (ACTIONS_ID_TOKEN_REQUEST_URL, which needs `permissions: id-token:
// write`), exchanges it with STS AssumeRoleWithWebIdentity for short-lived
// keys of an IAM role, and does it again, with a fresh token, whenever the
// keys near their expiry.
//
// Nothing is fetched until the first signed request: the provider is built
// before the builds (so a missing permission fails in a second) but a token
// only exists once there is something to upload. GitHub's tokens live
// minutes, so one is never kept for later.
package credentials

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/sethvargo/go-githubactions"
)

// Config configures the GitHub OIDC → STS provider. RoleARN and Getenv are
// required.
type Config struct {
	// RoleARN is the IAM role to assume (the role-to-assume input).
	RoleARN string
	// SessionName names the role session (role-session-name); default
	// GitHubActions, as aws-actions/configure-aws-credentials names it.
	SessionName string
	// Audience is the token's aud (audience); default
	// sts.amazonaws.com.
	Audience string
	// Region is STS's region (aws-region); default us-east-1.
	Region string
	// STSEndpoint is STS's URL for S3-compatible servers such as MinIO
	// (sts-endpoint); "" means AWS's regional endpoint.
	STSEndpoint string
	// Duration of the credentials; default one hour, which every IAM role
	// allows. Left to STS, they would die with the few-minute GitHub token
	// on some servers.
	Duration time.Duration
	// ExpiryWindow is how long before expiry new credentials are fetched;
	// default 5 minutes.
	ExpiryWindow time.Duration

	// Getenv reads ACTIONS_ID_TOKEN_REQUEST_URL and
	// ACTIONS_ID_TOKEN_REQUEST_TOKEN.
	Getenv func(string) string
	// HTTPClient carries the token request and STS calls; default
	// http.DefaultClient with a timeout per request.
	HTTPClient *http.Client
	// Retryer retries STS calls; nil means the AWS SDK's standard one.
	// store.Retryer retries only what a retry can fix.
	Retryer aws.Retryer
	// Mask is called with each secret as it is obtained (the OIDC token,
	// the access key, the secret key, the session token) before anything
	// could print it; in Actions it emits ::add-mask::.
	Mask func(string)
	// Logf, when set, is told when credentials are fetched. Never secrets.
	Logf func(format string, args ...any)
}

// requestTimeout bounds one token request and one STS call.
const requestTimeout = 30 * time.Second

// New returns the provider, cached and refreshed before expiry. It fails at
// once, without any request, when the job cannot get a token.
func New(cfg Config) (*aws.CredentialsCache, error) {
	if cfg.RoleARN == "" {
		return nil, errors.New("credentials: no role ARN")
	}
	if cfg.Getenv == nil {
		return nil, errors.New("credentials: no Getenv")
	}
	if cfg.SessionName == "" {
		cfg.SessionName = "GitHubActions"
	}
	if cfg.Audience == "" {
		cfg.Audience = "sts.amazonaws.com"
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Duration == 0 {
		cfg.Duration = time.Hour
	}
	if cfg.ExpiryWindow == 0 {
		cfg.ExpiryWindow = 5 * time.Minute
	}
	if cfg.Mask == nil {
		cfg.Mask = func(string) {}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: requestTimeout}
	}
	if err := checkTokenAccess(cfg); err != nil {
		return nil, err
	}
	stsOpts := sts.Options{Region: cfg.Region, HTTPClient: cfg.HTTPClient, Retryer: cfg.Retryer}
	if cfg.STSEndpoint != "" {
		stsOpts.BaseEndpoint = aws.String(cfg.STSEndpoint)
	}
	p := &provider{
		cfg: cfg,
		sts: sts.New(stsOpts),
		gh: githubactions.New(
			githubactions.WithGetenv(cfg.Getenv),
			githubactions.WithHTTPClient(cfg.HTTPClient),
		),
	}
	return aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = cfg.ExpiryWindow
	}), nil
}

// MissingPermissionError is returned when the job has no OIDC token to ask
// for: the workflow lacks `id-token: write`, or the run is a pull request
// from a fork.
type MissingPermissionError struct {
	RoleARN string
	Missing string // the variable that is not set
	// Fix says what to do, in the words of where the run is; the edge
	// sets it (outside Actions there is no token to ask for at all).
	Fix string
}

// permissionsFix is what a workflow's job needs to ask for a token.
const permissionsFix = `Let the job request one: add to the job (or the workflow)

    permissions:
      id-token: write   # to exchange the job's OIDC token for AWS credentials
      contents: read    # to check out the repository

Pull requests from forks never get a token: publish from push or tag events.`

func (e *MissingPermissionError) Error() string {
	return fmt.Sprintf("the role %s is assumed with the job's OIDC token, but this job cannot get one from GitHub (%s is not set).\n%s", e.RoleARN, e.Missing, cmp.Or(e.Fix, permissionsFix))
}

// CredentialsError marks errors that already say what to do.
func (e *MissingPermissionError) CredentialsError() bool { return true }

func checkTokenAccess(cfg Config) error {
	for _, v := range []string{"ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"} {
		if strings.TrimSpace(cfg.Getenv(v)) == "" {
			return &MissingPermissionError{RoleARN: cfg.RoleARN, Missing: v}
		}
	}
	return nil
}

// TokenError is a failure to get the OIDC token from the runner.
type TokenError struct {
	Audience string
	Err      error
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("get an OIDC token (audience %q) from GitHub: %v", e.Audience, e.Err)
}

func (e *TokenError) Unwrap() error { return e.Err }

// CredentialsError marks errors that already say what to do.
func (e *TokenError) CredentialsError() bool { return true }

// RefusedError is STS refusing the token: the role's trust policy does not
// match the token, the token expired, or the role does not exist.
type RefusedError struct {
	RoleARN  string
	Audience string // the token's aud
	Subject  string // the token's sub, which trust policies usually pin
	Issuer   string
	Expires  time.Time
	Code     string // STS's error code
	Message  string
	Err      error
	// AudienceName and RoleName say where the audience and the role were
	// given, in the words of where the run is; the edge sets them.
	AudienceName, RoleName string
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "STS refused to let this job assume the role %s", e.RoleARN)
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", strings.TrimSuffix(e.Message, "."))
	}
	fmt.Fprintf(&b, ".\nThe job's OIDC token had sub %q and aud %q", e.Subject, e.Audience)
	if e.Issuer != "" {
		fmt.Fprintf(&b, ", from issuer %s", e.Issuer)
	}
	if !e.Expires.IsZero() {
		fmt.Fprintf(&b, ", expiring %s", e.Expires.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(&b, ".\nThe role's trust policy must allow sts:AssumeRoleWithWebIdentity for this sub (token.actions.githubusercontent.com:sub, case-sensitive) and this aud (%s); check also that %s names an existing role.",
		cmp.Or(e.AudienceName, "the audience the token was asked for"), cmp.Or(e.RoleName, "the role ARN"))
	return b.String()
}

func (e *RefusedError) Unwrap() error { return e.Err }

// CredentialsError marks errors that already say what to do.
func (e *RefusedError) CredentialsError() bool { return true }

type provider struct {
	cfg Config
	sts *sts.Client
	gh  *githubactions.Action

	mu sync.Mutex // one exchange at a time; the cache serializes too
}

// Retrieve asks GitHub for a new token and exchanges it. The cache calls it
// on the first request and whenever the credentials near expiry.
func (p *provider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := checkTokenAccess(p.cfg); err != nil {
		return aws.Credentials{}, err
	}
	tctx, cancel := context.WithTimeout(ctx, requestTimeout)
	token, err := p.gh.GetIDToken(tctx, p.cfg.Audience)
	cancel()
	if err == nil && strings.Count(token, ".") != 2 {
		err = errors.New("the answer holds no JWT")
	}
	if err != nil {
		return aws.Credentials{}, &TokenError{Audience: p.cfg.Audience, Err: err}
	}
	p.cfg.Mask(token)
	claims := decodeClaims(token)

	web := stscreds.NewWebIdentityRoleProvider(p.sts, p.cfg.RoleARN, staticToken(token), func(o *stscreds.WebIdentityRoleOptions) {
		o.RoleSessionName = p.cfg.SessionName
		o.Duration = p.cfg.Duration
	})
	creds, err := web.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, refused(p.cfg, claims, err)
	}
	for _, s := range []string{creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken} {
		if s != "" {
			p.cfg.Mask(s)
		}
	}
	if p.cfg.Logf != nil {
		p.cfg.Logf("assumed role %s with the OIDC token of %s; the credentials expire at %s", p.cfg.RoleARN, claims.Subject, creds.Expires.UTC().Format(time.RFC3339))
	}
	return creds, nil
}

// refused explains an STS failure: with what the token claimed when STS
// answered no, with where STS is when it could not be asked.
func refused(cfg Config, c claims, err error) error {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() >= 500 {
		where := "AWS STS in " + cfg.Region
		if cfg.STSEndpoint != "" {
			where = cfg.STSEndpoint
		}
		return &ExchangeError{RoleARN: cfg.RoleARN, Where: where, Err: err}
	}
	e := &RefusedError{RoleARN: cfg.RoleARN, Audience: c.Audience, Subject: c.Subject, Issuer: c.Issuer, Expires: c.Expires, Err: err}
	var api smithy.APIError
	if errors.As(err, &api) {
		e.Code, e.Message = api.ErrorCode(), api.ErrorMessage()
	}
	return e
}

// ExchangeError is a failure to reach STS, or STS failing.
type ExchangeError struct {
	RoleARN string
	Where   string
	Err     error
	// Check names what to check, in the words of where the run is; the
	// edge sets it.
	Check string
}

func (e *ExchangeError) Error() string {
	return fmt.Sprintf("exchange the OIDC token for the credentials of role %s at %s (check %s): %v", e.RoleARN, e.Where, cmp.Or(e.Check, "the STS endpoint and the region"), e.Err)
}

func (e *ExchangeError) Unwrap() error { return e.Err }

// CredentialsError marks errors that already say what to do.
func (e *ExchangeError) CredentialsError() bool { return true }

type staticToken string

func (t staticToken) GetIdentityToken() ([]byte, error) { return []byte(t), nil }
