package manifest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func manyVars(n int) []byte {
	var b strings.Builder
	b.WriteString("version = 1\n[vars]\n")
	for i := range n {
		fmt.Fprintf(&b, "VAR_%d = \"value %d\"\n", i, i)
	}
	return []byte(b.String())
}

// BenchmarkManyVars parses manifests with many [vars] keys: up to the key
// limit (MaxManifestKeys counts "version" too), and past it, where they are
// refused before the decoder's check, which is quadratic in keys, runs.
// Before the limit (go-toml v2.4.3, 2 shared cores): 10k 0.24 s, 20k
// 0.65 s, 40k 2.7 s.
func BenchmarkManyVars(b *testing.B) {
	for _, n := range []int{MaxManifestKeys - 2, 20000, 40000} {
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

// BenchmarkCancelledMidParse measures how long the largest accepted
// manifest takes to give up when its context is cancelled 10 ms into the
// parse: the tree pass sees ctx every 256 expressions, go-toml's check does
// not, so the answer is at most one go-toml check (see BenchmarkManyVars).
func BenchmarkCancelledMidParse(b *testing.B) {
	data := manyVars(MaxManifestKeys - 2)
	for b.Loop() {
		ctx, cancel := context.WithTimeout(b.Context(), 10*time.Millisecond)
		_, err := ParseManifest(ctx, file, data)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			b.Fatalf("not cancelled: %v", err)
		}
	}
}
