package nixpath

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// DumpNAR serialises the file tree at path as a NAR into w, byte for byte
// as `nix-store --dump` does.
//
// It is written here rather than taken from go-nix's nar.DumpPath, which
// this package's tests still check it against: publishing reads every
// byte of a closure through it, and go-nix's writer hands each entry to a
// goroutine and allocates a 32 KiB copy buffer per file (1.4 GB of garbage
// for a 1 GiB closure of 40,000 files). This one writes file contents with
// w's ReadFrom when it has one, straight into the compressor's buffers.
func DumpNAR(w io.Writer, path string) error {
	d := &narDumper{w: w}
	d.str("nix-archive-1")
	if err := d.node(path); err != nil {
		return fmt.Errorf("serialise %s as a NAR: %w", path, err)
	}
	return d.flush()
}

// narDumper batches the small strings of the NAR framing, so that w sees a
// few large writes.
type narDumper struct {
	w   io.Writer
	buf []byte
	err error
	cp  []byte // copy buffer, for writers without ReadFrom
}

func (d *narDumper) str(s string) {
	d.buf = binary.LittleEndian.AppendUint64(d.buf, uint64(len(s)))
	d.buf = append(d.buf, s...)
	d.pad(uint64(len(s)))
}

func (d *narDumper) pad(n uint64) {
	var zero [8]byte
	d.buf = append(d.buf, zero[:(8-n%8)%8]...)
}

func (d *narDumper) flush() error {
	if d.err == nil && len(d.buf) > 0 {
		_, d.err = d.w.Write(d.buf)
	}
	d.buf = d.buf[:0]
	return d.err
}

func (d *narDumper) node(p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	d.str("(")
	d.str("type")
	switch mode := fi.Mode(); {
	case mode&os.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		d.str("symlink")
		d.str("target")
		d.str(target)
	case mode.IsDir():
		d.str("directory")
		// os.ReadDir sorts by name, byte-wise, as Nix does.
		entries, err := os.ReadDir(p)
		if err != nil {
			return err
		}
		for _, e := range entries {
			d.str("entry")
			d.str("(")
			d.str("name")
			d.str(e.Name())
			d.str("node")
			if err := d.node(filepath.Join(p, e.Name())); err != nil {
				return err
			}
			d.str(")")
		}
	case mode.IsRegular():
		d.str("regular")
		if mode&0o100 != 0 { // executable by its owner, as Nix tests it
			d.str("executable")
			d.str("")
		}
		d.str("contents")
		size := uint64(fi.Size())
		d.buf = binary.LittleEndian.AppendUint64(d.buf, size)
		if err := d.flush(); err != nil {
			return err
		}
		if err := d.contents(p, int64(size)); err != nil {
			return err
		}
		d.pad(size)
	default:
		return fmt.Errorf("%s: %s is neither a file, a directory nor a symlink, which a NAR cannot hold", p, fi.Mode().Type())
	}
	d.str(")")
	if len(d.buf) >= 64<<10 {
		return d.flush()
	}
	return nil
}

// contents copies the file at p, which must still be size bytes long.
func (d *narDumper) contents(p string, size int64) error {
	// Read with plain system calls, without an os.File: os.Open tries to
	// register a regular file with the network poller, an epoll_ctl and
	// fcntls that fail or do nothing, per file (a closure has tens of
	// thousands).
	fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer syscall.Close(fd)
	src := io.LimitReader(fdReader(fd), size)
	var n int64
	if rf, ok := d.w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		if d.cp == nil {
			d.cp = make([]byte, 256<<10)
		}
		n, err = io.CopyBuffer(d.w, struct{ io.Reader }{src}, d.cp)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	if n != size {
		return fmt.Errorf("%s changed while it was read: %d bytes, expected %d", p, n, size)
	}
	return nil
}

// fdReader reads a file descriptor of a regular file.
type fdReader int

func (fd fdReader) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(fd), p)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}
