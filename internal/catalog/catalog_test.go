package catalog

import (
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/store"
)

func TestDestinationRedactsStoreURLs(t *testing.T) {
	t.Parallel()
	// A store URL with a secret in its query is refused at the edge
	// without quoting it (floxhub's reading of an ingress URI drops, with
	// a note, what no store takes); what reaches planning is shown
	// without its query.
	if _, err := store.ParseLocation("s3://mine?access-key=hunter2"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("ParseLocation: %v; want an error that names no query", err)
	}
	ingress, _ := store.ParseLocation("s3://catalog-store?endpoint=https://hunter2.example")
	mine, _ := store.ParseLocation("s3://mine?region=eu-west-1&endpoint=https://hunter2.example")
	p := Plan{Store: StoreConfig{Type: StoreNixCopy, IngressURI: "s3://catalog-store?endpoint=https://hunter2.example", Ingress: ingress, EgressURI: "https://cache.acme.example/store"}}
	_, err := p.Destination(mine)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Destination: %v; want an error that names no query", err)
	}
	p.Store.Type = "quantum"
	if _, err := p.Destination(store.Location{}); err == nil {
		t.Error("an unknown store type got a destination")
	}
}

func TestSubstituter(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d    Destination
		want string
	}{
		{Destination{Type: StoreNixCopy, NarInfosSourceURL: nixCopyOut}, nixCopyOut},
		{Destination{Type: StorePublisher, Store: store.Dir("/flox")}, ""},
		{Destination{Type: StoreMetaOnly, Store: store.Dir("/srv/cache")}, "file:///srv/cache"},
		{Destination{Store: store.Dir("/srv/cache")}, "file:///srv/cache"},
	} {
		if got := tt.d.Substituter(); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.d.Type, got, tt.want)
		}
	}
}

func TestDrvPath(t *testing.T) {
	t.Parallel()
	drv := "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.2.3.drv"
	outs := []Output{{Name: "out", StorePath: helloOut}, {Name: "log", StorePath: helloLog}}
	closure := []nixpath.PathInfo{{StorePath: helloOut, Deriver: drv}, {StorePath: helloLog, Deriver: drv}, {StorePath: helloDep, Deriver: "/nix/store/b-dep.drv"}}
	if got := DrvPath(outs, closure); got != drv {
		t.Errorf("DrvPath = %q, want %q", got, drv)
	}
	closure[1].Deriver = ""
	if got := DrvPath(outs, closure); got != "" {
		t.Errorf("DrvPath of outputs without a shared deriver = %q", got)
	}
}
