package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// sample is data that compresses somewhat: words with random bytes between.
func sample(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, 0, n)
	for len(b) < n {
		if rng.IntN(4) == 0 {
			b = append(b, byte(rng.IntN(256)))
		} else {
			b = append(b, []string{"store ", "path ", "nix ", "flox "}[rng.IntN(4)]...)
		}
	}
	return b[:n]
}

func decompress(t *testing.T, method string, data []byte) []byte {
	t.Helper()
	switch method {
	case "zstd":
		d, err := zstd.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		out, err := io.ReadAll(d)
		if err != nil {
			t.Fatalf("zstd decode: %v", err)
		}
		return out
	case "xz":
		r, err := xz.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("xz decode: %v", err)
		}
		return out
	}
	return data
}

// TestStreamRoundTrip: whatever the size and however it is written, the
// stream decodes to its input and its tee sees the input, in order.
func TestStreamRoundTrip(t *testing.T) {
	sizes := []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3*ChunkSize + ChunkSize/2}
	for _, method := range []string{"zstd", "xz", "none"} {
		c, err := newCompressor(method, 0, 2)
		if err != nil {
			t.Fatal(err)
		}
		defer c.close()
		for _, size := range sizes {
			for _, via := range []string{"Write", "ReadFrom"} {
				t.Run(fmt.Sprintf("%s/%d/%s", method, size, via), func(t *testing.T) {
					in := sample(size, uint64(size))
					var out bytes.Buffer
					tee := sha256.New()
					s := c.newStream(context.Background(), &out, tee)
					if via == "ReadFrom" {
						if rf, ok := s.(io.ReaderFrom); ok {
							if _, err := rf.ReadFrom(bytes.NewReader(in)); err != nil {
								t.Fatal(err)
							}
						} else if _, err := io.Copy(s, bytes.NewReader(in)); err != nil {
							t.Fatal(err)
						}
					} else {
						// Odd-sized writes, across chunk boundaries.
						for rest := in; len(rest) > 0; {
							n := min(len(rest), 77777)
							if _, err := s.Write(rest[:n]); err != nil {
								t.Fatal(err)
							}
							rest = rest[n:]
						}
					}
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
					if got := decompress(t, method, out.Bytes()); !bytes.Equal(got, in) {
						t.Fatalf("decoded %d bytes, want the %d written", len(got), len(in))
					}
					if want := sha256.Sum256(in); !bytes.Equal(tee.Sum(nil), want[:]) {
						t.Fatal("the tee did not see the input as written")
					}
				})
			}
		}
	}
}

// TestStreamZstdFramesPerChunk: a zstd stream is one frame per chunk, each
// one the chunk compressed on its own, and all of them together about as
// small as one frame for the whole input.
func TestStreamZstdFramesPerChunk(t *testing.T) {
	c, err := newCompressor("zstd", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	in := sample(4*ChunkSize, 7)
	var out bytes.Buffer
	s := c.newStream(context.Background(), &out, io.Discard)
	s.Write(in)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The frames are this build's encoder's (libzstd or pure Go, see
	// zstd_cgo.go), read back here with the other implementation.
	encs, closeEncs, err := newFrameEncoders(DefaultLevel, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer closeEncs()
	enc := encs[0]
	encodeAll := func(src []byte) []byte {
		out, err := enc.encode(nil, src)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	var want []byte
	for off := 0; off < len(in); off += ChunkSize {
		frame := encodeAll(in[off : off+ChunkSize])
		var h zstd.Header
		if err := h.Decode(frame); err != nil || h.FrameContentSize != ChunkSize {
			t.Fatalf("frame at %d: %v, content size %d", off, err, h.FrameContentSize)
		}
		want = append(want, frame...)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatal("the stream is not its chunks' frames in order")
	}
	single := encodeAll(in)
	if ratio := float64(out.Len()) / float64(len(single)); ratio > 1.02 {
		t.Fatalf("chunked output is %.3f× a single frame's size", ratio)
	}
}

type failingWriter struct {
	after int
	n     int
}

func (w *failingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	if w.n > w.after {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

// TestStreamErrorsReturnBuffers: a stream whose sink fails reports the
// error, and the compressor's buffers come back, so streams after it (and
// beside it) still finish. A cancelled context stops a waiting stream.
func TestStreamErrorsReturnBuffers(t *testing.T) {
	c, err := newCompressor("zstd", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	in := sample(10*ChunkSize, 3)
	for range 3 {
		s := c.newStream(context.Background(), &failingWriter{after: ChunkSize / 4}, io.Discard)
		_, werr := s.Write(in)
		cerr := s.Close()
		if werr == nil && cerr == nil {
			t.Fatal("a failing sink went unreported")
		}
	}
	if len(c.free) != cap(c.free) {
		t.Fatalf("%d of %d buffers came back", len(c.free), cap(c.free))
	}
	var out bytes.Buffer
	s := c.newStream(context.Background(), &out, io.Discard)
	s.Write(in)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Hold every buffer: a stream with a cancelled context gives up.
	var held []*chunk
	for len(c.free) > 0 {
		held = append(held, <-c.free)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("stopped"))
	s = c.newStream(ctx, io.Discard, io.Discard)
	if _, err := s.Write([]byte("x")); err == nil || err.Error() != "stopped" {
		t.Fatalf("Write with a cancelled context: %v", err)
	}
	s.Close()
	for _, h := range held {
		c.free <- h
	}
}

// TestStreamsShareBuffers: as many streams as the compressor was made for
// run at once through its fixed buffers and all finish intact.
func TestStreamsShareBuffers(t *testing.T) {
	const streams = 6
	c, err := newCompressor("zstd", 1, streams)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := sample(ChunkSize*(1+i%3)+i*1000, uint64(i))
			var out bytes.Buffer
			s := c.newStream(context.Background(), &out, io.Discard)
			s.(io.ReaderFrom).ReadFrom(bytes.NewReader(in))
			if err := s.Close(); err != nil {
				errs <- err
				return
			}
			d, _ := zstd.NewReader(nil)
			got, err := d.DecodeAll(out.Bytes(), nil)
			d.Close()
			if err != nil || !bytes.Equal(got, in) {
				errs <- fmt.Errorf("stream %d: decoded %d bytes (%v), want %d", i, len(got), err, len(in))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
