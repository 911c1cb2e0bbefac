// Package version says which build of flox-publish is running: the
// release version and commit, which the release build sets with
//
//	go build -ldflags "-X github.com/flox-publish/publish-action/internal/version.version=1.2.3 -X github.com/flox-publish/publish-action/internal/version.commit=<sha>"
//
// (scripts/build-release.sh), and otherwise what the Go toolchain
// recorded: the module version of `go install …@v1.2.3`, and the VCS
// revision of a build from a git checkout.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set by -ldflags -X; empty in other builds.
var (
	version string
	commit  string
)

// Info is what --version prints.
type Info struct {
	Version  string // "1.2.3", or "devel" for a build that is no release
	Commit   string // full commit hash, "" when unknown
	Modified bool   // the build's checkout had uncommitted changes
	Go       string // the Go toolchain, "go1.26.8"
	Platform string // GOOS/GOARCH
	Zstd     string // the zstd encoder compiled in (internal/cache)
}

// Get returns this binary's Info; zstd names its encoder
// (cache.ZstdImplementation, passed in so that this package imports
// nothing of the project).
func Get(zstd string) Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, commit, bi, zstd)
}

// resolve prefers the linker's values, then the build info's.
func resolve(ldVersion, ldCommit string, bi *debug.BuildInfo, zstd string) Info {
	in := Info{Version: ldVersion, Commit: ldCommit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, Zstd: zstd}
	if bi != nil {
		in.Go = bi.GoVersion
		if in.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			in.Version = strings.TrimPrefix(bi.Main.Version, "v")
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if in.Commit == "" {
					in.Commit = s.Value
				}
			case "vcs.modified":
				// Only for the commit the build info names: a release's
				// ldflags commit is the one it was built from.
				in.Modified = s.Value == "true" && ldCommit == ""
			}
		}
	}
	if in.Version == "" {
		in.Version = "devel"
	}
	return in
}

// String is the --version text: one line per fact.
func (in Info) String() string {
	commit := in.Commit
	switch {
	case commit == "":
		commit = "unknown (built without -ldflags -X or VCS information)"
	case in.Modified:
		commit += " (with uncommitted changes)"
	}
	return fmt.Sprintf("flox-publish %s\ncommit: %s\nzstd: %s\ngo: %s %s\n", in.Version, commit, in.Zstd, in.Go, in.Platform)
}
