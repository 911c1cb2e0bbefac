package catalog

import (
	"errors"
	"fmt"
	"time"

	"github.com/flox-publish/publish-action/internal/store"
)

// StoreType is how a catalog takes store paths (catalog_store_config.store_type).
type StoreType string

// The store types of the catalog API.
const (
	// StoreNixCopy: the catalog has a binary cache; store paths are copied
	// to its ingress URI and clients read them from its egress URI.
	StoreNixCopy StoreType = "nix-copy"
	// StoreMetaOnly: the catalog takes metadata and narinfos, no store paths.
	StoreMetaOnly StoreType = "meta-only"
	// StoreNull: the catalog takes metadata only.
	StoreNull StoreType = "null"
	// StorePublisher: Flox's own store. Store paths are uploaded to the
	// ingress URI with the credentials FloxHub hands out for it, the build
	// record carries no narinfos, and FloxHub's publisher service ingests
	// the paths afterwards (see FloxHub.WaitPublished).
	StorePublisher StoreType = "publisher"
)

// Plan is what FloxHub said before the upload.
type Plan struct {
	// AlreadyPublished is true when the catalog has a build of this source
	// revision for this system: the run reports it and succeeds, so that
	// re-running a release is not a failure.
	AlreadyPublished bool
	Published        Published
	// CheckErr is set when the already-published check failed for a reason
	// other than the token. As in the Flox CLI, the check is an
	// optimisation and does not stop the publish; the run should warn.
	CheckErr error
	// Store is the catalog's store; empty when AlreadyPublished.
	Store StoreConfig
}

// Published is the catalog's record of an earlier publish of the same build.
type Published struct {
	SourceRev     string
	SourceRevDate time.Time // zero when the catalog did not say
	PublishedAt   time.Time // zero when the catalog did not say
}

// String says what the catalog knows of the earlier publish, as the Flox
// CLI reports it.
func (p Published) String() string {
	s := "already published"
	if !p.PublishedAt.IsZero() {
		s += " on " + p.PublishedAt.UTC().Format("2006-01-02 15:04 UTC")
	}
	if p.SourceRev != "" {
		s += " from source revision " + p.SourceRev
	}
	return s
}

// StoreConfig is the catalog's store.
type StoreConfig struct {
	Type       StoreType
	IngressURI string // nix-copy, publisher: where store paths are uploaded
	EgressURI  string // nix-copy: where clients download them from
	// Auth is what the upload to a publisher store authenticates with.
	Auth *IngressAuth
	// Catalog names the catalog in messages.
	Catalog string

	hub *hubAuth // the FloxHub token, for FloxHub's own https stores
}

// Destination says where a run uploads store paths and what the build
// record tells the catalog about them. Make it with Plan.Destination.
type Destination struct {
	// StoreURL is the store to upload to; "" uploads nothing.
	StoreURL string
	// CacheURI is sent as the build's cache_uri; "" sends none.
	CacheURI string
	// SendNarInfos says whether the build record carries the narinfos.
	SendNarInfos bool
	// NarInfosSourceURL is sent as narinfos_source_url with the narinfos.
	NarInfosSourceURL string

	// Type and Catalog name the catalog's store in messages.
	Type    StoreType
	Catalog string
	// Notes say which Nix store parameters of the ingress URI were left
	// out, and why (see UploadTarget); the run prints them.
	Notes []string
	// WaitForPublisher: after the build is recorded, FloxHub's publisher
	// ingests the paths; the run waits with FloxHub.WaitPublished before
	// it reports them installable.
	WaitForPublisher bool

	auth *IngressAuth // publisher: FloxHub's credentials for the upload
	hub  *hubAuth
}

// Wrap names d's catalog and store type in err, for the errors of an
// upload to d's store; err is returned as it is when d is not a catalog's
// (no FloxHub) or nil.
func (d Destination) Wrap(err error) error {
	if err == nil || d.Type == "" {
		return err
	}
	return fmt.Errorf("catalog %s (store type %s): %w", d.Catalog, d.Type, err)
}

// localNarInfos is the narinfos_source_url the Flox CLI sends when the
// narinfos come from the machine that built rather than from a store.
const localNarInfos = "daemon://"

// Destination decides where store paths go, given the store-url input
// ("" when not given). The catalog's store type decides what the catalog
// gets; store-url is the user's own cache:
//
//   - nix-copy: the catalog's ingress_uri is the store. Without store-url
//     the run uploads there. With store-url, both must name the same store
//     (scheme, bucket or host, and path; query parameters such as region
//     or endpoint may differ, since they say how to reach the store from
//     this runner, not which store it is) and store-url is used for its
//     access details. If they name different stores the run fails:
//     uploading elsewhere would record a build whose paths the catalog's
//     clients, who read from egress_uri, cannot download.
//   - meta-only: the catalog takes metadata and narinfos only. The run
//     uploads to store-url when given (its narinfos then name it as their
//     source), and to nothing otherwise.
//   - null: the catalog takes metadata only: no narinfos, no cache_uri,
//     as the Flox CLI does. The run uploads to store-url when given.
//   - publisher: Flox's store: the run uploads to the ingress URI with
//     FloxHub's credentials (Destination.OpenStore), sends the ingress URI
//     as cache_uri and no narinfos, as the Flox CLI does, and then waits
//     for FloxHub (WaitForPublisher). store-url cannot name that store,
//     so giving it is an error.
//
// The ingress URI's Nix store parameters are kept where the store layer
// honours them and otherwise left out with a note (see UploadTarget).
func (p Plan) Destination(storeURL string) (Destination, error) {
	base := Destination{Type: p.Store.Type, Catalog: p.Store.Catalog, hub: p.Store.hub}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("catalog %s (store type %s): %s", p.Store.Catalog, p.Store.Type, fmt.Sprintf(format, args...))
	}
	switch p.Store.Type {
	case StoreNixCopy:
		upload, notes, err := UploadTarget(p.Store.IngressURI)
		if err != nil {
			return Destination{}, fail("%v", err)
		}
		d := base
		d.StoreURL, d.CacheURI, d.SendNarInfos, d.NarInfosSourceURL, d.Notes = upload, p.Store.IngressURI, true, p.Store.EgressURI, notes
		if storeURL == "" {
			return d, nil
		}
		same, err := sameStore(storeURL, p.Store.IngressURI)
		if err != nil {
			return Destination{}, err
		}
		if !same {
			return Destination{}, fail("store-url %s is not the catalog's store %s: the catalog's clients download from its store, so the store paths must go there; remove store-url, or make it name the same store", store.RedactURL(storeURL), store.RedactURL(p.Store.IngressURI))
		}
		d.StoreURL, d.Notes = storeURL, nil
		return d, nil
	case StorePublisher:
		if storeURL != "" {
			return Destination{}, fail("store-url %s cannot be used: the catalog's store is Flox's own, uploaded to with credentials FloxHub hands out; remove store-url to publish there, or give the catalog a nix-copy store of yours in FloxHub", store.RedactURL(storeURL))
		}
		upload, notes, err := UploadTarget(p.Store.IngressURI)
		if err != nil {
			return Destination{}, fail("%v", err)
		}
		d := base
		d.StoreURL, d.CacheURI, d.Notes, d.WaitForPublisher, d.auth = upload, p.Store.IngressURI, notes, true, p.Store.Auth
		return d, nil
	case StoreMetaOnly:
		d := base
		d.StoreURL, d.SendNarInfos, d.NarInfosSourceURL = storeURL, true, localNarInfos
		if storeURL != "" {
			d.NarInfosSourceURL = store.RedactURL(storeURL)
		}
		return d, nil
	case StoreNull:
		d := base
		d.StoreURL = storeURL
		return d, nil
	case "":
		return Destination{}, errors.New("FloxHub has not said where the store paths go (PublishInfo was not called, or the build is already published)")
	default:
		return Destination{}, fail("this store type is not supported")
	}
}

// sameStore reports whether two store URLs name the same store, ignoring
// how to reach it (see store.Location.Same).
func sameStore(a, b string) (bool, error) {
	la, err := store.ParseLocation(a)
	if err != nil {
		return false, fmt.Errorf("store-url: %w", err)
	}
	lb, err := store.ParseLocation(b)
	if err != nil {
		return false, fmt.Errorf("the catalog's store: %w", err)
	}
	return la.Same(lb), nil
}
