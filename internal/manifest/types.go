package manifest

// SchemaVersion is the schema a manifest declares. Flox checks each manifest
// against the schema it declares, not the newest one: a key introduced in
// 1.13.0 is an error in a `version = 1` manifest.
type SchemaVersion int

// The schemas Flox knows, oldest first.
const (
	SchemaV1     SchemaVersion = iota + 1 // `version = 1`
	Schema1_10_0                          // package outputs
	Schema1_11_0                          // minimum-cli-version as semver or { version, reason }
	Schema1_12_0                          // services.auto-start
	Schema1_13_0                          // profile.deactivate, build sandbox-allow, sandbox warn/enforce
	Schema1_14_0                          // [plugins]
	Schema1_15_0                          // hook.on-deactivate

	LatestSchema = Schema1_15_0
)

var schemaNames = [...]string{SchemaV1: "1", Schema1_10_0: "1.10.0", Schema1_11_0: "1.11.0", Schema1_12_0: "1.12.0",
	Schema1_13_0: "1.13.0", Schema1_14_0: "1.14.0", Schema1_15_0: "1.15.0"}

// String returns "1" for `version = 1` and the schema-version string otherwise.
func (s SchemaVersion) String() string {
	if s < SchemaV1 || s > LatestSchema {
		return "unknown"
	}
	return schemaNames[s]
}

// declaration renders the schema as it is written in a manifest.
func (s SchemaVersion) declaration() string {
	if s == SchemaV1 {
		return "version = 1"
	}
	return `schema-version = "` + s.String() + `"`
}

func parseSchemaVersion(s string) (SchemaVersion, bool) {
	for v := Schema1_10_0; v <= LatestSchema; v++ {
		if v.String() == s {
			return v, true
		}
	}
	return 0, false
}

// DefaultGroup is the package group of an [install] entry without pkg-group.
const DefaultGroup = "toplevel"

// DefaultBuildVersion is the version of a build that declares none.
const DefaultBuildVersion = "0.0.0"

// Sandbox modes of a build.
const (
	SandboxOff     = "off"
	SandboxWarn    = "warn"
	SandboxEnforce = "enforce"
	SandboxPure    = "pure"
)

// Manifest is a parsed .flox/env/manifest.toml. The tables publishing
// reads ([install], [vars], [options], [build]) are typed and checked key by
// key; the others are only checked to be tables, and left to Flox.
type Manifest struct {
	Path   string
	Schema SchemaVersion
	// Install lists the [install] entries in file order.
	Install []Package
	Options Options

	vars   map[string]string
	builds []Build
	// buildData is [build] as go-toml decodes it, to compare each build
	// with the one the lock records.
	buildData map[string]any
	// buildPos is where [build] is, or the start of the file without one:
	// "no builds" is annotated there.
	buildPos Position
	// includes tells that [include] names other environments, whose
	// packages this parser does not see.
	includes bool
}

// PackageKind says which of the three [install] descriptor forms an entry uses.
type PackageKind int

// Descriptor forms.
const (
	KindCatalog   PackageKind = iota + 1 // pkg-path
	KindFlake                            // flake
	KindStorePath                        // store-path
)

// Package is one [install] entry.
type Package struct {
	InstallID string
	Kind      PackageKind
	PkgPath   string // catalog
	PkgGroup  string // catalog; "" means toplevel
	Version   string // catalog: a semver range or an exact version
	Flake     string // flake installable
	StorePath string
	Priority  *uint64
	Systems   []string
	Outputs   *Outputs // nil: the package's default outputs
	Pos       Position // the install id
}

// Group returns the package group, "toplevel" when none is set.
func (p Package) Group() string {
	if p.PkgGroup == "" {
		return DefaultGroup
	}
	return p.PkgGroup
}

// Outputs is `outputs = "all"` or `outputs = ["out", "man"]`.
type Outputs struct {
	All   bool
	Names []string
}

// Options is [options]; Activate.Mode is "", "dev" or "run".
type Options struct {
	Systems []string
	Allow   struct {
		Unfree, Broken *bool
		Licenses       []string
	}
	Semver        struct{ AllowPreReleases *bool }
	CUDADetection *bool
	Activate      struct{ Mode string }
}

// Build is one [build.<name>] table.
type Build struct {
	Name            string
	Command         string
	Version         Version
	Description     string
	License         []string
	Sandbox         string // off (the default), warn, enforce or pure
	RuntimePackages []string
	// RuntimePackagesSet tells `runtime-packages = []` (nothing at run time)
	// from an absent key (the whole toplevel group).
	RuntimePackagesSet bool
	SandboxAllow       []string
	Pos                Position // the build's name
}

// Version is a build's version: a literal, the contents of a file, or the
// output of a command. None set means DefaultBuildVersion.
type Version struct {
	Literal string
	File    string // relative to the environment directory
	Command string
	Pos     Position // the value; zero when the build sets no version
}

// IsDefault reports whether the build declares no version.
func (v Version) IsDefault() bool { return v.Literal == "" && v.File == "" && v.Command == "" }

// Static returns the version when it is known without running anything: the
// literal, or DefaultBuildVersion.
func (v Version) Static() (string, bool) {
	switch {
	case v.Literal != "":
		return v.Literal, true
	case v.IsDefault():
		return DefaultBuildVersion, true
	}
	return "", false
}
