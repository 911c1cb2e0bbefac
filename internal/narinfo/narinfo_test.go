package narinfo_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"flag"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from what the code writes now")

// golden compares got with testdata/name, or writes it there with -update.
func golden(t *testing.T, name, got string) { testenv.Golden(t, name, got, *update) }

// goldenKey is a signing key made from a fixed seed: ed25519 signatures
// are deterministic, so the golden narinfo's signature is too.
func goldenKey(t *testing.T, seed byte) *signing.Key {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	k, err := signing.Parse("golden-1:" + base64.StdEncoding.EncodeToString(priv))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// hello is a path as the local builder describes one: a content-addressed
// output that refers to itself and to a dependency, given unsorted.
var hello = nixpath.PathInfo{
	StorePath:  "/nix/store/mh869f5y41gicsc4l49ghi31c0j0pjsw-hello-1.2.3",
	References: []string{"/nix/store/mh869f5y41gicsc4l49ghi31c0j0pjsw-hello-1.2.3", "/nix/store/0w25jdlc0qnv8mizc64h30pzk9x3qyan-dep-1.0"},
	Deriver:    "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.2.3.drv",
	NarHash:    bytes.Repeat([]byte{0xab}, 32),
	NarSize:    288,
	CA:         "fixed:r:sha256:1jpg5v8rcf4d08rlpq51vnd1w800l64h34r0bw4vkb6z3qlk089k",
}

func TestSignedNarInfo(t *testing.T) {
	key := goldenKey(t, 7)
	ni := narinfo.New(hello, narinfo.NAR{URL: "nar/0w25jdlc0qnv8mizc64h30pzk9x3qyan3ahjgqq5yp0p1804mw26.nar.zst", Compression: "zstd", FileHash: bytes.Repeat([]byte{0xcd}, 32), FileSize: 168})
	if err := narinfo.Sign(ni, key); err != nil {
		t.Fatal(err)
	}
	text := ni.String()
	golden(t, "hello.narinfo", text)

	// The fingerprint signed is the one Nix computes for the path: its
	// references sorted, whatever order the path gave them in.
	sorted := hello
	sorted.References = []string{hello.References[1], hello.References[0]}
	if ni.Fingerprint() != sorted.Fingerprint() {
		t.Errorf("fingerprint %q, Nix's %q", ni.Fingerprint(), sorted.Fingerprint())
	}
	parsed, err := narinfo.Parse(bytes.NewReader([]byte(text)))
	if err != nil {
		t.Fatal(err)
	}
	if parsed.String() != text {
		t.Errorf("parsed and written again, it reads\n%s", parsed.String())
	}
	if !narinfo.Trusted(parsed, []signature.PublicKey{key.PublicKey()}) || !narinfo.Matches(parsed, hello) {
		t.Error("the narinfo is not trusted for its own key, or does not describe its path")
	}
	other := hello
	other.NarSize++
	if narinfo.Matches(parsed, other) {
		t.Error("the narinfo matches a path of another NAR size")
	}
	if narinfo.Trusted(parsed, []signature.PublicKey{goldenKey(t, 8).PublicKey()}) {
		t.Error("the narinfo is trusted for another key of the same name")
	}
	if got := narinfo.Key(hello.StorePath); got != "mh869f5y41gicsc4l49ghi31c0j0pjsw.narinfo" {
		t.Errorf("Key = %s", got)
	}
}

// TestLocalNarInfo: with no NAR object, the narinfo says what the local
// store knows of the path and nothing of a file.
func TestLocalNarInfo(t *testing.T) {
	ni := narinfo.New(hello, narinfo.NAR{})
	if ni.URL != "" || ni.FileHash != nil || ni.FileSize != 0 || ni.NarHash == nil || ni.Deriver != "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.2.3.drv" {
		t.Errorf("narinfo %+v", ni)
	}
	if ni := narinfo.New(nixpath.PathInfo{StorePath: hello.StorePath}, narinfo.NAR{}); ni.NarHash != nil {
		t.Errorf("a path of unknown NAR hash has one: %v", ni.NarHash)
	}
}
