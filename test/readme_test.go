package test

// Tests that the README's commands work as written: "Try it" runs, taken
// from the README itself, against Debian's Nix on its default
// configuration, and every Nix command the README shows runs on a default
// Nix.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flox-publish/publish-action/internal/git/gittest"
	"github.com/flox-publish/publish-action/internal/testenv"
)

// readmeSection returns the text of the README's "## heading" section.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.ProjectRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "\n## "+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no %q section", "## "+heading)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

var shBlockRe = regexp.MustCompile("(?s)```sh\n(.*?)```")

// shBlocks returns the ```sh blocks of text.
func shBlocks(text string) []string {
	var out []string
	for _, m := range shBlockRe.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

// defaultNixEnv is the environment of a fresh Nix with its default
// settings: no nix.conf at all (NIX_CONF_DIR is an empty directory, and
// no user configuration), no NIX_* variable, and a cache directory of the
// test's own so no narinfo look-up is answered from an earlier run.
func defaultNixEnv(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"etc-nix", "config", "cache"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "NIX_") || strings.HasPrefix(kv, "XDG_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "NIX_CONF_DIR="+filepath.Join(dir, "etc-nix"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
}

// projectCopy copies the project's files as they are in the work tree
// (tracked and new, not ignored) into a fresh repository with a bare
// remote, as a clone of this repository is: the action refuses to publish
// a commit that no remote has.
func projectCopy(t *testing.T) string {
	t.Helper()
	root := testenv.ProjectRoot(t)
	env := gittest.Env(t)
	files := gittest.Git(t, env, root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	work := gittest.Init(t, env)
	for _, rel := range strings.Split(files, "\x00") {
		if rel == "" {
			continue
		}
		src := filepath.Join(root, filepath.FromSlash(rel))
		info, err := os.Lstat(src)
		if err != nil || !info.Mode().IsRegular() {
			continue // deleted in the work tree, or a symlink the example does not need
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(work, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	gittest.Commit(t, env, work, "a clone of flox-publish")
	remote := gittest.Bare(t, env)
	gittest.Git(t, env, work, "remote", "add", "origin", remote)
	gittest.Git(t, env, work, "push", "-q", "origin", "HEAD:refs/heads/main")
	return work
}

// runShell runs script with bash -e in dir and returns its combined output.
func runShell(t *testing.T, dir string, env []string, script string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var greeterPathRe = regexp.MustCompile(`/nix/store/[0-9a-df-np-sv-z]{32}-greeter-1\.0\.0`)

const readmeGreeterPath = "/nix/store/…-greeter-1.0.0"

// TestREADMETryIt runs the README's "Try it" commands as a reader would:
// publish the example, then install it with Nix on its default
// configuration and run the program. The commands come from the README;
// the test only moves /tmp/flox-* into a directory of its own and puts the
// store path the report printed where the README writes
// /nix/store/…-greeter-1.0.0. It also checks that the install commands the
// report printed are the README's.
func TestREADMETryIt(t *testing.T) {
	blocks := shBlocks(readmeSection(t, "Try it"))
	if len(blocks) != 2 {
		t.Fatalf(`README "Try it" has %d sh blocks; this test expects two: publish, then install and run`, len(blocks))
	}
	publish, install := blocks[0], blocks[1]
	if !strings.Contains(install, readmeGreeterPath+"/bin/greeter") {
		t.Errorf(`README "Try it" does not end by running the published program (%s/bin/greeter)`, readmeGreeterPath)
	}
	for _, tool := range []string{"go", "git", "nix-store"} {
		testenv.RequireTool(t, tool)
	}
	nixEnv := defaultNixEnv(t)

	// The Nix this test runs is a default one: the nix command is off.
	if out, err := runShell(t, "/", nixEnv, "nix store ping"); err == nil || !strings.Contains(out, "experimental Nix feature 'nix-command' is disabled") {
		t.Fatalf("this test's Nix is not on its default configuration: nix store ping: %v\n%s", err, out)
	}

	tmp := t.TempDir()
	localize := func(s string) string { return strings.ReplaceAll(s, "/tmp/flox-", tmp+"/flox-") }
	src := projectCopy(t)
	var env []string
	for _, kv := range gittest.Env(t) {
		// A reader's terminal: not inside a workflow, even when CI runs
		// this test.
		if !strings.HasPrefix(kv, "GITHUB_") && !strings.HasPrefix(kv, "INPUT_") && !strings.HasPrefix(kv, "RUNNER_") {
			env = append(env, kv)
		}
	}

	out, err := runShell(t, src, env, localize(publish))
	if err != nil {
		t.Fatalf("the README's publish commands failed: %v\n%s", err, out)
	}
	path := greeterPathRe.FindString(out)
	if path == "" {
		t.Fatalf("the report names no greeter store path:\n%s", out)
	}

	// The report's install commands are the README's, with the key spelled
	// out and the store path filled in.
	pub, err := os.ReadFile(tmp + "/flox-demo.pub")
	if err != nil {
		t.Fatal(err)
	}
	var reportKey, reportCmd string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "key="):
			reportKey = line
		case strings.HasPrefix(line, "nix-store --realise"):
			reportCmd = line
		}
	}
	if want := "key='" + strings.TrimSpace(string(pub)) + "'"; reportKey != want {
		t.Errorf("the report's key line is %q, want %q", reportKey, want)
	}
	readmeCmd := ""
	for _, line := range strings.Split(install, "\n") {
		if strings.HasPrefix(line, "nix-store --realise") {
			readmeCmd = line
		}
	}
	if got := strings.ReplaceAll(strings.ReplaceAll(reportCmd, tmp+"/flox-", "/tmp/flox-"), path, readmeGreeterPath); got != readmeCmd {
		t.Errorf("the report's install command and the README's differ:\nreport: %s\nREADME: %s", got, readmeCmd)
	}

	// Run it again: nothing to upload.
	out, err = runShell(t, src, env, localize(publish))
	if err != nil || !strings.Contains(out, "already present") {
		t.Errorf("publishing again: %v\n%s", err, out)
	}

	// The path must come from the cache, not from an earlier run.
	removeFromStore := func() {
		if _, err := runShell(t, "/", nixEnv, "nix-store --check-validity "+path); err != nil {
			return // not in the store
		}
		// With whatever refers to it (a profile someone installed it into,
		// say): nix-store --delete refuses a path that has referrers.
		if out, err := runShell(t, "/", nixEnv, "nix-store --delete $(nix-store --query --referrers-closure "+path+")"); err != nil {
			t.Fatalf("%s is in the local store from an earlier run and cannot be deleted: %v\n%s", path, err, out)
		}
	}
	removeFromStore()
	t.Cleanup(removeFromStore)
	out, err = runShell(t, tmp, nixEnv, strings.ReplaceAll(localize(install), readmeGreeterPath, path))
	if err != nil {
		t.Fatalf("the README's install commands failed on a default Nix: %v\n%s", err, out)
	}
	t.Logf("install and run on a default Nix:\n%s", out)
	if !strings.Contains(out, "Hello from a package published by flox-publish") {
		t.Errorf("the published program did not print the example's greeting:\n%s", out)
	}
}

// TestREADMENixCommandsRunOnADefaultNix checks every shell command of the
// README that starts Nix's `nix` command: a default Nix refuses it unless
// it turns the nix-command feature on. nix-store and nix-env need nothing.
func TestREADMENixCommandsRunOnADefaultNix(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.ProjectRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, block := range shBlocks(string(data)) {
		for _, line := range strings.Split(block, "\n") {
			f := strings.Fields(line)
			if len(f) > 0 && f[0] == "sudo" {
				f = f[1:]
			}
			if len(f) == 0 || f[0] != "nix" {
				continue
			}
			n++
			if len(f) < 3 || f[1] != "--extra-experimental-features" || f[2] != "nix-command" {
				t.Errorf("README: %q fails on a default Nix (experimental Nix feature 'nix-command' is disabled): write nix --extra-experimental-features nix-command …, or use nix-store/nix-env", line)
			}
		}
	}
	if n == 0 {
		t.Log("the README runs no nix command")
	}
}
