package manifest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const file = "env/.flox/env/manifest.toml"

// TestManifestErrors checks each kind of manifest error: where it points and
// what it says.
func TestManifestErrors(t *testing.T) {
	tests := []struct {
		name     string
		toml     string
		line     int
		col      int
		contains string
	}{
		// TOML itself
		{"syntax", "version = 1\n[build\n", 2, 7, "invalid TOML"},
		{"duplicate key", "version = 1\nversion = 1\n", 2, 1, "invalid TOML"},
		{"table defined twice", "version = 1\n[vars]\n[vars]\n", 3, 2, "invalid TOML"},

		// schema declaration
		{"no schema", "[install]\n", 1, 1, `declares no schema: add schema-version = "1.15.0"`},
		{"version 2", "version = 2\n", 1, 11, "version = 2 is not a manifest version"},
		{"version string", "version = \"1\"\n", 1, 11, "version must be the integer 1"},
		{"unknown schema", "schema-version = \"1.99.0\"\n", 1, 18, `schema-version "1.99.0" is not a schema this action knows`},
		{"schema not string", "schema-version = 1.1\n", 1, 18, "schema-version must be a version string"},
		{"both declarations", "version = 1\nschema-version = \"1.15.0\"\n", 2, 1, "both version and schema-version"},

		// unknown keys, also in dotted keys, headers and arrays of tables
		{"unknown top-level table", "version = 1\n[instal]\nhello.pkg-path = \"hello\"\n", 2, 2, `unknown key "instal" in the top level of the manifest`},
		{"suggestion", "version = 1\n[build.hello]\ncomand = \"x\"\n", 3, 1, `unknown key "comand" in [build.hello] (allowed: command, runtime-packages, sandbox, version, description, license); did you mean "command"?`},
		{"unknown dotted", "version = 1\n[build]\nhello.command = \"x\"\nhello.sandbx = \"off\"\n", 4, 7, `unknown key "sandbx" in [build.hello]`},
		{"unknown include key", "version = 1\n[include]\nollama = \"owner/ollama\"\n", 3, 1, `unknown key "ollama" in [include] (allowed: environments); to include an environment, list it: environments = [{ remote = "owner/ollama", name = "ollama" }]`},
		{"unknown options key", "version = 1\n[options]\nallow.free = true\n", 3, 7, `unknown key "free" in [options.allow]`},
		{"unknown quoted key", "version = 1\n[vars]\n[options]\n\"on activate\" = \"x\"\n", 4, 1, `unknown key "on activate" in [options]`},

		// keys from a newer schema than the manifest declares
		{"outputs in v1", "version = 1\n[install]\nbash.pkg-path = \"bash\"\nbash.outputs = \"all\"\n", 4, 6, `install.bash.outputs needs schema-version "1.10.0" or later, but this manifest declares version = 1`},
		{"sandbox-allow in 1.12", "schema-version = \"1.12.0\"\n[build.a]\ncommand = \"x\"\nsandbox-allow = [\"/etc\"]\n", 4, 1, `build.a.sandbox-allow needs schema-version "1.13.0" or later, but this manifest declares schema-version = "1.12.0"`},
		{"sandbox warn in v1", "version = 1\n[build.a]\ncommand = \"x\"\nsandbox = \"warn\"\n", 4, 11, `build.a.sandbox = "warn" needs schema-version "1.13.0"`},
		{"plugins in 1.13", "schema-version = \"1.13.0\"\n[plugins.secrets]\nTOKEN = \"a/b\"\n", 2, 2, `plugins needs schema-version "1.14.0"`},
		{"minimum-cli-version in v1", "version = 1\nminimum-cli-version = \"1.11.0\"\n", 2, 1, `minimum-cli-version needs schema-version "1.10.0"`},

		// values
		{"vars value not string", "version = 1\n[vars]\nPORT = 8080\n", 3, 8, "vars.PORT must be a string, not an integer"},
		{"install without source", "version = 1\n[install]\nhello.version = \"1\"\n", 3, 1, "install.hello needs one of pkg-path"},
		{"install two sources", "version = 1\n[install]\nhello = { pkg-path = \"hello\", flake = \"github:a/b\" }\n", 3, 31, "install.hello sets both pkg-path and flake"},
		{"install flake with pkg-group", "version = 1\n[install]\nhello = { flake = \"github:a/b\", pkg-group = \"g\" }\n", 3, 33, `unknown key "pkg-group" in [install.hello] (allowed: flake, priority, systems)`},
		{"install priority negative", "version = 1\n[install]\nhello = { pkg-path = \"hello\", priority = -1 }\n", 3, 42, "install.hello.priority must be a whole number"},
		{"outputs bad", "schema-version = \"1.10.0\"\n[install]\nhello = { pkg-path = \"hello\", outputs = \"some\" }\n", 3, 41, `install.hello.outputs must be "all" or a list`},
		{"systems not list", "version = 1\n[options]\nsystems = \"x86_64-linux\"\n", 3, 11, "options.systems must be a list of strings"},
		{"systems element", "version = 1\n[options]\nsystems = [\"x86_64-linux\", 3]\n", 3, 28, "options.systems[1] must be a string, not an integer"},
		{"activate mode", "version = 1\n[options.activate]\nmode = \"prod\"\n", 3, 8, `options.activate.mode = "prod" is not one of "dev", "run"`},
		{"allow not bool", "version = 1\n[options]\nallow.unfree = \"yes\"\n", 3, 16, "options.allow.unfree must be true or false, not a string"},
		{"include not list", "version = 1\n[include]\nenvironments = { dir = \"../a\" }\n", 3, 16, "include.environments must be a list"},

		// builds
		{"build without command", "version = 1\n[build.hello]\nversion = \"1.0\"\n", 2, 8, `build "hello" has no command`},
		{"build command empty", "version = 1\n[build.hello]\ncommand = \"  \"\n", 3, 11, `build "hello": command is empty`},
		{"build command not string", "version = 1\n[build.hello]\ncommand = [\"make\"]\n", 3, 11, "build.hello.command must be a string, not a list"},
		{"build not a table", "version = 1\n[build]\ncommand = \"make\"\n", 3, 1, "[build] holds one table per package"},
		{"build name", "version = 1\n[build.\"hello world\"]\ncommand = \"x\"\n", 2, 8, `build name "hello world" is not a package name: use 1 to 128 letters`},
		{"build name too long", "version = 1\n[build." + strings.Repeat("a", 129) + "]\ncommand = \"x\"\n", 2, 8, "use 1 to 128"},
		{"build name dot dot", "version = 1\n[build.\"..\"]\ncommand = \"x\"\n", 2, 8, `build name ".." is not a name`},
		{"build name option", "version = 1\n[build]\n--help.command = \"x\"\n", 3, 1, `build name "--help" starts with '-', so flox build would read it as an option`},
		{"build name dot", "version = 1\n[build.\".\"]\ncommand = \"x\"\n", 2, 8, `build name "." is not a name`},
		{"typo of a table publishing does not read", "version = 1\nhooks.on-activate = \"x\"\n", 2, 1, `unknown key "hooks" in the top level of the manifest (allowed: version, install, vars, hook, profile, options, services, build, containerize, include); did you mean "hook"?`},
		{"a table publishing does not read is not a table", "version = 1\nhook = \"echo\"\n", 2, 8, "hook must be a table, not a string"},
		{"include environments not a list", "version = 1\n[include]\nenvironments = \"../a\"\n", 3, 16, "include.environments must be a list"},
		{"version integer", "version = 1\n[build.hello]\ncommand = \"x\"\nversion = 3\n", 4, 11, `build "hello": version must be a string, { file = "PATH" } or { command = "..." }`},
		{"version two keys", "version = 1\n[build.hello]\ncommand = \"x\"\nversion = { file = \"V\", command = \"cat V\" }\n", 4, 25, `build "hello": version must be a string, { file = "PATH" } or { command = "..." }`},
		{"version unknown key", "version = 1\n[build.hello]\ncommand = \"x\"\nversion.path = \"VERSION\"\n", 4, 9, `build "hello": version must be a string`},
		{"version empty", "version = 1\n[build.hello]\ncommand = \"x\"\nversion = \"\"\n", 4, 11, "version is empty"},
		{"version file empty", "version = 1\n[build.hello]\ncommand = \"x\"\nversion.file = \"\"\n", 4, 16, "version.file is empty"},
		{"version not nix", "version = 1\n[build.hello]\ncommand = \"x\"\nversion = \"1.0 beta\"\n", 4, 11, `version "1.0 beta" cannot be part of a Nix store path name`},
		{"name+version too long", "version = 1\n[build." + strings.Repeat("a", 120) + "]\ncommand = \"x\"\nversion = \"" + strings.Repeat("1", 100) + "\"\n", 4, 11, "a store path name has at most 211"},
		{"sandbox bad", "schema-version = \"1.13.0\"\n[build.hello]\ncommand = \"x\"\nsandbox = \"on\"\n", 4, 11, `sandbox = "on" is not a sandbox mode; use "off", "warn", "enforce" or "pure"`},
		{"sandbox-allow space", "schema-version = \"1.13.0\"\n[build.hello]\ncommand = \"x\"\nsandbox-allow = [\"/a b\"]\n", 4, 18, "contains whitespace"},
		{"runtime package unknown", "version = 1\n[install]\ngcc.pkg-path = \"gcc\"\n[build.hello]\ncommand = \"x\"\nruntime-packages = [\"gcc\", \"glibc\"]\n", 6, 28, `runtime-packages names "glibc", which is not an install id`},
		{"license not list", "version = 1\n[build.hello]\ncommand = \"x\"\nlicense = \"MIT\"\n", 4, 11, "build.hello.license must be a list of strings"},

		// columns count characters, not bytes
		{"unicode column", "version = 1\n[vars]\n\"héllo\" = 1\n", 3, 11, `vars."héllo" must be a string`},
		{"syntax after unicode", "version = 1\n[vars]\n\"é\" = = 1\n", 3, 7, "invalid TOML"},
		{"crlf", "version = 1\r\n[vars]\r\nA = 1\r\n", 3, 5, "vars.A must be a string"},
		{"tab", "version = 1\n[vars]\n\tA = true\n", 3, 6, "vars.A must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseManifest(t.Context(), file, []byte(tt.toml))
			if err == nil {
				t.Fatalf("accepted:\n%s", tt.toml)
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("not an *Error: %T %v", err, err)
			}
			// A mistake can cause a second error (a misspelt command is
			// also a missing one): the expected one must be among them.
			want := fmt.Sprintf("%s:%d:%d", file, tt.line, tt.col)
			for _, e := range Errors(err) {
				if e.Pos.String() == want && strings.Contains(e.Msg, tt.contains) {
					if e.Error() != want+": "+e.Msg {
						t.Errorf("Error() = %q", e.Error())
					}
					return
				}
			}
			t.Errorf("no error at %s containing %q; got:\n%v", want, tt.contains, err)
		})
	}
}

// TestSeveralErrors checks that all problems are reported, in file order,
// and that errors.As still finds the first.
func TestSeveralErrors(t *testing.T) {
	src := "version = 1\n[vars]\nA = 1\n[build.hello]\nversion = 2\n[options]\nfoo = \"x\"\n"
	_, err := ParseManifest(t.Context(), file, []byte(src))
	list := Errors(err)
	var got []string
	for _, e := range list {
		got = append(got, e.Pos.String())
	}
	want := []string{file + ":3:5", file + ":4:8", file + ":5:11", file + ":7:1"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("positions %v, want %v\n%v", got, want, err)
	}
	var first *Error
	if !errors.As(err, &first) || first.Pos.Line != 3 {
		t.Fatalf("errors.As found %v", first)
	}
	if n := strings.Count(err.Error(), "\n"); n != 3 {
		t.Errorf("Error() has %d lines, want 4:\n%v", n+1, err)
	}
}

func TestErrorsLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("version = 1\n[vars]\n")
	for i := range 50 {
		fmt.Fprintf(&b, "V%d = %d\n", i, i)
	}
	_, err := ParseManifest(t.Context(), file, []byte(b.String()))
	if n := len(Errors(err)); n != maxErrors {
		t.Fatalf("%d errors, want %d", n, maxErrors)
	}
}
