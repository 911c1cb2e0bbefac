package store_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// syntheticClosure writes paths of size bytes each, half random and half
// text (so zstd has something to do), each referring to the one before,
// the way the local builder describes its outputs.
func syntheticClosure(b *testing.B, paths int, size int64) ([]nixpath.PathInfo, int64) {
	b.Helper()
	rng := rand.NewChaCha8([32]byte{42})
	var closure []nixpath.PathInfo
	var total int64
	var prev []string
	for i := range paths {
		dir := filepath.Join(b.TempDir(), "out")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, "data"))
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriter(f)
		io.CopyN(w, rng, size/2)
		line := []byte(fmt.Sprintf("path %d: the quick brown fox jumps over the lazy dog %s\n", i, strings.Repeat("=", 40)))
		for n := int64(0); n < size-size/2; n += int64(len(line)) {
			w.Write(line[:min(int64(len(line)), size-size/2-n)])
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		h, n, err := nixpath.HashNAR(dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		name := "bench-" + strconv.Itoa(i)
		p := nixpath.PathInfo{StorePath: nixpath.SourcePath(h, name, prev), References: prev, NarHash: h, NarSize: n, CA: nixpath.SourceCA(h), Source: dir}
		closure = append(closure, p)
		prev = []string{p.StorePath}
		total += int64(n)
	}
	return closure, total
}

// peakRSS reads this process's peak resident set (VmHWM) in bytes.
func peakRSS(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range bytes.Split(data, []byte("\n")) {
		if v, ok := bytes.CutPrefix(l, []byte("VmHWM:")); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(string(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// resetPeakRSS returns the previous runs' garbage to the system and
// restarts VmHWM from the current RSS (Linux ≥ 4.0).
func resetPeakRSS(b *testing.B) {
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPublish publishes one synthetic closure (4 paths of 32 MiB) to
// file:// and to MinIO, reporting NAR MB/s and the process's peak RSS.
// Run it with: go test ./internal/store -run '^$' -bench Publish -benchtime 3x
func BenchmarkPublish(b *testing.B) {
	closure, total := syntheticClosure(b, 4, 32<<20)
	sec, _, err := signing.Generate("bench-1")
	if err != nil {
		b.Fatal(err)
	}
	key, err := signing.Parse(sec)
	if err != nil {
		b.Fatal(err)
	}
	m := testenv.StartMinIO(b, testenv.MinIOOptions{})
	ctx := context.Background()

	for _, compression := range []string{"zstd", "none"} {
		for _, kind := range []string{"file", "s3"} {
			b.Run(kind+"/"+compression, func(b *testing.B) {
				b.SetBytes(total)
				var peak int64
				for range b.N {
					b.StopTimer()
					var st store.Store
					if kind == "file" {
						st, err = store.OpenFile(filepath.Join(b.TempDir(), "cache"))
					} else {
						loc, _ := store.ParseLocation("s3://" + m.CreateBucket(b) + "?endpoint=" + m.Endpoint)
						st, err = store.Open(ctx, loc, store.Options{Jobs: 4, Credentials: m.RootCredentials()})
					}
					if err != nil {
						b.Fatal(err)
					}
					resetPeakRSS(b)
					b.StartTimer()
					res, err := cache.Publish(ctx, cache.Options{Store: st, Key: key, Compression: compression, Jobs: 4}, closure)
					if err != nil {
						b.Fatal(err)
					}
					if len(res) != len(closure) || res[0].Status != cache.Uploaded {
						b.Fatalf("results: %+v", res)
					}
					peak = max(peak, peakRSS(b))
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
			})
		}
	}
}
