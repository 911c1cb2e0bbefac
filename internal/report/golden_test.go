package report

import (
	"errors"
	"flag"
	"testing"

	"github.com/flox-publish/publish-action/internal/testenv"
	"github.com/flox-publish/publish-action/internal/ui"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from what the code writes now")

// golden compares got with testdata/name, or writes it there with -update.
func golden(t *testing.T, name, got string) { testenv.Golden(t, name, got, *update) }

// release is a tag release of two packages to a bucket, one of them
// partly served by the default upstreams (cache.nixos.org and
// cache.flox.dev), recorded in the store's catalog index
// without FloxHub, from a workflow run.
func release() *Report {
	return &Report{
		Mode: "Publishing: tag v1.0.0 was pushed.",
		Rev:  "0123456789abcdef0123456789abcdef01234567", Ref: "refs/tags/v1.0.0", RevCount: 42,
		RepoURL: "https://github.com/acme/widgets", RunURL: "https://github.com/acme/widgets/actions/runs/4242",
		StoreURL:  "s3://cache?region=eu-west-1",
		PublicKey: "cache-1:7Fv1B3bSuAQRWPa7u1I5rAG7LJaEumJ3D0MxwJm2jUI=", Builder: "flox", Catalog: "acme",
		Upstream: UpstreamSummary{Paths: 3, NarBytes: 45 << 20, Caches: []string{DefaultSubstituter, "https://cache.flox.dev"},
			Keys: []string{DefaultKey, "flox-cache-public-1:7F4OyH7ZCnFhcze3fJdfyXYLQw/aV7GEed86nQ7IsOs="}},
		Packages: []Package{
			{Name: "hello", Version: "1.0.0", System: "x86_64-linux", StorePaths: []string{"/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.0.0"},
				NarSize: 123456, Status: Uploaded, PathsUploaded: 2, PathsPresent: 1, CatalogURL: "s3://cache/catalog/acme/hello.json",
				ClosureManifest: &ClosureManifest{Key: "closure/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.0.0.closure.json", URL: "s3://cache/closure/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.0.0.closure.json",
					SHA256: "5feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9", Paths: 3}},
			{Name: "motd", Version: "1.0.0", System: "x86_64-linux", StorePaths: []string{"/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-motd-1.0.0", "/nix/store/cccccccccccccccccccccccccccccccc-motd-1.0.0-man"},
				NarSize: 5 << 20, Status: Uploaded, PathsUploaded: 1, PathsUpstream: 3, NarSizeUpstream: 45 << 20, CatalogURL: "s3://cache/catalog/acme/motd.json"},
		},
		Subjects: []Subject{{Name: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.0.0.nar", SHA256: make([]byte, 32)}},
	}
}

func TestJobSummaryGolden(t *testing.T) {
	golden(t, "summary.md", release().Markdown())
}

func TestTerminalReportGolden(t *testing.T) {
	golden(t, "report.txt", release().Text())
}

func TestFailureSummaryGolden(t *testing.T) {
	f := &Failure{
		Stage: PartUpload, Mode: "Publishing: branch main was pushed.",
		Err:      errors.Join(errors.New("upload s3://cache/nar/x.nar.zst: the server answered 503 Service Unavailable (after 8 tries)"), located{"manifest.toml", 7}),
		StoreURL: "s3://cache", Uploaded: []string{"/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-motd-1.0.0", "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.0.0"},
		Root: "/work", RepoURL: "https://github.com/acme/widgets", Rev: "0123456789abcdef0123456789abcdef01234567",
	}
	golden(t, "failure.md", f.Markdown())
	golden(t, "failure.txt", f.Text())
}

// located is an error at a line of a file of the workspace.
type located struct {
	file string
	line int
}

func (l located) Error() string { return l.file + ": something at this line" }
func (l located) Location() ui.Location {
	return ui.Location{File: "/work/.flox/env/" + l.file, Line: l.line}
}
