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
		c.Jobs != 4 || c.Catalog != "acme" || c.AWSRegion != "us-east-1" || c.Audience != "sts.amazonaws.com" ||
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
		{[]string{"INPUT_ROLE-TO-ASSUME", "role/x"}, `input role-to-assume`},
		{[]string{"INPUT_ROLE-SESSION-NAME", "a"}, `input role-session-name`},
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
		if _, err := Parse(actions("INPUT_ROLE-TO-ASSUME", arn), nil); err != nil {
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

func TestStoreURLIsCheckedWholeBeforeAnyBuild(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"s3://t1?unknown=1", "input store-url: s3://t1"},
		{"s3://cache?unknown=1", `unknown parameter "unknown"`},
		{"s3:///nobucket", "no bucket"},
		{"file://relative", "input store-url"},
		{"s3://cache?region=Nowhere!", "is not a region name"},
		{"s3://cache?endpoint=ftp://x", "http or https"},
		{"s3://cache?access-key=hunter2", "input store-url"},
	} {
		_, err := Parse(actions("INPUT_STORE-URL", tc.url), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows a query value: %v", tc.url, err)
		}
	}
	c, err := Parse(actions("INPUT_STORE-URL", "s3://cache/team?endpoint=localhost:9000"), nil)
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
		c, err := Parse(actions(tc.env...), nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.AWSRegion != tc.want {
			t.Errorf("%v: region %q, want %q", tc.env, c.AWSRegion, tc.want)
		}
	}
	if _, err := Parse(actions("AWS_REGION", "Mars 1"), nil); err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Errorf("a bad AWS_REGION: %v", err)
	}
}
