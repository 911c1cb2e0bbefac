package verify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/flox-publish/publish-action/internal/git"
)

// remote chooses the remote to check against: origin, else the only
// remote, else the current branch's upstream. Unlike Flox it needs no
// upstream, so detached CI checkouts work.
func (v *verifier) remote(ctx context.Context) (name, publicURL string, err error) {
	if v.src.Remote != "" {
		return v.src.Remote, v.src.RemoteURL, nil
	}
	out, err := v.git.Run(ctx, "remote")
	if err != nil {
		return "", "", fmt.Errorf("listing remotes: %w", err)
	}
	remotes := strings.Fields(out)
	switch {
	case slices.Contains(remotes, "origin"):
		name = "origin"
	case len(remotes) == 1:
		name = remotes[0]
	case len(remotes) > 1:
		name = v.upstreamRemote(ctx)
		if !slices.Contains(remotes, name) { // "" or "." (a local upstream)
			name = ""
		}
	}
	if name == "" {
		return "", "", &ErrNoRemote{RepoRoot: v.src.RepoRoot, Remotes: remotes}
	}
	out, err = v.git.Run(ctx, "remote", "get-url", name)
	if err != nil {
		return "", "", fmt.Errorf("reading the URL of remote %q: %w", name, err)
	}
	v.src.Remote = name
	v.src.RemoteURL = PublicURL(strings.TrimSpace(out))
	return v.src.Remote, v.src.RemoteURL, nil
}

// upstreamRemote is the current branch's upstream remote, "" when HEAD is
// detached or the branch has none.
func (v *verifier) upstreamRemote(ctx context.Context) string {
	branch, err := v.git.Run(ctx, "symbolic-ref", "--quiet", "--short", "HEAD")
	if err != nil {
		return ""
	}
	out, err := v.git.Run(ctx, "config", "--get", "branch."+strings.TrimSpace(branch)+".remote")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

func (v *verifier) checkPushed(ctx context.Context) error {
	remote, url, err := v.remote(ctx)
	if err != nil {
		return err
	}
	ok, err := v.onRemote(ctx, remote, v.src.Rev)
	if err != nil {
		return err
	}
	if !ok {
		branch, _ := v.git.Run(ctx, "symbolic-ref", "--quiet", "--short", "HEAD")
		return v.soft(&ErrNotPushed{Rev: v.src.Rev, Remote: remote, URL: url, Branch: strings.TrimSpace(branch)})
	}
	return nil
}

// onRemote reports whether remote has rev, exactly: Flox's negotiation
// (the remote acknowledges each commit it has among those offered, rev
// first), and when the remote cannot negotiate that way (protocol v0, old
// servers), a look at the remote's branches and tags.
func (v *verifier) onRemote(ctx context.Context, remote, rev string) (bool, error) {
	// protocol.version=2 because --negotiate-only needs it; a user's
	// protocol.version=0 would otherwise send us to the slow path.
	out, negErr := v.git.Run(ctx, "-c", "protocol.version=2", "fetch", "--quiet",
		"--negotiate-only", "--negotiation-tip="+rev, remote)
	if negErr == nil {
		return slices.Contains(strings.Fields(out), rev), nil
	}
	ok, err := v.onRemoteByRefs(ctx, remote, rev)
	if err != nil {
		return false, fmt.Errorf("checking whether remote %q has commit %s: %w (negotiation failed first: %v)", remote, rev, err, negErr)
	}
	return ok, nil
}

// onRemoteByRefs answers from the remote's refs: a ref pointing at rev
// settles it; otherwise the remote's branches and tags are fetched into a
// namespace of ours, asked whether they contain rev, and deleted, so the
// user's own refs are never touched.
func (v *verifier) onRemoteByRefs(ctx context.Context, remote, rev string) (bool, error) {
	out, err := v.git.Run(ctx, "ls-remote", remote)
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(out, "\n") {
		if sha, _, ok := strings.Cut(line, "\t"); ok && sha == rev {
			return true, nil
		}
	}
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return false, err
	}
	ns := "refs/publish-action-verify/" + hex.EncodeToString(nonce[:])
	defer func() {
		v.deleteRefs(context.WithoutCancel(ctx), ns)
		v.restoreOwnership(ctx)
	}()
	if _, err := v.git.Run(ctx, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules",
		remote, "+refs/heads/*:"+ns+"/heads/*", "+refs/tags/*:"+ns+"/tags/*"); err != nil {
		return false, err
	}
	out, err = v.git.Run(ctx, "for-each-ref", "--count=1", "--contains", rev, "--format=%(refname)", ns+"/")
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(out) != "", nil
}

func (v *verifier) deleteRefs(ctx context.Context, ns string) {
	out, err := v.git.Run(ctx, "for-each-ref", "--format=delete %(refname)", ns+"/")
	if err != nil || strings.TrimSpace(out) == "" {
		return
	}
	// Best effort: a leftover ref in our own namespace harms nothing.
	_, _ = v.git.RunInput(ctx, out, "update-ref", "--stdin")
}

// PublicURL returns a remote URL fit to publish (see git.PublicURL).
func PublicURL(raw string) string { return git.PublicURL(raw) }
