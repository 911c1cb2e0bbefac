package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/flox-publish/publish-action/internal/store"
)

// Index is the record of published builds kept in the binary cache itself,
// one JSON object per package at catalog/<catalog>/<package>.json (see
// IndexKey). It is what a run without a FloxHub token consults to say
// "already published", and what tells a cache's reader where its store
// paths came from: each entry names the source revision, the workflow run
// and the signing key.
//
// One object per package, rather than one per catalog or one per build:
// runs publishing different packages write different objects and never
// contend; runs publishing the same package contend on one small object,
// which conditional writes settle; and "is this revision published?" is
// one read. An object grows by one entry per revision and system
// published, a few hundred bytes each.
//
// Writes are read-modify-write with the store's conditional put (S3
// If-Match / If-None-Match; a lock and an atomic rename on file://),
// retried on conflict, so that two runs recording at once both end up in
// the object. Every put replaces the whole object at once, so a reader
// sees the index before or after a write, never part of one.
type Index struct {
	s store.Store
	c store.Conditional
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
}

// indexSchema is the version of the index object's layout. A run refuses
// to rewrite an object of a newer layout, whose fields it would drop.
const indexSchema = 1

type indexObject struct {
	Schema  int     `json:"schema"`
	Catalog string  `json:"catalog"`
	Package string  `json:"package"`
	Builds  []Entry `json:"builds"`
}

// IndexKey is the store key of a package's index object.
func IndexKey(catalog, pkg string) string {
	return "catalog/" + catalog + "/" + pkg + ".json"
}

// NewIndex returns the index kept in s, which must support conditional
// writes.
func NewIndex(s store.Store) (*Index, error) {
	c, ok := s.(store.Conditional)
	if !ok {
		return nil, fmt.Errorf("store %s cannot replace an object conditionally, which the catalog index needs so that concurrent runs do not drop each other's records", s.URL())
	}
	return &Index{s: s, c: c}, nil
}

// Lookup returns the index's entry for t's source revision and system, or
// nil when the index has none.
func (i *Index) Lookup(ctx context.Context, t Target) (*Entry, error) {
	if err := t.validateKey(); err != nil {
		return nil, fmt.Errorf("look up %s/%s in the catalog index: %w", t.Catalog, t.Package, err)
	}
	obj, _, err := i.read(ctx, t)
	if err != nil {
		return nil, err
	}
	if e := obj.find(t.Source.Rev, t.System); e != nil {
		return e, nil
	}
	return nil, nil
}

// Record adds b to its package's index object. It reports added false
// when the index already has a build of that revision for that system,
// which it leaves as it is: the first record of a build stands.
func (i *Index) Record(ctx context.Context, b Build) (added bool, err error) {
	if err := b.validate(); err != nil {
		return false, fmt.Errorf("record %s/%s in the catalog index: %w", b.Catalog, b.Package, err)
	}
	entry, err := newEntry(b)
	if err != nil {
		return false, fmt.Errorf("record %s/%s in the catalog index: %w", b.Catalog, b.Package, err)
	}
	key := IndexKey(b.Catalog, b.Package)
	// Conflicts come only from runs recording the same package at the same
	// moment, so a few retries settle them; the cap only stops a livelock.
	const attempts = 20
	backoff := Retry{Base: 20 * time.Millisecond, Max: time.Second}.withDefaults()
	for attempt := 1; ; attempt++ {
		obj, version, err := i.read(ctx, b.Target)
		if err != nil {
			return false, err
		}
		if obj.Schema > indexSchema {
			return false, fmt.Errorf("%s in %s was written by a newer version of this action (layout %d); update the action to record builds there", key, i.s.URL(), obj.Schema)
		}
		if obj.find(entry.Rev, entry.System) != nil {
			return false, nil
		}
		obj.Schema = indexSchema
		obj.Builds = append(obj.Builds, entry)
		data, err := json.MarshalIndent(obj, "", "  ")
		if err != nil {
			return false, fmt.Errorf("encode %s: %w", key, err)
		}
		err = i.c.PutIf(ctx, key, append(data, '\n'), "application/json", version)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, store.ErrConflict) || attempt >= attempts {
			return false, fmt.Errorf("write %s to %s: %w", key, i.s.URL(), err)
		}
		if err := backoff.Sleep(ctx, backoff.backoff(attempt, 0)); err != nil {
			return false, fmt.Errorf("write %s to %s: %w", key, i.s.URL(), err)
		}
	}
}

// read returns the package's index object and its version; an empty
// object and version "" when there is none yet.
func (i *Index) read(ctx context.Context, t Target) (indexObject, string, error) {
	key := IndexKey(t.Catalog, t.Package)
	data, version, err := i.c.GetVersion(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return indexObject{Catalog: t.Catalog, Package: t.Package}, "", nil
	}
	if err != nil {
		return indexObject{}, "", fmt.Errorf("read %s from %s: %w", key, i.s.URL(), err)
	}
	var obj indexObject
	if err := json.Unmarshal(data, &obj); err != nil {
		// Never rewrite what cannot be read: that would drop every record.
		return indexObject{}, "", fmt.Errorf("%s in %s is not a catalog index: %w; move it aside to start a new index", key, i.s.URL(), err)
	}
	if obj.Catalog != t.Catalog || obj.Package != t.Package {
		return indexObject{}, "", fmt.Errorf("%s in %s is the index of %s/%s, not of %s/%s", key, i.s.URL(), obj.Catalog, obj.Package, t.Catalog, t.Package)
	}
	return obj, version, nil
}

func (o *indexObject) find(rev, system string) *Entry {
	for k := range o.Builds {
		if e := &o.Builds[k]; e.Rev == rev && e.System == system {
			return e
		}
	}
	return nil
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
