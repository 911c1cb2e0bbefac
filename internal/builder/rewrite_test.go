package builder

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
)

// TestRewriter feeds the same input in every split into writes and
// expects the same output and match positions: an occurrence may span
// any number of writes.
func TestRewriter(t *testing.T) {
	for _, tc := range []struct {
		in, from, to, want string
		matches            []int64
	}{
		{"abcXYZdefXYZ", "XYZ", "123", "abc123def123", []int64{3, 9}},
		{"XYZXYZ", "XYZ", "000", "000000", []int64{0, 3}},
		{"XYXYZ", "XYZ", "___", "XY___", []int64{2}},
		{"nothing here", "XYZ", "123", "nothing here", nil},
		{"XY", "XYZ", "123", "XY", nil},
	} {
		for chunk := 1; chunk <= len(tc.in); chunk++ {
			var out bytes.Buffer
			rw := newRewriter(&out, tc.from, tc.to)
			for i := 0; i < len(tc.in); i += chunk {
				rw.Write([]byte(tc.in[i:min(i+chunk, len(tc.in))]))
			}
			if err := rw.Flush(); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want || fmt.Sprint(rw.matches) != fmt.Sprint(tc.matches) || rw.pos != int64(len(tc.in)) {
				t.Errorf("%q in writes of %d: got %q %v, want %q %v", tc.in, chunk, out.String(), rw.matches, tc.want, tc.matches)
			}
		}
	}
}

// TestHashModulo checks the hash against its definition in Nix's
// HashModuloSink: sha256 of the stream with the modulus zeroed, then
// "|<pos>" for each occurrence; with an offset, positions are those of
// the hash part inside a longer match.
func TestHashModulo(t *testing.T) {
	hashPart := strings.Repeat("a", 32)
	in := "head /nix/store/" + hashPart + "-x/bin tail /nix/store/" + hashPart + "-x"
	zeroed := strings.ReplaceAll(in, hashPart, strings.Repeat("\x00", 32))
	i1 := strings.Index(in, hashPart)
	i2 := strings.LastIndex(in, hashPart)
	want := sha256.Sum256([]byte(zeroed + fmt.Sprintf("|%d|%d", i1, i2)))

	m := newHashModulo(hashPart, strings.Repeat("\x00", 32), 0)
	m.Write([]byte(in))
	got, _ := m.Sum()
	if !bytes.Equal(got, want[:]) {
		t.Errorf("modulo the hash part: %x, want %x", got, want)
	}

	// From the build-time path, which the final path replaces.
	scratch := "/tmp/root/" + strings.Repeat("p", 33) + "-x"
	built := strings.ReplaceAll(in, "/nix/store/"+hashPart+"-x", scratch)
	m = newHashModulo(scratch, "/nix/store/"+strings.Repeat("\x00", 32)+"-x", len("/nix/store/"))
	for _, c := range []byte(built) {
		m.Write([]byte{c})
	}
	got, _ = m.Sum()
	if !bytes.Equal(got, want[:]) {
		t.Errorf("from the build-time path: %x, want %x", got, want)
	}
}
