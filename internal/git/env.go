package git

import "strings"

// envVars are the variables of the action's environment that its git
// commands see (see Env), besides git's own GIT_* settings.
var envVars = map[string]bool{
	"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "SHELL": true,
	"LANG": true, "LC_ALL": true, "LC_CTYPE": true, "TZ": true, "TERM": true,
	// git reads $XDG_CONFIG_HOME/git/config.
	"XDG_CONFIG_HOME": true,
	// What a fetch over ssh or https needs: the agent, the certificates,
	// the proxy.
	"SSH_AUTH_SOCK": true,
	"SSL_CERT_FILE": true, "SSL_CERT_DIR": true,
	"http_proxy": true, "https_proxy": true, "no_proxy": true, "all_proxy": true,
	"HTTP_PROXY": true, "HTTPS_PROXY": true, "NO_PROXY": true, "ALL_PROXY": true,
}

// Env filters environ down to what the action's git commands need: the
// verification's (which fetch from the user's remote) and the clean
// clone's. Every command a Git runs starts from it, whatever environment
// it was given.
//
// git starts other programs: ssh, remote helpers, and the credential
// helpers and ssh commands that the machine's or the user's git
// configuration names. None of them needs the action's inputs (the
// signing key is INPUT_SIGNING-KEY in Actions), tokens or cloud
// credentials, so none of those reaches them: only the variables above,
// and git's GIT_* settings but for any holding a token.
func Env(environ []string) []string {
	var out []string
	for _, kv := range environ {
		k, _, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if envVars[k] || strings.HasPrefix(k, "GIT_") && !strings.Contains(k, "TOKEN") {
			out = append(out, kv)
		}
	}
	return out
}
