package report

import (
	"slices"
	"strings"
	"testing"
)

func TestInstallAdvice(t *testing.T) {
	t.Parallel()
	key := "acme-1:c2lnbmF0dXJl"
	tests := []struct {
		name string
		in   install
		want []string
	}{
		{"recorded in FloxHub", installAdvice(true, "", "acme", "hello", "https://cache.acme.example", key, []string{"/nix/store/mh869f5y41gicsc4l49ghi31c0j0pjsw-hello-1.2.3"}),
			[]string{"flox install acme/hello", "Clients must trust the signing key: add `extra-trusted-public-keys = " + key + "` to nix.conf"}},
		{"recorded, Flox's own store", installAdvice(true, "", "acme", "hello", "", key, []string{"/nix/store/mh869f5y41gicsc4l49ghi31c0j0pjsw-hello-1.2.3"}),
			[]string{"flox install acme/hello"}},
		{"no token: from the store", installAdvice(false, "no floxhub-token was given", "acme", "hello", "s3://bucket?region=eu-west-1", key, []string{"/nix/store/mh869f5y41gicsc4l49ghi31c0j0pjsw-hello-1.2.3"}),
			// One Nix recipe per run: the report's nix-store --realise.
			[]string{"Not in FloxHub (no floxhub-token was given), so `flox install` cannot find it: install it with Nix from s3://bucket?region=eu-west-1, as below"}},
		{"nothing anywhere", installAdvice(false, "this was a dry run", "acme", "hello", "", key, []string{"/nix/store/mh869f5y41gicsc4l49ghi31c0j0pjsw-hello-1.2.3"}),
			[]string{"Not installable from elsewhere: this was a dry run, and no binary cache clients can read holds it"}},
	}
	for _, tt := range tests {
		if got := tt.in.lines(); !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n%s\nwant\n%s", tt.name, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
		if tt.in.flox != "" && !strings.HasPrefix(tt.name, "recorded") {
			t.Errorf("%s: a flox install line for a package FloxHub did not record", tt.name)
		}
	}
}
