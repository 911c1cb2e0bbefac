package builder

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/flox-publish/publish-action/internal/manifest"
	"github.com/flox-publish/publish-action/internal/nixpath"
)

// Flox builds with `flox build` in the clean clone, as `flox publish`
// does, and reads the result from the `result-<pname>` link Flox leaves
// beside `.flox`. The closure comes from the local Nix store.
type Flox struct{}

var _ Builder = Flox{}

// Name returns "flox".
func (Flox) Name() string { return "flox" }

// Build runs `flox build -d <env> <pname>`.
func (Flox) Build(ctx context.Context, req Request) (*Result, error) {
	b := req.Build
	env := SafeEnv(req.Environ, true)
	flox, err := lookPath("flox", env)
	if err != nil {
		return nil, fmt.Errorf("build %q: %w", b.Name, err)
	}
	// Flox runs as the build user (see internal/sandbox), which cannot
	// reach the action's HOME: it gets a home of its own for Flox's and
	// Nix's caches, and talks to the Nix daemon (see internal/nixdaemon)
	// rather than writing /nix.
	sb := req.sandbox()
	buildEnv := append(env, sb.Env()...)
	if sb.Dropped() {
		home, err := os.MkdirTemp(req.Scratch, "flox-home-"+b.Name+"-")
		if err != nil {
			return nil, fmt.Errorf("build %q: %w", b.Name, err)
		}
		if err := os.Mkdir(filepath.Join(home, "tmp"), 0o700); err != nil {
			return nil, fmt.Errorf("build %q: %w", b.Name, err)
		}
		if err := sb.Own(req.Scratch, home); err != nil {
			return nil, fmt.Errorf("build %q: %w", b.Name, err)
		}
		buildEnv = withVars(buildEnv, nil, "HOME="+home, "TMPDIR="+home+"/tmp", "XDG_CACHE_HOME="+home+"/.cache",
			"XDG_CONFIG_HOME="+home+"/.config", "XDG_DATA_HOME="+home+"/.local/share", "XDG_STATE_HOME="+home+"/.local/state")
	}
	// The name after "--", so that no name is read as an option (the
	// manifest package refuses names starting with "-" too).
	cmd := sb.Command(flox, "build", "-d", req.EnvDir, "--", b.Name)
	cmd.Dir = req.EnvDir
	cmd.Env = buildEnv
	cmd.Stdout = req.Log
	cmd.Stderr = req.Log
	if err = sb.Run(ctx, cmd, fmt.Sprintf("build %q", b.Name)); err != nil {
		return nil, fmt.Errorf("build %q failed: flox build -d %s -- %s: %w (the build log above says why)", b.Name, req.EnvDir, b.Name, err)
	}
	link := filepath.Join(req.EnvDir, "result-"+b.Name)
	target, err := os.Readlink(link)
	if err != nil {
		return nil, fmt.Errorf("build %q: flox build succeeded but left no result link %s: %w", b.Name, link, err)
	}
	if !strings.HasPrefix(target, nixpath.StoreDir+"/") {
		return nil, fmt.Errorf("build %q: result link %s points at %s, outside %s", b.Name, link, target, nixpath.StoreDir)
	}
	closure, err := nixpath.QueryClosure(ctx, env, target)
	if err != nil {
		return nil, fmt.Errorf("build %q: %w", b.Name, err)
	}
	return &Result{
		Name:    b.Name,
		Version: req.Version,
		System:  System(),
		Outputs: []Output{{Name: "out", StorePath: target}},
		Closure: closure,
	}, nil
}

// lookPath finds an executable on the PATH of env, which is the PATH the
// build runs with (exec.Command alone would search the process's).
func lookPath(name string, env []string) (string, error) {
	for _, kv := range env {
		if dirs, ok := strings.CutPrefix(kv, "PATH="); ok {
			for _, dir := range filepath.SplitList(dirs) {
				p := filepath.Join(dir, name)
				if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
					return p, nil
				}
			}
		}
	}
	return exec.LookPath(name)
}

// UnsandboxedWarning is the warning for a build that asks for Nix's
// sandbox (sandbox = "pure") when Nix cannot set one up, as in the
// action's container: Docker's default seccomp profile refuses the
// namespaces the sandbox is made of. The build runs anyway (the image's
// nix.conf has sandbox = false), apart from the action as the build user
// and Nix's build users; what it may reach beyond its inputs (network,
// files outside the store) is not enforced. "" when there is nothing to
// say.
func UnsandboxedWarning(builder string, b manifest.Build, nixSandbox bool) string {
	if b.Sandbox != manifest.SandboxPure {
		return ""
	}
	switch {
	case builder == "local":
		return fmt.Sprintf(`build %q (%s) asks for sandbox = "pure", but the local builder runs without Nix's sandbox: its command could reach the network and files outside its inputs; use the flox builder on a machine where Nix's sandbox works`, b.Name, b.Pos)
	case !nixSandbox:
		return fmt.Sprintf(`build %q (%s) asks for sandbox = "pure", but it ran without Nix's sandbox: the action's container cannot create the namespaces the sandbox needs (Docker's default seccomp profile refuses them), so the build could reach the network and files outside its inputs; it still ran as a user of its own, apart from the action's secrets`, b.Name, b.Pos)
	}
	return ""
}
