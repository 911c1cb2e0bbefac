package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/nix-community/go-nix/pkg/nar"
	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// closureSpec describes a synthetic closure. The same spec always gives the
// same store paths and bytes, so a second benchmark run reuses the paths a
// first one imported.
type closureSpec struct {
	Paths int
	Size  int64 // total NAR bytes, roughly
	Tag   string
	// Spread is the sigma of the log-normal path sizes; 0 means 1.8 (a
	// few large paths among many small ones, as in a real closure).
	Spread float64
}

func (s closureSpec) id() string {
	if s.Spread != 0 {
		return fmt.Sprintf("%s-%d-%d-s%g", s.Tag, s.Paths, s.Size, s.Spread)
	}
	return fmt.Sprintf("%s-%d-%d", s.Tag, s.Paths, s.Size)
}

// synthPath is one generated store path before import.
type synthPath struct {
	storePath string
	refs      []int // indices of referenced paths, all lower than its own
	size      int64 // bytes of file content to generate
}

// plan lays out the closure: sizes from a log-normal distribution (many
// small paths, a few large ones, as in a real closure), references to a few
// earlier paths, and a last path referring to every path nothing else
// refers to, so that its closure is the whole set.
func (s closureSpec) plan() []synthPath {
	rng := rand.New(rand.NewPCG(uint64(s.Paths), uint64(s.Size)))
	paths := make([]synthPath, s.Paths)
	weights := make([]float64, s.Paths)
	var total float64
	sigma := s.Spread
	if sigma == 0 {
		sigma = 1.8
	}
	for i := range weights {
		weights[i] = math.Exp(sigma * rng.NormFloat64())
		total += weights[i]
	}
	referenced := make([]bool, s.Paths)
	for i := range paths {
		h := sha256.Sum256([]byte("flox-publish-bench:" + s.id() + ":" + fmt.Sprint(i)))
		name := fmt.Sprintf("bench-%s-p%d", s.id(), i)
		paths[i] = synthPath{
			storePath: nixpath.StoreDir + "/" + nixbase32.EncodeToString(h[:20]) + "-" + name,
			size:      int64(float64(s.Size) * weights[i] / total),
		}
		if i == s.Paths-1 {
			for j := 0; j < i; j++ {
				if !referenced[j] {
					paths[i].refs = append(paths[i].refs, j)
				}
			}
			continue
		}
		for k := 0; i > 0 && k < 1+rng.IntN(4); k++ {
			j := rng.IntN(i)
			if !slices.Contains(paths[i].refs, j) {
				paths[i].refs = append(paths[i].refs, j)
				referenced[j] = true
			}
		}
	}
	return paths
}

// ensureClosure imports the closure into the local Nix store unless its top
// path is already there, and returns the top path.
func ensureClosure(ctx context.Context, env []string, s closureSpec, logf func(string, ...any)) (string, error) {
	paths := s.plan()
	top := paths[len(paths)-1].storePath
	check := exec.CommandContext(ctx, "nix-store", "--check-validity", top)
	check.Env = env
	if check.Run() == nil {
		logf("closure %s: already in the store", s.id())
		return top, nil
	}
	logf("closure %s: generating %d paths, %s, and importing them with nix-store --import", s.id(), s.Paths, humanBytes(s.Size))
	cmd := exec.CommandContext(ctx, "nix-store", "--import")
	cmd.Env = env
	cmd.Stdout = io.Discard
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("nix-store --import: %w", err)
	}
	werr := writeExport(stdin, paths, s)
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		return "", fmt.Errorf("nix-store --import: %w: %s", err, stderr.String())
	}
	if werr != nil {
		return "", werr
	}
	return top, nil
}

// writeExport writes paths in the format of `nix-store --export`, which
// `nix-store --import` reads without asking for signatures: for each path
// 1, its NAR, the magic "NIXE", its path, references and deriver, 0; then 0.
func writeExport(w io.Writer, paths []synthPath, s closureSpec) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	for i, p := range paths {
		writeNum(bw, 1)
		gen := newContent(uint64(i), s.id())
		refs := make([]string, len(p.refs))
		for k, j := range p.refs {
			refs[k] = paths[j].storePath
		}
		sort.Strings(refs)
		if err := gen.writeNAR(bw, p.size, refs); err != nil {
			return fmt.Errorf("generate %s: %w", p.storePath, err)
		}
		writeNum(bw, 0x4558494e)
		writeString(bw, p.storePath)
		writeNum(bw, uint64(len(refs)))
		for _, r := range refs {
			writeString(bw, r)
		}
		writeString(bw, "") // deriver
		writeNum(bw, 0)     // no legacy signature
	}
	writeNum(bw, 0)
	return bw.Flush()
}

func writeNum(w io.Writer, n uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], n)
	w.Write(b[:])
}

func writeString(w io.Writer, s string) {
	writeNum(w, uint64(len(s)))
	io.WriteString(w, s)
	if pad := (8 - len(s)%8) % 8; pad > 0 {
		w.Write(make([]byte, pad))
	}
}

// content generates file trees whose bytes compress like a real closure's:
// neither all zeros nor all random. Binaries mix machine-code-like bytes
// (a skewed byte distribution), zero padding, string tables, incompressible
// stretches (embedded compressed resources) and repeats of earlier blocks;
// text files are words drawn from a Zipf-distributed vocabulary.
type content struct {
	rng   *rand.Rand
	skew  [256]byte
	words []string
}

func newContent(i uint64, id string) *content {
	h := sha256.Sum256([]byte(id))
	c := &content{rng: rand.New(rand.NewPCG(i, binary.LittleEndian.Uint64(h[:8])))}
	// A skewed byte distribution: a few opcodes and small immediates are
	// far more common than the rest, as in x86-64 code.
	common := []byte{0x00, 0x48, 0x89, 0x8b, 0xe8, 0xff, 0x0f, 0x85, 0x84, 0xc7, 0x45, 0x24, 0x44, 0x01, 0x83, 0xc0, 0x74, 0x75, 0x31, 0xd2, 0x4c, 0x8d, 0x05, 0x10, 0x08, 0x20, 0xc3, 0x90, 0x41, 0x5d, 0x5b, 0x66}
	for k := range c.skew {
		if k < 160 {
			c.skew[k] = common[k%len(common)]
		} else {
			c.skew[k] = byte(c.rng.IntN(256))
		}
	}
	syll := []string{"ka", "lo", "ri", "me", "tan", "su", "vi", "on", "der", "ex", "str", "al", "po", "ni", "que", "ab"}
	for k := 0; k < 2048; k++ {
		var b strings.Builder
		for n := 1 + c.rng.IntN(4); n > 0; n-- {
			b.WriteString(syll[c.rng.IntN(len(syll))])
		}
		// Zipf: word k appears about 1/(k+1) as often as the first.
		for r := 0; r < 1+64/(k+1); r++ {
			c.words = append(c.words, b.String())
		}
	}
	return c
}

type file struct {
	path   string
	size   int64
	kind   int // 0 text, 1 binary
	exec   bool
	target string // symlink target when not ""
}

// writeNAR writes a NAR of about size bytes of file content: a few large
// binaries when the path is big, many small text and binary files, a
// symlink, and the references written into files as a real build would.
func (c *content) writeNAR(w io.Writer, size int64, refs []string) error {
	var files []file
	remaining := size
	if size > 4<<20 {
		n := 1 + c.rng.IntN(2)
		for k := 0; k < n; k++ {
			files = append(files, file{path: fmt.Sprintf("/lib/libbench%d.so.1", k), size: size * 7 / 10 / int64(n), kind: 1, exec: true})
			files = append(files, file{path: fmt.Sprintf("/lib/libbench%d.so", k), target: fmt.Sprintf("libbench%d.so.1", k)})
		}
		remaining -= size * 7 / 10
	}
	for k := 0; remaining > 0; k++ {
		fs := int64(math.Exp(c.rng.Float64()*math.Log(64<<10/200))) * 200
		fs = min(fs, remaining)
		remaining -= fs
		switch k % 4 {
		case 0:
			files = append(files, file{path: fmt.Sprintf("/bin/tool%d", k), size: fs, kind: 1, exec: true})
		case 1, 2:
			files = append(files, file{path: fmt.Sprintf("/share/doc/page%d.txt", k), size: fs})
		default:
			files = append(files, file{path: fmt.Sprintf("/include/header%d.h", k), size: fs})
		}
	}
	files = append(files, file{path: "/nix-support/refs", size: 0})
	sort.Slice(files, func(a, b int) bool { return files[a].path < files[b].path })

	nw, err := nar.NewWriter(w)
	if err != nil {
		return err
	}
	if err := nw.WriteHeader(&nar.Header{Path: "/", Type: nar.TypeDirectory}); err != nil {
		return err
	}
	dirs := map[string]bool{}
	buf := make([]byte, 0, 64<<10)
	for _, f := range files {
		for k := 1; k < len(f.path); k++ {
			if f.path[k] != '/' || dirs[f.path[:k]] {
				continue
			}
			dirs[f.path[:k]] = true
			if err := nw.WriteHeader(&nar.Header{Path: f.path[:k], Type: nar.TypeDirectory}); err != nil {
				return err
			}
		}
		if f.target != "" {
			if err := nw.WriteHeader(&nar.Header{Path: f.path, Type: nar.TypeSymlink, LinkTarget: f.target}); err != nil {
				return err
			}
			continue
		}
		var data []byte
		if f.path == "/nix-support/refs" {
			data = []byte(strings.Join(refs, "\n") + "\n")
			f.size = int64(len(data))
		}
		if err := nw.WriteHeader(&nar.Header{Path: f.path, Type: nar.TypeRegular, Size: f.size, Executable: f.exec}); err != nil {
			return err
		}
		if data != nil {
			if _, err := nw.Write(data); err != nil {
				return err
			}
			continue
		}
		for left := f.size; left > 0; {
			n := min(left, int64(cap(buf)))
			buf = c.fill(buf[:n], f.kind, refs)
			if _, err := nw.Write(buf); err != nil {
				return err
			}
			left -= n
		}
	}
	return nw.Close()
}

// fill fills b with generated bytes of the given kind.
func (c *content) fill(b []byte, kind int, refs []string) []byte {
	if kind == 0 {
		return c.text(b)
	}
	const block = 4096
	for off := 0; off < len(b); off += block {
		blk := b[off:min(off+block, len(b))]
		switch r := c.rng.IntN(100); {
		case r < 40: // machine code
			for k := 0; k < len(blk); k += 8 {
				v := c.rng.Uint64()
				for j := 0; j < 8 && k+j < len(blk); j++ {
					blk[k+j] = c.skew[byte(v>>(8*j))]
				}
			}
		case r < 55: // padding and small-integer tables
			clear(blk)
			for k := 0; k < len(blk); k += 16 {
				blk[k] = byte(c.rng.IntN(8))
			}
		case r < 72: // string tables, with the references an RPATH holds
			c.text(blk)
			if len(refs) > 0 && len(blk) > 200 {
				copy(blk[64:], refs[c.rng.IntN(len(refs))])
			}
		case r < 85: // embedded compressed data
			for k := 0; k < len(blk); k += 8 {
				v := c.rng.Uint64()
				for j := 0; j < 8 && k+j < len(blk); j++ {
					blk[k+j] = byte(v >> (8 * j))
				}
			}
		default: // a repeat of an earlier block, slightly changed
			if off >= block {
				src := c.rng.IntN(off/block) * block
				copy(blk, b[src:])
				blk[c.rng.IntN(len(blk))] ^= 0x5a
			} else {
				c.text(blk)
			}
		}
	}
	return b
}

func (c *content) text(b []byte) []byte {
	k := 0
	for k < len(b) {
		w := c.words[c.rng.IntN(len(c.words))]
		k += copy(b[k:], w)
		if k < len(b) {
			if c.rng.IntN(12) == 0 {
				b[k] = '\n'
			} else {
				b[k] = ' '
			}
			k++
		}
	}
	return b
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// closureCmd imports the synthetic closure its flags describe into the
// local Nix store (unless it is there) and prints its top store path.
func closureCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("closure", flag.ContinueOnError)
	spec := closureSpec{Tag: "hand"}
	fs.IntVar(&spec.Paths, "paths", 1500, "store paths")
	size := fs.String("size", "27KB", "NAR size of the average path (B, KB, KiB, MiB…)")
	fs.Float64Var(&spec.Spread, "spread", 0.5, "sigma of the log-normal path sizes (1.8: a real closure's few large paths among many small)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	each, err := parseSize(*size)
	if err != nil {
		return fmt.Errorf("-size: %w", err)
	}
	spec.Size = each * int64(spec.Paths)
	top, err := ensureClosure(ctx, testenv.NixEnvIn(filepath.Join(os.TempDir(), "flox-publish-bench-xdg")), spec, func(f string, a ...any) {
		fmt.Fprintf(os.Stderr, "bench: "+f+"\n", a...)
	})
	if err != nil {
		return err
	}
	fmt.Println(top)
	return nil
}
