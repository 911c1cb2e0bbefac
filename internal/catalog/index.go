package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/flox-publish/publish-action/internal/store"
)

// Index is the record of published builds kept in the binary cache itself.
// It is what a run without a FloxHub token consults to say "already
// published", and what tells a cache's reader where its store paths came
// from: each entry names the source revision, the workflow run and the
// signing key.
//
// Each publish writes one object of its own, never rewritten:
//
//	catalog/<catalog>/<package>/<system>/<rev>.json   (RecordKey)
//
// and the index is whatever a listing of catalog/<catalog>/<package>/
// finds (`aws s3 ls --recursive` shows it too). No run reads, changes and
// writes back an object another run writes, so no S3 server's handling of
// conditional headers can lose a record: an earlier design did exactly
// that on servers that ignore If-Match (s3rver, older Ceph RGW), where
// concurrent runs overwrote each other's appends.
//
// catalog/<catalog>/<package>.json (IndexKey) is a summary derived from
// the records after each publish, for browsing. It is a cache: its loss or
// staleness loses nothing, and nothing reads it to decide, except to carry
// over entries of the earlier one-object index (layout 1), which are then
// written as records of their own.
type Index struct {
	s    store.Store
	l    store.Lister
	c    store.Conditional // nil when the store has no conditional writes
	logf func(format string, args ...any)
}

// IndexOption configures an Index.
type IndexOption func(*Index)

// WithIndexLog sends the index's notes (a summary that could not be
// written, a record that could not be read) to logf.
func WithIndexLog(logf func(format string, args ...any)) IndexOption {
	return func(i *Index) { i.logf = logf }
}

// Entry is one published build in the index.
type Entry struct {
	Version              string    `json:"version"`
	System               string    `json:"system"`
	Outputs              []Output  `json:"outputs"`
	DrvPath              string    `json:"drv_path,omitempty"`
	SourceURL            string    `json:"source_url"`
	Rev                  string    `json:"rev"`
	Ref                  string    `json:"ref,omitempty"`
	RevCount             int       `json:"rev_count"`
	RevDate              time.Time `json:"rev_date"`
	LockedBaseCatalogURL string    `json:"locked_base_catalog_url,omitempty"`
	PublishedAt          time.Time `json:"published_at"`
	RunURL               string    `json:"run_url,omitempty"`
	KeyName              string    `json:"key_name,omitempty"`
	Substituters         []string  `json:"substituters,omitempty"`
	// Record is the key of the entry's record object. In a summary, an
	// entry without one comes from the earlier one-object index.
	Record string `json:"record,omitempty"`
}

// Layouts of the index's objects. A run refuses to read a record of a
// newer layout, whose fields it would misread.
const (
	legacyIndexSchema = 1 // the one read-modify-write object per package
	indexSchema       = 2 // one record per build, and a derived summary
)

// recordObject is the content of a record.
type recordObject struct {
	Schema  int    `json:"schema"`
	Catalog string `json:"catalog"`
	Package string `json:"package"`
	Entry
}

// summaryObject is the content of the summary (and of the layout-1 index).
type summaryObject struct {
	Schema  int    `json:"schema"`
	Catalog string `json:"catalog"`
	Package string `json:"package"`
	// Note says what the summary is, for whoever opens it.
	Note string `json:"note,omitempty"`
	// Unreadable lists records that could not be read when it was made.
	Unreadable []string `json:"unreadable,omitempty"`
	Builds     []Entry  `json:"builds"`
}

const summaryNote = "Derived from the records under catalog/<catalog>/<package>/, which are the index; this file may lag behind them."

// IndexKey is the store key of a package's summary object.
func IndexKey(catalog, pkg string) string {
	return "catalog/" + catalog + "/" + pkg + ".json"
}

// RecordPrefix is the store prefix under which a package's records are.
func RecordPrefix(catalog, pkg string) string {
	return "catalog/" + catalog + "/" + pkg + "/"
}

// RecordKey is the store key of the record of one build: a package, for a
// system, from a source revision.
func RecordKey(catalog, pkg, system, rev string) string {
	return RecordPrefix(catalog, pkg) + system + "/" + rev + ".json"
}

// NewIndex returns the index kept in s, which must be able to list its
// keys.
func NewIndex(s store.Store, opts ...IndexOption) (*Index, error) {
	l, ok := s.(store.Lister)
	if !ok {
		return nil, fmt.Errorf("store %s cannot list its objects, which the catalog index is made of", s.URL())
	}
	i := &Index{s: s, l: l, logf: func(string, ...any) {}}
	i.c, _ = s.(store.Conditional)
	for _, o := range opts {
		o(i)
	}
	return i, nil
}

// Lookup returns the index's entry for t's source revision and system, or
// nil when the index has none. It reads the one record that would say so;
// the earlier one-object index is consulted when there is none.
func (i *Index) Lookup(ctx context.Context, t Target) (*Entry, error) {
	if err := t.validateKey(); err != nil {
		return nil, fmt.Errorf("look up %s/%s in the catalog index: %w", t.Catalog, t.Package, err)
	}
	e, err := i.readRecord(ctx, t.Catalog, t.Package, RecordKey(t.Catalog, t.Package, t.System, t.Source.Rev))
	if err != nil || e != nil {
		return e, err
	}
	legacy, err := i.legacyEntries(ctx, t.Catalog, t.Package)
	if err != nil {
		return nil, err
	}
	for k := range legacy {
		if legacy[k].Rev == t.Source.Rev && legacy[k].System == t.System {
			return &legacy[k], nil
		}
	}
	return nil, nil
}

// Record writes b's record. It reports added false when the index already
// has a build of that revision for that system, which it leaves as it is:
// the first record of a build stands (on a server that ignores
// If-None-Match, two runs of one build racing may both write it; either
// record describes the same build). The summary is then derived again; a
// failure there is only noted, since the record is what counts.
func (i *Index) Record(ctx context.Context, b Build) (added bool, err error) {
	if err := b.Validate(); err != nil {
		return false, fmt.Errorf("record %s/%s in the catalog index: %w", b.Catalog, b.Package, err)
	}
	entry, err := newEntry(b)
	if err != nil {
		return false, fmt.Errorf("record %s/%s in the catalog index: %w", b.Catalog, b.Package, err)
	}
	existing, err := i.Lookup(ctx, b.Target)
	if err != nil {
		return false, err
	}
	if existing == nil {
		if added, err = i.writeRecord(ctx, b.Catalog, b.Package, entry); err != nil {
			return false, err
		}
	}
	if err := i.Summarize(ctx, b.Catalog, b.Package); err != nil {
		i.logf("the catalog index's summary %s was not updated (the record itself is written; the next publish updates it): %v", IndexKey(b.Catalog, b.Package), err)
	}
	return added, nil
}

// writeRecord writes entry's record, if nobody has yet where the store
// can say so.
func (i *Index) writeRecord(ctx context.Context, catalog, pkg string, entry Entry) (bool, error) {
	key := RecordKey(catalog, pkg, entry.System, entry.Rev)
	entry.Record = ""
	data, err := json.MarshalIndent(recordObject{Schema: indexSchema, Catalog: catalog, Package: pkg, Entry: entry}, "", "  ")
	if err != nil {
		return false, fmt.Errorf("encode %s: %w", key, err)
	}
	data = append(data, '\n')
	if i.c != nil {
		err := i.c.PutIf(ctx, key, data, "application/json", "")
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, store.ErrConflict):
			return false, nil
		case !notImplemented(err):
			return false, fmt.Errorf("write the catalog record %s to %s: %w", key, i.s.URL(), err)
		}
		// A server without conditional writes: a plain put is as good,
		// since the record is this build's alone.
	}
	if _, err := i.s.Put(ctx, key, bytes.NewReader(data), "application/json"); err != nil {
		return false, fmt.Errorf("write the catalog record %s to %s: %w", key, i.s.URL(), err)
	}
	return true, nil
}

// notImplemented tells a server that does not know conditional writes.
func notImplemented(err error) bool {
	var se *store.S3Error
	return errors.As(err, &se) && (se.Status == 501 || se.Code == "NotImplemented")
}

// Entries returns every build the index holds for a package, oldest
// first: the records a listing finds, and entries of the earlier
// one-object index that have no record. A record that cannot be read (being
// written on a server without atomic writes, or damaged) is left out and
// noted.
func (i *Index) Entries(ctx context.Context, catalog, pkg string) ([]Entry, error) {
	entries, _, err := i.entries(ctx, catalog, pkg, nil)
	return entries, err
}

// entries lists the records and reads those not in known (records already
// read, by key: a record is never rewritten, so its content is known).
func (i *Index) entries(ctx context.Context, catalog, pkg string, known map[string]Entry) (entries []Entry, unreadable []string, err error) {
	if err := errors.Join(ValidateCatalogName(catalog), ValidatePackageName(pkg)); err != nil {
		return nil, nil, fmt.Errorf("list %s/%s in the catalog index: %w", catalog, pkg, err)
	}
	keys, err := i.l.List(ctx, RecordPrefix(catalog, pkg))
	if err != nil {
		return nil, nil, fmt.Errorf("list the catalog records of %s/%s in %s: %w", catalog, pkg, i.s.URL(), err)
	}
	keys = recordKeys(keys, catalog, pkg)
	found := make([]*Entry, len(keys))
	errs := make([]error, len(keys))
	// A few reads at once: a package has a record per release and system.
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for k, key := range keys {
		if e, ok := known[key]; ok {
			found[k] = &e
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			found[k], errs[k] = i.readRecord(ctx, catalog, pkg, key)
		}()
	}
	wg.Wait()
	have := map[string]bool{}
	for k, key := range keys {
		switch {
		case errs[k] != nil:
			if ctx.Err() != nil {
				return nil, nil, errs[k]
			}
			i.logf("catalog record %s left out: %v", key, errs[k])
			unreadable = append(unreadable, key)
		case found[k] != nil: // nil: deleted since the listing
			entries = append(entries, *found[k])
			have[found[k].System+" "+found[k].Rev] = true
		}
	}
	legacy, err := i.legacyEntries(ctx, catalog, pkg)
	if err != nil {
		i.logf("%v", err)
	}
	for _, e := range legacy {
		if !have[e.System+" "+e.Rev] {
			entries = append(entries, e)
		}
	}
	sort.SliceStable(entries, func(a, b int) bool {
		ea, eb := entries[a], entries[b]
		if !ea.PublishedAt.Equal(eb.PublishedAt) {
			return ea.PublishedAt.Before(eb.PublishedAt)
		}
		if ea.Rev != eb.Rev {
			return ea.Rev < eb.Rev
		}
		return ea.System < eb.System
	})
	return entries, unreadable, nil
}

// recordKeys keeps the keys that name records: <prefix><system>/<rev>.json.
func recordKeys(keys []string, catalog, pkg string) []string {
	prefix := RecordPrefix(catalog, pkg)
	var out []string
	for _, k := range keys {
		system, file, ok := strings.Cut(strings.TrimPrefix(k, prefix), "/")
		rev, isJSON := strings.CutSuffix(file, ".json")
		if ok && isJSON && validateSystem(system) == nil && revRe.MatchString(rev) {
			out = append(out, k)
		}
	}
	return out
}

// Summarize derives a package's summary object from its records. Entries
// of the earlier one-object index found in the summary are first written
// as records of their own, so that from then on the summary holds nothing
// the records do not.
func (i *Index) Summarize(ctx context.Context, catalog, pkg string) error {
	prev, err := i.summary(ctx, catalog, pkg)
	if err != nil {
		return err
	}
	known := map[string]Entry{}
	var legacy []Entry
	for _, e := range prev.Builds {
		if e.Record == "" {
			legacy = append(legacy, e)
		} else {
			known[e.Record] = e
		}
	}
	for _, e := range legacy {
		if _, err := i.writeRecord(ctx, catalog, pkg, e); err != nil {
			return fmt.Errorf("carry over the earlier index's entry for %s (%s): %w", e.Rev, e.System, err)
		}
	}
	entries, unreadable, err := i.entries(ctx, catalog, pkg, known)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []Entry{}
	}
	data, err := json.MarshalIndent(summaryObject{
		Schema: indexSchema, Catalog: catalog, Package: pkg, Note: summaryNote,
		Unreadable: unreadable, Builds: entries,
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", IndexKey(catalog, pkg), err)
	}
	if _, err := i.s.Put(ctx, IndexKey(catalog, pkg), bytes.NewReader(append(data, '\n')), "application/json"); err != nil {
		return fmt.Errorf("write %s to %s: %w", IndexKey(catalog, pkg), i.s.URL(), err)
	}
	return nil
}

// readRecord reads one record; nil when there is none.
func (i *Index) readRecord(ctx context.Context, catalog, pkg, key string) (*Entry, error) {
	data, err := i.get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the catalog record %s from %s: %w", key, i.s.URL(), err)
	}
	var r recordObject
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s in %s is not a catalog record: %w", key, i.s.URL(), err)
	}
	switch {
	case r.Schema > indexSchema:
		return nil, fmt.Errorf("%s in %s was written by a newer version of this action (layout %d); update the action to read it", key, i.s.URL(), r.Schema)
	case r.Catalog != catalog || r.Package != pkg || key != RecordKey(catalog, pkg, r.System, r.Rev):
		return nil, fmt.Errorf("%s in %s is the record of %s/%s %s (%s), not of what its key names", key, i.s.URL(), r.Catalog, r.Package, r.Rev, r.System)
	}
	e := r.Entry
	e.Record = key
	return &e, nil
}

// legacyEntries returns the entries of a package's summary that no record
// backs: those of the earlier one-object index. A summary that cannot be
// read has none: it is derived, and the records are the index.
func (i *Index) legacyEntries(ctx context.Context, catalog, pkg string) ([]Entry, error) {
	obj, err := i.summary(ctx, catalog, pkg)
	if err != nil {
		return nil, err
	}
	var legacy []Entry
	for _, e := range obj.Builds {
		if e.Record == "" && revRe.MatchString(e.Rev) && validateSystem(e.System) == nil {
			legacy = append(legacy, e)
		}
	}
	return legacy, nil
}

// summary reads a package's summary; an empty one when there is none or
// it cannot be read, since it is derived and the records are the index.
func (i *Index) summary(ctx context.Context, catalog, pkg string) (summaryObject, error) {
	key := IndexKey(catalog, pkg)
	data, err := i.get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return summaryObject{}, nil
	}
	if err != nil {
		return summaryObject{}, fmt.Errorf("read %s from %s: %w", key, i.s.URL(), err)
	}
	var obj summaryObject
	if err := json.Unmarshal(data, &obj); err != nil || obj.Catalog != catalog || obj.Package != pkg || obj.Schema > indexSchema {
		i.logf("%s in %s is not a summary of %s/%s's catalog records that this version reads; it is rewritten from the records", key, i.s.URL(), catalog, pkg)
		return summaryObject{}, nil
	}
	for k := range obj.Builds {
		// Entries of a summary name their record only when they were read
		// from it; a layout-1 index has no such field.
		if obj.Schema < indexSchema || obj.Builds[k].Record != RecordKey(catalog, pkg, obj.Builds[k].System, obj.Builds[k].Rev) {
			obj.Builds[k].Record = ""
		}
	}
	return obj, nil
}

func (i *Index) get(ctx context.Context, key string) ([]byte, error) {
	r, err := i.s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var buf bytes.Buffer
	// Records and summaries are small; the cap stops a wrong object from
	// filling memory.
	const maxIndexObject = 64 << 20
	n, err := buf.ReadFrom(io.LimitReader(r, maxIndexObject+1))
	if err != nil {
		return nil, err
	}
	if n > maxIndexObject {
		return nil, fmt.Errorf("%s is larger than %d MiB", key, maxIndexObject>>20)
	}
	return buf.Bytes(), nil
}

func newEntry(b Build) (Entry, error) {
	src, err := PublicSourceURL(b.Source.URL)
	if err != nil {
		return Entry{}, err
	}
	published := b.PublishedAt
	if published.IsZero() {
		published = time.Now()
	}
	return Entry{
		Version:              b.Version,
		System:               b.System,
		Outputs:              append([]Output(nil), b.Outputs...),
		DrvPath:              b.DrvPath,
		SourceURL:            src,
		Rev:                  b.Source.Rev,
		Ref:                  b.Source.Ref,
		RevCount:             b.Source.RevCount,
		RevDate:              b.Source.RevDate.UTC(),
		LockedBaseCatalogURL: b.LockedBaseCatalogURL,
		PublishedAt:          published.UTC().Truncate(time.Second),
		RunURL:               b.RunURL,
		KeyName:              b.KeyName,
		Substituters:         b.Substituters,
	}, nil
}
