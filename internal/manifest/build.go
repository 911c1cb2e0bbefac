package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/flox-publish/publish-action/internal/nixpath"
)

// catalogName is FloxHub's rule for package names (the name pattern of the
// catalog API, cli/catalog-api-v1/openapi.json in flox/flox). A build's name
// becomes that package name, the pname of its store path, an argument of
// `flox build` and a result-<name> file, so validateBuildName adds what those
// refuse.
var catalogName = regexp.MustCompile(`^[a-zA-Z0-9.\-_]{1,128}$`)

// validateBuildName checks that name can name a published build.
func validateBuildName(name string) error {
	switch {
	case !catalogName.MatchString(name):
		return fmt.Errorf("build name %q is not a package name: use 1 to 128 letters, digits, '.', '-' or '_' (FloxHub's rule for package names)", name)
	case strings.HasPrefix(name, "-"):
		return fmt.Errorf("build name %q starts with '-', so flox build would read it as an option: start it with a letter or digit", name)
	case name == "." || name == "..":
		return fmt.Errorf("build name %q is not a name: Nix refuses it as a store path name; use letters or digits", name)
	}
	return nil
}

func (d *decoder) build(e *entry, p path) (Build, bool) {
	b := Build{Name: e.key, Sandbox: SandboxOff, Pos: d.src.pos(e.keyOff)}
	where := fmt.Sprintf("build %q", e.key)
	if e.val.kind != kindTable {
		// `[build] command = "..."` forgets the package name.
		d.fail(e.keyOff, `%s is %s, but [build] holds one table per package: write [build.<name>] with command = "..." in it`, p, e.val.kind)
		return b, false
	}
	ok := true
	if err := validateBuildName(e.key); err != nil {
		d.fail(e.keyOff, "%v", err)
		ok = false
	}

	var hasCommand bool
	d.fields(e.val, p, []field{
		{name: "command", set: func(e *entry, p path) {
			b.Command, hasCommand = d.str(e, p)
			if hasCommand && strings.TrimSpace(b.Command) == "" {
				d.fail(e.val.off, `%s: command is empty; it must write the package to $out`, where)
			}
		}},
		{name: "runtime-packages", set: func(e *entry, p path) {
			b.RuntimePackages = d.strList(e, p)
			b.RuntimePackagesSet = true
		}},
		{name: "sandbox", set: func(e *entry, p path) {
			s, ok := d.str(e, p)
			since113 := s == SandboxWarn || s == SandboxEnforce
			switch {
			case !ok:
			case since113 && d.schema < Schema1_13_0:
				d.tooNew(e.val.off, fmt.Sprintf("%s = %q", p, s), Schema1_13_0)
			case since113 || s == SandboxOff || s == SandboxPure:
				b.Sandbox = s
			case d.schema >= Schema1_13_0:
				d.fail(e.val.off, `%s: sandbox = %q is not a sandbox mode; use "off", "warn", "enforce" or "pure"`, where, s)
			default:
				d.fail(e.val.off, `%s: sandbox = %q is not a sandbox mode; use "off" or "pure"`, where, s)
			}
		}},
		{name: "sandbox-allow", since: Schema1_13_0, set: func(e *entry, p path) {
			b.SandboxAllow = d.strList(e, p)
			for _, el := range e.val.elems {
				// Flox hands the list to the sandbox space-separated.
				if el.kind == kindString && strings.IndexFunc(el.str, unicode.IsSpace) >= 0 {
					d.fail(el.off, `%s: sandbox-allow pattern %q contains whitespace, which the sandbox cannot take; use a glob such as "*" instead`, where, el.str)
				}
			}
		}},
		{name: "version", set: func(e *entry, p path) { b.Version = d.buildVersion(e, where) }},
		{name: "description", set: d.optStr(&b.Description)},
		{name: "license", set: d.optList(&b.License)},
	})
	if e.val.get("command") == nil {
		d.fail(e.keyOff, `%s has no command: add command = "..." that writes the package to $out`, where)
		ok = false
	}
	if ok {
		if v, static := b.Version.Static(); static {
			if err := ValidateVersion(b.Name, v); err != nil {
				off := e.keyOff
				if !b.Version.IsDefault() {
					off = e.val.get("version").val.off
				}
				d.fail(off, "%s: %v", where, err)
			}
		}
	}
	return b, ok && hasCommand
}

func (d *decoder) buildVersion(e *entry, where string) Version {
	v := e.val
	if v.kind == kindString {
		if v.str == "" {
			d.fail(v.off, `%s: version is empty; remove it to get the default %q, or set one`, where, DefaultBuildVersion)
			return Version{}
		}
		return Version{Literal: v.str, Pos: d.src.pos(v.off)}
	}
	off := v.off
	if v.kind == kindTable && len(v.entries) > 0 {
		ve := v.entries[0]
		switch {
		case ve.key != "file" && ve.key != "command":
			off = ve.keyOff // the key that makes the table none of the forms
		case len(v.entries) > 1:
			off = v.entries[1].keyOff
		case ve.val.kind != kindString:
			d.fail(ve.val.off, `%s: version.%s must be a string, not %s`, where, ve.key, ve.val.kind)
			return Version{}
		case strings.TrimSpace(ve.val.str) == "":
			d.fail(ve.val.off, `%s: version.%s is empty`, where, ve.key)
			return Version{}
		case ve.key == "file":
			return Version{File: ve.val.str, Pos: d.src.pos(ve.val.off)}
		default:
			return Version{Command: ve.val.str, Pos: d.src.pos(ve.val.off)}
		}
	}
	d.fail(off, `%s: version must be a string, { file = "PATH" } or { command = "..." }`, where)
	return Version{}
}

// ValidateVersion checks that a build's name and version make a valid Nix
// store path name, <name>-<version>. Builds whose version comes from a file
// or a command are checked by the caller once the version is known.
func ValidateVersion(name, version string) error {
	if version == "" {
		return fmt.Errorf("the version is empty")
	}
	if err := nixpath.ValidateName(name + "-" + version); err != nil {
		return fmt.Errorf("version %q cannot be part of a Nix store path name: %w", version, err)
	}
	return nil
}

// checkRuntimePackages reports runtime-packages naming nothing in [install].
// With [include], packages may come from included environments this parser
// does not read, so the check is left to the build.
func (d *decoder) checkRuntimePackages(m *Manifest, root *value) {
	for _, b := range m.builds {
		if rp := root.get("build").val.get(b.Name).val.get("runtime-packages"); rp != nil && !m.includes {
			for _, el := range rp.val.elems { // none unless a list
				if _, ok := m.Package(el.str); el.kind == kindString && !ok {
					d.fail(el.off, `build %q: runtime-packages names %q, which is not an install id in [install]`, b.Name, el.str)
				}
			}
		}
	}
}

// Builds returns the [build] tables in file order.
func (m *Manifest) Builds() []Build {
	return append([]Build(nil), m.builds...)
}

// Build returns the build called name.
func (m *Manifest) Build(name string) (Build, bool) {
	for _, b := range m.builds {
		if b.Name == name {
			return b, true
		}
	}
	return Build{}, false
}

// Select returns the named builds in the order asked (duplicates dropped),
// or every build when names is empty. A manifest without builds is an
// *Error at its [build] table (or its first line); a name that is not a
// build is a plain error, as the mistake is in the caller's list.
func (m *Manifest) Select(names []string) ([]Build, error) {
	if len(m.builds) == 0 {
		return nil, &Error{Pos: m.buildPos, Msg: "the manifest has no builds to publish: add a [build.<name>] table with a command that writes the package to $out"}
	}
	if len(names) == 0 {
		return m.Builds(), nil
	}
	var out []Build
	var missing []string
	seen := map[string]bool{}
	for _, n := range names {
		b, ok := m.Build(n)
		switch {
		case seen[n]:
		case !ok:
			missing = append(missing, fmt.Sprintf("%q", n))
		default:
			out = append(out, b)
		}
		seen[n] = true
	}
	if len(missing) > 0 {
		var have []string
		for _, b := range m.builds {
			have = append(have, b.Name)
		}
		noun := "no build named"
		if len(missing) > 1 {
			noun = "no builds named"
		}
		return nil, fmt.Errorf("%s %s in %s; its builds are: %s", noun, strings.Join(missing, ", "), m.Path, strings.Join(have, ", "))
	}
	return out, nil
}

// Select returns the named builds (all when names is empty) as the lock
// records them, which is what Flox publishes. They are returned with their
// places in manifest.toml, after checking that manifest.toml says the same:
// a build edited, added or removed since the environment was locked is an
// error saying to re-lock it, rather than a publish of what the lock says
// behind the user's back.
func (e *Environment) Select(names []string) ([]Build, error) {
	builds, err := e.Manifest.Select(names)
	if err != nil {
		return nil, err
	}
	var locked struct {
		Build map[string]any `json:"build"`
	}
	if len(e.Lock.Manifest) > 0 {
		if err := json.Unmarshal(e.Lock.Manifest, &locked); err != nil {
			return nil, &Error{Pos: Position{File: e.Lock.Path}, Msg: fmt.Sprintf("the lock's manifest.build is not a table of builds (%v): the lock is damaged; %s", err, relock)}
		}
	}
	var errs ErrorList
	stale := func(pos Position, format string, args ...any) {
		errs = append(errs, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...) + "; the lock is stale: " + relock})
	}
	for _, b := range builds {
		if lockedData, ok := locked.Build[b.Name]; !ok {
			stale(b.Pos, "build %q is in manifest.toml but not in %s, which Flox publishes from", b.Name, e.Lock.Path)
		} else if !sameData(lockedData, e.Manifest.buildData[b.Name]) {
			stale(b.Pos, "build %q differs between manifest.toml and %s, which Flox publishes from", b.Name, e.Lock.Path)
		}
	}
	// With [include], the lock's manifest is the merged one, which may hold
	// builds of the included environments.
	if len(names) == 0 && !e.Manifest.includes {
		for _, name := range slices.Sorted(maps.Keys(locked.Build)) {
			if _, ok := e.Manifest.Build(name); !ok {
				stale(Position{File: e.Lock.Path}, "build %q is in the lock but no longer in manifest.toml", name)
			}
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return builds, nil
}

const relock = "run `flox build` (or any flox command that edits the environment) where manifest.toml was edited, so that Flox locks it again, and commit .flox/env/manifest.lock"

// sameData compares a build as the lock records it (decoded JSON) with the
// same build read from manifest.toml (plain TOML data) by their JSON forms,
// which map both kinds of numbers to the same text.
func sameData(locked, manifest any) bool {
	a, errA := json.Marshal(locked)
	b, errB := json.Marshal(manifest)
	return errA == nil && errB == nil && bytes.Equal(a, b)
}

// Vars returns a copy of [vars].
func (m *Manifest) Vars() map[string]string {
	return maps.Clone(m.vars)
}

// Package returns the [install] entry with the given install id.
func (m *Manifest) Package(installID string) (Package, bool) {
	for _, p := range m.Install {
		if p.InstallID == installID {
			return p, true
		}
	}
	return Package{}, false
}
