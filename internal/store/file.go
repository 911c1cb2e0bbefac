package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// File is a binary cache in a local directory (file:///path).
type File struct {
	root string
	// copyBufs holds the buffers streamed objects are copied through.
	copyBufs sync.Pool
}

var _ Store = (*File)(nil)

// OpenFile opens the file:// store in the absolute directory root,
// creating it.
func OpenFile(root string) (*File, error) {
	root = filepath.Clean(root)
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("file://%s: the path must be absolute (file:///path)", root)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("create the cache directory %s: %w", root, err)
	}
	return &File{root: root}, nil
}

// URL returns file://<root>.
func (f *File) URL() string { return "file://" + f.root }

// Root returns the directory holding the cache.
func (f *File) Root() string { return f.root }

func (f *File) path(key string) (string, error) {
	clean := filepath.ToSlash(filepath.Clean("/" + key))[1:]
	if clean == "" || clean != key || strings.HasPrefix(key, "../") {
		return "", fmt.Errorf("invalid object key %q", key)
	}
	return filepath.Join(f.root, filepath.FromSlash(key)), nil
}

// Exists reports whether key exists.
func (f *File) Exists(ctx context.Context, key string) (bool, error) {
	_, err := f.Size(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Size returns the size of the object at key.
func (f *File) Size(ctx context.Context, key string) (int64, error) {
	p, err := f.path(key)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%s: %w", p, ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Get opens the object at key.
func (f *File) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, err
	}
	r, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", p, ErrNotFound)
	}
	return r, err
}

// Put writes r to a temporary file beside the target, syncs it and renames
// it into place, so a reader never sees a partial object.
func (f *File) Put(ctx context.Context, key string, r io.Reader, contentType string) (int64, error) {
	return f.put(ctx, key, r, false)
}

func (f *File) put(ctx context.Context, key string, r io.Reader, ifAbsent bool) (int64, error) {
	p, err := f.path(key)
	if err != nil {
		return 0, err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("create %s: %w", dir, err)
	}
	buf, _ := f.copyBufs.Get().(*[]byte)
	if buf == nil {
		b := make([]byte, 256<<10)
		buf = &b
	}
	defer f.copyBufs.Put(buf)
	n, err := writeAtomic(ctx, dir, p, r, *buf, ifAbsent)
	if errors.Is(err, ErrExists) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", p, err)
	}
	return n, nil
}

// writeAtomic copies r to a temporary file in dir, syncs it, renames it to
// p and syncs dir, so that a reader sees the old object or the whole new
// one, never a part, and after a return the new one is durable.
//
// With ifAbsent the temporary file is hard-linked to p rather than renamed
// over it: link(2) fails when p exists, in the same step that would have
// written it, so of two writers exactly one creates the object
// (ErrExists for the other). A file system without hard links gets a
// check before the rename instead, which two writers can both pass.
//
// buf is what a streamed r is copied through; data already in memory (an
// io.WriterTo such as a narinfo's strings.Reader) is written directly.
func writeAtomic(ctx context.Context, dir, p string, r io.Reader, buf []byte, ifAbsent bool) (int64, error) {
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(p)+"-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	var n int64
	if wt, ok := r.(io.WriterTo); ok {
		n, err = wt.WriteTo(tmp)
	} else {
		// A large buffer, not *os.File's ReadFrom (32 KiB at a time): a
		// NAR arrives through a pipe, and every read of it is a hand-off
		// between goroutines.
		n, err = io.CopyBuffer(struct{ io.Writer }{tmp}, contextReader{ctx, r}, buf)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		if ifAbsent {
			err = linkAbsent(tmp.Name(), p)
		} else {
			err = os.Rename(tmp.Name(), p)
		}
	}
	if err != nil {
		return 0, err
	}
	d, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	return n, d.Sync()
}

// linkAbsent makes p a hard link of tmp unless p exists (ErrExists).
func linkAbsent(tmp, p string) error {
	err := os.Link(tmp, p)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%s: %w", p, ErrExists)
	}
	if _, serr := os.Lstat(p); serr == nil {
		return fmt.Errorf("%s: %w", p, ErrExists)
	}
	return os.Rename(tmp, p)
}

// contextReader stops a long copy when the context is cancelled.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

var (
	_ DigestStore = (*File)(nil)
	_ Cleaner     = (*File)(nil)
)

// PutWith is Put with IfAbsent honoured: a file has no part size, and its
// digest is not kept (see Stat).
func (f *File) PutWith(ctx context.Context, key string, r io.Reader, opts PutOptions) (int64, error) {
	return f.put(ctx, key, r, opts.IfAbsent)
}

// Stat returns the size of the object at key and its SHA-256, computed by
// reading the file. Recording the digest instead would need a sidecar file
// in the served tree (to be kept in step with the object by a writer that
// can be killed between the two) or an extended attribute (lost by the
// copies and syncs that serve a file:// cache, and absent on some file
// systems); reading a local file costs a fraction of compressing it again,
// and the answer can never be stale.
func (f *File) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	p, err := f.path(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	r, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return ObjectInfo{}, fmt.Errorf("%s: %w", p, ErrNotFound)
	}
	if err != nil {
		return ObjectInfo{}, err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, contextReader{ctx, r})
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("read %s: %w", p, err)
	}
	return ObjectInfo{Size: n, SHA256: h.Sum(nil)}, nil
}

// CleanStale removes the temporary files (".tmp-*") a killed run left in
// the cache and the empty lock files (".*.lock") that earlier versions
// left beside conditional objects, when they were last written more than
// olderThan ago: a live writer's temporary file is younger, since every
// write to it updates its time.
func (f *File) CleanStale(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	removed := 0
	err := filepath.WalkDir(f.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := d.Name()
		if !d.Type().IsRegular() || !(strings.HasPrefix(name, ".tmp-") || (strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".lock"))) {
			return nil
		}
		fi, err := d.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		removed++
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("remove stale temporary files in %s: %w", f.root, err)
	}
	return removed, nil
}
