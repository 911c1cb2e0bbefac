package publish

import (
	"context"

	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/closure"
	"github.com/flox-publish/publish-action/internal/narinfo"
)

// closureManifests makes each built package's closure manifest from the
// narinfos of its closure as the store serves them (narInfos; a path
// missing there, as the local store describes it), signs it with the
// run's key and writes it into the store beside the narinfos. A dry run,
// and a Flox-run publisher store, which takes store paths only, get the
// manifest made and not written, so that the summary still says what it
// would hold.
func (r *Release) closureManifests(ctx context.Context, up *Uploaded, narInfos map[string]*narinfo.NarInfo) (map[string]*closure.Stored, error) {
	write := up.Store != nil && !r.Mode.DryRun && up.Destination.Type != catalog.StorePublisher
	manifests := map[string]*closure.Stored{}
	for _, p := range r.Built.Packages {
		res := p.Result
		var outputs []string
		for _, o := range res.Outputs {
			outputs = append(outputs, o.StorePath)
		}
		infos := make([]*narinfo.NarInfo, 0, len(res.Closure))
		for _, c := range res.Closure {
			n := narInfos[c.StorePath]
			if n == nil {
				n = narinfo.New(c, narinfo.NAR{})
			}
			infos = append(infos, n)
		}
		m, err := closure.New(outputs, infos)
		if err != nil && !write {
			// Not stored, so no subject: the report names the outputs alone.
			r.UI.Printf("%s: no closure manifest: %v", p.Name(), err)
			continue
		}
		if err != nil {
			return nil, err
		}
		if k := r.Checked.Key; k != nil {
			if err := m.Sign(k); err != nil {
				return nil, err
			}
		}
		s := closure.Encoded(m)
		if write {
			if s, err = closure.Write(ctx, up.Store, m); err != nil {
				return nil, err
			}
			r.UI.Printf("%-12s %s (%d paths of %s's closure)", "manifest", s.Key, len(s.Paths), p.Name())
		}
		manifests[p.Name()] = s
	}
	return manifests, nil
}
