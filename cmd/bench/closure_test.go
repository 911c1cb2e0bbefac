package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flox-publish/publish-action/internal/nixpath"
	"github.com/flox-publish/publish-action/internal/testenv"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"1GiB", 1 << 30, false},
		{"512MiB", 512 << 20, false},
		{"1.5G", 3 << 29, false},
		{"64K", 64 << 10, false},
		{"100", 0, true},
		{"-1GiB", 0, true},
		{"lots", 0, true},
	} {
		got, err := parseSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestSyntheticClosureImports: the generated closure is valid to real Nix,
// has the planned paths, references and size, and is not imported twice.
func TestSyntheticClosureImports(t *testing.T) {
	env := testenv.NixEnv(t)
	spec := closureSpec{Paths: 6, Size: 6 << 20, Tag: "test" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	var logs []string
	logf := func(f string, a ...any) { logs = append(logs, f) }
	top, err := ensureClosure(context.Background(), env, spec, logf)
	if err != nil {
		t.Fatal(err)
	}
	closure, err := nixpath.QueryClosure(context.Background(), env, top)
	if err != nil {
		t.Fatal(err)
	}
	plan := spec.plan()
	if len(closure) != len(plan) {
		t.Fatalf("closure of %s has %d paths, want %d", top, len(closure), len(plan))
	}
	var total uint64
	refs := map[string][]string{}
	for _, p := range closure {
		total += p.NarSize
		refs[p.StorePath] = p.References
	}
	for _, p := range plan {
		if len(refs[p.storePath]) != len(p.refs) {
			t.Errorf("%s has references %v, planned %v", p.storePath, refs[p.storePath], p.refs)
		}
	}
	if total < uint64(spec.Size) || total > uint64(spec.Size)*11/10 {
		t.Errorf("closure is %d bytes of NAR, want about %d", total, spec.Size)
	}
	if _, err := ensureClosure(context.Background(), env, spec, logf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs[len(logs)-1], "already in the store") {
		t.Errorf("second run: %q, want it to find the closure in the store", logs[len(logs)-1])
	}
}
