package manifest

import (
	"fmt"
	"strings"
	"testing"
)

func manyVars(n int) []byte {
	var b strings.Builder
	b.WriteString("version = 1\n[vars]\n")
	for i := range n {
		fmt.Fprintf(&b, "VAR_%d = \"value %d\"\n", i, i)
	}
	return []byte(b.String())
}

// BenchmarkManyVars parses manifests with many [vars] keys.
func BenchmarkManyVars(b *testing.B) {
	for _, n := range []int{10000, 20000, 40000} {
		data := manyVars(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				_, err := ParseManifest(b.Context(), file, data)
				b.ReportMetric(float64(len(data)), "bytes")
				_ = err
			}
		})
	}
}
