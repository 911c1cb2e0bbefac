package git

import (
	"net/url"
	"regexp"
	"strings"
)

var userInfo = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@`)

// PublicURL returns a remote URL fit to publish: no password ever, and no
// user name except for ssh, where the user (git@) is part of the address,
// not a secret. scp-like addresses (git@host:path) and local paths are
// returned as they are: they cannot hold a password. It is the one place
// that cleans remote URLs; the catalog writes the result in its own form.
func PublicURL(raw string) string {
	if !strings.Contains(raw, "://") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return userInfo.ReplaceAllString(raw, "$1")
	}
	if u.User != nil {
		switch strings.ToLower(u.Scheme) {
		case "ssh", "git+ssh", "ssh+git":
			u.User = url.User(u.User.Username())
		default:
			u.User = nil
		}
	}
	return u.String()
}
