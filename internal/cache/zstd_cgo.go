//go:build cgo && !purego

package cache

import (
	"fmt"

	"github.com/DataDog/zstd"
)

// zstdImplementation names the encoder this binary was built with.
const zstdImplementation = "libzstd " + libzstdVersion + " (cgo, github.com/DataDog/zstd v1.5.7, compiled in)"

// libzstdVersion is the version of the zstd sources DataDog/zstd v1.5.7
// compiles into the binary.
const libzstdVersion = "1.5.7"

// newFrameEncoders returns n encoders of libzstd's own C code, one per
// compressing goroutine (a ZSTD_CCtx is not safe for concurrent use).
//
// This is the default wherever cgo is available. Measured side by side
// (cmd/bench, 1 GiB closure, level 3, AMD EPYC, 2 vCPUs; the numbers are
// in README.md, "Performance"): libzstd spends about half the CPU per byte
// of klauspost/compress's pure-Go level-3 encoder, for files slightly
// smaller, which is what brings this project's per-byte CPU down to
// `nix copy`'s (which is the same libzstd).
func newFrameEncoders(level, n int) ([]frameEncoder, func(), error) {
	if level < 1 || level > 22 {
		return nil, nil, fmt.Errorf("zstd level %d: libzstd takes levels 1 to 22", level)
	}
	encs := make([]frameEncoder, n)
	for i := range encs {
		encs[i] = &libzstdEncoder{ctx: zstd.NewCtx(), level: level}
	}
	// The contexts are freed with their Go values (DataDog's finalizer).
	return encs, func() {}, nil
}

type libzstdEncoder struct {
	ctx   zstd.Ctx
	level int
}

// encode compresses src into one frame with ZSTD_compressCCtx: the frame
// records its content size and has no checksum (ZSTD_c_checksumFlag is
// off by default), and the window is cut to the input's size, as the
// pure-Go encoder's is. It reuses dst when it can hold the worst case.
func (e *libzstdEncoder) encode(dst, src []byte) ([]byte, error) {
	if cap(dst) < zstd.CompressBound(len(src)) {
		dst = make([]byte, 0, zstd.CompressBound(max(len(src), ChunkSize)))
	}
	out, err := e.ctx.CompressLevel(dst, src, e.level)
	if err != nil {
		return nil, fmt.Errorf("libzstd: %w", err)
	}
	return out, nil
}
