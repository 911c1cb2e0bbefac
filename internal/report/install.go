package report

// install says how a published package is installed:
// `flox install <catalog>/<package>` only works once FloxHub has recorded
// the build; otherwise the paths can still be copied from the store they
// were uploaded to, by anyone who trusts the signing key.
type install struct {
	// flox is "flox install <catalog>/<package>", or "" when FloxHub has
	// no record of the build (no token, a dry run, a failed record).
	flox string
	// substituter is the binary cache clients read the paths from, "" when
	// there is none they can read (nothing uploaded, or Flox's own store,
	// which only flox install reaches).
	substituter string
	publicKey   string   // the key the paths are signed with, "name:base64"
	storePaths  []string // the outputs to install
	// why says why there is no flox line, when there is none.
	why string
}

// installAdvice makes the install of a package. recorded is true when
// FloxHub accepted the build record, or said it was already published;
// why says otherwise why not ("no floxhub-token was given", "this was a
// dry run").
func installAdvice(recorded bool, why, catalog, pkg, substituter, publicKey string, outputs []string) install {
	in := install{substituter: substituter, publicKey: publicKey, storePaths: outputs}
	if recorded {
		in.flox = "flox install " + catalog + "/" + pkg
	} else {
		in.why = why
	}
	return in
}

// lines are the advice in words, one instruction a line. They hold no Nix
// command: the report prints one recipe for the whole run (InstallCommand,
// `nix-store --realise` with the store as substituter and the key
// trusted, which runs on a default Nix), and these lines point to it.
func (in install) lines() []string {
	var lines []string
	switch {
	case in.flox != "":
		lines = append(lines, in.flox)
		if in.publicKey != "" && in.substituter != "" {
			lines = append(lines, "Clients must trust the signing key: add `extra-trusted-public-keys = "+in.publicKey+"` to nix.conf")
		}
	case in.substituter != "" && len(in.storePaths) > 0:
		why := ""
		if in.why != "" {
			why = " (" + in.why + ")"
		}
		lines = append(lines, "Not in FloxHub"+why+", so `flox install` cannot find it: install it with Nix from "+in.substituter+", as below")
	default:
		why := in.why
		if why == "" {
			why = "FloxHub has no record of it"
		}
		lines = append(lines, "Not installable from elsewhere: "+why+", and no binary cache clients can read holds it")
	}
	return lines
}

// installLines say how p is installed, none in a dry run or without a
// catalog.
func (r *Report) installLines(p Package) []string {
	if r.Catalog == "" || r.DryRun {
		return nil
	}
	why := "no floxhub-token was given"
	if r.FloxHub {
		why = "FloxHub has no record of it"
	}
	return installAdvice(p.InFloxHub, why, r.Catalog, p.Name, r.installSource(), r.PublicKey, p.StorePaths).lines()
}

// installSource is the binary cache consumers install the paths from with
// Nix: the catalog's egress when it has one, else the store; "" when
// there is none they can read.
func (r *Report) installSource() string {
	switch {
	case r.NoNixInstall:
		return ""
	case r.InstallFrom != "":
		return r.InstallFrom
	}
	return r.StoreURL
}
