package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/flox-publish/publish-action/internal/publish"
)

// TestKeygen: the keygen subcommand writes a key pair the release reads
// (internal/publish's TestLocalRunWithFlags publishes with one).
func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if code := realMain(context.Background(), os.Getenv, os.Environ(), []string{"keygen", "--name", "local-1", "--out", filepath.Join(dir, "key")}, &out); code != 0 {
		t.Fatalf("keygen: %s", out.String())
	}
	for _, f := range []string{"key.sec", "key.pub"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("keygen wrote no %s: %v", f, err)
		}
	}
}

func TestWatchSignals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		second bool // a second signal, rather than the bound, ends the wait
	}{{"the bound passes", false}, {"a second signal", true}} {
		t.Run(tc.name, func(t *testing.T) {
			sigs := make(chan os.Signal, 2)
			ctx, cancel := context.WithCancelCause(context.Background())
			bound := make(chan time.Time)
			asked := make(chan time.Duration, 1)
			after := func(d time.Duration) <-chan time.Time { asked <- d; return bound }
			abandoned := make(chan error, 1)
			go watchSignals(sigs, cancel, after, func(err error) { abandoned <- err })

			sigs <- syscall.SIGINT
			<-ctx.Done()
			var in publish.Interrupted
			if !errors.As(context.Cause(ctx), &in) || in.Signal != syscall.SIGINT || !errors.Is(ctx.Err(), context.Canceled) {
				t.Fatalf("cause %v, want Interrupted by SIGINT", context.Cause(ctx))
			}
			if d := <-asked; d != cancelBound {
				t.Errorf("waits %s, want %s", d, cancelBound)
			}
			select {
			case err := <-abandoned:
				t.Fatalf("abandoned (%v) before the bound or a second signal", err)
			case <-time.After(50 * time.Millisecond):
			}
			if tc.second {
				sigs <- syscall.SIGTERM
			} else {
				close(bound)
			}
			select {
			case err := <-abandoned:
				if exitCode(err) != 130 {
					t.Errorf("exit code %d for %v, want 130 (the first signal's)", exitCode(err), err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("not abandoned")
			}
		})
	}
}
