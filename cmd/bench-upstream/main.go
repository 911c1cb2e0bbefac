// Command bench-upstream measures what upstream-caches saves: it builds,
// with real Nix, a closure whose large dependency an upstream cache
// (written by `nix copy`, served over loopback http) already serves, then
// publishes the closure to a new file:// cache twice, side by side in one
// run: without upstream caches, and with them (the narinfo look-ups
// included in the time). It prints the bytes written and the wall time of
// each.
//
// It is not a test (timings on shared machines are not pass/fail): run it
// with `go run ./cmd/bench-upstream [-size 512M] [-runs 3]`.
package main

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/report"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/store"
	"github.com/flox-publish/publish-action/internal/testenv"
	"github.com/flox-publish/publish-action/internal/upstream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench-upstream:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	sizeMiB := flag.Int("size-mib", 512, "size of the large dependency, MiB (half random, half text)")
	runs := flag.Int("runs", 3, "publishes of each kind; the median is printed")
	jobs := flag.Int("jobs", 4, "paths in parallel")
	flag.Parse()

	work, err := os.MkdirTemp("", "bench-upstream-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	env := testenv.NixEnvIn(filepath.Join(work, "xdg"))

	top, closure, dep, err := buildClosure(ctx, env, work, *sizeMiB)
	if err != nil {
		return err
	}
	var total uint64
	for _, p := range closure {
		total += p.NarSize
	}
	fmt.Printf("closure: %d paths, %s of NAR; large dependency %s (%s)\n", len(closure), report.Size(total), dep.StorePath, report.Size(dep.NarSize))

	// The upstream: `nix copy` of the dependency, signed, served on loopback.
	upSec, upPub, err := signing.Generate("bench-upstream-1")
	if err != nil {
		return err
	}
	secFile := filepath.Join(work, "up.sec")
	os.WriteFile(secFile, []byte(upSec), 0o600)
	upDir := filepath.Join(work, "upstream")
	if out, err := nixCmd(ctx, env, "nix", "copy", "--to", "file://"+upDir+"?compression=zstd&secret-key="+secFile, dep.StorePath).CombinedOutput(); err != nil {
		return fmt.Errorf("nix copy to the upstream: %v\n%s", err, out)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(upDir)))
	defer srv.Close()
	keys, err := upstream.ParseKeys(upPub)
	if err != nil {
		return err
	}

	sec, _, err := signing.Generate("bench-ours-1")
	if err != nil {
		return err
	}
	key, err := signing.Parse(sec)
	if err != nil {
		return err
	}
	type result struct {
		d       time.Duration
		written int64
		skipped int
	}
	publish := func(i int, withUpstream bool) (result, error) {
		dir := filepath.Join(work, "ours-"+strconv.FormatBool(withUpstream)+"-"+strconv.Itoa(i))
		st, err := store.OpenFile(dir)
		if err != nil {
			return result{}, err
		}
		start := time.Now()
		skip := map[string]*narinfo.NarInfo{}
		if withUpstream {
			served, err := upstream.Find(ctx, upstream.Options{Caches: []string{srv.URL}, Keys: keys}, closure)
			if err != nil {
				return result{}, err
			}
			for p, s := range served {
				skip[p] = s.NarInfo
			}
		}
		if _, err := cache.Publish(ctx, cache.Options{Store: st, Key: key, Jobs: *jobs, Upstream: skip}, closure); err != nil {
			return result{}, err
		}
		r := result{d: time.Since(start), written: dirSize(dir), skipped: len(skip)}
		os.RemoveAll(dir)
		return r, nil
	}
	fmt.Printf("publishing %s to a new file:// cache, %d runs each, alternating; median shown\n\n", top, *runs)
	var without, with []result
	for i := 0; i < *runs; i++ {
		r, err := publish(i, false)
		if err != nil {
			return err
		}
		without = append(without, r)
		if r, err = publish(i, true); err != nil {
			return err
		}
		with = append(with, r)
	}
	med := func(rs []result) result {
		sort.Slice(rs, func(i, j int) bool { return rs[i].d < rs[j].d })
		return rs[len(rs)/2]
	}
	a, b := med(without), med(with)
	fmt.Printf("%-28s %10s %14s %14s\n", "", "time", "bytes written", "paths skipped")
	fmt.Printf("%-28s %9.2fs %14s %14d\n", "upstream-caches: (empty)", a.d.Seconds(), report.Size(uint64(a.written)), a.skipped)
	fmt.Printf("%-28s %9.2fs %14s %14d\n", "upstream-caches: loopback", b.d.Seconds(), report.Size(uint64(b.written)), b.skipped)
	fmt.Printf("\nwith upstream: %.1f%% of the bytes, %.1f%% of the time\n", 100*float64(b.written)/float64(a.written), 100*b.d.Seconds()/a.d.Seconds())
	return nil
}

// buildClosure builds an app that refers to a large library, and returns
// the app, the closure and the library.
func buildClosure(ctx context.Context, env []string, work string, sizeMiB int) (string, []nixpath.PathInfo, nixpath.PathInfo, error) {
	marker := strconv.FormatInt(time.Now().UnixNano(), 36)
	half := sizeMiB / 2
	expr := `let
  big = derivation { name = "bench-big-` + marker + `"; system = builtins.currentSystem; builder = "/bin/sh"; PATH = "/usr/bin:/bin";
    args = [ "-c" "mkdir -p $out/lib; head -c ` + strconv.Itoa(half) + `M /dev/urandom > $out/lib/random.so; seq 1 100000000 | head -c ` + strconv.Itoa(sizeMiB-half) + `M > $out/lib/text" ]; };
in derivation { name = "bench-app-` + marker + `"; system = builtins.currentSystem; builder = "/bin/sh"; PATH = "/usr/bin:/bin";
  args = [ "-c" "mkdir -p $out/bin; printf '#!/bin/sh\\nls ${big}/lib\\n' > $out/bin/app; chmod +x $out/bin/app" ]; }`
	file := filepath.Join(work, "closure.nix")
	if err := os.WriteFile(file, []byte(expr), 0o644); err != nil {
		return "", nil, nixpath.PathInfo{}, err
	}
	out, err := nixCmd(ctx, env, "nix-build", "--no-out-link", file).Output()
	if err != nil {
		return "", nil, nixpath.PathInfo{}, fmt.Errorf("nix-build: %w", err)
	}
	top := strings.TrimSpace(string(out))
	closure, err := nixpath.QueryClosure(ctx, env, top)
	if err != nil {
		return "", nil, nixpath.PathInfo{}, err
	}
	var dep nixpath.PathInfo
	for _, p := range closure {
		if p.StorePath != top {
			dep = p
		}
	}
	return top, closure, dep, nil
}

func nixCmd(ctx context.Context, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = env
	return cmd
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
