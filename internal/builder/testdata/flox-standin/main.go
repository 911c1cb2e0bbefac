// Command flox is a stand-in for the Flox CLI in tests: Flox cannot be
// installed on the machines this project is tested on. It follows the part
// of Flox's command line and results that the flox builder relies on —
// `flox build [-d DIR] [PKG]...`, the build running `bash -e` on the
// manifest's command with [vars] set and $out the output, and a
// `result-<pkg>` link beside `.flox` pointing into /nix/store — and builds
// with real Nix (a raw derivation), so the outputs and their closure are
// real store paths in the local store.
//
// Set FLOX_STANDIN_REFERENCE to a store path to make every output refer to
// it, which gives the build a closure with a reference; or set
// FLOX_STANDIN_DEPENDENCY to a word, and every output refers to a
// derivation, built first, whose output holds it (where the store has no
// path to refer to, as in a fresh container). `flox --version`
// answers too (the image's build checks that flox runs), with a version
// that says what it is.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

type manifest struct {
	Vars  map[string]string `toml:"vars"`
	Build map[string]struct {
		Command string `toml:"command"`
		Version any    `toml:"version"`
	} `toml:"build"`
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "❌ ERROR:", err)
		os.Exit(1)
	}
}

// version is what `flox --version` prints: not a Flox release.
const version = "0.0.0-standin"

func run(args []string) error {
	if len(args) == 1 && args[0] == "--version" {
		fmt.Println(version)
		return nil
	}
	if len(args) == 0 || args[0] != "build" {
		return fmt.Errorf("the stand-in only supports `flox build`, got %q", args)
	}
	dir := "."
	var pkgs []string
	for i := 1; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--":
			// As Flox's argument parser (bpaf): what follows is positional.
			pkgs = append(pkgs, args[i+1:]...)
			i = len(args)
		case a == "-d" || a == "--dir":
			i++
			dir = args[i]
		case strings.HasPrefix(a, "-"):
			return fmt.Errorf("unsupported flag %s", a)
		default:
			pkgs = append(pkgs, a)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, ".flox", "env", "manifest.toml"))
	if err != nil {
		return err
	}
	var m manifest
	if err := toml.Unmarshal(data, &m); err != nil {
		return err
	}
	for _, p := range pkgs {
		b, ok := m.Build[p]
		if !ok {
			return fmt.Errorf("package '%s' not found in manifest", p)
		}
		version, err := buildVersion(dir, b.Version)
		if err != nil {
			return fmt.Errorf("package '%s': version: %w", p, err)
		}
		if err := buildOne(dir, p, version, b.Command, m.Vars); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "✅ Build completed successfully. Output created: ./result-%s\n", p)
	}
	return nil
}

// buildVersion is the version Flox names the output with: a string, a file
// relative to the environment's directory ({ file = "PATH" }), or what a
// command prints ({ command = "..." }), "0.0.0" when none is set.
func buildVersion(dir string, v any) (string, error) {
	var version string
	switch v := v.(type) {
	case string:
		version = v
	case map[string]any:
		if f, ok := v["file"].(string); ok {
			data, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				return "", err
			}
			version = string(data)
		} else if c, ok := v["command"].(string); ok {
			cmd := exec.Command("sh", "-c", c)
			cmd.Dir = dir
			out, err := cmd.Output()
			if err != nil {
				return "", fmt.Errorf("%s: %w", c, err)
			}
			version = string(out)
		}
	}
	if version = strings.TrimSpace(version); version == "" {
		version = "0.0.0"
	}
	return version, nil
}

func buildOne(dir, pname, version, command string, vars map[string]string) error {
	attrs := map[string]string{"PATH": "/usr/bin:/bin"}
	for k, v := range vars {
		attrs[k] = v
	}
	script := command
	dep := depAttr()
	if dep != "" {
		script += "\necho $dep > $out/.flox-standin-reference"
	}
	// The script ends in a builtin: bash execs a script's last simple
	// command in place of itself, and Nix 2.8 was seen to kill such a
	// builder (signal 9) in about half the runs of a derivation whose
	// script ended in chmod; ending in `true` it never was.
	script += "\ntrue\n"
	env, _ := json.Marshal(attrs)
	expr := fmt.Sprintf(`let attrs = builtins.fromJSON %s; in derivation (attrs // {
  name = %s; system = builtins.currentSystem; builder = "/bin/bash";
  args = [ "-e" "-c" %s ];
%s })`, quote(string(env)), quote(pname+"-"+version), quote("cd "+dir+"\n"+script), dep)
	file := filepath.Join(os.TempDir(), "flox-standin-"+pname+".nix")
	if err := os.WriteFile(file, []byte(expr), 0o644); err != nil {
		return err
	}
	cmd := exec.Command("nix-build", file, "--out-link", filepath.Join(dir, "result-"+pname))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// depAttr makes the reference a build input, so Nix records it as a
// reference of the output: FLOX_STANDIN_REFERENCE, a path in the store, or
// a derivation built first whose output holds FLOX_STANDIN_DEPENDENCY.
func depAttr() string {
	if ref := os.Getenv("FLOX_STANDIN_REFERENCE"); ref != "" {
		return "  dep = builtins.storePath " + quote(ref) + ";\n"
	}
	if text := os.Getenv("FLOX_STANDIN_DEPENDENCY"); text != "" {
		return `  dep = derivation { name = "flox-standin-dependency"; system = builtins.currentSystem; builder = "/bin/bash"; args = [ "-c" ` +
			quote("echo "+text+" > $out; true") + ` ]; };` + "\n"
	}
	return ""
}

// quote makes a Nix string literal. JSON's escapes are Nix's, once HTML
// escaping (\u003e) is off and "${" is escaped.
func quote(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.ReplaceAll(strings.TrimSpace(b.String()), "${", `\${`)
}
