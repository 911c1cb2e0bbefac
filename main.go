// Command flox-publish does in CI what `flox publish` does on a desk: it
// verifies that the checked-out commit is clean, pushed and the one the
// workflow was triggered for, builds the Flox manifest's builds in a clean
// clone, signs the resulting store paths and writes them to a Nix binary
// cache, then reports what it published.
//
// It runs as a GitHub container action (inputs from INPUT_* variables) or
// from a terminal (the same inputs as --flags). The release itself is
// package publish; this command holds the process: signals, environment,
// exit code, and the keygen and help subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/flox-publish/publish-action/internal/cache"
	"github.com/flox-publish/publish-action/internal/inputs"
	"github.com/flox-publish/publish-action/internal/pid1"
	"github.com/flox-publish/publish-action/internal/publish"
	"github.com/flox-publish/publish-action/internal/sandbox"
	"github.com/flox-publish/publish-action/internal/signing"
	"github.com/flox-publish/publish-action/internal/version"
)

// cancelBound is how long the stages have, after the first signal, to
// return before the process reports the cancellation and exits anyway. A
// cancelled workflow's runner sends SIGINT, then SIGTERM 7.5 s later, then
// kills the process tree 2.5 s after that: the run ends before the kill,
// with its one line said and its scratch directories gone.
const cancelBound = 7 * time.Second

func main() {
	// First, before any secret is read: no other process may read this
	// one's memory or environment (see internal/sandbox).
	if err := sandbox.Harden(); err != nil {
		fmt.Fprintf(os.Stderr, "warning: %v\n", err)
	}
	// As its container's PID 1 (the runner passes no --init), the process
	// is the container's init and runs the action as its child.
	if code, ok := pid1.Supervise(); ok {
		os.Exit(code)
	}
	cache.TuneGC(os.Getenv)
	release := publish.New(publish.Env{Getenv: os.Getenv, Environ: os.Environ(), Stdout: os.Stdout})
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	// Whichever of the run's end and its abandonment comes first exits;
	// the other waits, so that neither cuts the other's report short.
	var exiting sync.Mutex
	go watchSignals(sigs, cancel, time.After, func(cause error) {
		exiting.Lock()
		sandbox.KillChildren()
		release.Abandon(cause)
		os.Exit(exitCode(cause))
	})
	code := run(ctx, release, os.Args[1:])
	exiting.Lock()
	os.Exit(code)
}

// watchSignals cancels the run at the first signal, its cause a
// publish.Interrupted naming the signal. It then gives the stages until
// bound to return; if they have not (a second signal, such as the
// runner's SIGTERM after its SIGINT, or a second Ctrl-C, ends the wait at
// once), it calls abandon, which reports and exits without them.
func watchSignals(sigs <-chan os.Signal, cancel context.CancelCauseFunc, after func(time.Duration) <-chan time.Time, abandon func(error)) {
	cause := publish.Interrupted{Signal: <-sigs}
	cancel(cause)
	select {
	case <-sigs:
	case <-after(cancelBound):
	}
	abandon(cause)
}

// exitCode is the exit status of a failed run: 128 plus the signal's
// number when a signal cancelled it, as shells report, else 1.
func exitCode(err error) int {
	var in publish.Interrupted
	if errors.As(err, &in) {
		if s, ok := in.Signal.(syscall.Signal); ok {
			return 128 + int(s)
		}
	}
	return 1
}

// realMain dispatches the subcommand and turns errors into an exit code.
func realMain(ctx context.Context, getenv func(string) string, environ []string, args []string, stdout io.Writer) int {
	return run(ctx, publish.New(publish.Env{Getenv: getenv, Environ: environ, Stdout: stdout}), args)
}

// run runs the subcommand args name, or else the release.
func run(ctx context.Context, release *publish.Release, args []string) int {
	stdout := release.Env.Stdout
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
	if len(args) > 0 && (args[0] == "--version" || args[0] == "version") {
		fmt.Fprint(stdout, version.Get(cache.ZstdImplementation()))
		return 0
	}
	// Run reports its errors itself.
	if err := release.Run(ctx, args); err != nil {
		return exitCode(err)
	}
	return 0
}

// keygen writes a new signing key pair: PATH.sec (secret, mode 0600) and
// PATH.pub, as `nix key generate-secret` and `nix key
// convert-secret-to-public` would, for users without Nix.
func keygen(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("name", "", "key name, e.g. cache.example.org-1")
	out := fs.String("out", "", "path prefix of the key files: writes PREFIX.sec and PREFIX.pub")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("keygen: %w (usage: keygen --name NAME --out PREFIX)", err)
	}
	if *name == "" || *out == "" {
		return errors.New("keygen: --name and --out are required (usage: keygen --name NAME --out PREFIX)")
	}
	pub, kept, err := signing.WriteKeyPair(*name, *out)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if kept {
		fmt.Fprintf(stdout, "Keeping the existing key %s.sec; public key: %s\n", *out, pub)
		return nil
	}
	fmt.Fprintf(stdout, "Wrote %s.sec (secret: store it as a repository secret) and %s.pub\nPublic key: %s\n", *out, *out, pub)
	return nil
}
