package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// FloxStandIn builds the stand-in `flox` (internal/build/testdata/
// flox-standin) and returns the binary's path. It is built static, so that
// it runs in the container test's root file system too, into a directory
// every user can reach, since as root builds run as a user of their own.
func FloxStandIn(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(OpenTempDir(t), "flox")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./internal/build/testdata/flox-standin")
	cmd.Dir = ProjectRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the flox stand-in: %v\n%s", err, out)
	}
	return bin
}

// FloxStandInPATH builds the stand-in `flox` (see FloxStandIn) and returns
// a PATH that finds it first.
func FloxStandInPATH(t testing.TB) string {
	t.Helper()
	return filepath.Dir(FloxStandIn(t)) + string(os.PathListSeparator) + os.Getenv("PATH")
}
