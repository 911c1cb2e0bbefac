package nixpath

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/nix-community/go-nix/pkg/nixhash"
)

// pathInfoJSON is one entry of `nix path-info --json`. Nix before 2.19
// prints a list of these with a "path" field; later versions print an
// object keyed by path. Hashes are SRI (sha256-…) or sha256:<nix32>.
type pathInfoJSON struct {
	Path       string   `json:"path"`
	NarHash    string   `json:"narHash"`
	NarSize    uint64   `json:"narSize"`
	References []string `json:"references"`
	Deriver    *string  `json:"deriver"`
	CA         *string  `json:"ca"`
}

// QueryClosure asks the local Nix store for the closure of paths, with
// `nix path-info --recursive --json`, as Flox does. env is the environment
// nix runs with (nil: the process's).
func QueryClosure(ctx context.Context, env []string, paths ...string) ([]PathInfo, error) {
	args := append([]string{"--extra-experimental-features", "nix-command", "path-info", "--recursive", "--json", "--"}, paths...)
	cmd := exec.CommandContext(ctx, "nix", args...)
	cmd.Env = env
	// A cancelled query must not wait for a child holding its output.
	cmd.WaitDelay = 2 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("nix path-info --recursive --json %s: %w: %s", strings.Join(paths, " "), err, strings.TrimSpace(stderr.String()))
	}
	return ParsePathInfoJSON(out)
}

// ParsePathInfoJSON parses the output of `nix path-info --json` in both of
// the shapes Nix has printed.
func ParsePathInfoJSON(data []byte) ([]PathInfo, error) {
	var list []pathInfoJSON
	if err := json.Unmarshal(data, &list); err != nil {
		var byPath map[string]*pathInfoJSON
		if err2 := json.Unmarshal(data, &byPath); err2 != nil {
			return nil, fmt.Errorf("parse nix path-info output: %w", err)
		}
		for p, info := range byPath {
			if info == nil {
				return nil, fmt.Errorf("nix path-info: %s is not valid in the store", p)
			}
			info.Path = p
			list = append(list, *info)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Path < list[j].Path })
	}
	infos := make([]PathInfo, 0, len(list))
	for _, j := range list {
		if !strings.HasPrefix(j.Path, StoreDir+"/") {
			return nil, fmt.Errorf("nix path-info: %q is not in %s", j.Path, StoreDir)
		}
		algo := nixhash.SHA256
		h, err := nixhash.ParseAny(j.NarHash, &algo)
		if err != nil {
			return nil, fmt.Errorf("nix path-info: %s: NAR hash %q: %w", j.Path, j.NarHash, err)
		}
		if h.Algo() != nixhash.SHA256 {
			return nil, fmt.Errorf("nix path-info: %s: NAR hash %q is not sha256", j.Path, j.NarHash)
		}
		refs := append([]string(nil), j.References...)
		for i, r := range refs {
			if !strings.HasPrefix(r, "/") {
				refs[i] = StoreDir + "/" + r
			}
		}
		sort.Strings(refs)
		info := PathInfo{
			StorePath:  j.Path,
			References: refs,
			NarHash:    h.Digest(),
			NarSize:    j.NarSize,
			Source:     j.Path,
		}
		if j.Deriver != nil {
			info.Deriver = *j.Deriver
			if info.Deriver != "" && !strings.HasPrefix(info.Deriver, "/") {
				info.Deriver = StoreDir + "/" + info.Deriver
			}
		}
		if j.CA != nil {
			info.CA = *j.CA
		}
		infos = append(infos, info)
	}
	return infos, nil
}
