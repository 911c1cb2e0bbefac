package nixpath_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/nar"

	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/testenv"
)

func TestMakeStorePathVector(t *testing.T) {
	inner, _ := hex.DecodeString("08813cbee9903c62be4c5027726a418a300da4500b2d369d3af9286f4815ceba")
	got := nixpath.MakeStorePath("source", inner, "bar")
	if want := "/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar"; got != want {
		t.Fatalf("MakeStorePath = %s, want %s", got, want)
	}
}

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"hello-1.0.2a", true},
		{"a+b_c?d=e.f", true},
		{"", false},
		{".", false},
		{"..", false},
		{".-foo", false},
		{"..-foo", false},
		{".hidden", true},
		{"has space", false},
		{"slash/inside", false},
		{"ümlaut", false},
		{strings.Repeat("x", 211), true},
		{strings.Repeat("x", 212), false},
	} {
		err := nixpath.ValidateName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// makeTree writes a small tree with every NAR node type.
func makeTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "out")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "share", "empty"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "bin", "hello"), []byte("#!/bin/sh\necho hello\n"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "share", "data"), bytes.Repeat([]byte{0, 1, 2, 250}, 3333), 0o644))
	must(os.WriteFile(filepath.Join(dir, "share", "Upper"), nil, 0o600))
	must(os.Symlink("../bin/hello", filepath.Join(dir, "share", "link")))
	must(os.Symlink("/nonexistent/target", filepath.Join(dir, "dangling")))
	return dir
}

// TestNARMatchesNix checks our NAR serialisation byte for byte against
// `nix-store --dump`, and our content-addressed store path against `nix
// store add-path`, for a tree with files, executables, symlinks and empty
// directories, and for a single file.
func TestNARMatchesNix(t *testing.T) {
	testenv.RequireTool(t, "nix-store")
	dir := makeTree(t)
	single := filepath.Join(t.TempDir(), "single")
	if err := os.WriteFile(single, []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{dir, single} {
		var ours bytes.Buffer
		if err := nixpath.DumpNAR(&ours, path); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("nix-store", "--dump", path)
		cmd.Env = testenv.NixEnv(t)
		theirs, err := cmd.Output()
		if err != nil {
			t.Fatalf("nix-store --dump: %v", err)
		}
		if !bytes.Equal(ours.Bytes(), theirs) {
			t.Fatalf("%s: NAR differs from nix-store --dump (%d vs %d bytes)", path, ours.Len(), len(theirs))
		}
		// The same through a writer without ReadFrom, and go-nix's own
		// serialisation, which DumpNAR replaces for speed.
		var plain, goNix bytes.Buffer
		if err := nixpath.DumpNAR(struct{ io.Writer }{&plain}, path); err != nil {
			t.Fatal(err)
		}
		if err := nar.DumpPath(&goNix, path); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(plain.Bytes(), theirs) || !bytes.Equal(goNix.Bytes(), theirs) {
			t.Fatalf("%s: NAR through a plain writer or go-nix differs from nix-store --dump", path)
		}

		hash, size, err := nixpath.HashNAR(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(theirs)
		if !bytes.Equal(hash, sum[:]) || size != uint64(len(theirs)) {
			t.Fatalf("HashNAR = %x/%d, want %x/%d", hash, size, sum, len(theirs))
		}

		name := "thing-1.0"
		want := strings.TrimSpace(testenv.Nix(t, "nix", "store", "add-path", "--dry-run", "--name", name, path))
		if got := nixpath.SourcePath(hash, name, nil); got != want {
			t.Fatalf("SourcePath = %s, nix store add-path = %s", got, want)
		}
	}
}

func TestParsePathInfoJSON(t *testing.T) {
	for _, tc := range []struct {
		name, in string
	}{
		{"nix 2.8 list", `[{"path":"/nix/store/zil1z8fyrc7mlj7dd23lwp4mnywijbwh-b","narHash":"sha256:1rpwzq4y2hblv3f7lnn04nzrm1bsaxkjvy6inbvnv9zmiplazbh7","narSize":160,"references":["/nix/store/wd0ys9snp82b5v5j4pgp5wfhnfjhl2vm-a"],"deriver":"/nix/store/lpjpdd3n3m4aqnkgnl86a9d3dz3rh2pv-b.drv"}]`},
		{"nix 2.19+ object, SRI hash, basenames", `{"/nix/store/zil1z8fyrc7mlj7dd23lwp4mnywijbwh-b":{"narHash":"sha256-Z2UastzVzP6R9UGc6FIaFXHX8pT2hb6cFgwyaLC3520=","narSize":160,"references":["wd0ys9snp82b5v5j4pgp5wfhnfjhl2vm-a"],"deriver":"lpjpdd3n3m4aqnkgnl86a9d3dz3rh2pv-b.drv","ca":null}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			infos, err := nixpath.ParsePathInfoJSON([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(infos) != 1 {
				t.Fatalf("got %d infos", len(infos))
			}
			p := infos[0]
			if p.StorePath != "/nix/store/zil1z8fyrc7mlj7dd23lwp4mnywijbwh-b" || p.NarSize != 160 ||
				len(p.References) != 1 || p.References[0] != "/nix/store/wd0ys9snp82b5v5j4pgp5wfhnfjhl2vm-a" ||
				p.Deriver != "/nix/store/lpjpdd3n3m4aqnkgnl86a9d3dz3rh2pv-b.drv" || p.Source != p.StorePath {
				t.Fatalf("unexpected %+v", p)
			}
		})
	}
}

// TestParsePathInfoJSONHashesAgree: both hash encodings decode to the
// same digest (the two inputs above describe the same path).
func TestParsePathInfoJSONHashesAgree(t *testing.T) {
	a, err := nixpath.ParsePathInfoJSON([]byte(`[{"path":"/nix/store/zil1z8fyrc7mlj7dd23lwp4mnywijbwh-b","narHash":"sha256-Z2UastzVzP6R9UGc6FIaFXHX8pT2hb6cFgwyaLC3520=","narSize":160,"references":[]}]`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := nixpath.ParsePathInfoJSON([]byte(`[{"path":"/nix/store/zil1z8fyrc7mlj7dd23lwp4mnywijbwh-b","narHash":"` + a[0].NarHashString() + `","narSize":160,"references":[]}]`))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a[0].NarHash, b[0].NarHash) {
		t.Fatal("SRI and nix32 encodings of one hash decode differently")
	}
}
