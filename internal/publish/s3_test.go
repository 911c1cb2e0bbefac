package publish_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/testenv"
	"github.com/flox-publish/publish-action/internal/testenv/fixture"
)

// TestPublishToMinIOWithOIDC runs the whole action as a tag release would:
// the workflow's OIDC token (from a stand-in for GitHub's issuer, which
// MinIO trusts) is exchanged with MinIO's STS for credentials of a role,
// the closure is uploaded to the bucket, and real Nix installs it from the
// bucket over http. A second run uploads nothing.
func TestPublishToMinIOWithOIDC(t *testing.T) {
	issuer := testenv.StartOIDCIssuerStandIn(t)
	m := testenv.StartMinIO(t, testenv.MinIOOptions{OpenIDConfigURL: issuer.ConfigURL()})
	bucket := m.CreateBucket(t)
	m.AllowAnonymousRead(t, bucket)

	r := fixture.NewRepo(t, fixture.GreeterManifest)
	r.Git(r.Work, "tag", "v1.0.0")
	r.Git(r.Work, "push", "-q", "origin", "v1.0.0")
	secret, public := fixture.NewSecretKey(t)

	publish := func() (string, map[string]string) {
		t.Helper()
		ep := issuer.Endpoint(testenv.TokenOptions{Subject: "repo:acme/widgets:ref:refs/tags/v1.0.0"})
		a := fixture.NewActionsEnv(t, r, "push", "refs/tags/v1.0.0")
		a["INPUT_STORE-URL"] = "s3://" + bucket + "/releases?endpoint=" + m.Endpoint + "&region=us-east-1"
		a["INPUT_SIGNING-KEY"] = secret
		a["INPUT_ROLE-TO-ASSUME"] = m.RoleARN
		a["INPUT_STS-ENDPOINT"] = m.Endpoint
		a["ACTIONS_ID_TOKEN_REQUEST_URL"] = ep.URL
		a["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = ep.RequestToken
		var out bytes.Buffer
		if code := release(context.Background(), a.Getenv, a.Environ(), nil, &out); code != 0 {
			t.Fatalf("exit %d\n%s\n--- minio log:\n%s", code, out.String(), m.Log())
		}
		for _, tok := range ep.Tokens() {
			if strings.Contains(strings.ReplaceAll(out.String(), "::add-mask::"+tok, ""), tok) {
				t.Fatal("the OIDC token shows in the log")
			}
		}
		if len(ep.Tokens()) == 0 {
			t.Fatal("no OIDC token was requested")
		}
		return out.String(), fixture.Outputs(t, a["GITHUB_OUTPUT"])
	}

	log, o := publish()
	if !strings.Contains(log, "uploaded") || o["dry-run"] != "false" {
		t.Fatalf("first run:\n%s", log)
	}
	path := strings.TrimSpace(o["store-paths"])
	// The catalog link is the index object under the bucket's prefix, not
	// under the store URL's query.
	if got, want := o["catalog-urls"], "s3://"+bucket+"/releases/catalog/acme/greeter.json"; got != want {
		t.Errorf("catalog-urls = %q, want %q", got, want)
	}

	// Real Nix installs it from the bucket, under the URL's prefix.
	root := filepath.Join(t.TempDir(), "root")
	cmd := exec.Command("nix", "copy", "--from", m.Endpoint+"/"+bucket+"/releases", "--to", root,
		"--option", "trusted-public-keys", public, path)
	cmd.Env = testenv.NixEnv(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nix copy from the bucket: %v\n%s", err, out)
	}

	log, _ = publish()
	if !strings.Contains(log, "present") || strings.Contains(log, "uploaded  ") {
		t.Fatalf("second run uploaded again:\n%s", log)
	}
}
