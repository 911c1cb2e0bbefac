// Package git runs the git command-line tool for the action.
//
// The action runs as root in a container while the checkout it reads is
// owned by the runner's user, which git ≥ 2.35.2 refuses ("detected dubious
// ownership"). A Git can mark directories safe for its own commands only:
// it hands safe.directory to each child through GIT_CONFIG_COUNT,
// GIT_CONFIG_KEY_n and GIT_CONFIG_VALUE_n, so no config file is ever written
// and nothing outlives the process. git 2.39 honours safe.directory from
// that environment and from -c alike (checked with a repository owned by
// uid 65534 read as root); the environment keeps the command lines shown in
// errors short. git compares the resolved path, so symlinks are resolved
// before the directory is named.
//
// Every command runs with GIT_TERMINAL_PROMPT=0, no standard input and no
// controlling terminal, so a remote asking for a password fails at once
// instead of hanging the job, and with GIT_OPTIONAL_LOCKS=0, so read-only
// commands such as status never write the user's index.
package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Git runs git commands in one directory. It is safe for concurrent use:
// nothing in it changes after New.
type Git struct {
	dir string
	env []string
}

type config struct {
	env      []string
	safeDirs []string
	trust    bool
}

// Option configures New and Clone.
type Option func(*config)

// WithEnv sets the environment git starts from (default os.Environ()), so
// callers and tests can choose it without changing the process's own.
// Either way, only what Env keeps of it reaches git.
func WithEnv(env []string) Option {
	return func(c *config) { c.env = append([]string(nil), env...) }
}

// WithSafeDirectories marks dirs as safe.directory for every command.
func WithSafeDirectories(dirs ...string) Option {
	return func(c *config) { c.safeDirs = append(c.safeDirs, dirs...) }
}

// TrustRepository marks the work tree that contains the Git's directory as
// safe: the nearest enclosing folder holding .git, symlinks resolved. This
// is what lets a root container read a checkout owned by another uid.
func TrustRepository() Option {
	return func(c *config) { c.trust = true }
}

// New returns a Git running in dir.
func New(dir string, opts ...Option) (*Git, error) {
	c := config{env: os.Environ()}
	for _, o := range opts {
		o(&c)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("git: resolving %s: %w", dir, err)
	}
	safe := append([]string(nil), c.safeDirs...)
	if c.trust {
		if top, ok := findWorkTree(abs); ok {
			safe = append(safe, top)
		}
	}
	return &Git{dir: abs, env: buildEnv(Env(c.env), safe)}, nil
}

// Dir is the absolute directory the commands run in.
func (g *Git) Dir() string { return g.dir }

// Run runs git with args in the Git's directory and returns its standard
// output unchanged. A failure is an *Error carrying the command line and
// git's standard error.
func (g *Git) Run(ctx context.Context, args ...string) (string, error) {
	return g.RunInput(ctx, "", args...)
}

// RunInput is Run with input as standard input (for --stdin commands).
func (g *Git) RunInput(ctx context.Context, input string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = g.dir
	cmd.Env = g.env
	if input != "" {
		cmd.Stdin = strings.NewReader(input)
	}
	detach(cmd)
	// git's children (ssh, upload-pack) may hold the pipes open after git
	// itself is killed on cancellation; do not wait for them forever.
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return stdout.String(), &Error{Dir: g.dir, Args: args, Stderr: stderr.String(), Err: err}
	}
	return stdout.String(), nil
}

// Error is a failed git command.
type Error struct {
	Dir    string
	Args   []string
	Stderr string
	Err    error // *exec.ExitError, a start failure, or the context's error
}

const maxStderr = 4000

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("git -C ")
	b.WriteString(quoteArg(e.Dir))
	for _, a := range e.Args {
		b.WriteByte(' ')
		b.WriteString(quoteArg(RedactURL(a)))
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	if s := strings.TrimSpace(RedactURL(e.Stderr)); s != "" {
		if len(s) > maxStderr {
			s = "…" + s[len(s)-maxStderr:]
		}
		b.WriteString(": ")
		b.WriteString(s)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ExitCode is git's exit status, or -1 when git did not run to completion.
func (e *Error) ExitCode() int {
	var ee *exec.ExitError
	if errors.As(e.Err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// ExitCode returns the exit status of a failed git command in err, or -1.
func ExitCode(err error) int {
	var ge *Error
	if errors.As(err, &ge) {
		return ge.ExitCode()
	}
	return -1
}

var urlCredentials = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@`)

// RedactURL hides user and password of every scheme://user:pass@host URL in
// s, so that tokens in remote URLs never reach logs.
func RedactURL(s string) string {
	return urlCredentials.ReplaceAllString(s, "${1}***@")
}

func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\"'\\$`*?;&|<>()") {
		return s
	}
	return strconv.Quote(s)
}

// findWorkTree walks up from dir to the folder containing .git (a
// directory, or a file for linked work trees and submodules).
func findWorkTree(dir string) (string, bool) {
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	for {
		if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// buildEnv appends the action's settings to base. Settings already passed
// through GIT_CONFIG_COUNT are kept: ours are numbered after them. exec
// keeps the last of duplicate variables, so appending overrides.
func buildEnv(base []string, safeDirs []string) []string {
	env := append([]string(nil), base...)
	env = append(env, "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0")
	if len(safeDirs) == 0 {
		return env
	}
	n := 0
	for _, kv := range base {
		if v, ok := strings.CutPrefix(kv, "GIT_CONFIG_COUNT="); ok {
			if c, err := strconv.Atoi(v); err == nil && c > 0 {
				n = c
			} else {
				n = 0
			}
		}
	}
	for _, d := range safeDirs {
		env = append(env,
			fmt.Sprintf("GIT_CONFIG_KEY_%d=safe.directory", n),
			fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", n, d))
		n++
	}
	return append(env, fmt.Sprintf("GIT_CONFIG_COUNT=%d", n))
}
