package report

import (
	"encoding/json"
	"strings"
	"testing"
)

func sample(dryRun bool, status string) *Report {
	return &Report{
		DryRun: dryRun, Mode: "Publishing: tag v1.0.0 was pushed.",
		Rev: "0123456789abcdef0123456789abcdef01234567", Ref: "refs/tags/v1.0.0", RevCount: 42,
		RepoURL: "https://github.com/acme/widgets", StoreURL: "s3://cache?region=eu-west-1",
		PublicKey: "cache-1:AAAA", Builder: "flox",
		Packages: []Package{{Name: "hello", Version: "1.0.0", System: "x86_64-linux",
			StorePaths: []string{"/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.0.0"}, NarSize: 123456,
			Status: status, PathsUploaded: 2, PathsPresent: 1}},
	}
}

func TestOutputs(t *testing.T) {
	out, err := sample(false, Uploaded).Outputs()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range out {
		got[kv[0]] = kv[1]
	}
	if got["store-paths"] != "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.0.0" || got["dry-run"] != "false" {
		t.Fatalf("outputs %v", got)
	}
	var pkgs []map[string]any
	if err := json.Unmarshal([]byte(got["packages"]), &pkgs); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "version", "system", "store_paths", "nar_size", "status"} {
		if _, ok := pkgs[0][k]; !ok {
			t.Errorf("packages output lacks %s", k)
		}
	}
	empty, _ := (&Report{}).Outputs()
	for _, kv := range empty {
		if kv[0] == "packages" && kv[1] != "[]" {
			t.Fatalf("no packages: %q", kv[1])
		}
	}
}

func TestMarkdown(t *testing.T) {
	for _, tc := range []struct {
		status string
		dry    bool
		want   []string
	}{
		{Uploaded, false, []string{"### Publishing: tag v1.0.0 was pushed.", "[`0123456789ab (refs/tags/v1.0.0), revision 42`](https://github.com/acme/widgets/commit/0123456789abcdef0123456789abcdef01234567)",
			"| hello | 1.0.0 | x86_64-linux | `/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.0.0` | 120.6 KiB | uploaded (2 new, 1 already present) |",
			"extra-trusted-public-keys = cache-1:AAAA", "extra-substituters = s3://cache?region=eu-west-1"}},
		{Present, false, []string{"already present, nothing uploaded"}},
		{WouldUpload, true, []string{"dry run: would upload"}},
	} {
		md := sample(tc.dry, tc.status).Markdown()
		for _, w := range tc.want {
			if !strings.Contains(md, w) {
				t.Errorf("%s: markdown lacks %q:\n%s", tc.status, w, md)
			}
		}
		text := sample(tc.dry, tc.status).Text()
		if !strings.Contains(text, "hello") || !strings.Contains(text, "Publishing: tag v1.0.0") {
			t.Errorf("text report:\n%s", text)
		}
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %s, want %s", n, got, want)
		}
	}
}
