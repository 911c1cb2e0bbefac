package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// Golden compares got with the golden file testdata/name of the test's
// package, or, with update (each package's -update flag), writes got there
// first. A difference fails the test with both texts.
func Golden(t testing.TB, name, got string, update bool) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from what the code writes (go test -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}
