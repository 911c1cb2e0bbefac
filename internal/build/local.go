package build

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
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
	// script lines. It runs as the build user (see internal/sandbox),
	// which owns only out, home and tmp; what it wrote is taken back
	// before it is read.
	sb := req.sandbox()
	if err := sb.Own(req.Scratch, out, home, tmp); err != nil {
		return nil, fmt.Errorf("build %q: %w", b.Name, err)
	}
	cmd := sb.Command("bash", "-e", script)
	cmd.Dir = req.EnvDir
	cmd.Env = withVars(append(SafeEnv(req.Environ, false), sb.Env()...), req.Vars,
		"out="+out, "HOME="+home, "TMPDIR="+tmp,
		"pname="+b.Name, "version="+req.Version)
	cmd.Stdin = nil
	cmd.Stdout = req.Log
	cmd.Stderr = req.Log
	err = sb.Run(ctx, cmd, fmt.Sprintf("build %q", b.Name))
	if derr := sb.Disown(scratch); derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		return nil, fmt.Errorf("build %q failed (command at %s): %w", b.Name, b.Pos, err)
	}

	if empty, err := isEmpty(out); err != nil {
		return nil, fmt.Errorf("build %q: the command removed $out: %w", b.Name, err)
	} else if empty {
		return nil, fmt.Errorf("build %q: the command did not write anything to $out; copy the build's results there (e.g. mkdir -p $out/bin && cp app $out/bin/)", b.Name)
	}
	if err := checkFileTypes(b.Name, out); err != nil {
		return nil, err
	}
	// One read of the output: the NAR that names the path is also what is
	// scanned for store references, as Nix scans it.
	name := b.Name + "-" + req.Version
	scan := &refScanner{}
	hash, size, err := nixpath.HashNAR(out, scan)
	if err != nil {
		return nil, fmt.Errorf("build %q: %w", b.Name, err)
	}
	if scan.found != "" {
		return nil, selfContainedError(b.Name, out, scan.found)
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

// checkFileTypes refuses what a NAR cannot hold (devices, sockets, FIFOs)
// with a message that names it. It reads metadata only.
func checkFileTypes(pkg, out string) error {
	return filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if t := d.Type(); t.IsRegular() || t.IsDir() || t&fs.ModeSymlink != 0 {
			return nil
		}
		rel, _ := filepath.Rel(out, path)
		return fmt.Errorf("build %q: $out/%s is a %s; outputs may hold only files, directories and symlinks", pkg, rel, d.Type())
	})
}

// refScanner finds the first store path in what is written to it, also
// when the path spans two writes.
type refScanner struct {
	tail  []byte
	found string
}

// overlap is longer than the part of a store path the pattern needs.
const overlap = 256

func (r *refScanner) Write(p []byte) (int, error) {
	if r.found != "" {
		return len(p), nil
	}
	buf := append(r.tail, p...)
	if m := storeRefRe.Find(buf); m != nil {
		r.found = string(m)
		return len(p), nil
	}
	r.tail = append(r.tail[:0], buf[max(0, len(buf)-overlap):]...)
	return len(p), nil
}

// selfContainedError explains a store reference found in the output of
// pkg: the local builder publishes only the output itself, so the
// reference would dangle on every machine that installs it. It names the
// file holding the reference when one does (it may also be in a name).
func selfContainedError(pkg, out, ref string) error {
	where := "$out"
	filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var found string
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(path)
			found = storeRefRe.FindString(target)
		case d.Type().IsRegular():
			found, _ = findStoreRef(path)
		}
		if found != "" {
			rel, _ := filepath.Rel(out, path)
			where, ref = "$out/"+filepath.ToSlash(rel), found
			return filepath.SkipAll
		}
		return nil
	})
	return fmt.Errorf("build %q: %s refers to %s, but the local builder publishes only the output itself, not what it refers to; use builder: flox so the whole closure is published, or make the output self-contained", pkg, where, ref)
}

// findStoreRef scans a file for a store path, in bounded memory.
func findStoreRef(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	scan := &refScanner{}
	if _, err := io.Copy(scan, f); err != nil {
		return "", err
	}
	return scan.found, nil
}
