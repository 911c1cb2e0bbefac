package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// DockerfileInstructions reads the project's Dockerfile as its
// instructions, one a string: continuation lines joined, comments dropped.
// No Docker engine runs here, so tests read the Dockerfile instead.
func DockerfileInstructions(t testing.TB) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(ProjectRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var instrs []string
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		instrs = append(instrs, cur.String())
		cur.Reset()
	}
	return instrs
}
