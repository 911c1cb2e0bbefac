package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/flox-publish/publish-action/internal/builder"
	"github.com/flox-publish/publish-action/internal/closure"
	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/manifest"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/report"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/testenv"
	"github.com/flox-publish/publish-action/internal/verify"
)

// largeClosure builds, with real Nix, a package whose closure is itself
// and n files (builtins.toFile: added at evaluation, nothing to build),
// new to the store on every run.
func largeClosure(t *testing.T, n int) (top string, paths []nixpath.PathInfo) {
	t.Helper()
	testenv.RequireTool(t, "nix-build")
	marker := strconv.FormatInt(time.Now().UnixNano(), 36)
	expr := `let deps = builtins.genList (i: builtins.toFile "dep-${toString i}-` + marker + `" "dependency ${toString i} ` + marker + `\n") ` + strconv.Itoa(n) + `;
in derivation { name = "big-` + marker + `"; system = builtins.currentSystem; builder = "/bin/sh"; PATH = "/usr/bin:/bin";
  deps = deps; args = [ "-c" "mkdir -p $out; for d in $deps; do echo $d; done > $out/deps" ]; }`
	file := filepath.Join(t.TempDir(), "big.nix")
	if err := os.WriteFile(file, []byte(expr), 0o644); err != nil {
		t.Fatal(err)
	}
	top = strings.TrimSpace(testenv.Nix(t, "nix-build", "--no-out-link", file))
	paths, err := nixpath.QueryClosure(context.Background(), testenv.NixEnv(t), top)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != n+1 {
		t.Fatalf("closure of %s has %d paths, want %d", top, len(paths), n+1)
	}
	return top, paths
}

// TestAttestationSubjectsFitALargeClosure publishes a package whose
// closure has more paths than actions/attest-build-provenance takes
// subjects (1,024): subject-checksums names its output's NAR and its
// closure manifest, two lines; the manifest in the store lists every path
// with the NAR hash real Nix computes, is signed with the store's key, and
// its sha256 is the subject's; real Nix installs the closure.
func TestAttestationSubjectsFitALargeClosure(t *testing.T) {
	const deps = 1500
	top, paths := largeClosure(t, deps)
	secret, public, err := signing.Generate("test-cache-1")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := signing.Parse(secret)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	loc, err := store.ParseLocation("file://" + cacheDir)
	if err != nil {
		t.Fatal(err)
	}

	run := func(dryRun bool) *Release {
		var out bytes.Buffer
		r := New(Env{Getenv: func(string) string { return "" }, Stdout: &out})
		r.Inputs = inputs.Config{Store: loc, Compression: "zstd", Jobs: 4}
		r.Mode = Mode{DryRun: dryRun, Reason: "test"}
		r.Builder = builder.Local{}
		r.Checked = &Checked{Key: key, Source: &verify.Source{Rev: strings.Repeat("a", 40)}, Environment: &manifest.Environment{Manifest: &manifest.Manifest{}}}
		pkg := &Package{Build: manifest.Build{Name: "big"}, Version: "1.0.0",
			Result: &builder.Result{Name: "big", Version: "1.0.0", System: builder.System(), Outputs: []builder.Output{{Name: "out", StorePath: top}}, Closure: paths}}
		r.Packages = []*Package{pkg}
		r.Built = &Built{Packages: r.Packages}
		if err := r.runStages(context.Background(), []Stage{uploadStage{}, reportStage{}}); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		return r
	}

	// A dry run makes the manifest and names no subject.
	dry := run(true)
	if m := dry.Report.Packages[0].ClosureManifest; m == nil || m.Paths != deps+1 || m.URL != "" {
		t.Fatalf("dry run's closure manifest: %+v", m)
	}
	if len(dry.Report.Subjects) != 0 {
		t.Errorf("a dry run names %d subjects", len(dry.Report.Subjects))
	}

	r := run(false)
	outputs, err := r.Report.Outputs()
	if err != nil {
		t.Fatal(err)
	}
	var checksums string
	for _, o := range outputs {
		if o[0] == "subject-checksums" {
			checksums = o[1]
		}
	}
	lines := strings.Split(checksums, "\n")
	t.Logf("closure of %d paths: %d subjects (a line per path before closure manifests: %d)", len(paths), len(lines), len(paths))
	if len(lines) != 2 {
		t.Fatalf("subject-checksums has %d lines, want 2 (the output's NAR and the manifest):\n%s", len(lines), checksums)
	}
	rm := r.Report.Packages[0].ClosureManifest
	data, err := os.ReadFile(filepath.Join(cacheDir, rm.Key))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if want := hex.EncodeToString(sum[:]) + "  " + rm.Name(); !strings.Contains(checksums, want) || rm.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("subject-checksums lacks the stored manifest's line %q:\n%s", want, checksums)
	}
	m, err := closure.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := signature.ParsePublicKey(public)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Paths) != deps+1 || !m.Trusted([]signature.PublicKey{pub}) {
		t.Fatalf("manifest: %d paths, signed by the key: %v", len(m.Paths), m.Trusted([]signature.PublicKey{pub}))
	}

	// A consumer's check, as the README gives it: real Nix installs the
	// closure from the store, and the NAR it dumps of any path hashes to
	// what the manifest says.
	root := filepath.Join(t.TempDir(), "root")
	cmd := exec.Command("nix", "copy", "--from", "file://"+cacheDir, "--to", root, "--option", "trusted-public-keys", public, top)
	cmd.Env = testenv.NixEnv(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nix copy from the store: %v\n%s", err, out)
	}
	for _, p := range []string{top, paths[0].StorePath, paths[len(paths)/2].StorePath} {
		dump := exec.Command("nix-store", "--dump", p)
		dump.Env = testenv.NixEnv(t)
		nar, err := dump.Output()
		if err != nil {
			t.Fatal(err)
		}
		got := sha256.Sum256(nar)
		e, ok := m.Path(p)
		if !ok || !bytes.Equal(e.NarHash, got[:]) || e.NarSize != uint64(len(nar)) {
			t.Errorf("%s: the manifest says %x (%d bytes), its NAR is %x (%d bytes)", p, e.NarHash, e.NarSize, got, len(nar))
		}
	}

	// A second publish uploads nothing, and names the same subjects: the
	// manifest the store has stands.
	again := run(false)
	if got := report.SubjectChecksums(again.Report.Subjects); got != checksums {
		t.Errorf("a second publish names other subjects:\n%s\nwant:\n%s", got, checksums)
	}
}
