package build

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

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
	cmd := exec.CommandContext(ctx, flox, "build", "-d", req.EnvDir, b.Name)
	cmd.Dir = req.EnvDir
	cmd.Env = env
	cmd.Stdout = req.Log
	cmd.Stderr = req.Log
	endGroupOnCancel(cmd)
	if err = cmd.Run(); err != nil {
		return nil, fmt.Errorf("build %q failed: flox build -d %s %s: %w (the build log above says why)", b.Name, req.EnvDir, b.Name, err)
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
