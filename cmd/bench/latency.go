package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/flox-publish/publish-action/internal/testenv"
)

// latencyReport publishes a closure of many small paths to MinIO through
// a proxy that delays every request (testenv.FaultProxy), as a bucket in
// another region or at another provider would, and beside it with no
// delay: the upload of such a closure is a matter of requests, not bytes.
// Each into a new bucket, alternating, for the benchmark's rounds; the
// report shows medians, the requests a path and the peak RSS.
func (b *bench) latencyReport(ctx context.Context, minio *testenv.MinIO) error {
	spec := b.cfg.latency
	top, err := ensureClosure(ctx, b.env, spec, b.logf)
	if err != nil {
		return err
	}
	proxy, err := testenv.StartFaultProxy(minio.Endpoint)
	if err != nil {
		return err
	}
	defer proxy.Close()
	type key struct {
		bin   string
		delay time.Duration
	}
	runs := map[key][]measurement{}
	requests := map[key][]int{}
	bins := [][2]string{{"this project", b.self}}
	if b.cfg.compare != "" {
		bins = append(bins, [2]string{b.cfg.compareName, b.cfg.compare})
	}
	delays := []time.Duration{0, b.cfg.delay}
	rounds := max(b.cfg.rounds, 1)
	// The first publish after MinIO starts is slower whoever makes it
	// (11–12 s against 5–8 s after, in a run of both builds): one goes
	// first, unmeasured.
	{
		bucket, env, err := b.bucket(ctx, minio, "latency-warm-up")
		if err != nil {
			return err
		}
		if _, err := b.run1(ctx, b.self, "warm-up → MinIO", top, bucket, b.cfg.level, env, ""); err != nil {
			return err
		}
	}
	for round := range rounds {
		for _, d := range delays {
			for _, bin := range bins {
				name := fmt.Sprintf("latency-%d-%d-%s", round, d.Milliseconds(), strings.ReplaceAll(bin[0], " ", "-"))
				bucket, env, err := b.bucket(ctx, minio, name)
				if err != nil {
					return err
				}
				bucket = strings.Replace(bucket, "endpoint="+strings.TrimPrefix(minio.Endpoint, "http://"), "endpoint="+strings.TrimPrefix(proxy.URL, "http://"), 1)
				proxy.SetDelay(d)
				proxy.ResetLog()
				before := minioCPU()
				m, err := b.run1(ctx, bin[1], fmt.Sprintf("%s → MinIO, %s a request", bin[0], d), top, bucket, b.cfg.level, env, "")
				proxy.SetDelay(0)
				if err != nil {
					return err
				}
				m.serverCPU = minioCPU() - before
				k := key{bin[0], d}
				runs[k] = append(runs[k], m)
				requests[k] = append(requests[k], len(proxy.Log()))
			}
		}
	}
	fmt.Fprintf(&b.report, "## %d small paths to MinIO through a proxy delaying each request\n\n", spec.Paths)
	fmt.Fprintf(&b.report, "A closure of %d paths, %s of NAR (about %s each), published into a new bucket through a proxy that adds %s to every request, and beside it none; medians of %d alternating rounds.\n\n",
		spec.Paths, humanBytes(spec.Size), humanBytes(spec.Size/int64(spec.Paths)), b.cfg.delay, rounds)
	fmt.Fprintf(&b.report, "| publisher | delay | wall | runs | CPU | MinIO's CPU | requests a path | peak RSS | vs no delay |\n|---|---:|---:|---|---:|---:|---:|---:|---:|\n")
	for _, bin := range bins {
		base := median(runs[key{bin[0], 0}])
		for _, d := range delays {
			k := key{bin[0], d}
			m := median(runs[k])
			var walls []string
			var peak int64
			for _, r := range runs[k] {
				walls = append(walls, fmt.Sprintf("%.2f", r.wall.Seconds()))
				peak = max(peak, r.rssKiB)
			}
			reqs := requests[k]
			sort.Ints(reqs)
			fmt.Fprintf(&b.report, "| %s | %s | %.2f s | %s | %.2f s | %.2f s | %.2f | %.0f MiB | %.2f× |\n", bin[0], d, m.wall.Seconds(), strings.Join(walls, ", "),
				m.cpu.Seconds(), m.serverCPU.Seconds(), float64(reqs[len(reqs)/2])/float64(spec.Paths), float64(peak)/1024, m.wall.Seconds()/base.wall.Seconds())
		}
	}
	fmt.Fprintf(&b.report, "\nRequests a path count every request of the run (nix-cache-info, the listing of leftover uploads, the read-back) over the closure's paths. Target: at %s, within 1.5× of no delay.\n\n", b.cfg.delay)
	return nil
}
