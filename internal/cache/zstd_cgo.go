//go:build cgo && !purego

package cache

import (
	"fmt"
	"runtime"

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
// This is the default wherever cgo is available, because it wins on every
// count that matters. Measured side by side in one run of cmd/bench
// (300 paths, 1 GiB of NAR, level 3, jobs 4; 2 vCPUs, AMD EPYC with
// AVX2, AVX-512 and SHA-NI; medians of 2 rounds; README.md, "Performance"):
//
//	encoder                  process CPU  encoder CPU      size vs nix copy
//	libzstd 1.5.7 (cgo)      5.50 s       3.1 s (62%)      0.989×
//	klauspost v1.18.0 (Go)   7.10 s       4.6 s (~70%)     1.024×
//	nix copy (libzstd)       5.52 s       –                1.000×
//
// Encoder CPU is from the benchmark's CPU profiles (pure Go: the run
// before this change). In every run on this machine the process CPU
// ratio to nix copy was 0.94–1.05× with libzstd (four runs) and
// 1.21–1.40× with the pure-Go encoder (five).
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
	// DataDog's finalizer frees the ZSTD_CCtx once the Go value is
	// unreachable, and CompressLevel does not keep it reachable during its
	// C call: without this, an encoder used for the last time (as the
	// compress test's is) can be freed under libzstd's feet (a SIGSEGV).
	runtime.KeepAlive(e.ctx)
	if err != nil {
		return nil, fmt.Errorf("libzstd: %w", err)
	}
	return out, nil
}
