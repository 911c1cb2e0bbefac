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
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

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
	// Jobs bounds the requests in flight to the store: existence checks,
	// NAR and narinfo writes; a NAR streamed in parts counts as one. 0
	// means DefaultJobs.
	Jobs int
	// Memory bounds the bytes of NARs held at once (see narWeight); 0
	// means DefaultMemory.
	Memory int64
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
	// had, the store's for one another publisher wrote while this one
	// ran (Present).
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
// re-publish that is all the work there is. The missing paths' NARs are
// then written largest first, so that one big path does not finish alone
// at the end, as many at once as opts.Jobs (requests in flight) and
// opts.Memory (bytes held) allow, while a shared compressor keeps every
// core busy. A path's narinfo is written once its NAR and the narinfos of
// all its references are.
func Publish(ctx context.Context, opts Options, paths []nixpath.PathInfo) ([]PathResult, error) {
	if opts.Jobs < 1 {
		opts.Jobs = DefaultJobs
	}
	if opts.Memory <= 0 {
		opts.Memory = DefaultMemory
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
	w := newWriter(opts, ext)
	if !opts.DryRun {
		cleanStale(ctx, opts)
		if err := w.prepare(ctx); err != nil {
			return nil, err
		}
	}
	toCheck := markUpstream(opts.Upstream, nodes, order)
	if opts.Store != nil {
		if err := w.markPresent(ctx, nodes, toCheck); err != nil {
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
		if err := w.writeMissing(ctx, missing, report); err != nil {
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
	// dependents are the missing paths that refer to this one.
	dependents []*node
	// pending counts what this path's narinfo waits for: its NAR, and the
	// narinfos of its missing references. The last of them to finish
	// writes it.
	pending atomic.Int32
	// failedRef is a reference that failed: this path is not written.
	failedRef atomic.Pointer[node]
	nar       narObject
	reused    bool
	result    PathResult
	err       error
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
		nodes[p.StorePath] = &node{info: p}
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
