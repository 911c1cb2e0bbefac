package inputs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flox-publish/publish-action/internal/floxhub"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/workflow"
)

func actions(kv ...string) func(string) string {
	m := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY_OWNER": "acme"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	c, err := parse(actions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Dir != "." || c.DryRun != DryRunAuto || c.Builder != "auto" || c.Compression != "zstd" ||
		c.Jobs != 64 || c.Catalog != "acme" || c.AWSRegion != "us-east-1" || c.Audience != "sts.amazonaws.com" ||
		!c.CheckVersion || !c.InActions || c.Rebuild {
		t.Fatalf("defaults: %+v", c)
	}
	// The Flox CLI's wait for its publisher, which the input raises.
	if c.PublisherTimeout != floxhub.DefaultPublisherTimeout {
		t.Errorf("publisher-timeout defaults to %s, want floxhub.DefaultPublisherTimeout (%s)", c.PublisherTimeout, floxhub.DefaultPublisherTimeout)
	}
	c, err = parse(actions("INPUT_REBUILD", "true", "INPUT_PUBLISHER-TIMEOUT", "2h"), nil)
	if err != nil || !c.Rebuild || c.PublisherTimeout != 2*time.Hour {
		t.Fatalf("rebuild: true, publisher-timeout: 2h: %+v, %v", c, err)
	}
}

func TestActionsAndFlagsAgree(t *testing.T) {
	fromEnv, err := parse(actions("INPUT_STORE-URL", "s3://bucket/prefix?region=eu-west-1", "INPUT_PACKAGES", "a, b\nc  d", "INPUT_JOBS", "8", "INPUT_DRY-RUN", "TRUE"), nil)
	if err != nil {
		t.Fatal(err)
	}
	fromFlags, err := parse(func(string) string { return "" }, []string{"--store-url", "s3://bucket/prefix?region=eu-west-1", "--packages", "a, b\nc  d", "--jobs=8", "--dry-run", "true", "--catalog", "acme"})
	if err != nil {
		t.Fatal(err)
	}
	fromFlags.InActions = true
	if !reflect.DeepEqual(fromEnv, fromFlags) {
		t.Fatalf("env %+v\nflags %+v", fromEnv, fromFlags)
	}
	if want := []string{"a", "b", "c", "d"}; !reflect.DeepEqual(fromEnv.Packages, want) {
		t.Fatalf("packages = %q", fromEnv.Packages)
	}
}

func TestBadValues(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"INPUT_DRY-RUN", "maybe"}, `input dry-run: "maybe" is not one of auto, true, false`},
		{[]string{"INPUT_BUILDER", "nix"}, `input builder: "nix" is not one of auto, flox, local`},
		{[]string{"INPUT_COMPRESSION", "gzip"}, `input compression: "gzip" is not one of zstd, xz, none`},
		{[]string{"INPUT_JOBS", "0"}, `input jobs: "0" is not a number from 1 to 256`},
		{[]string{"INPUT_JOBS", "many"}, `input jobs`},
		{[]string{"INPUT_COMPRESSION-LEVEL", "20"}, `input compression-level: "20" is not a zstd level from 1 (fastest) to 19 (smallest)`},
		{[]string{"INPUT_COMPRESSION-LEVEL", "fast"}, `input compression-level`},
		{[]string{"INPUT_PACKAGES", "ok bad/name"}, `input packages: "bad/name" is not a package name`},
		{[]string{"INPUT_CATALOG", "x", "INPUT_FLOXHUB-TOKEN", "t"}, `input catalog: "x" is not a FloxHub catalog name`},
		{[]string{"INPUT_CATALOG", "a/b"}, `input catalog: "a/b" is not a catalog name`},
		{[]string{"INPUT_STORE-URL", "gs://bucket"}, `input store-url`},
		{[]string{"INPUT_STORE-URL", "s3://user:hunter2@bucket"}, `carries credentials`},
		{[]string{"INPUT_SIGNING-KEY", "k:abc", "INPUT_SIGNING-KEY-FILE", "/k"}, `give only one`},
		{[]string{"INPUT_ROLE-TO-ASSUME", "role/x"}, `input role-to-assume`},
		{[]string{"INPUT_ROLE-SESSION-NAME", "a"}, `input role-session-name`},
		{[]string{"INPUT_STS-ENDPOINT", "localhost:9000"}, `input sts-endpoint`},
		{[]string{"INPUT_CHECK-VERSION", "yes"}, `input check-version`},
		{[]string{"INPUT_REBUILD", "always"}, `input rebuild: "always" is not true or false`},
		{[]string{"INPUT_PUBLISHER-TIMEOUT", "30"}, `input publisher-timeout: "30" is not a duration from 1s to 6h`},
		{[]string{"INPUT_PUBLISHER-TIMEOUT", "7h"}, `input publisher-timeout: "7h" is not a duration`},
		{[]string{"INPUT_PUBLISHER-TIMEOUT", "-1m"}, `input publisher-timeout: "-1m" is not a duration`},
	} {
		_, err := parse(actions(tc.env...), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.env, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%v: the error shows a password: %v", tc.env, err)
		}
	}
}

// TestShortOwnerIsACatalogWithoutFloxHub: the default catalog is the
// repository's owner, which may be shorter than FloxHub's names; without a
// token it only names a directory of the store's index.
func TestShortOwnerIsACatalogWithoutFloxHub(t *testing.T) {
	getenv := actions("GITHUB_REPOSITORY_OWNER", "xy")
	c, err := parse(getenv, nil)
	if err != nil || c.Catalog != "xy" {
		t.Fatalf("catalog %q, err %v", c.Catalog, err)
	}
}

func TestRoleARNs(t *testing.T) {
	for _, arn := range []string{"arn:aws:iam::123456789012:role/publish", "arn:aws-cn:iam::123456789012:role/path/publish", "arn:minio:iam:::role/dXNlcg", "arn:minio:iam:us-east-1::role/dXNlcg"} {
		if _, err := parse(actions("INPUT_ROLE-TO-ASSUME", arn), nil); err != nil {
			t.Errorf("%s: %v", arn, err)
		}
	}
}

func TestFlagErrorsNameFlags(t *testing.T) {
	_, err := parse(func(string) string { return "" }, []string{"--jobs", "0", "--dry-run", "x"})
	if err == nil || !strings.Contains(err.Error(), "--jobs:") || !strings.Contains(err.Error(), "--dry-run:") {
		t.Fatalf("err = %v", err)
	}
	if _, err := parse(func(string) string { return "" }, []string{"--no-such-flag"}); err == nil {
		t.Fatal("unknown flag accepted")
	}
}

func TestSecrets(t *testing.T) {
	c, err := parse(actions("INPUT_SIGNING-KEY", "k-1:c2VjcmV0", "INPUT_GITHUB-TOKEN", "ghs_abc", "INPUT_FLOXHUB-TOKEN", "fh"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Secrets(); !reflect.DeepEqual(got, []string{"k-1:c2VjcmV0", "ghs_abc", "fh", "c2VjcmV0"}) {
		t.Fatalf("secrets = %q", got)
	}
}

// TestErrorsArePhrasedForWhereTheyRun checks that an error speaks flags
// and shell commands in a terminal, input names and workflow snippets in
// Actions, with one prefix style each.
func TestErrorsArePhrasedForWhereTheyRun(t *testing.T) {
	terminal, actionsCfg := Config{}, Config{InActions: true}
	for _, tc := range []struct {
		name             string
		terminal, action error
		wantT, wantA     []string
	}{
		{
			name: "store-url", terminal: terminal.StoreURLRequired(), action: actionsCfg.StoreURLRequired(),
			wantT: []string{"--store-url: is required unless the run is a dry run or the catalog names the store;", "--dry-run true"},
			wantA: []string{"input store-url: is required unless the run is a dry run or the catalog names the store;", "store-url: s3://", "dry-run: true"},
		},
		{
			name: "signing key", terminal: terminal.SigningKeyRequired(), action: actionsCfg.SigningKeyRequired(),
			wantT: []string{"--signing-key-file: no signing key", "--signing-key-file KEY.sec", "--extra-experimental-features nix-command", "--dry-run true"},
			wantA: []string{"input signing-key: no signing key", "signing-key: ${{ secrets.NIX_SIGNING_KEY }}", "dry-run: true"},
		},
		{
			name:     "both keys",
			terminal: firstErr(parse(func(string) string { return "" }, []string{"--signing-key", "k:a", "--signing-key-file", "/k"})),
			action:   firstErr(parse(actions("INPUT_SIGNING-KEY", "k:a", "INPUT_SIGNING-KEY-FILE", "/k"), nil)),
			wantT:    []string{"--signing-key: --signing-key-file is set too; give only one"},
			wantA:    []string{"input signing-key: signing-key-file is set too; give only one"},
		},
		{
			name:     "legacy prefixed name",
			terminal: &Error{Input: "--catalog", Msg: "is required"},
			action:   &Error{Input: "input catalog", Msg: "is required"},
			wantT:    []string{"--catalog: is required"},
			wantA:    []string{"input catalog: is required"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			term, act := tc.terminal.Error(), tc.action.Error()
			for _, w := range tc.wantT {
				if !strings.Contains(term, w) {
					t.Errorf("terminal error lacks %q: %s", w, term)
				}
			}
			for _, w := range tc.wantA {
				if !strings.Contains(act, w) {
					t.Errorf("Actions error lacks %q: %s", w, act)
				}
			}
			for _, bad := range []string{"${{", "with:", "input ", ": true"} {
				if strings.Contains(term, bad) {
					t.Errorf("terminal error speaks workflow syntax (%q): %s", bad, term)
				}
			}
			for _, in := range All {
				if strings.Contains(act, "--"+in.Name) {
					t.Errorf("Actions error names the flag --%s: %s", in.Name, act)
				}
			}
		})
	}
}

func firstErr(_ Config, err error) error { return err }

func TestStoreURLIsCheckedWholeBeforeAnyBuild(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"s3://t1?unknown=1", "input store-url: s3://t1"},
		{"s3://cache?unknown=1", `unknown parameter "unknown"`},
		{"s3:///nobucket", "no bucket"},
		{"file://relative", "input store-url"},
		{"s3://cache?region=Nowhere!", "is not a region name"},
		{"s3://cache?endpoint=ftp://x", "http or https"},
		{"s3://cache?access-key=hunter2", "input store-url"},
		{"https://cache.example/nix", `scheme "https" is not supported`},
		{"s3://cache?compression=xz", "compression= is a Nix binary-cache setting, not an S3 one: use the action's `compression` input"},
		{"s3://cache?secret-key=/k", "use the action's `signing-key` or `signing-key-file` input"},
	} {
		_, err := parse(actions("INPUT_STORE-URL", tc.url), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows a query value: %v", tc.url, err)
		}
	}
	if _, err := parse(func(string) string { return "" }, []string{"--store-url", "s3://cache?compression=xz"}); err == nil || !strings.Contains(err.Error(), "not an S3 one: use --compression") {
		t.Errorf("in a terminal: %v", err)
	}
	c, err := parse(actions("INPUT_STORE-URL", "s3://cache/team?endpoint=localhost:9000"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Store.Link("catalog/acme/hello.json"), "s3://cache/team/catalog/acme/hello.json"; got != want {
		t.Errorf("Link = %q, want %q (no query in a link)", got, want)
	}
}

func TestRegionComesFromTheEnvironmentWhenNotGiven(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{nil, "us-east-1"},
		{[]string{"AWS_DEFAULT_REGION", "eu-west-2"}, "eu-west-2"},
		{[]string{"AWS_REGION", "eu-central-1", "AWS_DEFAULT_REGION", "eu-west-2"}, "eu-central-1"},
		{[]string{"INPUT_AWS-REGION", "ap-south-1", "AWS_REGION", "eu-central-1"}, "ap-south-1"},
	} {
		c, err := parse(actions(tc.env...), nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.AWSRegion != tc.want {
			t.Errorf("%v: region %q, want %q", tc.env, c.AWSRegion, tc.want)
		}
	}
	if _, err := parse(actions("AWS_REGION", "Mars 1"), nil); err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Errorf("a bad AWS_REGION: %v", err)
	}
}

func TestLoadSigningKeyPhrasing(t *testing.T) {
	sec, pub, _ := signing.Generate("k-1")
	dir := t.TempDir()
	good := filepath.Join(dir, "key.sec")
	os.WriteFile(good, []byte(sec+"\n"), 0o600)
	pubFile := filepath.Join(dir, "key.pub")
	os.WriteFile(pubFile, []byte(pub+"\n"), 0o644)
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name      string
		cfg       Config
		wantKey   bool
		want      string
		notWanted []string
	}{
		{name: "nothing", cfg: Config{}},
		{name: "file", cfg: Config{SigningKeyFile: good}, wantKey: true},
		{name: "value", cfg: Config{SigningKey: sec, InActions: true}, wantKey: true},
		{name: "missing file, terminal", cfg: Config{SigningKeyFile: missing},
			want: "--signing-key-file: cannot read the key", notWanted: []string{"${{", "input "}},
		{name: "missing file, Actions", cfg: Config{SigningKeyFile: missing, InActions: true},
			want: "input signing-key-file: cannot read the key", notWanted: []string{"--signing-key"}},
		{name: "public key in a file, terminal", cfg: Config{SigningKeyFile: pubFile},
			want: "--signing-key-file: " + pubFile + `: the key named "k-1" is a public key`, notWanted: []string{"${{", "input "}},
		{name: "public key as the secret", cfg: Config{SigningKey: pub, InActions: true},
			want: `input signing-key: the key named "k-1" is a public key`, notWanted: []string{"--signing-key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := tc.cfg.LoadSigningKey()
			if tc.want == "" {
				if err != nil || (k != nil) != tc.wantKey || k != nil && k.Name != "k-1" {
					t.Fatalf("key %v, err %v", k, err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to start with %q", err, tc.want)
			}
			var ie *Error
			if !errors.As(err, &ie) {
				t.Errorf("%T is not an *inputs.Error", err)
			}
			for _, bad := range tc.notWanted {
				if strings.Contains(err.Error(), bad) {
					t.Errorf("err has %q: %v", bad, err)
				}
			}
		})
	}
}

// parse is Parse with the run's context read from getenv, as the release
// reads it.
func parse(getenv func(string) string, args []string) (Config, error) {
	return Parse(workflow.Read(getenv), getenv, args)
}

func TestAdviceIsWrittenForWhereTheRunIs(t *testing.T) {
	for _, tc := range []struct {
		inActions bool
		name, set string
	}{
		{true, "rebuild", "set rebuild: true"},
		{false, "--rebuild", "pass --rebuild true"},
	} {
		c := Config{InActions: tc.inActions}
		if got := c.Name("rebuild"); got != tc.name {
			t.Errorf("InActions %v: Name = %q, want %q", tc.inActions, got, tc.name)
		}
		if got := c.Set("rebuild", "true"); got != tc.set {
			t.Errorf("InActions %v: Set = %q, want %q", tc.inActions, got, tc.set)
		}
	}
}
