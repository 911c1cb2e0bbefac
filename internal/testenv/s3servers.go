package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The S3 servers the tests run besides MinIO, as
// scripts/install-s3-servers.sh installs them.
const (
	// VersityGWVersion is versitygw, an S3 gateway written independently
	// of MinIO, which honours If-Match / If-None-Match.
	VersityGWVersion = "v1.8.0"
	// S3rverVersion is s3rver (npm), which ignores conditional headers,
	// as older Ceph RGW and several hosted S3-compatibles do.
	S3rverVersion = "3.7.1"
)

// S3Server is a running S3 server on a loopback port, other than MinIO.
type S3Server struct {
	// Name says which server it is, for test names and messages.
	Name      string
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Region    string

	process
}

// S3ServerSpec says how to run one S3 server.
type S3ServerSpec struct {
	Name    string
	Version string
	// Env is the variable that may name the binary.
	Env string
	// Binary is the file name on PATH and in the tools folder.
	Binary string
	// Args are the server's arguments given its data directory, its
	// address (127.0.0.1:PORT) and port, and its credentials.
	Args func(dir, addr string, port int, access, secret string) []string
	// FixedCredentials are the only credentials the server takes, when
	// it cannot be given others.
	FixedCredentials [2]string
}

// VersityGW is versitygw serving a directory (its posix backend).
var VersityGW = S3ServerSpec{
	Name: "versitygw", Version: VersityGWVersion, Env: "VERSITYGW_BIN", Binary: "versitygw",
	Args: func(dir, addr string, _ int, access, secret string) []string {
		return []string{"--access", access, "--secret", secret, "--port", addr, "posix", dir}
	},
}

// S3rver is s3rver serving a directory.
var S3rver = S3ServerSpec{
	Name: "s3rver", Version: S3rverVersion, Env: "S3RVER_BIN", Binary: "s3rver",
	Args: func(dir, _ string, port int, _, _ string) []string {
		return []string{"--directory", dir, "--address", "127.0.0.1", "--port", fmt.Sprint(port), "--silent"}
	},
	FixedCredentials: [2]string{"S3RVER", "S3RVER"},
}

// S3ServerBinary finds a server's binary: $ENV, then PATH, then the tools
// folder scripts/install-s3-servers.sh installs into.
func S3ServerBinary(spec S3ServerSpec) (string, error) {
	return toolBinary(spec.Env, spec.Binary, func(p string) error {
		return fmt.Errorf("%s %s is not installed (looked at $%s, PATH and %s): run scripts/install-s3-servers.sh", spec.Name, spec.Version, spec.Env, p)
	})
}

// StartS3Server starts the server spec describes, stopped when t ends.
// Without its binary the test fails under CI=true and is skipped with the
// reason otherwise (see Missing).
func StartS3Server(t testing.TB, spec S3ServerSpec) *S3Server {
	t.Helper()
	bin, err := S3ServerBinary(spec)
	if err != nil {
		Missing(t, "%v", err)
	}
	s, err := launchRetrying(func() (*S3Server, error) { return launchS3Server(bin, spec) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func launchS3Server(bin string, spec S3ServerSpec) (*S3Server, error) {
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", spec.Binary+"-test-")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	s := &S3Server{
		Name: spec.Name, Endpoint: "http://" + addr,
		AccessKey: "access" + randomHex(4), SecretKey: randomHex(16), Region: "us-east-1",
	}
	if spec.FixedCredentials[0] != "" {
		s.AccessKey, s.SecretKey = spec.FixedCredentials[0], spec.FixedCredentials[1]
	}
	cmd := exec.Command(bin, spec.Args(data, addr, ports[0], s.AccessKey, s.SecretKey)...)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if err := s.start(spec.Name, cmd, dir); err != nil {
		return nil, err
	}
	if err := s.waitUp(30 * time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// waitUp waits until the server answers HTTP at all.
func (s *S3Server) waitUp(limit time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if s.exited() {
			return fmt.Errorf("%s exited at start:\n%s", s.Name, s.log.String())
		}
		if c, err := net.DialTimeout("tcp", s.Endpoint[len("http://"):], time.Second); err == nil {
			c.Close()
			if resp, err := client.Get(s.Endpoint + "/"); err == nil {
				resp.Body.Close()
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer at %s after %s:\n%s", s.Name, s.Endpoint, limit, s.log.String())
}

// Credentials are the server's.
func (s *S3Server) Credentials() aws.CredentialsProvider {
	return awscreds.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, "")
}

// Client is an S3 client of the server.
func (s *S3Server) Client() *s3.Client {
	return s3Client(s.Region, s.Endpoint, s.Credentials())
}

// CreateBucket creates a bucket named after the test (made unique), and
// returns its name.
func (s *S3Server) CreateBucket(t testing.TB) string {
	t.Helper()
	name := bucketName(t.Name())
	if _, err := s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("create bucket %s on %s: %v\n%s", name, s.Name, err, s.Log())
	}
	return name
}
