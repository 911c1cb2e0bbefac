package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// GoBuildStatic builds the project's package pkg ("./internal/…") into
// out, without cgo, so that it runs on any Linux root file system.
func GoBuildStatic(t testing.TB, pkg, out string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = ProjectRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// FloxStandIn builds the stand-in `flox` (internal/builder/testdata/
// flox-standin) and returns the binary's path: static (see GoBuildStatic),
// in a directory every user can reach, since as root builds run as a user
// of their own.
func FloxStandIn(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(OpenTempDir(t), "flox")
	GoBuildStatic(t, "./internal/builder/testdata/flox-standin", bin)
	return bin
}

// FloxStandInPATH builds the stand-in `flox` (see FloxStandIn) and returns
// a PATH that finds it first.
func FloxStandInPATH(t testing.TB) string {
	t.Helper()
	return filepath.Dir(FloxStandIn(t)) + string(os.PathListSeparator) + os.Getenv("PATH")
}
