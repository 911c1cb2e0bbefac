package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Lister is implemented by stores that can list their keys. The catalog
// index needs it: each publish writes an object of its own, and the index
// is what a listing finds, so that no run ever rewrites another's record.
type Lister interface {
	// List returns the keys that start with prefix, sorted, as the other
	// methods take them (without the store's own prefix).
	List(ctx context.Context, prefix string) ([]string, error)
}

var (
	_ Lister = (*S3)(nil)
	_ Lister = (*File)(nil)
)

// List lists the bucket under the store's prefix and prefix, page by page.
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	full := prefix
	if s.loc.Prefix != "" {
		full = s.loc.Prefix + "/" + prefix
	}
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.loc.Bucket, Prefix: &full})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.fail("list", full, err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if s.loc.Prefix != "" {
				k = strings.TrimPrefix(k, s.loc.Prefix+"/")
			}
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// List walks the directory under prefix. Files being written (the
// temporary files of an atomic write, which start with ".") are left out.
func (f *File) List(ctx context.Context, prefix string) ([]string, error) {
	dir := path.Dir(prefix + "x") // the deepest directory every match is under
	start := filepath.Join(f.root, filepath.FromSlash(dir))
	var keys []string
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		rel, err := filepath.Rel(f.root, p)
		if err != nil {
			return err
		}
		if k := filepath.ToSlash(rel); strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s in %s: %w", prefix, f.URL(), err)
	}
	sort.Strings(keys)
	return keys, nil
}
