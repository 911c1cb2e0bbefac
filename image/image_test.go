// Package image_test checks the image's files against what the action
// needs: the files the Dockerfile copies, and a Flox that reads every
// manifest schema the action accepts.
package image_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/manifest"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// TestDockerfileCopiesImageFiles: the image's Nix configuration and set-up
// are this folder's files (the container test runs the image they make).
func TestDockerfileCopiesImageFiles(t *testing.T) {
	copied := map[string]string{}
	for _, in := range testenv.DockerfileInstructions(t) {
		if rest, ok := strings.CutPrefix(in, "COPY "); ok {
			if f := strings.Fields(rest); len(f) == 2 {
				copied[f[0]] = f[1]
			}
		}
	}
	if copied["image/nix.conf"] != "/etc/nix/nix.conf" {
		t.Errorf("the Dockerfile does not copy image/nix.conf to /etc/nix/nix.conf")
	}
	if _, ok := copied["image/setup.sh"]; !ok {
		t.Errorf("the Dockerfile does not copy image/setup.sh")
	}
}

// TestFloxReadsEverySchema: the image's Flox reads every schema-version
// the action's parser accepts, per image/FLOX-VERSIONS.md.
func TestFloxReadsEverySchema(t *testing.T) {
	var floxVersion string
	for _, in := range testenv.DockerfileInstructions(t) {
		if v, ok := strings.CutPrefix(in, "ARG FLOX_VERSION="); ok {
			floxVersion = v
		}
	}
	if floxVersion == "" {
		t.Fatal("the Dockerfile has no ARG FLOX_VERSION=… default")
	}
	table, err := os.ReadFile(filepath.Join(testenv.ProjectRoot(t), "image", "FLOX-VERSIONS.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\| (\d+\.\d+\.\d+)(?: – (\d+\.\d+\.\d+))? \| (\d+\.\d+\.\d+) \|`)
	newest := ""
	for _, m := range row.FindAllStringSubmatch(string(table), -1) {
		lo, hi := m[1], m[2]
		if hi == "" {
			hi = lo
		}
		if semverLE(lo, floxVersion) && semverLE(floxVersion, hi) {
			newest = m[3]
		}
	}
	if newest == "" {
		t.Fatalf("Flox %s (Dockerfile FLOX_VERSION) is not in image/FLOX-VERSIONS.md: add the newest schema it reads, from Flox's source", floxVersion)
	}
	if latest := manifest.LatestSchema.String(); !semverLE(latest, newest) {
		t.Errorf("the image's Flox %s reads schema-version up to %s, but the action accepts up to %s: raise FLOX_VERSION", floxVersion, newest, latest)
	}
}

func semverLE(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range 3 {
		x, y := atoi(pa[i]), atoi(pb[i])
		if x != y {
			return x < y
		}
	}
	return true
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
