package floxhub

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/flox-publish/publish-action/internal/catalog"
	"github.com/flox-publish/publish-action/internal/narinfo"
	"github.com/flox-publish/publish-action/internal/nixpath"
)

// The wire types of the catalog API, named after the OpenAPI schemas in
// the Flox CLI's catalog-api-v1/openapi.json. Optional fields are left out
// when empty, as the CLI's generated client leaves out its None values.

// userPackageCreate is the body of POST …/packages?name=….
type userPackageCreate struct {
	// OriginalURL is deprecated in the API but still sent by the CLI.
	OriginalURL string `json:"original_url,omitempty"`
}

// userPackage is the answer to POST …/packages?name=….
type userPackage struct {
	Catalog string `json:"catalog"`
	Name    string `json:"name"`
}

// checkBuildRequest is the body of POST …/check-build.
type checkBuildRequest struct {
	SourceURL  string `json:"source_url"`
	SourceRev  string `json:"source_rev"`
	NixpkgsRev string `json:"nixpkgs_rev"`
	System     string `json:"system"`
	// LockedInputs is always {} for a manifest build: the CLI sends an
	// empty map, which the server reads as an empty closure.
	LockedInputs map[string]lockedInputEntry `json:"locked_inputs"`
}

// lockedInputEntry is a catalog dependency of an expression build; a
// manifest build has none, so only its type is needed.
type lockedInputEntry struct{}

// checkBuildResponse is the answer to POST …/check-build. The dates are
// read leniently (see parseAPITime), so they stay strings here.
type checkBuildResponse struct {
	AlreadyPublished *bool   `json:"already_published"`
	SourceRev        *string `json:"source_rev"`
	SourceRevDate    *string `json:"source_rev_date"`
	PublishedAt      *string `json:"published_at"`
}

// publishInfoRequest is the (empty) body of POST …/publish/info.
type publishInfoRequest struct{}

// publishInfoResponse is PublishInfoResponseCatalog.
type publishInfoResponse struct {
	IngressURI *string `json:"ingress_uri"`
	// IngressAuth is kept raw: only aws-s3 is read (see parseIngressAuth).
	IngressAuth        map[string]json.RawMessage `json:"ingress_auth"`
	CatalogStoreConfig *catalogStoreConfig        `json:"catalog_store_config"`
}

// catalogStoreConfig is the CatalogStoreConfig union, told apart by
// store_type.
type catalogStoreConfig struct {
	StoreType  string `json:"store_type"`
	IngressURI string `json:"ingress_uri"`
	EgressURI  string `json:"egress_uri"`
}

// packageBuildWithNarInfo is the body of POST …/builds.
type packageBuildWithNarInfo struct {
	URL                  string                 `json:"url"`
	Rev                  string                 `json:"rev"`
	RevCount             int64                  `json:"rev_count"`
	RevDate              time.Time              `json:"rev_date"`
	Ref                  string                 `json:"ref,omitempty"`
	LockedBaseCatalogURL string                 `json:"locked_base_catalog_url,omitempty"`
	Derivation           packageDerivation      `json:"derivation"`
	CacheURI             string                 `json:"cache_uri,omitempty"`
	DotFloxDir           string                 `json:"dot_flox_dir"`
	BuildType            string                 `json:"build_type"`
	NarInfos             map[string]narInfoJSON `json:"narinfos,omitempty"`
	NarInfosSourceURL    string                 `json:"narinfos_source_url,omitempty"`
	// LockedInputs is {} for a manifest build, as in check-build.
	LockedInputs map[string]lockedInputEntry `json:"locked_inputs"`
}

// packageDerivation is PackageDerivation.
type packageDerivation struct {
	DrvPath          string           `json:"drv_path"`
	System           string           `json:"system"`
	Name             string           `json:"name"`
	Pname            string           `json:"pname"`
	Version          string           `json:"version,omitempty"`
	Description      string           `json:"description,omitempty"`
	License          string           `json:"license,omitempty"`
	Outputs          []catalog.Output `json:"outputs"` // Output is PackageOutput, field for field
	OutputsToInstall []string         `json:"outputs_to_install"`
}

// narInfoJSON is NarInfo as `nix path-info --json --store <cache>` prints
// it, which is what the CLI forwards: hashes in SRI form, references and
// deriver as absolute store paths.
type narInfoJSON struct {
	NarHash      string   `json:"narHash"`
	NarSize      uint64   `json:"narSize"`
	References   []string `json:"references"`
	Deriver      string   `json:"deriver,omitempty"`
	Signatures   []string `json:"signatures,omitempty"`
	CA           string   `json:"ca,omitempty"`
	URL          string   `json:"url,omitempty"`
	Compression  string   `json:"compression,omitempty"`
	DownloadHash string   `json:"downloadHash,omitempty"`
	DownloadSize uint64   `json:"downloadSize,omitempty"`
}

// catalogLicense writes a license list as the CLI does for a manifest
// build, whose licenses reach it as a Nix list: "[ MIT, Apache-2.0 ]".
func catalogLicense(licenses []string) string {
	if len(licenses) == 0 {
		return ""
	}
	return "[ " + strings.Join(licenses, ", ") + " ]"
}

// narInfoToJSON writes a narinfo as `nix path-info --json` prints it.
func narInfoToJSON(n *narinfo.NarInfo) (narInfoJSON, error) {
	if n.NarHash == nil {
		return narInfoJSON{}, fmt.Errorf("narinfo of %s has no NarHash", n.StorePath)
	}
	j := narInfoJSON{
		NarHash:      n.NarHash.Format(nixhash.SRI, true),
		NarSize:      n.NarSize,
		References:   make([]string, 0, len(n.References)),
		Deriver:      absStorePath(n.Deriver),
		CA:           n.CA,
		URL:          n.URL,
		Compression:  n.Compression,
		DownloadSize: n.FileSize,
	}
	if n.FileHash != nil {
		j.DownloadHash = n.FileHash.Format(nixhash.SRI, true)
	}
	for _, r := range n.References {
		j.References = append(j.References, absStorePath(r))
	}
	sort.Strings(j.References)
	for _, sig := range n.Signatures {
		j.Signatures = append(j.Signatures, sig.String())
	}
	return j, nil
}

// buildRequest is the body of POST …/builds for b, sent to d.
func buildRequest(b catalog.Build, d catalog.Destination) (packageBuildWithNarInfo, error) {
	src, err := catalog.PublicSourceURL(b.Source.URL)
	if err != nil {
		return packageBuildWithNarInfo{}, err
	}
	outputs := append(make([]catalog.Output, 0, len(b.Outputs)), b.Outputs...) // [] rather than null
	req := packageBuildWithNarInfo{
		URL:                  src,
		Rev:                  b.Source.Rev,
		RevCount:             int64(b.Source.RevCount),
		RevDate:              b.Source.RevDate.UTC(),
		Ref:                  CatalogRef(b.Source.Ref),
		LockedBaseCatalogURL: b.LockedBaseCatalogURL,
		Derivation: packageDerivation{
			DrvPath:          b.DrvPath,
			System:           b.System,
			Name:             derivationName(b),
			Pname:            b.Package,
			Version:          b.Version,
			Description:      b.Description,
			License:          catalogLicense(b.License),
			Outputs:          outputs,
			OutputsToInstall: outputsToInstall(b),
		},
		CacheURI:     d.CacheURI,
		DotFloxDir:   b.DotFloxDir,
		BuildType:    "manifest",
		LockedInputs: map[string]lockedInputEntry{},
	}
	if req.DotFloxDir == "" {
		req.DotFloxDir = ".flox"
	}
	if d.SendNarInfos && len(b.NarInfos) > 0 {
		req.NarInfos = make(map[string]narInfoJSON, len(b.NarInfos))
		for _, n := range b.NarInfos {
			j, err := narInfoToJSON(n)
			if err != nil {
				return packageBuildWithNarInfo{}, err
			}
			req.NarInfos[absStorePath(n.StorePath)] = j
		}
		req.NarInfosSourceURL = d.NarInfosSourceURL
	}
	return req, nil
}

// parseAPITime reads a date-time from the API. The server is a Python
// service that may leave out the zone (then UTC) or add microseconds; an
// unreadable date only loses provenance, so it reads as zero.
func parseAPITime(s *string) time.Time {
	if s == nil {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, *s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// CatalogRef is the ref as the Flox CLI sends it: the branch's short name
// (main), from `git rev-parse --abbrev-ref @{u}` with the remote cut off
// (git.rs). A tag is sent by its short name likewise, which the CLI, which
// needs a branch, never does. Other refs (refs/pull/…) are sent whole.
func CatalogRef(ref string) string {
	for _, prefix := range []string{"refs/heads/", "refs/tags/"} {
		if short, ok := strings.CutPrefix(ref, prefix); ok {
			return short
		}
	}
	return ref
}

// baseNixpkgsRev is the rev query parameter of the locked base catalog URL,
// which check-build takes as the nixpkgs revision. Flox sends "" when there
// is none, and so does this.
func baseNixpkgsRev(t catalog.Target) string {
	u, err := url.Parse(t.LockedBaseCatalogURL)
	if err != nil {
		return ""
	}
	return u.Query().Get("rev")
}

// absStorePath makes a .narinfo's base name an absolute store path.
func absStorePath(p string) string {
	if p == "" || strings.HasPrefix(p, "/") {
		return p
	}
	return nixpath.StoreDir + "/" + p
}

func outputsToInstall(b catalog.Build) []string {
	if len(b.OutputsToInstall) > 0 {
		return b.OutputsToInstall
	}
	var names []string
	for _, o := range b.Outputs {
		if o.Name == "out" {
			return []string{"out"}
		}
		names = append(names, o.Name)
	}
	return names
}

// derivationName is the name Flox's manifest builder gives the derivation.
func derivationName(b catalog.Build) string {
	if b.Version == "" {
		return b.Package
	}
	return b.Package + "-" + b.Version
}
