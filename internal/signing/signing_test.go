package signing

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/flox-publish/publish-action/internal/inputs"
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

func TestLoad(t *testing.T) {
	sec, _, _ := Generate("k-1")
	file := filepath.Join(t.TempDir(), "key.sec")
	os.WriteFile(file, []byte(sec+"\n"), 0o600)
	if k, err := Load("", file); err != nil || k.Name != "k-1" {
		t.Fatalf("Load(file) = %v, %v", k, err)
	}
	if k, err := Load("", ""); k != nil || err != nil {
		t.Fatalf("Load() with nothing = %v, %v", k, err)
	}
	if _, err := Load("", filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "signing-key-file") {
		t.Fatalf("missing file: %v", err)
	}
	_, pub, _ := Generate("k-2")
	if _, err := Load(pub, ""); err == nil || !strings.Contains(err.Error(), "input signing-key: the key named \"k-2\" is a public key") {
		t.Fatalf("public key: %v", err)
	}
}

func TestLoadInputsPhrasing(t *testing.T) {
	sec, pub, _ := Generate("k-1")
	dir := t.TempDir()
	good := filepath.Join(dir, "key.sec")
	os.WriteFile(good, []byte(sec+"\n"), 0o600)
	pubFile := filepath.Join(dir, "key.pub")
	os.WriteFile(pubFile, []byte(pub+"\n"), 0o644)
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name      string
		cfg       inputs.Config
		wantKey   bool
		want      string
		notWanted []string
	}{
		{name: "nothing", cfg: inputs.Config{}},
		{name: "file", cfg: inputs.Config{SigningKeyFile: good}, wantKey: true},
		{name: "value", cfg: inputs.Config{SigningKey: sec, InActions: true}, wantKey: true},
		{name: "missing file, terminal", cfg: inputs.Config{SigningKeyFile: missing},
			want: "--signing-key-file: cannot read the key", notWanted: []string{"${{", "input "}},
		{name: "missing file, Actions", cfg: inputs.Config{SigningKeyFile: missing, InActions: true},
			want: "input signing-key-file: cannot read the key", notWanted: []string{"--signing-key"}},
		{name: "public key in a file, terminal", cfg: inputs.Config{SigningKeyFile: pubFile},
			want: "--signing-key-file: " + pubFile + `: the key named "k-1" is a public key`, notWanted: []string{"${{", "input "}},
		{name: "public key as the secret", cfg: inputs.Config{SigningKey: pub, InActions: true},
			want: `input signing-key: the key named "k-1" is a public key`, notWanted: []string{"--signing-key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := LoadInputs(tc.cfg)
			if tc.want == "" {
				if err != nil || (k != nil) != tc.wantKey {
					t.Fatalf("key %v, err %v", k, err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to start with %q", err, tc.want)
			}
			var ie *inputs.Error
			if !errors.As(err, &ie) {
				t.Errorf("%T is not an *inputs.Error", err)
			}
			for _, bad := range tc.notWanted {
				if strings.Contains(err.Error(), bad) {
					t.Errorf("err has %q: %v", bad, err)
				}
			}
		})
	}
}
