package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/store"
)

// publishResult is what a publish child reports to the benchmark.
type publishResult struct {
	Paths     int    `json:"paths"`
	Uploaded  int    `json:"uploaded"`
	NarBytes  uint64 `json:"narBytes"`
	FileBytes int64  `json:"fileBytes"`
}

// publishCmd publishes the closure of one store path the way the action's
// upload stage does: the same packages, options and read-back check. Its
// flags are those of every earlier version's, so that a benchmark can run
// another version's publish beside its own (-compare).
func publishCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	root := fs.String("root", "", "store path whose closure to publish")
	storeURL := fs.String("store", "", "store URL")
	keyFile := fs.String("key", "", "secret key file")
	compression := fs.String("compression", "zstd", "compression")
	level := fs.Int("level", 0, "compression level (0: the default)")
	jobs := fs.Int("jobs", cache.DefaultJobs, "requests in flight (the action's jobs input)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile here")
	memProfile := fs.String("memprofile", "", "write a heap profile here at the end")
	resultFile := fs.String("result", "", "write the result as JSON here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cache.TuneGC(os.Getenv) // as the action's main does
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	data, err := os.ReadFile(*keyFile)
	if err != nil {
		return err
	}
	key, err := signing.Parse(string(data))
	if err != nil {
		return fmt.Errorf("%s: %w", *keyFile, err)
	}
	closure, err := nixpath.QueryClosure(ctx, nil, *root)
	if err != nil {
		return err
	}
	loc, err := store.ParseLocation(*storeURL)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, loc, store.Options{Jobs: *jobs, Getenv: os.Getenv})
	if err != nil {
		return err
	}
	written, err := cache.Publish(ctx, cache.Options{
		Store: st, Key: key, Compression: *compression, Level: *level, Jobs: *jobs,
	}, closure)
	if err != nil {
		return err
	}
	if err := cache.Verify(ctx, st, key.PublicKey(), written); err != nil {
		return err
	}
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return err
		}
	}
	res := publishResult{Paths: len(written)}
	for _, w := range written {
		res.NarBytes += w.NarSize
		res.FileBytes += w.FileSize
		if w.Status == cache.Uploaded {
			res.Uploaded++
		}
	}
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if *resultFile != "" {
		return os.WriteFile(*resultFile, out, 0o644)
	}
	fmt.Println(string(out))
	return nil
}
