package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct {
		name                string
		ldVersion, ldCommit string
		bi                  *debug.BuildInfo
		want                Info
	}{
		{"release build (ldflags)", "1.2.3", "feedbeef", vcs,
			Info{Version: "1.2.3", Commit: "feedbeef", Go: "go1.26.8", Zstd: "z"}},
		{"go build in a checkout (vcs info)", "", "", vcs,
			Info{Version: "devel", Commit: "0123abc", Modified: true, Go: "go1.26.8", Zstd: "z"}},
		{"go install module@v1.2.3", "", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}},
			Info{Version: "1.2.3", Go: "go1.26.8", Zstd: "z"}},
		{"nothing known", "", "", nil, Info{Version: "devel", Zstd: "z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := resolve(tc.ldVersion, tc.ldCommit, tc.bi, "z")
			got.Platform = "" // the test binary's own
			if tc.bi == nil {
				got.Go = "" // runtime.Version()
			}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	s := Info{Version: "1.2.3", Commit: "feedbeef", Go: "go1.26.8", Platform: "linux/arm64", Zstd: "libzstd 1.5.7 (cgo)"}.String()
	for _, want := range []string{"flox-publish 1.2.3\n", "commit: feedbeef\n", "zstd: libzstd 1.5.7 (cgo)\n", "go: go1.26.8 linux/arm64\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("--version output lacks %q:\n%s", want, s)
		}
	}
	if s := (Info{Version: "devel"}).String(); !strings.Contains(s, "commit: unknown") {
		t.Errorf("an unknown commit is not said: %s", s)
	}
}
