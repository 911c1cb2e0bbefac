package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// TestSubjectChecksums parses the output as actions/attest-build-provenance
// parses subject-checksums: split at the first space, drop one flag
// character (' ' or '*'), and require a hex digest of 64 characters
// (sha256).
func TestSubjectChecksums(t *testing.T) {
	a, b := bytes.Repeat([]byte{0xab}, 32), bytes.Repeat([]byte{0x01}, 32)
	got := SubjectChecksums([]Subject{
		{Name: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-lib-1.0.nar", SHA256: b},
		{Name: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.0.nar", SHA256: a},
		{Name: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.0.nar", SHA256: a},
	})
	want := strings.Repeat("01", 32) + "  bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-lib-1.0.nar\n" +
		strings.Repeat("ab", 32) + "  aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.0.nar"
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	hexRe := regexp.MustCompile(`^[0-9a-fA-F]+$`)
	for _, line := range strings.Split(got, "\n") {
		i := strings.Index(line, " ")
		digest, name := line[:i], line[i+1:]
		if strings.HasPrefix(name, " ") || strings.HasPrefix(name, "*") {
			name = name[1:]
		}
		if !hexRe.MatchString(digest) || len(digest) != 64 || !strings.HasSuffix(name, ".nar") || strings.Contains(name, " ") {
			t.Errorf("line %q: digest %q name %q", line, digest, name)
		}
	}
	if SubjectChecksums(nil) != "" {
		t.Error("no subjects: want an empty output")
	}
}

func TestUpstreamAndProvenanceLines(t *testing.T) {
	r := sample(false, Uploaded)
	r.RunURL = "https://github.com/acme/widgets/actions/runs/42"
	r.Packages[0].PathsPresent, r.Packages[0].PathsUpstream = 0, 5
	r.Upstream = UpstreamSummary{Paths: 5, NarBytes: 50 << 20, Caches: []string{DefaultSubstituter}, Keys: []string{DefaultKey}}
	md := r.Markdown()
	for _, want := range []string{
		"Produced by workflow run [https://github.com/acme/widgets/actions/runs/42](https://github.com/acme/widgets/actions/runs/42).",
		"5 paths (50.0 MiB) were not uploaded: upstream caches serve them signed. Consumers substitute them from https://cache.nixos.org, which every Nix installation uses by default.",
		"uploaded (2 new, 5 from upstream)",
		// --option substituters replaces Nix's list: the upstream is named.
		"--option substituters 's3://cache?region=eu-west-1 https://cache.nixos.org'",
		`--option trusted-public-keys "$key ` + DefaultKey + `"`,
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if text := r.Text(); !strings.Contains(text, "Workflow run: https://github.com/acme/widgets/actions/runs/42") || !strings.Contains(text, "5 paths (50.0 MiB)") {
		t.Errorf("text lacks the run or the upstream line:\n%s", text)
	}

	// A cache of the organisation's own must be configured by consumers.
	r.Upstream.Caches = []string{DefaultSubstituter, "https://cache.acme.example"}
	r.Upstream.Keys = []string{DefaultKey, "acme-1:BBBB"}
	md = r.Markdown()
	for _, want := range []string{
		"--option substituters 's3://cache?region=eu-west-1 https://cache.nixos.org https://cache.acme.example'",
		`--option trusted-public-keys "$key ` + DefaultKey + ` acme-1:BBBB"`,
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	out, _ := r.Outputs()
	for _, kv := range out {
		if kv[0] == "packages" && !strings.Contains(kv[1], `"paths_upstream":5`) {
			t.Errorf("packages output lacks paths_upstream: %s", kv[1])
		}
	}
}
