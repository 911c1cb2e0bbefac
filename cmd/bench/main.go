// Command bench measures what publishing costs, outside the build. It
// imports a synthetic closure into the local Nix store, then publishes it,
// side by side in one run, with this project to file:// and to MinIO and
// with `nix copy` (zstd, signed, what `flox publish` runs) to file://; then
// publishes everything again with nothing changed. It prints wall time,
// throughput of NAR bytes, peak RSS and compressed size of each, their
// ratios to `nix copy`, the top of a CPU profile of this project's run, a
// re-publish of a 1,000-path closure, the latency case (1,500 small paths
// to MinIO through a proxy delaying every request by 25 ms, and with no
// delay beside it: wall time, requests per path, peak RSS) and the
// action's fixed cost on the bundled example.
//
// It is not a test (timings on shared machines are not pass/fail): run it
// with `make bench`, or `go run ./cmd/bench -h` for its knobs.
//
// Each publish runs in a child process — this binary again, with the
// subcommand "publish" — so that its peak RSS is its own. The subcommand
// "closure" imports a synthetic closure and prints its top store path, to
// publish by hand (with the action's binary, or the flox stand-in's
// FLOX_STANDIN_REFERENCE).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "publish":
		err = publishCmd(ctx, os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "closure":
		err = closureCmd(ctx, os.Args[2:])
	default:
		err = benchCmd(ctx, os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
