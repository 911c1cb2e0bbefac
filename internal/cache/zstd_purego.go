//go:build !cgo || purego

package cache

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// zstdImplementation names the encoder this binary was built with.
const zstdImplementation = "klauspost/compress v1.18.0 (pure Go)"

// newFrameEncoders returns n handles on one pure-Go encoder, and what
// closes it, for binaries
// built without cgo (CGO_ENABLED=0, cross-compiled, or -tags purego).
// At level 3 it spends about 1.5× libzstd's CPU per byte, for files 3.5%
// larger (see zstd_cgo.go), so it is only the fallback.
func newFrameEncoders(level, n int) ([]frameEncoder, func(), error) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(n),
		// A piece is a frame of its own: a longer window would only
		// allocate history no match can use.
		zstd.WithWindowSize(ChunkSize),
		// Nix checks every NAR against the NAR hash in its signed
		// narinfo; a frame checksum would only check the same bytes
		// again, more weakly.
		zstd.WithEncoderCRC(false))
	if err != nil {
		return nil, nil, fmt.Errorf("zstd level %d: %w", level, err)
	}
	shared := &klauspostEncoder{enc: enc}
	encs := make([]frameEncoder, n)
	for i := range encs {
		encs[i] = shared
	}
	return encs, func() { enc.Close() }, nil
}

// klauspostEncoder is safe for concurrent use: EncodeAll takes one of the
// encoder's n internal states.
type klauspostEncoder struct {
	enc *zstd.Encoder
}

func (e *klauspostEncoder) encode(dst, src []byte) ([]byte, error) {
	return e.enc.EncodeAll(src, dst[:0]), nil
}
