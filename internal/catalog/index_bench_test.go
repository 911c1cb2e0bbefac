package catalog

import (
	"context"
	"fmt"
	"testing"

	"github.com/flox-publish/publish-action/internal/store"
)

// BenchmarkIndexRecord records one more build of a package that has n
// already: the summary is derived again from a listing, and only records
// it does not hold yet are read.
func BenchmarkIndexRecord(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("existing=%d", n), func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			s := openTestStoreB(b, dir)
			idx, err := NewIndex(s)
			if err != nil {
				b.Fatal(err)
			}
			for k := range n {
				e, _ := newEntry(testBuild(testTarget()))
				e.Rev = rev(k + 1)
				if _, err := idx.writeRecord(ctx, "acme", "hello", e); err != nil {
					b.Fatal(err)
				}
			}
			if err := idx.Summarize(ctx, "acme", "hello"); err != nil {
				b.Fatal(err)
			}
			next := n + 1
			for b.Loop() {
				bl := testBuild(testTarget())
				bl.Source.Rev = rev(next)
				next++
				if _, err := idx.Record(ctx, bl); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func openTestStoreB(b *testing.B, dir string) *store.File {
	b.Helper()
	s, err := store.OpenFile(dir)
	if err != nil {
		b.Fatal(err)
	}
	return s
}
