package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flox-publish/publish-action/internal/nixpath"
)

// NixClosure builds, with real Nix, two raw derivations — a library whose
// build runs the shell commands libCommands after creating $out/lib/data,
// and an app that refers to it — and returns the app's store path and its
// closure as the local store describes it. A marker makes the paths new to
// the store on every run, so each test publishes paths Nix never copied.
func NixClosure(t testing.TB, prefix, libCommands string) (top string, closure []nixpath.PathInfo) {
	t.Helper()
	RequireTool(t, "nix-build")
	marker := strconv.FormatInt(time.Now().UnixNano(), 36)
	expr := `let
  lib = derivation { name = "` + prefix + `lib-` + marker + `"; system = builtins.currentSystem; builder = "/bin/sh"; PATH = "/usr/bin:/bin";
    args = [ "-c" "mkdir -p $out/lib; echo 'library ` + marker + `' > $out/lib/data; ` + libCommands + `" ]; };
in derivation { name = "` + prefix + `app-` + marker + `"; system = builtins.currentSystem; builder = "/bin/sh"; PATH = "/usr/bin:/bin";
  args = [ "-c" "mkdir -p $out/bin; printf '#!/bin/sh\\ncat ${lib}/lib/data\\n' > $out/bin/app; chmod +x $out/bin/app; echo ${lib} > $out/ref" ]; }`
	file := filepath.Join(t.TempDir(), "closure.nix")
	if err := os.WriteFile(file, []byte(expr), 0o644); err != nil {
		t.Fatal(err)
	}
	top = strings.TrimSpace(Nix(t, "nix-build", "--no-out-link", file))
	closure, err := nixpath.QueryClosure(context.Background(), NixEnv(t), top)
	if err != nil {
		t.Fatal(err)
	}
	if len(closure) != 2 {
		t.Fatalf("closure of %s has %d paths, want 2", top, len(closure))
	}
	return top, closure
}
