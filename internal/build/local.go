package build

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"

	"github.com/flox-publish/publish-action/internal/nixpath"
)

// Local runs a build's command with `bash -e` in the clean clone's
// environment directory, with `$out` an empty scratch directory, and turns
// `$out` into the content-addressed store path `nix store add-path --name
// <pname>-<version>` would give. It needs no Nix, so its outputs must be
// self-contained: an output that refers to /nix/store is refused, since
// nothing would publish what it refers to.
type Local struct{}

var _ Builder = Local{}

// Name returns "local".
func (Local) Name() string { return "local" }

// Build runs the command and imports $out.
func (Local) Build(ctx context.Context, req Request) (*Result, error) {
	b := req.Build
	scratch, err := os.MkdirTemp(req.Scratch, "build-"+b.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("build %q: %w", b.Name, err)
	}
	out := filepath.Join(scratch, "out")
	home := filepath.Join(scratch, "home")
	tmp := filepath.Join(scratch, "tmp")
	for _, d := range []string{out, home, tmp} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, fmt.Errorf("build %q: %w", b.Name, err)
		}
	}
	script := filepath.Join(scratch, "build.sh")
	if err := os.WriteFile(script, []byte(b.Command), 0o644); err != nil {
		return nil, fmt.Errorf("build %q: %w", b.Name, err)
	}

	// The script is a file rather than `-c` or stdin, so that a command
	// reading stdin cannot consume the rest of the script, and errors name
	// script lines.
	cmd := exec.CommandContext(ctx, "bash", "-e", script)
	cmd.Dir = req.EnvDir
	cmd.Env = withVars(SafeEnv(req.Environ, false), req.Vars,
		"out="+out, "HOME="+home, "TMPDIR="+tmp,
		"pname="+b.Name, "version="+req.Version)
	cmd.Stdin = nil
	cmd.Stdout = req.Log
	cmd.Stderr = req.Log
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("build %q failed (command at %s): %w", b.Name, b.Pos, err)
	}

	if empty, err := isEmpty(out); err != nil {
		return nil, fmt.Errorf("build %q: the command removed $out: %w", b.Name, err)
	} else if empty {
		return nil, fmt.Errorf("build %q: the command did not write anything to $out; copy the build's results there (e.g. mkdir -p $out/bin && cp app $out/bin/)", b.Name)
	}
	if err := checkSelfContained(b.Name, out); err != nil {
		return nil, err
	}

	name := b.Name + "-" + req.Version
	hash, size, err := nixpath.HashNAR(out, nil)
	if err != nil {
		return nil, fmt.Errorf("build %q: %w", b.Name, err)
	}
	p := nixpath.PathInfo{
		StorePath: nixpath.SourcePath(hash, name, nil),
		NarHash:   hash,
		NarSize:   size,
		CA:        nixpath.SourceCA(hash),
		Source:    out,
	}
	return &Result{
		Name:    b.Name,
		Version: req.Version,
		System:  System(),
		Outputs: []Output{{Name: "out", StorePath: p.StorePath}},
		Closure: []nixpath.PathInfo{p},
	}, nil
}

func isEmpty(dir string) (bool, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return false, err
	}
	if !fi.IsDir() {
		return false, nil // a single file is a valid output
	}
	entries, err := os.ReadDir(dir)
	return len(entries) == 0, err
}

var storeRefRe = regexp.MustCompile(`/nix/store/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]*`)

// checkSelfContained refuses an output with a file or symlink that refers
// to a Nix store path: the local builder publishes only the output itself,
// so such a reference would dangle on every machine that installs it.
func checkSelfContained(pkg, out string) error {
	return filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(out, path)
		var ref string
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			ref = storeRefRe.FindString(target)
		case d.Type().IsRegular():
			ref, err = findStoreRef(path)
			if err != nil {
				return err
			}
		case d.IsDir():
			return nil
		default:
			return fmt.Errorf("build %q: $out/%s is a %s; outputs may hold only files, directories and symlinks", pkg, rel, d.Type())
		}
		if ref != "" {
			return fmt.Errorf("build %q: $out/%s refers to %s, but the local builder publishes only the output itself, not what it refers to; use builder: flox so the whole closure is published, or make the output self-contained", pkg, rel, ref)
		}
		return nil
	})
}

// findStoreRef scans a file for a store path, in bounded memory.
func findStoreRef(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	const overlap = 256 // longer than any store path prefix the regexp needs
	r := bufio.NewReaderSize(f, 1<<16)
	buf := make([]byte, 0, 1<<16+overlap)
	chunk := make([]byte, 1<<16)
	for {
		n, err := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if m := storeRefRe.Find(buf); m != nil {
			return string(m), nil
		}
		if len(buf) > overlap {
			buf = append(buf[:0], buf[len(buf)-overlap:]...)
		}
		if errors.Is(err, io.EOF) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
	}
}
