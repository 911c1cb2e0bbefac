// Package image_test checks the image's files against what the action
// needs: the environment the Dockerfile sets, and a Flox that reads every
// manifest schema the action accepts.
package image_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/manifest"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// TestEnvironmentMatchesDockerfile: the image's ENV is image/environment,
// which the container test uses.
func TestEnvironmentMatchesDockerfile(t *testing.T) {
	want := readEnvironment(t)
	got := map[string]string{}
	copied := map[string]string{}
	for _, in := range testenv.DockerfileInstructions(t) {
		word, rest, _ := strings.Cut(in, " ")
		switch word {
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				got[k] = v
			}
		case "COPY":
			if f := strings.Fields(rest); len(f) == 2 {
				copied[f[0]] = f[1]
			}
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("the Dockerfile sets %s=%q, image/environment %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("the Dockerfile sets %s, which image/environment lacks (the container test would not)", k)
		}
	}
	if copied["image/nix.conf"] != "/etc/nix/nix.conf" {
		t.Errorf("the Dockerfile does not copy image/nix.conf to /etc/nix/nix.conf")
	}
	if _, ok := copied["image/setup.sh"]; !ok {
		t.Errorf("the Dockerfile does not copy image/setup.sh")
	}
}

func readEnvironment(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(testenv.ProjectRoot(t), "image", "environment"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env
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
