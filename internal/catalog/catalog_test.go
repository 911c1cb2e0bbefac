package catalog

import (
	"strings"
	"testing"

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
