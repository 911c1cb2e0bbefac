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
			"key='cache-1:AAAA'\nnix-store --realise --option substituters 's3://cache?region=eu-west-1' --option trusted-public-keys \"$key\" /nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.0.0\n",
			"The revision is the number of commits"}},
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

// TestSummaryReadsWell checks what the issue-16 review asked of the
// summary: the public key once, catalog links that are links only when a
// browser can open them, "revision" explained, and a dry run without a key
// not claiming to have signed anything.
func TestSummaryReadsWell(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(r *Report)
		want    []string
		notWant []string
	}{
		{
			name: "key shown once",
			edit: func(r *Report) {},
			want: []string{"key='cache-1:AAAA'"},
		},
		{
			// Issue 13: flox install only for a package FloxHub recorded.
			name: "file catalog link is code, not a link, and no flox install",
			edit: func(r *Report) {
				r.Catalog = "acme"
				r.Packages[0].CatalogURL = "file:///tmp/cache/catalog/acme/hello.json"
			},
			want:    []string{"- **hello**: file:///tmp/cache/catalog/acme/hello.json — Not in FloxHub (no floxhub-token was given)", "nix-store --realise"},
			notWant: []string{"](file://", "`flox install acme/hello`"},
		},
		{
			name: "FloxHub catalog link is a link",
			edit: func(r *Report) {
				r.Catalog = "acme"
				r.Packages[0].CatalogURL = "https://hub.flox.dev/packages/acme/hello"
				r.FloxHub, r.Packages[0].InFloxHub = true, true
				r.NoNixInstall = true // the key once: no trust line beside the install commands
			},
			want: []string{"[https://hub.flox.dev/packages/acme/hello](https://hub.flox.dev/packages/acme/hello) — `flox install acme/hello`"},
		},
		{
			name: "Flox's own store: flox install, no Nix commands",
			edit: func(r *Report) {
				r.Catalog = "acme"
				r.NoNixInstall = true
				r.FloxHub, r.Packages[0].InFloxHub = true, true
			},
			want:    []string{"- **hello** — `flox install acme/hello`", "**Public key**"},
			notWant: []string{"nix-store --realise"},
		},
		{
			name: "a catalog's egress is where Nix installs from",
			edit: func(r *Report) { r.InstallFrom = "https://cache.acme.example" },
			want: []string{"--option substituters 'https://cache.acme.example'"},
		},
		{
			name: "dry run without a key signed nothing",
			edit: func(r *Report) {
				r.DryRun, r.PublicKey = true, ""
				r.Packages[0].Status = WouldUpload
			},
			want:    []string{"Nothing was signed"},
			notWant: []string{"nix-store --realise", "signed, nothing"},
		},
		{
			name:    "dry run with a key shows it once, no install",
			edit:    func(r *Report) { r.DryRun = true; r.Packages[0].Status = WouldUpload },
			want:    []string{"**Public key** (what users trust): `cache-1:AAAA`"},
			notWant: []string{"nix-store --realise", "Nothing was signed"},
		},
		{
			name:    "no revision count, no explanation",
			edit:    func(r *Report) { r.RevCount = 0 },
			notWant: []string{"revision"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sample(false, Uploaded)
			tc.edit(r)
			md := r.Markdown()
			for _, w := range tc.want {
				if !strings.Contains(md, w) {
					t.Errorf("markdown lacks %q:\n%s", w, md)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(md, w) {
					t.Errorf("markdown has %q:\n%s", w, md)
				}
			}
			if r.PublicKey != "" {
				if n := strings.Count(md, r.PublicKey); n != 1 {
					t.Errorf("the public key shows %d times:\n%s", n, md)
				}
			}
		})
	}
}

func TestTextInstallRecipe(t *testing.T) {
	text := sample(false, Uploaded).Text()
	for _, want := range []string{
		"  key='cache-1:AAAA'\n  nix-store --realise --option substituters 's3://cache?region=eu-west-1' --option trusted-public-keys \"$key\" /nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.0.0\n",
		"extra-trusted-public-keys = cache-1:AAAA",
		"revision 42",
		"git rev-list --count",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	for _, bad := range []string{"nix copy", "nix profile", "experimental"} {
		if strings.Contains(text, bad) {
			t.Errorf("text uses %q, which a default Nix refuses:\n%s", bad, text)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"a": "'a'", "s3://b?x=1&y=2": "'s3://b?x=1&y=2'", "it's": `'it'\''s'`} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
