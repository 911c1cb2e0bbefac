package catalog

import "time"

const (
	testRev     = "0123456789abcdef0123456789abcdef01234567"
	nixpkgsRev  = "99dc8785f6a0adac95f5e2ab05cc2e1bf666d172"
	helloOut    = "/nix/store/mh869f5y41gicsc4l49ghi31c0j0pjsw-hello-1.2.3"
	helloDep    = "/nix/store/0w25jdlc0qnv8mizc64h30pzk9x3qyan-dep-1.0"
	nixCopyOut  = "https://cache.acme.example/store"
	helloLog    = "/nix/store/1w25jdlc0qnv8mizc64h30pzk9x3qyan-hello-1.2.3-log"
	testCatalog = "acme"
)

// testTarget is hello of catalog acme, as floxhub's tests have it too.
func testTarget() Target {
	return Target{
		Catalog: testCatalog,
		Package: "hello",
		System:  "x86_64-linux",
		Source: Source{
			// actions/checkout can leave a token in the remote URL; it must
			// not reach the catalog.
			URL:      "https://x-access-token:ghs_notforthecatalog@github.com/acme/hello.git",
			Rev:      testRev,
			Ref:      "v1.2.3",
			RevCount: 42,
			RevDate:  time.Date(2026, 4, 1, 12, 30, 0, 0, time.FixedZone("CEST", 2*3600)),
		},
		LockedBaseCatalogURL: "https://github.com/flox/nixpkgs?rev=" + nixpkgsRev,
	}
}

// testBuild is the build of t the index records (the narinfos a FloxHub
// record carries are floxhub's business).
func testBuild(t Target) Build {
	return Build{
		Target:      t,
		Version:     "1.2.3",
		Description: "Says hello",
		License:     []string{"MIT", "Apache-2.0"},
		DrvPath:     "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.2.3.drv",
		Outputs:     []Output{{Name: "out", StorePath: helloOut}, {Name: "log", StorePath: helloOut + "-log"}},
		RunURL:      "https://github.com/acme/hello/actions/runs/1",
		KeyName:     "acme-1",
	}
}
