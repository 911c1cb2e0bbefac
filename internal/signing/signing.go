// Package signing loads the key that signs published store paths, and
// makes new ones for the keygen subcommand.
//
// The key is Nix's secret key format, as `nix key generate-secret` prints
// it: "<name>:<base64 of 64 bytes>" (an ed25519 seed followed by the public
// key). No error in this package ever contains the key or part of it:
// errors describe the shape that was expected and the shape that was found.
package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
)

// Key is a loaded secret key.
type Key struct {
	secret signature.SecretKey
	// Name is the key's name, which Nix matches against trusted-public-keys.
	Name string
	// Public is the public key line, "<name>:<base64>", that users trust.
	Public string
}

// Sign signs a narinfo fingerprint.
func (k *Key) Sign(fingerprint string) (signature.Signature, error) {
	sig, err := k.secret.Sign(nil, fingerprint)
	if err != nil {
		return signature.Signature{}, fmt.Errorf("sign with key %q: %w", k.Name, err)
	}
	return sig, nil
}

// String names the key without its secret: a Key printed with %v, %s or
// %#v, in a log line or an error, shows this and nothing of the key.
// (Value receivers, so that a copy of a Key is covered too.)
func (k Key) String() string { return "signing key " + k.Name + " (secret redacted)" }

// GoString is String, for %#v.
func (k Key) GoString() string { return k.String() }

// Format prints String whatever the verb (%x, %q, %+v and the rest), so
// no formatting of a Key reaches its fields.
func (k Key) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

// MaskValues returns every form in which the secret key could be printed,
// for a log to hide (see MaskValues).
func (k *Key) MaskValues() []string { return MaskValues(k.secret.String()) }

// MaskValues returns every form in which a secret key, given as
// "NAME:BASE64", could be printed: the whole key, its base64 part, and
// when that decodes to the 64 bytes of a key, those bytes as hex, the seed
// (the first half) as base64 and as hex, and the public part as hex. The
// public part's base64 is left out on purpose: it is the public key users
// must copy from the summary into trusted-public-keys. A value that is no
// key at all is returned whole, with what follows its first colon.
func MaskValues(secret string) []string {
	secret = strings.TrimSpace(secret)
	if secret == "" {
		return nil
	}
	out := []string{secret}
	_, data, ok := strings.Cut(secret, ":")
	if !ok || data == "" {
		return out
	}
	out = append(out, data)
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return out
	}
	seed, pub := raw[:ed25519.SeedSize], raw[ed25519.SeedSize:]
	return append(out, hex.EncodeToString(raw),
		base64.StdEncoding.EncodeToString(seed), hex.EncodeToString(seed), hex.EncodeToString(pub))
}

// PublicKey returns the public half for verification.
func (k *Key) PublicKey() signature.PublicKey { return k.secret.ToPublicKey() }

// Parse parses a secret key in Nix's format.
func Parse(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	const want = "expected a Nix secret key, NAME:BASE64 of 64 bytes, as `nix key generate-secret` prints it"
	name, data, ok := strings.Cut(s, ":")
	if !ok || name == "" || strings.ContainsAny(name, " \t\n") {
		return nil, fmt.Errorf("the key is malformed (%d characters, no NAME: prefix); %s", len(s), want)
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, fmt.Errorf("the key named %q is not valid base64; %s", name, want)
	}
	switch len(raw) {
	case ed25519.PrivateKeySize:
	case ed25519.PublicKeySize:
		return nil, fmt.Errorf("the key named %q is a public key (32 bytes); give the secret key instead (%s); the public key is what users put in trusted-public-keys", name, want)
	default:
		return nil, fmt.Errorf("the key named %q holds %d bytes; %s", name, len(raw), want)
	}
	priv := ed25519.PrivateKey(raw)
	// A key whose second half is not the public key of its seed would sign
	// with one key and advertise another: refuse it.
	if !ed25519.NewKeyFromSeed(priv.Seed()).Equal(priv) {
		return nil, fmt.Errorf("the key named %q is corrupt: its public half does not match its seed; %s", name, want)
	}
	sk, err := signature.LoadSecretKey(name + ":" + data)
	if err != nil {
		return nil, fmt.Errorf("the key named %q could not be loaded; %s", name, want)
	}
	return &Key{secret: sk, Name: name, Public: sk.ToPublicKey().String()}, nil
}

// Generate makes a new key pair and returns the secret and public lines in
// Nix's format, as `nix key generate-secret` and `nix key
// convert-secret-to-public` print them.
func Generate(name string) (secret, public string, err error) {
	sk, pk, err := signature.GenerateKeypair(name, rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate key %q: %w", name, err)
	}
	return sk.String(), pk.String(), nil
}

// WriteKeyPair writes a new key pair named name to prefix.sec (the secret,
// mode 0600) and prefix.pub, and returns the public key. An existing
// prefix.sec is kept, never overwritten: kept is true and public is what
// prefix.pub holds.
func WriteKeyPair(name, prefix string) (public string, kept bool, err error) {
	if _, err := os.Stat(prefix + ".sec"); err == nil {
		pub, err := os.ReadFile(prefix + ".pub")
		if err != nil {
			return "", true, fmt.Errorf("%s.sec exists but %s.pub cannot be read: %w", prefix, prefix, err)
		}
		return strings.TrimSpace(string(pub)), true, nil
	}
	sec, pub, err := Generate(name)
	if err != nil {
		return "", false, err
	}
	if err := os.WriteFile(prefix+".sec", []byte(sec), 0o600); err != nil {
		return "", false, err
	}
	if err := os.WriteFile(prefix+".pub", []byte(pub+"\n"), 0o644); err != nil {
		return "", false, err
	}
	return pub, false, nil
}
