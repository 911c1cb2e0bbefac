package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/testenv"
)

type benchConfig struct {
	closure     closureSpec
	many        closureSpec
	latency     closureSpec
	delay       time.Duration
	compare     string
	compareName string
	jobs        int
	compression string
	level       int
	minio       bool
	fixedRuns   int
	rounds      int
	altLevel    int
	purego      bool
	image       bool
	imageOnly   bool
	latencyOnly bool
	imageLegacy bool
	imageRuns   int
	out         string
	work        string
}

func benchCmd(ctx context.Context, args []string) error {
	var c benchConfig
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&c.closure.Paths, "paths", 300, "store paths in the synthetic closure")
	size := fs.String("size", "1GiB", "total NAR size of the synthetic closure (KiB, MiB, GiB)")
	fs.IntVar(&c.many.Paths, "republish-paths", 1000, "store paths of the closure re-published unchanged to MinIO (0: skip)")
	fs.IntVar(&c.jobs, "jobs", 0, "the action's jobs input (0: its default)")
	fs.IntVar(&c.latency.Paths, "latency-paths", 1500, "store paths of the closure published to MinIO through a delaying proxy (0: skip)")
	latencySize := fs.String("latency-size", "27KB", "average NAR size of a path of the latency case's closure")
	fs.DurationVar(&c.delay, "latency", 25*time.Millisecond, "delay the proxy adds to every request in the latency case (beside none)")
	fs.StringVar(&c.compare, "compare", "", "another build of this benchmark (such as main's) whose publishes run beside this one's, alternating, in every case but nix copy's")
	fs.StringVar(&c.compareName, "compare-name", "main", "what the report calls -compare's publishes")
	fs.BoolVar(&c.latencyOnly, "latency-only", false, "measure the latency case only")
	fs.StringVar(&c.compression, "compression", "zstd", "the action's compression input")
	fs.IntVar(&c.level, "level", 0, "the action's compression-level input (0: its default)")
	fs.BoolVar(&c.minio, "minio", true, "also publish to a MinIO server")
	fs.IntVar(&c.altLevel, "alt-level", 1, "also publish to file:// at this compression level, to show the trade-off (0: skip)")
	fs.BoolVar(&c.purego, "purego", true, "also publish to file:// with a build of this project without cgo (pure-Go zstd), to compare the encoders")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds of the side-by-side comparison (the report shows medians)")
	fs.IntVar(&c.fixedRuns, "fixed-runs", 5, "runs of the action on the bundled example (0: skip)")
	fs.BoolVar(&c.image, "image", true, "also build the action's image and measure its size and time to the first check (needs the Docker engine scripts/bench.sh starts)")
	fs.BoolVar(&c.imageOnly, "image-only", false, "measure the action's image only")
	fs.BoolVar(&c.imageLegacy, "image-legacy", false, "also build the image with the legacy builder (DOCKER_BUILDKIT=0)")
	fs.IntVar(&c.imageRuns, "image-runs", 5, "runs of the image to its first check")
	fs.StringVar(&c.out, "out", "", "also write the report to this file")
	fs.StringVar(&c.work, "work", "", "scratch directory (default: a new temporary one, removed at the end)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	n, err := parseSize(*size)
	if err != nil {
		return fmt.Errorf("-size: %w", err)
	}
	c.closure.Size, c.closure.Tag = n, "main"
	c.many.Size, c.many.Tag = int64(c.many.Paths)*48<<10, "many"
	each, err := parseSize(*latencySize)
	if err != nil {
		return fmt.Errorf("-latency-size: %w", err)
	}
	// Paths of about one size, as in the issue that asked for the case.
	c.latency.Size, c.latency.Tag, c.latency.Spread = each*int64(c.latency.Paths), "latency", 0.5

	if c.work == "" {
		if c.work, err = os.MkdirTemp("", "flox-publish-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(c.work)
	}
	b := &bench{cfg: c, logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+f+"\n", a...) }}
	return b.run(ctx)
}

type bench struct {
	cfg    benchConfig
	logf   func(string, ...any)
	self   string
	purego string // this benchmark built with CGO_ENABLED=0, or ""
	env    []string
	key    string
	report strings.Builder
}

// measurement is one timed child process.
type measurement struct {
	name     string
	wall     time.Duration
	cpu      time.Duration
	rssKiB   int64
	narBytes uint64
	fileSize int64
	uploaded int
	// serverCPU is the CPU time the MinIO server spent meanwhile (on the
	// same cores), for publishes to MinIO.
	serverCPU time.Duration
}

func (b *bench) run(ctx context.Context) error {
	var err error
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	for _, tool := range []string{"nix", "nix-store", "go", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not on PATH: run scripts/test.sh once, which installs what the benchmark needs too", tool)
		}
	}
	b.env = testenv.NixEnvIn(filepath.Join(b.cfg.work, "xdg-cache"))
	if b.cfg.imageOnly {
		b.header()
		if err := b.imageReport(ctx); err != nil {
			return err
		}
		return b.finish()
	}
	secret, _, err := signing.Generate("bench-1")
	if err != nil {
		return err
	}
	b.key = filepath.Join(b.cfg.work, "bench.sec")
	if err := os.WriteFile(b.key, []byte(secret), 0o600); err != nil {
		return err
	}
	if b.cfg.latencyOnly {
		minio, err := testenv.LaunchMinIO(testenv.MinIOOptions{})
		if err != nil {
			return err
		}
		defer minio.Stop()
		b.header()
		if err := b.latencyReport(ctx, minio); err != nil {
			return err
		}
		return b.finish()
	}

	if b.cfg.purego {
		if b.purego, err = b.buildPureGo(ctx); err != nil {
			return err
		}
	}
	top, err := ensureClosure(ctx, b.env, b.cfg.closure, b.logf)
	if err != nil {
		return err
	}
	var minio *testenv.MinIO
	if b.cfg.minio {
		if minio, err = testenv.LaunchMinIO(testenv.MinIOOptions{}); err != nil {
			return err
		}
		defer minio.Stop()
	}

	// Rounds alternate the publishers, each into a fresh destination, so
	// that a noisy neighbour on a shared machine slows all of them alike;
	// the report shows each one's median round.
	firsts := map[string][]measurement{}
	agains := map[string][]measurement{}
	var names []string
	add := func(into map[string][]measurement, m measurement) {
		if _, seen := firsts[m.name]; !seen {
			names = append(names, m.name)
		}
		into[m.name] = append(into[m.name], m)
	}
	for round := range b.cfg.rounds {
		dir := filepath.Join(b.cfg.work, fmt.Sprintf("round%d", round))
		ours := "file://" + filepath.Join(dir, "ours")
		theirs := "file://" + filepath.Join(dir, "nix")
		for again := range 2 {
			into := firsts
			if again == 1 {
				into = agains
			}
			profile := ""
			if round == 0 && again == 0 {
				profile = filepath.Join(b.cfg.work, "cpu-file.pprof")
			}
			m, err := b.ours(ctx, "this project → file://", top, ours, nil, profile)
			if err != nil {
				return err
			}
			add(into, m)
			if b.cfg.compare != "" {
				cm, err := b.run1(ctx, b.cfg.compare, b.cfg.compareName+" → file://", top, "file://"+filepath.Join(dir, "compare"), b.cfg.level, nil, "")
				if err != nil {
					return err
				}
				add(into, cm)
			}
			if b.cfg.altLevel > 0 {
				alt := "file://" + filepath.Join(dir, "ours-alt")
				m, err := b.oursAt(ctx, fmt.Sprintf("this project, level %d → file://", b.cfg.altLevel), top, alt, b.cfg.altLevel, nil, "")
				if err != nil {
					return err
				}
				add(into, m)
			}
			if b.purego != "" {
				m, err := b.run1(ctx, b.purego, "this project, pure-Go zstd → file://", top, "file://"+filepath.Join(dir, "ours-purego"), b.cfg.level, nil, "")
				if err != nil {
					return err
				}
				add(into, m)
			}
			nm, err := b.nixCopy(ctx, top, theirs)
			if err != nil {
				return err
			}
			nm.narBytes = m.narBytes
			add(into, nm)
			if minio != nil {
				bucket, env, err := b.bucket(ctx, minio, fmt.Sprintf("main-%d", round))
				if err != nil {
					return err
				}
				if profile != "" {
					profile = filepath.Join(b.cfg.work, "cpu-minio.pprof")
				}
				before := minioCPU()
				m, err = b.ours(ctx, "this project → MinIO", top, bucket, env, profile)
				if err != nil {
					return err
				}
				m.serverCPU = minioCPU() - before
				add(into, m)
				if b.cfg.compare != "" {
					cbucket, _, err := b.bucket(ctx, minio, fmt.Sprintf("compare-%d", round))
					if err != nil {
						return err
					}
					before := minioCPU()
					cm, err := b.run1(ctx, b.cfg.compare, b.cfg.compareName+" → MinIO", top, cbucket, b.cfg.level, env, "")
					if err != nil {
						return err
					}
					cm.serverCPU = minioCPU() - before
					add(into, cm)
				}
			}
		}
		os.RemoveAll(dir)
	}
	var first, again []measurement
	for _, n := range names {
		first = append(first, median(firsts[n]))
		again = append(again, median(agains[n]))
	}

	b.header()
	b.table("First publish", first, true)
	b.table("Re-publish, nothing changed", again, false)
	b.targets(first)
	if b.cfg.many.Paths > 0 && minio != nil {
		if err := b.republishMany(ctx, minio); err != nil {
			return err
		}
	}
	if b.cfg.latency.Paths > 0 && minio != nil {
		if err := b.latencyReport(ctx, minio); err != nil {
			return err
		}
	}
	if b.cfg.fixedRuns > 0 {
		if err := b.fixedCost(ctx); err != nil {
			return err
		}
	}
	if b.cfg.image {
		if err := b.imageReport(ctx); err != nil {
			return err
		}
	}
	for _, p := range []struct{ title, file string }{
		{"this project → file://", "cpu-file.pprof"},
		{"this project → MinIO", "cpu-minio.pprof"},
	} {
		if _, err := os.Stat(filepath.Join(b.cfg.work, p.file)); err != nil {
			continue
		}
		if err := b.profileTop(ctx, p.title, filepath.Join(b.cfg.work, p.file)); err != nil {
			return err
		}
	}
	return b.finish()
}

// finish prints the report, and writes it to -out.
func (b *bench) finish() error {
	fmt.Print(b.report.String())
	if b.cfg.out != "" {
		return os.WriteFile(b.cfg.out, []byte(b.report.String()), 0o644)
	}
	return nil
}

// bucket returns the s3:// URL of a MinIO bucket for name (created when
// missing) and the environment with MinIO's credentials.
func (b *bench) bucket(ctx context.Context, m *testenv.MinIO, name string) (string, []string, error) {
	bucket := "bench-" + name
	_, err := m.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	var owned interface{ ErrorCode() string }
	if err != nil && !(errors.As(err, &owned) && owned.ErrorCode() == "BucketAlreadyOwnedByYou") {
		return "", nil, fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	host := strings.TrimPrefix(m.Endpoint, "http://")
	env := []string{"AWS_ACCESS_KEY_ID=" + m.RootUser, "AWS_SECRET_ACCESS_KEY=" + m.RootPassword}
	return "s3://" + bucket + "?region=us-east-1&scheme=http&endpoint=" + host, env, nil
}

// ours publishes the closure of top with this project in a child process.
func (b *bench) ours(ctx context.Context, name, top, storeURL string, extraEnv []string, profile string) (measurement, error) {
	return b.oursAt(ctx, name, top, storeURL, b.cfg.level, extraEnv, profile)
}

// oursAt is ours at another compression level.
func (b *bench) oursAt(ctx context.Context, name, top, storeURL string, level int, extraEnv []string, profile string) (measurement, error) {
	return b.run1(ctx, b.self, name, top, storeURL, level, extraEnv, profile)
}

// run1 publishes with the benchmark binary bin in a child process.
func (b *bench) run1(ctx context.Context, bin, name, top, storeURL string, level int, extraEnv []string, profile string) (measurement, error) {
	result := filepath.Join(b.cfg.work, "result.json")
	args := []string{"publish", "-root", top, "-store", storeURL, "-key", b.key,
		"-compression", b.cfg.compression, "-level", strconv.Itoa(level), "-result", result}
	if b.cfg.jobs > 0 {
		args = append(args, "-jobs", strconv.Itoa(b.cfg.jobs))
	}
	if profile != "" {
		args = append(args, "-cpuprofile", profile)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(append([]string(nil), b.env...), extraEnv...)
	m, err := b.measure(name, cmd)
	if err != nil {
		return m, err
	}
	data, err := os.ReadFile(result)
	if err != nil {
		return m, err
	}
	var r publishResult
	if err := json.Unmarshal(data, &r); err != nil {
		return m, err
	}
	m.narBytes, m.fileSize, m.uploaded = r.NarBytes, r.FileBytes, r.Uploaded
	if strings.HasPrefix(storeURL, "file://") {
		m.fileSize = dirSize(filepath.Join(strings.TrimPrefix(storeURL, "file://"), "nar"))
	}
	return m, nil
}

// nixCopy publishes the closure of top with Nix itself, as flox publish does.
func (b *bench) nixCopy(ctx context.Context, top, storeURL string) (measurement, error) {
	dir := strings.TrimPrefix(storeURL, "file://")
	before := countFiles(filepath.Join(dir, "nar"))
	cmd := exec.CommandContext(ctx, "nix", "copy", "--to", storeURL+"?compression=zstd&secret-key="+b.key, top)
	cmd.Env = b.env
	m, err := b.measure("nix copy → file://", cmd)
	if err != nil {
		return m, err
	}
	m.fileSize = dirSize(filepath.Join(dir, "nar"))
	m.uploaded = countFiles(filepath.Join(dir, "nar")) - before
	return m, nil
}

func (b *bench) measure(name string, cmd *exec.Cmd) (measurement, error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if cmd.Stdout == nil {
		cmd.Stdout = io.Discard
	}
	b.logf("%s …", name)
	start := time.Now()
	err := cmd.Run()
	m := measurement{name: name, wall: time.Since(start)}
	if err != nil {
		return m, fmt.Errorf("%s: %s: %w\n%s", name, strings.Join(cmd.Args, " "), err, stderr.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.rssKiB = ru.Maxrss
		m.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.logf("%s: %.2f s", name, m.wall.Seconds())
	return m, nil
}

// buildPureGo builds this benchmark again without cgo, so that its
// publish children use the pure-Go zstd encoder the action falls back to.
func (b *bench) buildPureGo(ctx context.Context) (string, error) {
	root := strings.TrimSpace(output(nil, "git", "rev-parse", "--show-toplevel"))
	if root == "" {
		return "", errors.New("-purego: run the benchmark from the project's checkout")
	}
	bin := filepath.Join(b.cfg.work, "bench-purego")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/bench")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build (CGO_ENABLED=0): %w\n%s", err, out)
	}
	return bin, nil
}

func (b *bench) header() {
	fmt.Fprintf(&b.report, "# Publish benchmark\n\n")
	fmt.Fprintf(&b.report, "- Machine: %d cores (%s), %s, %s/%s\n", runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if b.cfg.imageOnly {
		fmt.Fprintf(&b.report, "- Run: %s; the action's image only\n", time.Now().UTC().Format(time.RFC3339))
		return
	}
	fmt.Fprintf(&b.report, "- zstd encoder: %s\n", cache.ZstdImplementation())
	fmt.Fprintf(&b.report, "- Nix: %s\n", strings.TrimSpace(output(b.env, "nix", "--version")))
	fmt.Fprintf(&b.report, "- Closure: %d paths, %s of NAR (synthetic: small text files, large binaries, references)\n", b.cfg.closure.Paths, humanBytes(b.cfg.closure.Size))
	level := "default"
	if b.cfg.level > 0 {
		level = strconv.Itoa(b.cfg.level)
	}
	jobs := "default"
	if b.cfg.jobs > 0 {
		jobs = strconv.Itoa(b.cfg.jobs)
	}
	fmt.Fprintf(&b.report, "- This project: compression %s, level %s, jobs %s; nix copy: compression=zstd (level 3), signed\n", b.cfg.compression, level, jobs)
	if b.cfg.compare != "" {
		fmt.Fprintf(&b.report, "- Compared with %s (%s), run alternating with this project's, at its own defaults\n", b.cfg.compareName, b.cfg.compare)
	}
	fmt.Fprintf(&b.report, "- Load average at the start: %s\n", loadAverage())
	fmt.Fprintf(&b.report, "- Run: %s; medians of %d alternating rounds, each into fresh destinations\n\n", time.Now().UTC().Format(time.RFC3339), b.cfg.rounds)
}

// table prints one row per publisher; sizes says whether the compressed
// sizes are of this run's uploads (not on a re-publish, which uploads none).
func (b *bench) table(title string, ms []measurement, sizes bool) {
	var nix measurement
	for _, m := range ms {
		if strings.HasPrefix(m.name, "nix copy") {
			nix = m
		}
	}
	fmt.Fprintf(&b.report, "## %s\n\n", title)
	fmt.Fprintf(&b.report, "| | wall | NAR MB/s | CPU | peak RSS | compressed | uploaded | time vs nix copy | size vs nix copy |\n")
	fmt.Fprintf(&b.report, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, m := range ms {
		size, ratio := "–", "–"
		if sizes {
			size, ratio = humanBytes(m.fileSize), fmt.Sprintf("%.3f×", float64(m.fileSize)/float64(nix.fileSize))
		}
		fmt.Fprintf(&b.report, "| %s | %.2f s | %.0f | %.2f s | %.0f MiB | %s | %d | %.2f× | %s |\n",
			m.name, m.wall.Seconds(), float64(m.narBytes)/m.wall.Seconds()/1e6, m.cpu.Seconds(), float64(m.rssKiB)/1024,
			size, m.uploaded, m.wall.Seconds()/nix.wall.Seconds(), ratio)
	}
	fmt.Fprintln(&b.report)
}

func (b *bench) targets(ms []measurement) {
	if len(ms) < 2 {
		return
	}
	ours, nix := ms[0], ms[1]
	for _, m := range ms {
		if strings.HasPrefix(m.name, "nix copy") {
			nix = m
		}
	}
	fmt.Fprintf(&b.report, "Throughput to file://: %.2f× nix copy's (target ≥ 2×); compressed size %.3f× nix copy's (target ≤ 1.05×); CPU %.2f× nix copy's for the same bytes (target ≤ 1×).\n",
		nix.wall.Seconds()/ours.wall.Seconds(), float64(ours.fileSize)/float64(nix.fileSize), ours.cpu.Seconds()/nix.cpu.Seconds())
	for _, m := range ms {
		if b.cfg.compare != "" && strings.HasPrefix(m.name, b.cfg.compareName+" ") {
			continue
		}
		switch {
		case strings.Contains(m.name, "MinIO"):
			fmt.Fprintf(&b.report, "MinIO time: %.2f× this project's file:// time (target ≤ 1.5×); meanwhile the MinIO server used %.2f s of CPU on the same cores, this project %.2f s (%.2f s to file://).\n",
				m.wall.Seconds()/ours.wall.Seconds(), m.serverCPU.Seconds(), m.cpu.Seconds(), ours.cpu.Seconds())
			fmt.Fprintf(&b.report, "Peak RSS: %.0f MiB to file:// (target ≤ 64), %.0f MiB to MinIO (target ≤ 128).\n", float64(ours.rssKiB)/1024, float64(m.rssKiB)/1024)
		case strings.Contains(m.name, "pure-Go"):
			fmt.Fprintf(&b.report, "With pure-Go zstd (a build without cgo): throughput %.2f× nix copy's, compressed size %.3f×, CPU %.2f× nix copy's.\n",
				nix.wall.Seconds()/m.wall.Seconds(), float64(m.fileSize)/float64(nix.fileSize), m.cpu.Seconds()/nix.cpu.Seconds())
		case strings.Contains(m.name, "level"):
			fmt.Fprintf(&b.report, "At %s: throughput %.2f× nix copy's, compressed size %.3f× nix copy's.\n",
				strings.TrimSuffix(strings.TrimPrefix(m.name, "this project, "), " → file://"), nix.wall.Seconds()/m.wall.Seconds(), float64(m.fileSize)/float64(nix.fileSize))
		}
	}
	fmt.Fprintln(&b.report)
}

// republishMany publishes a closure of many small paths to MinIO, then
// again unchanged, timing the second run.
func (b *bench) republishMany(ctx context.Context, minio *testenv.MinIO) error {
	top, err := ensureClosure(ctx, b.env, b.cfg.many, b.logf)
	if err != nil {
		return err
	}
	bucket, env, err := b.bucket(ctx, minio, "many")
	if err != nil {
		return err
	}
	first, err := b.ours(ctx, "first publish", top, bucket, env, "")
	if err != nil {
		return err
	}
	again, err := b.ours(ctx, "re-publish", top, bucket, env, "")
	if err != nil {
		return err
	}
	limit := time.Second + time.Duration(b.cfg.many.Paths)*time.Millisecond
	fmt.Fprintf(&b.report, "## Re-publishing %d unchanged paths to MinIO\n\n", b.cfg.many.Paths)
	fmt.Fprintf(&b.report, "First publish %.2f s (%d uploaded); re-publish %.2f s, %d uploaded, peak RSS %.0f MiB (target: nothing uploaded, under %.1f s).\n\n",
		first.wall.Seconds(), first.uploaded, again.wall.Seconds(), again.uploaded, float64(again.rssKiB)/1024, limit.Seconds())
	return nil
}

// fixedCost runs the action binary on the bundled example in a clean clone
// of this project, as the README's first command does, and reports the
// wall time of each run: the build there is a two-line script, so the
// time is the action's own (start, verification, clean clone, report).
func (b *bench) fixedCost(ctx context.Context) error {
	root := strings.TrimSpace(output(nil, "git", "rev-parse", "--show-toplevel"))
	if root == "" {
		return errors.New("run the benchmark from the project's checkout")
	}
	bin := filepath.Join(b.cfg.work, "flox-publish")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	src := filepath.Join(b.cfg.work, "src")
	if out, err := exec.CommandContext(ctx, "git", "clone", "--quiet", root, src).CombinedOutput(); err != nil {
		return fmt.Errorf("git clone: %w\n%s", err, out)
	}
	cacheURL := "file://" + filepath.Join(b.cfg.work, "example-cache")
	var walls []time.Duration
	for i := range b.cfg.fixedRuns {
		cmd := exec.CommandContext(ctx, bin, "--dir", "examples/hello", "--store-url", cacheURL, "--signing-key-file", b.key, "--builder", "local")
		cmd.Dir = src
		m, err := b.measure(fmt.Sprintf("action on examples/hello, run %d", i+1), cmd)
		if err != nil {
			return err
		}
		walls = append(walls, m.wall)
	}
	first := walls[0]
	rest := append([]time.Duration(nil), walls[1:]...)
	sort.Slice(rest, func(i, j int) bool { return rest[i] < rest[j] })
	fmt.Fprintf(&b.report, "## Fixed cost: the action on examples/hello\n\n")
	fmt.Fprintf(&b.report, "First run (uploads) %.0f ms", ms(first))
	if len(rest) > 0 {
		fmt.Fprintf(&b.report, "; re-runs (already present) median %.0f ms, min %.0f ms, max %.0f ms", ms(rest[len(rest)/2]), ms(rest[0]), ms(rest[len(rest)-1]))
	}
	fmt.Fprintf(&b.report, " (target < 1000 ms).\n\n")
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// profileTop prints the top of a CPU profile of this project's publish.
func (b *bench) profileTop(ctx context.Context, title, profile string) error {
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=20", b.self, profile).Output()
	if err != nil {
		return fmt.Errorf("go tool pprof: %w", err)
	}
	fmt.Fprintf(&b.report, "## CPU profile: %s, first publish, round 1\n\n```\n%s```\n\n", title, out)
	return nil
}

// median returns the measurement with the median wall time.
func median(ms []measurement) measurement {
	s := append([]measurement(nil), ms...)
	sort.Slice(s, func(i, j int) bool { return s[i].wall < s[j].wall })
	return s[len(s)/2]
}

func output(env []string, name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out, _ := cmd.Output()
	return string(out)
}

// loadAverage is the machine's load averages over 1, 5 and 15 minutes.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], ", ")
	}
	return "unknown"
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}

// minioCPU returns the CPU time used so far by the MinIO server this
// process started (its child named minio), or 0.
func minioCPU() time.Duration {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid … utime stime: fields 14 and 15.
		stat := string(data)
		i := strings.LastIndexByte(stat, ')')
		if i < 0 || !strings.HasSuffix(stat[:i], "(minio") {
			continue
		}
		f := strings.Fields(stat[i+1:])
		if len(f) < 13 || f[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
	}
	return 0
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func countFiles(dir string) int {
	entries, _ := os.ReadDir(dir)
	return len(entries)
}

func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 {
				return 0, fmt.Errorf("%q is not a size such as 1GiB or 512MiB", s)
			}
			return int64(f * float64(u.mult)), nil
		}
	}
	return 0, fmt.Errorf("%q is not a size such as 1GiB or 512MiB", s)
}
