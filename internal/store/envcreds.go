package store

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// NoCredentialsError says that the environment holds no AWS credentials
// for an s3:// store.
type NoCredentialsError struct {
	Store string // the store, without credentials
	// Fix says where credentials come from, in the words of where the run
	// is (a workflow's steps, or a shell's variables); the edge sets it.
	Fix string
}

func (e *NoCredentialsError) Error() string {
	return "no AWS credentials found for " + e.Store + ": " + cmp.Or(e.Fix, "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE")
}

// CredentialsError marks it as a credentials problem, as the S3 errors do.
func (e *NoCredentialsError) CredentialsError() bool { return true }

// EnvironmentCredentials finds the credentials for an s3:// store in the
// environment, as Nix does (static keys, else a profile, web identity or
// container credentials), without fetching anything, so a run can find out
// before its builds that it has none. The EC2 instance metadata service is
// asked only when AWS_EC2_METADATA_DISABLED=false says so: elsewhere its
// refusal would read as the bucket refusing access.
func EnvironmentCredentials(ctx context.Context, loc Location, getenv func(string) string) (aws.CredentialsProvider, error) {
	if loc.s3 == nil {
		return nil, fmt.Errorf("%s is not an s3:// store", loc)
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	static := loc.s3.Profile == "" && id != "" && secret != ""
	profile := cmp.Or(loc.s3.Profile, getenv("AWS_PROFILE"))
	imdsOn := getenv("AWS_EC2_METADATA_DISABLED") == "false"
	if !static && profile == "" && !imdsOn && !hasCredentialSource(getenv) {
		return nil, &NoCredentialsError{Store: loc.Base()}
	}
	return defaultCredentials(ctx, *loc.s3, getenv, imdsOn)
}

// hasCredentialSource reports whether the environment names a source of
// credentials other than static keys and a named profile.
func hasCredentialSource(getenv func(string) string) bool {
	for _, v := range []string{"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"} {
		if getenv(v) != "" {
			return true
		}
	}
	files := []string{getenv("AWS_SHARED_CREDENTIALS_FILE"), getenv("AWS_CONFIG_FILE")}
	if home := getenv("HOME"); home != "" {
		files = append(files, filepath.Join(home, ".aws", "credentials"), filepath.Join(home, ".aws", "config"))
	}
	for _, f := range files {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err == nil {
			return true
		}
	}
	return false
}
