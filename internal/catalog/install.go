package catalog

import (
	"strings"

	"github.com/flox-publish/publish-action/internal/nixpath"
)

// Install says how a published package is installed, for the report:
// `flox install <catalog>/<package>` only works once FloxHub has recorded
// the build; otherwise the paths can still be copied from the store they
// were uploaded to, by anyone who trusts the signing key.
type Install struct {
	// Flox is "flox install <catalog>/<package>", or "" when FloxHub has
	// no record of the build (no token, a dry run, a failed record).
	Flox string
	// Substituter is the binary cache clients read the paths from, "" when
	// there is none they can read (nothing uploaded, or Flox's own store,
	// which only flox install reaches).
	Substituter string
	PublicKey   string   // the key the paths are signed with, "name:base64"
	StorePaths  []string // the outputs to install
	// Why says why there is no Flox line, when there is none.
	Why string
}

// InstallAdvice makes the Install of a package. recorded is true when
// FloxHub accepted the build record, or said it was already published;
// why says otherwise why not ("no floxhub-token was given", "this was a
// dry run").
func InstallAdvice(recorded bool, why, catalog, pkg, substituter, publicKey string, outputs []string) Install {
	in := Install{Substituter: substituter, PublicKey: publicKey, StorePaths: outputs}
	if recorded {
		in.Flox = "flox install " + catalog + "/" + pkg
	} else {
		in.Why = why
	}
	return in
}

// Lines are the advice in words, one instruction a line. They hold no Nix
// command: the report prints one recipe for the whole run
// (report.InstallCommand, `nix-store --realise` with the store as
// substituter and the key trusted, which runs on a default Nix), and these
// lines point to it.
func (in Install) Lines() []string {
	var lines []string
	switch {
	case in.Flox != "":
		lines = append(lines, in.Flox)
		if in.PublicKey != "" && in.Substituter != "" {
			lines = append(lines, "Clients must trust the signing key: add `extra-trusted-public-keys = "+in.PublicKey+"` to nix.conf")
		}
	case in.Substituter != "" && len(in.StorePaths) > 0:
		why := ""
		if in.Why != "" {
			why = " (" + in.Why + ")"
		}
		lines = append(lines, "Not in FloxHub"+why+", so `flox install` cannot find it: install it with Nix from "+in.Substituter+", as below")
	default:
		why := in.Why
		if why == "" {
			why = "FloxHub has no record of it"
		}
		lines = append(lines, "Not installable from elsewhere: "+why+", and no binary cache clients can read holds it")
	}
	return lines
}

// Substituter is the binary cache clients read d's paths from: the
// catalog's egress URI for nix-copy, none for Flox's publisher store
// (flox install reaches it), and the store uploaded to otherwise.
func (d Destination) Substituter() string {
	switch d.Type {
	case StoreNixCopy:
		return d.NarInfosSourceURL
	case StorePublisher:
		return ""
	}
	return d.Store.String()
}

// DrvPath is the derivation that built outputs, as the local store (or
// the narinfos) name it: the deriver the outputs share. It is "" when they
// have none (a build Nix did not make, such as the local builder's) or
// when they disagree, which a single derivation's outputs never do.
func DrvPath(outputs []Output, closure []nixpath.PathInfo) string {
	deriver := map[string]string{}
	for _, p := range closure {
		deriver[p.StorePath] = p.Deriver
	}
	drv := ""
	for k, o := range outputs {
		d := deriver[o.StorePath]
		if d == "" || k > 0 && d != drv {
			return ""
		}
		drv = d
	}
	if !strings.HasSuffix(drv, ".drv") {
		return ""
	}
	return drv
}
