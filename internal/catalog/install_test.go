package catalog

import (
	"slices"
	"strings"
	"testing"

	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/store"
)

func TestInstallAdvice(t *testing.T) {
	t.Parallel()
	key := "acme-1:c2lnbmF0dXJl"
	tests := []struct {
		name string
		in   Install
		want []string
	}{
		{"recorded in FloxHub", InstallAdvice(true, "", "acme", "hello", "https://cache.acme.example", key, []string{helloOut}),
			[]string{"flox install acme/hello", "Clients must trust the signing key: add `extra-trusted-public-keys = " + key + "` to nix.conf"}},
		{"recorded, Flox's own store", InstallAdvice(true, "", "acme", "hello", "", key, []string{helloOut}),
			[]string{"flox install acme/hello"}},
		{"no token: from the store", InstallAdvice(false, "no floxhub-token was given", "acme", "hello", "s3://bucket?region=eu-west-1", key, []string{helloOut}),
			// One Nix recipe per run: the report's nix-store --realise.
			[]string{"Not in FloxHub (no floxhub-token was given), so `flox install` cannot find it: install it with Nix from s3://bucket?region=eu-west-1, as below"}},
		{"nothing anywhere", InstallAdvice(false, "this was a dry run", "acme", "hello", "", key, []string{helloOut}),
			[]string{"Not installable from elsewhere: this was a dry run, and no binary cache clients can read holds it"}},
	}
	for _, tt := range tests {
		if got := tt.in.Lines(); !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n%s\nwant\n%s", tt.name, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
		if tt.in.Flox != "" && !strings.HasPrefix(tt.name, "recorded") {
			t.Errorf("%s: a flox install line for a package FloxHub did not record", tt.name)
		}
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
