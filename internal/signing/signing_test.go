package signing

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
)

func TestParse(t *testing.T) {
	sec, pub, err := Generate("cache.example.org-1")
	if err != nil {
		t.Fatal(err)
	}
	_, secData, _ := strings.Cut(sec, ":")
	raw, _ := base64.StdEncoding.DecodeString(secData)
	corrupt := append([]byte(nil), raw...)
	corrupt[40] ^= 0xff // the public half no longer matches the seed

	for _, tc := range []struct {
		name, in, wantErr string
	}{
		{"secret key", sec, ""},
		{"with trailing newline", sec + "\n", ""},
		{"public key", pub, "is a public key"},
		{"no name", secData, "no NAME: prefix"},
		{"not base64", "k:!!!", "not valid base64"},
		{"wrong length", "k:" + base64.StdEncoding.EncodeToString([]byte("short")), "holds 5 bytes"},
		{"corrupt", "k:" + base64.StdEncoding.EncodeToString(corrupt), "corrupt"},
		{"empty", "", "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Parse(tc.in)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if k.Name != "cache.example.org-1" || k.Public != pub {
					t.Fatalf("key %s / %s", k.Name, k.Public)
				}
				sig, err := k.Sign("1;/nix/store/x;sha256:0;1;")
				if err != nil {
					t.Fatal(err)
				}
				pk, _ := signature.ParsePublicKey(pub)
				if !pk.Verify("1;/nix/store/x;sha256:0;1;", sig) {
					t.Fatal("signature does not verify")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			// No error may echo the key, or any long part of it.
			_, data, _ := strings.Cut(tc.in, ":")
			for i := 0; i+12 <= len(data); i += 6 {
				if strings.Contains(err.Error(), data[i:i+12]) {
					t.Fatalf("error echoes the key: %v", err)
				}
			}
		})
	}
}

// TestKeyPrintsNoSecret: however a Key is formatted, in a log line or an
// error, none of its secret shows: only its name.
func TestKeyPrintsNoSecret(t *testing.T) {
	sec, _, _ := Generate("print-1")
	k, err := Parse(sec)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"%v", "%s", "%#v", "%+v", "%q", "%x", "%X", "%d"} {
		for _, v := range []any{k, *k, struct{ K *Key }{k}} {
			got := fmt.Sprintf(format, v)
			for _, m := range k.MaskValues() {
				if strings.Contains(got, m) {
					t.Errorf("%s of %T shows the secret: %s", format, v, got)
				}
			}
		}
	}
	if got := fmt.Sprint(k); got != "signing key print-1 (secret redacted)" {
		t.Errorf("%%v = %q", got)
	}
	if got := fmt.Sprintf("%v", (*Key)(nil)); got != "<nil>" {
		t.Errorf("a nil key prints %q", got)
	}
}

func TestMaskValuesCoverEveryFormOfTheSecret(t *testing.T) {
	sec, pub, err := Generate("mask-1")
	if err != nil {
		t.Fatal(err)
	}
	k, err := Parse(sec)
	if err != nil {
		t.Fatal(err)
	}
	_, data, _ := strings.Cut(sec, ":")
	raw, _ := base64.StdEncoding.DecodeString(data)
	seed := raw[:32]
	masks := k.MaskValues()
	for name, want := range map[string]string{
		"whole": sec, "base64": data, "hex": hex.EncodeToString(raw),
		"seed base64": base64.StdEncoding.EncodeToString(seed), "seed hex": hex.EncodeToString(seed),
		"public hex": hex.EncodeToString(raw[32:]),
	} {
		if !slices.Contains(masks, want) {
			t.Errorf("MaskValues lacks the %s form", name)
		}
	}
	_, pubData, _ := strings.Cut(pub, ":")
	if slices.Contains(masks, pubData) {
		t.Error("MaskValues hides the public key, which the summary must show")
	}
}
