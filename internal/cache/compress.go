package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/ulikunitz/xz"
)

// DefaultLevel is the zstd level used when none is given: zstd's own
// default, and the level Nix (and so `flox publish`) compresses with.
const DefaultLevel = 3

// ChunkSize is the size of the pieces a NAR is cut into for compression.
// Each piece is compressed on its own, on any core, into one zstd frame;
// a NAR object is its pieces' frames in order, which every zstd decoder
// reads as one stream (RFC 8878, section 3.1: a zstd stream is a sequence
// of frames). Matches cannot reach across pieces, which at 1 MiB costs
// about 1% in size (zstd level 3 looks back 2 MiB at most anyway), and
// keeps the buffers of every piece in flight within a few MiB.
const ChunkSize = 1 << 20

// TuneGC lowers the garbage collector's heap growth target, unless GOGC
// is set. What Publish holds in memory is a fixed set of large buffers
// (compression chunks, S3 parts) alive for the whole run, and little else;
// Go's default target lets the heap grow to twice that before collecting,
// which would double peak RSS for nothing. Collections stay cheap: those
// buffers hold no pointers to scan.
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(25)
	}
}

// compressor compresses NAR streams on every core at once. It holds a fixed
// set of chunk buffers shared by every stream, so memory stays the same
// however big the NARs and however many are in flight.
type compressor struct {
	method    string
	zstd      bool   // compress in chunks with one frameEncoder per worker
	closeEncs func() // releases the frameEncoders
	work      chan *chunk
	free      chan *chunk
	wg        sync.WaitGroup
}

// chunk is one piece of a NAR on its way through a compressor.
type chunk struct {
	in, out []byte
	err     error         // the encoder's, instead of out
	done    chan struct{} // closed when out (or err) is set
}

// frameEncoder compresses one chunk into one zstd frame, reusing dst's
// memory when it can. Each compressing goroutine has its own. Which
// implementation a binary has is chosen when it is built: libzstd through
// cgo (zstd_cgo.go) or the pure-Go fallback (zstd_purego.go); both write
// standard frames that every zstd decoder, Nix's included, reads.
type frameEncoder interface {
	encode(dst, src []byte) ([]byte, error)
}

// ZstdImplementation names the zstd encoder this binary was built with,
// for reports.
func ZstdImplementation() string { return zstdImplementation }

// newCompressor starts a compressor for method ("zstd", "xz" or "none")
// at a zstd level (0: DefaultLevel), with room for streams concurrent
// streams to make progress at once.
func newCompressor(method string, level, streams int) (*compressor, error) {
	c := &compressor{method: method}
	if method == "xz" {
		// xz streams are compressed one goroutine each: no chunks.
		return c, nil
	}
	workers := runtime.GOMAXPROCS(0)
	if method == "zstd" {
		if level == 0 {
			level = DefaultLevel
		}
		encs, closeEncs, err := newFrameEncoders(level, workers)
		if err != nil {
			return nil, err
		}
		c.zstd, c.closeEncs = true, closeEncs
		c.work = make(chan *chunk)
		for _, enc := range encs {
			c.wg.Add(1)
			go c.compressLoop(enc)
		}
	}
	// Every stream holds at most one chunk it is filling; the rest keep
	// the workers busy while streams write out what is done.
	n := streams + 2*workers
	c.free = make(chan *chunk, n)
	for range n {
		c.free <- &chunk{}
	}
	return c, nil
}

func (c *compressor) compressLoop(enc frameEncoder) {
	defer c.wg.Done()
	for ch := range c.work {
		ch.out, ch.err = enc.encode(ch.out, ch.in)
		close(ch.done)
	}
}

// compressWhole compresses in, a NAR small enough to be one piece, on the
// compressor's workers (so that whole NARs and streamed pieces share the
// cores alike), into a buffer of its own sized for the worst case: a small
// NAR costs its own size twice, not a chunk's. The result is what a stream
// of in would write: one zstd frame.
func (c *compressor) compressWhole(ctx context.Context, in []byte) ([]byte, error) {
	switch {
	case c.method == "xz":
		var b bytes.Buffer
		b.Grow(int(compressBound(int64(len(in)))))
		xw, err := xz.NewWriter(&b)
		if err == nil {
			_, err = xw.Write(in)
		}
		if err == nil {
			err = xw.Close()
		}
		return b.Bytes(), err
	case !c.zstd:
		return in, nil
	}
	ch := &chunk{in: in, out: make([]byte, 0, compressBound(int64(len(in)))), done: make(chan struct{})}
	select {
	case c.work <- ch:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	<-ch.done
	return ch.out, ch.err
}

// compressBound is the most bytes n bytes can compress to: zstd's bound
// (n/256 and at most 64 bytes more, plus a frame header) and xz's, with room.
func compressBound(n int64) int64 { return n + n/128 + 1024 }

// drop lets go of the chunk buffers no stream holds, once no more streams
// will be made: their memory then serves whole NARs instead.
func (c *compressor) drop() {
	for {
		select {
		case ch := <-c.free:
			ch.in, ch.out = nil, nil
			defer func() { c.free <- ch }()
		default:
			return
		}
	}
}

// close stops the workers. Every stream must be closed first.
func (c *compressor) close() {
	if c.work != nil {
		close(c.work)
	}
	c.wg.Wait()
	if c.closeEncs != nil {
		c.closeEncs()
	}
}

// newStream returns a writer that compresses what is written to it and
// writes the result to w, in order, from another goroutine; it also
// writes what it is given, uncompressed, to tee (a hash), a chunk at a
// time. Close flushes it and returns the first error of either side.
func (c *compressor) newStream(ctx context.Context, w, tee io.Writer) io.WriteCloser {
	if c.method == "xz" {
		return newXZStream(w, tee)
	}
	s := &stream{c: c, ctx: ctx, w: w, tee: tee, pending: make(chan *chunk, cap(c.free)), written: make(chan error, 1), failed: make(chan struct{})}
	go s.writeLoop()
	return s
}

// stream is one NAR being compressed by a compressor.
type stream struct {
	c       *compressor
	ctx     context.Context
	w, tee  io.Writer
	cur     *chunk
	pending chan *chunk // chunks handed to workers, in stream order
	written chan error  // writeLoop's result
	// failed is closed when writing fails, so that the writer stops
	// reading and compressing a NAR nobody will store.
	failed chan struct{}
	err    error
	closed bool
}

func (s *stream) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		free, err := s.space()
		if err != nil {
			return n, err
		}
		k := copy(free, p)
		s.filled(k)
		n += k
		p = p[k:]
	}
	return n, nil
}

// ReadFrom reads r straight into chunk buffers, saving a copy.
func (s *stream) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	for {
		free, err := s.space()
		if err != nil {
			return n, err
		}
		k, err := r.Read(free)
		s.filled(k)
		n += int64(k)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// space returns the unfilled rest of the current chunk, taking a free
// chunk first when there is none.
func (s *stream) space() ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.cur == nil {
		if s.err = s.take(); s.err != nil {
			return nil, s.err
		}
	}
	return s.cur.in[len(s.cur.in):cap(s.cur.in)], nil
}

// filled records k more bytes in the current chunk, and submits it when
// it is full.
func (s *stream) filled(k int) {
	s.cur.in = s.cur.in[:len(s.cur.in)+k]
	if len(s.cur.in) == cap(s.cur.in) {
		s.submit()
	}
}

// take waits for a free chunk buffer.
func (s *stream) take() error {
	select {
	case <-s.failed:
		return errWriteFailed
	default:
	}
	select {
	case ch := <-s.c.free:
		if cap(ch.in) < ChunkSize {
			ch.in = make([]byte, 0, ChunkSize)
		}
		ch.in = ch.in[:0]
		s.cur = ch
		return nil
	case <-s.ctx.Done():
		return context.Cause(s.ctx)
	case <-s.failed:
		return errWriteFailed
	}
}

// errWriteFailed stops a stream whose output could not be written; Close
// returns the write's own error.
var errWriteFailed = errors.New("writing the compressed stream failed")

// submit hands the current chunk to the workers and queues it for writing.
func (s *stream) submit() {
	ch := s.cur
	s.cur = nil
	s.tee.Write(ch.in)
	ch.done = make(chan struct{})
	ch.err = nil
	if !s.c.zstd {
		ch.out = ch.in
		close(ch.done)
	} else {
		s.c.work <- ch
	}
	s.pending <- ch
}

// writeLoop writes compressed chunks in order and gives their buffers
// back. After an error it keeps draining, so that buffers return to the
// compressor for other streams.
func (s *stream) writeLoop() {
	var err error
	for ch := range s.pending {
		<-ch.done
		if err == nil {
			if err = ch.err; err == nil {
				_, err = s.w.Write(ch.out)
			}
			if err != nil {
				close(s.failed)
			}
		}
		if !s.c.zstd {
			ch.out = nil // it was the input buffer
		}
		s.c.free <- ch
	}
	s.written <- err
}

func (s *stream) Close() error {
	if s.closed {
		return errors.New("stream already closed")
	}
	s.closed = true
	if s.cur != nil {
		if len(s.cur.in) > 0 && s.err == nil {
			s.submit()
		} else {
			s.c.free <- s.cur
			s.cur = nil
		}
	}
	close(s.pending)
	werr := <-s.written
	if s.err != nil && !errors.Is(s.err, errWriteFailed) {
		return s.err
	}
	return werr
}

// xzStream compresses one stream on one goroutine.
type xzStream struct {
	xw  *xz.Writer
	tee io.Writer
	err error
}

func newXZStream(w, tee io.Writer) *xzStream {
	xw, err := xz.NewWriter(w)
	return &xzStream{xw: xw, tee: tee, err: err}
}

func (s *xzStream) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	s.tee.Write(p)
	return s.xw.Write(p)
}

func (s *xzStream) Close() error {
	if s.err != nil {
		return s.err
	}
	return s.xw.Close()
}
