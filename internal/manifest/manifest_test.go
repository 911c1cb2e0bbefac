package manifest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, src string) *Manifest {
	t.Helper()
	m, err := ParseManifest(t.Context(), file, []byte(src))
	if err != nil {
		t.Fatalf("ParseManifest: %v\n%s", err, src)
	}
	return m
}

func buildNames(bs []Build) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Name)
	}
	return out
}

// TestBuildShapes covers the ways builds are written.
func TestBuildShapes(t *testing.T) {
	tests := []struct {
		name  string
		toml  string
		check func(t *testing.T, m *Manifest)
	}{
		{
			name: "dotted keys under a bare [build]",
			toml: "version = 1\n[build]\nhello.command = \"echo hello\"\nhello.version = \"2.0\"\nworld.command = \"echo world\"\n",
			check: func(t *testing.T, m *Manifest) {
				bs := m.Builds()
				if got := buildNames(bs); !reflect.DeepEqual(got, []string{"hello", "world"}) {
					t.Fatalf("builds %v", got)
				}
				if bs[0].Command != "echo hello" || bs[0].Version.Literal != "2.0" {
					t.Errorf("hello = %+v", bs[0])
				}
				if bs[0].Pos.Line != 3 || bs[0].Pos.Col != 1 {
					t.Errorf("hello at %v, want line 3 col 1", bs[0].Pos)
				}
				if bs[0].Version.Pos.Line != 4 || bs[0].Version.Pos.Col != 17 {
					t.Errorf("hello's version at %v, want 4:17", bs[0].Version.Pos)
				}
			},
		},
		{
			name: "tables, inline tables and dotted keys mixed, in file order",
			toml: "version = 1\n[build.zeta]\ncommand = \"z\"\n[build]\nalpha = { command = \"a\" }\n[build.mid]\ncommand = \"m\"\n",
			check: func(t *testing.T, m *Manifest) {
				if got := buildNames(m.Builds()); !reflect.DeepEqual(got, []string{"zeta", "alpha", "mid"}) {
					t.Fatalf("builds %v", got)
				}
			},
		},
		{
			name: "version forms",
			toml: `schema-version = "1.15.0"
[build.lit]
command = "x"
version = "1.2.3"
[build.file]
command = "x"
version.file = "VERSION"
[build.cmd]
command = "x"
version = { command = "git describe" }
[build.none]
command = "x"
`,
			check: func(t *testing.T, m *Manifest) {
				want := map[string]Version{
					"lit":  {Literal: "1.2.3"},
					"file": {File: "VERSION"},
					"cmd":  {Command: "git describe"},
					"none": {},
				}
				for _, b := range m.Builds() {
					v := b.Version
					v.Pos = Position{}
					if v != want[b.Name] {
						t.Errorf("%s: version %+v, want %+v", b.Name, v, want[b.Name])
					}
				}
				lit, _ := m.Build("lit")
				if s, ok := lit.Version.Static(); !ok || s != "1.2.3" {
					t.Errorf("lit Static() = %q %v", s, ok)
				}
				none, _ := m.Build("none")
				if s, ok := none.Version.Static(); !ok || s != DefaultBuildVersion || !none.Version.IsDefault() {
					t.Errorf("none Static() = %q %v", s, ok)
				}
				if none.Version.Pos != (Position{}) {
					t.Errorf("a default version has a position: %v", none.Version.Pos)
				}
				file, _ := m.Build("file")
				if _, ok := file.Version.Static(); ok {
					t.Errorf("a version file is static")
				}
				if file.Version.Pos.Line != 7 || file.Version.Pos.Col != 16 {
					t.Errorf("file version at %v, want 7:16", file.Version.Pos)
				}
			},
		},
		{
			name: "multi-line strings with lines that look like TOML",
			toml: "version = 1\n[build.rust]\ncommand = '''\n  cat > .cargo/config.toml <<EOF\n[source.crates-io]\nreplace-with = \"vendored\"\n[build.fake]\ncommand = \"no\"\nEOF\n'''\n" +
				"[build.py]\ncommand = \"\"\"\n[[build.other]]\nversion = \\\"x\\\"\n\"\"\"\n",
			check: func(t *testing.T, m *Manifest) {
				bs := m.Builds()
				if got := buildNames(bs); !reflect.DeepEqual(got, []string{"rust", "py"}) {
					t.Fatalf("builds %v", got)
				}
				if !strings.Contains(bs[0].Command, "[build.fake]\ncommand = \"no\"\n") {
					t.Errorf("rust command lost its text: %q", bs[0].Command)
				}
				if bs[1].Command != "[[build.other]]\nversion = \"x\"\n" {
					t.Errorf("py command %q", bs[1].Command)
				}
			},
		},
		{
			name: "build fields",
			toml: `schema-version = "1.13.0"
[install]
gcc.pkg-path = "gcc"
libiconv = { pkg-path = "libiconv" }
[build.app]
command = "make"
description = "An app"
license = ["MIT", "Apache-2.0"]
sandbox = "enforce"
sandbox-allow = ["~/.npm/**"]
runtime-packages = ["gcc", "libiconv"]
[build.bare]
command = "make"
runtime-packages = []
`,
			check: func(t *testing.T, m *Manifest) {
				app, _ := m.Build("app")
				want := Build{
					Name: "app", Command: "make", Description: "An app",
					License: []string{"MIT", "Apache-2.0"}, Sandbox: SandboxEnforce,
					SandboxAllow: []string{"~/.npm/**"}, RuntimePackages: []string{"gcc", "libiconv"},
					RuntimePackagesSet: true, Pos: Position{File: file, Line: 5, Col: 8},
				}
				if !reflect.DeepEqual(app, want) {
					t.Errorf("app =\n%+v\nwant\n%+v", app, want)
				}
				bare, _ := m.Build("bare")
				if bare.Sandbox != SandboxOff || !bare.RuntimePackagesSet || len(bare.RuntimePackages) != 0 {
					t.Errorf("bare = %+v", bare)
				}
			},
		},
		{
			name: "empty tables",
			toml: "schema-version = \"1.14.0\"\n[install]\n[vars]\n[hook]\n[profile]\n[services]\n[include]\n[build]\n[options]\n[containerize]\n[plugins]\n",
			check: func(t *testing.T, m *Manifest) {
				if len(m.Builds()) != 0 || len(m.Install) != 0 || len(m.Vars()) != 0 {
					t.Errorf("not empty: %+v", m)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, mustParse(t, tt.toml)) })
	}
}

// TestEverySection parses a manifest using every key of the 1.15.0 schema,
// and checks what publishing reads of it.
func TestEverySection(t *testing.T) {
	src := `schema-version = "1.15.0"
minimum-cli-version = { version = "1.11.0", reason = "needs include" }

[install]
hello.pkg-path = "hello"
hello.pkg-group = "tools"
hello.priority = 3
hello.version = "^2.12"
hello.systems = ["x86_64-linux"]
hello.outputs = ["out", "man"]
bash = { pkg-path = "bash", outputs = "all" }
nixpkgs-hello = { flake = "github:NixOS/nixpkgs#hello", priority = 1, systems = ["aarch64-darwin"], outputs = "all" }
fixed = { store-path = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-fixed", systems = ["x86_64-linux"], priority = 9 }

[vars]
GREETING = "hi"
"WITH SPACE" = ""

[hook]
on-activate = "echo on"
on-deactivate = "echo off"

[profile]
common = "c"
bash = "b"
zsh = "z"
fish = "f"
tcsh = "t"
deactivate.bash = "db"
deactivate.common = "dc"

[options]
systems = ["x86_64-linux", "aarch64-darwin"]
allow.unfree = true
allow.broken = false
allow.licenses = ["MIT"]
semver.allow-pre-releases = true
cuda-detection = false
activate.mode = "run"

[services]
auto-start = true
web.command = "serve"
web.vars = { PORT = "8080" }
web.is-daemon = true
web.shutdown.command = "kill"
web.systems = ["x86_64-linux"]
[services.web.systemd.unit]
description = "web"
after = ["network.target"]
[services.web.systemd.service]
type_ = "Simple"
restart = "OnFailure"
restart_sec = 5
memory_max = "1G"
limit_nofile = { Value = "4096" }
limit_core = { Range = { soft = "0", hard = "unlimited" } }
private_tmp = true
protect_home = "ReadOnly"
environment = { A = "1" }

[build.hello]
command = "make"

[containerize.config]
user = "app"
exposed-ports = ["8080/tcp"]
cmd = ["serve"]
volumes = ["/data"]
working-dir = "/app"
labels = { "org.opencontainers.image.title" = "hello" }
stop-signal = "SIGTERM"

[include]
environments = [
  { dir = "../base", name = "base" },
  { remote = "owner/env", generation = 3 },
  { reference = "owner/old" },
]

[plugins.secrets]
TOKEN = "vault/token"
nested = { depth = 2, list = [1, "a", true] }
`
	m := mustParse(t, src)
	if m.Schema != Schema1_15_0 || m.Schema.String() != "1.15.0" {
		t.Errorf("schema %v", m.Schema)
	}
	three, nine, one := uint64(3), uint64(9), uint64(1)
	wantInstall := []Package{
		{InstallID: "hello", Kind: KindCatalog, PkgPath: "hello", PkgGroup: "tools", Priority: &three, Version: "^2.12",
			Systems: []string{"x86_64-linux"}, Outputs: &Outputs{Names: []string{"out", "man"}}, Pos: Position{file, 5, 1}},
		{InstallID: "bash", Kind: KindCatalog, PkgPath: "bash", Outputs: &Outputs{All: true}, Pos: Position{file, 11, 1}},
		{InstallID: "nixpkgs-hello", Kind: KindFlake, Flake: "github:NixOS/nixpkgs#hello", Priority: &one,
			Systems: []string{"aarch64-darwin"}, Outputs: &Outputs{All: true}, Pos: Position{file, 12, 1}},
		{InstallID: "fixed", Kind: KindStorePath, StorePath: "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-fixed",
			Systems: []string{"x86_64-linux"}, Priority: &nine, Pos: Position{file, 13, 1}},
	}
	if !reflect.DeepEqual(m.Install, wantInstall) {
		t.Errorf("install =\n%+v\nwant\n%+v", m.Install, wantInstall)
	}
	if p, ok := m.Package("bash"); !ok || p.Group() != DefaultGroup {
		t.Errorf("bash group %q", p.Group())
	}
	if p, _ := m.Package("hello"); p.Group() != "tools" {
		t.Errorf("hello group %q", p.Group())
	}

	if v := m.Vars(); !reflect.DeepEqual(v, map[string]string{"GREETING": "hi", "WITH SPACE": ""}) {
		t.Errorf("vars %v", v)
	}
	m.Vars()["GREETING"] = "changed"
	if m.Vars()["GREETING"] != "hi" {
		t.Errorf("Vars() exposes the manifest's map")
	}
	o := m.Options
	if !reflect.DeepEqual(o.Systems, []string{"x86_64-linux", "aarch64-darwin"}) || !*o.Allow.Unfree || *o.Allow.Broken ||
		!reflect.DeepEqual(o.Allow.Licenses, []string{"MIT"}) || !*o.Semver.AllowPreReleases || *o.CUDADetection || o.Activate.Mode != "run" {
		t.Errorf("options %+v", o)
	}

	// The tables publishing does not read are accepted whole, whatever
	// keys Flox gives them.
	if !m.includes {
		t.Errorf("[include] not seen")
	}
}

// TestSchemaVersions checks each schema accepts what it introduced.
func TestSchemaVersions(t *testing.T) {
	tests := []struct {
		schema string
		want   SchemaVersion
		extra  string
	}{
		{"version = 1", SchemaV1, "[install]\na.pkg-path = \"a\"\n"},
		{`schema-version = "1.10.0"`, Schema1_10_0, "minimum-cli-version = \"anything\"\n[install]\na = { pkg-path = \"a\", outputs = \"all\" }\n"},
		{`schema-version = "1.11.0"`, Schema1_11_0, "minimum-cli-version = \"1.11.0-rc.1+build.5\"\n"},
		{`schema-version = "1.12.0"`, Schema1_12_0, "[services]\nauto-start = false\n"},
		{`schema-version = "1.13.0"`, Schema1_13_0, "[profile.deactivate]\nzsh = \"x\"\n[build.a]\ncommand = \"x\"\nsandbox = \"warn\"\nsandbox-allow = []\n"},
		{`schema-version = "1.14.0"`, Schema1_14_0, "[plugins]\nx = 1\n"},
		{`schema-version = "1.15.0"`, Schema1_15_0, "[hook]\non-deactivate = \"x\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.want.String(), func(t *testing.T) {
			m := mustParse(t, tt.schema+"\n"+tt.extra)
			if m.Schema != tt.want {
				t.Errorf("schema %v, want %v", m.Schema, tt.want)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	m := mustParse(t, "version = 1\n[build.a]\ncommand = \"x\"\n[build.b]\ncommand = \"x\"\n[build.c]\ncommand = \"x\"\n")
	tests := []struct {
		names   []string
		want    []string
		errWant string
	}{
		{nil, []string{"a", "b", "c"}, ""},
		{[]string{}, []string{"a", "b", "c"}, ""},
		{[]string{"c", "a", "c"}, []string{"c", "a"}, ""},
		{[]string{"a", "nope"}, nil, `no build named "nope" in ` + file + `; its builds are: a, b, c`},
		{[]string{"x", "y"}, nil, `no builds named "x", "y"`},
	}
	for _, tt := range tests {
		got, err := m.Select(tt.names)
		if tt.errWant != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errWant) {
				t.Errorf("Select(%q) error %v, want %q", tt.names, err, tt.errWant)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(buildNames(got), tt.want) {
			t.Errorf("Select(%q) = %v, %v; want %v", tt.names, buildNames(got), err, tt.want)
		}
	}

	for _, tt := range []struct {
		toml string
		want Position
	}{
		{"version = 1\n\n[build]\n", Position{file, 3, 2}},
		{"version = 1\n", Position{file, 1, 1}},
	} {
		empty := mustParse(t, tt.toml)
		for _, names := range [][]string{nil, {"a"}} {
			_, err := empty.Select(names)
			var perr *Error
			if !errors.As(err, &perr) || perr.Pos != tt.want || !strings.Contains(err.Error(), "no builds to publish: add a [build.<name>] table") {
				t.Errorf("Select(%q) on a manifest without builds: %v", names, err)
			}
		}
	}
}

func TestValidateVersion(t *testing.T) {
	for _, tt := range []struct {
		name, version string
		ok            bool
	}{
		{"hello", "1.0.2a", true},
		{"hello", "0.0.0", true},
		{"hello", "v1.0+git.abc", true},
		{"hello", "", false},
		{"hello", "1.0/2", false},
		{"hello", "1 0", false},
		{"hello", strings.Repeat("1", 210), false},
	} {
		if err := ValidateVersion(tt.name, tt.version); (err == nil) != tt.ok {
			t.Errorf("ValidateVersion(%q, %q) = %v", tt.name, tt.version, err)
		}
	}
}
