// Package report says what a run published: the step outputs, the job
// summary in Markdown, and the same facts as text in a terminal.
package report

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
)

// Path statuses, as the cache reports them.
const (
	Uploaded    = "uploaded"
	Present     = "present"
	WouldUpload = "would-upload"
	Upstream    = "upstream"
)

// Package is one published build.
type Package struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	System     string   `json:"system"`
	StorePaths []string `json:"store_paths"`
	// NarSize is the total NAR size of the package's closure, in bytes.
	NarSize uint64 `json:"nar_size"`
	// Status is "uploaded" when this run wrote any path of the closure,
	// "present" when the store had all of them, "would-upload" in a dry run.
	Status string `json:"status"`
	// PathsUploaded and PathsPresent count the closure's paths.
	PathsUploaded int `json:"paths_uploaded"`
	PathsPresent  int `json:"paths_present"`
	// PathsUpstream counts the closure's paths an upstream cache serves,
	// which were not uploaded; NarSizeUpstream is their NAR size.
	PathsUpstream   int    `json:"paths_upstream"`
	NarSizeUpstream uint64 `json:"nar_size_upstream"`
	// CatalogURL is the package's catalog page (FloxHub) or its catalog
	// index object in the store; in a dry run, the one it would have.
	CatalogURL string `json:"catalog_url,omitempty"`
	// Note says more about the status, e.g. when FloxHub already had it.
	Note string `json:"note,omitempty"`
	// ClosureManifest is the package's closure manifest, the attestation
	// subject that covers its whole closure; nil when there is none (the
	// catalog takes metadata only, or an earlier run's record predates
	// manifests).
	ClosureManifest *ClosureManifest `json:"closure_manifest,omitempty"`
	// InFloxHub is true when FloxHub has the build (this run recorded it,
	// or it was published before): only then does `flox install` find it.
	InFloxHub bool `json:"-"`
}

// ClosureManifest names a package's closure manifest (package closure).
type ClosureManifest struct {
	// Key is its key in the store, closure/<hash>-<name>.closure.json;
	// URL its address there, "" when it is not stored (a dry run, or a
	// store that takes store paths only).
	Key    string `json:"key"`
	URL    string `json:"url,omitempty"`
	SHA256 string `json:"sha256"` // of its bytes, in hex: the attestation subject's digest
	Paths  int    `json:"paths"`  // the closure's paths it lists
}

// Name is the manifest's file name, the attestation subject's name.
func (c *ClosureManifest) Name() string { return c.Key[strings.LastIndex(c.Key, "/")+1:] }

// Report is everything a run tells its reader.
type Report struct {
	DryRun bool
	// Mode is the first line of the summary: which mode ran and why.
	Mode     string
	Rev      string
	Ref      string
	RevCount int
	RepoURL  string // web URL of the commit's repository, when known
	StoreURL string
	// InstallFrom is the binary cache consumers fetch the paths from with
	// Nix when it is not StoreURL (a catalog's egress URI); NoNixInstall
	// says there is none they can read (Flox's own store, which only
	// flox install reaches), so no Nix commands are shown.
	InstallFrom  string
	NoNixInstall bool
	PublicKey    string // "" when nothing was signed
	Builder      string
	Catalog      string
	// FloxHub is true when the run had a FloxHub token: a package FloxHub
	// does not have was then refused or not recorded, rather than never
	// sent.
	FloxHub  bool
	Packages []Package
	Warnings []string
	// RunURL is the workflow run that produced the paths.
	RunURL string
	// Upstream says what upstream caches served instead of the store.
	Upstream UpstreamSummary
	// Subjects are what the subject-checksums output names: each
	// package's output NARs and its closure manifest.
	Subjects []Subject
}

// UpstreamSummary is what upstream caches served.
type UpstreamSummary struct {
	Paths    int
	NarBytes uint64
	// Caches are the upstreams that serve at least one path: consumers
	// need them as substituters, with Keys trusted.
	Caches []string
	Keys   []string
}

// Subject is one published file: an output's NAR, Name "<hash>-<name>.nar"
// (what `nix-store --dump PATH > NAME` writes) and SHA256 the NAR's sha256
// (its narinfo's NarHash); or a closure manifest, Name its file name and
// SHA256 that of its bytes.
type Subject struct {
	Name   string
	SHA256 []byte
}

// DefaultSubstituter is in every Nix installation's substituters, with
// its key trusted: consumers need no configuration for it.
const (
	DefaultSubstituter = "https://cache.nixos.org"
	DefaultKey         = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="
)

// SubjectChecksums lists subjects as `actions/attest-build-provenance`
// reads its subject-checksums input (sha256sum's format): one line per
// subject, the lowercase hex digest, two spaces, the name. The action
// rejects a digest with an algorithm prefix such as "sha256:".
func SubjectChecksums(subjects []Subject) string {
	lines := make([]string, 0, len(subjects))
	seen := map[string]bool{}
	for _, s := range subjects {
		l := hex.EncodeToString(s.SHA256) + "  " + s.Name
		if !seen[l] {
			seen[l] = true
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// Outputs are the step outputs: store-paths (one per line), packages (a
// JSON array), catalog-urls, dry-run and subject-checksums.
func (r *Report) Outputs() ([][2]string, error) {
	var paths []string
	for _, p := range r.Packages {
		paths = append(paths, p.StorePaths...)
	}
	pkgs := r.Packages
	if pkgs == nil {
		pkgs = []Package{}
	}
	js, err := json.Marshal(pkgs)
	if err != nil {
		return nil, fmt.Errorf("encode the packages output: %w", err)
	}
	var links []string
	for _, p := range r.Packages {
		if p.CatalogURL != "" {
			links = append(links, p.CatalogURL)
		}
	}
	return [][2]string{
		{"store-paths", strings.Join(paths, "\n")},
		{"catalog-urls", strings.Join(links, "\n")},
		{"packages", string(js)},
		{"dry-run", fmt.Sprint(r.DryRun)},
		{"subject-checksums", SubjectChecksums(r.Subjects)},
	}, nil
}

// Size formats a byte count for people.
func Size(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func statusText(p Package) string {
	switch p.Status {
	case Uploaded:
		if p.PathsPresent > 0 {
			return fmt.Sprintf("uploaded (%d new, %d already present)", p.PathsUploaded, p.PathsPresent)
		}
		if p.PathsUpstream > 0 {
			return fmt.Sprintf("uploaded (%d new, %d from upstream)", p.PathsUploaded, p.PathsUpstream)
		}
		return fmt.Sprintf("uploaded (%s)", plural(p.PathsUploaded, "path"))
	case Present:
		if p.Note != "" {
			return p.Note
		}
		return "already present, nothing uploaded"
	case WouldUpload:
		return "dry run: would upload"
	}
	return p.Status
}

func (r *Report) commitText() string {
	rev := r.Rev
	if len(rev) > 12 {
		rev = rev[:12]
	}
	s := rev
	if r.Ref != "" {
		s += " (" + r.Ref + ")"
	}
	if r.RevCount > 0 {
		s += fmt.Sprintf(", revision %d", r.RevCount)
	}
	return s
}

// Markdown is the job summary.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", r.Mode)
	commit := "`" + r.commitText() + "`"
	if r.RepoURL != "" && r.Rev != "" {
		commit = fmt.Sprintf("[`%s`](%s/commit/%s)", r.commitText(), r.RepoURL, r.Rev)
	}
	fmt.Fprintf(&b, "Built from %s with the %s builder", commit, r.Builder)
	if r.StoreURL != "" {
		fmt.Fprintf(&b, "; store `%s`", r.StoreURL)
	}
	b.WriteString(".")
	if r.RevCount > 0 {
		b.WriteString(" " + revisionNote)
	}
	b.WriteString("\n\n")
	if r.RunURL != "" {
		fmt.Fprintf(&b, "Produced by workflow run %s.\n\n", mdLink(r.RunURL))
	}
	if u := r.upstreamLine(); u != "" {
		b.WriteString(u + "\n\n")
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "> [!WARNING]\n> %s\n\n", strings.ReplaceAll(w, "\n", "\n> "))
	}
	if n := r.unsignedNote(); n != "" {
		b.WriteString(n + "\n\n")
	}
	if len(r.Packages) > 0 {
		b.WriteString("| Package | Version | System | Store path | Size | Result |\n|---|---|---|---|---|---|\n")
		for _, p := range r.Packages {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", mdCell(p.Name), mdCell(p.Version), p.System,
				mdPaths(p.StorePaths), Size(p.NarSize), statusText(p))
		}
		b.WriteString("\n")
	}
	if m := r.manifestLines(true); m != "" {
		b.WriteString(m + "\n")
	}
	if cat := r.catalogLines(true); cat != "" {
		b.WriteString(cat + "\n")
	}
	// The public key is shown once: inside the install commands when there
	// is something to install, else on its own.
	if cmds := r.installCommands(); cmds != "" {
		b.WriteString("**Install with Nix.** The first line is the public key users trust; the commands need no Nix configuration (root, a single-user Nix or a trusted user):\n\n```sh\n" + cmds + "```\n\n")
		b.WriteString(multiUserNote + "\n")
	} else if r.PublicKey != "" {
		b.WriteString("**Public key** (what users trust): `" + r.PublicKey + "`\n")
	}
	return b.String()
}

// revisionNote explains the "revision N" shown beside the commit.
const revisionNote = "The revision is the number of commits in the commit's history (`git rev-list --count`); the catalog orders builds of the same version by it."

// multiUserNote says what the install commands need on a Nix whose daemon
// does not trust the user: it ignores substituters and keys given on the
// command line.
const multiUserNote = "On a multi-user install whose daemon does not trust you, `--option` is ignored: add the store and the key to `/etc/nix/nix.conf` as `extra-substituters` and `extra-trusted-public-keys`, restart `nix-daemon`, then run `nix-store --realise` with the paths alone."

// unsignedNote says that a dry run without a key signed nothing; "" otherwise.
func (r *Report) unsignedNote() string {
	if !r.DryRun || r.PublicKey != "" || len(r.Packages) == 0 {
		return ""
	}
	return "Nothing was signed: this dry run had no signing key (pull-request runs never read one). A publishing run signs every path."
}

// installCommands returns the shell lines that fetch the published paths
// into a default Nix installation: the public key in a variable, then
// nix-store --realise with the store as the only substituter. "" when
// there is nothing to install from.
func (r *Report) installCommands() string {
	if r.DryRun || r.StoreURL == "" || r.NoNixInstall || r.PublicKey == "" || len(r.Packages) == 0 {
		return ""
	}
	var paths []string
	for _, p := range r.Packages {
		paths = append(paths, p.StorePaths...)
	}
	if len(paths) == 0 { // every package was published already, by an earlier run
		return ""
	}
	subs, keys := r.substituters()
	return "key=" + ShellQuote(r.PublicKey) + "\n" + InstallCommand(subs, keys, paths) + "\n"
}

// substituters are the caches a consumer needs, the store first, and the
// keys they are trusted by besides the store's own: the upstream caches
// too when they served part of the closure, since --option substituters
// replaces Nix's default list.
func (r *Report) substituters() (subs, upstreamKeys []string) {
	subs = []string{r.StoreURL}
	if r.InstallFrom != "" {
		subs = []string{r.InstallFrom}
	}
	if r.Upstream.Paths > 0 {
		subs = append(subs, r.Upstream.Caches...)
		upstreamKeys = r.Upstream.Keys
	}
	return subs, upstreamKeys
}

// InstallCommand is the command that fetches paths from the binary caches
// (the store first), checking their signatures against the public key in
// the shell variable $key and the upstream caches' keys. It needs no experimental feature and no nix.conf
// change, so it runs on a default Nix; the README's "Try it" uses the same
// command.
func InstallCommand(substituters, upstreamKeys, paths []string) string {
	paths = slices.Clone(paths)
	sort.Strings(paths)
	keys := strings.Join(append([]string{"$key"}, upstreamKeys...), " ")
	return "nix-store --realise --option substituters " + ShellQuote(strings.Join(substituters, " ")) +
		` --option trusted-public-keys "` + keys + `" ` + strings.Join(paths, " ")
}

// ShellQuote quotes s for a POSIX shell.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// catalogLines lists each package's catalog link and how to install it;
// a dry run marks the links as not live yet.
func (r *Report) catalogLines(markdown bool) string {
	var b strings.Builder
	for _, p := range r.Packages {
		install := r.installLines(p)
		if p.CatalogURL == "" && len(install) == 0 {
			continue
		}
		live := ""
		if r.DryRun {
			live = " (not yet live: this run was a dry run)"
		}
		if markdown {
			fmt.Fprintf(&b, "- **%s**", mdCell(p.Name))
			if p.CatalogURL != "" {
				fmt.Fprintf(&b, ": %s%s", mdLink(p.CatalogURL), live)
			}
			for i, line := range install {
				if strings.HasPrefix(line, "flox install ") {
					line = "`" + line + "`"
				}
				if i == 0 {
					b.WriteString(" — " + line)
				} else {
					b.WriteString("\n  - " + line)
				}
			}
			b.WriteString("\n")
		} else {
			fmt.Fprintf(&b, "%s:", p.Name)
			if p.CatalogURL != "" {
				fmt.Fprintf(&b, " %s%s", p.CatalogURL, live)
			}
			b.WriteString("\n")
			for _, line := range install {
				fmt.Fprintf(&b, "  %s\n", strings.ReplaceAll(line, "`", ""))
			}
		}
	}
	if b.Len() == 0 {
		return ""
	}
	if markdown {
		return "**Catalog**\n\n" + b.String()
	}
	return "Catalog:\n" + b.String()
}

// manifestLines lists each package's closure manifest: what one
// attestation subject covers, and where a consumer finds it.
func (r *Report) manifestLines(markdown bool) string {
	var b strings.Builder
	for _, p := range r.Packages {
		c := p.ClosureManifest
		if c == nil {
			continue
		}
		where := c.URL
		switch {
		case r.DryRun:
			where = c.Key + " (not written: this run was a dry run)"
		case where == "":
			where = c.Key + " (not stored: the catalog's store takes store paths only)"
		}
		if markdown {
			fmt.Fprintf(&b, "- **%s**: %s — %s, sha256 `%s`\n", mdCell(p.Name), mdLink(where), plural(c.Paths, "path"), c.SHA256)
		} else {
			fmt.Fprintf(&b, "  %s: %s (%s, sha256 %s)\n", p.Name, where, plural(c.Paths, "path"), c.SHA256)
		}
	}
	if b.Len() == 0 {
		return ""
	}
	const about = "each lists every path of a package's closure with its NAR's sha256 and size, signed with the store's key; " +
		"`subject-checksums` names it and the package's output NARs, so one attestation covers the whole closure"
	if markdown {
		return "**Closure manifests**: " + about + ".\n\n" + b.String()
	}
	return "Closure manifests (" + strings.ReplaceAll(about, "`", "") + "):\n" + b.String()
}

// mdLink makes a web address a link; anything else (file://, s3://), which
// a browser cannot open from the summary, is plain text.
func mdLink(u string) string {
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return "[" + strings.NewReplacer("[", `\[`, "]", `\]`).Replace(u) + "](" + strings.NewReplacer("(", "%28", ")", "%29", " ", "%20").Replace(u) + ")"
	}
	return strings.NewReplacer("\\", `\\`, "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "<", `\<`, "`", "\\`").Replace(u)
}

// upstreamLine says what upstream caches served and that consumers need
// them; "" when they served nothing.
func (r *Report) upstreamLine() string {
	u := r.Upstream
	if u.Paths == 0 {
		return ""
	}
	verb := "were not uploaded"
	if r.DryRun {
		verb = "would not be uploaded"
	}
	s := fmt.Sprintf("%s (%s) %s: upstream caches serve them signed. Consumers substitute them from %s",
		plural(u.Paths, "path"), Size(u.NarBytes), verb, strings.Join(u.Caches, ", "))
	if len(u.Caches) == 1 && u.Caches[0] == DefaultSubstituter {
		s += ", which every Nix installation uses by default"
	}
	return s + "."
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// mdPaths is a table cell of store paths, a dash when there are none.
func mdPaths(paths []string) string {
	if len(paths) == 0 {
		return "—"
	}
	return "`" + strings.Join(paths, "`<br>`") + "`"
}

func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// Text is the report for a terminal.
func (r *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", r.Mode)
	fmt.Fprintf(&b, "Built from %s with the %s builder.\n", r.commitText(), r.Builder)
	if r.RevCount > 0 {
		fmt.Fprintf(&b, "%s\n", strings.ReplaceAll(revisionNote, "`", ""))
	}
	if r.StoreURL != "" {
		fmt.Fprintf(&b, "Store: %s\n", r.StoreURL)
	}
	if r.RunURL != "" {
		fmt.Fprintf(&b, "Workflow run: %s\n", r.RunURL)
	}
	if u := r.upstreamLine(); u != "" {
		b.WriteString(u + "\n")
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	if n := r.unsignedNote(); n != "" {
		fmt.Fprintf(&b, "%s\n", n)
	}
	if len(r.Packages) > 0 {
		b.WriteString("\n")
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PACKAGE\tVERSION\tSYSTEM\tSTORE PATH\tSIZE\tRESULT")
		for _, p := range r.Packages {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Version, p.System, strings.Join(p.StorePaths, " "), Size(p.NarSize), statusText(p))
		}
		tw.Flush()
	}
	if m := r.manifestLines(false); m != "" {
		b.WriteString("\n" + m)
	}
	if cat := r.catalogLines(false); cat != "" {
		b.WriteString("\n" + cat)
	}
	if cmds := r.installCommands(); cmds != "" {
		fmt.Fprintf(&b, "\nTo install with Nix (no configuration needed as root, on a single-user Nix or as a trusted user), run the\nfirst line, which holds the public key users trust, then the second:\n%s", indent(cmds))
		subs, keys := r.substituters()
		fmt.Fprintf(&b, "On a multi-user install whose daemon does not trust you, --option is ignored: add to /etc/nix/nix.conf\n  extra-substituters = %s\n  extra-trusted-public-keys = %s\nrestart nix-daemon, then run nix-store --realise with the paths alone.\n",
			strings.Join(subs, " "), strings.Join(append([]string{r.PublicKey}, keys...), " "))
	} else if r.PublicKey != "" {
		fmt.Fprintf(&b, "\nPublic key: %s\n", r.PublicKey)
	}
	return b.String()
}

// indent indents every line of s by two spaces.
func indent(s string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString("  " + l)
		}
	}
	return b.String()
}
