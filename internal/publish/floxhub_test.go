package publish_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/flox-publish/publish-action/internal/builder"
	"github.com/flox-publish/publish-action/internal/testenv"
	"github.com/flox-publish/publish-action/internal/testenv/fixture"
)

// floxHubToken looks like a FloxHub personal access token; the tests
// check it never shows.
const floxHubToken = "flox_pat_ZTJlLXRva2VuLW5ldmVyLWluLXRoZS1sb2c"

// floxHubRun is one run of the whole action against the FloxHub stand-in.
type floxHubRun struct {
	raw                   string // the log as printed, ::add-mask:: commands included
	log, summary, outFile string
	outputs               map[string]string
	code                  int
}

// runWithFloxHub runs the action on a branch push of r with the FloxHub
// stand-in hub as catalog-url, the inputs and environment in extra, and
// checks that none of secrets shows in the log (less the runner's
// ::add-mask:: commands, which it consumes), the summary or the outputs.
func runWithFloxHub(t *testing.T, r *fixture.Repo, hub *testenv.FloxHubStandIn, extra map[string]string, secrets ...string) floxHubRun {
	t.Helper()
	a := fixture.NewActionsEnv(t, r, "push", "refs/heads/main")
	a["INPUT_FLOXHUB-TOKEN"] = floxHubToken
	a["INPUT_CATALOG-URL"] = hub.URL()
	a["HOME"] = t.TempDir()
	for k, v := range extra {
		a[k] = v
	}
	var out bytes.Buffer
	run := floxHubRun{code: release(context.Background(), a.Getenv, a.Environ(), nil, &out)}
	var shown []string
	for _, line := range strings.Split(out.String(), "\n") {
		if !strings.HasPrefix(line, "::add-mask::") {
			shown = append(shown, line)
		}
	}
	run.log, run.raw = strings.Join(shown, "\n"), out.String()
	summary, _ := os.ReadFile(a["GITHUB_STEP_SUMMARY"])
	outFile, _ := os.ReadFile(a["GITHUB_OUTPUT"])
	run.summary, run.outFile = string(summary), string(outFile)
	run.outputs = fixture.Outputs(t, a["GITHUB_OUTPUT"])
	for _, s := range append(secrets, floxHubToken) {
		for name, text := range map[string]string{"log": run.log, "summary": run.summary, "outputs": run.outFile} {
			if strings.Contains(text, s) {
				t.Errorf("the %s shows a secret (%.6s…)", name, s)
			}
		}
	}
	return run
}

func (f floxHubRun) must(t *testing.T, want ...string) {
	t.Helper()
	if f.code != 0 {
		t.Fatalf("exit %d\n%s", f.code, f.log)
	}
	for _, w := range want {
		if !strings.Contains(f.log+f.summary, w) {
			t.Errorf("neither the log nor the summary says %q:\nlog:\n%s\nsummary:\n%s", w, f.log, f.summary)
		}
	}
}

func (f floxHubRun) built() bool { return strings.Contains(f.log, "::group::Build greeter") }

// keys lists a bucket's keys under prefix.
func keys(t *testing.T, m *testenv.MinIO, bucket, prefix string) []string {
	t.Helper()
	res, err := m.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range res.Contents {
		out = append(out, *o.Key)
	}
	return out
}

func countSuffix(list []string, suffix string) int {
	n := 0
	for _, s := range list {
		if strings.HasSuffix(s, suffix) {
			n++
		}
	}
	return n
}

// TestFloxHubStoreTypesEndToEnd runs the whole action, as the runner
// starts it, against the FloxHub stand-in (which refuses what the service
// refuses and what the Flox CLI would not send, and here requires the
// narinfos of the whole closure) for each store type a catalog can have,
// with real MinIO as the store paths' destination.
func TestFloxHubStoreTypesEndToEnd(t *testing.T) {
	m := testenv.StartMinIO(t, testenv.MinIOOptions{})
	secret, public := fixture.NewSecretKey(t)
	system := builder.System()
	creds := map[string]string{"AWS_ACCESS_KEY_ID": m.RootUser, "AWS_SECRET_ACCESS_KEY": m.RootPassword}
	firstRun := []string{"create acme/greeter", "check-build acme/greeter", "publish/info acme/greeter", "builds acme/greeter"}

	t.Run("nix-copy to s3, then a re-run, then rebuild", func(t *testing.T) {
		bucket := m.CreateBucket(t)
		hub := testenv.StartFloxHubStandIn(t)
		hub.StrictClosure = true
		hub.AddUser(floxHubToken, "alice")
		ingress := "s3://" + bucket + "/cache?endpoint=" + m.Endpoint + "&region=us-east-1&want-mass-query=true"
		hub.AddCatalog("acme", map[string]any{"store_type": "nix-copy", "ingress_uri": ingress, "egress_uri": "https://cache.acme.example"}, "alice")
		r := fixture.NewRepo(t, fixture.GreeterManifest)
		in := map[string]string{"INPUT_SIGNING-KEY": secret}
		for k, v := range creds {
			in[k] = v
		}

		run := runWithFloxHub(t, r, hub, in, m.RootPassword)
		run.must(t, "want-mass-query= on the catalog's ingress URI is ignored", "flox install acme/greeter",
			"--option substituters 'https://cache.acme.example'", "extra-trusted-public-keys = "+public)
		if !run.built() {
			t.Error("the first run did not build")
		}
		if got := hub.Calls(); !slices.Equal(got, firstRun) {
			t.Errorf("FloxHub calls %q, want %q", got, firstRun)
		}
		b := hub.Builds()[0].Body
		if b["cache_uri"] != ingress || b["narinfos_source_url"] != "https://cache.acme.example" || b["ref"] != "main" {
			t.Errorf("record: cache_uri %v, narinfos_source_url %v, ref %v", b["cache_uri"], b["narinfos_source_url"], b["ref"])
		}
		if n := len(b["narinfos"].(map[string]any)); n != 1 {
			t.Errorf("the record carries %d narinfos, want the closure's 1", n)
		}
		objects := keys(t, m, bucket, "cache/")
		if countSuffix(objects, ".narinfo") != 1 || !slices.Contains(objects, "cache/catalog/acme/greeter/"+system+"/"+r.Git(r.Work, "rev-parse", "HEAD")+".json") {
			t.Errorf("the bucket holds %q: want the narinfo and the catalog index's record", objects)
		}
		if got := run.outputs["catalog-urls"]; got != "https://hub.flox.dev/packages/acme/greeter" {
			t.Errorf("catalog-urls = %q", got)
		}

		// A re-run finds it published: create and check-build only, no build.
		rerun := runWithFloxHub(t, r, hub, in, m.RootPassword)
		rerun.must(t, "already published on 2026-05-01 12:00 UTC from source revision "+r.Git(r.Work, "rev-parse", "HEAD"), "flox install acme/greeter")
		if rerun.built() {
			t.Errorf("the re-run built the package again:\n%s", rerun.log)
		}
		// It asks where the store is (publish/info, after the builds) and
		// reads the first run's record there: the same outputs (issue 22).
		if got, want := hub.Calls()[len(firstRun):], firstRun[:3]; !slices.Equal(got, want) {
			t.Errorf("the re-run's FloxHub calls %q, want %q", got, want)
		}
		sameOutputs(t, run.outputs, rerun.outputs)
		if !strings.Contains(rerun.summary, "nix-store --realise") || !strings.Contains(rerun.summary, "**Closure manifests**") {
			t.Errorf("the re-run's summary does not say how to install the paths it names:\n%s", rerun.summary)
		}

		// rebuild: true builds and records it again; everything is present.
		in["INPUT_REBUILD"] = "true"
		again := runWithFloxHub(t, r, hub, in, m.RootPassword)
		again.must(t, "building it again, as rebuild is true", "present")
		if !again.built() {
			t.Error("rebuild: true did not build")
		}
		if got := hub.Calls()[len(firstRun)+3:]; !slices.Equal(got, firstRun) {
			t.Errorf("the rebuild's FloxHub calls %q, want %q", got, firstRun)
		}
	})

	t.Run("nix-copy to http ingress: the token only for FloxHub's host", func(t *testing.T) {
		// FloxHub and its store on one host, as catalog-url's host: the
		// upload authenticates with the token, as the Flox CLI's netrc does.
		hub := testenv.StartFloxHubStandIn(t)
		hub.StrictClosure = true
		hub.AddUser(floxHubToken, "alice")
		own := testenv.StartHTTPCache(t, floxHubToken)
		mux := http.NewServeMux()
		mux.Handle("/api/", hub)
		mux.Handle("/", own)
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		hub.AddCatalog("acme", map[string]any{"store_type": "nix-copy", "ingress_uri": srv.URL + "/cache?priority=30", "egress_uri": srv.URL + "/cache"}, "alice")
		r := fixture.NewRepo(t, fixture.GreeterManifest)
		run := runWithFloxHub(t, r, hub, map[string]string{"INPUT_SIGNING-KEY": secret, "INPUT_CATALOG-URL": srv.URL})
		run.must(t, "priority= on the catalog's ingress URI is ignored", "flox install acme/greeter", "--option substituters '"+srv.URL+"/cache'")
		path := strings.TrimSpace(run.outputs["store-paths"])
		if !own.Has("cache/" + strings.Split(strings.TrimPrefix(path, "/nix/store/"), "-")[0] + ".narinfo") {
			t.Errorf("FloxHub's store has no narinfo of %s", path)
		}

		// A store on another host never gets the token.
		hub2 := testenv.StartFloxHubStandIn(t)
		hub2.AddUser(floxHubToken, "alice")
		other := testenv.StartHTTPCache(t, "")
		hub2.AddCatalog("acme", map[string]any{"store_type": "nix-copy", "ingress_uri": other.URL + "/cache", "egress_uri": other.URL + "/cache"}, "alice")
		r2 := fixture.NewRepo(t, fixture.GreeterManifest)
		runWithFloxHub(t, r2, hub2, map[string]string{"INPUT_SIGNING-KEY": secret}).must(t, "flox install acme/greeter")
		for _, a := range other.Authorizations() {
			if a != "" {
				t.Fatalf("a store on another host got an Authorization header (%d bytes)", len(a))
			}
		}
		if len(other.Authorizations()) == 0 {
			t.Fatal("nothing was uploaded to the other host's store")
		}
	})

	t.Run("publisher", func(t *testing.T) {
		bucket := m.CreateBucket(t)
		hub := testenv.StartFloxHubStandIn(t)
		hub.StrictClosure = true
		hub.IngestPolls = 1
		hub.AddUser(floxHubToken, "alice")
		c := hub.AddCatalog("acme", map[string]any{"store_type": "publisher", "publisher_url": nil}, "alice")
		c.IngressURI = "s3://" + bucket + "/ingest?endpoint=" + m.Endpoint + "&region=us-east-1"
		c.IngressAuth = map[string]any{"aws-s3": map[string]any{"envs": map[string]any{
			"AWS_ACCESS_KEY_ID": m.RootUser, "AWS_SECRET_ACCESS_KEY": m.RootPassword}}}
		r := fixture.NewRepo(t, fixture.GreeterManifest)
		// No AWS credentials in the environment: FloxHub's are the upload's.
		run := runWithFloxHub(t, r, hub, map[string]string{"INPUT_SIGNING-KEY": secret, "INPUT_PUBLISHER-TIMEOUT": "1m"}, m.RootPassword)
		// FloxHub's credentials are masked before anything about the store
		// is printed.
		if mask, store := strings.Index(run.raw, "::add-mask::"+m.RootPassword), strings.Index(run.raw, "store type publisher"); mask < 0 || store < 0 || mask > store {
			t.Errorf("the ingress credentials are not masked before the store is named (mask at %d, store at %d)", mask, store)
		}
		run.must(t, "store type publisher", "waiting for FloxHub to ingest 1 store paths", "FloxHub has 1 of 1 store paths", "flox install acme/greeter")
		want := append(slices.Clone(firstRun), "store/status", "store/status")
		if got := hub.Calls(); !slices.Equal(got, want) {
			t.Errorf("FloxHub calls %q, want %q", got, want)
		}
		if _, ok := hub.Builds()[0].Body["narinfos"]; ok {
			t.Error("the record of a publisher store carries narinfos")
		}
		objects := keys(t, m, bucket, "")
		if countSuffix(objects, ".narinfo") != 1 || slices.ContainsFunc(objects, func(k string) bool { return strings.Contains(k, "catalog/") }) {
			t.Errorf("Flox's store holds %q: want the narinfo and no index of ours", objects)
		}
		// Only flox install reaches Flox's store: no Nix commands.
		if strings.Contains(run.summary, "nix-store --realise") {
			t.Errorf("the summary offers Nix commands for Flox's own store:\n%s", run.summary)
		}
	})

	t.Run("meta-only", func(t *testing.T) {
		hub := testenv.StartFloxHubStandIn(t)
		hub.StrictClosure = true
		hub.AddUser(floxHubToken, "alice")
		hub.AddCatalog("acme", map[string]any{"store_type": "meta-only"}, "alice")
		r := fixture.NewRepo(t, fixture.GreeterManifest)
		run := runWithFloxHub(t, r, hub, map[string]string{"INPUT_SIGNING-KEY": secret})
		run.must(t, "store type meta-only, nothing to upload", "flox install acme/greeter", "| nothing uploaded: catalog acme takes metadata only (store type meta-only) |")
		if got := hub.Calls(); !slices.Equal(got, firstRun) {
			t.Errorf("FloxHub calls %q, want %q", got, firstRun)
		}
		b := hub.Builds()[0].Body
		narinfos, _ := b["narinfos"].(map[string]any)
		if b["narinfos_source_url"] != "daemon://" || len(narinfos) != 1 {
			t.Fatalf("record: narinfos_source_url %v, %d narinfos", b["narinfos_source_url"], len(narinfos))
		}
		for _, n := range narinfos {
			if sigs, _ := n.(map[string]any)["signatures"].([]any); len(sigs) != 1 || !strings.HasPrefix(sigs[0].(string), "test-1:") {
				t.Errorf("the narinfo's signatures are %v, want one by the signing key", sigs)
			}
		}
		if strings.Contains(run.summary, "nix-store --realise") {
			t.Errorf("the summary offers Nix commands, but nothing was uploaded:\n%s", run.summary)
		}
	})

	t.Run("null with a store-url of the user's", func(t *testing.T) {
		hub := testenv.StartFloxHubStandIn(t)
		hub.AddUser(floxHubToken, "alice")
		hub.AddCatalog("acme", map[string]any{"store_type": "null"}, "alice")
		r := fixture.NewRepo(t, fixture.GreeterManifest)
		cacheDir := t.TempDir()
		run := runWithFloxHub(t, r, hub, map[string]string{"INPUT_SIGNING-KEY": secret, "INPUT_STORE-URL": "file://" + cacheDir})
		run.must(t, "store type null, uploading to file://"+cacheDir, "flox install acme/greeter", "nix-store --realise --option substituters 'file://"+cacheDir+"'")
		if _, ok := hub.Builds()[0].Body["narinfos"]; ok {
			t.Error("the record of a null store carries narinfos")
		}
		if len(fixture.NarInfos(t, cacheDir)) != 1 {
			t.Errorf("the store holds %d narinfos, want 1", len(fixture.NarInfos(t, cacheDir)))
		}
	})

	t.Run("a failed check-build only warns", func(t *testing.T) {
		hub := testenv.StartFloxHubStandIn(t)
		hub.AddUser(floxHubToken, "alice")
		hub.AddCatalog("acme", map[string]any{"store_type": "null"}, "alice")
		hub.Fault(testenv.FloxHubFault{Step: "check-build", Status: 400, Body: `{"detail":"cannot check this build"}`})
		r := fixture.NewRepo(t, fixture.GreeterManifest)
		run := runWithFloxHub(t, r, hub, map[string]string{"INPUT_SIGNING-KEY": secret})
		run.must(t, "::warning::FloxHub could not say whether acme/greeter is already published (it will be built and published)", "flox install acme/greeter")
		if !run.built() || len(hub.Builds()) != 1 {
			t.Errorf("built %v, %d builds recorded", run.built(), len(hub.Builds()))
		}
	})

	t.Run("errors name the catalog and the store type", func(t *testing.T) {
		hub := testenv.StartFloxHubStandIn(t)
		hub.AddUser(floxHubToken, "alice")
		hub.AddCatalog("acme", map[string]any{"store_type": "nix-copy", "ingress_uri": "s3://someone-elses-bucket", "egress_uri": "https://cache.acme.example"}, "alice")
		r := fixture.NewRepo(t, fixture.GreeterManifest)
		bucket := m.CreateBucket(t)
		in := map[string]string{"INPUT_SIGNING-KEY": secret, "INPUT_STORE-URL": "s3://" + bucket + "?endpoint=" + m.Endpoint + "&region=us-east-1"}
		for k, v := range creds {
			in[k] = v
		}
		run := runWithFloxHub(t, r, hub, in, m.RootPassword)
		if run.code == 0 || !strings.Contains(run.log, "catalog acme (store type nix-copy): store-url s3://"+bucket+" is not the catalog's store s3://someone-elses-bucket") {
			t.Fatalf("exit %d\n%s", run.code, run.log)
		}
		if n := len(keys(t, m, bucket, "")); n != 0 {
			t.Errorf("%d objects were uploaded after the error", n)
		}
	})
}
