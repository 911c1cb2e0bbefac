package catalog

import (
	"cmp"
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
	// the paths afterwards (see floxhub.Client.WaitPublished).
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

// StoreConfig is the catalog's store, as FloxHub's publish information
// names it: its URIs parsed where the answer is read.
type StoreConfig struct {
	Type StoreType
	// IngressURI is where store paths are uploaded (nix-copy, publisher),
	// as FloxHub wrote it: the build record sends it back as cache_uri.
	IngressURI string
	// Ingress is IngressURI as this action's stores open it, and Notes
	// say which of its Nix store parameters were left out, and why; the
	// run prints them. FloxHub's client reads both from its answer.
	Ingress store.Location
	Notes   []string
	// EgressURI is where clients download the paths from (nix-copy).
	EgressURI string
	// Access is what reaching the catalog's store takes: the FloxHub
	// token for FloxHub's own https hosts (and no other), and for a
	// publisher store the credentials FloxHub hands out for the upload.
	Access store.Access
	// Secrets are the values of Access's credentials, to mask before
	// anything is printed.
	Secrets []string
	// Catalog names the catalog in messages.
	Catalog string
}

// Destination says where a run uploads store paths and what the build
// record tells the catalog about them. Make it with Plan.Destination.
type Destination struct {
	// Store is the store to upload to, with what reaching it takes
	// (FloxHub's credentials, its token for its own hosts); the zero
	// Location uploads nothing.
	Store store.Location
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
	// out, and why (see StoreConfig.Notes); the run prints them.
	Notes []string
	// WaitForPublisher: after the build is recorded, FloxHub's publisher
	// ingests the paths; the run waits with floxhub.Client.WaitPublished before
	// it reports them installable.
	WaitForPublisher bool

	secrets []string // of the credentials, to mask
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

// Secrets are the values of d's credentials, to mask before anything is
// printed.
func (d Destination) Secrets() []string { return d.secrets }

// StoreURLError is Plan.Destination's refusal of the store the run was
// given (store-url) for a catalog that has a store of its own.
type StoreURLError struct {
	Catalog string
	Type    StoreType
	Given   store.Location
	// Store is the catalog's store (nix-copy); zero for Flox's own
	// (publisher), which no store a run is given can be.
	Store store.Location
	// Name is how the store given is named in the message ("the store",
	// or the input that gave it, in the words of where the run is).
	Name string
}

func (e *StoreURLError) Error() string {
	name := cmp.Or(e.Name, "the store")
	if e.Store.IsZero() {
		return fmt.Sprintf("catalog %s (store type %s): %s %s cannot be used: the catalog's store is Flox's own, uploaded to with credentials FloxHub hands out; remove %s to publish there, or give the catalog a nix-copy store of yours in FloxHub", e.Catalog, e.Type, name, e.Given.Base(), name)
	}
	return fmt.Sprintf("catalog %s (store type %s): %s %s is not the catalog's store %s: the catalog's clients download from its store, so the store paths must go there; remove %s, or make it name the same store", e.Catalog, e.Type, name, e.Given.Base(), e.Store.Base(), name)
}

// localNarInfos is the narinfos_source_url the Flox CLI sends when the
// narinfos come from the machine that built rather than from a store.
const localNarInfos = "daemon://"

// Destination decides where store paths go, given the store-url input
// (the zero Location when not given). The catalog's store type decides
// what the catalog gets; store-url is the user's own cache:
//
//   - nix-copy: the catalog's ingress is the store. Without store-url the
//     run uploads there. With store-url, both must name the same store
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
//   - publisher: Flox's store: the run uploads to the ingress with
//     FloxHub's credentials, sends the ingress URI as cache_uri and no
//     narinfos, as the Flox CLI does, and then waits for FloxHub
//     (WaitForPublisher). store-url cannot name that store, so giving it
//     is an error.
//
// The FloxHub token goes with every catalog store, for FloxHub's own
// https hosts and no other.
func (p Plan) Destination(given store.Location) (Destination, error) {
	sc := p.Store
	base := Destination{Type: sc.Type, Catalog: sc.Catalog}
	access := sc.Access
	fail := func(format string, args ...any) error {
		return fmt.Errorf("catalog %s (store type %s): %s", sc.Catalog, sc.Type, fmt.Sprintf(format, args...))
	}
	switch sc.Type {
	case StoreNixCopy:
		d := base
		d.Store, d.CacheURI, d.SendNarInfos, d.NarInfosSourceURL, d.Notes = sc.Ingress.With(access), sc.IngressURI, true, sc.EgressURI, sc.Notes
		if given.IsZero() {
			return d, nil
		}
		if !given.Same(sc.Ingress) {
			return Destination{}, &StoreURLError{Catalog: sc.Catalog, Type: sc.Type, Given: given, Store: sc.Ingress}
		}
		d.Store, d.Notes = given.With(access), nil
		return d, nil
	case StorePublisher:
		if !given.IsZero() {
			return Destination{}, &StoreURLError{Catalog: sc.Catalog, Type: sc.Type, Given: given}
		}
		d := base
		d.Store, d.CacheURI, d.Notes, d.WaitForPublisher, d.secrets = sc.Ingress.With(access), sc.IngressURI, sc.Notes, true, sc.Secrets
		return d, nil
	case StoreMetaOnly:
		d := base
		d.Store, d.SendNarInfos, d.NarInfosSourceURL = given.With(access), true, localNarInfos
		if !given.IsZero() {
			d.NarInfosSourceURL = given.Base()
		}
		return d, nil
	case StoreNull:
		d := base
		d.Store = given.With(access)
		return d, nil
	case "":
		return Destination{}, errors.New("FloxHub has not said where the store paths go (PublishInfo was not called, or the build is already published)")
	default:
		return Destination{}, fail("this store type is not supported")
	}
}

// Substituter is the binary cache clients read d's paths from: the
// catalog's egress URI for nix-copy, none for Flox's publisher store
// (flox install reaches it), and the store uploaded to otherwise.
func (d Destination) Substituter() string {
	switch d.Type {
	case StoreNixCopy:
		return d.NarInfosSourceURL
	case StorePublisher:
		return ""
	}
	return d.Store.String()
}
