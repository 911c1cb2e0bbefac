// Package catalog is what a publish records and where its store paths go:
// the names of a published build (Target, Build), the plan of where the
// paths go given the catalog's store (Plan.Destination), and the index
// kept in the binary cache itself (Index), which lets a run without a
// FloxHub token tell that a build is already published. The FloxHub API
// client that fills in a Plan and records a Build is package floxhub.
package catalog

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/flox-publish/publish-action/internal/git"
	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/nixpath"
)

// Target names what is published: a package of a catalog, built from a
// source revision for a system. It is all the catalog needs to know before
// the build.
type Target struct {
	Catalog string // ^[a-zA-Z0-9\-_]{3,63}$
	Package string // the [build] key, ^[a-zA-Z0-9.\-_]{1,128}$
	System  string // x86_64-linux, aarch64-linux, x86_64-darwin or aarch64-darwin
	Source  Source
	// LockedBaseCatalogURL is the base catalog the manifest's lock pins
	// for its toplevel group (https://github.com/flox/nixpkgs?rev=…), or "".
	LockedBaseCatalogURL string
}

// Source is the git revision a build comes from.
type Source struct {
	// URL is the git remote. Credentials are removed before it is sent or
	// stored (see PublicSourceURL).
	URL      string
	Rev      string // full commit hash
	Ref      string // branch or tag, or ""
	RevCount int    // commits reachable from Rev (needs a full clone)
	RevDate  time.Time
}

// Build is one built package, as it is recorded once its store paths are
// in the store.
type Build struct {
	Target
	Version     string
	Description string
	License     []string
	// DrvPath is the derivation that built the outputs, or "" when the
	// outputs were not built by Nix.
	DrvPath string
	Outputs []Output
	// OutputsToInstall defaults to "out" when there is such an output, and
	// to every output otherwise, as Nix's meta.outputsToInstall does.
	OutputsToInstall []string
	// DotFloxDir is the environment's .flox directory relative to the
	// repository root; "" means ".flox".
	DotFloxDir string
	// NarInfos describe the published store paths (the outputs' closure).
	NarInfos []*narinfo.NarInfo

	RunURL string // the workflow run that published the build
	// Substituters are the upstream caches that serve paths of the
	// closure this publish did not upload; consumers need them besides
	// the store.
	Substituters []string
	KeyName      string    // name of the key that signed the store paths
	PublishedAt  time.Time // zero means now
}

// Output is one output of a build.
type Output struct {
	Name      string `json:"name"`       // "out", "man", …
	StorePath string `json:"store_path"` // /nix/store/<hash>-<name>
}

var (
	catalogNameRe = regexp.MustCompile(`^[a-zA-Z0-9\-_]{3,63}$`)
	packageNameRe = regexp.MustCompile(`^[a-zA-Z0-9.\-_]{1,128}$`)
	revRe         = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)
)

// Systems are the systems the catalog accepts builds for.
var systems = []string{"aarch64-darwin", "aarch64-linux", "x86_64-darwin", "x86_64-linux"}

// ValidateCatalogName checks a catalog name against the API's pattern.
func ValidateCatalogName(name string) error {
	if !catalogNameRe.MatchString(name) {
		return fmt.Errorf("%q is not a catalog name: 3 to 63 letters, digits, - and _", name)
	}
	return nil
}

// ValidatePackageName checks a package name against the API's pattern,
// and refuses "." and "..", which the pattern allows but which a URL path
// cannot carry as a segment.
func ValidatePackageName(name string) error {
	if !packageNameRe.MatchString(name) {
		return fmt.Errorf("%q is not a package name: 1 to 128 letters, digits, ., - and _", name)
	}
	if name == "." || name == ".." {
		return fmt.Errorf("%q cannot name a package", name)
	}
	return nil
}

func validateSystem(system string) error {
	for _, s := range systems {
		if system == s {
			return nil
		}
	}
	return fmt.Errorf("%q is not a system the catalog accepts (%s)", system, strings.Join(systems, ", "))
}

// validateKey checks what names a build in the catalog and in the index.
func (t Target) validateKey() error {
	var errs []error
	errs = append(errs, ValidateCatalogName(t.Catalog), ValidatePackageName(t.Package), validateSystem(t.System))
	if !revRe.MatchString(t.Source.Rev) {
		errs = append(errs, fmt.Errorf("%q is not a full git commit hash", t.Source.Rev))
	}
	return errors.Join(errs...)
}

// Validate checks everything the catalog requires of a target.
func (t Target) Validate() error {
	errs := []error{t.validateKey()}
	if _, err := PublicSourceURL(t.Source.URL); err != nil {
		errs = append(errs, err)
	}
	if t.LockedBaseCatalogURL != "" {
		if _, err := url.Parse(t.LockedBaseCatalogURL); err != nil {
			errs = append(errs, fmt.Errorf("locked base catalog URL %q: %w", t.LockedBaseCatalogURL, err))
		}
	}
	return errors.Join(errs...)
}

// Validate checks what a build record requires beyond its target.
func (b Build) Validate() error {
	errs := []error{b.Target.Validate()}
	if len(b.Outputs) == 0 {
		errs = append(errs, errors.New("a build has at least one output"))
	}
	for _, o := range b.Outputs {
		if o.Name == "" || !strings.HasPrefix(o.StorePath, nixpath.StoreDir+"/") {
			errs = append(errs, fmt.Errorf("output %q: %q is not a store path", o.Name, o.StorePath))
		}
	}
	if b.Source.RevDate.IsZero() {
		errs = append(errs, errors.New("the source revision's date is missing"))
	}
	if b.Source.RevCount < 1 {
		errs = append(errs, fmt.Errorf("the source revision count is %d; it needs the full history (a shallow clone counts wrong)", b.Source.RevCount))
	}
	return errors.Join(errs...)
}

// PublicSourceURL returns a git remote URL fit to publish: without a
// password, and without a user name except for ssh, where the user name is
// part of the address (git@github.com). An scp-like remote
// (git@host:path) is written as the ssh:// URL it means and a local path
// as a file:// URL, as Flox does.
func PublicSourceURL(remote string) (string, error) {
	switch {
	case remote == "":
		return "", errors.New("the source has no git remote URL")
	case strings.HasPrefix(remote, "/"):
		return (&url.URL{Scheme: "file", Path: remote}).String(), nil
	case !strings.Contains(remote, "://"):
		return scpRemote(remote)
	}
	clean := git.PublicURL(remote)
	u, err := url.Parse(clean)
	if err != nil {
		// The parse error quotes the URL.
		return "", errors.New("the git remote URL does not parse")
	}
	if u.Host == "" && u.Scheme != "file" {
		return "", fmt.Errorf("the git remote URL %q has no host", clean)
	}
	return clean, nil
}

// scpRemote reads git's scp-like syntax, [user@]host:path.
func scpRemote(remote string) (string, error) {
	userHost, path, ok := strings.Cut(remote, ":")
	if !ok || userHost == "" || strings.Contains(userHost, "/") {
		return "", errors.New("the git remote URL is neither a URL nor [user@]host:path")
	}
	if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, "@") {
		// user:password@host:path is not scp syntax; refuse it rather than
		// publish a password as part of a path.
		return "", errors.New("the git remote URL looks like it carries a password")
	}
	u := &url.URL{Scheme: "ssh", Host: userHost, Path: "/" + strings.TrimPrefix(path, "/")}
	if user, host, ok := strings.Cut(userHost, "@"); ok {
		u.User, u.Host = url.User(user), host
	}
	if u.Host == "" {
		return "", errors.New("the git remote URL has no host")
	}
	return u.String(), nil
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
