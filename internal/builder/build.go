// Package builder turns a manifest's builds into Nix store paths.
//
// Builds run in a clean clone of the verified commit, never in the
// workspace, so a build can only use what the commit holds. Build commands
// (and version commands) are untrusted code from the repository: they run
// with an environment built from an allowlist, which never holds the
// action's inputs, tokens or cloud credentials, and before any credential
// is fetched.
//
// Two builders implement Builder: Flox (`flox build`, outputs in the local
// Nix store) and Local (the command under bash, `$out` imported as a
// content-addressed path computed without Nix).
package builder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/flox-publish/publish-action/internal/manifest"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/sandbox"
)

// Request is one package to build.
type Request struct {
	// EnvDir is the environment directory inside the clean clone.
	EnvDir string
	Build  manifest.Build
	// Version is the resolved version (see ResolveVersion).
	Version string
	// Vars are the manifest's [vars], exported to the command.
	Vars map[string]string
	// Scratch is a directory the builder may use; it must outlive the
	// upload, since local outputs are read from it.
	Scratch string
	// Log receives the build's output.
	Log io.Writer
	// SourceRoot is the top directory of the clean clone, which EnvDir is
	// inside. The local builder copies it to a fixed path so that builds
	// work in the same directory on every run; "" copies EnvDir alone.
	SourceRoot string
	// MoveSource lets the local builder move SourceRoot's files (not its
	// .git) to its fixed path instead of copying them: the caller reads
	// them no more (the last build of a run). Creating a file is what a
	// copy costs, about 1 ms each on a shared runner's disk.
	MoveSource bool
	// CommitTime is the time of the commit built (verify.Source.RevDate):
	// SOURCE_DATE_EPOCH of the local builder's builds.
	CommitTime time.Time
	// Environ is the environment the builder starts from; only allowlisted
	// variables of it reach the build (see SafeEnv).
	Environ []string
	// Sandbox runs the build's processes; nil runs them as the current
	// user with the default timeout.
	Sandbox *sandbox.Sandbox
}

func (r Request) sandbox() *sandbox.Sandbox {
	if r.Sandbox == nil {
		return sandbox.Current()
	}
	return r.Sandbox
}

// Output is one output of a build.
type Output struct {
	Name      string // "out"
	StorePath string
}

// Result is a built package.
type Result struct {
	Name    string
	Version string
	System  string
	Outputs []Output
	// Closure is every store path the outputs need, outputs included.
	Closure []nixpath.PathInfo
}

// NarSize is the total NAR size of the closure.
func (r *Result) NarSize() uint64 {
	var n uint64
	for _, p := range r.Closure {
		n += p.NarSize
	}
	return n
}

// Builder builds one package.
type Builder interface {
	// Name is "flox" or "local".
	Name() string
	Build(ctx context.Context, req Request) (*Result, error)
}

// ErrNoFlox is Select's error when the flox builder is asked for and flox
// is not on PATH.
var ErrNoFlox = errors.New("the flox builder needs flox, and flox is not on PATH")

// UnknownError is Select's error for a name no builder has.
type UnknownError struct{ Name string }

func (e *UnknownError) Error() string {
	return fmt.Sprintf("%q is not a builder: auto, flox or local", e.Name)
}

// Select returns the builder named "flox", "local", or "auto" (flox when
// it is on PATH): the choice is made once, for the whole run.
func Select(name string) (Builder, error) {
	switch name {
	case "flox":
		if _, err := exec.LookPath("flox"); err != nil {
			return nil, ErrNoFlox
		}
		return Flox{}, nil
	case "local":
		return Local{}, nil
	case "auto", "":
		if _, err := exec.LookPath("flox"); err == nil {
			return Flox{}, nil
		}
		return Local{}, nil
	}
	return nil, &UnknownError{Name: name}
}

// System returns this machine's Nix system double, such as x86_64-linux.
func System() string {
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "riscv64": "riscv64"}[runtime.GOARCH]
	if arch == "" {
		arch = runtime.GOARCH
	}
	return arch + "-" + runtime.GOOS
}

// safeVars are the variables a build may see from the action's
// environment. Everything else — INPUT_* (the signing key), tokens,
// ACTIONS_ID_TOKEN_REQUEST_*, AWS_* — stays out.
var safeVars = map[string]bool{
	"PATH": true, "LANG": true, "LC_ALL": true, "LC_CTYPE": true, "TZ": true, "TERM": true,
	"USER": true, "LOGNAME": true, "SHELL": true,
	"SSL_CERT_FILE": true, "NIX_SSL_CERT_FILE": true, "SSL_CERT_DIR": true,
	"CI": true, "GITHUB_ACTIONS": true, "RUNNER_OS": true, "RUNNER_ARCH": true,
	"GITHUB_SHA": true, "GITHUB_REF": true, "GITHUB_REF_NAME": true, "GITHUB_REPOSITORY": true,
	"GITHUB_SERVER_URL": true, "GITHUB_RUN_ID": true,
}

// secretFloxVars are Flox settings that carry credentials.
var secretFloxVars = map[string]bool{"FLOX_FLOXHUB_TOKEN": true}

// SafeEnv filters environ down to what a build may see: the allowlist,
// and for the flox builder Flox's and Nix's own settings (FLOX_*, NIX_*,
// XDG_*, HOME), which it needs to find its store and configuration.
func SafeEnv(environ []string, flox bool) []string {
	var out []string
	for _, kv := range environ {
		k, _, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		switch {
		case safeVars[k]:
		case flox && k == "HOME":
		case flox && (strings.HasPrefix(k, "NIX_") || strings.HasPrefix(k, "XDG_")):
		case flox && strings.HasPrefix(k, "FLOX_") && !secretFloxVars[k]:
		default:
			continue
		}
		out = append(out, kv)
	}
	return out
}

// withVars adds the manifest's [vars] and the given extra variables,
// replacing earlier values of the same name.
func withVars(env []string, vars map[string]string, extra ...string) []string {
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	add := make([]string, 0, len(vars)+len(extra))
	for _, k := range names {
		add = append(add, k+"="+vars[k])
	}
	add = append(add, extra...)
	set := map[string]bool{}
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !set[k] {
			out = append(out, kv)
		}
	}
	return append(out, add...)
}

// ResolveVersion returns the version of b: its literal, the trimmed
// content of its version file, or the trimmed output of its version
// command, run like a build command by sb (as the build user: the clean
// clone must be given to it first, see sandbox.OwnWorktree), in envDir,
// with a safe environment. A build without one has version 0.0.0, as in
// Flox.
func ResolveVersion(ctx context.Context, sb *sandbox.Sandbox, envDir string, b manifest.Build, environ []string, vars map[string]string) (string, error) {
	v := b.Version
	var version string
	switch {
	case v.File != "":
		data, err := os.ReadFile(filepath.Join(envDir, v.File))
		if err != nil {
			return "", fmt.Errorf("build %q: version file %s (%s): %w; the file must be committed, since builds run in a clean clone", b.Name, v.File, v.Pos, err)
		}
		version = strings.TrimSpace(string(data))
	case v.Command != "":
		cmd := sb.Command("bash", "-e", "-c", v.Command)
		cmd.Dir = envDir
		cmd.Env = withVars(append(SafeEnv(environ, false), sb.Env()...), vars)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := sb.Run(ctx, cmd, fmt.Sprintf("build %q: version command", b.Name))
		out := stdout.Bytes()
		if err != nil {
			return "", fmt.Errorf("build %q: version command at %s failed: %w: %s", b.Name, v.Pos, err, strings.TrimSpace(stderr.String()))
		}
		version = strings.TrimSpace(string(out))
	case v.Literal != "":
		version = v.Literal
	default:
		version = "0.0.0"
	}
	if version == "" {
		return "", fmt.Errorf("build %q: version at %s is empty", b.Name, v.Pos)
	}
	if err := nixpath.ValidateName(b.Name + "-" + version); err != nil {
		return "", fmt.Errorf("build %q: version %q cannot be part of a store path name: %w", b.Name, version, err)
	}
	return version, nil
}
