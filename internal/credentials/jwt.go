package credentials

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// claims are what an error message needs from a token. They are read
// without checking the signature: STS checks it, and these only explain
// STS's answer.
type claims struct {
	Subject  string
	Audience string
	Issuer   string
	Expires  time.Time
}

// decodeClaims reads a JWT's payload; a token it cannot read gives empty
// claims, shown as such.
func decodeClaims(token string) claims {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return claims{}
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return claims{}
	}
	var p struct {
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Iss string          `json:"iss"`
		Exp json.Number     `json:"exp"`
	}
	if json.Unmarshal(raw, &p) != nil {
		return claims{}
	}
	c := claims{Subject: p.Sub, Issuer: p.Iss}
	// aud is a string or a list of strings.
	var one string
	var many []string
	if json.Unmarshal(p.Aud, &one) == nil {
		c.Audience = one
	} else if json.Unmarshal(p.Aud, &many) == nil {
		c.Audience = strings.Join(many, ",")
	}
	if exp, err := p.Exp.Float64(); err == nil && exp > 0 {
		c.Expires = time.Unix(int64(exp), 0)
	}
	return c
}
