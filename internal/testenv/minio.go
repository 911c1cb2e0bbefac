package testenv

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// MinIOVersion is the MinIO the tests run, as scripts/install-minio.sh
// installs it.
const MinIOVersion = "v0.0.0-20260212201848-7aac2a2c5b7c"

// MinIOOptions configure a MinIO server.
type MinIOOptions struct {
	// OpenIDConfigURL, when set, makes MinIO trust that OpenID provider for
	// STS AssumeRoleWithWebIdentity (see OIDCIssuerStandIn.ConfigURL).
	OpenIDConfigURL string
	// Roles are the roles tokens of that provider can assume, one per
	// client ID (MinIO's role ARN derives from it; the token's aud must
	// name it). Default: one role, client ID sts.amazonaws.com, policy
	// readwrite.
	Roles []OpenIDRole
	// Region, when set, is the server's region (MINIO_REGION); requests
	// signed for another region are refused. MinIO then puts the region
	// in its role ARNs.
	Region string
}

// OpenIDRole is a role of the OpenID provider.
type OpenIDRole struct {
	ClientID string
	// Policy is a MinIO policy name: readwrite, readonly, writeonly…
	Policy string
}

// MinIO is a running MinIO server on a loopback port.
type MinIO struct {
	// Endpoint is http://127.0.0.1:PORT; S3 and STS both answer there.
	Endpoint     string
	RootUser     string
	RootPassword string
	Region       string
	// RoleARN is the first role of the OpenID provider, when one is
	// configured; RoleARNs has them all, in MinIOOptions.Roles's order.
	RoleARN  string
	RoleARNs []string

	process
}

// MinIOBinary finds the minio binary: $MINIO_BIN, then PATH, then the tools
// folder the README's test command installs it into.
func MinIOBinary() (string, error) {
	return toolBinary("MINIO_BIN", "minio", func(p string) error {
		return fmt.Errorf("minio is not installed (looked at $MINIO_BIN, PATH and %s): run the README's test command (bash scripts/test.sh), or scripts/install-minio.sh, which installs github.com/minio/minio@%s", p, MinIOVersion)
	})
}

// requireMinIO skips or fails (see Missing) a test that needs MinIO where
// there is none, and skips it with -short.
func requireMinIO(t testing.TB) {
	t.Helper()
	Slow(t)
	if _, err := MinIOBinary(); err != nil {
		Missing(t, "%v", err)
	}
}

// StartMinIO starts a MinIO server stopped when t ends. A missing binary
// fails the test under CI=true and skips it elsewhere; -short skips it.
func StartMinIO(t testing.TB, opts MinIOOptions) *MinIO {
	t.Helper()
	requireMinIO(t)
	m, err := LaunchMinIO(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m
}

// LaunchMinIO starts a MinIO server; the caller must Stop it. It is for a
// TestMain that shares one server between a package's tests.
func LaunchMinIO(opts MinIOOptions) (*MinIO, error) {
	bin, err := MinIOBinary()
	if err != nil {
		return nil, err
	}
	return launchRetrying(func() (*MinIO, error) { return launchMinIO(bin, opts) })
}

func launchMinIO(bin string, opts MinIOOptions) (*MinIO, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "minio-test-")
	if err != nil {
		return nil, err
	}
	m := &MinIO{
		Endpoint:     fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		RootUser:     "root-" + randomHex(4),
		RootPassword: randomHex(16),
		Region:       "us-east-1",
	}
	env := []string{
		"HOME=" + dir,
		"PATH=/usr/bin:/bin",
		"MINIO_ROOT_USER=" + m.RootUser,
		"MINIO_ROOT_PASSWORD=" + m.RootPassword,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	}
	if opts.Region != "" {
		m.Region = opts.Region
		env = append(env, "MINIO_REGION="+opts.Region)
	}
	if opts.OpenIDConfigURL != "" {
		roles := opts.Roles
		if len(roles) == 0 {
			roles = []OpenIDRole{{ClientID: "sts.amazonaws.com", Policy: "readwrite"}}
		}
		for i, r := range roles {
			// The first provider is MinIO's default one; the others need
			// a name of their own.
			suffix := ""
			if i > 0 {
				suffix = fmt.Sprintf("_ROLE%d", i)
			}
			env = append(env,
				"MINIO_IDENTITY_OPENID_CONFIG_URL"+suffix+"="+opts.OpenIDConfigURL,
				"MINIO_IDENTITY_OPENID_CLIENT_ID"+suffix+"="+r.ClientID,
				"MINIO_IDENTITY_OPENID_ROLE_POLICY"+suffix+"="+r.Policy,
			)
			sum := sha1.Sum([]byte(r.ClientID))
			region := ""
			if opts.Region != "" {
				region = opts.Region
			}
			m.RoleARNs = append(m.RoleARNs, "arn:minio:iam:"+region+"::role/"+base64.RawURLEncoding.EncodeToString(sum[:]))
		}
		m.RoleARN = m.RoleARNs[0]
	}
	cmd := exec.Command(bin, "server", filepath.Join(dir, "data"),
		"--address", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--certs-dir", filepath.Join(dir, "certs"))
	cmd.Env = env
	if err := m.start("minio", cmd, dir); err != nil {
		return nil, err
	}

	health := "/minio/health/live"
	if opts.OpenIDConfigURL != "" {
		// STS only works once MinIO has read the provider's configuration.
		health = "/minio/health/cluster"
	}
	if err := m.waitHealthy(health, 30*time.Second); err != nil {
		m.Stop()
		return nil, err
	}
	return m, nil
}

func (m *MinIO) waitHealthy(path string, limit time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if m.exited() {
			return fmt.Errorf("minio exited at start:\n%s", m.log.String())
		}
		resp, err := client.Get(m.Endpoint + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("minio not healthy at %s%s after %s:\n%s", m.Endpoint, path, limit, m.log.String())
}

// RootCredentials are the server's root user's.
func (m *MinIO) RootCredentials() aws.CredentialsProvider {
	return awscreds.NewStaticCredentialsProvider(m.RootUser, m.RootPassword, "")
}

// Client is an S3 client acting as the root user.
func (m *MinIO) Client() *s3.Client {
	return s3Client(m.Region, m.Endpoint, m.RootCredentials())
}

// CreateBucket creates a bucket named after the test (made unique), and
// returns its name.
func (m *MinIO) CreateBucket(t testing.TB) string {
	t.Helper()
	name := bucketName(t.Name())
	if _, err := m.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// SetBucketPolicy puts a bucket policy (JSON).
func (m *MinIO) SetBucketPolicy(t testing.TB, bucket, policy string) {
	t.Helper()
	_, err := m.Client().PutBucketPolicy(context.Background(), &s3.PutBucketPolicyInput{Bucket: &bucket, Policy: &policy})
	if err != nil {
		t.Fatalf("put the policy of bucket %s: %v", bucket, err)
	}
}

// AllowAnonymousRead lets anyone GET the bucket's objects, so real Nix can
// read it as an http:// binary cache at Endpoint/BUCKET.
func (m *MinIO) AllowAnonymousRead(t testing.TB, bucket string) {
	t.Helper()
	m.SetBucketPolicy(t, bucket, fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/*"]}]}`, bucket))
}

func bucketName(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 40 {
		s = s[len(s)-40:]
	}
	return strings.Trim(s, "-") + "-" + randomHex(4)
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// SharedMinIO is one MinIO server, trusting one OIDC issuer stand-in, for
// all the tests of a package: started by the first test that asks, stopped
// by the package's TestMain. Starting a server per test would cost half a
// second and 130 MB each.
type SharedMinIO struct {
	// Roles are the OpenID roles to define (see MinIOOptions.Roles).
	Roles []OpenIDRole

	once   sync.Once
	issuer *OIDCIssuerStandIn
	minio  *MinIO
	err    error
}

// Get returns the server and its issuer, starting them on first use. A
// server that cannot start fails the test.
func (s *SharedMinIO) Get(t testing.TB) (*MinIO, *OIDCIssuerStandIn) {
	t.Helper()
	requireMinIO(t)
	s.once.Do(func() {
		s.issuer, s.err = NewOIDCIssuerStandIn()
		if s.err != nil {
			return
		}
		s.minio, s.err = LaunchMinIO(MinIOOptions{OpenIDConfigURL: s.issuer.ConfigURL(), Roles: s.Roles})
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.minio, s.issuer
}

// Stop stops what Get started; TestMain calls it after m.Run.
func (s *SharedMinIO) Stop() {
	if s.minio != nil {
		s.minio.Stop()
	}
	if s.issuer != nil {
		s.issuer.Close()
	}
}
