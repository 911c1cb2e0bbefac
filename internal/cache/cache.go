// Package cache writes store paths into a Nix binary cache.
//
// The layout and ordering follow Nix's own writer (BinaryCacheStore):
// nix-cache-info first, then for each path its compressed NAR, then its
// signed narinfo, and a path's narinfo only after the narinfos of all its
// references. A reader that sees a narinfo can therefore always fetch the
// whole closure behind it, even while a publish is still running or after
// one failed half way.
//
// NARs are streamed: serialised from disk, hashed, compressed and handed to
// the store through a pipe, so memory stays bounded whatever a path's size.
// The NAR object is named after the NAR hash, which is known before the
// NAR is produced (Nix's database records it; the local builder computed it
// to name the path), so no scratch copy is needed to learn the name; the
// stream is checked against that hash and a mismatch fails the path before
// its narinfo is written.
package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"golang.org/x/sync/errgroup"

	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/store"
)

// Status says what happened to one store path.
type Status string

// Statuses of a published path.
const (
	Uploaded    Status = "uploaded"     // NAR and narinfo written
	Present     Status = "present"      // the store already had its narinfo
	WouldUpload Status = "would-upload" // dry run: everything but the write
	Upstream    Status = "upstream"     // served by an upstream cache: not written
)

// Options configure Publish.
type Options struct {
	// Store receives the cache. In a dry run it may be nil; when it is
	// not, it is only read, to tell present paths from new ones.
	Store store.Store
	// Key signs the narinfos. Required unless DryRun.
	Key *signing.Key
	// Compression of NAR objects: "zstd", "xz" or "none".
	Compression string
	// Level is the zstd compression level, counted as zstd's command line
	// counts them (1–22); 0 means DefaultLevel.
	Level int
	// Jobs bounds the number of paths processed at once.
	Jobs int
	// DryRun does everything but write to the store.
	DryRun bool
	// Upstream are paths that upstream caches already serve, with the
	// upstream's narinfo (see package upstream). They are neither looked
	// up nor written, and count as written for the paths that refer to
	// them.
	Upstream map[string]*narinfo.NarInfo
	// OnPath, when set, is called as each path finishes (from any goroutine,
	// one call at a time).
	OnPath func(PathResult)
	// Logf, when set, receives notes that are not failures, such as what
	// the clean-up of a killed run's leftovers removed.
	Logf func(format string, args ...any)
}

// PathResult is the outcome for one store path.
type PathResult struct {
	StorePath string
	NarSize   uint64
	// FileSize is the size of the compressed NAR object (0 when present).
	FileSize int64
	// NarInfo is the narinfo as written (or as it would be written), the
	// upstream's for an upstream path, nil for a path the store already
	// had.
	NarInfo *narinfo.NarInfo
	Status  Status
	// Reused is set when the NAR object was already complete in the store
	// (left by a killed run, or written by a concurrent publisher) and
	// only the narinfo was written.
	Reused bool
}

// CacheInfo is the content of nix-cache-info this action writes.
const CacheInfo = "StoreDir: " + nixpath.StoreDir + "\nWantMassQuery: 1\nPriority: 40\n"

// Content types, as Nix sets them.
const (
	ContentTypeCacheInfo = "text/x-nix-cache-info"
	ContentTypeNAR       = "application/x-nix-nar"
)

// ErrNoKey is Publish's error when it has no key to sign with and is not
// a dry run.
var ErrNoKey = errors.New("no signing key: publishing signs every store path with the secret key")

// Publish writes every path of paths (a set of closures) to the store.
// Results come back in the order of paths.
//
// It first asks the store which narinfos it has, many at a time: on a
// re-publish that is all the work there is. NARs of the missing paths are
// then streamed opts.Jobs at a time, largest first so that one big path
// does not finish alone at the end, while a shared compressor keeps every
// core busy inside each NAR. A path's narinfo is written once its NAR and
// the narinfos of all its references are.
func Publish(ctx context.Context, opts Options, paths []nixpath.PathInfo) ([]PathResult, error) {
	if opts.Jobs < 1 {
		opts.Jobs = 1
	}
	if !opts.DryRun {
		if opts.Store == nil {
			return nil, errors.New("no store to publish to")
		}
		if opts.Key == nil {
			return nil, ErrNoKey
		}
	}
	if opts.Compression == "" {
		opts.Compression = "zstd"
	}
	ext, err := extension(opts.Compression)
	if err != nil {
		return nil, err
	}
	nodes, order, err := graph(paths)
	if err != nil {
		return nil, err
	}
	if !opts.DryRun {
		cleanStale(ctx, opts)
		if err := ensureCacheInfo(ctx, opts.Store); err != nil {
			return nil, err
		}
	}
	toCheck := markUpstream(opts.Upstream, nodes, order)
	if opts.Store != nil {
		if err := markPresent(ctx, opts.Store, nodes, toCheck); err != nil {
			return nil, err
		}
	}

	var reportMu sync.Mutex
	report := func(r PathResult) {
		if opts.OnPath != nil {
			reportMu.Lock()
			opts.OnPath(r)
			reportMu.Unlock()
		}
	}
	var missing []*node
	for _, p := range order {
		if n := nodes[p]; n.result.Status == Present || n.result.Status == Upstream {
			report(n.result)
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		if err := writeMissing(ctx, opts, ext, missing, report); err != nil {
			return nil, err
		}
	}

	results := make([]PathResult, 0, len(order))
	var errs []error
	for _, p := range order {
		n := nodes[p]
		if n.err != nil {
			errs = append(errs, n.err)
			continue
		}
		results = append(results, n.result)
	}
	if len(errs) > 0 {
		// The first failure is the cause; the rest are its consequences.
		return results, firstCause(errs)
	}
	return results, nil
}

// writeMissing writes the paths the store lacks: their NARs opts.Jobs at a
// time, largest first, and each narinfo once its NAR and the narinfos of
// its references are written. What fails is recorded in its node; the
// first failure cancels the rest.
func writeMissing(ctx context.Context, opts Options, ext string, missing []*node, report func(PathResult)) error {
	comp, err := newCompressor(opts.Compression, opts.Level, opts.Jobs)
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
	// finds most of them already written by another when it checks just
	// before streaming (writeNAR). Measured with 3 publishers of 60-path
	// closures sharing 40 on MinIO: 119 NAR uploads for 100 paths with
	// sizes in strict order, 101-103 in three runs with this order (180
	// before the check).
	rank := make(map[*node]uint64, len(missing))
	for _, n := range missing {
		rank[n] = rand.Uint64()
	}
	bySize := append([]*node(nil), missing...)
	sort.SliceStable(bySize, func(i, j int) bool {
		ci, cj := bits.Len64(bySize[i].info.NarSize), bits.Len64(bySize[j].info.NarSize)
		if ci != cj {
			return ci > cj
		}
		return rank[bySize[i]] < rank[bySize[j]]
	})
	queue := make(chan *node)
	go func() {
		defer close(queue)
		for _, n := range bySize {
			select {
			case queue <- n:
			case <-ctx.Done():
				n.err = context.Cause(ctx)
				close(n.narDone)
			}
		}
	}()

	var wg sync.WaitGroup
	for range min(opts.Jobs, len(missing)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range queue {
				n.nar, n.reused, n.err = writeNAR(ctx, opts, comp, ext, n.info)
				if n.err != nil {
					cancel(n.err)
				}
				close(n.narDone)
			}
		}()
	}
	// Narinfos are small: they need no job slot, only their order.
	for _, n := range missing {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(n.done)
			<-n.narDone
			if n.err != nil {
				return
			}
			for _, dep := range n.deps {
				<-dep.done
				if dep.err != nil {
					n.err = &skippedError{path: n.info.StorePath, ref: dep.info.StorePath}
					return
				}
			}
			n.result, n.err = writeNarInfo(ctx, opts, n.info, n.nar)
			n.result.Reused = n.reused
			if n.err != nil {
				cancel(n.err)
				return
			}
			report(n.result)
		}()
	}
	wg.Wait()
	return nil
}

// markUpstream marks the paths upstream serves as done and returns the
// others, in order.
func markUpstream(upstream map[string]*narinfo.NarInfo, nodes map[string]*node, order []string) []string {
	if len(upstream) == 0 {
		return order
	}
	rest := make([]string, 0, len(order))
	for _, p := range order {
		ni, ok := upstream[p]
		if !ok {
			rest = append(rest, p)
			continue
		}
		n := nodes[p]
		n.result = PathResult{StorePath: p, NarSize: n.info.NarSize, NarInfo: ni, Status: Upstream}
		close(n.narDone)
		close(n.done)
	}
	return rest
}

// cleanStale removes what killed runs left in the store (temporary files,
// unfinished multipart uploads) older than store.StaleAfter. It is best
// effort: a policy that does not allow listing multipart uploads must not
// stop a publish, so a failure is only noted.
func cleanStale(ctx context.Context, opts Options) {
	c, ok := opts.Store.(store.Cleaner)
	if !ok {
		return
	}
	n, err := c.CleanStale(ctx, store.StaleAfter)
	if opts.Logf == nil {
		return
	}
	if err != nil {
		opts.Logf("could not remove what earlier runs left in %s: %v", opts.Store.URL(), err)
	} else if n > 0 {
		opts.Logf("removed %d leftovers of interrupted runs from %s", n, opts.Store.URL())
	}
}

// presenceJobs bounds the narinfo look-ups in flight: they are small
// requests, and a re-publish of a large closure is nothing but them.
const presenceJobs = 32

// markPresent asks the store for every path's narinfo at once, up to
// presenceJobs at a time, and marks the paths it has as done.
func markPresent(ctx context.Context, s store.Store, nodes map[string]*node, order []string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(presenceJobs)
	for _, p := range order {
		g.Go(func() error {
			key := narinfo.Key(p)
			ok, err := s.Exists(gctx, key)
			if err != nil {
				return fmt.Errorf("%s: check %s: %w", p, key, err)
			}
			if ok {
				nodes[p].result = PathResult{StorePath: p, NarSize: nodes[p].info.NarSize, Status: Present}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, n := range nodes {
		if n.result.Status == Present {
			close(n.narDone)
			close(n.done)
		}
	}
	return nil
}

func firstCause(errs []error) error {
	for _, e := range errs {
		var skipped *skippedError
		if !errors.Is(e, context.Canceled) && !errors.As(e, &skipped) {
			return e
		}
	}
	return errs[0]
}

// skippedError is a path not written because a reference of it failed:
// a consequence, never the cause.
type skippedError struct{ path, ref string }

func (e *skippedError) Error() string {
	return fmt.Sprintf("%s: not written, because its reference %s failed", e.path, e.ref)
}

type node struct {
	info nixpath.PathInfo
	deps []*node
	// narDone is closed when the NAR is written (or failed, or skipped);
	// done when the narinfo is.
	narDone, done chan struct{}
	nar           narObject
	reused        bool
	result        PathResult
	err           error
}

// narObject is a NAR object as written.
type narObject struct {
	key  string
	size int64
	hash []byte
}

// graph indexes paths by store path and checks that every reference is in
// the set: a narinfo must never point at a path the cache lacks.
func graph(paths []nixpath.PathInfo) (map[string]*node, []string, error) {
	nodes := make(map[string]*node, len(paths))
	var order []string
	for _, p := range paths {
		if len(p.NarHash) != 32 {
			return nil, nil, fmt.Errorf("%s: its NAR hash is unknown", p.StorePath)
		}
		if _, dup := nodes[p.StorePath]; dup {
			continue
		}
		nodes[p.StorePath] = &node{info: p, narDone: make(chan struct{}), done: make(chan struct{})}
		order = append(order, p.StorePath)
	}
	for _, n := range nodes {
		for _, r := range n.info.References {
			if r == n.info.StorePath {
				continue
			}
			dep, ok := nodes[r]
			if !ok {
				return nil, nil, fmt.Errorf("%s refers to %s, which is not in the closure to publish", n.info.StorePath, r)
			}
			n.deps = append(n.deps, dep)
		}
	}
	if cyc := findCycle(nodes); cyc != "" {
		return nil, nil, fmt.Errorf("store paths refer to each other in a cycle through %s", cyc)
	}
	return nodes, order, nil
}

// findCycle guards the scheduler against waiting forever: store path
// references cannot form cycles, but inputs built by hand could.
func findCycle(nodes map[string]*node) string {
	const (
		unseen = iota
		active
		finished
	)
	state := map[*node]int{}
	var visit func(n *node) string
	visit = func(n *node) string {
		switch state[n] {
		case active:
			return n.info.StorePath
		case finished:
			return ""
		}
		state[n] = active
		for _, d := range n.deps {
			if c := visit(d); c != "" {
				return c
			}
		}
		state[n] = finished
		return ""
	}
	keys := make([]string, 0, len(nodes))
	for k := range nodes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if c := visit(nodes[k]); c != "" {
			return c
		}
	}
	return ""
}

func extension(compression string) (string, error) {
	switch compression {
	case "zstd":
		return ".zst", nil
	case "xz":
		return ".xz", nil
	case "none":
		return "", nil
	}
	return "", fmt.Errorf("compression %q is not one of zstd, xz, none", compression)
}

// ensureCacheInfo writes nix-cache-info when it is missing, and refuses a
// cache made for another store directory: its clients would refuse it.
func ensureCacheInfo(ctx context.Context, s store.Store) error {
	r, err := s.Get(ctx, "nix-cache-info")
	if errors.Is(err, store.ErrNotFound) {
		if _, err := s.Put(ctx, "nix-cache-info", strings.NewReader(CacheInfo), ContentTypeCacheInfo); err != nil {
			return fmt.Errorf("write %s/nix-cache-info: %w", s.URL(), err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s/nix-cache-info: %w", s.URL(), err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return fmt.Errorf("read %s/nix-cache-info: %w", s.URL(), err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "StoreDir:"); ok && strings.TrimSpace(v) != nixpath.StoreDir {
			return fmt.Errorf("%s is a cache for store %q, not %s: choose another store", s.URL(), strings.TrimSpace(v), nixpath.StoreDir)
		}
	}
	return nil
}

// writeNAR streams p's NAR, compressed, to its object in the store (to
// nowhere in a dry run, where only its size is wanted).
//
// A NAR object already complete in the store, with the SHA-256 the store
// kept with it, is reused rather than uploaded again: a killed run or a
// concurrent publisher wrote it. The object is named by the NAR hash, so
// it holds this path's NAR; the narinfo takes its size and digest as they
// are. The check runs just before streaming, not with the narinfo checks
// at the start, so that a publisher running beside this one has had all
// the time until then to finish the shared paths.
func writeNAR(ctx context.Context, opts Options, comp *compressor, ext string, p nixpath.PathInfo) (narObject, bool, error) {
	obj := narObject{key: "nar/" + nixbase32.EncodeToString(p.NarHash) + ".nar" + ext}
	if err := ctx.Err(); err != nil {
		return obj, false, context.Cause(ctx)
	}
	sink := func(r io.Reader, _ func() []byte) (int64, error) { return io.Copy(io.Discard, r) }
	if !opts.DryRun {
		ds, ok := opts.Store.(store.DigestStore)
		if ok {
			// Any failure here (absent, or a 403 from a writer that may
			// not read) means uploading it: the upload reports what is
			// really wrong.
			if info, err := ds.Stat(ctx, obj.key); err == nil && info.SHA256 != nil && info.Size > 0 {
				obj.size, obj.hash = info.Size, info.SHA256
				return obj, true, nil
			}
		}
		sink = func(r io.Reader, digest func() []byte) (int64, error) {
			if ok {
				return ds.PutWith(ctx, obj.key, r, store.PutOptions{
					ContentType: ContentTypeNAR,
					MaxSize:     maxObjectSize(opts.Compression, p.NarSize),
					Digest:      digest,
				})
			}
			return opts.Store.Put(ctx, obj.key, r, ContentTypeNAR)
		}
	}
	var err error
	obj.size, obj.hash, err = streamNAR(ctx, p, comp, sink)
	if err != nil {
		return obj, false, fmt.Errorf("%s: write %s: %w", p.StorePath, obj.key, err)
	}
	return obj, false, nil
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

// writeNarInfo signs and writes p's narinfo, pointing at nar.
func writeNarInfo(ctx context.Context, opts Options, p nixpath.PathInfo, nar narObject) (PathResult, error) {
	res := PathResult{StorePath: p.StorePath, NarSize: p.NarSize}
	ni := narinfo.New(p, narinfo.NAR{URL: nar.key, Compression: opts.Compression, FileHash: nar.hash, FileSize: nar.size})
	if opts.Key != nil {
		if err := narinfo.Sign(ni, opts.Key); err != nil {
			return res, err
		}
	}
	res.NarInfo, res.FileSize = ni, nar.size
	if opts.DryRun {
		res.Status = WouldUpload
		return res, nil
	}
	key := narinfo.Key(p.StorePath)
	if _, err := opts.Store.Put(ctx, key, strings.NewReader(ni.String()), narinfo.ContentType); err != nil {
		return res, fmt.Errorf("%s: write %s: %w", p.StorePath, key, err)
	}
	res.Status = Uploaded
	return res, nil
}

// errSinkStopped is what the compressor sees when the store stopped reading.
var errSinkStopped = errors.New("the store stopped reading")

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
		if err == nil && !bytes.Equal(narHash.Sum(), p.NarHash) {
			err = fmt.Errorf("the NAR of %s hashes to sha256:%s, but its recorded NAR hash is %s: the path changed after it was built; rebuild it (nix-store --verify --check-contents)",
				p.Source, nixbase32.EncodeToString(narHash.Sum()), p.NarHashString())
		}
		if err == nil && narHash.Size() != p.NarSize {
			err = fmt.Errorf("the NAR of %s is %d bytes, but its recorded NAR size is %d", p.Source, narHash.Size(), p.NarSize)
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
