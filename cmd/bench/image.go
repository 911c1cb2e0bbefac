package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// imageReport measures the action's image in the Docker engine
// scripts/bench.sh starts: its build from the project's Dockerfile (as the
// container test builds it, FLOX_FROM=standin), its size unpacked and as a
// registry stores it (each layer's tar, gzipped), and the time from
// `docker run` to the first stage's log line, the part of a job's start the
// image controls.
func (b *bench) imageReport(ctx context.Context) error {
	w := &b.report
	fmt.Fprintf(w, "\n## The action's image\n\n")
	d, err := testenv.FindDocker()
	if err != nil {
		fmt.Fprintf(w, "Skipped: %v.\n", err)
		b.logf("image: skipped: %v", err)
		return nil
	}
	root, err := projectRoot()
	if err != nil {
		return err
	}
	ver, _ := d.Output(ctx, "version", "-f", "{{.Server.Version}} ({{.Server.Os}}/{{.Server.Arch}})")
	driver, _ := d.Output(ctx, "info", "-f", "{{.Driver}}")
	fmt.Fprintf(w, "Docker %s, storage %s; built from the Dockerfile with FLOX_FROM=standin (Debian's Nix 2.8 and the flox stand-in in place of the Flox .deb, which cannot be downloaded here), base images made by debootstrap.\n\n",
		strings.TrimSpace(ver), strings.TrimSpace(driver))

	tag := "flox-publish-bench/action:" + testenv.RandomHex(6)
	defer d.Command(context.Background(), "image", "rm", "-f", tag).Run()
	builders := []testenv.Builder{testenv.BuildKit}
	if b.cfg.imageLegacy {
		builders = append(builders, testenv.Legacy)
	}
	for _, builder := range builders {
		b.logf("image: building %s with %s", tag, builder)
		start := time.Now()
		if log, err := d.BuildImage(ctx, root, tag, builder); err != nil {
			return fmt.Errorf("%w\n%s", err, log)
		}
		fmt.Fprintf(w, "- build (%s, this machine's layer cache as it is): %.1f s\n", builder, time.Since(start).Seconds())
	}

	unpacked, err := d.Output(ctx, "image", "inspect", "-f", "{{.Size}}", tag)
	if err != nil {
		return err
	}
	size, _ := strconv.ParseInt(strings.TrimSpace(unpacked), 10, 64)
	layers, err := gzippedLayers(ctx, d, tag)
	if err != nil {
		return err
	}
	var gz int64
	for _, l := range layers {
		gz += l
	}
	baseSize, _ := d.Output(ctx, "image", "inspect", "-f", "{{.Size}}", d.RuntimeImage)
	base, _ := strconv.ParseInt(strings.TrimSpace(baseSize), 10, 64)
	fmt.Fprintf(w, "- size: %s unpacked, %s compressed as a registry stores it (%d layers, each tar gzipped); the Debian base is %s of it\n",
		mib(size), mib(gz), len(layers), mib(base))
	hist, _ := d.Output(ctx, "history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", tag)
	fmt.Fprintf(w, "- largest layers (docker history): %s\n", largestLayers(hist, 3))

	// Time to the first check: the runner's docker run of the image to the
	// first stage's group line, against docker run of /bin/true (what any
	// image costs to start here).
	ws := filepath.Join(b.cfg.work, "image-workspace")
	if err := os.MkdirAll(ws, 0o755); err != nil {
		return err
	}
	env := []string{"HOME=/github/home", "GITHUB_EVENT_NAME=pull_request", "GITHUB_REF=refs/pull/1/merge",
		"GITHUB_SHA=0000000000000000000000000000000000000000", "GITHUB_REPOSITORY=acme/widgets", "GITHUB_WORKSPACE=/github/workspace",
		inputs.EnvName("dir") + "=.", inputs.EnvName("builder") + "=flox"}
	var first, trueRuns []time.Duration
	for range b.cfg.imageRuns {
		rc := testenv.RunnerContainer{Image: tag, Env: env, Workspace: ws, Network: "none"}
		if err := testenv.RunnerDirs(filepath.Join(b.cfg.work, "image-runner-"+testenv.RandomHex(3)), &rc); err != nil {
			return err
		}
		t, err := timeToLine(ctx, d, rc, "::group::")
		if err != nil {
			return err
		}
		first = append(first, t)
		start := time.Now()
		if out, err := d.Command(ctx, "run", "--rm", "--network", "none", "--entrypoint", "/bin/true", tag).CombinedOutput(); err != nil {
			return fmt.Errorf("docker run /bin/true: %v\n%s", err, out)
		}
		trueRuns = append(trueRuns, time.Since(start))
	}
	fmt.Fprintf(w, "- time to the first check (the runner's `docker run` to the first stage's `::group::` line), median of %d: %.2f s (runs %s); `docker run` of `/bin/true` in the image: %.2f s\n",
		len(first), medianDuration(first).Seconds(), durations(first), medianDuration(trueRuns).Seconds())
	return nil
}

// gzippedLayers is the size of each layer of the image gzipped at the
// default level, as `docker push` stores it: from `docker save`, whose
// archive holds each layer as a tar.
func gzippedLayers(ctx context.Context, d *testenv.Docker, tag string) ([]int64, error) {
	cmd := d.Command(ctx, "save", tag)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var sizes []int64
	tr := tar.NewReader(bufio.NewReaderSize(out, 1<<20))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, fmt.Errorf("docker save %s: %w", tag, err)
		}
		if !strings.HasSuffix(h.Name, "/layer.tar") && !strings.HasPrefix(h.Name, "blobs/") || h.Typeflag != tar.TypeReg {
			continue
		}
		var n countWriter
		zw := gzip.NewWriter(&n)
		if _, err := io.Copy(zw, tr); err != nil {
			return nil, err
		}
		zw.Close()
		sizes = append(sizes, int64(n))
	}
	return sizes, cmd.Wait()
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// timeToLine runs the image as the runner does and returns the time from
// the start of `docker run` to the first line of its output holding want;
// then the container is removed.
func timeToLine(ctx context.Context, d *testenv.Docker, rc testenv.RunnerContainer, want string) (time.Duration, error) {
	args, env := d.RunArgs(rc)
	cmd := exec.CommandContext(ctx, d.Bin, args...)
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		d.Command(context.Background(), "rm", "-f", args[2]).Run()
		cmd.Wait()
	}()
	sc := bufio.NewScanner(out)
	var seen []string
	for sc.Scan() {
		if strings.Contains(sc.Text(), want) {
			return time.Since(start), nil
		}
		seen = append(seen, sc.Text())
	}
	return 0, fmt.Errorf("the image printed no %q line:\n%s", want, strings.Join(seen, "\n"))
}

// buildArgsRe is what docker history puts before a RUN: the build
// arguments in force, and the shell.
var buildArgsRe = regexp.MustCompile(`^(RUN )?(\|\d+ (\S+=\S* )*)?(/bin/(ba)?sh (-o pipefail )?-c )?(#\(nop\) )?`)

func largestLayers(history string, n int) string {
	type layer struct {
		size, step string
		bytes      float64
	}
	var ls []layer
	for _, line := range strings.Split(strings.TrimSpace(history), "\n") {
		size, step, _ := strings.Cut(line, "\t")
		ls = append(ls, layer{size, step, parseHumanSize(size)})
	}
	sort.SliceStable(ls, func(i, j int) bool { return ls[i].bytes > ls[j].bytes })
	var parts []string
	for i := 0; i < n && i < len(ls); i++ {
		step := strings.Join(strings.Fields(buildArgsRe.ReplaceAllString(ls[i].step, "")), " ")
		if step == "" {
			step = "the Debian base"
		}
		if len(step) > 70 {
			step = step[:70] + "…"
		}
		parts = append(parts, fmt.Sprintf("%s `%s`", ls[i].size, step))
	}
	return strings.Join(parts, "; ")
}

// parseHumanSize reads docker's sizes ("249MB", "1.2kB", "0B").
func parseHumanSize(s string) float64 {
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f * u.mult
		}
	}
	return 0
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func medianDuration(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func durations(ds []time.Duration) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, fmt.Sprintf("%.2f", d.Seconds()))
	}
	return strings.Join(parts, ", ")
}

// projectRoot is the repository the benchmark runs in (scripts/bench.sh
// runs it from the root).
func projectRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(wd, "Dockerfile")); err != nil {
		return "", fmt.Errorf("run the benchmark from the repository's root (scripts/bench.sh does): %w", err)
	}
	return wd, nil
}
