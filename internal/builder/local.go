package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/flox-publish/publish-action/internal/nixpath"
)

// Local runs a build's command with `bash -e` and turns `$out` into the
// content-addressed store path `nix store add-path --name
// <pname>-<version>` would give. It needs no Nix, so its outputs must be
// self-contained: an output that refers to another store path is refused,
// since nothing would publish what it refers to.
//
// Builds are reproducible across runs and machines, as Nix makes them:
// every run of a build works in the same paths and environment, so a build
// that records them (a wrapper calling `$out/libexec/…`, a generated
// config, an `env` dump, a compiler embedding its build directory) gives
// the same store path from the same commit. Under a fixed Root the build
// runs in a copy of the clean clone (its files, moved, when
// Request.MoveSource says so) at Root/src, with HOME Root/home,
// TMPDIR Root/tmp, LANG and LC_ALL C.UTF-8, TZ UTC, umask 022,
// SOURCE_DATE_EPOCH the commit's time, and without the variables that
// differ between runs of one commit (GITHUB_RUN_ID, GITHUB_REF,
// GITHUB_REF_NAME, TERM). Two runs on one machine take turns (a lock on
// Root); each clears Root before and after.
//
// `$out` is Root/out/<pad>-<pname>-<version>, exactly as long as the final
// store path /nix/store/<hash>-<pname>-<version>. An output that refers to
// its own `$out` is rewritten to refer to its final store path, as Nix
// does for content-addressed outputs with self-references: the path is
// named after the NAR hash modulo the self-references (the NAR with each
// self-reference's hash part zeroed, followed by the positions of the
// self-references, Nix's HashModuloSink), with type "source:self", and
// the occurrences of `$out` are then replaced by the final path. Lengths
// are equal, so offsets inside binaries stay valid. Real Nix checks that
// content address when it installs the path.
type Local struct {
	// Root is the fixed directory builds run under; "" means DefaultRoot.
	// It must be at most MaxRootLen bytes long, and belong to this user.
	Root string
}

// DefaultRoot is where local builds run unless Local.Root says otherwise.
const DefaultRoot = "/tmp/flox-publish-build"

// MaxRootLen leaves room in `$out` for a distinctive padding.
const MaxRootLen = 32

// defaultSourceDateEpoch is nixpkgs' default (1980-01-01), for a request
// that names no commit time.
const defaultSourceDateEpoch = 315532800

var _ Builder = Local{}

// Name returns "local".
func (Local) Name() string { return "local" }

// runVars are allowlisted variables that differ between runs of one
// commit; a build that records its environment must not see them.
var runVars = map[string]bool{"GITHUB_RUN_ID": true, "GITHUB_REF": true, "GITHUB_REF_NAME": true, "TERM": true, "LC_CTYPE": true}

// Build runs the command and imports $out.
func (l Local) Build(ctx context.Context, req Request) (*Result, error) {
	b := req.Build
	root := l.Root
	if root == "" {
		root = DefaultRoot
	}
	name := b.Name + "-" + req.Version
	if len(root) > MaxRootLen || !filepath.IsAbs(root) {
		return nil, fmt.Errorf("build %q: the local builder's root %s must be an absolute path of at most %d bytes", b.Name, root, MaxRootLen)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("build %q: %w", b.Name, err)
	}
	if err := checkRoot(root); err != nil {
		return nil, fmt.Errorf("build %q: the local builder's directory is unsafe: %w; remove it and run again", b.Name, err)
	}
	unlock, err := lockRoot(ctx, root, req.Log)
	if err != nil {
		return nil, fmt.Errorf("build %q: %w", b.Name, err)
	}
	defer unlock()
	if err := clearRoot(root); err != nil {
		return nil, fmt.Errorf("build %q: clear %s: %w", b.Name, root, err)
	}
	defer clearRoot(root)

	out := scratchOut(root, name)
	src := filepath.Join(root, "src")
	home := filepath.Join(root, "home")
	tmp := filepath.Join(root, "tmp")
	// $out has a directory of its own, so that a build may replace it with
	// a file without writing to root itself.
	for _, d := range []string{filepath.Dir(out), out, home, tmp} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, fmt.Errorf("build %q: %w", b.Name, err)
		}
	}
	// The build works in a copy of the clean clone at a fixed path, so
	// that the working directory is the same on every run, and so that a
	// build cannot change what the next one sees. The last build moves
	// the files instead: a rename per top-level entry rather than a file
	// created per file (120-250 ms for this repository's 200 files on a
	// shared runner's disk, most of a small build's fixed cost).
	top, rel := req.EnvDir, "."
	if req.SourceRoot != "" {
		top = req.SourceRoot
		if rel, err = filepath.Rel(req.SourceRoot, req.EnvDir); err != nil || strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("build %q: environment %s is not inside %s", b.Name, req.EnvDir, req.SourceRoot)
		}
	}
	place, how := copyTree, "copy"
	if req.MoveSource && req.SourceRoot != "" {
		place, how = moveEntries, "move"
	}
	if err := place(top, src, filepath.Join(top, ".git")); err != nil {
		return nil, fmt.Errorf("build %q: %s the clean clone to %s: %w", b.Name, how, src, err)
	}
	// The clone's .git is not copied (it is most of the files, and copying
	// them was most of a small build's time): the copy's .git points at
	// it, so git commands in the build read the commit, which the build
	// user cannot change.
	if _, err := os.Lstat(filepath.Join(top, ".git")); err == nil {
		if err := os.Symlink(filepath.Join(top, ".git"), filepath.Join(src, ".git")); err != nil {
			return nil, fmt.Errorf("build %q: %w", b.Name, err)
		}
	}
	workDir := filepath.Join(src, rel)

	script := filepath.Join(tmp, ".flox-publish-build.sh")
	// umask on the first line keeps the command's line numbers.
	if err := os.WriteFile(script, []byte("umask 022; "+b.Command), 0o644); err != nil {
		return nil, fmt.Errorf("build %q: %w", b.Name, err)
	}
	epoch := int64(defaultSourceDateEpoch)
	if !req.CommitTime.IsZero() {
		epoch = req.CommitTime.Unix()
	}
	var base []string
	for _, kv := range SafeEnv(req.Environ, false) {
		if k, _, _ := strings.Cut(kv, "="); !runVars[k] {
			base = append(base, kv)
		}
	}
	env := withVars(base, req.Vars,
		"out="+out, "HOME="+home, "TMPDIR="+tmp, "TMP="+tmp, "TEMP="+tmp, "TEMPDIR="+tmp,
		"PWD="+workDir, "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TZ=UTC",
		"SOURCE_DATE_EPOCH="+strconv.FormatInt(epoch, 10),
		"pname="+b.Name, "version="+req.Version)
	sort.Strings(env)

	// The script is a file rather than `-c` or stdin, so that a command
	// reading stdin cannot consume the rest of the script, and errors name
	// script lines. It runs as the build user (see internal/sandbox),
	// which owns only the copy of the sources (not its .git: the commit
	// is not the build's to change), $out's directory, home and tmp; what
	// it wrote is taken back before it is read.
	sb := req.sandbox()
	if err := sb.Own(root, filepath.Dir(out), home, tmp); err != nil {
		return nil, fmt.Errorf("build %q: %w", b.Name, err)
	}
	if err := sb.OwnWorktree(root, src); err != nil {
		return nil, fmt.Errorf("build %q: %w", b.Name, err)
	}
	owned := []string{filepath.Dir(out), src, home, tmp}
	cmd := sb.Command("bash", "-e", script)
	cmd.Dir = workDir
	cmd.Env = append(env, sb.Env()...)
	cmd.Stdin = nil
	cmd.Stdout = req.Log
	cmd.Stderr = req.Log
	err = sb.Run(ctx, cmd, fmt.Sprintf("build %q", b.Name))
	if derr := sb.Disown(owned...); derr != nil && err == nil {
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
	p, err := importOutput(b.Name, out, name)
	if err != nil {
		return nil, err
	}
	// The output leaves the shared root for the run's own scratch
	// directory, which outlives the upload.
	dir, err := os.MkdirTemp(req.Scratch, "build-"+b.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("build %q: %w", b.Name, err)
	}
	p.Source = filepath.Join(dir, "out")
	if err := moveTree(out, p.Source); err != nil {
		return nil, fmt.Errorf("build %q: move the output to %s: %w", b.Name, dir, err)
	}
	return &Result{
		Name:    b.Name,
		Version: req.Version,
		System:  System(),
		Outputs: []Output{{Name: "out", StorePath: p.StorePath}},
		Closure: []nixpath.PathInfo{p},
	}, nil
}

// scratchOut is the build-time `$out` of the output named name:
// root/out/<pad>-<name>, as long as /nix/store/<hash>-<name>. The padding
// depends on the name only, so it is the same on every run.
func scratchOut(root, name string) string {
	dir := root + "/out/"
	n := len(nixpath.StoreDir) + 1 + 32 - len(dir)
	h := sha256.Sum256([]byte("flox-publish scratch output:" + name))
	pad := nixbase32.EncodeToString(h[:])[:n]
	return dir + pad + "-" + name
}

// importOutput names the output at out (built as `$out` = out): it scans
// its NAR for references to other store paths (refused) and to out
// itself, which it rewrites to the final store path.
func importOutput(pkg, out, name string) (nixpath.PathInfo, error) {
	// The zeroed final path: what the NAR holds where it refers to itself,
	// once its own hash part is masked, as Nix hashes it.
	zeroed := nixpath.StoreDir + "/" + strings.Repeat("\x00", 32) + "-" + name
	scan := &refScanner{}
	mod := newHashModulo(out, zeroed, len(nixpath.StoreDir)+1)
	plain := nixpath.NewHashingWriter()
	if err := nixpath.DumpNAR(io.MultiWriter(scan, mod, plain), out); err != nil {
		return nixpath.PathInfo{}, fmt.Errorf("build %q: %w", pkg, err)
	}
	if scan.found != "" {
		return nixpath.PathInfo{}, selfContainedError(pkg, out, scan.found)
	}
	modHash, err := mod.Sum()
	if err != nil {
		return nixpath.PathInfo{}, fmt.Errorf("build %q: %w", pkg, err)
	}
	if len(mod.matches) == 0 {
		hash := plain.Sum()
		return nixpath.PathInfo{
			StorePath: nixpath.SourcePath(hash, name, nil),
			NarHash:   hash,
			NarSize:   plain.Size(),
			CA:        nixpath.SourceCA(hash),
		}, nil
	}

	final := nixpath.MakeStorePath("source:self", modHash, name)
	if err := rewriteTree(out, out, final); err != nil {
		return nixpath.PathInfo{}, fmt.Errorf("build %q: rewrite $out to %s: %w", pkg, final, err)
	}
	// Hash the rewritten output, and check it as Nix will check it when
	// installing: modulo the final path's hash part.
	check := newHashModulo(nixpath.HashPart(final), strings.Repeat("\x00", 32), 0)
	narHash := nixpath.NewHashingWriter()
	if err := nixpath.DumpNAR(io.MultiWriter(check, narHash), out); err != nil {
		return nixpath.PathInfo{}, fmt.Errorf("build %q: %w", pkg, err)
	}
	if got, err := check.Sum(); err != nil || !bytes.Equal(got, modHash) {
		return nixpath.PathInfo{}, fmt.Errorf("build %q: the output does not hash to its content address once its references to $out are rewritten to %s (%v); please report this", pkg, final, err)
	}
	return nixpath.PathInfo{
		StorePath:  final,
		References: []string{final},
		NarHash:    narHash.Sum(),
		NarSize:    narHash.Size(),
		CA:         nixpath.SourceCA(modHash),
	}, nil
}

// clearRoot removes everything under root but its lock, such as what a
// killed run left.
func clearRoot(root string) error {
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == ".lock" {
			continue
		}
		p := filepath.Join(root, e.Name())
		// A build may leave directories without write permission.
		filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(path, 0o755)
			}
			return nil
		})
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
}

// moveTree renames src to dst, or copies it when they are on different
// file systems.
func moveTree(src, dst string) error {
	if err := os.Rename(src, dst); err == nil {
		return nil
	}
	return copyTree(src, dst, "")
}

// moveEntries moves what the directory src holds but skip into the new
// directory dst: one rename per entry of src rather than a new file per
// file of the tree. An entry on another file system is copied.
func moveEntries(src, dst, skip string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		if from == skip {
			continue
		}
		if err := os.Rename(from, to); err != nil {
			if !errors.Is(err, syscall.EXDEV) {
				return err
			}
			if err := copyTree(from, to, ""); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyTree copies the file, directory or symlink src to dst, keeping
// symlinks as they are and the executable bits, and leaving out skip (a
// path inside src; "" leaves out nothing).
func copyTree(src, dst, skip string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == skip {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			return copyFile(path, target, fi.Mode().Perm()|0o200)
		}
		return nil // sockets and the like are not part of a checkout
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
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
