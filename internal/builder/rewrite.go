package builder

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// rewriter replaces every occurrence of from with to (of the same length)
// in what is written through it, also across writes, and records where
// each occurrence started in the stream — Nix's RewritingSink.
type rewriter struct {
	w        io.Writer
	from, to []byte
	pending  []byte
	pos      int64 // bytes passed on to w
	matches  []int64
}

func newRewriter(w io.Writer, from, to string) *rewriter {
	if len(from) != len(to) || from == "" {
		panic("rewriter: from and to must have the same, non-zero length")
	}
	return &rewriter{w: w, from: []byte(from), to: []byte(to)}
}

func (r *rewriter) Write(p []byte) (int, error) {
	buf := append(r.pending, p...)
	for i := 0; ; {
		j := bytes.Index(buf[i:], r.from)
		if j < 0 {
			break
		}
		j += i
		r.matches = append(r.matches, r.pos+int64(j))
		copy(buf[j:], r.to)
		i = j + len(r.to)
	}
	keep := min(len(buf), len(r.from)-1)
	out := buf[:len(buf)-keep]
	if _, err := r.w.Write(out); err != nil {
		return 0, err
	}
	r.pos += int64(len(out))
	r.pending = append(r.pending[:0:0], buf[len(buf)-keep:]...)
	return len(p), nil
}

// Flush passes on the bytes held back for a match that may span writes.
func (r *rewriter) Flush() error {
	_, err := r.w.Write(r.pending)
	r.pos += int64(len(r.pending))
	r.pending = nil
	return err
}

// hashModulo computes what Nix's HashModuloSink computes for a NAR: the
// sha256 of the stream with every occurrence of modulus replaced by as
// many zero bytes, followed by "|<position>" for each occurrence. It is the
// content hash of a content-addressed path that refers to itself, modulo
// its own hash part.
//
// offset is where the hash part starts in from: the output is hashed
// while it still refers to its build-time path, whose occurrences are
// replaced by the final path with its hash part zeroed; Nix counts the
// positions of the hash part.
type hashModulo struct {
	h      hash.Hash
	offset int64
	*rewriter
}

func newHashModulo(from, zeroed string, offset int) *hashModulo {
	h := sha256.New()
	return &hashModulo{h: h, offset: int64(offset), rewriter: newRewriter(h, from, zeroed)}
}

func (m *hashModulo) Sum() ([]byte, error) {
	if err := m.Flush(); err != nil {
		return nil, err
	}
	for _, p := range m.matches {
		fmt.Fprintf(m.h, "|%d", p+m.offset)
	}
	return m.h.Sum(nil), nil
}

// rewriteTree replaces from with to (of the same length) in every file's
// contents and every symlink's target under root. Names cannot hold from,
// which contains a slash. Files are rewritten through a temporary file, so
// a file is never half rewritten; their mode is kept.
func rewriteTree(root, from, to string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			if nt := string(bytes.ReplaceAll([]byte(target), []byte(from), []byte(to))); nt != target {
				if err := os.Remove(path); err != nil {
					return err
				}
				return os.Symlink(nt, path)
			}
		case d.Type().IsRegular():
			return rewriteFile(path, from, to)
		}
		return nil
	})
}

func rewriteFile(path, from, to string) error {
	found, err := fileContains(path, from)
	if err != nil || !found {
		return err
	}
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".rewrite-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	rw := newRewriter(tmp, from, to)
	_, err = io.Copy(rw, in)
	if err == nil {
		err = rw.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), fi.Mode().Perm())
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", path, err)
	}
	return nil
}

func fileContains(path, s string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	c := &counter{}
	rw := newRewriter(c, s, s)
	if _, err := io.Copy(rw, f); err != nil {
		return false, err
	}
	return len(rw.matches) > 0, nil
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
