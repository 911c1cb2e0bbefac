// Command flox-publish does in CI what `flox publish` does on a desk: it
// verifies that the checked-out commit is clean, pushed and the one the
// workflow was triggered for, builds the Flox manifest's builds in a clean
// clone, signs the resulting store paths and writes them to a Nix binary
// cache, then reports what it published.
//
// It runs as a GitHub container action (inputs from INPUT_* variables) or
// from a terminal (the same inputs as --flags).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/sandbox"
)

func main() {
	// First, before any secret is read: no other process may read this
	// one's memory or environment (see internal/sandbox).
	if err := sandbox.Harden(); err != nil {
		fmt.Fprintf(os.Stderr, "warning: %v\n", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cache.TuneGC(os.Getenv)
	os.Exit(realMain(ctx, os.Getenv, os.Environ(), os.Args[1:], os.Stdout))
}

// realMain dispatches the subcommand and turns errors into an exit code;
// run holds the pipeline itself.
func realMain(ctx context.Context, getenv func(string) string, environ []string, args []string, stdout io.Writer) int {
	if len(args) > 0 && args[0] == "keygen" {
		if err := keygen(args[1:], stdout); err != nil {
			fmt.Fprintf(stdout, "error: %v\n", err)
			return 2
		}
		return 0
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		inputs.Usage(stdout)
		return 0
	}
	if err := run(ctx, env{getenv: getenv, environ: environ, stdout: stdout}, args); err != nil {
		if errors.Is(err, errReported) {
			return 1
		}
		fmt.Fprintf(stdout, "error: %v\n", err)
		return 1
	}
	return 0
}
