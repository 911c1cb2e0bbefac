package inputs

import (
	"reflect"
	"strings"
	"testing"
)

func actions(kv ...string) func(string) string {
	m := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY_OWNER": "acme"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	c, err := Parse(actions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Dir != "." || c.DryRun != DryRunAuto || c.Builder != "auto" || c.Compression != "zstd" ||
		c.Jobs != 4 || c.Catalog != "acme" || c.AWSRegion != "us-east-1" || c.OIDCAudience != "sts.amazonaws.com" ||
		!c.CheckVersion || !c.InActions {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestActionsAndFlagsAgree(t *testing.T) {
	fromEnv, err := Parse(actions("INPUT_STORE-URL", "s3://bucket/prefix?region=eu-west-1", "INPUT_PACKAGES", "a, b\nc  d", "INPUT_JOBS", "8", "INPUT_DRY-RUN", "TRUE"), nil)
	if err != nil {
		t.Fatal(err)
	}
	fromFlags, err := Parse(func(string) string { return "" }, []string{"--store-url", "s3://bucket/prefix?region=eu-west-1", "--packages", "a, b\nc  d", "--jobs=8", "--dry-run", "true", "--catalog", "acme"})
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
		{[]string{"INPUT_JOBS", "0"}, `input jobs: "0" is not a number from 1 to 64`},
		{[]string{"INPUT_JOBS", "many"}, `input jobs`},
		{[]string{"INPUT_COMPRESSION-LEVEL", "20"}, `input compression-level: "20" is not a zstd level from 1 (fastest) to 19 (smallest)`},
		{[]string{"INPUT_COMPRESSION-LEVEL", "fast"}, `input compression-level`},
		{[]string{"INPUT_PACKAGES", "ok bad/name"}, `input packages: "bad/name" is not a package name`},
		{[]string{"INPUT_CATALOG", "x"}, `input catalog: "x" is not a catalog name`},
		{[]string{"INPUT_STORE-URL", "gs://bucket"}, `input store-url`},
		{[]string{"INPUT_STORE-URL", "s3://user:hunter2@bucket"}, `carries credentials`},
		{[]string{"INPUT_SIGNING-KEY", "k:abc", "INPUT_SIGNING-KEY-FILE", "/k"}, `give only one`},
		{[]string{"INPUT_AWS-ROLE-ARN", "role/x"}, `input aws-role-arn`},
		{[]string{"INPUT_AWS-ROLE-SESSION-NAME", "a"}, `input aws-role-session-name`},
		{[]string{"INPUT_STS-ENDPOINT", "localhost:9000"}, `input sts-endpoint`},
		{[]string{"INPUT_CHECK-VERSION", "yes"}, `input check-version`},
	} {
		_, err := Parse(actions(tc.env...), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.env, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%v: the error shows a password: %v", tc.env, err)
		}
	}
}

func TestRoleARNs(t *testing.T) {
	for _, arn := range []string{"arn:aws:iam::123456789012:role/publish", "arn:aws-cn:iam::123456789012:role/path/publish", "arn:minio:iam:::role/dXNlcg", "arn:minio:iam:us-east-1::role/dXNlcg"} {
		if _, err := Parse(actions("INPUT_AWS-ROLE-ARN", arn), nil); err != nil {
			t.Errorf("%s: %v", arn, err)
		}
	}
}

func TestFlagErrorsNameFlags(t *testing.T) {
	_, err := Parse(func(string) string { return "" }, []string{"--jobs", "0", "--dry-run", "x"})
	if err == nil || !strings.Contains(err.Error(), "--jobs:") || !strings.Contains(err.Error(), "--dry-run:") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Parse(func(string) string { return "" }, []string{"--no-such-flag"}); err == nil {
		t.Fatal("unknown flag accepted")
	}
}

func TestSecrets(t *testing.T) {
	c, err := Parse(actions("INPUT_SIGNING-KEY", "k-1:c2VjcmV0", "INPUT_GITHUB-TOKEN", "ghs_abc", "INPUT_FLOXHUB-TOKEN", "fh"), nil)
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
			terminal: firstErr(Parse(func(string) string { return "" }, []string{"--signing-key", "k:a", "--signing-key-file", "/k"})),
			action:   firstErr(Parse(actions("INPUT_SIGNING-KEY", "k:a", "INPUT_SIGNING-KEY-FILE", "/k"), nil)),
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
