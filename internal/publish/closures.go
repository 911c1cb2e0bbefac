package publish

import (
	"context"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/flox-publish/publish-action/internal/builder"
	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/closure"
	"github.com/flox-publish/publish-action/internal/narinfo"
)

// closureManifests makes each built package's closure manifest from the
// narinfos of its closure as the store serves them, signs it with the
// run's key and writes it into the store beside the narinfos. A dry run,
// and a Flox-run publisher store, which takes store paths only, get the
// manifest made and not written, so that the summary still says what it
// would hold.
//
// narInfos are those this run wrote (or would), or took from an
// upstream. A path the store had already is described as the local store
// has it, first: when the store's manifest of the closure says the same,
// it stands, and a re-publish of a large closure reads one object rather
// than a narinfo a path. Only when it does not (no manifest yet, or a
// present path the store serves with another NAR than the local one) are
// the present paths' narinfos read, and the manifest made from them.
func (r *Release) closureManifests(ctx context.Context, up *Uploaded, narInfos map[string]*narinfo.NarInfo) (map[string]*closure.Stored, error) {
	write := up.Store != nil && !r.Mode.DryRun && up.Destination.Type != catalog.StorePublisher
	var keys []signature.PublicKey
	if k := r.Checked.Key; k != nil {
		keys = append(keys, k.PublicKey())
	}
	manifests := map[string]*closure.Stored{}
	for _, p := range r.Built.Packages {
		res := p.Result
		m, present, err := newManifest(res, narInfos)
		if err != nil && !write {
			// Not stored, so no subject: the report names the outputs alone.
			r.UI.Printf("%s: no closure manifest: %v", p.Name(), err)
			continue
		}
		var s *closure.Stored
		if write {
			if err == nil && len(present) > 0 {
				if have, rerr := closure.Read(ctx, up.Store, m.Outputs, keys); rerr == nil && have.Same(m) {
					s = have
				}
			}
			if s == nil && len(present) > 0 {
				read, rerr := cache.ReadNarInfos(ctx, up.Store, present)
				if rerr != nil {
					return nil, rerr
				}
				for _, n := range read {
					narInfos[n.StorePath] = n
				}
				m, _, err = newManifest(res, narInfos)
			}
			if err != nil {
				return nil, err
			}
		}
		if s == nil {
			if k := r.Checked.Key; k != nil {
				if err := m.Sign(k); err != nil {
					return nil, err
				}
			}
			s = closure.Encoded(m)
			if write {
				if s, err = closure.Write(ctx, up.Store, m); err != nil {
					return nil, err
				}
			}
		}
		if write {
			r.UI.Printf("%-12s %s (%s of %s's closure)", "manifest", s.Key, plural(len(s.Paths), "path", "paths"), p.Name())
		}
		manifests[p.Name()] = s
	}
	return manifests, nil
}

// newManifest is the unsigned manifest of res's closure, each path as
// narInfos says or, failing that, as the local store does; present are
// the paths described the second way.
func newManifest(res *builder.Result, narInfos map[string]*narinfo.NarInfo) (m *closure.Manifest, present []string, err error) {
	var outputs []string
	for _, o := range res.Outputs {
		outputs = append(outputs, o.StorePath)
	}
	infos := make([]*narinfo.NarInfo, 0, len(res.Closure))
	for _, c := range res.Closure {
		n := narInfos[c.StorePath]
		if n == nil {
			n = narinfo.New(c, narinfo.NAR{})
			present = append(present, c.StorePath)
		}
		infos = append(infos, n)
	}
	m, err = closure.New(outputs, infos)
	return m, present, err
}
