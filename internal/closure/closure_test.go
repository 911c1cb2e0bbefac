package closure

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// narInfos makes the narinfos of n paths, the first one the output.
func narInfos(n int) []*narinfo.NarInfo {
	var out []*narinfo.NarInfo
	for i := range n {
		sum := sha256.Sum256([]byte(fmt.Sprint(i)))
		hash := fmt.Sprintf("%032d", i)
		hash = strings.NewReplacer("0", "a", "1", "b", "2", "c", "3", "d", "4", "f", "5", "g", "6", "h", "7", "i", "8", "j", "9", "k").Replace(hash)
		out = append(out, &narinfo.NarInfo{
			StorePath: "/nix/store/" + hash + fmt.Sprintf("-path-%d", i),
			NarHash:   nixhash.MustNewHashWithEncoding(nixhash.SHA256, sum[:], nixhash.NixBase32, true),
			NarSize:   uint64(100 + i),
		})
	}
	return out
}

func TestManifestIsDeterministicSignedAndChecked(t *testing.T) {
	k := testenv.SigningKey(t, "test-1")
	infos := narInfos(5)
	out := infos[3].StorePath
	shuffled := []*narinfo.NarInfo{infos[4], infos[1], infos[3], infos[0], infos[2], infos[1]}
	m1, err := New([]string{out}, infos)
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := New([]string{out}, shuffled)
	if err := m1.Sign(k); err != nil {
		t.Fatal(err)
	}
	m2.Sign(k)
	if !bytes.Equal(m1.Encode(), m2.Encode()) {
		t.Fatalf("the same closure in another order encodes differently:\n%s\n%s", m1.Encode(), m2.Encode())
	}
	if got, want := m1.NarSize(), uint64(100+101+102+103+104); got != want || len(m1.Paths) != 5 {
		t.Errorf("NAR size %d of %d paths, want %d of 5", got, len(m1.Paths), want)
	}
	parsed, err := Parse(m1.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(parsed.Encode(), m1.Encode()) || !parsed.Trusted([]signature.PublicKey{k.PublicKey()}) {
		t.Errorf("the parsed manifest differs or does not verify")
	}
	if parsed.Trusted([]signature.PublicKey{testenv.SigningKey(t, "other-1").PublicKey()}) {
		t.Error("the manifest verifies with another key")
	}
	if p, ok := parsed.Path(infos[2].StorePath); !ok || p.NarSize != 102 {
		t.Errorf("Path = %+v, %v", p, ok)
	}
	if got := m1.Name(); got != strings.TrimPrefix(out, "/nix/store/")+".closure.json" {
		t.Errorf("Name = %s", got)
	}

	// A change to any path's hash or size breaks the signature; a hash
	// whose two forms disagree does not even parse.
	doc := string(m1.Encode())
	p0 := m1.Paths[0]
	for name, edit := range map[string]string{
		"size": strings.Replace(doc, fmt.Sprintf(`"nar_size":%d}`, p0.NarSize), fmt.Sprintf(`"nar_size":%d}`, p0.NarSize+1), 1),
	} {
		m, err := Parse([]byte(edit))
		if err == nil && m.Trusted([]signature.PublicKey{k.PublicKey()}) {
			t.Errorf("a manifest with another %s still verifies", name)
		}
	}
	other := sha256.Sum256([]byte("other"))
	tampered := strings.Replace(doc, fmt.Sprintf("%x", p0.NarHash), fmt.Sprintf("%x", other), 1)
	if _, err := Parse([]byte(tampered)); err == nil {
		t.Error("a manifest whose NAR hashes disagree parses")
	}
	if _, err := New([]string{"/nix/store/00000000000000000000000000000000-missing"}, infos); err == nil {
		t.Error("a manifest of an output the closure lacks was made")
	}
}

func TestWriteKeepsTheManifestAlreadyStored(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	infos := narInfos(3)
	outs := []string{infos[0].StorePath}
	old, rotated := testenv.SigningKey(t, "old-1"), testenv.SigningKey(t, "new-1")
	first, _ := New(outs, infos)
	first.Sign(old)
	w1, err := Write(ctx, st, first)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(first.Encode()); !bytes.Equal(w1.SHA256, sum[:]) || w1.Key != Key(outs) {
		t.Errorf("written %x at %s", w1.SHA256, w1.Key)
	}
	// A later run, signing with a new key, finds the same closure stored.
	again, _ := New(outs, infos)
	again.Sign(rotated)
	w2, err := Write(ctx, st, again)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w2.SHA256, w1.SHA256) {
		t.Error("a manifest of the same closure was written again: an earlier attestation no longer names what the store holds")
	}
	r, err := Read(ctx, st, outs, []signature.PublicKey{old.PublicKey()})
	if err != nil || !bytes.Equal(r.SHA256, w1.SHA256) {
		t.Fatalf("Read = %v, %v", r, err)
	}
	if _, err := Read(ctx, st, outs, []signature.PublicKey{rotated.PublicKey()}); err == nil || !strings.Contains(err.Error(), "no valid signature") {
		t.Errorf("Read with a key that did not sign it: %v", err)
	}
	if _, err := Read(ctx, st, []string{infos[1].StorePath}, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Read of a package without a manifest: %v, want ErrNotFound", err)
	}
	// A damaged manifest is written again.
	if _, err := st.Put(ctx, Key(outs), strings.NewReader("{"), ContentType); err != nil {
		t.Fatal(err)
	}
	if w3, err := Write(ctx, st, again); err != nil || w3.Signatures[0].Name != "new-1" {
		t.Errorf("Write over a damaged manifest: %v, %v", w3, err)
	}
}
