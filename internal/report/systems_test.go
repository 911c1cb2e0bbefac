package report

import (
	"strings"
	"testing"
)

func TestSystemsMarkdown(t *testing.T) {
	all := []string{"aarch64-darwin", "aarch64-linux", "x86_64-darwin", "x86_64-linux"}
	for _, tc := range []struct {
		name string
		s    Systems
		want []string
		not  []string
	}{
		{"one of four", Systems{Manifest: all, This: "aarch64-darwin"},
			[]string{"`aarch64-darwin`, `aarch64-linux`, `x86_64-darwin`, `x86_64-linux`", "This job published `aarch64-darwin`", "| `aarch64-darwin` | this job |", "| `x86_64-linux` | another job, on a runner of that system"},
			[]string{"⚠️"}},
		{"a dry run", Systems{Manifest: all, This: "x86_64-linux", DryRun: true}, []string{"This job built (a dry run) `x86_64-linux`"}, nil},
		{"not in the manifest", Systems{Manifest: []string{"x86_64-linux"}, This: "aarch64-darwin"}, []string{"⚠️ `aarch64-darwin`, this runner's system, is not one of them"}, nil},
		{"no systems set", Systems{This: "x86_64-linux"}, []string{"sets no `[options] systems`"}, []string{"|"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := tc.s.Markdown()
			for _, w := range tc.want {
				if !strings.Contains(md, w) {
					t.Errorf("lacks %q:\n%s", w, md)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(md, w) {
					t.Errorf("has %q:\n%s", w, md)
				}
			}
		})
	}
}
