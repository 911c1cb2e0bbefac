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
	cmd := exec.CommandContext(ctx, "flox", "build", "-d", req.EnvDir, b.Name)
	cmd.Dir = req.EnvDir
	cmd.Env = env
	cmd.Stdout = req.Log
	cmd.Stderr = req.Log
	if err := cmd.Run(); err != nil {
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
