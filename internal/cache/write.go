package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/store"
)

// DefaultJobs is Options.Jobs's default; the action's jobs input has the
// same (see inputs.All, where the measurement is).
const DefaultJobs = 64

// DefaultMemory is Options.Memory's default. A NAR streamed in pieces
// weighs streamWeight, so at most four are streamed at once, as many as
// the S3 store's default part buffers (store.DefaultMemory, five parts)
// can feed with a part each and one to spare; whole small NARs fit by the
// hundred, and the requests in flight (Jobs) bound them first.
const DefaultMemory = 32 << 20

// wholeMemory bounds, within Options.Memory, the bytes of the small NARs
// held whole at once. They are there to be many requests in flight, not
// many bytes: 64 NARs of 27 KB weigh 3.5 MiB, and at 8 MiB the latency
// case is as fast as with all of Memory. Without it the benchmark's 1 GiB
// closure held up to 32 MiB of them beside the streams' S3 parts.
const wholeMemory = 8 << 20

// streamWeight is what a NAR streamed in pieces holds at most: its pieces
// in the compressor (the one filling and those compressing, each in and
// out), and the part of the S3 upload it fills (store.DefaultPartSize).
const streamWeight = 8 << 20

// narWeight is the share of Options.Memory a NAR of narSize bytes holds
// while it is written: a whole small NAR, its bytes and their compressed
// copy; a streamed one, streamWeight.
func narWeight(narSize uint64) int64 {
	if narSize <= ChunkSize {
		n := int64(narSize)
		return n + compressBound(n)
	}
	return streamWeight
}

// writer is one publish's writing: the store, what it can do, and the
// limits of what is in flight.
type writer struct {
	opts Options
	ext  string
	// ds is the store when it keeps digests (PutWith, Stat): S3 and
	// file://; nil for a plain Store (http) and in a dry run.
	ds store.DigestStore
	// ifAbsent: the store honours PutOptions.IfAbsent (ProbeIfAbsent).
	ifAbsent bool
	// requests holds a unit per request in flight (Options.Jobs).
	requests *semaphore.Weighted
	// memory holds a NAR's weight while it is written (Options.Memory);
	// whole, a whole small NAR's too (wholeMemory).
	memory, whole *semaphore.Weighted
}

func newWriter(opts Options, ext string) *writer {
	w := &writer{opts: opts, ext: ext, requests: semaphore.NewWeighted(int64(opts.Jobs)),
		memory: semaphore.NewWeighted(opts.Memory), whole: semaphore.NewWeighted(min(opts.Memory, wholeMemory))}
	if !opts.DryRun {
		w.ds, _ = opts.Store.(store.DigestStore)
	}
	return w
}

// request runs one request to the store, when a slot is free.
func (w *writer) request(ctx context.Context, f func() error) error {
	if err := w.requests.Acquire(ctx, 1); err != nil {
		return context.Cause(ctx)
	}
	defer w.requests.Release(1)
	return f()
}

// prepare writes nix-cache-info when it is missing, refuses a cache made
// for another store directory (its clients would refuse it), and asks the
// store whether it honours conditional writes: with nix-cache-info, which
// exists by then, written again with IfAbsent and the bytes it holds.
func (w *writer) prepare(ctx context.Context) error {
	s := w.opts.Store
	var data []byte
	r, err := s.Get(ctx, "nix-cache-info")
	switch {
	case errors.Is(err, store.ErrNotFound):
		data = []byte(CacheInfo)
		if _, err := s.Put(ctx, "nix-cache-info", bytes.NewReader(data), ContentTypeCacheInfo); err != nil {
			return fmt.Errorf("write %s/nix-cache-info: %w", s.URL(), err)
		}
	case err != nil:
		return fmt.Errorf("read %s/nix-cache-info: %w", s.URL(), err)
	default:
		data, err = io.ReadAll(io.LimitReader(r, 64<<10))
		r.Close()
		if err != nil {
			return fmt.Errorf("read %s/nix-cache-info: %w", s.URL(), err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "StoreDir:"); ok && strings.TrimSpace(v) != nixpath.StoreDir {
				return fmt.Errorf("%s is a cache for store %q, not %s: choose another store", s.URL(), strings.TrimSpace(v), nixpath.StoreDir)
			}
		}
	}
	if w.ds == nil {
		return nil
	}
	w.ifAbsent, err = store.ProbeIfAbsent(ctx, w.ds, "nix-cache-info", data, ContentTypeCacheInfo)
	if err != nil && ctx.Err() == nil && w.opts.Logf != nil {
		w.opts.Logf("%s refused a conditional write (%v): NARs are checked for before they are written instead", s.URL(), err)
	}
	return ctx.Err()
}

// markPresent asks the store for every path's narinfo at once, Jobs at a
// time, and marks the paths it has as done.
func (w *writer) markPresent(ctx context.Context, nodes map[string]*node, order []string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(w.opts.Jobs)
	for _, p := range order {
		g.Go(func() error {
			key := narinfo.Key(p)
			var ok bool
			err := w.request(gctx, func() (err error) {
				ok, err = w.opts.Store.Exists(gctx, key)
				return err
			})
			if err != nil {
				return fmt.Errorf("%s: check %s: %w", p, key, err)
			}
			if ok {
				nodes[p].result = PathResult{StorePath: p, NarSize: nodes[p].info.NarSize, Status: Present}
			}
			return nil
		})
	}
	return g.Wait()
}

// writeMissing writes the paths the store lacks: their NARs largest first,
// each once its weight of Memory is free and fewer than Jobs are in flight
// (a request slot too, for each request), and each narinfo once its NAR
// and the narinfos of its references are written. What fails is recorded
// in its node; the first failure cancels the rest.
func (w *writer) writeMissing(ctx context.Context, missing []*node, report func(PathResult)) error {
	streams := int(max(1, w.opts.Memory/streamWeight))
	comp, err := newCompressor(w.opts.Compression, w.opts.Level, streams)
	if err != nil {
		return err
	}
	defer comp.close()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Largest first: the longest jobs start while the others fill the gaps.
	// Sizes are compared by power of two, and paths of one class go in an
	// order drawn for this run: publishers of overlapping closures running
	// at once then take the shared paths in different orders, and each
	// finds most of them already written by another when it writes them.
	// Measured with 3 publishers of 60-path closures sharing 40 on MinIO:
	// 119 NAR uploads for 100 paths with sizes in strict order, 101-103 in
	// three runs with this order (180 before the check); with conditional
	// writes no NAR is stored twice, and this order keeps the bytes sent
	// twice few.
	rank := make(map[*node]uint64, len(missing))
	for _, n := range missing {
		rank[n] = rand.Uint64()
	}
	bySize := append([]*node(nil), missing...)
	sort.SliceStable(bySize, func(i, j int) bool {
		// Streamed NARs all come before whole ones (the class of 1 MiB
		// holds both).
		if bi, bj := bySize[i].info.NarSize > ChunkSize, bySize[j].info.NarSize > ChunkSize; bi != bj {
			return bi
		}
		ci, cj := bits.Len64(bySize[i].info.NarSize), bits.Len64(bySize[j].info.NarSize)
		if ci != cj {
			return ci > cj
		}
		return rank[bySize[i]] < rank[bySize[j]]
	})

	// No goroutine waits for a narinfo's turn: the last of what a path
	// waits for (its NAR, its references' narinfos) starts its narinfo.
	// A closure of thousands of small paths then has about Jobs
	// goroutines, not thousands, for the garbage collector to scan.
	inMissing := make(map[*node]bool, len(missing))
	for _, n := range missing {
		inMissing[n] = true
	}
	for _, n := range missing {
		n.pending.Store(1)
		for _, dep := range n.deps {
			if inMissing[dep] {
				n.pending.Add(1)
				dep.dependents = append(dep.dependents, n)
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(len(missing))
	var release func(n *node)
	finish := func(n *node) {
		if n.err == nil {
			report(n.result)
		}
		for _, d := range n.dependents {
			if n.err != nil {
				d.failedRef.CompareAndSwap(nil, n)
			}
			release(d)
		}
		wg.Done()
	}
	release = func(n *node) {
		if n.pending.Add(-1) != 0 {
			return
		}
		if n.err != nil {
			finish(n)
			return
		}
		if ref := n.failedRef.Load(); ref != nil {
			n.err = &skippedError{path: n.info.StorePath, ref: ref.info.StorePath}
			finish(n)
			return
		}
		go func() {
			n.result, n.err = w.writeNarInfo(ctx, n.info, n.nar)
			n.result.Reused = n.reused
			if n.err != nil {
				cancel(n.err)
			}
			finish(n)
		}()
	}

	// NARs in flight: at most Jobs (each makes a request), in Memory.
	nars := semaphore.NewWeighted(int64(w.opts.Jobs))
	var streamed sync.WaitGroup
	for i, n := range bySize {
		big := n.info.NarSize > ChunkSize
		weight := min(narWeight(n.info.NarSize), w.opts.Memory)
		wholeWeight := int64(0)
		if !big {
			wholeWeight = min(weight, wholeMemory, w.opts.Memory)
		}
		free, err := hold(ctx, []*semaphore.Weighted{nars, w.whole, w.memory}, []int64{1, wholeWeight, weight})
		if err != nil {
			for _, rest := range bySize[i:] {
				rest.err = err
				release(rest)
			}
			break
		}
		if big {
			streamed.Add(1)
		} else if i > 0 && bySize[i-1].info.NarSize > ChunkSize {
			// The streams' buffers serve whole NARs once the streams
			// are done.
			wg.Add(1)
			go func() { defer wg.Done(); streamed.Wait(); comp.drop() }()
		}
		go func() {
			n.nar, n.reused, n.err = w.writeNAR(ctx, comp, n.info)
			free()
			if big {
				streamed.Done()
			}
			if n.err != nil {
				cancel(n.err)
			}
			release(n)
		}()
	}
	wg.Wait()
	return nil
}

// hold takes ns[i] of each of sems, in order, and returns what gives them
// back; on a failure it gives back what it took, and returns the context's
// cause. Nothing is taken for an n of 0 (a semaphore queues even those
// behind its waiters).
func hold(ctx context.Context, sems []*semaphore.Weighted, ns []int64) (func(), error) {
	free := func(k int) {
		for j := range k {
			if ns[j] > 0 {
				sems[j].Release(ns[j])
			}
		}
	}
	for i, sem := range sems {
		if ns[i] == 0 {
			continue
		}
		if err := sem.Acquire(ctx, ns[i]); err != nil {
			free(i)
			return nil, context.Cause(ctx)
		}
	}
	return func() { free(len(sems)) }, nil
}

// writeNAR writes p's NAR, compressed, to its object in the store (to
// nowhere in a dry run, where only its size and digest are wanted). It
// reports whether an object already there was taken instead.
//
// The object is named by the NAR hash, so an object at its key holds this
// path's NAR: a killed run or a concurrent publisher wrote it. Such an
// object, with the SHA-256 the store kept with it, is reused as it is;
// the narinfo takes its size and digest.
//
// The requests, for a new path on a store that honours conditional
// writes, are one: the NAR written with IfAbsent, which is the check for
// an object already there in the same request. A store that ignores them
// (s3rver, and hosted S3-compatibles that do) is asked first (Stat):
// otherwise concurrent publishers would write shared NARs over each
// other, and a re-run would upload again what a killed run left. A NAR
// streamed in pieces is asked for first on every store, since the
// condition is only checked once every part is sent: one round trip
// against the seconds its upload takes. A small NAR's upload costs less
// than the round trip of asking first: on a store that honours the
// condition, its bytes go, and a NAR already there costs them once more.
func (w *writer) writeNAR(ctx context.Context, comp *compressor, p nixpath.PathInfo) (narObject, bool, error) {
	obj := narObject{key: "nar/" + nixbase32.EncodeToString(p.NarHash) + ".nar" + w.ext}
	if err := ctx.Err(); err != nil {
		return obj, false, context.Cause(ctx)
	}
	big := p.NarSize > ChunkSize
	if w.ds != nil && (big || !w.ifAbsent) {
		if info, ok := w.existing(ctx, obj.key, 1); ok {
			obj.size, obj.hash = info.Size, info.SHA256
			return obj, true, nil
		}
	}
	write := w.writeWhole
	if big {
		write = w.writeStreamed
	}
	var err error
	obj.size, obj.hash, err = write(ctx, comp, p, obj.key, w.ifAbsent)
	if errors.Is(err, store.ErrExists) {
		// Written meanwhile, or by this request's own first try. An
		// object in parts has its digest recorded just after it
		// completes: give the writer a moment.
		tries := 1
		if big {
			tries = 3
		}
		if info, ok := w.existing(ctx, obj.key, tries); ok {
			obj.size, obj.hash = info.Size, info.SHA256
			return obj, true, nil
		}
		// An object without a digest to take (another tool's): this
		// one goes in its place, as without conditional writes.
		obj.size, obj.hash, err = write(ctx, comp, p, obj.key, false)
	}
	if err != nil {
		return obj, false, fmt.Errorf("%s: write %s: %w", p.StorePath, obj.key, err)
	}
	return obj, false, nil
}

// existing returns what the store has at key when it is an object whole
// and with its digest, asking up to tries times, half a second apart.
// Any failure (absent, or a 403 from a writer that may not read) means
// no: the write that follows reports what is really wrong.
func (w *writer) existing(ctx context.Context, key string, tries int) (store.ObjectInfo, bool) {
	for i := range tries {
		if i > 0 {
			select {
			case <-time.After(500 * time.Millisecond):
			case <-ctx.Done():
				return store.ObjectInfo{}, false
			}
		}
		var info store.ObjectInfo
		err := w.request(ctx, func() (err error) {
			info, err = w.ds.Stat(ctx, key)
			return err
		})
		if err == nil && info.SHA256 != nil && info.Size > 0 {
			return info, true
		}
		if errors.Is(err, store.ErrNotFound) {
			return info, false
		}
	}
	return store.ObjectInfo{}, false
}

// writeWhole writes a NAR of at most ChunkSize bytes: serialised into
// memory, checked, compressed whole and sent in one request, without the
// pipe and goroutines of a stream. It returns the object's size and
// SHA-256.
func (w *writer) writeWhole(ctx context.Context, comp *compressor, p nixpath.PathInfo, key string, ifAbsent bool) (int64, []byte, error) {
	narHash := nixpath.NewHashingWriter()
	var nar bytes.Buffer
	nar.Grow(int(p.NarSize))
	if err := nixpath.DumpNAR(io.MultiWriter(&nar, narHash), p.Source); err != nil {
		return 0, nil, err
	}
	if err := checkNAR(p, narHash); err != nil {
		return 0, nil, err
	}
	out, err := comp.compressWhole(ctx, nar.Bytes())
	if err != nil {
		return 0, nil, err
	}
	sum := sha256.Sum256(out)
	if w.opts.DryRun {
		return int64(len(out)), sum[:], nil
	}
	err = w.request(ctx, func() (err error) {
		if w.ds == nil {
			_, err = w.opts.Store.Put(ctx, key, bytes.NewReader(out), ContentTypeNAR)
			return err
		}
		_, err = w.ds.PutWith(ctx, key, bytes.NewReader(out), store.PutOptions{
			ContentType: ContentTypeNAR, MaxSize: int64(len(out)), IfAbsent: ifAbsent,
			Digest: func() []byte { return sum[:] },
		})
		return err
	})
	return int64(len(out)), sum[:], err
}

// writeStreamed streams a NAR larger than ChunkSize to its object:
// serialised from disk, hashed, compressed in pieces on every core and
// handed to the store through a pipe, so that memory stays bounded
// whatever its size. The stream holds one request slot.
func (w *writer) writeStreamed(ctx context.Context, comp *compressor, p nixpath.PathInfo, key string, ifAbsent bool) (int64, []byte, error) {
	sink := func(r io.Reader, _ func() []byte) (int64, error) { return io.Copy(io.Discard, r) }
	if !w.opts.DryRun {
		sink = func(r io.Reader, digest func() []byte) (n int64, err error) {
			err = w.request(ctx, func() error {
				if w.ds == nil {
					n, err = w.opts.Store.Put(ctx, key, r, ContentTypeNAR)
					return err
				}
				n, err = w.ds.PutWith(ctx, key, r, store.PutOptions{
					ContentType: ContentTypeNAR,
					MaxSize:     maxObjectSize(w.opts.Compression, p.NarSize),
					Digest:      digest,
					IfAbsent:    ifAbsent,
				})
				return err
			})
			return n, err
		}
	}
	return streamNAR(ctx, p, comp, sink)
}

// maxObjectSize bounds the size of the object of a NAR of narSize bytes:
// compression can grow incompressible data a little (zstd by at most
// 1/256 and a frame header per chunk; xz by less), never by 1/64 and 1 MiB.
func maxObjectSize(compression string, narSize uint64) int64 {
	n := int64(min(narSize, 1<<62))
	if compression == "none" {
		return n
	}
	return n + n/64 + 1<<20
}

// writeNarInfo signs and writes p's narinfo, pointing at nar. On a store
// that honours conditional writes it is written with IfAbsent: a narinfo
// another publisher wrote meanwhile is left as it is, and the path is
// reported present with it.
func (w *writer) writeNarInfo(ctx context.Context, p nixpath.PathInfo, nar narObject) (PathResult, error) {
	res := PathResult{StorePath: p.StorePath, NarSize: p.NarSize}
	ni := narinfo.New(p, narinfo.NAR{URL: nar.key, Compression: w.opts.Compression, FileHash: nar.hash, FileSize: nar.size})
	if w.opts.Key != nil {
		if err := narinfo.Sign(ni, w.opts.Key); err != nil {
			return res, err
		}
	}
	res.NarInfo, res.FileSize = ni, nar.size
	if w.opts.DryRun {
		res.Status = WouldUpload
		return res, nil
	}
	key := narinfo.Key(p.StorePath)
	text := ni.String()
	err := w.request(ctx, func() (err error) {
		if w.ds == nil || !w.ifAbsent {
			_, err = w.opts.Store.Put(ctx, key, strings.NewReader(text), narinfo.ContentType)
			return err
		}
		_, err = w.ds.PutWith(ctx, key, strings.NewReader(text), store.PutOptions{ContentType: narinfo.ContentType, MaxSize: int64(len(text)), IfAbsent: true})
		return err
	})
	if errors.Is(err, store.ErrExists) {
		var theirs *narinfo.NarInfo
		err = w.request(ctx, func() (err error) {
			theirs, err = readNarInfo(ctx, w.opts.Store, p.StorePath)
			return err
		})
		if err == nil && theirs.String() != text {
			// Another publisher's: the store's is what readers get.
			return PathResult{StorePath: p.StorePath, NarSize: p.NarSize, NarInfo: theirs, Status: Present}, nil
		}
		// Or this request's own first try, whose answer was lost.
	}
	if err != nil {
		return res, fmt.Errorf("%s: write %s: %w", p.StorePath, key, err)
	}
	res.Status = Uploaded
	return res, nil
}

// errSinkStopped is what the compressor sees when the store stopped reading.
var errSinkStopped = errors.New("the store stopped reading")

// checkNAR checks a NAR serialised from p.Source against p's NAR hash and
// size, as Nix recorded them.
func checkNAR(p nixpath.PathInfo, narHash *nixpath.HashingWriter) error {
	if !bytes.Equal(narHash.Sum(), p.NarHash) {
		return fmt.Errorf("the NAR of %s hashes to sha256:%s, but its recorded NAR hash is %s: the path changed after it was built; rebuild it (nix-store --verify --check-contents)",
			p.Source, nixbase32.EncodeToString(narHash.Sum()), p.NarHashString())
	}
	if narHash.Size() != p.NarSize {
		return fmt.Errorf("the NAR of %s is %d bytes, but its recorded NAR size is %d", p.Source, narHash.Size(), p.NarSize)
	}
	return nil
}

// streamNAR serialises p, checks it against p's NAR hash and size, and
// hands the compressed stream to sink. It returns the compressed size and
// hash.
//
// sink's digest returns the compressed stream's SHA-256; it is only
// meaningful once sink has read the stream to its end, and a stream reaches
// its end only when its NAR checked out (else it ends with an error).
func streamNAR(ctx context.Context, p nixpath.PathInfo, comp *compressor, sink func(r io.Reader, digest func() []byte) (int64, error)) (int64, []byte, error) {
	pr, pw := io.Pipe()
	narHash := nixpath.NewHashingWriter()
	fileHash := nixpath.NewHashingWriter()
	produced := make(chan error, 1)
	go func() {
		cw := comp.newStream(ctx, io.MultiWriter(pw, fileHash), narHash)
		err := nixpath.DumpNAR(cw, p.Source)
		if cerr := cw.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = checkNAR(p, narHash)
		}
		// Failing the pipe makes the sink fail too, so a store never
		// commits an object whose content was wrong.
		pw.CloseWithError(err)
		produced <- err
	}()
	n, err := sink(pr, fileHash.Sum)
	pr.CloseWithError(errSinkStopped)
	perr := <-produced
	switch {
	case err != nil && (errors.Is(perr, errWriteFailed) || errors.Is(perr, errSinkStopped)):
		// The producer stopped because the store did: the store's error
		// is the cause.
		return 0, nil, err
	case perr != nil:
		return 0, nil, perr
	case err != nil:
		return 0, nil, err
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	if n != int64(fileHash.Size()) {
		return 0, nil, fmt.Errorf("the store took %d of %d bytes", n, fileHash.Size())
	}
	return n, fileHash.Sum(), nil
}
