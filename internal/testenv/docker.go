package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Docker is a real Docker engine: the one the README's test command starts
// for the run (scripts/docker.sh), with base images made locally, since no
// registry is reachable here.
type Docker struct {
	// Bin is the client: Debian's, of the daemon's version.
	Bin string
	// Host is DOCKER_HOST, unix:// and the daemon's socket.
	Host string
	// RuntimeImage and GoImage are the Dockerfile's RUNTIME_IMAGE and
	// GO_IMAGE: Debian bookworm minbase, and that with Go and a C compiler.
	RuntimeImage, GoImage string
}

// FindDocker returns the engine scripts/docker.sh started, from the
// variables it exports, checking that it answers.
func FindDocker() (*Docker, error) {
	d := &Docker{
		Bin:          os.Getenv("FLOX_PUBLISH_DOCKER"),
		Host:         os.Getenv("DOCKER_HOST"),
		RuntimeImage: os.Getenv("FLOX_PUBLISH_RUNTIME_IMAGE"),
		GoImage:      os.Getenv("FLOX_PUBLISH_GO_IMAGE"),
	}
	if d.Bin == "" || !strings.HasPrefix(d.Host, "unix://") || d.RuntimeImage == "" || d.GoImage == "" {
		return nil, errors.New("no Docker engine of the run's own (FLOX_PUBLISH_DOCKER, DOCKER_HOST, FLOX_PUBLISH_RUNTIME_IMAGE and FLOX_PUBLISH_GO_IMAGE are set by scripts/docker.sh, which the README's test command runs as root)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := d.Command(ctx, "version", "-f", "{{.Server.Version}}").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("the Docker engine at %s does not answer: %v\n%s", d.Host, err, out)
	}
	return d, nil
}

// DockerEngine is FindDocker for a test: when there is no engine, the test
// fails under CI=true and skips elsewhere (see Missing).
func DockerEngine(t testing.TB) *Docker {
	t.Helper()
	Slow(t)
	if runtime.GOOS != "linux" {
		t.Skip("the container tests run the action's Linux image")
	}
	d, err := FindDocker()
	if err != nil {
		Missing(t, "container test: %v", err)
	}
	return d
}

// Socket is the daemon's socket on this machine: what the runner binds
// into an action's container as /var/run/docker.sock.
func (d *Docker) Socket() string { return strings.TrimPrefix(d.Host, "unix://") }

// Command is the docker client with args, talking to this engine.
func (d *Docker) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, d.Bin, args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.Host)
	return cmd
}

// Output runs the client with args and returns its standard output.
func (d *Docker) Output(ctx context.Context, args ...string) (string, error) {
	var stderr bytes.Buffer
	cmd := d.Command(ctx, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// Builder selects the image builder: BuildKit (the daemon's own, through
// DOCKER_BUILDKIT=1) or the legacy one (DOCKER_BUILDKIT=0).
type Builder string

const (
	BuildKit Builder = "buildkit"
	Legacy   Builder = "legacy"
)

// BuildImage builds the project's Dockerfile as tag with the engine's base
// images and FLOX_FROM=standin (Debian's Nix and the flox stand-in in place
// of the Flox .deb, which cannot be downloaded here), and returns the
// build's log. RUN steps use the host's network: the engine has no bridge.
func (d *Docker) BuildImage(ctx context.Context, root, tag string, b Builder) (string, error) {
	args := []string{"build", "--network", "host", "-t", tag,
		"--build-arg", "GO_IMAGE=" + d.GoImage, "--build-arg", "RUNTIME_IMAGE=" + d.RuntimeImage,
		"--build-arg", "FLOX_FROM=standin"}
	buildkit := "1"
	if b == Legacy {
		buildkit = "0"
	} else {
		args = append(args, "--progress", "plain")
	}
	cmd := d.Command(ctx, append(args, root)...)
	cmd.Env = append(cmd.Env, "DOCKER_BUILDKIT="+buildkit)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		return log.String(), fmt.Errorf("docker build (%s) of %s: %w", b, root, err)
	}
	return log.String(), nil
}

var testImage struct {
	once sync.Once
	tag  string
	err  error
	log  string
	took time.Duration
}

// ActionImage is the action's image, built once per test binary from the
// project's Dockerfile (see BuildImage) with BuildKit, and removed when the
// tests' process ends (by the engine's prune at the run's end).
func ActionImage(t testing.TB, d *Docker) string {
	t.Helper()
	testImage.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		testImage.tag = "flox-publish-test/action:" + RandomHex(6)
		start := time.Now()
		testImage.log, testImage.err = d.BuildImage(ctx, ProjectRoot(t), testImage.tag, BuildKit)
		testImage.took = time.Since(start)
	})
	if testImage.err != nil {
		t.Fatalf("%v\n%s", testImage.err, tail(testImage.log, 60))
	}
	t.Logf("the action's image %s (built in %s)", testImage.tag, testImage.took.Round(time.Second))
	return testImage.tag
}

// RandomHex is n random bytes in hex: names of containers and images.
func RandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// RunnerContainer is a container action's step as the Actions runner runs
// it: the host directories it binds, the environment it passes.
type RunnerContainer struct {
	Image string
	// Name is --name; "" makes one as the runner does (the image's name,
	// sanitised, and 6 random hex digits).
	Name string
	// Env is every variable the step's container gets, NAME=VALUE; the
	// runner names each on the command line (-e NAME) and passes its value
	// through the client's environment.
	Env []string
	// The runner's directories on this machine: Temp (its _temp, bound at
	// /github/runner_temp), Home (_temp/_github_home, /github/home),
	// Workflow (_temp/_github_workflow, /github/workflow), FileCommands
	// (_temp/_runner_file_commands, /github/file_commands) and the
	// Workspace (/github/workspace).
	Temp, Home, Workflow, FileCommands, Workspace string
	// Binds are more -v HOST:CONTAINER[:ro] bindings, after the runner's.
	Binds []string
	// Network is --network: the runner's is the job's bridge network; the
	// engine here has none, so the tests use "host".
	Network string
}

// RunnerLabel is the runner's --label: the first 6 hex digits of the
// sha256 of its .runner file (any 6 digits stand for one here).
const RunnerLabel = "3f2b1c"

// RunArgs is the docker command line for c, in the order actions/runner's
// DockerCommandManager.DockerRun builds it — --name, --label, --workdir
// /github/workspace, --rm, -e NAME for each variable, -e GITHUB_ACTIONS=true,
// -e CI=true (unless CI is among them), --network, the volumes (the docker
// socket, then the runner's directories), the image — and the environment
// the client runs with. No --init, --privileged, --user or --cap-add: the
// action is PID 1, root, with Docker's default capabilities and seccomp
// profile.
func (d *Docker) RunArgs(c RunnerContainer) (args, env []string) {
	name := c.Name
	if name == "" {
		name = sanitize(c.Image) + "_" + RandomHex(3)
	}
	args = []string{"run", "--name", name, "--label", RunnerLabel, "--workdir", "/github/workspace", "--rm"}
	env = append(os.Environ(), "DOCKER_HOST="+d.Host)
	hasCI := false
	for _, kv := range c.Env {
		k, _, _ := strings.Cut(kv, "=")
		if k == "GITHUB_ACTIONS" {
			continue // the runner adds it
		}
		hasCI = hasCI || k == "CI"
		args = append(args, "-e", k)
		env = append(env, kv)
	}
	args = append(args, "-e", "GITHUB_ACTIONS=true")
	if !hasCI {
		args = append(args, "-e", "CI=true")
	}
	if c.Network != "" {
		args = append(args, "--network", c.Network)
	}
	args = append(args, "-v", d.Socket()+":/var/run/docker.sock")
	for _, b := range [][2]string{
		{c.Temp, "/github/runner_temp"}, {c.Home, "/github/home"}, {c.Workflow, "/github/workflow"},
		{c.FileCommands, "/github/file_commands"}, {c.Workspace, "/github/workspace"},
	} {
		if b[0] != "" {
			args = append(args, "-v", b[0]+":"+b[1])
		}
	}
	for _, b := range c.Binds {
		args = append(args, "-v", b)
	}
	return append(args, c.Image), env
}

// sanitize is the runner's NameValidation.Sanitize: the characters a
// container name may hold.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// RunnerDirs makes the runner's directories under dir, as the runner lays
// them out (_temp with _github_home, _github_workflow and
// _runner_file_commands in it) and fills in c's.
func RunnerDirs(dir string, c *RunnerContainer) error {
	c.Temp = filepath.Join(dir, "_temp")
	c.Home = filepath.Join(c.Temp, "_github_home")
	c.Workflow = filepath.Join(c.Temp, "_github_workflow")
	c.FileCommands = filepath.Join(c.Temp, "_runner_file_commands")
	for _, d := range []string{c.Home, c.Workflow, c.FileCommands} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}
